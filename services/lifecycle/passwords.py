"""Passwords: the R11 policy, one-time initial passwords, and scrypt hashes kept in the account record."""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import string

SPECIALS = "!@#%&*"
MIN_LENGTH = 8

# Characters easy to misread when an administrator reads the one-time password aloud are left out.
_UPPER = "".join(c for c in string.ascii_uppercase if c not in "IO")
_LOWER = "".join(c for c in string.ascii_lowercase if c not in "lo")
_DIGITS = "23456789"
_ALPHABET = _UPPER + _LOWER + _DIGITS + SPECIALS

# scrypt cost: 16 MiB and about 50 ms per hash; stored with the hash so it can be raised later.
_N, _R, _P = 2**14, 8, 1
_SCHEME = "scrypt"


def policy_violations(password: str) -> list[str]:
    """What a password lacks under R11 (empty when it complies)."""
    missing = []
    if len(password) < MIN_LENGTH:
        missing.append(f"at least {MIN_LENGTH} characters")
    if not any(c.isupper() for c in password):
        missing.append("an upper-case letter")
    if not any(c.islower() for c in password):
        missing.append("a lower-case letter")
    if not any(c.isdigit() for c in password):
        missing.append("a digit")
    if not any(c in SPECIALS for c in password):
        missing.append(f"one of {SPECIALS}")
    return missing


def generate_password(length: int = 12) -> str:
    """A random password that satisfies R11, drawn from the operating system's CSPRNG."""
    if length < MIN_LENGTH:
        raise ValueError(f"initial passwords have at least {MIN_LENGTH} characters")
    chars = [secrets.choice(group) for group in (_UPPER, _LOWER, _DIGITS, SPECIALS)]
    chars += [secrets.choice(_ALPHABET) for _ in range(length - len(chars))]
    secrets.SystemRandom().shuffle(chars)
    return "".join(chars)


def _b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode("ascii")


def _derive(password: str, salt: bytes, n: int, r: int, p: int) -> bytes:
    return hashlib.scrypt(password.encode("utf-8"), salt=salt, n=n, r=r, p=p, maxmem=64 * 1024**2, dklen=32)


def hash_password(password: str) -> str:
    """`scrypt$N$r$p$salt$hash` (base64), with a fresh 16-byte salt."""
    salt = secrets.token_bytes(16)
    return f"{_SCHEME}${_N}${_R}${_P}${_b64(salt)}${_b64(_derive(password, salt, _N, _R, _P))}"


def verify_password(password: str, stored: str) -> bool:
    """True when `password` matches a hash made by hash_password; False for any other hash or a malformed one."""
    try:
        scheme, n, r, p, salt, expected = stored.split("$")
        if scheme != _SCHEME:
            return False
        actual = _derive(password, base64.b64decode(salt), int(n), int(r), int(p))
        return hmac.compare_digest(actual, base64.b64decode(expected))
    except ValueError:
        return False
