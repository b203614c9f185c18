"""Messages per second of the scanner's check pipeline, in process and without the broker.

Usage: python bench/scanner_throughput.py [--count 400] [--seed 7]
"""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import time
from collections import Counter
from email import policy
from email.headerregistry import Address
from email.message import EmailMessage

from services.scanner import config
from services.scanner.checks.gtube import GTUBE
from services.scanner.message import parse
from services.scanner.pipeline import Pipeline
from services.scanner.signatures import eicar_signature as signature

PEOPLE = [("Nguyễn Văn Anh", "anhnv.tt"), ("Lê Minh Hiếu", "leminhhieu"), ("Đặng Thị Ưng", "dangthiung"),
          ("张伟", "zhangwei"), ("Trần Thị Bích Ngọc", "tranthibichngoc")]
SUBJECTS = ["Báo cáo tháng 11 — 关于年度报告的通知", "Giấy mời họp giao ban tuần", "关于年度报告的通知",
            "Công văn số 123/STTTT-VP về hộp thư công vụ", "Kế hoạch kiểm tra an toàn thông tin năm 2025"]
LINES = ["Kính gửi các đơn vị trực thuộc,", "Đề nghị các đơn vị rà soát danh bạ trước ngày 05/12.",
         "根据《电子邮件系统管理办法》，请于12月5日前报送本单位半年度邮箱使用情况报告。",
         "Văn phòng Sở Thông tin và Truyền thông gửi kèm báo cáo tình hình sử dụng hộp thư công vụ.",
         "Trân trọng,", "报告须经单位负责人审核后，通过政务邮箱发送至信息中心。"]


def message(rng: random.Random, n: int) -> bytes:
    sender, recipient = rng.sample(PEOPLE, 2)
    m = EmailMessage(policy=policy.SMTP)
    m["From"] = Address(sender[0], sender[1], "backan.gov.vn")
    m["To"] = Address(recipient[0], recipient[1], "tiengiang.gov.vn")
    m["Subject"] = rng.choice(SUBJECTS)
    m["Message-ID"] = f"<bench-{n}@backan.gov.vn>"
    text = "\n".join(rng.choice(LINES) for _ in range(rng.randint(5, 60)))
    kind = rng.random()
    if kind < 0.05:
        text += "\n" + GTUBE
    m.set_content(text + "\n", cte=rng.choice(["quoted-printable", "base64", "8bit"]))
    if rng.random() < 0.5:
        m.add_alternative(f"<html><body><p>{text.replace(chr(10), '</p><p>')}</p></body></html>\n", subtype="html")
    if rng.random() < 0.4 or 0.05 <= kind < 0.10:
        blob = rng.randbytes(rng.randint(2_000, 200_000))
        if 0.05 <= kind < 0.10:
            blob = signature() + b"\r\n" + blob[:1000]
        m.add_attachment(blob, maintype="application", subtype="pdf", filename=f"Báo cáo {n}.pdf")
    return m.as_bytes()


async def run(messages: list[bytes]) -> tuple[float, list]:
    pipeline = Pipeline(config.load())
    await pipeline.scan(messages[0])  # warm up imports and the thread pool
    started = time.perf_counter()
    verdicts = [await pipeline.scan(raw) for raw in messages]
    return time.perf_counter() - started, verdicts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=400, help="messages to scan")
    parser.add_argument("--seed", type=int, default=7, help="seed of the generated messages")
    args = parser.parse_args()
    rng = random.Random(args.seed)
    messages = [message(rng, n) for n in range(args.count)]
    elapsed, verdicts = asyncio.run(run(messages))
    size = sum(map(len, messages))
    print(f"messages:      {len(messages)} ({size / 1e6:.1f} MB, mean {size / len(messages) / 1e3:.1f} kB)")
    print(f"throughput:    {len(messages) / elapsed:.0f} msg/s, {size / 1e6 / elapsed:.1f} MB/s (one process, one at a time)")
    parse_ms = []
    for raw in messages:
        t = time.perf_counter()
        parse(raw)
        parse_ms.append((time.perf_counter() - t) * 1000)
    print(f"MIME parse     mean {statistics.fmean(parse_ms):.3f} ms (not part of check_ms)")
    for name in verdicts[0].check_ms:
        times = sorted(v.check_ms[name] for v in verdicts)
        p95 = times[int(len(times) * 0.95) - 1]
        print(f"check {name:<8} mean {statistics.fmean(times):.3f} ms, p95 {p95:.3f} ms")
    print("actions:      ", dict(Counter(v.action for v in verdicts)))


if __name__ == "__main__":
    main()
