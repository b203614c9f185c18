"""Quality and speed of the Bayes classifier alone on the held-out 20 % of the allowed SpamAssassin groups
(the whole scanner, every check on, is measured by bench/scanner_quality.py).

Usage: python bench/spam_quality.py [--corpus DIR]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from services.scanner.classifier import training


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--corpus", type=Path, default=None, help="root of spam-1/ and easy-ham-1/")
    args = parser.parse_args()
    train_set = list(training.corpus_split(args.corpus))
    held_out = list(training.corpus_split(args.corpus, held_out=True))

    started = time.perf_counter()
    model = training.train(train_set)
    train_seconds = time.perf_counter() - started
    print(f"trained on {model.spam} spam + {model.ham} ham, {len(model.counts)} tokens, "
          f"{len(train_set) / train_seconds:.0f} messages/s")

    # 0.70 is the lowest band that marks a message as spam on its own (see scanner.toml).
    for threshold, symbol in ((0.70, "BAYES_SPAM_70 or above"), (0.90, "BAYES_SPAM_90 or above"),
                              (0.99, "BAYES_SPAM_99")):
        started = time.perf_counter()
        quality = training.evaluate(model, held_out, threshold)
        seconds = time.perf_counter() - started
        print(f"held out {quality.spam} spam + {quality.ham} ham, spam = {symbol}: "
              f"precision {quality.precision:.3f}, recall {quality.recall:.3f}, "
              f"false-positive rate {quality.false_positive_rate:.4f} ({quality.false_positives} ham), "
              f"{len(held_out) / seconds:.0f} messages/s (parse + tokens + score)")


if __name__ == "__main__":
    main()
