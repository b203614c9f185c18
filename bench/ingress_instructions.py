"""Instructions the ingress process executes per accepted 2 KB message, counted by callgrind.

msg/s and CPU time on a shared 2-core machine move with whatever else runs; an instruction count hardly
does (runs differ by about 10%: how many sessions share a loop turn, a syncfs or a produce request depends
on timing), so an A/B of two revisions can be judged from a run or two each. Counted: user-space instructions of the
one ingress process (its threads included) while it accepts `--messages` messages over 20 connections,
a new connection per message and then reused connections; not counted: the kernel's side of its system
calls, Redis, the broker and the client. Needs valgrind (`apt-get install valgrind`); takes about a minute.

Usage: .venv/bin/python -m bench.ingress_instructions [--messages 200]
"""

from __future__ import annotations

import argparse
import asyncio
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.ingress import infrastructure, message, run_load, start_govmail  # noqa: E402


def control(*args: str) -> None:
    subprocess.run(["callgrind_control", *args], check=True, capture_output=True)


def counted(dump: Path) -> int:
    """The instruction total of one callgrind dump."""
    for text in dump.read_text().splitlines():
        if text.startswith("totals:"):
            return int(text.split()[1])
    raise RuntimeError(f"no totals in {dump}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--messages", type=int, default=200, help="2 KB messages per scenario")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp, infrastructure(Path(tmp)) as parts:
        root = Path(tmp)
        out = root / "callgrind.out"
        target = start_govmail(root, parts.kafka_port, parts.redis_port, 1, ready_within=600, wrapper=[
            "valgrind", "--tool=callgrind", "--instr-atstart=no", f"--callgrind-out-file={out}"])
        try:
            asyncio.run(run_load(target.port, message(2048), 40, 10, reuse=True))  # warm-up, not counted
            pid = str(target.proc.pid)
            for number, (scenario, reuse) in enumerate((("new connection per message", False),
                                                        ("reused connections", True)), start=1):
                control("-z", pid)
                control("-i", "on", pid)
                result = asyncio.run(run_load(target.port, message(2048), args.messages, 20, reuse=reuse))
                control("-i", "off", pid)
                control("-d", scenario, pid)
                per_message = counted(Path(f"{out}.{number}")) / len(result.latencies)
                print(f"2 KB, {scenario}: {per_message / 1e6:.2f} M instructions per message in ingress")
        finally:
            target.stop()


if __name__ == "__main__":
    main()
