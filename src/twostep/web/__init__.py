"""The web application: a versioned JSON API (/api/v1) and server-rendered pages (Jinja2 + htmx).

`create_app(settings)` builds it; `twostep serve` runs it with uvicorn.
"""

from twostep.web.app import create_app

__all__ = ["create_app"]
