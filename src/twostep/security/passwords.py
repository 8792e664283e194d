"""Passwords: the policy they must meet, and Argon2id hashes of them.

Policy (OWASP ASVS 5.0 V6.2; NIST SP 800-63B): at least 12 characters and at
most 256, checked exactly as typed (no trimming, no truncation; Unicode is
normalised to NFC first so that the same password typed on two keyboards
matches); no composition rules (no "one digit, one symbol"); not one of the
30,000 most common passwords (the frequency list of the zxcvbn package, MIT
licence) and not the user's own e-mail address or name. No forced rotation.

Storage: Argon2id (argon2-cffi) with its default, current parameters
(``time_cost=3, memory_cost=64 MiB, parallelism=4``); `needs_rehash` tells when
a stored hash used weaker parameters so that login can upgrade it.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from functools import cache

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from twostep.errors import Problem, ValidationError

MIN_LENGTH = 12
MAX_LENGTH = 256


@cache
def _common() -> frozenset[str]:
    from zxcvbn.frequency_lists import FREQUENCY_LISTS

    return frozenset(p.casefold() for p in FREQUENCY_LISTS["passwords"])


def normalise(password: str) -> str:
    """NFC, so that "é" typed as one or two code points is the same password."""
    return unicodedata.normalize("NFC", password)


def check_policy(password: str, *, email: str = "", name: str = "") -> None:
    """Raise `ValidationError` (field ``password``) when the password breaks the policy."""
    pw = normalise(password)
    problems: list[Problem] = []
    if len(pw) < MIN_LENGTH:
        problems.append(
            Problem(
                "password",
                "too_short",
                f"use at least {MIN_LENGTH} characters (a short sentence works well)",
            )
        )
    if len(pw) > MAX_LENGTH:
        problems.append(Problem("password", "too_long", f"use at most {MAX_LENGTH} characters"))
    folded = pw.casefold()
    if folded in _common() or folded.strip() in _common():
        problems.append(
            Problem("password", "too_common", "this password is too common; choose another")
        )
    own = {s.strip().casefold() for s in (email, email.split("@")[0], name) if s.strip()}
    if folded in own:
        problems.append(Problem("password", "personal", "do not use your e-mail address or name"))
    if problems:
        raise ValidationError(problems, context="password")


@dataclass(frozen=True)
class Hasher:
    """Argon2id hashing; tests may use cheaper parameters (never in production)."""

    time_cost: int = 3
    memory_cost: int = 65536  # KiB
    parallelism: int = 4

    def _ph(self) -> PasswordHasher:
        return PasswordHasher(
            time_cost=self.time_cost, memory_cost=self.memory_cost, parallelism=self.parallelism
        )

    def hash(self, password: str) -> str:
        return self._ph().hash(normalise(password))

    def verify(self, stored: str | None, password: str) -> bool:
        """True when ``password`` matches ``stored``; False for no hash or a mismatch."""
        if not stored:
            return False
        try:
            return bool(self._ph().verify(stored, normalise(password)))
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            return False

    def needs_rehash(self, stored: str) -> bool:
        return bool(self._ph().check_needs_rehash(stored))


#: A hash of a random password, verified against when an account does not exist, so that
#: login takes the same time for known and unknown addresses (no user enumeration).
def dummy_hash(hasher: Hasher) -> str:
    return _dummy(hasher)


@cache
def _dummy(hasher: Hasher) -> str:
    import secrets

    return hasher.hash(secrets.token_urlsafe(24))
