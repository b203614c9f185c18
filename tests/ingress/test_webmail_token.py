"""Submission accepts a webmail session's token as the password of that session's user, and nothing else."""

from __future__ import annotations

from services.ingress.auth import submit_token_key
from tests.ingress.test_submission import OTHER, auth_plain, ingress, sender, submission  # noqa: F401

TOKEN = "wmtok.Zx8Jq3-test-token-of-a-webmail-session"


def test_the_token_authenticates_its_own_user(ingress, sender, redis_client):  # noqa: F811
    redis_client.set(submit_token_key(TOKEN), sender, ex=60)
    with submission(ingress) as smtp:
        assert auth_plain(smtp, sender, TOKEN)[0] == 235


def test_the_token_does_not_work_for_another_user_nor_once_expired(ingress, sender, redis_client):  # noqa: F811
    redis_client.set(submit_token_key(TOKEN), sender, ex=60)
    with submission(ingress) as smtp:
        assert auth_plain(smtp, OTHER, TOKEN)[0] == 535
    redis_client.delete(submit_token_key(TOKEN))
    with submission(ingress) as smtp:
        assert auth_plain(smtp, sender, TOKEN)[0] == 535
    # Both refusals were counted like wrong passwords: the brute-force guard sees token guessing too.
    assert int(redis_client.zcard("gm:authfail:ip:127.0.0.1")) == 2


def test_a_locked_account_cannot_use_its_token(ingress, sender, redis_client):  # noqa: F811
    redis_client.set(submit_token_key(TOKEN), sender, ex=60)
    redis_client.hset(f"gm:account:{sender}", "status", "locked")
    with submission(ingress) as smtp:
        assert auth_plain(smtp, sender, TOKEN)[0] == 535
