"""All of twostep's settings, in one place.

Settings come from environment variables with the prefix ``TWOSTEP_`` (for
example ``TWOSTEP_INSTRUMENT_PATHS=/srv/packs``) or from a ``.env`` file in the
working directory. Entry points (the CLI, the web app) construct one
`Settings` object and pass it down; nothing reads the environment anywhere
else.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """twostep's configuration (environment prefix ``TWOSTEP_``)."""

    model_config = SettingsConfigDict(
        env_prefix="TWOSTEP_", env_file=".env", extra="ignore", frozen=True
    )

    instrument_paths: list[Path] = Field(
        default_factory=list,
        description="Extra directories of instrument definition files (TOML), "
        "for a clinic's own measures or licensed content packs.",
    )
    data_dir: Path = Field(
        default=Path("twostep-data"),
        description="Where twostep keeps its files (demo outputs, databases) by default.",
    )
    max_report_charts: int = Field(
        default=60,
        ge=0,
        description="Most per-client charts in an HTML report; clients needing attention first.",
    )


def load_settings() -> Settings:
    """Read the settings from the environment (call once, in an entry point)."""
    return Settings()
