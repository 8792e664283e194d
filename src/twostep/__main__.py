"""``python -m twostep`` runs the command line."""

from twostep.cli.main import app

app()
