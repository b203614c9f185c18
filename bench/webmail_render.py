"""Message bodies per second the webmail renders for its sandboxed frame (parse, nh3 sanitise, link checks).

Every opened message costs one render, so this bounds how many openings one webmail process serves.
Usage: python bench/webmail_render.py [--group spam-1] [--rounds 3]
"""

from __future__ import annotations

import argparse
import statistics
import time

from services.scanner.corpus import messages
from services.webmail.mailstore import parse
from services.webmail.reading import body_html


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--group", default="spam-1", help="SpamAssassin group (spam-1 has the most HTML)")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    corpus = [raw for _, raw in messages(args.group)]
    html = sum(1 for raw in corpus if b"text/html" in raw.lower())
    rates, warned, blocked = [], 0, 0
    for _ in range(args.rounds):
        started = time.perf_counter()
        warned = blocked = 0
        for raw in corpus:
            cleaned = body_html(parse(raw), allow_remote_images=False)
            warned += len(cleaned.warned_links)
            blocked += cleaned.remote_images_blocked
        rates.append(len(corpus) / (time.perf_counter() - started))
    print(f"group={args.group} messages={len(corpus)} with_html={html} rounds={args.rounds}")
    print(f"bodies_per_second median={statistics.median(rates):.0f} min={min(rates):.0f} max={max(rates):.0f}")
    print(f"links_sent_through_warning={warned} remote_images_blocked={blocked}")


if __name__ == "__main__":
    main()
