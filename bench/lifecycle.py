"""Benchmark the lifecycle: address allocation at scale, password hashing, and mailboxes issued through the admin API.

One run on one machine against its own Redis and broker on loopback; bounded, it stops by itself.
The figures are noisy on a shared machine (say so when quoting them).

Usage: .venv/bin/python -m bench.lifecycle [--names 10000] [--accounts 200] [--concurrency 8]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import aiohttp  # noqa: E402

from services.common.bus import ensure_topics  # noqa: E402
from services.common.settings import PlatformSettings  # noqa: E402
from services.lifecycle.app import LifecycleService  # noqa: E402
from services.lifecycle.naming import person_candidates  # noqa: E402
from services.lifecycle.passwords import hash_password, verify_password  # noqa: E402
from services.lifecycle.settings import LifecycleSettings  # noqa: E402
from services.platform import infra  # noqa: E402
from tests.lifecycle.test_naming_seeds import generated_names  # noqa: E402


def allocation(count: int) -> None:
    names = generated_names(count, seed=20101)
    started = time.perf_counter()
    taken: set[str] = set()
    for name, year in names:
        taken.add(next(c for c in person_candidates("tiengiang", name, year) if c not in taken))
    seconds = time.perf_counter() - started
    print(f"naming: {count} names allocated in {seconds:.2f} s ({count / seconds:,.0f}/s), "
          f"{len(taken)} distinct addresses")


def hashing(rounds: int = 20) -> None:
    times = []
    for _ in range(rounds):
        started = time.perf_counter()
        stored = hash_password("Mậtkhẩu#2024")
        times.append(time.perf_counter() - started)
    verify = time.perf_counter()
    verify_password("Mậtkhẩu#2024", stored)
    print(f"argon2id: hash median {statistics.median(times) * 1000:.1f} ms, "
          f"verify {(time.perf_counter() - verify) * 1000:.1f} ms")


async def issuing(count: int, concurrency: int, root: Path) -> None:
    kafka_port, redis_port = infra.free_port(), infra.free_port()
    broker = infra.start_broker(kafka_port, root / "tansu.log")
    redis_server = infra.start_redis(redis_port, root / "redis", root / "redis.log")
    try:
        await ensure_topics(f"127.0.0.1:{kafka_port}")
        platform = PlatformSettings(data_dir=root / "data", admin_port=infra.free_port(),
                                    redis_url=f"redis://127.0.0.1:{redis_port}/0",
                                    kafka_bootstrap=f"127.0.0.1:{kafka_port}")
        service = LifecycleService(platform, LifecycleSettings(), start_jobs=False)
        await service.start()
        try:
            token = service.token_path.read_text().strip()
            headers = {"Authorization": f"Bearer {token}"}
            async with aiohttp.ClientSession(base_url=service.url, headers=headers) as http:
                await http.post("/domains", json={"name": "tiengiang.gov.vn"})
                names = generated_names(count, seed=7)
                queue: asyncio.Queue[tuple[str, int]] = asyncio.Queue()
                for item in names:
                    queue.put_nowait(item)
                latencies: list[float] = []

                async def worker() -> None:
                    while not queue.empty():
                        name, year = queue.get_nowait()
                        started = time.perf_counter()
                        async with http.post("/accounts", json={"domain": "tiengiang.gov.vn", "name": name,
                                                                "birth_year": year}) as response:
                            assert response.status == 201, await response.text()
                        latencies.append(time.perf_counter() - started)

                started = time.perf_counter()
                await asyncio.gather(*(worker() for _ in range(concurrency)))
                seconds = time.perf_counter() - started
            latencies.sort()
            print(f"admin API: {count} mailboxes issued in {seconds:.2f} s ({count / seconds:.0f}/s, "
                  f"{concurrency} concurrent), latency p50 {latencies[len(latencies) // 2] * 1000:.0f} ms, "
                  f"p95 {latencies[int(len(latencies) * 0.95)] * 1000:.0f} ms")
        finally:
            await service.stop()
    finally:
        infra.stop(broker)
        infra.stop(redis_server)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--names", type=int, default=10_000)
    parser.add_argument("--accounts", type=int, default=200)
    parser.add_argument("--concurrency", type=int, default=8)
    args = parser.parse_args()
    allocation(args.names)
    hashing()
    with tempfile.TemporaryDirectory(prefix="govmail-bench-") as tmp:
        asyncio.run(issuing(args.accounts, args.concurrency, Path(tmp)))


if __name__ == "__main__":
    main()
