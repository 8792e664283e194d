"""Every exception and warning twostep raises, in one place.

The tree::

    TwostepError                      base of everything twostep raises on purpose
    ├── ConfigurationError            a setting or parameter set that cannot work (e.g. r_xx >= 1)
    ├── CatalogueError                an instrument definition file breaks the schema
    │   └── UnknownInstrumentError    an instrument id that is not in the catalogue
    ├── ValidationError               input data break a rule; carries a list of `Problem`s
    │   ├── ResponseValidationError   questionnaire item responses (range, type, unknown item, ...)
    │   └── InputFileError            a CSV/Parquet/FHIR input (names file, row and column)
    ├── AnalysisError                 the kernel was asked for something undefined
    ├── NotFoundError                 no such record — or one the caller may not see (same error)
    ├── ConflictError                 a duplicate key, an edit of an immutable record, a stale version
    │   └── StaleVersionError         an edit based on a version of the record that is not current
    ├── AccessDeniedError             the caller may not do this (never used to hide existence)
    └── StorageError                  the database cannot take the write now (disk full, locked)

    TwostepWarning (UserWarning)
    ├── StatisticalWarning            a statistic was computed under a caveat worth recording
    └── NormativeDataWarning          norms are missing, too small, or from another population

Errors are raised at the edges (scoring a submission, reading a file, loading a
catalogue file) with messages that name *where* (file, row, field, item) and
*which rule* was broken. The CLI turns them into exit code 2 and a one-line
message; the web layer turns them into RFC 9457 problem details.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class Problem:
    """One broken rule at one place.

    ``where`` is a human-readable location (``"item_9"``, ``"row 12, column score"``,
    ``"phq9.toml: items[3].text"``); ``code`` is a stable machine-readable rule name
    (``"out_of_range"``, ``"unknown_item"``); ``message`` says what is wrong.
    """

    where: str
    code: str
    message: str

    def __str__(self) -> str:
        return f"{self.where}: {self.message} [{self.code}]"


class TwostepError(Exception):
    """Base class of all errors raised on purpose by twostep."""


class ConfigurationError(TwostepError, ValueError):
    """A parameter or setting that cannot produce a valid result."""


class CatalogueError(TwostepError):
    """An instrument definition that breaks the catalogue schema."""


class UnknownInstrumentError(CatalogueError, KeyError):
    """An instrument id that is not in the catalogue."""

    def __init__(self, instrument_id: str, known: Iterable[str] = ()) -> None:
        self.instrument_id = instrument_id
        self.known = tuple(sorted(known))
        hint = f" (known: {', '.join(self.known)})" if self.known else ""
        super().__init__(f"unknown instrument {instrument_id!r}{hint}")

    def __str__(self) -> str:
        return str(self.args[0])


class ValidationError(TwostepError, ValueError):
    """Input that breaks one or more rules.

    ``problems`` lists every broken rule found (validation does not stop at the
    first one, so a user can fix a file in one go); ``str(error)`` names the
    first few.
    """

    max_listed = 10

    def __init__(self, problems: Sequence[Problem], *, context: str = "") -> None:
        if not problems:
            raise ValueError("ValidationError needs at least one Problem")
        self.problems = tuple(problems)
        self.context = context
        super().__init__(self._render())

    def _render(self) -> str:
        head = f"{self.context}: " if self.context else ""
        shown = [str(p) for p in self.problems[: self.max_listed]]
        more = len(self.problems) - len(shown)
        tail = f"; and {more} more" if more > 0 else ""
        noun = "problem" if len(self.problems) == 1 else "problems"
        return f"{head}{len(self.problems)} {noun}: " + "; ".join(shown) + tail


class ResponseValidationError(ValidationError):
    """Questionnaire item responses that cannot be scored as given."""


class InputFileError(ValidationError):
    """A data file (CSV, Parquet, FHIR) with content that breaks the data contract."""


class AnalysisError(TwostepError, ValueError):
    """The kernel was asked for a statistic that is undefined for its input."""


class NotFoundError(TwostepError, LookupError):
    """No such record, or a record the caller may not see: both look the same on purpose."""


class ConflictError(TwostepError):
    """The write conflicts with stored data: duplicate key, immutable record, stale version."""


class StaleVersionError(ConflictError):
    """The edit names a version of the record that is no longer current (someone changed it).

    Raised by a conditional write (``UPDATE ... WHERE id = ? AND version = ?`` changing
    no row); the web layer answers 412 Precondition Failed.
    """


class AccessDeniedError(TwostepError):
    """The caller's role may not perform this action at all (e.g. an admin reading a journal)."""


class StorageError(TwostepError):
    """The storage cannot complete the operation now; nothing was changed."""


class TwostepWarning(UserWarning):
    """Base class of twostep's warnings."""


class StatisticalWarning(TwostepWarning):
    """A statistic was computed, but under a caveat that should be recorded."""


class NormativeDataWarning(TwostepWarning):
    """Norms are absent, too small or taken from a different population."""
