"""Passwords: the R11 policy, one-time initial passwords, and argon2 hashes (older scrypt hashes still verify)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import string
from dataclasses import dataclass

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

SPECIALS = "!@#%&*"
MIN_LENGTH = 8

# Characters easy to misread when an administrator reads the one-time password aloud are left out.
_UPPER = "".join(c for c in string.ascii_uppercase if c not in "IO")
_LOWER = "".join(c for c in string.ascii_lowercase if c not in "lo")
_DIGITS = "23456789"

# argon2id with OWASP's recommended minimum (19 MiB, 2 passes): about 30 ms here, so SMTP AUTH stays quick.
_HASHER = PasswordHasher(time_cost=2, memory_cost=19 * 1024, parallelism=1)
_SCRYPT = "scrypt"


@dataclass(frozen=True)
class PasswordPolicy:
    """R11, configurable per platform (LIFECYCLE_PASSWORD_*)."""

    min_length: int = MIN_LENGTH
    specials: str = SPECIALS
    history: int = 5  # how many previous passwords may not be used again
    max_age_days: int = 0  # 0: no periodic change

    def violations(self, password: str) -> list[str]:
        """What a password lacks (empty when it complies)."""
        missing = []
        if len(password) < self.min_length:
            missing.append(f"at least {self.min_length} characters")
        if not any(c.isupper() for c in password):
            missing.append("an upper-case letter")
        if not any(c.islower() for c in password):
            missing.append("a lower-case letter")
        if not any(c.isdigit() for c in password):
            missing.append("a digit")
        if self.specials and not any(c in self.specials for c in password):
            missing.append(f"one of {self.specials}")
        return missing


DEFAULT_POLICY = PasswordPolicy()


def policy_violations(password: str) -> list[str]:
    """What a password lacks under the default R11 policy (empty when it complies)."""
    return DEFAULT_POLICY.violations(password)


def generate_password(length: int = 12, specials: str = SPECIALS) -> str:
    """A random password that satisfies R11, drawn from the operating system's CSPRNG."""
    if length < MIN_LENGTH:
        raise ValueError(f"initial passwords have at least {MIN_LENGTH} characters")
    groups = [_UPPER, _LOWER, _DIGITS] + ([specials] if specials else [])
    alphabet = "".join(groups)
    chars = [secrets.choice(group) for group in groups]
    chars += [secrets.choice(alphabet) for _ in range(length - len(chars))]
    secrets.SystemRandom().shuffle(chars)
    return "".join(chars)


def hash_password(password: str) -> str:
    """An argon2id hash in the PHC string form (`$argon2id$v=19$m=…`), with a fresh salt."""
    return _HASHER.hash(password)


def verify_password(password: str, stored: str) -> bool:
    """True when `password` matches an argon2 hash or a scrypt hash of the first release; False otherwise."""
    if stored.startswith(_SCRYPT + "$"):
        return _verify_scrypt(password, stored)
    try:
        return _HASHER.verify(stored, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def needs_rehash(stored: str) -> bool:
    """True for a hash that should be replaced after the next successful login (scrypt, or weaker argon2)."""
    if stored.startswith(_SCRYPT + "$"):
        return True
    try:
        return _HASHER.check_needs_rehash(stored)
    except InvalidHashError:
        return True


def _verify_scrypt(password: str, stored: str) -> bool:
    """`scrypt$N$r$p$salt$hash` (base64), the format of govmail's first release."""
    try:
        _, n, r, p, salt, expected = stored.split("$")
        actual = hashlib.scrypt(
            password.encode("utf-8"), salt=base64.b64decode(salt), n=int(n), r=int(r), p=int(p),
            maxmem=64 * 1024**2, dklen=32,
        )
        return hmac.compare_digest(actual, base64.b64decode(expected))
    except ValueError:
        return False
