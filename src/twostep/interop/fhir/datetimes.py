"""FHIR ``dateTime``/``instant``/``date`` text to and from Python values.

FHIR R4 (datatypes.html#dateTime): "If hours and minutes are specified, a
time zone SHALL be populated". twostep keeps instants timezone-aware, so an
imported ``authored`` must be a full date and time with ``Z`` or an offset
(bad-input catalogue #50); the offset is kept as given, so the local time of
day survives a round trip. Fractional seconds beyond microseconds are cut
(Python's resolution); a leap second (``:60``) cannot be represented and is
refused.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta, timezone

_DATETIME = re.compile(
    r"^(?P<y>[0-9]{4})-(?P<mo>[0-9]{2})-(?P<d>[0-9]{2})"
    r"T(?P<h>[0-9]{2}):(?P<mi>[0-9]{2}):(?P<s>[0-9]{2})(?:\.(?P<f>[0-9]{1,9}))?"
    r"(?P<tz>Z|[+-][0-9]{2}:[0-9]{2})?$"
)
_PARTIAL = re.compile(r"^[0-9]{4}(-[0-9]{2}(-[0-9]{2})?)?$")
_LOCAL_TIME = re.compile(r"^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}")


class DateTimeError(ValueError):
    """Text that is not an acceptable timestamp; ``code`` is the problem code."""

    def __init__(self, code: str, message: str) -> None:
        self.code = code
        super().__init__(message)


def format_datetime(value: datetime) -> str:
    """A FHIR dateTime with its offset (``2024-03-01T09:30:00+01:00``); naive -> ValueError."""
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError("FHIR dateTimes with a time need a timezone; got a naive datetime")
    offset = value.utcoffset()
    if offset is not None and offset.total_seconds() % 60:
        value = value.astimezone(UTC)  # FHIR offsets are whole minutes
    return value.isoformat()


def format_date(value: date) -> str:
    """A FHIR date (``2024-03-01``)."""
    if isinstance(value, datetime):
        value = value.date()
    return value.isoformat()


def parse_datetime(text: str) -> datetime:
    """Parse a full FHIR dateTime with offset; `DateTimeError` otherwise.

    Codes: ``timezone-required`` (a time without ``Z``/offset, or only a date,
    which cannot place a response on the timeline) and ``invalid-datetime``.
    """
    m = _DATETIME.match(text)
    if m is None:
        if _PARTIAL.match(text):
            raise DateTimeError(
                "timezone-required",
                "a date without a time and timezone cannot place the response in time",
            )
        if _LOCAL_TIME.match(text) and not re.search(r"(Z|[+-][0-9]{2}:[0-9]{2})$", text):
            raise DateTimeError("timezone-required", "a dateTime with a time must carry a timezone")
        raise DateTimeError("invalid-datetime", "not a FHIR dateTime (YYYY-MM-DDThh:mm:ss+hh:mm)")
    if m["tz"] is None:
        raise DateTimeError("timezone-required", "a dateTime with a time must carry a timezone")
    if m["tz"] == "Z":
        tz = UTC
    else:
        sign = -1 if m["tz"][0] == "-" else 1
        hours, minutes = int(m["tz"][1:3]), int(m["tz"][4:6])
        if hours > 14 or minutes > 59 or (hours == 14 and minutes):
            raise DateTimeError("invalid-datetime", "timezone offset out of range (-14:00..+14:00)")
        tz = timezone(sign * timedelta(hours=hours, minutes=minutes))
    micro = int((m["f"] or "0")[:6].ljust(6, "0"))
    try:
        return datetime(
            int(m["y"]),
            int(m["mo"]),
            int(m["d"]),
            int(m["h"]),
            int(m["mi"]),
            int(m["s"]),
            micro,
            tzinfo=tz,
        )
    except ValueError:
        raise DateTimeError("invalid-datetime", "not a valid calendar date and time") from None
