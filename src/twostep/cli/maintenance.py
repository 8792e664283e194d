"""``twostep maintenance purge``: delete expired idempotency answers, sessions and login attempts.

For every user at once (`twostep.storage.maintenance.purge_expired`):
cached answers to retried writes older than the retry window (7 days),
sessions that can no longer open anything (expired, signed out or idle past
the longest idle timeout) and login attempts older than the throttling
window (15 minutes). Prints the count per table; running it again deletes
nothing more. Recorded in the audit trail as an operator action (action
``purge``, object type ``expired_records``, the counts as the object id).
Meant for a nightly timer (cron / systemd) next to ``twostep backup``.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import typer

from twostep.errors import TwostepError

__all__ = ["maintenance_app"]

maintenance_app = typer.Typer(
    help="Housekeeping of short-lived data (cached answers, sessions, login attempts).",
    no_args_is_help=True,
)


@maintenance_app.command("purge")
def purge_command(
    url: str | None = typer.Option(
        None,
        "--url",
        help="Database URL (default: TWOSTEP_DATABASE_URL). Prefer the environment variable "
        "for a URL with a password.",
    ),
) -> None:
    """Delete every user's expired idempotency answers, dead sessions and old login attempts."""
    from twostep.cli import main as cli

    try:
        _purge(url)
    except TwostepError as exc:
        raise cli.fail(str(exc)) from None


def _purge(url: str | None) -> None:
    from twostep.cli import main as cli
    from twostep.cli.records import _database_url, masked_url
    from twostep.storage import current, head, make_engine
    from twostep.storage.backup import record_operator_event
    from twostep.storage.maintenance import purge_expired
    from twostep.web.idempotency import KEEP
    from twostep.web.sessions import THROTTLE_WINDOW

    settings = cli.settings()
    target = _database_url(url, settings)
    shown = masked_url(target)
    revision = current(target)
    if revision != head():
        raise cli.fail(
            f"the database {shown} is at revision {revision or 'none'}; run `twostep db "
            f"upgrade` first (the newest is {head()})"
        )
    idle = timedelta(
        minutes=max(settings.session_idle_minutes_staff, settings.session_idle_minutes_client)
    )
    engine = make_engine(target)
    try:
        purged = purge_expired(
            engine,
            now=datetime.now(UTC),
            idempotency_keep=KEEP,
            session_idle=idle,
            login_attempts_keep=THROTTLE_WINDOW,
        )
        counts = ",".join(f"{k}={n}" for k, n in purged.as_dict().items())
        record_operator_event(engine, "purge", "expired_records", counts)
    finally:
        engine.dispose()
    days = KEEP.days
    cli.out.print(f"purged {purged.total:,} expired rows in {shown}", highlight=False)
    cli.out.print(
        f"  idempotency_keys: {purged.idempotency_keys:,} (answers older than {days} days)",
        highlight=False,
    )
    cli.out.print(
        f"  web_sessions: {purged.web_sessions:,} (expired, signed out or idle > "
        f"{int(idle.total_seconds() // 60)} min)",
        highlight=False,
    )
    cli.out.print(
        f"  login_attempts: {purged.login_attempts:,} (older than "
        f"{int(THROTTLE_WINDOW.total_seconds() // 60)} min)",
        highlight=False,
    )
