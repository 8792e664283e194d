"""``twostep db upgrade`` and ``twostep db current``: the records database's schema.

The URL comes from ``--url`` or ``TWOSTEP_DATABASE_URL`` (default: a SQLite
file in ``twostep-data/``) and is always shown with its password hidden. A
database at a revision this twostep does not know (migrated by a newer
version) is refused with exit code 2.
"""

from __future__ import annotations

from rich.console import Console
from rich.markup import escape

from twostep.storage.encryption import KeyRing
from twostep.storage.engine import normalise_url
from twostep.storage.migrate import current, head, upgrade


def shown(url: str) -> str:
    """The URL for messages: password hidden."""
    return escape(normalise_url(url).render_as_string(hide_password=True))


def upgrade_database(url: str, console: Console, keyring: KeyRing | None = None) -> None:
    """Migrate ``url`` to the newest revision and say what changed.

    ``keyring`` seals values a migration encrypts (0007); see `twostep.storage.migrate.upgrade`.
    """
    before = current(url)
    after = upgrade(url, keyring=keyring)
    if before == after:
        console.print(f"{shown(url)} is at the newest schema revision {after}", highlight=False)
    else:
        console.print(
            f"migrated {shown(url)} from {before or 'an empty database'} to revision {after}",
            highlight=False,
        )


def show_revision(url: str, console: Console) -> None:
    """Print the revision of ``url`` and whether it is the newest."""
    revision = current(url)
    newest = head()
    if revision is None:
        console.print(f"none (the newest is {newest}; run `twostep db upgrade`)", highlight=False)
    elif revision == newest:
        console.print(f"{revision} (the newest)", highlight=False)
    else:
        console.print(
            f"{revision} (the newest is {newest}; run `twostep db upgrade`)", highlight=False
        )
