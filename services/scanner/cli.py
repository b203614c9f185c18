"""`govmail scanner`: run the scanner service, or train its spam classifier."""

from __future__ import annotations

import argparse
import itertools
import sys
from pathlib import Path

from services.common import logging as log
from services.common.settings import PlatformSettings
from services.common.worker import run_worker
from services.scanner import context, corpus, feedback
from services.scanner.app import build
from services.scanner.classifier import training
from services.scanner.config import ConfigError
from services.scanner.phishing.hashlist import ListError, ListFile, read_lines
from services.scanner.settings import ScannerSettings

# Same code as argparse uses for a usage error: the command cannot do what was asked.
EXIT_USAGE = 2


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="govmail scanner", description="The scanner service: spam and virus checks.")
    sub = p.add_subparsers(dest="command", metavar="COMMAND")
    sub.add_parser("run", help="consume mail.received.v1 and publish verdicts (the default)")
    train = sub.add_parser("train", help="train the spam classifier and write its model file")
    train.add_argument("--out", type=Path, default=None,
                       help="model file (default: a new <data dir>/scanner/models/bayes-<version>.json.gz, "
                       "the newest of which the scanner loads)")
    train.add_argument("--feedback", type=Path, action="append", default=[], metavar="DIR",
                       help="more corrections, DIR/spam/*.eml and DIR/ham/*.eml (repeatable); the users' reports the "
                       "scanner kept under <data dir>/scanner/feedback are always included")
    train.add_argument("--no-reports", action="store_true",
                       help="leave out the users' reports kept under <data dir>/scanner/feedback")
    train.add_argument("--corpus", default=None, metavar="DIR|none",
                       help="root of the SpamAssassin groups (default $GOVMAIL_CORPUS_DIR or .cache/spam-assassin); "
                       "'none' trains on feedback alone")
    train.add_argument("--all", action="store_true",
                       help="train on the whole corpus groups instead of leaving out the 20 %% held out for measuring")
    phishing = sub.add_parser("phishing", help="the province's phishing list (Safe-Browsing-style hashes)")
    phishing_sub = phishing.add_subparsers(dest="phishing_command", metavar="ACTION", required=True)
    for action, text in (("add", "add URLs, domains or sha256:HEX entries"), ("remove", "remove entries")):
        one = phishing_sub.add_parser(action, help=text)
        one.add_argument("urls", nargs="+", metavar="URL")
    phishing_sub.add_parser("list", help="print the entries, one a line")
    return p


def phishing_list(args: argparse.Namespace) -> int:
    """Edit the list file the running scanners read again as soon as it changes."""
    listed = ListFile(context.list_path(PlatformSettings(), ScannerSettings()))
    if args.phishing_command == "list":
        for line in read_lines(listed.path):
            print(line)
        return 0
    try:
        changed = listed.add(args.urls) if args.phishing_command == "add" else listed.remove(args.urls)
    except ListError as exc:
        print(f"govmail scanner phishing: {exc}", file=sys.stderr)
        return EXIT_USAGE
    verb = "added" if args.phishing_command == "add" else "removed"
    for line in changed:
        print(f"{verb} {line}")
    print(f"{len(changed)} {verb}, {len(read_lines(listed.path))} in {listed.path}")
    return 0


def train(args: argparse.Namespace) -> int:
    platform = PlatformSettings()
    logger = log.configure("scanner", platform.log_level)
    version = training.new_version()
    out = args.out or training.model_path(version)
    sources: list = []
    groups: list[str] = []
    if args.corpus != "none":
        root = Path(args.corpus) if args.corpus else None
        groups = [training.SPAM_GROUP, training.HAM_GROUP]
        if args.all:
            sources.append(training.Labelled(name, raw, group == training.SPAM_GROUP)
                           for group in groups for name, raw in corpus.messages(group, root))
        else:
            sources.append(training.corpus_split(root))
    for folder in args.feedback:
        if not folder.is_dir():
            logger.error("feedback_missing", path=str(folder))
            return EXIT_USAGE
    folders = list(args.feedback)
    reports = feedback.default_dir()
    if not args.no_reports and reports.is_dir() and reports not in folders:
        folders.append(reports)
    counts = {"spam": 0, "ham": 0}
    for folder in folders:
        for label, n in feedback.FeedbackStore(folder).counts().items():
            counts[label] += n
        sources.append(training.feedback(folder))
    metadata = {"corpus_groups": groups, "split": "all" if args.all else f"sha256(name) % 100 < {training.TRAIN_PERCENT}",
                "feedback": [str(f) for f in folders], "feedback_sizes": counts}
    try:
        model = training.train(itertools.chain(*sources), metadata, version)
    except corpus.CorpusMissing as exc:
        logger.error("corpus_missing", error=str(exc))
        return EXIT_USAGE
    if not model.spam or not model.ham:
        logger.error("training_set_one_sided", spam=model.spam, ham=model.ham)
        return EXIT_USAGE
    model.save(out)
    logger.info("bayes_model_written", path=str(out), version=version, spam=model.spam, ham=model.ham,
                tokens=len(model.counts), feedback_spam=counts["spam"], feedback_ham=counts["ham"],
                content_hash=model.content_hash())
    return 0


def run() -> int:
    platform = PlatformSettings()
    logger = log.configure("scanner", platform.log_level)
    try:
        app = build(platform, ScannerSettings())
    except ConfigError as exc:
        logger.error("config_invalid", error=str(exc))
        return EXIT_USAGE
    try:
        code = run_worker(app, "scanner", platform)
    except SystemExit as exc:  # the faust worker always leaves through SystemExit
        code = exc.code if isinstance(exc.code, int) else 1
    logger.info("scanner_stopped", exit_code=code)
    return code


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(sys.argv[1:] if argv is None else argv)
    if args.command == "train":
        return train(args)
    if args.command == "phishing":
        return phishing_list(args)
    return run()
