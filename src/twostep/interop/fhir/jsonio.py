"""FHIR JSON in and out: the value types, a strict parser and the serialiser.

The parser accepts JSON only (FHIR R4 json.html). It refuses anything that
looks like XML without parsing it, so no DTD or external entity is ever
expanded (bad-input catalogue #53; the HAPI FHIR XXE advisories in
hapifhir/hapi-fhir#6634 are the reason). It also refuses what FHIR JSON
forbids and Python's ``json`` would let through: duplicate property names,
``NaN``/``Infinity`` and numbers that overflow a float. Sizes are not
limited here: the web layer caps the request body, and the importer caps
Bundle entries and items.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from typing import TypeAlias

from twostep.errors import Problem

JSONValue: TypeAlias = (
    bool | int | float | str | Sequence["JSONValue"] | Mapping[str, "JSONValue"] | None
)
#: A FHIR resource or element as plain JSON data.
JSONObject: TypeAlias = dict[str, JSONValue]

DOCUMENT = "(document)"


class JSONInputError(ValueError):
    """The text is not acceptable FHIR JSON; ``problem`` says why (no content is echoed)."""

    def __init__(self, problem: Problem) -> None:
        self.problem = problem
        super().__init__(str(problem))


class _DuplicateKeyError(ValueError):
    pass


def _object(pairs: list[tuple[str, object]]) -> dict[str, object]:
    out: dict[str, object] = {}
    for key, value in pairs:
        if key in out:
            raise _DuplicateKeyError(key)
        out[key] = value
    return out


def _finite(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError("number out of range")
    return value


def _constant(name: str) -> float:
    raise ValueError(f"{name} is not allowed in JSON")


def loads(data: str | bytes) -> object:
    """Parse FHIR JSON text strictly; `JSONInputError` on anything else.

    Bytes must be UTF-8 (a byte-order mark is accepted). The problem codes are
    ``unsupported-format`` (XML or other non-JSON markup) and ``invalid-json``.
    """
    if isinstance(data, bytes):
        try:
            text = data.decode("utf-8-sig")
        except UnicodeDecodeError:
            raise JSONInputError(
                Problem(DOCUMENT, "invalid-json", "the body is not UTF-8 text")
            ) from None
    else:
        text = data.removeprefix("\ufeff")
    if text.lstrip().startswith("<"):
        raise JSONInputError(
            Problem(
                DOCUMENT,
                "unsupported-format",
                "only FHIR JSON is accepted; XML is not parsed (no DTDs or entities)",
            )
        )
    try:
        return json.loads(
            text, object_pairs_hook=_object, parse_float=_finite, parse_constant=_constant
        )
    except json.JSONDecodeError as exc:
        msg = f"not valid JSON at line {exc.lineno}, column {exc.colno}: {exc.msg}"
    except _DuplicateKeyError as exc:
        msg = f"property {str(exc)[:60]!r} appears twice in one object"
    except RecursionError:
        msg = "the JSON is nested too deeply"
    except ValueError as exc:  # non-finite or over-long numbers
        msg = f"not valid FHIR JSON: {str(exc)[:80]}"
    raise JSONInputError(Problem(DOCUMENT, "invalid-json", msg))


def dumps(resource: Mapping[str, JSONValue], *, indent: int | None = None) -> str:
    """Serialise a resource as FHIR JSON text (UTF-8 safe, no NaN)."""
    return json.dumps(resource, ensure_ascii=False, allow_nan=False, indent=indent)


def canonical_text(resource: Mapping[str, object]) -> str:
    """A stable text of ``resource`` (sorted keys, no whitespace) for hashing.

    Never fails: values JSON cannot hold (from a caller's own object) are hashed as text.
    """
    return json.dumps(
        resource, ensure_ascii=False, sort_keys=True, separators=(",", ":"), default=repr
    )
