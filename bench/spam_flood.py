"""A spam flood on the embedded stack: a burst of received mail, scanners added one at a time, lag and drain times.

The figures size the KEDA thresholds in k8s/components/scanner-keda (lagThreshold = backlog one
scanner clears in an acceptable time). Lag here is counted from the bench's own ids (burst size
minus verdicts seen), not from broker end offsets, which the embedded broker reports wrongly.

Usage: .venv/bin/python bench/spam_flood.py [--messages 20000] [--max-scanners 4] [--step 30]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from aiokafka import AIOKafkaConsumer

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from schemas.registry import ALL_TOPICS, RECEIVED, SCANNED  # noqa: E402
from services.common.blobstore import FileBlobStore  # noqa: E402
from services.common.bus import KafkaPublisher, ensure_topics  # noqa: E402
from services.platform import infra  # noqa: E402
from tests.conftest import govmail_command  # noqa: E402
from tests.scanner.scanner_mail import received_event  # noqa: E402

CORPUS = Path(__file__).resolve().parent.parent / ".cache" / "spam-assassin" / "spam-1"


@dataclass
class Phase:
    scanners: int
    started: float
    scanned_at_start: int
    ended: float = 0.0
    scanned_at_end: int = 0
    progress: list[tuple[float, int]] = field(default_factory=list)  # (seconds, scanned so far)

    @property
    def rate(self) -> float:
        """Over the whole phase, the new scanner's start and the group's rebalance included."""
        return (self.scanned_at_end - self.scanned_at_start) / max(self.ended - self.started, 1e-9)

    @property
    def steady_rate(self) -> float:
        """Over the second half of the phase, once the group has settled."""
        middle = self.started + (self.ended - self.started) / 2
        at_middle = next((n for t, n in self.progress if t >= middle), self.scanned_at_end)
        return (self.scanned_at_end - at_middle) / max(self.ended - middle, 1e-9)


def spam_bodies(limit: int = 300) -> list[bytes]:
    """Real spam from the SpamAssassin corpus (see DEVELOPERS.md); the same blobs recur, as in a flood."""
    files = sorted(CORPUS.glob("*.eml"))[:limit]
    if not files:
        raise SystemExit(f"no corpus at {CORPUS}: run `.venv/bin/python -m services.scanner.corpus fetch`")
    return [path.read_bytes() for path in files]


async def publish_burst(bootstrap: str, store: FileBlobStore, count: int) -> set[str]:
    publisher = KafkaPublisher(bootstrap, "bench-spam-flood", timeout=30)
    await publisher.start()
    bodies = spam_bodies()
    ids: set[str] = set()
    try:
        for start in range(0, count, 200):
            events = [received_event(store, bodies[i % len(bodies)], subject="flood")
                      for i in range(start, min(count, start + 200))]
            await asyncio.gather(*(publisher.publish(RECEIVED, event) for event in events))
            ids.update(event.message_id for event in events)
    finally:
        await publisher.stop()
    return ids


async def count_verdicts(bootstrap: str, ids: set[str], seen: set[str], stop: asyncio.Event) -> None:
    consumer = AIOKafkaConsumer(SCANNED, bootstrap_servers=bootstrap, auto_offset_reset="earliest",
                                enable_auto_commit=False, group_id=None)
    await consumer.start()
    try:
        while not stop.is_set():
            batches = await consumer.getmany(timeout_ms=500)
            for records in batches.values():
                for record in records:
                    try:
                        message_id = json.loads(record.value)["message_id"]
                    except (ValueError, KeyError, TypeError):
                        continue
                    if message_id in ids:
                        seen.add(message_id)
    finally:
        await consumer.stop()


def start_scanner(index: int, root: Path, bootstrap: str, redis_url: str, blobs: Path) -> subprocess.Popen:
    data = root / f"scanner-{index}"
    data.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "GOVMAIL_DATA_DIR": str(data), "GOVMAIL_KAFKA_BOOTSTRAP": bootstrap,
           "GOVMAIL_REDIS_URL": redis_url, "GOVMAIL_BLOB_URI": blobs.as_uri(),
           "GOVMAIL_HEALTH_PORT_BASE": str(infra.free_port()), "PYTHONUNBUFFERED": "1"}
    with open(data / "scanner.log", "wb") as log:
        return subprocess.Popen(govmail_command("scanner"), env=env, stdout=log, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL)


async def flood(args: argparse.Namespace, root: Path) -> None:
    kafka_port, redis_port = infra.free_port(), infra.free_port()
    broker = infra.start_broker(kafka_port, root / "tansu.log")
    redis_server = infra.start_redis(redis_port, root / "redis", root / "redis.log")
    bootstrap, redis_url = f"127.0.0.1:{kafka_port}", f"redis://127.0.0.1:{redis_port}/0"
    blobs = root / "blobs"
    scanners: list[subprocess.Popen] = []
    try:
        await ensure_topics(bootstrap)
        started = time.perf_counter()
        ids = await publish_burst(bootstrap, FileBlobStore(blobs), args.messages)
        print(f"burst: {len(ids)} spam messages published in {time.perf_counter() - started:.1f} s")
        seen: set[str] = set()
        stop = asyncio.Event()
        counter = asyncio.create_task(count_verdicts(bootstrap, ids, seen, stop))
        phases: list[Phase] = []
        t0 = time.perf_counter()
        next_print = 0.0
        while len(seen) < len(ids):
            now = time.perf_counter() - t0
            lag = len(ids) - len(seen)
            phase_age = now - phases[-1].started if phases else args.step
            # Add a scanner when the current ones had their step and the backlog is still there.
            if phase_age >= args.step and len(scanners) < args.max_scanners and lag > args.add_above:
                if phases:
                    phases[-1].ended, phases[-1].scanned_at_end = now, len(seen)
                scanners.append(start_scanner(len(scanners), root, bootstrap, redis_url, blobs))
                phases.append(Phase(len(scanners), now, len(seen)))
                print(f"t={now:6.1f} s  + scanner {len(scanners)} started (lag {lag})")
            if now >= next_print:
                print(f"t={now:6.1f} s  scanners={len(scanners)}  lag={lag:6d}  scanned={len(seen):6d}")
                next_print = now + args.interval
            if phases:
                phases[-1].progress.append((now, len(seen)))
            for proc in scanners:
                if proc.poll() is not None:
                    raise SystemExit(f"a scanner exited with {proc.returncode}; see {root}/scanner-*/scanner.log")
            if now > args.timeout:
                raise SystemExit(f"not drained after {args.timeout} s (lag {lag})")
            await asyncio.sleep(0.2)
        drained = time.perf_counter() - t0
        phases[-1].ended, phases[-1].scanned_at_end = drained, len(seen)
        stop.set()
        await counter
        print(f"\ndrained {len(ids)} messages in {drained:.1f} s with up to {len(scanners)} scanner(s)")
        partitions = ALL_TOPICS[RECEIVED].partitions
        print(f"{'scanners':>8} {'phase s':>8} {'scanned':>8} {'msg/s':>8} {'steady msg/s':>13} "
              f"{'burst drain at steady rate, s':>30}")
        for phase in phases:
            drain = args.messages / phase.steady_rate if phase.steady_rate else float("inf")
            print(f"{phase.scanners:>8} {phase.ended - phase.started:>8.1f} "
                  f"{phase.scanned_at_end - phase.scanned_at_start:>8} {phase.rate:>8.1f} "
                  f"{phase.steady_rate:>13.1f} {drain:>30.0f}")
        print(f"(phases include the consumer-group rebalance each new scanner causes; "
              f"{RECEIVED} has {partitions} partitions, the ceiling for scanners)")
    finally:
        for proc in scanners:
            infra.stop(proc, timeout=30)
        infra.stop(broker)
        infra.stop(redis_server)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--messages", type=int, default=20000, help="size of the burst")
    parser.add_argument("--max-scanners", type=int, default=4, help="scanner instances at most")
    parser.add_argument("--step", type=float, default=30.0, help="seconds each scanner count runs before adding one")
    parser.add_argument("--add-above", type=int, default=1000, help="add a scanner only while the lag is above this")
    parser.add_argument("--interval", type=float, default=5.0, help="seconds between lag lines")
    parser.add_argument("--timeout", type=float, default=1800.0, help="give up after this many seconds")
    args = parser.parse_args()
    if args.max_scanners > ALL_TOPICS[RECEIVED].partitions:
        parser.error(f"more scanners than {RECEIVED} has partitions would sit idle")
    with tempfile.TemporaryDirectory(prefix="govmail-flood-") as tmp:
        asyncio.run(flood(args, Path(tmp)))


if __name__ == "__main__":
    main()
