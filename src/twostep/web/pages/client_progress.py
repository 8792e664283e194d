"""Pages: client_progress (see the module docstring once filled)."""

from __future__ import annotations

from twostep.web.pages import router  # noqa: F401
