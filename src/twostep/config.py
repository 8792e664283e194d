"""All of twostep's settings, in one place.

Settings come from environment variables with the prefix ``TWOSTEP_`` (for
example ``TWOSTEP_INSTRUMENT_PATHS=/srv/packs``) or from a ``.env`` file in the
working directory. Entry points (the CLI, the web app) construct one
`Settings` object and pass it down; nothing reads the environment anywhere
else.
"""

from __future__ import annotations

import base64
import binascii
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from twostep.errors import ConfigurationError

Environment = Literal["development", "test", "production"]


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
    host: str = Field(default="127.0.0.1", description="Address `twostep serve` listens on.")
    port: int = Field(default=8000, ge=1, le=65535, description="Port `twostep serve` listens on.")
    session_idle_minutes_staff: int = Field(
        default=15,
        ge=1,
        description="Therapists, admins and researchers are signed out after this idle time.",
    )
    session_idle_minutes_client: int = Field(
        default=30, ge=1, description="Clients are signed out after this idle time."
    )
    session_absolute_hours: int = Field(
        default=12, ge=1, description="Every session ends this long after sign-in, active or not."
    )
    login_max_failures: int = Field(
        default=5, ge=1, description="Failed sign-ins per account within 15 minutes before a pause."
    )
    login_max_failures_network: int = Field(
        default=50,
        ge=1,
        description="Failed sign-ins from one network within 15 minutes before a pause.",
    )
    require_staff_mfa: bool | None = Field(
        default=None,
        description="Staff (therapists, admins, researchers) must enrol a second factor "
        "(TOTP) before they reach anything but the enrolment page. Unset: on in production, "
        "off in development and test (the demo signs in with passwords only).",
    )
    max_body_bytes: int = Field(
        default=1_048_576, ge=1024, description="Largest request body accepted (413 above it)."
    )
    max_in_flight: int = Field(
        default=64,
        ge=0,
        description="Requests in flight at once per server process; past it, 503 `overloaded` "
        "with Retry-After at once instead of a queue that grows without bound (0: no bound; "
        "twostep.web.admission).",
    )
    worker_threads: int = Field(
        default=2,
        ge=1,
        le=1000,
        description="Threads per server process that run the app's synchronous routes "
        "(twostep.web.admission). The routes are CPU-bound Python: more threads than cores "
        "only contend for the GIL (measured in benchmarks/README.md: 2 per process beat 4, 8 "
        "and 40 on SQLite).",
    )
    max_import_bytes: int = Field(
        default=100 * 1024 * 1024,
        ge=1024,
        description="Largest file `twostep import` reads (a Parquet file: also its uncompressed "
        "size), refused before it is read.",
    )
    norms_paths: list[Path] = Field(
        default_factory=list,
        description="Fitted expected-response norms files (twostep norms fit) the app uses.",
    )
    environment: Environment = Field(
        default="development",
        description="development, test or production. Production refuses to start without "
        "real encryption keys (see `require_production_ready`).",
    )
    database_url: str = Field(
        default="sqlite:///twostep-data/twostep.db",
        description="SQLAlchemy URL of the clinical records database: a SQLite file (default) "
        "or postgresql://user@host/db (psycopg 3 is used).",
    )
    encryption_keys: SecretStr | None = Field(
        default=None,
        description="Keys that encrypt free text at rest, as 'kid1:base64key,kid2:base64key' "
        "(32-byte AES-256 keys; the first is used for new writes, the others only to read "
        "older values until `twostep keys rotate`). Without it a fixed development key is "
        "used, which production refuses.",
    )
    pseudonymisation_key: SecretStr | None = Field(
        default=None,
        description="Secret key of pseudonymised score exports (`twostep export scores "
        "--pseudonymise`: HMAC-SHA256 of client and therapist ids): at least 32 bytes, e.g. "
        "the base64 text of 32 random bytes. Keep it as secret as the encryption keys: with it, "
        "pseudonyms can be linked back to ids. The same key gives the same pseudonyms in every "
        "export, so exports can be joined; a new key breaks that link.",
    )


def encryption_key_entries(settings: Settings) -> list[tuple[str, bytes]]:
    """The configured encryption keys as (key id, 32-byte key), active key first.

    An empty list means none are configured. Raises `ConfigurationError` naming
    the entry (never the key material) when the setting is malformed.
    """
    if settings.encryption_keys is None:
        return []
    text = settings.encryption_keys.get_secret_value().strip()
    if not text:
        return []
    entries: list[tuple[str, bytes]] = []
    for n, part in enumerate(text.split(","), start=1):
        kid, sep, encoded = part.strip().partition(":")
        kid = kid.strip()
        where = f"TWOSTEP_ENCRYPTION_KEYS entry {n}"
        if not sep or not kid or not encoded.strip():
            raise ConfigurationError(f"{where}: expected 'key_id:base64key'")
        if len(kid.encode()) > 255 or not kid.isprintable():
            raise ConfigurationError(f"{where}: key id must be printable and at most 255 bytes")
        try:
            key = base64.b64decode(encoded.strip(), validate=True)
        except (binascii.Error, ValueError):
            raise ConfigurationError(f"{where} ({kid}): the key is not valid base64") from None
        if len(key) != 32:
            raise ConfigurationError(
                f"{where} ({kid}): an AES-256 key has 32 bytes, this one has {len(key)}"
            )
        if any(kid == k for k, _ in entries):
            raise ConfigurationError(f"{where}: key id {kid!r} appears twice")
        entries.append((kid, key))
    return entries


def pseudonymisation_key_bytes(settings: Settings) -> bytes | None:
    """The pseudonymisation key as bytes (its UTF-8 text), or None when not configured.

    Raises `ConfigurationError` (never showing the key) when it is shorter than 32 bytes.
    """
    if settings.pseudonymisation_key is None:
        return None
    key = settings.pseudonymisation_key.get_secret_value().strip().encode("utf-8")
    if not key:
        return None
    if len(key) < 32:
        raise ConfigurationError(
            f"TWOSTEP_PSEUDONYMISATION_KEY must have at least 32 bytes (it has {len(key)})"
        )
    return key


def staff_mfa_required(settings: Settings) -> bool:
    """Whether staff must have a second factor (``TWOSTEP_REQUIRE_STAFF_MFA``; default: on in
    production only)."""
    if settings.require_staff_mfa is not None:
        return settings.require_staff_mfa
    return settings.environment == "production"


def require_production_ready(settings: Settings) -> None:
    """Refuse to run a production deployment with development secrets.

    Call it in every entry point that serves clinical data. In production the
    encryption keys must be configured (the built-in development key is public
    and refused); outside production nothing is required.
    """
    if settings.environment != "production":
        return
    entries = encryption_key_entries(settings)
    if not entries:
        raise ConfigurationError(
            "production needs TWOSTEP_ENCRYPTION_KEYS (e.g. 'k1:' followed by 32 random bytes "
            "in base64); refusing to start with the development key"
        )
    if entries[0][0] == DEV_KEY_ID:
        raise ConfigurationError(
            f"production must not write with the development key {DEV_KEY_ID!r}; "
            "put a new key first in TWOSTEP_ENCRYPTION_KEYS and run `twostep keys rotate`"
        )


#: Key id of the fixed development key (never secret; refused in production).
DEV_KEY_ID = "dev"


def load_settings() -> Settings:
    """Read the settings from the environment (call once, in an entry point)."""
    return Settings()
