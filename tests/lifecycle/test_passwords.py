"""Initial passwords satisfy R11, and the scrypt hashes kept in Redis verify only the right password."""

from __future__ import annotations

import pytest

from services.lifecycle.passwords import (
    SPECIALS,
    generate_password,
    hash_password,
    policy_violations,
    verify_password,
)


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
    assert stored.startswith("scrypt$")
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
