"""The ``twostep`` command line (Typer + rich)."""
