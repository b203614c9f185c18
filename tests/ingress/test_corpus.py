"""Every message of the SpamAssassin groups we may use passes through SMTP unrefused and is stored unchanged."""

from __future__ import annotations

import asyncio
import smtplib
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from services.common.bus import ensure_topics
from services.common.directory import DOMAINS, Account, account_key
from services.common.spool import Spool
from services.platform import infra
from services.scanner import corpus
from tests.ingress.test_smtp import start_ingress

RCPT = "hopthu@tiengiang.gov.vn"


def test_the_allowed_corpus_groups_pass_through_smtp_without_a_refusal(platform_env, redis_client, tmp_path) -> None:
    messages = [(f"{group}/{name}", raw) for group in corpus.ALLOWED_GROUPS for name, raw in corpus.messages(group)]
    assert len(messages) == 3000
    assert sum(max(len(line) for line in raw.split(b"\r\n")) > 1000 for _, raw in messages) >= 9
    redis_client.sadd(DOMAINS, "tiengiang.gov.vn")
    account = Account(address=RCPT, domain="tiengiang.gov.vn", localpart="hopthu", name="Hộp thư thử nghiệm")
    redis_client.hset(account_key(RCPT), mapping=account.to_redis())
    # A broker of its own: 3,000 events would otherwise crowd the session's shared topics.
    port = infra.free_port()
    broker = infra.start_broker(port, tmp_path / "tansu.log")
    env = dict(platform_env, GOVMAIL_KAFKA_BOOTSTRAP=f"127.0.0.1:{port}",
               INGRESS_MAX_MESSAGES_PER_MINUTE="1000000", INGRESS_MAX_CONNECTIONS_PER_MINUTE="1000000")
    asyncio.run(ensure_topics(env["GOVMAIL_KAFKA_BOOTSTRAP"]))
    proc = start_ingress(env)
    refused: list[tuple[str, str]] = []
    queued: dict[str, bytes] = {}

    def send(share: list[tuple[str, bytes]]) -> None:
        with smtplib.SMTP("127.0.0.1", int(env["GOVMAIL_SMTP_PORT"]), timeout=60) as smtp:
            smtp.ehlo("corpus.example.org")
            for name, raw in share:
                try:
                    smtp.mail("corpus@example.org", ["BODY=8BITMIME"])
                    smtp.rcpt(RCPT)
                    code, reply = smtp.data(raw)
                except smtplib.SMTPException as exc:
                    refused.append((name, repr(exc)))
                    smtp.rset()
                    continue
                if code != 250:
                    refused.append((name, f"{code} {reply!r}"))
                else:
                    queued[reply.decode().split()[-1]] = raw

    try:
        with ThreadPoolExecutor(4) as pool:
            list(pool.map(send, [messages[i::4] for i in range(4)]))
    finally:
        proc.terminate()
        proc.wait(30)
        infra.stop(broker)
    assert refused == []
    stored = {e.message_id: e.mail.blob for e in Spool(Path(env["GOVMAIL_DATA_DIR"]) / "spool").unfinished()}
    assert set(stored) == set(queued)
    changed = [mid for mid, raw in queued.items()
               if not Path(stored[mid].uri.removeprefix("file://")).read_bytes().endswith(raw)]
    assert changed == []
