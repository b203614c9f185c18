"""Training the classifier on the allowed corpus groups and province feedback, with a fixed held-out split."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from services.common.settings import PlatformSettings
from services.scanner import corpus
from services.scanner.classifier.model import Model
from services.scanner.classifier.tokens import tokens
from services.scanner.message import parse

SPAM_GROUP, HAM_GROUP = "spam-1", "easy-ham-1"
TRAIN_PERCENT = 80
MODEL_ENV = "SCANNER_BAYES_MODEL"


def models_dir() -> Path:
    """<data dir>/scanner/models: one file per training, bayes-<version>.json.gz."""
    return PlatformSettings().data / "scanner" / "models"


def new_version() -> str:
    """A model's version: when it was trained, UTC, to the microsecond, so that names sort by age."""
    return datetime.now(UTC).strftime("%Y%m%dT%H%M%S.%fZ")


def model_path(version: str) -> Path:
    return models_dir() / f"bayes-{version}.json.gz"


def default_model_path() -> Path:
    """SCANNER_BAYES_MODEL, else the newest model under <data dir>/scanner/models, else the
    unversioned <data dir>/scanner/bayes-model.json.gz earlier releases wrote."""
    explicit = os.environ.get(MODEL_ENV)
    if explicit:
        return Path(explicit)
    trained = sorted(models_dir().glob("bayes-*.json.gz"))
    return trained[-1] if trained else PlatformSettings().data / "scanner" / "bayes-model.json.gz"


def in_training_split(name: str) -> bool:
    """Decided by the file name alone, so every run (tests, benchmark, CLI) holds out the same 20 %."""
    return int(hashlib.sha256(name.encode("utf-8")).hexdigest()[:8], 16) % 100 < TRAIN_PERCENT


@dataclass(frozen=True)
class Labelled:
    name: str
    raw: bytes
    is_spam: bool


def corpus_split(root: Path | None = None, held_out: bool = False) -> Iterator[Labelled]:
    """The allowed groups' training part, or with held_out=True the other 20 %."""
    for group, is_spam in ((SPAM_GROUP, True), (HAM_GROUP, False)):
        for name, raw in corpus.messages(group, root):
            if in_training_split(name) != held_out:
                yield Labelled(name, raw, is_spam)


def feedback(folder: Path) -> Iterator[Labelled]:
    """A province's corrections: folder/spam/*.eml and folder/ham/*.eml (either may be missing)."""
    for sub, is_spam in (("spam", True), ("ham", False)):
        for path in sorted((folder / sub).glob("*.eml")):
            yield Labelled(f"{sub}/{path.name}", path.read_bytes(), is_spam)


def train(messages: Iterable[Labelled], metadata: dict | None = None, version: str | None = None) -> Model:
    """A model of `messages`; its metadata says when (version, trained_at), from what, and how many."""
    model = Model()
    for message in messages:
        model.learn(tokens(parse(message.raw)), message.is_spam)
    model.metadata = {
        "version": version or new_version(),
        "trained_at": datetime.now(UTC).isoformat(timespec="seconds"),
        **(metadata or {}),
        "sizes": {"spam": model.spam, "ham": model.ham, "tokens": len(model.counts)},
    }
    return model


@dataclass(frozen=True)
class Quality:
    spam: int
    ham: int
    true_positives: int  # spam scored as spam
    false_positives: int  # ham scored as spam

    @property
    def recall(self) -> float:
        return self.true_positives / self.spam if self.spam else 0.0

    @property
    def precision(self) -> float:
        flagged = self.true_positives + self.false_positives
        return self.true_positives / flagged if flagged else 0.0

    @property
    def false_positive_rate(self) -> float:
        return self.false_positives / self.ham if self.ham else 0.0


def evaluate(model: Model, messages: Iterable[Labelled], threshold: float = 0.9) -> Quality:
    """Counts a message as classified spam when its probability reaches `threshold` (BAYES_SPAM_90)."""
    spam = ham = tp = fp = 0
    for message in messages:
        probability, _ = model.score(tokens(parse(message.raw)))
        flagged = probability >= threshold
        if message.is_spam:
            spam, tp = spam + 1, tp + flagged
        else:
            ham, fp = ham + 1, fp + flagged
    return Quality(spam, ham, tp, fp)


def fold_of(name: str, folds: int) -> int:
    """Which of `folds` cross-validation folds a corpus file belongs to, by its name alone (stable across runs)."""
    return int(hashlib.sha256(f"fold:{name}".encode()).hexdigest()[:8], 16) % folds


def corpus_messages(root: Path | None = None) -> list[Labelled]:
    """Every message of both allowed groups, labelled."""
    return [Labelled(name, raw, is_spam) for group, is_spam in ((SPAM_GROUP, True), (HAM_GROUP, False))
            for name, raw in corpus.messages(group, root)]
