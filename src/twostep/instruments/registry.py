"""The instrument catalogue: the definitions shipped with twostep plus any packs.

Built-in definitions live in ``instruments/definitions/*.toml``. Further
definitions (a clinic's own measure, a licensed content pack) are added by
directory (``Catalogue.load(extra_dirs=...)``; the CLI and web app pass the
``TWOSTEP_INSTRUMENT_PATHS`` setting) or by an installed package that declares
an entry point in the group ``twostep.instruments`` whose object is a
directory path. Adding an instrument is a file, not code.
"""

from __future__ import annotations

import tomllib
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from functools import cache
from importlib import metadata, resources
from pathlib import Path

from twostep.errors import CatalogueError, UnknownInstrumentError
from twostep.instruments.model import Instrument
from twostep.instruments.schema import parse_instrument

ENTRY_POINT_GROUP = "twostep.instruments"


def parse_file(name: str, text: str) -> Instrument:
    """Decode and validate one definition; errors name ``name``."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise CatalogueError(f"{name}: not valid TOML: {exc}") from exc
    instrument = parse_instrument(data, name)
    stem = name.rsplit("/", 1)[-1].removesuffix(".toml")
    if instrument.id != stem:
        raise CatalogueError(f"{name}: id {instrument.id!r} must match the file name {stem!r}")
    return instrument


def _builtin_files() -> Iterator[tuple[str, str]]:
    folder = resources.files("twostep.instruments") / "definitions"
    for entry in sorted(folder.iterdir(), key=lambda e: e.name):
        if entry.name.endswith(".toml"):
            yield entry.name, entry.read_text(encoding="utf-8")


def _dir_files(directory: Path) -> Iterator[tuple[str, str]]:
    if not directory.is_dir():
        raise CatalogueError(f"{directory}: instrument directory does not exist")
    for path in sorted(directory.glob("*.toml")):
        yield str(path), path.read_text(encoding="utf-8")


def _entry_point_dirs() -> list[Path]:
    return [Path(str(ep.load())) for ep in metadata.entry_points(group=ENTRY_POINT_GROUP)]


@dataclass(frozen=True)
class Catalogue:
    """An immutable set of instruments, looked up by id."""

    instruments: tuple[Instrument, ...]

    @classmethod
    def load(cls, extra_dirs: Sequence[Path] = (), *, entry_points: bool = True) -> Catalogue:
        """Load the built-in definitions, then packs from entry points and ``extra_dirs``.

        A definition from a later source with the same id is an error: an
        instrument must never be silently redefined.
        """
        sources: list[Iterable[tuple[str, str]]] = [_builtin_files()]
        dirs = list(_entry_point_dirs()) if entry_points else []
        dirs += list(extra_dirs)
        sources += [_dir_files(Path(d)) for d in dirs]
        found: dict[str, Instrument] = {}
        for source in sources:
            for name, text in source:
                ins = parse_file(name, text)
                if ins.id in found:
                    first = found[ins.id].source_file
                    raise CatalogueError(
                        f"{name}: instrument {ins.id!r} is already defined in {first}"
                    )
                found[ins.id] = ins
        return cls(tuple(found.values()))

    def __iter__(self) -> Iterator[Instrument]:
        return iter(self.instruments)

    def __len__(self) -> int:
        return len(self.instruments)

    def __contains__(self, instrument_id: object) -> bool:
        return any(i.id == instrument_id for i in self.instruments)

    @property
    def ids(self) -> tuple[str, ...]:
        return tuple(i.id for i in self.instruments)

    def get(self, instrument_id: str) -> Instrument:
        """The instrument with this id (case-insensitive); `UnknownInstrumentError` if none."""
        key = instrument_id.strip().lower()
        for ins in self.instruments:
            if ins.id == key:
                return ins
        raise UnknownInstrumentError(instrument_id, self.ids)


@cache
def default_catalogue() -> Catalogue:
    """The built-in catalogue plus installed packs, loaded once per process."""
    return Catalogue.load()


def get_instrument(instrument_id: str) -> Instrument:
    """Shortcut for ``default_catalogue().get(instrument_id)``."""
    return default_catalogue().get(instrument_id)
