"""Input rules of the use cases: ranges, enums, text lengths, aware times.

A `Checks` object collects every broken rule of one input as a `Problem`
(the field, a stable code, a message) and raises one `ValidationError` with
all of them, so a form can show every mistake at once. Numbers are strict:
``True`` or ``"3"`` is not a number (reliability-security.md §4.1).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, date, datetime, time, timedelta
from enum import StrEnum
from typing import TypeVar

from twostep.errors import Problem, ValidationError

__all__ = ["MAX_SHORT_TEXT", "MAX_TEXT", "Checks", "instant_of", "utcnow"]

#: Longest free text accepted (journal entries, reflections, notes).
MAX_TEXT = 10_000
#: Longest short text (names, labels, tags, topics' titles).
MAX_SHORT_TEXT = 200
#: How far in the future a client's clock may be and still be believed.
CLOCK_SKEW = timedelta(minutes=5)

E = TypeVar("E", bound=StrEnum)


def utcnow() -> datetime:
    return datetime.now(UTC)


def instant_of(value: date | datetime) -> datetime:
    """A point on the time axis: a datetime as UTC, a calendar day as its midnight UTC."""
    if isinstance(value, datetime):
        return value.astimezone(UTC) if value.tzinfo is not None else value.replace(tzinfo=UTC)
    return datetime.combine(value, time(0), tzinfo=UTC)


class Checks:
    """Collects the problems of one input; `done` raises them all at once."""

    def __init__(self, context: str) -> None:
        self.context = context
        self.problems: list[Problem] = []

    def fail(self, where: str, code: str, message: str) -> None:
        self.problems.append(Problem(where, code, message))

    def done(self) -> None:
        if self.problems:
            raise ValidationError(self.problems, context=self.context)

    def text(
        self, where: str, value: object, *, required: bool = False, max_len: int = MAX_TEXT
    ) -> str:
        """A string, stripped of surrounding white space; "" when absent and allowed."""
        if value is None:
            value = ""
        if not isinstance(value, str):
            self.fail(where, "wrong_type", "expected text")
            return ""
        if "\x00" in value:
            self.fail(where, "invalid_character", "text may not contain NUL characters")
            return ""
        out = value.strip()
        if required and not out:
            self.fail(where, "required", "may not be empty")
        if len(out) > max_len:
            self.fail(where, "too_long", f"at most {max_len} characters (got {len(out)})")
        return out

    def texts(
        self, where: str, values: Iterable[object], *, max_items: int, max_len: int
    ) -> tuple[str, ...]:
        """A list of short, non-empty texts without duplicates (order kept)."""
        if isinstance(values, str):
            self.fail(where, "wrong_type", "expected a list of texts")
            return ()
        items = list(values)
        if len(items) > max_items:
            self.fail(where, "too_many", f"at most {max_items} entries")
        out: list[str] = []
        for i, v in enumerate(items):
            t = self.text(f"{where}[{i}]", v, required=True, max_len=max_len)
            if t and t not in out:
                out.append(t)
        return tuple(out)

    def integer(
        self, where: str, value: object, low: int, high: int, *, required: bool = False
    ) -> int | None:
        """A whole number in ``[low, high]``; None when absent and allowed."""
        if value is None:
            if required:
                self.fail(where, "required", "a number is needed")
            return None
        if isinstance(value, bool) or not isinstance(value, int):
            self.fail(where, "wrong_type", f"expected a whole number, got {type(value).__name__}")
            return None
        if not low <= value <= high:
            self.fail(where, "out_of_range", f"must be between {low} and {high}")
            return None
        return value

    def number(
        self, where: str, value: object, low: float, high: float, *, required: bool = False
    ) -> float | None:
        """A finite number in ``[low, high]``; None when absent and allowed."""
        if value is None:
            if required:
                self.fail(where, "required", "a number is needed")
            return None
        if isinstance(value, bool) or not isinstance(value, int | float):
            self.fail(where, "wrong_type", f"expected a number, got {type(value).__name__}")
            return None
        f = float(value)
        if not low <= f <= high:  # also rejects NaN
            self.fail(where, "out_of_range", f"must be between {low:g} and {high:g}")
            return None
        return f

    def choice(self, where: str, value: object, enum_cls: type[E]) -> E | None:
        """A member of ``enum_cls`` given as the member or its value."""
        if isinstance(value, enum_cls):
            return value
        if isinstance(value, str):
            try:
                return enum_cls(value)
            except ValueError:
                pass
        allowed = ", ".join(m.value for m in enum_cls)
        self.fail(where, "not_allowed", f"must be one of: {allowed}")
        return None

    def instant(
        self, where: str, value: object, *, now: datetime, allow_future: bool = False
    ) -> datetime | None:
        """A timezone-aware datetime (converted to UTC), not in the future unless allowed."""
        if not isinstance(value, datetime):
            self.fail(where, "wrong_type", "expected a date and time")
            return None
        if value.tzinfo is None or value.utcoffset() is None:
            self.fail(where, "naive_datetime", "a time zone is needed")
            return None
        out = value.astimezone(UTC)
        if not allow_future and out > now + CLOCK_SKEW:
            self.fail(where, "in_future", "may not be in the future")
            return None
        return out

    def day(
        self, where: str, value: object, *, today: date | None = None, required: bool = True
    ) -> date | None:
        """A calendar day; not after ``today`` when ``today`` is given."""
        if value is None and not required:
            return None
        if isinstance(value, datetime) or not isinstance(value, date):
            self.fail(where, "wrong_type", "expected a date")
            return None
        if today is not None and value > today:
            self.fail(where, "in_future", "may not be in the future")
            return None
        return value
