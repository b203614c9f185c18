"""The Jobs and CronJobs run commands that work: the migrations Job migrates a real ClickHouse engine (chDB)."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from tests.k8s.conftest import OVERLAYS, ROOT, one


def test_migrations_job_applies_the_analytics_schema_once(rendered, tmp_path):
    job = one(rendered["province"], "Job", "analytics-migrations")
    (container,) = job["spec"]["template"]["spec"]["containers"]
    assert "command" not in container and container["args"] == ["analytics", "migrate"]  # the image's govmail
    env = {e["name"]: e.get("value") for e in container["env"]}
    assert env["GOVMAIL_CLICKHOUSE_DSN"].startswith("http://govmail:$(CLICKHOUSE_PASSWORD)@clickhouse-govmail:8123/")
    # The same program, pointed at chDB (the ClickHouse engine in process) instead of the server.
    run_env = {**os.environ, "GOVMAIL_CLICKHOUSE_DSN": f"chdb://{tmp_path / 'clickhouse'}", "GOVMAIL_DATA_DIR": str(tmp_path)}

    def run() -> str:
        result = subprocess.run([sys.executable, "-m", "services.cli", *container["args"]], cwd=ROOT, env=run_env,
                                capture_output=True, text=True, timeout=180)
        assert result.returncode == 0, result.stderr
        return result.stdout

    first = run()
    assert first.startswith("applied: 001_")
    assert run().strip() == "applied: nothing, the schema is up to date"


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_backups_run_nightly_one_at_a_time_and_keep_a_bounded_history(rendered, overlay):
    for name, source in (("backup-redis", "--rdb"), ("backup-maildir", "tar --create")):
        cron = one(rendered[overlay], "CronJob", name)
        assert cron["spec"]["concurrencyPolicy"] == "Forbid"
        assert cron["spec"]["timeZone"] == "Asia/Ho_Chi_Minh"
        (container,) = cron["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"]
        script = container["args"][0]
        env = {e["name"]: e.get("value") for e in container["env"]}
        assert int(env["BACKUP_RETENTION_DAYS"]) >= 7
        assert source in script
        # Old archives go, and a half-written archive is never mistaken for a finished one.
        assert '-mtime "+$BACKUP_RETENTION_DAYS"' in script and "-delete" in script
        assert "mv " in script
    redis_host = one(rendered[overlay], "CronJob", "backup-redis")["spec"]["jobTemplate"]["spec"]["template"]["spec"][
        "containers"][0]["env"][0]
    replicas = one(rendered[overlay], "StatefulSet", "redis")["spec"]["replicas"]
    # Back up from the replica when there is one, so the primary's latency does not move.
    assert redis_host == {"name": "BACKUP_REDIS_HOST",
                          "value": "redis-1.redis-headless" if replicas > 1 else "redis-0.redis-headless"}


def test_redis_keeps_an_append_only_file_synced_on_every_write_and_a_replica(rendered):
    redis = one(rendered["province"], "StatefulSet", "redis")
    script = redis["spec"]["template"]["spec"]["containers"][0]["args"][0]
    assert "--appendonly yes" in script and "--appendfsync always" in script
    assert "--replicaof redis-0.redis-headless 6379" in script
    assert redis["spec"]["replicas"] == 2
    service = one(rendered["province"], "Service", "redis")
    assert service["spec"]["selector"]["statefulset.kubernetes.io/pod-name"] == "redis-0"


def test_the_nightly_archive_covers_every_durable_folder_the_services_write(rendered):
    resources = rendered["province"]
    written = set()
    for deployment in (r for r in resources if r["kind"] == "Deployment"):
        pod = deployment["spec"]["template"]["spec"]
        claims = {v["name"]: v["persistentVolumeClaim"]["claimName"] for v in pod["volumes"] if "persistentVolumeClaim" in v}
        for mount in pod["containers"][0]["volumeMounts"]:
            if mount["name"] in claims and not mount.get("readOnly"):
                written.add(mount["mountPath"].removeprefix("/var/lib/govmail/"))
    script = one(resources, "CronJob", "backup-maildir")["spec"]["jobTemplate"]["spec"]["template"]["spec"][
        "containers"][0]["args"][0]
    archived = set(script.split("-C /var/lib/govmail ")[1].split("\\")[0].split())
    # Blobs are left out on purpose (large, and only needed until delivery: docs/operations.md).
    assert written - {"blobs"} == archived
