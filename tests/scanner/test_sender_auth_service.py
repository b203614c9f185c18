"""The scanner process wires sender authentication and phishing: its DNS resolver, Redis domains and list file."""

from __future__ import annotations

from pathlib import Path

from schemas.registry import RECEIVED
from services.common.directory import DOMAINS
from services.scanner.phishing.hashlist import ListFile
from tests.scanner.scanner_mail import received_event
from tests.scanner.test_scanner_service import BACKLOG_TOLERANT, running_scanner, verdicts

SAMPLES = Path(__file__).with_name("samples_auth")


async def test_scanner_process_authenticates_mx_mail_and_reads_the_list(infra_parts, platform_env, redis_client,
                                                                        local_dns, tmp_path: Path) -> None:
    redis_client.sadd(DOMAINS, "tiengiang.gov.vn")
    local_dns.add("tiengiang.gov.vn", "TXT", '"v=spf1 ip4:192.0.2.0/24 -all"')
    local_dns.add("thue-hotro.example.net", "TXT", '"v=spf1 ip4:192.0.2.200 -all"')
    list_path = tmp_path / "phishing.list"
    ListFile(list_path).add(["dangnhap-thue.example.com/xac-thuc/"])
    env = {**platform_env, **BACKLOG_TOLERANT, "GOVMAIL_DNS_RESOLVER": local_dns.resolver_address,
           "SCANNER_PHISHING_LIST": str(list_path)}
    async with running_scanner(infra_parts.bootstrap, env, tmp_path) as scanner:
        events = {}
        for name, client_ip, mail_from in (
            ("forged-local.eml", "203.0.113.66", "vanphong@tiengiang.gov.vn"),
            ("phishing-listed.eml", "192.0.2.200", "hotro@thue-hotro.example.net"),
        ):
            event = received_event(scanner.store, (SAMPLES / name).read_bytes())
            mail = event.mail.model_copy(update={"client_ip": client_ip, "mail_from": mail_from,
                                                 "sender_domain": mail_from.rpartition("@")[2]})
            events[name] = event.model_copy(update={"mail": mail})
            await scanner.publisher.publish(RECEIVED, events[name])
        got = await verdicts(infra_parts.bootstrap, [e.message_id for e in events.values()])

    forged = got[events["forged-local.eml"].message_id].verdict
    listed = got[events["phishing-listed.eml"].message_id].verdict
    assert {s.name for s in forged.symbols} >= {"AUTH_SPF_FAIL", "AUTH_LOCAL_DOMAIN_FORGED"}
    assert forged.action == "reject"
    assert {s.name for s in listed.symbols} >= {"AUTH_SPF_PASS", "PHISHING_URL_LISTED"}
    assert listed.action == "quarantine"
