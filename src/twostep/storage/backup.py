"""Backups and restores of the records database (reliability-security.md RL-11, CR-01).

SQLite
    `backup_database` copies the live database with SQLite's online backup
    API in one step, which reads one consistent snapshot (committed
    transactions only, the WAL included) while the app keeps writing. The
    copy is checked with ``PRAGMA integrity_check``, switched to a
    self-contained rollback journal (one file, no ``-wal``), written under a
    temporary name with mode 0600 and renamed into place, so a backup file is
    never half-written. `restore_database` copies a backup into the target
    with the same API (all pages or none) and switches it back to WAL.

PostgreSQL
    ``pg_dump --format=custom`` (one repeatable-read snapshot) and
    ``pg_restore --single-transaction``, found like the test suite finds the
    server binaries (``/usr/lib/postgresql/<newest>/bin``, then ``PATH``);
    without them the operation fails with a message saying what to install.
    The password of the URL is passed in ``PGPASSWORD``, never on a command
    line another user could read.

Operator checks
    `audit_report` (for ``twostep audit verify``) and `key_census` (for
    ``twostep keys rotate``) live here too, so that the CLI needs no SQL.

Both
    A restore refuses a target that holds any data (a row in any table)
    unless ``force``, and a backup whose schema revision this twostep does
    not know.
    Afterwards the audit chain of the restored database is verified. Free
    text stays AES-GCM ciphertext in every backup (the backup needs the same
    keys to be read); everything else in the file is plain, so backups must
    be kept like the database itself (an encrypted volume or object store).
"""

from __future__ import annotations

import getpass
import glob
import os
import re
import shutil
import sqlite3
import subprocess
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.engine import URL

from twostep.domain.ports import AuditEvent
from twostep.errors import ConfigurationError, StorageError
from twostep.storage.audit import append_events, verify_chain
from twostep.storage.encryption import KeyRing
from twostep.storage.engine import make_engine, normalise_url
from twostep.storage.failures import translated
from twostep.storage.system_tables import audit_log

__all__ = [
    "AuditReport",
    "BackupResult",
    "RestoreResult",
    "audit_report",
    "backup_database",
    "database_is_empty",
    "find_pg_tool",
    "key_census",
    "record_operator_event",
    "restore_database",
]

SQLITE_MAGIC = b"SQLite format 3\x00"
PGDUMP_MAGIC = b"PGDMP"


@dataclass(frozen=True)
class BackupResult:
    path: Path
    backend: str
    size: int
    seconds: float
    audit_events: int
    #: hash of the newest audit row in the backup: keep it elsewhere to anchor the chain
    audit_head: str | None


@dataclass(frozen=True)
class RestoreResult:
    backend: str
    seconds: float
    revision: str | None
    audit_events: int
    audit_broken_at: int | None


# ----------------------------------------------------------------------------- helpers


def find_pg_tool(name: str) -> Path | None:
    """``pg_dump`` / ``pg_restore``: the newest Debian server folder first, then ``PATH``."""
    folders = sorted(
        glob.glob("/usr/lib/postgresql/*/bin"),
        key=lambda p: [int(x) for x in p.split("/")[-2].split(".") if x.isdigit()],
    )
    for folder in reversed(folders):
        candidate = Path(folder) / name
        if candidate.exists():
            return candidate
    on_path = shutil.which(name)
    return Path(on_path) if on_path else None


def _pg_tool(name: str) -> Path:
    tool = find_pg_tool(name)
    if tool is None:
        raise StorageError(
            f"{name} was not found (looked in /usr/lib/postgresql/*/bin and PATH); install the "
            "PostgreSQL client programs (Debian: apt-get install postgresql-client) of a version "
            "at least as new as the server"
        )
    return tool


def _pg_dsn(url: URL) -> tuple[str, dict[str, str]]:
    """A libpq URL without the password, and the environment that carries the password."""
    env = dict(os.environ)
    if url.password is not None:
        env["PGPASSWORD"] = str(url.password)
    plain = url.set(drivername="postgresql", password=None)
    return plain.render_as_string(hide_password=False), env


def _sqlite_path(url: URL) -> Path:
    if not url.database or url.database == ":memory:" or url.query.get("mode") == "memory":
        raise ConfigurationError("an in-memory SQLite database cannot be backed up or restored")
    return Path(url.database).expanduser()


def _fsync_folder(folder: Path) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:  # pragma: no cover - platforms without directory handles
        return
    try:
        os.fsync(fd)
    except OSError:  # pragma: no cover
        pass
    finally:
        os.close(fd)


def _private_temp(target: Path) -> Path:
    """A new empty file next to ``target``, mode 0600 from its creation."""
    target.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    for n in range(100):
        tmp = target.with_name(f".{target.name}.{os.getpid()}.{n}.tmp")
        try:
            fd = os.open(tmp, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600)
        except FileExistsError:
            continue
        os.close(fd)
        return tmp
    raise StorageError(f"cannot create a temporary file next to {target}")  # pragma: no cover


def _check_target(target: Path, *, force: bool) -> None:
    if target.is_dir():
        raise StorageError(f"{target} is a folder; give a file name")
    if target.exists() and not force:
        raise StorageError(f"{target} exists; use --force to replace it")
    parent = target.parent
    if parent.exists() and parent.stat().st_mode & 0o002 and not force:
        raise StorageError(
            f"{parent} is writable by every user, who could replace or remove the backup; "
            "choose a private folder, or use --force"
        )


def _move_into_place(tmp: Path, target: Path, *, force: bool) -> None:
    with tmp.open("rb") as fh:
        os.fsync(fh.fileno())
    if force:
        os.replace(tmp, target)
    else:
        try:
            os.link(tmp, target)  # fails if the name was taken meanwhile
        except FileExistsError:
            raise StorageError(f"{target} exists; use --force to replace it") from None
        tmp.unlink()
    _fsync_folder(target.parent)


def _known_revision(revision: str | None) -> None:
    from alembic.script import ScriptDirectory
    from alembic.util.exc import CommandError

    from twostep.storage.migrate import alembic_config, head

    if revision is None:
        raise StorageError("the backup holds no twostep schema revision (not a twostep backup?)")
    try:
        ScriptDirectory.from_config(alembic_config()).get_revision(revision)
    except CommandError:
        raise StorageError(
            f"the backup is at schema revision {revision!r}, which this twostep does not know "
            f"(it knows up to {head()!r}); restore it with the twostep that made it"
        ) from None


def _audit_summary(engine: sa.Engine) -> tuple[int, str | None]:
    c = audit_log.c
    with translated(), engine.connect() as conn:
        count = int(conn.execute(sa.select(sa.func.count()).select_from(audit_log)).scalar_one())
        head = conn.execute(sa.select(c.hash).order_by(c.id.desc()).limit(1)).scalar()
    return count, (str(head) if head is not None else None)


def record_operator_event(
    engine: sa.Engine, action: str, object_type: str, obj: str | None
) -> None:
    """Append an operator's action (backup, restore, key rotation) to the audit chain."""
    try:
        user = getpass.getuser()
    except (KeyError, OSError):  # pragma: no cover - no passwd entry
        user = "unknown"
    event = AuditEvent(
        actor_id=None,
        actor_role="operator",
        action=action,
        object_type=object_type,
        object_id=obj,
        client_id=None,
        outcome="ok",
        request_id=f"cli:{user}"[:200],
        at=datetime.now(UTC),
    )
    with translated(), engine.begin() as conn:
        append_events(conn, [event])


def database_is_empty(url: str | URL) -> bool:
    """True when no table of the database holds a row (only ``alembic_version`` may).

    A SQLite file that does not exist, a database without tables and one that
    `twostep db upgrade` has just created are empty; anything with data is not.
    """
    parsed = normalise_url(url)
    if parsed.get_backend_name() == "sqlite":
        path = _sqlite_path(parsed)
        if not path.exists() or path.stat().st_size == 0:
            return True
    engine = make_engine(parsed)
    try:
        with translated(), engine.connect() as conn:
            inspector = sa.inspect(conn)
            for schema in inspector.get_schema_names():
                if schema in ("information_schema", "pg_catalog", "pg_toast") or schema.startswith(
                    "pg_temp"
                ):
                    continue
                for name in inspector.get_table_names(schema=schema):
                    if name == "alembic_version":
                        continue
                    table = sa.table(name, schema=schema)
                    if conn.execute(sa.select(sa.literal(1)).select_from(table).limit(1)).first():
                        return False
        return True
    finally:
        engine.dispose()


class _sqlite_connect:  # noqa: N801 - used like a function
    """A plain sqlite3 connection (closed on exit) with a busy timeout."""

    def __init__(self, path: Path) -> None:
        try:
            self.conn = sqlite3.connect(str(path), timeout=30.0, isolation_level=None)
        except sqlite3.Error as exc:
            raise StorageError(f"cannot open {path}: {exc}") from None
        self.conn.execute("PRAGMA busy_timeout=30000")

    def __enter__(self) -> sqlite3.Connection:
        return self.conn

    def __exit__(self, *exc: object) -> None:
        self.conn.close()


def _integrity(conn: sqlite3.Connection, what: str) -> None:
    rows = conn.execute("PRAGMA integrity_check").fetchall()
    if [r[0] for r in rows] != ["ok"]:
        raise StorageError(f"{what} failed the integrity check: {rows[0][0]}")


def _sqlite_revision(conn: sqlite3.Connection) -> str | None:
    try:
        row = conn.execute("SELECT version_num FROM alembic_version").fetchone()
    except sqlite3.Error:
        return None
    return str(row[0]) if row else None


# ------------------------------------------------------------------------------ backup


def backup_database(url: str | URL, out: Path, *, force: bool = False) -> BackupResult:
    """Write a consistent backup of the database at ``url`` to ``out`` (mode 0600)."""
    parsed = normalise_url(url)
    out = Path(out)
    _check_target(out, force=force)
    started = time.perf_counter()
    tmp = _private_temp(out)
    try:
        if parsed.get_backend_name() == "sqlite":
            events, head = _backup_sqlite(_sqlite_path(parsed), tmp)
        else:
            engine = make_engine(parsed)
            try:  # the dump starts after this: it holds at least these events
                events, head = _audit_summary(engine)
            finally:
                engine.dispose()
            _backup_postgresql(parsed, tmp)
        _move_into_place(tmp, out, force=force)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    finally:
        for extra in ("-wal", "-shm", "-journal"):
            tmp.with_name(tmp.name + extra).unlink(missing_ok=True)
    return BackupResult(
        path=out,
        backend=parsed.get_backend_name(),
        size=out.stat().st_size,
        seconds=time.perf_counter() - started,
        audit_events=events,
        audit_head=head,
    )


def _backup_sqlite(source: Path, tmp: Path) -> tuple[int, str | None]:
    if not source.exists():
        raise StorageError(f"there is no database at {source}")
    with _sqlite_connect(source) as src, _sqlite_connect(tmp) as dst:
        try:
            # pages=-1: every page in one step, i.e. one read transaction = one snapshot
            src.backup(dst, pages=-1)
        except sqlite3.Error as exc:
            raise StorageError(f"the backup of {source} failed: {exc}") from None
        dst.execute("PRAGMA journal_mode=DELETE")  # one self-contained file
        _integrity(dst, "the backup")
        if (
            _sqlite_revision(dst) is None
            and not dst.execute("SELECT 1 FROM sqlite_master WHERE name = 'audit_log'").fetchone()
        ):
            raise StorageError(f"{source} holds no twostep records database")
        try:
            (events,) = dst.execute("SELECT count(*) FROM audit_log").fetchone()
            last = dst.execute("SELECT hash FROM audit_log ORDER BY id DESC LIMIT 1").fetchone()
        except sqlite3.Error as exc:
            raise StorageError(f"{source} holds no audit trail: {exc}") from None
    return int(events), (str(last[0]) if last else None)


def _backup_postgresql(url: URL, tmp: Path) -> None:
    tool = _pg_tool("pg_dump")
    dsn, env = _pg_dsn(url)
    cmd = [str(tool), "--format=custom", "--no-owner", "--no-privileges", f"--file={tmp}", dsn]
    _run(cmd, env, "pg_dump")
    with tmp.open("rb") as fh:
        if fh.read(5) != PGDUMP_MAGIC:  # pragma: no cover - pg_dump said it succeeded
            raise StorageError("pg_dump wrote something that is not a custom-format dump")
    os.chmod(tmp, 0o600)


def _run(cmd: list[str], env: dict[str, str], what: str) -> str:
    try:
        done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=3600)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise StorageError(f"{what} could not run: {exc}") from None
    if done.returncode != 0:
        # pg tools print the URL without its password (we never give them one); keep it short
        lines = [ln for ln in done.stderr.strip().splitlines() if ln.strip()]
        detail = "; ".join(lines[:3]) or f"exit status {done.returncode}"
        raise StorageError(f"{what} failed: {detail}")
    return done.stdout


# ----------------------------------------------------------------------------- restore


def restore_database(url: str | URL, source: Path, *, force: bool = False) -> RestoreResult:
    """Restore the backup ``source`` into the database at ``url``; verify the audit chain.

    A target that holds any data is refused unless ``force`` (then it is
    replaced: SQLite completely, PostgreSQL object by object of the dump).
    """
    parsed = normalise_url(url)
    source = Path(source)
    try:
        with source.open("rb") as fh:
            magic = fh.read(16)
    except OSError as exc:
        raise StorageError(f"cannot read {source}: {exc.strerror or exc}") from None
    backend = parsed.get_backend_name()
    if backend == "sqlite" and magic != SQLITE_MAGIC:
        raise StorageError(f"{source} is not a SQLite backup (twostep backup of a SQLite URL)")
    if backend != "sqlite" and not magic.startswith(PGDUMP_MAGIC):
        raise StorageError(f"{source} is not a PostgreSQL custom-format dump (twostep backup)")
    if not force and not database_is_empty(parsed):
        raise StorageError(
            "the target database is not empty; restoring would replace it — use --force "
            "(stop the app first)"
        )
    started = time.perf_counter()
    if backend == "sqlite":
        revision = _restore_sqlite(source, _sqlite_path(parsed))
    else:
        revision = _restore_postgresql(parsed, source)
    engine = make_engine(parsed)
    try:
        broken = verify_chain(engine)
        events, _ = _audit_summary(engine)
        if broken is None:
            record_operator_event(engine, "restore", "database", source.name[:200])
            events += 1
    finally:
        engine.dispose()
    return RestoreResult(
        backend=backend,
        seconds=time.perf_counter() - started,
        revision=revision,
        audit_events=events,
        audit_broken_at=broken,
    )


def _restore_sqlite(source: Path, target: Path) -> str | None:
    with _sqlite_connect(source) as src:
        _integrity(src, str(source))
        revision = _sqlite_revision(src)
        _known_revision(revision)
        if not target.exists():
            target.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
            os.close(os.open(target, os.O_CREAT | os.O_WRONLY, 0o600))
        with _sqlite_connect(target) as dst:
            try:
                # the destination is replaced as a whole, inside one write transaction
                src.backup(dst, pages=-1)
            except sqlite3.Error as exc:
                raise StorageError(f"the restore into {target} failed: {exc}") from None
            dst.execute("PRAGMA journal_mode=WAL")
            _integrity(dst, "the restored database")
    return revision


_COPY_ROW = re.compile(r"^COPY [^\n]*alembic_version[^\n]*FROM stdin;\n([^\n\\]+)\n", re.M)


def _restore_postgresql(url: URL, source: Path) -> str | None:
    tool = _pg_tool("pg_restore")
    dsn, env = _pg_dsn(url)
    listing = _run(
        [str(tool), "--data-only", "--table=alembic_version", "--file=-", str(source)],
        env,
        "pg_restore (reading the backup's schema revision)",
    )
    found = _COPY_ROW.search(listing)
    revision = found.group(1).strip() if found else None
    _known_revision(revision)
    cmd = [
        str(tool),
        "--clean",
        "--if-exists",
        "--no-owner",
        "--no-privileges",
        "--single-transaction",
        "--exit-on-error",
        f"--dbname={dsn}",
        str(source),
    ]
    _run(cmd, env, "pg_restore")
    return revision


# ----------------------------------------------------------------------- operator checks


@dataclass(frozen=True)
class AuditReport:
    """The state of the audit chain: event count, newest row, first broken row (if any)."""

    events: int
    newest_id: int | None
    newest_at: datetime | None
    newest_hash: str | None
    broken_id: int | None = None
    broken_at: datetime | None = None
    #: "changed" (row content vs its hash), "link" (prev_hash vs the row before), "missing"
    #: (ids before it are gone)
    broken_kind: str | None = None


def audit_report(url: str | URL) -> AuditReport:
    """Verify the chain of the database at ``url`` and describe the first broken row."""
    from twostep.storage.audit import GENESIS_HASH

    engine = make_engine(url)
    c = audit_log.c
    try:
        broken = verify_chain(engine)
        with translated(), engine.connect() as conn:
            count = conn.execute(sa.select(sa.func.count()).select_from(audit_log)).scalar_one()
            last = conn.execute(
                sa.select(c.id, c.at, c.hash).order_by(c.id.desc()).limit(1)
            ).first()
            report = AuditReport(
                int(count),
                int(last.id) if last else None,
                last.at if last else None,
                str(last.hash) if last else None,
            )
            if broken is None:
                return report
            row = conn.execute(sa.select(audit_log).where(c.id == broken)).mappings().one()
            prev = conn.execute(
                sa.select(c.id, c.hash).where(c.id < broken).order_by(c.id.desc()).limit(1)
            ).first()
    finally:
        engine.dispose()
    expected_prev = str(prev.hash) if prev is not None else GENESIS_HASH
    if row["prev_hash"] == expected_prev:
        kind = "changed"
    elif (prev is None and broken != 1) or (prev is not None and int(prev.id) != broken - 1):
        kind = "missing"
    else:
        kind = "link"
    return AuditReport(
        report.events,
        report.newest_id,
        report.newest_at,
        report.newest_hash,
        broken_id=broken,
        broken_at=row["at"],
        broken_kind=kind,
    )


def key_census(engine: sa.Engine, ring: KeyRing) -> dict[str, dict[str, int]]:
    """table -> key id -> how many stored values it sealed (read from the bytes; no decryption)."""
    from twostep.storage.encryption import encrypted_columns
    from twostep.storage.tables import metadata

    out: dict[str, dict[str, int]] = {}
    with translated(), engine.connect() as conn:
        for table, cols in encrypted_columns(metadata):
            counts: dict[str, int] = {}
            for col in cols:
                raw = sa.type_coerce(col, sa.LargeBinary)
                for (blob,) in conn.execute(sa.select(raw).where(col.is_not(None))):
                    kid = ring.key_id_of(blob, f"{table.name}.{col.name}")
                    counts[kid] = counts.get(kid, 0) + 1
            out[table.name] = counts
    return out
