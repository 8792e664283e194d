"""``twostep import …``, ``twostep export …`` and ``twostep fhir questionnaires``.

Commands (registered on the sub-apps of `twostep.cli.main`):

* ``twostep import scores FILE [--instrument ID]`` — a long-format CSV or
  Parquet file (`twostep.interop.scores_import`): prints rows, inserted,
  skipped and clients, or "already imported" for a file imported before;
* ``twostep import fhir FILE [--skip-other-resources]`` — a
  QuestionnaireResponse or a Bundle of them, FHIR JSON only (XML is refused
  unparsed); prints stored and skipped counts. Other resources in a Bundle are
  an error unless ``--skip-other-resources`` (to read a client's own export
  back, which adds nothing that is stored already);
* ``twostep export scores --out FILE.parquet|FILE.csv [--client ID]
  [--pseudonymise]`` — the long format (`twostep.services.records_io`);
  ``--pseudonymise`` needs ``TWOSTEP_PSEUDONYMISATION_KEY``; researchers get
  no row-level export (AZ-09: aggregates only);
* ``twostep export fhir --client ID --out bundle.json`` — the client's whole
  record as a FHIR ``collection`` Bundle;
* ``twostep fhir questionnaires --out DIR`` — one Questionnaire JSON file per
  catalogue instrument (no database, no clinical data).

The commands that touch records act as the active user named by ``--as
EMAIL`` (an unknown or deactivated address: exit 2), with that user's access
rules, and every access is audited as for the web app. The database is
``--url`` or ``TWOSTEP_DATABASE_URL``; it must be at the newest schema
revision (run ``twostep db upgrade`` first) — nothing is created or migrated
here. A URL is only ever shown with its password masked, and a password given
on the command line draws a warning (other users can read it from the process
list; reliability-security.md #58).

Files (reliability-security.md §4.4): an input that is missing or unreadable
is one line on standard error and exit 2 (#56); an import is one transaction,
so Ctrl-C rolls everything back and exits with 130 (#60). Exports are written
to a temporary file in the target folder and renamed into place (never a
half-written file), with mode 0600; an existing file is replaced only with
``--force``, and so is writing into a folder every user may write to (#61).
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, TYPE_CHECKING

import typer
from rich.markup import escape

from twostep.cli import main as cli
from twostep.config import Settings, pseudonymisation_key_bytes, require_production_ready
from twostep.domain.records import Role, new_id
from twostep.errors import AccessDeniedError, InputFileError, Problem
from twostep.instruments.registry import Catalogue
from twostep.services.access import Actor

if TYPE_CHECKING:
    import pyarrow as pa

    from twostep.services.records_io import ScoreColumns
    from twostep.storage import SqlUnitOfWorkFactory

__all__ = [
    "MAX_FHIR_BYTES",
    "export_fhir_command",
    "export_scores_command",
    "fhir_questionnaires_command",
    "import_fhir_command",
    "import_scores_command",
    "write_atomic",
]

#: Largest FHIR file read (a Bundle holds at most 1,000 responses; reliability-security.md #44);
#: ``TWOSTEP_MAX_IMPORT_BYTES`` (default 100 MB, every import) may lower it.
MAX_FHIR_BYTES = 50 * 1024 * 1024

AS_HELP = "E-mail address of the user to act as (their access rules apply; audited)."
URL_HELP = (
    "Database URL (default: TWOSTEP_DATABASE_URL). Prefer the environment variable for a "
    "URL with a password."
)
FORCE_HELP = "Replace an existing file (and allow a folder every user may write to)."


# ------------------------------------------------------------------ database and actor


@dataclass(frozen=True)
class _Session:
    factory: SqlUnitOfWorkFactory
    actor: Actor
    shown_url: str
    settings: Settings
    catalogue: Catalogue


def masked_url(url: str) -> str:
    """``url`` with its password replaced by ``***`` (for every message)."""
    from twostep.storage.engine import normalise_url

    try:
        return normalise_url(url).render_as_string(hide_password=True)
    except ValueError:  # ConfigurationError too: never echo a URL that cannot be parsed
        raise cli.fail(
            "the database URL is not valid (see TWOSTEP_DATABASE_URL or --url)"
        ) from None


def _database_url(url: str | None, settings: Settings) -> str:
    if url is None:
        return settings.database_url
    from twostep.storage.engine import normalise_url

    masked_url(url)  # refuses an invalid URL without echoing it
    if normalise_url(url).password:
        cli.err.print(
            "[yellow]warning:[/] a password in --url can be read by other users of this "
            "machine (process list, shell history); set TWOSTEP_DATABASE_URL instead",
            highlight=False,
            soft_wrap=True,
        )
    return url


def _actor(factory: SqlUnitOfWorkFactory, email: str) -> Actor:
    with factory() as uow:
        user = uow.users.by_email(email)
    if user is None or not user.is_active:
        raise cli.fail("--as: no active user with this e-mail address")
    return Actor(user.id, user.clinic_id, frozenset(user.roles), request_id=f"cli-{new_id()}")


@contextmanager
def _session(as_email: str, url: str | None) -> Iterator[_Session]:
    """The database (at the newest schema) and the acting user, for one command."""
    from twostep.storage import KeyRing, SqlUnitOfWorkFactory, current, head, make_engine

    settings = cli.settings()
    require_production_ready(settings)
    target = _database_url(url, settings)
    shown = masked_url(target)
    revision = current(target)
    if revision != head():
        state = "has no twostep schema" if revision is None else f"is at revision {revision}"
        raise cli.fail(
            f"the database {shown} {state}; run `twostep db upgrade` first (the newest "
            f"revision is {head()})"
        )
    engine = make_engine(target, keyring=KeyRing.from_settings(settings))
    try:
        factory = SqlUnitOfWorkFactory(engine)
        actor = _actor(factory, as_email)
        yield _Session(factory, actor, shown, settings, cli.catalogue(settings))
    finally:
        engine.dispose()


def _client_id(session: _Session, ref: str) -> str:
    """A client given by id or e-mail address -> the id (unknown addresses stay as given,
    so that the service answers "not found" exactly as for an unknown id)."""
    if "@" not in ref:
        return ref
    with session.factory() as uow:
        user = uow.users.by_email(ref)
    return user.id if user is not None and user.clinic_id == session.actor.clinic_id else ref


# ------------------------------------------------------------------------ files


def _readable(path: Path) -> Path:
    """``path`` if it is a file we can read; otherwise one line and exit 2 (#56)."""
    try:
        with path.open("rb"):
            pass
    except FileNotFoundError:
        raise cli.fail(f"cannot read {path}: no such file") from None
    except IsADirectoryError:
        raise cli.fail(f"cannot read {path}: it is a folder, not a file") from None
    except PermissionError:
        raise cli.fail(f"cannot read {path}: permission denied") from None
    except OSError as exc:
        raise cli.fail(f"cannot read {path}: {exc.strerror or type(exc).__name__}") from None
    if not path.is_file():
        raise cli.fail(f"cannot read {path}: not a regular file")
    return path


def _within_cap(path: Path, cap: int) -> None:
    """Refuse (exit 2) a file above ``cap`` bytes before reading it — for Parquet, also one
    whose columns would expand above ``cap`` (a compression bomb; #44)."""
    size = path.stat().st_size
    if size > cap:
        raise cli.fail(f"{path} has {size:,} bytes; at most {cap:,} are read [too-large]")
    if path.suffix.lower() in (".parquet", ".pq"):
        import pyarrow.parquet as pq

        try:
            meta = pq.ParquetFile(path).metadata
        except Exception:  # not Parquet after all: the reader names the problem
            return
        pages = sum(meta.row_group(i).total_byte_size for i in range(meta.num_row_groups))
        expanded = max(pages, meta.num_rows * meta.num_columns * 8)  # 8 bytes a decoded cell
        if expanded > cap:
            raise cli.fail(
                f"{path} expands to {expanded:,} bytes; at most {cap:,} are read [too-large]"
            )


def _check_target(target: Path, *, force: bool) -> None:
    """Refuse an existing file, a folder, or a folder anyone may write to, unless ``force``."""
    if target.is_dir():
        raise cli.fail(f"{target} is a folder; give a file name")
    if target.exists() and not force:
        raise cli.fail(f"{target} exists; use --force to replace it")
    parent = target.parent
    if parent.exists() and not parent.is_dir():
        raise cli.fail(f"{parent} is not a folder")
    if parent.exists() and parent.stat().st_mode & 0o002 and not force:
        raise cli.fail(
            f"{parent} is writable by every user, who could replace or remove the export; "
            "choose a private folder, or use --force"
        )


def write_atomic(
    target: Path, write: Callable[[IO[bytes]], None], *, force: bool, mode: int = 0o600
) -> None:
    """Write ``target`` through a temporary file in its folder, then move it into place.

    The file has ``mode`` from its creation (0600 by default: only the owner
    can read an export). Without ``force`` an existing file is never replaced,
    even one created while we were writing (the move is a hard link, which
    fails if the name exists).
    """
    _check_target(target, force=force)
    parent = target.parent
    parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=parent)
    tmp = Path(tmp_name)
    try:
        os.fchmod(fd, mode)
        with os.fdopen(fd, "wb") as fh:
            write(fh)
            fh.flush()
            os.fsync(fh.fileno())
        if force:
            os.replace(tmp, target)
        else:
            try:
                os.link(tmp, target)
            except FileExistsError:
                raise cli.fail(f"{target} exists; use --force to replace it") from None
            except OSError:  # a file system without hard links: check, then move
                if target.exists():
                    raise cli.fail(f"{target} exists; use --force to replace it") from None
                os.replace(tmp, target)
            else:
                tmp.unlink()
        _fsync_folder(parent)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def _writer(data: bytes) -> Callable[[IO[bytes]], None]:
    def write(fh: IO[bytes]) -> None:
        fh.write(data)

    return write


def _fsync_folder(folder: Path) -> None:
    try:
        dir_fd = os.open(folder, os.O_RDONLY)
    except OSError:  # pragma: no cover - platforms without directory handles
        return
    try:
        os.fsync(dir_fd)
    except OSError:  # pragma: no cover - file systems that refuse it
        pass
    finally:
        os.close(dir_fd)


# ------------------------------------------------------------------------ import


@cli.import_app.command("scores")
@cli.handle_errors
def import_scores_command(
    file: Path = typer.Argument(..., help="Long-format scores (CSV or Parquet)."),
    instrument: str | None = typer.Option(
        None, "--instrument", help="Catalogue id when the file has no instrument column."
    ),
    as_email: str = typer.Option(..., "--as", help=AS_HELP),
    url: str | None = typer.Option(None, "--url", help=URL_HELP),
) -> None:
    """Import historical scores into the records database, all or nothing, exactly once."""
    from twostep.interop.scores_import import import_scores

    path = _readable(file)
    _within_cap(path, cli.settings().max_import_bytes)
    with _session(as_email, url) as s:
        result = import_scores(
            path,
            s.factory,
            s.actor,
            instrument=instrument,
            catalogue=s.catalogue,
        )
    counts = (
        f"rows {result.rows:,}, inserted {result.inserted:,}, skipped {result.skipped:,}, "
        f"clients {result.clients:,}"
    )
    if result.already_imported:
        cli.out.print(
            f"already imported: {escape(str(file))} was imported before; nothing added ({counts})",
            highlight=False,
            soft_wrap=True,
        )
    else:
        cli.out.print(
            f"imported {escape(str(file))} into {escape(s.shown_url)}",
            highlight=False,
            soft_wrap=True,
        )
        cli.out.print(counts, highlight=False, soft_wrap=True)


@cli.import_app.command("fhir")
@cli.handle_errors
def import_fhir_command(
    file: Path = typer.Argument(..., help="A QuestionnaireResponse or a Bundle (FHIR JSON)."),
    skip_other: bool = typer.Option(
        False,
        "--skip-other-resources",
        help="Read only the QuestionnaireResponses of a Bundle that holds other resources "
        "too (e.g. a client's twostep export); without it they are an error.",
    ),
    as_email: str = typer.Option(..., "--as", help=AS_HELP),
    url: str | None = typer.Option(None, "--url", help=URL_HELP),
) -> None:
    """Import FHIR R4 QuestionnaireResponses, all or nothing; amendments become new versions."""
    from twostep.interop.fhir import FhirImportError, import_responses
    from twostep.services.records_io import store_imported_administrations

    path = _readable(file)
    _within_cap(path, min(MAX_FHIR_BYTES, cli.settings().max_import_bytes))
    data = path.read_bytes()
    with _session(as_email, url) as s:
        now = datetime.now(UTC)
        try:
            imported = import_responses(
                data,
                clinic_id=s.actor.clinic_id,
                received_at=now,
                catalogue=s.catalogue,
                skip_other_resources=skip_other,
            )
        except FhirImportError as exc:
            problems = [Problem(f"{file}, {p.where}", p.code, p.message) for p in exc.problems]
            raise FhirImportError(problems, context=str(file)) from None
        if not imported:
            raise InputFileError(
                [Problem(str(file), "empty-import", "the file holds no QuestionnaireResponse")],
                context=str(file),
            )
        result = store_imported_administrations(
            s.factory,
            s.actor,
            imported,
            now=now,
            catalogue=s.catalogue,
        )
    cli.out.print(
        f"imported {escape(str(file))} into {escape(s.shown_url)}", highlight=False, soft_wrap=True
    )
    cli.out.print(
        f"responses {len(imported):,}, stored {len(result.stored):,} "
        f"(amendments {result.amended:,}), skipped {result.skipped:,}, "
        f"clients {result.clients:,}, risk alerts {len(result.alerts):,}",
        highlight=False,
        soft_wrap=True,
    )


# ------------------------------------------------------------------------ export


def _score_table(columns: ScoreColumns, csv: bool) -> pa.Table:
    import pyarrow as pa

    from twostep.interop.long_format import neutralise_formulas

    types = {
        "client_id": pa.string(),
        "session": pa.int64(),
        "date": pa.date32(),
        "completed_at": pa.string(),
        "instrument": pa.string(),
        "score": pa.float64(),
        "therapist_id": pa.string(),
    }
    arrays = {}
    for name, values in columns.items():
        arr = pa.array(values, type=types[name])
        if csv and pa.types.is_string(arr.type):
            arr = neutralise_formulas(arr)
        arrays[name] = arr
    return pa.table(arrays)


@cli.export_app.command("scores")
@cli.handle_errors
def export_scores_command(
    out_path: Path = typer.Option(..., "--out", "-o", help="File to write: .parquet or .csv."),
    client: str | None = typer.Option(
        None, "--client", help="One client (id or e-mail); default: everyone you may export."
    ),
    pseudonymise: bool = typer.Option(
        False,
        "--pseudonymise",
        help="Keyed pseudonyms for ids, dates coarsened to weeks (TWOSTEP_PSEUDONYMISATION_KEY). "
        "Researchers get no row-level export (aggregates only).",
    ),
    force: bool = typer.Option(False, "--force", help=FORCE_HELP),
    as_email: str = typer.Option(..., "--as", help=AS_HELP),
    url: str | None = typer.Option(None, "--url", help=URL_HELP),
) -> None:
    """Export scores in the long format (client_id, session, date, ..., therapist_id)."""
    import pyarrow.csv as pacsv
    import pyarrow.parquet as pq

    from twostep.services.records_io import export_scores

    suffix = out_path.suffix.lower()
    if suffix not in (".parquet", ".csv"):
        raise cli.fail(f"{out_path}: the file name must end in .parquet or .csv")
    _check_target(out_path, force=force)
    key: bytes | None = None
    if pseudonymise:
        key = pseudonymisation_key_bytes(cli.settings())
        if key is None:
            raise cli.fail("--pseudonymise needs TWOSTEP_PSEUDONYMISATION_KEY (32 bytes or more)")
    with _session(as_email, url) as s:
        try:
            columns = export_scores(
                s.factory,
                s.actor,
                client_id=_client_id(s, client) if client is not None else None,
                pseudonymise_key=key,
            )
        except AccessDeniedError as exc:
            researcher = Role.RESEARCHER in s.actor.roles
            hint = " (use --pseudonymise)" if key is None and researcher else ""
            raise cli.fail(f"{exc}{hint}") from None
    table = _score_table(columns, csv=suffix == ".csv")

    def write(fh: IO[bytes]) -> None:
        if suffix == ".csv":
            pacsv.write_csv(table, fh)
        else:
            pq.write_table(table, fh)

    write_atomic(out_path, write, force=force)
    n_rows = len(columns["client_id"])
    n_clients = len(set(columns["client_id"]))
    kind = "pseudonymised " if key is not None else ""
    cli.out.print(
        f"exported {n_rows:,} {kind}scores of {n_clients:,} clients to {escape(str(out_path))}",
        highlight=False,
        soft_wrap=True,
    )


@cli.export_app.command("fhir")
@cli.handle_errors
def export_fhir_command(
    client: str = typer.Option(..., "--client", help="The client (id or e-mail)."),
    out_path: Path = typer.Option(..., "--out", "-o", help="The Bundle to write (JSON)."),
    force: bool = typer.Option(False, "--force", help=FORCE_HELP),
    as_email: str = typer.Option(..., "--as", help=AS_HELP),
    url: str | None = typer.Option(None, "--url", help=URL_HELP),
) -> None:
    """Export a client's record as a FHIR R4 Bundle (what the acting user may see of it)."""
    from twostep.interop.fhir import client_bundle, dumps
    from twostep.services.records_io import client_records

    _check_target(out_path, force=force)
    with _session(as_email, url) as s:
        records = client_records(s.factory, s.actor, _client_id(s, client))
        bundle = client_bundle(records, catalogue=s.catalogue)
    text = dumps(bundle, indent=2).encode("utf-8")
    write_atomic(out_path, _writer(text), force=force)
    entries = bundle.get("entry")
    n = len(entries) if isinstance(entries, list) else 0
    cli.out.print(
        f"wrote a Bundle of {n:,} resources to {escape(str(out_path))}",
        highlight=False,
        soft_wrap=True,
    )


# -------------------------------------------------------------------------- fhir


@cli.fhir_app.command("questionnaires")
@cli.handle_errors
def fhir_questionnaires_command(
    out_dir: Path = typer.Option(..., "--out", "-o", help="Folder for the Questionnaire files."),
    force: bool = typer.Option(False, "--force", help="Replace existing files."),
) -> None:
    """Write a FHIR R4 Questionnaire (JSON) for every catalogue instrument, one file each."""
    from twostep.interop.fhir import dumps, questionnaires

    if out_dir.exists() and not out_dir.is_dir():
        raise cli.fail(f"{out_dir} is not a folder")
    resources = questionnaires(cli.catalogue())
    targets = [(out_dir / f"{q['id']}.json", q) for q in resources]
    taken = [p for p, _ in targets if p.exists()]
    if taken and not force:
        raise cli.fail(
            f"{len(taken)} file(s) exist in {out_dir} (e.g. {taken[0].name}); use --force to "
            "replace them"
        )
    out_dir.mkdir(parents=True, exist_ok=True)
    for path, resource in targets:
        text = dumps(resource, indent=2).encode("utf-8")
        # definitions, not clinical data: readable by everyone like any published form
        write_atomic(path, _writer(text), force=True, mode=0o644)
    cli.out.print(
        f"wrote {len(targets)} Questionnaires to {escape(str(out_dir))}",
        highlight=False,
        soft_wrap=True,
    )
