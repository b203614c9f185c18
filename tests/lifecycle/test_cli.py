"""`govmail admin …` against a running `govmail lifecycle` process, and that process's start and clean stop."""

from __future__ import annotations

import json
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from services.common import ready
from services.common.directory import account_key
from services.lifecycle.passwords import policy_violations, verify_password
from services.platform import infra
from tests.conftest import govmail_command


@pytest.fixture
def lifecycle(platform_env: dict[str, str], redis_client) -> Iterator[subprocess.Popen]:
    run_dir = Path(platform_env["GOVMAIL_DATA_DIR"]) / "run"
    log = (Path(platform_env["GOVMAIL_DATA_DIR"]).parent / "lifecycle.log").open("wb")
    proc = subprocess.Popen(
        govmail_command("lifecycle"), env=platform_env, stdout=log, stderr=subprocess.STDOUT
    )
    try:
        deadline = time.monotonic() + 30
        while not ready.is_ready(run_dir, "lifecycle", proc.pid):
            assert proc.poll() is None, f"lifecycle exited with {proc.returncode}"
            assert time.monotonic() < deadline, "lifecycle did not become ready"
            time.sleep(0.05)
        yield proc
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        log.close()


def admin(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        govmail_command("admin", *args), env=env, capture_output=True, timeout=60, encoding="utf-8"
    )


def test_an_administrator_sets_up_a_domain_unit_and_mailboxes(lifecycle, platform_env, redis_client) -> None:
    domain = "tiengiang.gov.vn"
    added = admin(platform_env, "domain", "add", domain)
    assert added.returncode == 0, added.stderr
    assert added.stdout == f"domain added: {domain} (scheme tiengiang)\n"

    again = admin(platform_env, "domain", "add", domain)
    assert again.returncode == 1 and again.stdout == ""
    assert "Already exists (409)" in again.stderr and domain in again.stderr

    unit = admin(
        platform_env,
        "unit",
        "add",
        "--domain",
        domain,
        "--code",
        "stttt",
        "--name",
        "Sở Thông tin và Truyền thông",
        "--kind",
        "department",
    )
    assert unit.returncode == 0, unit.stderr
    assert unit.stdout == f"unit added: stttt (Sở Thông tin và Truyền thông) in {domain}\n"
    listed = admin(platform_env, "unit", "list", "--domain", domain)
    assert listed.stdout == "stttt\tdepartment\t-\tSở Thông tin và Truyền thông\n"

    created = admin(
        platform_env,
        "account",
        "create",
        "--domain",
        domain,
        "--name",
        "Lê Minh Hiếu",
        "--unit",
        "stttt",
        "--birth-year",
        "1977",
        "--class",
        "basic",
        "--admin",
        "Trần Quốc Hùng",
    )
    assert created.returncode == 0, created.stderr
    address_line, password_line = created.stdout.splitlines()
    assert address_line == f"address: leminhhieu@{domain}"
    password = password_line.removeprefix("password: ")
    assert policy_violations(password) == []
    assert verify_password(password, redis_client.hget(account_key(f"leminhhieu@{domain}"), "password_hash"))

    shown = admin(platform_env, "account", "show", f"leminhhieu@{domain}")
    assert shown.returncode == 0, shown.stderr
    assert "name: Lê Minh Hiếu\n" in shown.stdout and "service_class: basic\n" in shown.stdout
    assert "password_hash" not in shown.stdout and password not in shown.stdout
    assert not any(line.startswith(("password:", "password_hash")) for line in shown.stdout.splitlines())

    box = admin(
        platform_env, "account", "create", "--domain", domain, "--unit", "stttt", "--unit-mailbox", "--json"
    )
    assert box.returncode == 0, box.stderr
    data = json.loads(box.stdout)
    assert data["address"] == f"stttt@{domain}" and data["account"]["kind"] == "unit"
    assert (
        json.loads(admin(platform_env, "account", "show", f"stttt@{domain}", "--json").stdout)["kind"]
        == "unit"
    )
    assert json.loads(admin(platform_env, "domain", "list", "--json").stdout)[0]["name"] == domain


def test_refusals_exit_non_zero_with_the_reason(lifecycle, platform_env) -> None:
    missing = admin(platform_env, "account", "show", "khongco@tiengiang.gov.vn")
    assert missing.returncode == 1 and "Not found (404)" in missing.stderr
    unknown = admin(
        platform_env, "account", "create", "--domain", "khongco.gov.vn", "--name", "Nguyễn Văn Anh"
    )
    assert unknown.returncode == 1 and "khongco.gov.vn does not exist" in unknown.stderr
    no_name = admin(platform_env, "account", "create", "--domain", "khongco.gov.vn")
    assert no_name.returncode == 1 and "--name is required" in no_name.stderr
    usage = admin(platform_env, "account", "create", "--name", "Nguyễn Văn Anh")
    assert usage.returncode == 2 and "--domain" in usage.stderr


def test_an_unreachable_platform_is_reported(platform_env) -> None:
    result = admin(platform_env, "domain", "list", "--url", f"http://127.0.0.1:{infra.free_port()}")
    assert result.returncode == 1 and "cannot reach the admin API" in result.stderr


def test_lifecycle_stops_cleanly_on_sigterm(lifecycle, platform_env) -> None:
    lifecycle.send_signal(signal.SIGTERM)
    assert lifecycle.wait(timeout=30) == 0
    assert not ready.marker(Path(platform_env["GOVMAIL_DATA_DIR"]) / "run", "lifecycle").exists()


def test_a_grant_on_a_mailbox_whose_class_lacks_delegation_is_refused(lifecycle, platform_env) -> None:
    domain = "tiengiang.gov.vn"
    assert admin(platform_env, "domain", "add", domain).returncode == 0
    # No delegation in this class; leaving --features out would have kept every feature.
    features = "external,recall,burn,separate,imap,pop3,webmail,smtp"
    made = admin(platform_env, "class", "set", "riengtu", "--quota", "500MB", "--max-message", "50MB",
                 "--features", features)
    assert made.returncode == 0, made.stderr
    owner = admin(platform_env, "account", "create", "--domain", domain, "--name", "Vương Thị Hồng", "--class", "riengtu")
    delegate = admin(platform_env, "account", "create", "--domain", domain, "--name", "Lý Văn Phúc")
    assert owner.returncode == delegate.returncode == 0, owner.stderr + delegate.stderr
    refused = admin(platform_env, "grant", "add", f"vuongthihong@{domain}", f"lyvanphuc@{domain}",
                    "--rights", "send_as")
    assert refused.returncode == 1 and refused.stdout == ""
    assert refused.stderr == (f"govmail admin: Feature not allowed (403): the service class riengtu of "
                              f"vuongthihong@{domain} does not include delegation\n")
