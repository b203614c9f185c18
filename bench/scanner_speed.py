"""Messages per second of the scanner: the check pipeline in process, then one and two `govmail scanner`
processes in one consumer group on an embedded broker of their own, and the ratio of the two.

Every check is on (ClamAV off: no clamd), with a Bayes model trained on the allowed corpus, over
the allowed SpamAssassin groups (spam-1, easy-ham-1), and a Redis holding the province's domains so
that the checks comparing senders and links with them (homograph, impersonation) do their work.
Each broker run publishes every message as a MailReceived event once the scanners have joined and
counts the time until the last verdict.

Usage: python bench/scanner_speed.py [--repeat 3] [--skip-broker]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import redis
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from schemas.events import MailReceived  # noqa: E402
from schemas.registry import RECEIVED, SCANNED  # noqa: E402
from services.common import ready  # noqa: E402
from services.common.blobstore import FileBlobStore  # noqa: E402
from services.common.bus import ensure_topics  # noqa: E402
from services.common.directory import DOMAINS  # noqa: E402
from services.common.settings import PlatformSettings  # noqa: E402
from services.platform import infra  # noqa: E402
from services.scanner import config, context  # noqa: E402
from services.scanner.checks import bayes, clamav  # noqa: E402
from services.scanner.classifier import training  # noqa: E402
from services.scanner.pipeline import Pipeline  # noqa: E402
from services.scanner.settings import ScannerSettings  # noqa: E402
from tests.scanner.scanner_mail import envelope  # noqa: E402

WARM_UP = 64  # messages scanned before timing, until every process has scanned some
# The province's own domains, as the lifecycle service registers them.
PROVINCE_DOMAINS = ("tiengiang.gov.vn", "backan.gov.vn", "sotc.tiengiang.gov.vn")


@contextlib.contextmanager
def province_redis(root: Path) -> Iterator[str]:
    """A Redis of our own holding the province's domains; yields its URL."""
    port = infra.free_port()
    server = infra.start_redis(port, root / "redis", root / "redis.log")
    try:
        with redis.Redis(port=port) as client:
            client.sadd(DOMAINS, *PROVINCE_DOMAINS)
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        infra.stop(server)


async def in_process(messages: list[bytes], redis_url: str) -> float:
    pipeline = Pipeline(config.load())
    clamav.use(None)
    context.use(context.ScanContext.from_settings(PlatformSettings(redis_url=redis_url), ScannerSettings()))
    await pipeline.scan(messages[0])
    started, cpu = time.perf_counter(), time.process_time()
    verdicts = [await pipeline.scan(raw) for raw in messages]
    rate = len(messages) / (time.perf_counter() - started)
    print(f"in process, one message at a time: {rate:.0f} msg/s over {len(messages)} messages "
          f"({len(messages) / (time.process_time() - cpu):.0f} per CPU-second)")
    print("  mean ms per check: " + ", ".join(
        f"{name} {statistics.fmean(v.check_ms[name] for v in verdicts):.3f}" for name in verdicts[0].check_ms))
    return rate


def events(store: FileBlobStore, messages: list[bytes]) -> list[MailReceived]:
    out = []
    for raw in messages:
        ref = store.put(raw)
        out.append(MailReceived(producer="bench", message_id=uuid.uuid4().hex, mail=envelope(ref, len(raw))))
    return out


async def publish_and_wait(bootstrap: str, batch: list[MailReceived]) -> float:
    """Seconds from the first publish to the last verdict of `batch`.

    The events are encoded before the clock starts and verdicts are told by their key (the message id),
    so the bench's own work in the timed window stays small beside the scanners' on a 2-core machine."""
    wanted = {e.message_id.encode() for e in batch}
    encoded = [(e.message_id.encode(), e.model_dump_json().encode()) for e in batch]
    consumer = AIOKafkaConsumer(SCANNED, bootstrap_servers=bootstrap, auto_offset_reset="latest",
                                enable_auto_commit=False)
    await consumer.start()
    await consumer.seek_to_end()
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=5)
    await producer.start()
    try:
        started = time.perf_counter()
        for key, value in encoded:
            await producer.send(RECEIVED, value, key=key)
        await producer.flush()
        async with asyncio.timeout(600):
            while wanted:
                for records in (await consumer.getmany(timeout_ms=200)).values():
                    wanted.difference_update(record.key for record in records)
        return time.perf_counter() - started
    finally:
        await producer.stop()
        await consumer.stop()


@contextlib.contextmanager
def scanners(count: int, bootstrap: str, root: Path, model: Path, blobs: Path, redis_url: str
             ) -> Iterator[tuple[list[Path], list[int]]]:
    procs, logs = [], []
    for i in range(count):
        data = root / f"scanner-{i}"
        env = {**os.environ, "GOVMAIL_KAFKA_BOOTSTRAP": bootstrap, "GOVMAIL_DATA_DIR": str(data),
               "GOVMAIL_BLOB_URI": blobs.as_uri(), "GOVMAIL_HEALTH_PORT_BASE": str(infra.free_port()),
               "SCANNER_BAYES_MODEL": str(model), "GOVMAIL_REDIS_URL": redis_url}
        env.pop("SCANNER_CLAMD", None)
        logs.append(data / "scanner.log")
        data.mkdir(parents=True)
        procs.append(infra.spawn([sys.executable, "-m", "services.scanner"], logs[-1], env))
    try:
        deadline = time.monotonic() + 120
        while not all(ready.is_ready(root / f"scanner-{i}" / "run", "scanner", p.pid) for i, p in enumerate(procs)):
            if time.monotonic() > deadline or any(p.poll() is not None for p in procs):
                raise RuntimeError(f"scanners did not get ready; see {root}/scanner-*/scanner.log")
            time.sleep(0.2)
        yield logs, [p.pid for p in procs]
    finally:
        for proc in procs:
            infra.stop(proc, 30)


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far (Linux /proc): what it cost, whatever else ran."""
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def scanned_by(logs: list[Path]) -> list[int]:
    return [log.read_text(encoding="utf-8").count('"event": "mail_scanned"') for log in logs]


async def broker_run(count: int, messages: list[bytes], model: Path, root: Path, redis_url: str) -> float:
    root.mkdir(parents=True)
    port = infra.free_port()
    broker = infra.start_broker(port, root / "tansu.log")
    bootstrap = f"127.0.0.1:{port}"
    try:
        await ensure_topics(bootstrap)
        store = FileBlobStore(root / "blobs")
        batch = events(store, messages)
        with scanners(count, bootstrap, root, model, root / "blobs", redis_url) as (logs, pids):
            # Until every process has scanned something, the group may still be rebalancing.
            while True:
                await publish_and_wait(bootstrap, events(store, messages[:WARM_UP]))
                if all(scanned_by(logs)):
                    break
            before, cpu_before = scanned_by(logs), [cpu_seconds(p) for p in pids]
            broker_before, own_before = cpu_seconds(broker.pid), time.process_time()
            seconds = await publish_and_wait(bootstrap, batch)
            share = [after - b for after, b in zip(scanned_by(logs), before, strict=True)]
            cpu = sum(cpu_seconds(p) for p in pids) - sum(cpu_before)
            others = {"broker": cpu_seconds(broker.pid) - broker_before, "bench": time.process_time() - own_before}
            # A check that fails on every message (a dependency missing) would make the figure a lie.
            failed = sum(log.read_text(encoding="utf-8").count('"event": "check_failed"') for log in logs)
    finally:
        infra.stop(broker)
    rate = len(batch) / seconds
    print(f"{count} scanner process{'es' if count > 1 else ''} on the broker: {rate:.0f} msg/s "
          f"({len(batch)} messages in {seconds:.1f} s; scanned per process {share}; "
          f"{len(batch) / cpu:.0f} messages per CPU-second of the scanner processes; check errors: {failed})")
    # On 2 cores, what the broker and the bench take is what two scanners cannot have.
    print(f"  CPU ms per message: scanners {cpu * 1000 / len(batch):.2f}, "
          + ", ".join(f"{name} {spent * 1000 / len(batch):.2f}" for name, spent in others.items()))
    return rate


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=3,
                        help="times the allowed corpus is sent in each run (3: 9,000 messages, steadier figures)")
    parser.add_argument("--skip-broker", action="store_true", help="only the in-process figure")
    args = parser.parse_args()
    corpus = training.corpus_messages()
    messages = [m.raw for m in corpus] * args.repeat
    model = training.train(corpus, {"corpus_groups": [training.SPAM_GROUP, training.HAM_GROUP], "split": "all"})
    bayes.use(model)
    print(f"{len(messages)} messages ({sum(map(len, messages)) / 1e6:.1f} MB), all checks on, ClamAV off; "
          f"cores: {os.cpu_count()}, load average {os.getloadavg()[0]:.1f}")
    with tempfile.TemporaryDirectory() as tmp, province_redis(Path(tmp)) as redis_url:
        asyncio.run(in_process(messages, redis_url))
        if args.skip_broker:
            return
        path = Path(tmp) / "bayes-model.json.gz"
        model.save(path)
        one = asyncio.run(broker_run(1, messages, path, Path(tmp) / "one", redis_url))
        two = asyncio.run(broker_run(2, messages, path, Path(tmp) / "two", redis_url))
    print(f"two processes / one process: {two / one:.2f}x (targets: >= 300 msg/s for one, >= 1.7x for two)")


if __name__ == "__main__":
    main()
