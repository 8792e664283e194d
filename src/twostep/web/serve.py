"""The app object uvicorn imports (`twostep serve`): built from the environment's settings."""

from twostep.config import load_settings
from twostep.web.app import create_app

app = create_app(load_settings())
