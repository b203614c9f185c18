"""Initial passwords satisfy R11; argon2 hashes (and the first release's scrypt ones) verify only the right password."""

from __future__ import annotations

import base64
import hashlib

import pytest

from services.lifecycle.passwords import (
    SPECIALS,
    PasswordPolicy,
    generate_password,
    hash_password,
    needs_rehash,
    policy_violations,
    verify_password,
)


def scrypt_hash(password: str, salt: bytes = b"0123456789abcdef") -> str:
    """A hash in the first release's format, made here independently of the module under test."""
    derived = hashlib.scrypt(password.encode(), salt=salt, n=2**14, r=8, p=1, maxmem=64 * 1024**2, dklen=32)
    return f"scrypt$16384$8$1${base64.b64encode(salt).decode()}${base64.b64encode(derived).decode()}"


def test_generated_passwords_always_satisfy_the_policy() -> None:
    passwords = [generate_password() for _ in range(500)]
    assert all(policy_violations(pw) == [] for pw in passwords)
    assert all(any(c in SPECIALS for c in pw) for pw in passwords)
    assert len(set(passwords)) == len(passwords)


def test_shortest_allowed_password_still_has_every_class() -> None:
    assert all(policy_violations(generate_password(8)) == [] for _ in range(200))
    with pytest.raises(ValueError):
        generate_password(7)


@pytest.mark.parametrize(
    ("password", "missing"),
    [
        ("MatKhau@789", []),
        ("MatKhau$789", ["one of !@#%&*"]),
        ("Mk@7", ["at least 8 characters"]),
        ("matkhau@789", ["an upper-case letter"]),
        ("MATKHAU@789", ["a lower-case letter"]),
        ("MatKhau@abc", ["a digit"]),
        ("Mậtkhẩu#2024", []),
    ],
)
def test_policy_names_what_is_missing(password: str, missing: list[str]) -> None:
    assert policy_violations(password) == missing


def test_hash_verifies_the_right_password_only() -> None:
    stored = hash_password("Mậtkhẩu#2024")
    assert stored.startswith("$argon2id$")
    assert not needs_rehash(stored)
    assert "Mậtkhẩu" not in stored
    assert verify_password("Mậtkhẩu#2024", stored)
    assert not verify_password("Matkhau#2024", stored)
    assert not verify_password("", stored)


def test_same_password_hashes_differently_each_time() -> None:
    assert hash_password("MatKhau@789") != hash_password("MatKhau@789")


@pytest.mark.parametrize(
    "stored", ["", "plain", "scrypt$1$2$3$!!$??", "argon2$x$y$z$a$b", "scrypt$16384$8$1$AAAA"]
)
def test_malformed_hashes_never_verify(stored: str) -> None:
    assert not verify_password("MatKhau@789", stored)


def test_first_release_scrypt_hashes_still_verify_and_ask_for_a_rehash() -> None:
    stored = scrypt_hash("Mậtkhẩu#2024")
    assert verify_password("Mậtkhẩu#2024", stored)
    assert not verify_password("Mậtkhẩu#2025", stored)
    assert needs_rehash(stored)


def test_the_policy_is_configurable() -> None:
    strict = PasswordPolicy(min_length=12, specials="$")
    assert strict.violations("MatKhau$789") == ["at least 12 characters"]
    assert strict.violations("MatKhau@7890") == ["one of $"]
    assert PasswordPolicy(specials="").violations("MatKhau789") == []
    assert all(c.isalnum() for c in generate_password(16, specials=""))
