"""API v1: admin (see the module docstring once filled)."""

from __future__ import annotations

from twostep.web.api import router  # noqa: F401
