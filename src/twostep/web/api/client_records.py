"""API v1: client_records (see the module docstring once filled)."""

from __future__ import annotations

from twostep.web.api import router  # noqa: F401
