"""Time-based one-time passwords (RFC 6238 TOTP over RFC 4226 HOTP), standard library only.

The second factor of staff sign-in (reliability-security.md AN-05; OWASP ASVS
6.5.1-6.5.5 and 6.3.2): HMAC-SHA1, 30-second steps, 6 digits — what every
authenticator app (Aegis, FreeOTP, Google/Microsoft Authenticator, 1Password)
reads from an ``otpauth://`` URI. A code is accepted for the current step and
one step either side (clock drift of up to 30 s), and only for a step *later*
than the last step the user signed in with, so an accepted code cannot be
replayed, and neither can an older one of the same window.

Secrets are 160 random bits (RFC 4226 §4 recommends 160) from `secrets`,
shown as base32 (RFC 4648, no padding) for manual entry. Recovery codes are 10
single-use codes of 60 random bits each, kept only as SHA-256 hashes (enough for
random values of this entropy; a password hash would add nothing but time).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import struct
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any
from urllib.parse import quote, urlencode

STEP_SECONDS = 30
DIGITS = 6
#: steps either side of the current one that are accepted (clock drift)
DRIFT_STEPS = 1
SECRET_BYTES = 20
RECOVERY_CODES = 10
RECOVERY_CODE_BYTES = 8  # 64 bits drawn; 12 base32 characters (60 bits) kept

Digest = Any  # a hashlib constructor (sha1, sha256, sha512)


def new_secret() -> str:
    """A new shared secret: 160 random bits as base32 text (32 characters, no padding)."""
    return base64.b32encode(secrets.token_bytes(SECRET_BYTES)).decode("ascii").rstrip("=")


def secret_bytes(secret: str) -> bytes:
    """The key of a base32 secret (spaces, case and missing padding tolerated)."""
    text = "".join(secret.split()).upper()
    return base64.b32decode(text + "=" * (-len(text) % 8))


def hotp(key: bytes, counter: int, *, digits: int = DIGITS, digest: Digest = hashlib.sha1) -> str:
    """RFC 4226 §5.3: HMAC the 8-byte counter, dynamic truncation, ``digits`` decimal digits."""
    mac = hmac.new(key, struct.pack(">Q", counter), digest).digest()
    offset = mac[-1] & 0x0F
    binary = struct.unpack(">I", mac[offset : offset + 4])[0] & 0x7FFFFFFF
    return str(binary % 10**digits).zfill(digits)


def step_at(at: datetime | float) -> int:
    """The time step (RFC 6238 ``T``) of an instant: Unix seconds // 30."""
    seconds = at.timestamp() if isinstance(at, datetime) else at
    return int(seconds // STEP_SECONDS)


def totp(
    key: bytes, at: datetime | float, *, digits: int = DIGITS, digest: Digest = hashlib.sha1
) -> str:
    """The code for instant ``at`` (RFC 6238 §4.2)."""
    return hotp(key, step_at(at), digits=digits, digest=digest)


def matching_step(
    key: bytes, code: str, at: datetime | float, *, after_step: int | None = None
) -> int | None:
    """The step whose code ``code`` is — current or ±`DRIFT_STEPS` — if later than
    ``after_step`` (the last step used); None otherwise (wrong, too old, or replayed).

    Every candidate is compared in constant time; a code that is not exactly
    `DIGITS` ASCII digits matches nothing.
    """
    code = code.strip().replace(" ", "")
    if len(code) != DIGITS or not code.isascii() or not code.isdigit():
        return None
    now = step_at(at)
    found: int | None = None
    for step in range(now - DRIFT_STEPS, now + DRIFT_STEPS + 1):
        if hmac.compare_digest(hotp(key, step).encode(), code.encode()) and (
            after_step is None or step > after_step
        ):
            found = step if found is None else found
    return found


def provisioning_uri(secret: str, account: str, issuer: str) -> str:
    """The ``otpauth://totp/`` URI authenticator apps read (Key Uri Format)."""
    label = quote(f"{issuer}:{account}", safe="@:")
    query = urlencode(
        {
            "secret": secret,
            "issuer": issuer,
            "algorithm": "SHA1",
            "digits": DIGITS,
            "period": STEP_SECONDS,
        },
        quote_via=quote,
    )
    return f"otpauth://totp/{label}?{query}"


def grouped(secret: str) -> str:
    """The secret in groups of four characters, easier to type."""
    return " ".join(secret[i : i + 4] for i in range(0, len(secret), 4))


# ------------------------------------------------------------------ recovery codes


def new_recovery_codes(n: int = RECOVERY_CODES) -> list[str]:
    """``n`` single-use codes, e.g. ``"k7qm-2xdp-w9ha"`` (12 base32 characters, 60 bits)."""
    out = []
    for _ in range(n):
        raw = base64.b32encode(secrets.token_bytes(RECOVERY_CODE_BYTES)).decode("ascii")
        text = raw[:12].lower()
        out.append(f"{text[:4]}-{text[4:8]}-{text[8:]}")
    return out


def normalise_recovery_code(code: str) -> str:
    return "".join(ch for ch in code.casefold() if ch.isalnum())


def recovery_hash(code: str) -> str:
    return hashlib.sha256(b"twostep-recovery:" + normalise_recovery_code(code).encode()).hexdigest()


def looks_like_recovery_code(code: str) -> bool:
    return len(normalise_recovery_code(code)) == 12


def match_recovery(code: str, hashes: Sequence[str]) -> str | None:
    """The stored hash ``code`` matches (compared in constant time), or None."""
    wanted = recovery_hash(code)
    found = None
    for h in hashes:
        if hmac.compare_digest(h, wanted):
            found = h
    return found


def hashes_of(codes: Iterable[str]) -> tuple[str, ...]:
    return tuple(recovery_hash(c) for c in codes)
