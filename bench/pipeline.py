"""Benchmark the whole platform: time to `govmail ready`, SMTP accept latency, and SMTP → Maildir throughput.

Usage: .venv/bin/python -m bench.pipeline [--messages 300] [--connections 4]
"""

from __future__ import annotations

import argparse
import smtplib
import statistics
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from email.message import EmailMessage
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.e2e.harness import Platform  # noqa: E402


def message(to: str, i: int) -> bytes:
    msg = EmailMessage()
    msg["From"] = "Văn thư <vanthu@example.vn>"
    msg["To"] = to
    msg["Subject"] = f"Công văn số {i} — 第{i}号文件"
    msg.set_content("Kính gửi các đơn vị,\n" + "Nội dung công văn. 文件内容。\n" * 40)
    return msg.as_bytes()


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(p / 100 * len(ordered)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--messages", type=int, default=300)
    parser.add_argument("--connections", type=int, default=4)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        platform = Platform(Path(tmp) / "data")
        ready_s = platform.start()
        print(f"govmail up ready in {ready_s:.1f} s")
        platform.govmail("admin", "domain", "add", "bench.gov.vn")
        to = platform.create_account("bench.gov.vn", "Nguyễn Văn Bền")["address"]
        latencies: list[float] = []

        def sender(worker: int) -> None:
            with smtplib.SMTP("127.0.0.1", platform.smtp_port) as smtp:
                for i in range(worker, args.messages, args.connections):
                    t = time.perf_counter()
                    smtp.sendmail("vanthu@example.vn", [to], message(to, i))
                    latencies.append(time.perf_counter() - t)

        started = time.perf_counter()
        with ThreadPoolExecutor(args.connections) as pool:
            list(pool.map(sender, range(args.connections)))
        accepted = time.perf_counter() - started
        platform.wait_messages(to, args.messages, timeout=600)
        delivered = time.perf_counter() - started
        print(f"accepted {args.messages} messages over {args.connections} connections in {accepted:.2f} s "
              f"({args.messages / accepted:.0f} msg/s)")
        print(f"SMTP accept latency: p50 {statistics.median(latencies) * 1000:.1f} ms, "
              f"p90 {percentile(latencies, 90) * 1000:.1f} ms, p99 {percentile(latencies, 99) * 1000:.1f} ms")
        print(f"all delivered to Maildir in {delivered:.2f} s ({args.messages / delivered:.0f} msg/s end to end)")
        stop_started = time.perf_counter()
        platform.stop()
        print(f"govmail stopped in {time.perf_counter() - stop_started:.1f} s")


if __name__ == "__main__":
    main()
