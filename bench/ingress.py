"""Benchmark SMTP accept speed: plain aiosmtpd with a sink handler vs govmail ingress with durable publish.

One run, one machine, one asyncio client for both servers (each server in its own process, on loopback):
2 KB messages over 20 connections (a new connection per message, and reused connections), 1 MB messages,
and the latency of small messages while three 50 MB messages arrive. Bounded: it stops by itself.

Besides msg/s and latency it prints the CPU each process spent per message in every scenario (ingress
workers, redis-server, broker, the benchmark client itself), so the gap to plain aiosmtpd can be explained.

Usage: .venv/bin/python -m bench.ingress [--small 1000] [--connections 20] [--workers 2] [--large 60] [--big 3]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from services.common.bus import ensure_topics  # noqa: E402
from services.common.directory import DOMAINS, Account, account_key  # noqa: E402
from services.platform import infra  # noqa: E402

DOMAIN = "bench.gov.vn"
RCPT = f"nguyenvanben@{DOMAIN}"
MB = 1024 * 1024


def message(size: int) -> bytes:
    head = (f"From: Văn thư <vanthu@example.vn>\r\nTo: {RCPT}\r\n"
            "Subject: Công văn — 关于年度报告的通知\r\n\r\n").encode()
    line = "Nội dung công văn số 11. 文件内容。 Nguyễn Văn Anh\r\n".encode()
    return head + line * max(1, (size - len(head)) // len(line))


class Client:
    """One SMTP connection speaking plain (non-pipelined) ESMTP."""

    async def open(self, port: int) -> None:
        self.reader, self.writer = await asyncio.open_connection("127.0.0.1", port, limit=1024 * 1024)
        await self.reply()
        await self.cmd(b"EHLO bench.example.vn", b"250")

    async def reply(self) -> bytes:
        line = await self.reader.readline()
        while line[3:4] == b"-":
            line = await self.reader.readline()
        return line

    async def cmd(self, line: bytes, expect: bytes) -> bytes:
        self.writer.write(line + b"\r\n")
        reply = await self.reply()
        if not reply.startswith(expect):
            raise RuntimeError(f"{line!r} → {reply!r}")
        return reply

    async def send(self, data: bytes) -> None:
        await self.cmd(b"MAIL FROM:<vanthu@example.vn>", b"250")
        await self.cmd(f"RCPT TO:<{RCPT}>".encode(), b"250")
        await self.cmd(b"DATA", b"354")
        # Write in pieces with drain, as a real client does, so 50 MB is never queued at once.
        for start in range(0, len(data), 256 * 1024):
            self.writer.write(data[start:start + 256 * 1024])
            await self.writer.drain()
        await self.cmd(b".", b"250")

    async def close(self) -> None:
        self.writer.write(b"QUIT\r\n")
        await self.reply()
        self.writer.close()
        await self.writer.wait_closed()


CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def own_cpu(pid: int) -> float:
    """CPU seconds (user + system) a live process has used itself, from /proc (0 once it is gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    except (FileNotFoundError, ProcessLookupError):
        return 0.0
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS  # utime, stime (fields 14, 15 of proc(5))


def process_tree(pid: int) -> list[int]:
    """`pid` and its live descendants (the ingress parent and its workers)."""
    found, todo = [], [pid]
    while todo:
        current = todo.pop()
        found.append(current)
        for task in Path(f"/proc/{current}/task").glob("*/children"):
            try:
                todo += [int(child) for child in task.read_text().split()]
            except FileNotFoundError:
                continue
    return found


class CpuMeter:
    """CPU seconds per named process group, read before and after a scenario; the client is this process."""

    def __init__(self, groups: dict[str, int]):
        self.groups = groups

    def sample(self) -> dict[str, float]:
        out = {name: sum(own_cpu(p) for p in process_tree(pid)) for name, pid in self.groups.items()}
        out["client"] = time.process_time()
        return out


@dataclass
class Result:
    seconds: float
    latencies: list[float]
    cpu: dict[str, float] = field(default_factory=dict)  # CPU seconds per process group over the run

    @property
    def rate(self) -> float:
        return len(self.latencies) / self.seconds

    def pct(self, p: float) -> float:
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, int(p / 100 * len(ordered)))] * 1000

    def cpu_per_message(self) -> str:
        """CPU ms per message of each process group; the server's own total first."""
        count = max(1, len(self.latencies))
        return "   ".join(f"{name} {seconds * 1000 / count:.2f}" for name, seconds in self.cpu.items())


async def run_load(port: int, data: bytes, count: int, connections: int, reuse: bool) -> Result:
    """`count` messages over `connections` concurrent senders; latency from connect (or MAIL) to 250."""
    latencies: list[float] = []
    wire = data.replace(b"\r\n.", b"\r\n..") + (b"" if data.endswith(b"\r\n") else b"\r\n")

    async def sender(share: int) -> None:
        client = Client()
        if reuse:
            await client.open(port)
        for _ in range(share):
            t = time.perf_counter()
            if not reuse:
                client = Client()
                await client.open(port)
            await client.send(wire)
            latencies.append(time.perf_counter() - t)
            if not reuse:
                await client.close()
        if reuse:
            await client.close()

    shares = [count // connections + (i < count % connections) for i in range(connections)]
    started = time.perf_counter()
    await asyncio.gather(*(sender(n) for n in shares))
    return Result(time.perf_counter() - started, latencies)


async def small_during_big(port: int, big_senders: int, big_size: int) -> tuple[Result, float]:
    """Small messages sent one after another on a reused connection while `big_senders` 50 MB messages arrive."""
    big = message(big_size)
    small = message(2048)
    done = asyncio.Event()
    latencies: list[float] = []

    async def small_sender() -> None:
        client = Client()
        await client.open(port)
        while not done.is_set():
            t = time.perf_counter()
            await client.send(small)
            latencies.append(time.perf_counter() - t)
        await client.close()

    started = time.perf_counter()
    task = asyncio.create_task(small_sender())
    await run_load(port, big, big_senders, big_senders, reuse=True)
    big_seconds = time.perf_counter() - started
    done.set()
    await task
    return Result(big_seconds, latencies), big_seconds


def plain_server(port: int, limit: int) -> None:
    """The reference: aiosmtpd with a handler that answers 250 and keeps nothing."""
    from aiosmtpd.smtp import SMTP

    class Sink:
        async def handle_DATA(self, server, session, envelope) -> str:
            return "250 OK"

    async def main() -> None:
        loop = asyncio.get_running_loop()
        await loop.create_server(lambda: SMTP(Sink(), decode_data=False, enable_SMTPUTF8=True,
                                              data_size_limit=limit, hostname="plain"), "127.0.0.1", port)
        await asyncio.Event().wait()

    asyncio.run(main())


@dataclass
class Parts:
    broker: subprocess.Popen
    redis: subprocess.Popen
    kafka_port: int
    redis_port: int


@contextlib.contextmanager
def infrastructure(root: Path) -> Iterator[Parts]:
    """A broker with the registry's topics and a Redis that knows the benchmark's domain and recipient."""
    import redis

    kafka_port, redis_port = infra.free_port(), infra.free_port()
    parts = Parts(infra.start_broker(kafka_port, root / "tansu.log"),
                  infra.start_redis(redis_port, root / "redis", root / "redis.log"), kafka_port, redis_port)
    try:
        asyncio.run(ensure_topics(f"127.0.0.1:{kafka_port}"))
        client = redis.Redis(port=redis_port)
        client.sadd(DOMAINS, DOMAIN)
        account = Account(address=RCPT, domain=DOMAIN, localpart="nguyenvanben", name="Nguyễn Văn Bền")
        client.hset(account_key(RCPT), mapping=account.to_redis())
        client.close()
        yield parts
    finally:
        infra.stop(parts.broker)
        infra.stop(parts.redis)


class Target:
    def __init__(self, name: str, port: int, proc: subprocess.Popen):
        self.name, self.port, self.proc = name, port, proc

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(60)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


def start_plain(limit: int) -> Target:
    port = infra.free_port()
    proc = subprocess.Popen([sys.executable, __file__, "--plain-server", str(port), "--limit", str(limit)])
    infra.wait_port(port, proc=proc)
    return Target("plain aiosmtpd", port, proc)


def start_govmail(root: Path, kafka_port: int, redis_port: int, workers: int, wrapper: Sequence[str] = (),
                  ready_within: float = 60) -> Target:
    """Ingress with `workers` processes; `wrapper` runs it under another program (bench.ingress_instructions)."""
    data = root / f"data-{workers}"
    port = infra.free_port()
    env = dict(os.environ, GOVMAIL_DATA_DIR=str(data), GOVMAIL_KAFKA_BOOTSTRAP=f"127.0.0.1:{kafka_port}",
               GOVMAIL_REDIS_URL=f"redis://127.0.0.1:{redis_port}/0", GOVMAIL_SMTP_PORT=str(port),
               GOVMAIL_SUBMISSION_PORT=str(infra.free_port()), GOVMAIL_HEALTH_PORT_BASE=str(infra.free_port()),
               GOVMAIL_LOG_LEVEL="warning", INGRESS_WORKERS=str(workers),
               # The anti-DoS limits would (rightly) throttle one benchmarking IP.
               INGRESS_MAX_MESSAGES_PER_MINUTE="100000000", INGRESS_MAX_CONNECTIONS_PER_MINUTE="100000000",
               INGRESS_MAX_CONNECTIONS_PER_IP="100000")
    log = (root / f"ingress-{workers}.log").open("wb")
    proc = subprocess.Popen([*wrapper, sys.executable, "-m", "services.cli", "ingress"], env=env, stdout=log,
                            stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    marker = data / "run" / "ready" / "ingress"
    deadline = time.monotonic() + ready_within
    while not (marker.exists() and marker.read_text() == str(proc.pid)):
        if proc.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f"ingress did not start; see {root}/ingress-{workers}.log")
        time.sleep(0.1)
    return Target(f"govmail ingress ({workers} worker{'s' if workers > 1 else ''})", port, proc)


def line(name: str, r: Result) -> str:
    return (f"  {name:<34} {r.rate:8.1f} msg/s   p50 {r.pct(50):7.1f} ms   p99 {r.pct(99):7.1f} ms"
            f"   ({len(r.latencies)} in {r.seconds:.1f} s)")


async def metered(meter: CpuMeter, load: Awaitable[Result]) -> Result:
    before = meter.sample()
    result = await load
    after = meter.sample()
    result.cpu = {name: after[name] - before[name] for name in after}
    return result


async def measure(target: Target, meter: CpuMeter, args: argparse.Namespace) -> dict[str, Result]:
    small, one_mb = message(2048), message(MB)
    out = {}
    await run_load(target.port, small, 100, args.connections, reuse=True)  # warm-up
    out["2 KB, new connection per message"] = await metered(
        meter, run_load(target.port, small, args.small, args.connections, reuse=False))
    out["2 KB, reused connections"] = await metered(
        meter, run_load(target.port, small, args.small, args.connections, reuse=True))
    if args.large:
        out["1 MB, reused connections"] = await metered(
            meter, run_load(target.port, one_mb, args.large, args.connections, reuse=True))
    if args.big:
        small_result, _ = await small_during_big(target.port, args.big, 50 * 1000 * 1000)
        out[f"2 KB while {args.big} × 50 MB arrive"] = small_result
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--small", type=int, default=1000, help="2 KB messages per scenario")
    parser.add_argument("--large", type=int, default=60, help="1 MB messages (0: skip)")
    parser.add_argument("--big", type=int, default=3, help="50 MB messages sent alongside small ones (0: skip)")
    parser.add_argument("--connections", type=int, default=20)
    parser.add_argument("--workers", type=int, default=2, help="also measure govmail with this many workers (1: skip)")
    parser.add_argument("--plain-server", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--limit", type=int, default=52 * MB, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.plain_server:
        plain_server(args.plain_server, args.limit)
        return
    with tempfile.TemporaryDirectory() as tmp, infrastructure(Path(tmp)) as parts:
        root = Path(tmp)
        results: dict[str, dict[str, Result]] = {}
        starters = [lambda: start_plain(52 * MB), lambda: start_govmail(root, parts.kafka_port, parts.redis_port, 1)]
        if args.workers > 1:
            starters.append(lambda: start_govmail(root, parts.kafka_port, parts.redis_port, args.workers))
        for start in starters:
            target = start()
            server = "ingress" if target.name.startswith("govmail") else "server"
            groups = {server: target.proc.pid}
            if server == "ingress":  # the plain server uses neither
                groups |= {"redis": parts.redis.pid, "broker": parts.broker.pid}
            try:
                results[target.name] = asyncio.run(measure(target, CpuMeter(groups), args))
            finally:
                target.stop()
    print(f"SMTP accept benchmark — {os.cpu_count()} CPUs, {args.connections} concurrent connections, loopback")
    names = list(results)
    for scenario in results[names[0]]:
        print(scenario)
        for name in names:
            print(line(name, results[name][scenario]))
            if results[name][scenario].cpu:
                print(f"    CPU ms/msg: {results[name][scenario].cpu_per_message()}")
        plain = results[names[0]][scenario]
        for name in names[1:]:
            r = results[name][scenario]
            print(f"  ratio {name}/plain: {r.rate / plain.rate:.2f}× msg/s, "
                  f"p99 {r.pct(99) / plain.pct(99):.2f}× latency")
    print("target from the issue: govmail ≥ 0.8× plain aiosmtpd in msg/s")


if __name__ == "__main__":
    main()
