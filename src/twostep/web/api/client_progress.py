"""API v1: client_progress (see the module docstring once filled)."""

from __future__ import annotations

from twostep.web.api import router  # noqa: F401
