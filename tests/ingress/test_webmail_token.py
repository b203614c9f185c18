"""Submission accepts a webmail session's token as the password of that session's user, and nothing else."""

from __future__ import annotations

import uuid

from services.ingress.auth import submit_token_key
from services.lifecycle.passwords import hash_password
from tests.ingress.test_smtp import DOMAIN, add_account
from tests.ingress.test_submission import (  # noqa: F401
    OTHER,
    PASSWORD,
    add_class,
    auth_plain,
    ingress,
    letter,
    read_events,
    sender,
    submission,
)

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


def test_a_class_without_smtp_refuses_mail_clients_but_not_the_webmails_token(ingress, infra_parts,  # noqa: F811
                                                                              redis_client):
    # R12: the class "chiweb" reads and sends only in the webmail; sending there is governed by "webmail".
    add_class(redis_client, "chiweb", without=("smtp",))
    clerk = f"chuthiyen.{uuid.uuid4().hex[:8]}@{DOMAIN}"
    add_account(redis_client, clerk, "Chu Thị Yến 朱氏燕", service_class="chiweb",
                password_hash=hash_password(PASSWORD))
    with submission(ingress) as smtp:
        code, text = auth_plain(smtp, clerk, PASSWORD)
    assert (code, text) == (535, b"5.7.8 Your service class chiweb does not allow mail clients (SMTP); "
                                 b"use the webmail")
    [blocked] = read_events(infra_parts.bootstrap, "auth.events.v1",
                            lambda e: e.get("username") == clerk and e.get("outcome") == "blocked", 1)
    assert (blocked["reason"], blocked["service"]) == ("feature_not_allowed", "smtp")
    # Right password, so not a failure: the brute-force counters did not move.
    assert redis_client.zcard(f"gm:authfail:user:{clerk}") == 0
    redis_client.set(submit_token_key(TOKEN + clerk), clerk, ex=60)
    with submission(ingress) as smtp:
        assert auth_plain(smtp, clerk, TOKEN + clerk)[0] == 235
        smtp.mail(clerk)
        assert smtp.rcpt(OTHER)[0] == 250
        assert smtp.data(letter(clerk, OTHER))[0] == 250
