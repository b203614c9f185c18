"""Spam recall and ham false positives of the whole scanner (every check on), by 5-fold cross-validation.

The allowed SpamAssassin groups only (spam-1, easy-ham-1): each fold's Bayes model is trained on
the other four folds and the fold is scanned by the full pipeline with the shipped thresholds.
A message counts as flagged at an action when its verdict is that action or a stronger one.

Usage: python bench/scanner_quality.py [--folds 5] [--corpus DIR]
"""

from __future__ import annotations

import argparse
import asyncio
import time
from collections import Counter
from pathlib import Path

from services.scanner import config
from services.scanner.checks import bayes
from services.scanner.classifier import training
from services.scanner.config import SEVERITY
from services.scanner.pipeline import Pipeline

TARGET_RECALL, TARGET_FP = 0.95, 0.005
ACTIONS = ("add_header", "quarantine", "reject")


def rates(outcomes: list[tuple[bool, str]], action: str) -> tuple[float, float, int, int]:
    """(recall, false-positive rate, spam missed, ham flagged) at `action` or stronger."""
    flagged = [(is_spam, SEVERITY[a] >= SEVERITY[action]) for is_spam, a in outcomes]
    spam = [f for s, f in flagged if s]
    ham = [f for s, f in flagged if not s]
    return sum(spam) / len(spam), sum(ham) / len(ham), len(spam) - sum(spam), sum(ham)


async def scan_fold(pipeline: Pipeline, messages: list[training.Labelled], show: bool) -> list[tuple[bool, str]]:
    out = []
    for m in messages:
        verdict = await pipeline.scan(m.raw)
        out.append((m.is_spam, verdict.action))
        if show and m.is_spam == (verdict.action == "accept"):
            print(f"  {'missed spam' if m.is_spam else 'flagged ham'} {m.name}: {verdict.score} "
                  f"{[(s.name, s.options[:1]) for s in verdict.symbols]}")
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--corpus", type=Path, default=None, help="root of spam-1/ and easy-ham-1/")
    parser.add_argument("--show", action="store_true", help="print every missed spam and flagged ham with its symbols")
    args = parser.parse_args()
    messages = training.corpus_messages(args.corpus)
    pipeline = Pipeline(config.load())
    print(f"{sum(m.is_spam for m in messages)} spam + {sum(not m.is_spam for m in messages)} ham, "
          f"{args.folds} folds; thresholds {pipeline.config.actions.model_dump()}")
    outcomes: list[tuple[bool, str]] = []
    started = time.perf_counter()
    for fold in range(args.folds):
        train = [m for m in messages if training.fold_of(m.name, args.folds) != fold]
        test = [m for m in messages if training.fold_of(m.name, args.folds) == fold]
        bayes.use(training.train(train))
        found = asyncio.run(scan_fold(pipeline, test, args.show))
        outcomes += found
        recall, fp, missed, flagged = rates(found, "add_header")
        print(f"fold {fold}: {len(test)} messages, at add_header: recall {recall:.3f} ({missed} spam missed), "
              f"false positives {fp:.4f} ({flagged} ham); actions {dict(Counter(a for _, a in found))}")
    print(f"all folds ({time.perf_counter() - started:.0f} s):")
    for action in ACTIONS:
        recall, fp, missed, flagged = rates(outcomes, action)
        print(f"  {action:<10} or stronger: spam recall {recall:.3f} ({missed} missed), "
              f"ham false-positive rate {fp:.4f} ({flagged} ham)")
    recall, fp, _, _ = rates(outcomes, "add_header")
    met = recall >= TARGET_RECALL and fp <= TARGET_FP
    print(f"target recall >= {TARGET_RECALL} with false positives <= {TARGET_FP}: {'met' if met else 'NOT met'}")


if __name__ == "__main__":
    main()
