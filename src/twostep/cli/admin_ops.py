"""Operator commands: audit verification, key rotation, backup/restore, GDPR requests.

* ``twostep audit verify [--url URL]`` — checks the hash chain of the audit
  trail (`twostep.storage.audit.verify_chain`): "audit chain intact: N events"
  and exit 0, or the first broken row (id, time, what is wrong) and exit 1;
* ``twostep keys rotate [--url URL]`` — re-encrypts every encrypted value
  with the active key of ``TWOSTEP_ENCRYPTION_KEYS`` (the first); prints the
  count per table; running it again changes nothing;
* ``twostep backup --out FILE [--url URL] [--force]`` and ``twostep restore
  FILE [--url URL] [--force]`` — `twostep.storage.backup` (SQLite online
  backup API; PostgreSQL ``pg_dump``/``pg_restore`` custom format); restore
  refuses a non-empty database without ``--force`` and verifies the audit
  chain afterwards;
* ``twostep gdpr export --client ID --out FILE --as EMAIL`` and ``twostep gdpr
  erase --client ID --as EMAIL --yes`` — `twostep.services.gdpr` (the data
  map is in ``docs/data-map.md``).

The database is ``--url`` or ``TWOSTEP_DATABASE_URL``; a URL is shown with
its password hidden. Key rotation, restore, export and erasure are recorded
in the audit trail.
"""

from __future__ import annotations

from pathlib import Path
from typing import IO

import typer
from rich.markup import escape

from twostep.cli import main as cli
from twostep.cli.records import (
    AS_HELP,
    URL_HELP,
    _client_id,
    _database_url,
    _session,
    masked_url,
    write_atomic,
)

__all__ = ["audit_app", "gdpr_app", "keys_app"]

audit_app = typer.Typer(help="The audit trail: verify its hash chain.", no_args_is_help=True)
keys_app = typer.Typer(help="Encryption keys of free text at rest.", no_args_is_help=True)
gdpr_app = typer.Typer(
    help="Data-subject requests: export (GDPR Art. 15/20) and erasure (Art. 17).",
    no_args_is_help=True,
)
cli.app.add_typer(audit_app, name="audit")
cli.app.add_typer(keys_app, name="keys")
cli.app.add_typer(gdpr_app, name="gdpr")


def _events(n: int) -> str:
    return f"{n:,} event{'s' if n != 1 else ''}"


def _print(text: str) -> None:
    cli.out.print(text, highlight=False, soft_wrap=True)


def _target(url: str | None) -> tuple[str, str]:
    settings = cli.settings()
    target = _database_url(url, settings)
    return target, masked_url(target)


# ------------------------------------------------------------------------------ audit


@audit_app.command("verify")
@cli.handle_errors
def audit_verify_command(
    url: str | None = typer.Option(None, "--url", help=URL_HELP),
) -> None:
    """Check the audit trail's hash chain; exit 1 and name the first broken row if it is not intact."""
    from twostep.storage.backup import audit_report

    target, _shown = _target(url)
    report = audit_report(target)
    if report.broken_id is None:
        _print(f"audit chain intact: {_events(report.events)}")
        if report.newest_at is not None:
            _print(
                f"newest event: #{report.newest_id} at {report.newest_at.isoformat()}, hash "
                f"{report.newest_hash} (keep this hash elsewhere: it anchors the end of the chain)"
            )
        return
    why = {
        "changed": "its contents do not match its hash (the row was changed)",
        "missing": "rows before it are missing (deleted)",
        "link": "its link does not match the row before it (that row was changed or removed)",
    }[report.broken_kind or "changed"]
    at = report.broken_at.isoformat() if report.broken_at is not None else "unknown time"
    cli.err.print(
        f"[bold red]audit chain broken[/] at row {report.broken_id} ({escape(at)}): {why}; "
        f"{_events(report.events)} in the trail",
        highlight=False,
        soft_wrap=True,
    )
    raise typer.Exit(1)


# ------------------------------------------------------------------------------- keys


@keys_app.command("rotate")
@cli.handle_errors
def keys_rotate_command(
    url: str | None = typer.Option(None, "--url", help=URL_HELP),
) -> None:
    """Re-encrypt every encrypted value with the active (first) key of TWOSTEP_ENCRYPTION_KEYS."""
    from twostep.config import encryption_key_entries
    from twostep.storage import KeyRing, current, head, make_engine, rotate_keys
    from twostep.storage.backup import key_census, record_operator_event

    settings = cli.settings()
    if not encryption_key_entries(settings):
        raise cli.fail(
            "TWOSTEP_ENCRYPTION_KEYS is not set: put the new key first, then the old ones "
            "('new:<base64>,old:<base64>')"
        )
    ring = KeyRing.from_settings(settings)
    target, shown = _target(url)
    revision = current(target)
    if revision != head():
        raise cli.fail(
            f"the database {shown} is at revision {revision or 'none'}; run `twostep db "
            f"upgrade` first (the newest is {head()})"
        )
    engine = make_engine(target, keyring=ring)
    try:
        # what each table holds, by key id, before the rotation (no decryption needed)
        before = key_census(engine, ring)
        unknown = sorted({k for c in before.values() for k in c} - set(ring.key_ids))
        if unknown:
            where = sorted(t for t, c in before.items() if set(c) & set(unknown))
            raise cli.fail(
                f"values sealed with key(s) {', '.join(unknown)} (in {', '.join(where)}) cannot "
                "be read: add those keys to TWOSTEP_ENCRYPTION_KEYS after the active one"
            )
        total = rotate_keys(engine, ring)
        record_operator_event(engine, "rotate_keys", "encryption_keys", ring.active_id)
    finally:
        engine.dispose()
    _print(f"re-encrypted {total:,} values in {shown} with key {ring.active_id!r}")
    for name, counts in before.items():
        n_old = sum(n for k, n in counts.items() if k != ring.active_id)
        n_all = sum(counts.values())
        if n_all:
            _print(f"  {name}: {n_old:,} re-encrypted, {n_all:,} values")
    retired = [k for k in ring.key_ids if k != ring.active_id]
    if retired:
        _print(
            f"every value is now sealed with {ring.active_id!r}; key(s) "
            f"{', '.join(retired)} may be removed from TWOSTEP_ENCRYPTION_KEYS "
            "(keep them as long as older backups must stay readable)"
        )


# ------------------------------------------------------------------- backup / restore


@cli.app.command("backup")
@cli.handle_errors
def backup_command(
    out_path: Path = typer.Option(..., "--out", "-o", help="The backup file to write (mode 0600)."),
    url: str | None = typer.Option(None, "--url", help=URL_HELP),
    force: bool = typer.Option(False, "--force", help="Replace an existing file."),
) -> None:
    """Back up the records database consistently while the app keeps running."""
    from twostep.storage.backup import backup_database

    target, shown = _target(url)
    result = backup_database(target, out_path, force=force)
    _print(
        f"backed up {shown} to {escape(str(out_path))} ({result.size:,} bytes, "
        f"{result.seconds:.2f} s, {_events(result.audit_events)} in the audit trail)"
    )
    if result.audit_head:
        _print(f"audit chain head in the backup: {result.audit_head}")
    _print(
        "free text in the backup is encrypted; everything else is not: keep the file on "
        "encrypted storage, and keep the keys (TWOSTEP_ENCRYPTION_KEYS) apart from it"
    )


@cli.app.command("restore")
@cli.handle_errors
def restore_command(
    backup_file: Path = typer.Argument(..., help="A file written by `twostep backup`."),
    url: str | None = typer.Option(None, "--url", help=URL_HELP),
    force: bool = typer.Option(
        False, "--force", help="Replace a database that is not empty (stop the app first)."
    ),
) -> None:
    """Restore a backup into the database, then verify its audit chain."""
    from twostep.storage.backup import restore_database

    if not backup_file.is_file():
        raise cli.fail(f"cannot read {backup_file}: no such file")
    target, shown = _target(url)
    result = restore_database(target, backup_file, force=force)
    _print(
        f"restored {escape(str(backup_file))} into {shown} at schema revision "
        f"{result.revision} in {result.seconds:.2f} s"
    )
    if result.audit_broken_at is not None:
        cli.err.print(
            f"[bold red]audit chain broken[/] at row {result.audit_broken_at} in the restored "
            "database (run `twostep audit verify` for details)",
            highlight=False,
            soft_wrap=True,
        )
        raise typer.Exit(1)
    _print(f"audit chain intact: {_events(result.audit_events)}")


# ------------------------------------------------------------------------------- gdpr


@gdpr_app.command("export")
@cli.handle_errors
def gdpr_export_command(
    client: str = typer.Option(..., "--client", help="The client (id or e-mail)."),
    out_path: Path = typer.Option(..., "--out", "-o", help="The JSON file to write (mode 0600)."),
    force: bool = typer.Option(False, "--force", help="Replace an existing file."),
    as_email: str = typer.Option(..., "--as", help=AS_HELP),
    url: str | None = typer.Option(None, "--url", help=URL_HELP),
) -> None:
    """Everything twostep holds about a client, as JSON (the client or a clinic admin)."""
    from twostep.services.gdpr import export_client, export_json

    with _session(as_email, url) as s:
        data = export_client(s.factory, s.actor, _client_id(s, client), catalogue=s.catalogue)
    text = export_json(data).encode("utf-8")

    def write(fh: IO[bytes]) -> None:
        fh.write(text)

    write_atomic(out_path, write, force=force)
    tables, excluded = data["tables"], data["excluded"]
    assert isinstance(tables, dict)
    assert isinstance(excluded, dict)
    n = sum(len(rows) for rows in tables.values())
    _print(
        f"exported {n:,} records from {len(tables)} tables to {escape(str(out_path))} "
        f"(excluded, with reasons: {', '.join(sorted(excluded))})"
    )


@gdpr_app.command("erase")
@cli.handle_errors
def gdpr_erase_command(
    client: str = typer.Option(..., "--client", help="The client (id or e-mail)."),
    yes: bool = typer.Option(False, "--yes", help="Confirm: erasure cannot be undone."),
    as_email: str = typer.Option(..., "--as", help=AS_HELP + " Must be a clinic admin."),
    url: str | None = typer.Option(None, "--url", help=URL_HELP),
) -> None:
    """Erase what the client wrote between sessions; keep the clinical record (see docs/data-map.md)."""
    from twostep.services.gdpr import erase_client

    if not yes:
        raise cli.fail("erasure cannot be undone; add --yes to confirm")
    with _session(as_email, url) as s:
        report = erase_client(s.factory, s.actor, _client_id(s, client), catalogue=s.catalogue)
    _print(f"erased {sum(report.erased.values()):,} records of client {escape(report.client_id)}")
    for name, n in sorted(report.erased.items()):
        _print(f"  erased  {name}: {n:,}")
    for name, reason in sorted(report.kept.items()):
        _print(f"  kept    {name}: {escape(reason)}")
    _print(
        "backups made before now still hold the erased data (encrypted) until they expire; "
        "see docs/data-map.md"
    )
