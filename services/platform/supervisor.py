"""`govmail up`: start broker, Redis and the five services on one machine, keep them running, stop them in order.

The supervisor restarts whatever dies. When the embedded broker dies it comes back empty, so
the supervisor recreates the topics, restarts the consumers (their group state is gone) and
republishes from the spool every message whose recipients are not all finished.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import signal
import smtplib
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from services.common import ready
from services.common.bus import KafkaPublisher, ensure_topics
from services.common.settings import PlatformSettings
from services.common.spool import Spool
from services.ingress.reconcile import republish_unfinished
from services.platform import infra

# Start order does not matter (each waits for what it needs); stop order does: ingress first so
# nothing new arrives, then the pipeline in flow order, so in-flight work can finish.
SERVICES = ("lifecycle", "analytics", "scanner", "delivery", "ingress", "webmail")
# On one machine the statistics share the cores with the mail: their batch inserts come in bursts that
# would delay the mail behind them. Analytics catches up a moment later; a message cannot wait.
NICENESS = {"analytics": 10}
STOP_ORDER = ("ingress", "scanner", "delivery", "lifecycle", "analytics", "webmail")
CONSUMERS = ("scanner", "delivery", "analytics", "webmail")


@dataclass
class Child:
    name: str
    proc: subprocess.Popen
    started_at: float = field(default_factory=time.monotonic)
    restarts: int = 0
    restart_at: float | None = None


class Supervisor:
    def __init__(self, platform: PlatformSettings, out=sys.stdout):
        self.platform = platform
        self.out = out
        self.data = platform.data
        self.logs = self.data / "logs"
        self.children: dict[str, Child] = {}
        self.broker: subprocess.Popen | None = None
        self.redis: subprocess.Popen | None = None
        self.stopping = False
        self.announced = False
        self.pids_lock = threading.Lock()  # services are restarted side by side

    def say(self, event: str, **fields: object) -> None:
        fields_text = " ".join(f"{k}={v}" for k, v in fields.items())
        print(f"govmail {event} {fields_text}".rstrip(), file=self.out, flush=True)

    def child_env(self) -> dict[str, str]:
        env = dict(os.environ)
        p = self.platform
        env.update(
            GOVMAIL_DATA_DIR=str(self.data),
            GOVMAIL_KAFKA_BOOTSTRAP=p.bootstrap,
            GOVMAIL_REDIS_URL=p.redis,
            GOVMAIL_CLICKHOUSE_DSN=p.clickhouse,
            GOVMAIL_BLOB_URI=p.blobs,
            GOVMAIL_SMTP_PORT=str(p.smtp_port),
            GOVMAIL_SUBMISSION_PORT=str(p.submission_port),
            GOVMAIL_ADMIN_PORT=str(p.admin_port),
            GOVMAIL_ANALYTICS_PORT=str(p.analytics_port),
            GOVMAIL_HEALTH_PORT_BASE=str(p.health_port_base),
            GOVMAIL_WEBMAIL_PORT=str(p.webmail_port),
            GOVMAIL_DELIVERY_PORT=str(p.delivery_port),
            PYTHONUNBUFFERED="1",
        )
        if p.host in ("127.0.0.1", "::1", "localhost"):
            # One machine, plain HTTP on loopback: a Secure cookie would never come back. In a cluster
            # the Ingress ends TLS and the cookie stays Secure (the default).
            env.setdefault("WEBMAIL_COOKIE_SECURE", "false")
        return env

    def write_pids(self) -> None:
        with self.pids_lock:
            pids = {name: c.proc.pid for name, c in self.children.items()}
            pids.update({k: p.pid for k, p in (("broker", self.broker), ("redis", self.redis)) if p is not None})
            pids["supervisor"] = os.getpid()
            path = self.platform.run_dir / "pids.json"
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_suffix(".tmp")
            tmp.write_text(json.dumps(pids, indent=2))
            os.replace(tmp, path)

    # --- infrastructure ---------------------------------------------------------------------

    def start_redis(self) -> None:
        if self.platform.redis_url:
            return  # an external Redis (cluster, tests): not ours to run
        self.redis = infra.start_redis(self.platform.redis_port, self.data / "redis", self.logs / "redis.log")

    def start_broker(self) -> None:
        if self.platform.kafka_bootstrap:
            return
        self.broker = infra.start_broker(self.platform.kafka_port, self.logs / "tansu.log")
        asyncio.run(ensure_topics(self.platform.bootstrap))

    # --- services ---------------------------------------------------------------------------

    def start_service(self, name: str, restarts: int = 0) -> None:
        ready.clear(self.platform.run_dir, name)
        proc = infra.spawn([sys.executable, "-m", "services.cli", name], self.logs / f"{name}.log", self.child_env(),
                           nice=NICENESS.get(name, 0))
        self.children[name] = Child(name, proc, restarts=restarts)
        self.write_pids()

    def stop_service(self, name: str, timeout: float = 30.0) -> None:
        child = self.children.get(name)
        if child is None:
            return
        proc = child.proc
        if proc.poll() is None:
            # A paused process cannot act on SIGTERM; wake it first.
            with contextlib.suppress(ProcessLookupError):
                os.kill(proc.pid, signal.SIGCONT)
            proc.terminate()
            try:
                proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.say("kill", service=name, reason="did not stop in time")
                proc.kill()
                proc.wait()
        ready.clear(self.platform.run_dir, name)

    def restart_service(self, name: str, reason: str) -> None:
        restarts = self.children[name].restarts + 1 if name in self.children else 0
        self.stop_service(name, timeout=15.0)
        self.say("restart", service=name, reason=reason, restarts=restarts)
        self.start_service(name, restarts)

    def all_ready(self) -> bool:
        run = self.platform.run_dir
        return all(ready.is_ready(run, n, c.proc.pid) for n, c in self.children.items()) and self.smtp_answers()

    def smtp_answers(self) -> bool:
        try:
            with smtplib.SMTP(self.platform.host, self.platform.smtp_port, timeout=2) as smtp:
                return smtp.ehlo()[0] == 250
        except (OSError, smtplib.SMTPException):
            return False

    def wait_ready(self, timeout: float = 120.0) -> None:
        deadline = time.monotonic() + timeout
        while not self.all_ready():
            self.check_children()
            if time.monotonic() > deadline:
                waiting = [n for n, c in self.children.items()
                           if not ready.is_ready(self.platform.run_dir, n, c.proc.pid)]
                raise TimeoutError(f"services not ready after {timeout}s: {waiting}")
            time.sleep(0.2)

    def republish_spool(self) -> int:
        async def run() -> int:
            publisher = KafkaPublisher(self.platform.bootstrap, "govmail-supervisor")
            await publisher.start()
            try:
                return await republish_unfinished(Spool(self.platform.spool_dir), publisher)
            finally:
                await publisher.stop()

        return asyncio.run(run())

    # --- the watch loop ---------------------------------------------------------------------

    def check_children(self) -> None:
        if self.stopping:
            return
        if self.redis is not None and self.redis.poll() is not None:
            self.say("restart", service="redis", reason=f"exited {self.redis.returncode}")
            self.start_redis()
            self.write_pids()
        if self.broker is not None and self.broker.poll() is not None:
            self.recover_broker(f"exited {self.broker.returncode}")
        now = time.monotonic()
        for name, child in list(self.children.items()):
            if child.proc.poll() is None:
                continue
            if child.restart_at is None:
                # Back off a service that keeps dying, so a crash loop does not eat the machine.
                quick = now - child.started_at < 5
                child.restart_at = now + (min(2 ** min(child.restarts, 5), 30) if quick else 0)
            if now >= child.restart_at:
                self.restart_service(name, f"exited {child.proc.returncode}")

    def recover_broker(self, reason: str) -> None:
        """The broker came back empty: topics, consumer groups and unconsumed events are gone."""
        self.say("restart", service="broker", reason=reason)
        self.start_broker()
        with ThreadPoolExecutor(len(CONSUMERS)) as pool:
            list(pool.map(lambda name: self.restart_service(name, "broker restarted"), CONSUMERS))
        self.write_pids()
        try:
            count = self.republish_spool()
            self.say("spool-republished", messages=count)
        except Exception as exc:
            self.say("spool-republish-failed", error=repr(exc))

    def up(self) -> None:
        started = time.monotonic()
        for path in (self.logs, self.platform.run_dir, self.platform.mail_root, self.platform.spool_dir):
            path.mkdir(parents=True, exist_ok=True)
        self.start_redis()
        self.start_broker()
        self.write_pids()
        for name in SERVICES:
            self.start_service(name)
        self.wait_ready()
        republished = self.republish_spool()
        p = self.platform
        self.say(
            "ready",
            smtp=f"{p.host}:{p.smtp_port}",
            admin=f"http://{p.host}:{p.admin_port}",
            analytics=f"http://{p.host}:{p.analytics_port}",
            webmail=f"http://{p.host}:{p.webmail_port}",
            data=str(self.data),
            seconds=f"{time.monotonic() - started:.1f}",
            spool_republished=republished,
        )
        self.announced = True

    def watch(self, stop: list[bool]) -> None:
        while not stop:
            self.check_children()
            time.sleep(0.5)

    def drain(self, timeout: float) -> int:
        """Give the pipeline a moment to finish what ingress accepted; what remains waits in the spool."""
        spool = Spool(self.platform.spool_dir)
        deadline = time.monotonic() + timeout
        while (left := sum(1 for _ in spool.entries())) and time.monotonic() < deadline:
            if any(self.children[n].proc.poll() is not None for n in ("scanner", "delivery") if n in self.children):
                break
            time.sleep(0.2)
        return left

    def down(self, drain: float = 10.0) -> None:
        self.stopping = True
        self.say("stopping")
        self.stop_service("ingress")
        if self.announced:
            self.say("drained", spooled=self.drain(drain))
        # The pipeline has had its chance to finish; the rest can stop side by side.
        with ThreadPoolExecutor(len(STOP_ORDER)) as pool:
            list(pool.map(self.stop_service, STOP_ORDER))
        for proc in (self.broker, self.redis):
            if proc is not None:
                infra.stop(proc)
        self.say("stopped")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="govmail up", description="Start the whole platform on this machine.")
    parser.add_argument("--data-dir", type=Path, default=None, help="where all data lives (default ./data)")
    args = parser.parse_args(argv)
    if args.data_dir is not None:
        os.environ["GOVMAIL_DATA_DIR"] = str(args.data_dir)
    platform = PlatformSettings()
    supervisor = Supervisor(platform)
    stop: list[bool] = []

    def on_signal(signum: int, frame: object) -> None:
        if supervisor.stopping:
            return  # already stopping in order; a second Ctrl-C must not cut that short
        stop.append(True)
        if not supervisor.announced:
            raise KeyboardInterrupt  # still starting: abandon the start-up and stop

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    try:
        supervisor.up()
        supervisor.watch(stop)
    except KeyboardInterrupt:
        pass
    except Exception as exc:
        supervisor.say("failed", error=repr(exc))
        supervisor.down()
        return 1
    supervisor.down()
    return 0
