"""The trained model: token counts, Robinson's per-token probabilities with chi-square combining, and its file."""

from __future__ import annotations

import gzip
import hashlib
import json
import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from services.scanner.classifier.tokens import TOKENIZER_VERSION

FORMAT_VERSION = 1
# Robinson's strength of the prior (as in SpamBayes): how many messages' worth of evidence a
# token needs before its own counts outweigh the neutral 0.5.
PRIOR_STRENGTH = 0.45
PRIOR = 0.5
# Tokens nearer than this to 0.5 say nothing; at most MAX_DISCRIMINATORS of the strongest vote.
MIN_DISTANCE = 0.1
MAX_DISCRIMINATORS = 150


class ModelError(ValueError):
    """A model file that cannot be used: unreadable, another format version, or other tokens."""


def chi2q(x2: float, degrees: int) -> float:
    """Probability that chi-square with `degrees` (even) degrees of freedom is at least x2."""
    m = x2 / 2.0
    term = total = math.exp(-m)
    for i in range(1, degrees // 2):
        term *= m / i
        total += term
    return min(total, 1.0)


@dataclass
class Model:
    spam: int = 0  # messages trained as spam
    ham: int = 0
    counts: dict[str, list[int]] = field(default_factory=dict)  # token → [spam messages, ham messages]
    metadata: dict[str, Any] = field(default_factory=dict)

    # The tokens far enough from 0.5 to vote, computed on first score after learning, since scoring
    # looks up a thousand tokens per message: token → its rank among all voters, strongest first
    # (ties by token), and by rank (token, probability, log p, log(1 - p)). A message's strongest
    # clues are then its smallest ranks: sorting integers, the logarithms already taken.
    _voters: dict[str, int] | None = field(default=None, repr=False, compare=False)
    _ranked: list[tuple[str, float, float, float]] = field(default_factory=list, repr=False, compare=False)

    def learn(self, token_set: Iterable[str], is_spam: bool) -> None:
        self._voters = None
        column = 0 if is_spam else 1
        for token in token_set:
            self.counts.setdefault(token, [0, 0])[column] += 1
        if is_spam:
            self.spam += 1
        else:
            self.ham += 1

    def token_probability(self, token: str) -> float | None:
        pair = self.counts.get(token)
        if pair is None:
            return None
        spam, ham = pair
        spam_ratio = spam / max(self.spam, 1)
        ham_ratio = ham / max(self.ham, 1)
        p = spam_ratio / (spam_ratio + ham_ratio)
        n = spam + ham
        return (PRIOR_STRENGTH * PRIOR + n * p) / (PRIOR_STRENGTH + n)

    def voters(self) -> dict[str, int]:
        if self._voters is None:
            strong = []
            for token in self.counts:
                f = self.token_probability(token)
                if f is not None and abs(f - 0.5) >= MIN_DISTANCE:
                    strong.append((-abs(f - 0.5), token, f))
            strong.sort()
            self._ranked = [(token, f, math.log(f), math.log1p(-f)) for _, token, f in strong]
            self._voters = {token: rank for rank, (token, *_) in enumerate(self._ranked)}
        return self._voters

    def score(self, token_set: Iterable[str]) -> tuple[float, list[str]]:
        """Spam probability in [0, 1] (0.5: no opinion) and the tokens that weighed most."""
        voters = self.voters()
        # The intersection in C (it walks the smaller side, the message's tokens), then the ranks.
        shared = voters.keys() & (token_set if isinstance(token_set, set | frozenset) else set(token_set))
        ranks = sorted(map(voters.__getitem__, shared))
        if not ranks:
            return 0.5, []
        clues = [self._ranked[rank] for rank in ranks[:MAX_DISCRIMINATORS]]
        # Fisher's method both ways: how unlikely the clues are if random, towards ham and towards spam.
        n = len(clues)
        ham_evidence = 1.0 - chi2q(-2.0 * sum(c[2] for c in clues), 2 * n)
        spam_evidence = 1.0 - chi2q(-2.0 * sum(c[3] for c in clues), 2 * n)
        return (1.0 + spam_evidence - ham_evidence) / 2.0, [c[0] for c in clues[:5]]

    def content_hash(self) -> str:
        canonical = json.dumps([self.spam, self.ham, sorted(self.counts.items())], ensure_ascii=False,
                               separators=(",", ":"))
        return hashlib.sha256(canonical.encode("utf-8")).hexdigest()

    def save(self, path: Path) -> None:
        document = {
            "format_version": FORMAT_VERSION,
            "tokenizer_version": TOKENIZER_VERSION,
            "messages": {"spam": self.spam, "ham": self.ham},
            "metadata": {**self.metadata, "content_hash": self.content_hash()},
            "tokens": dict(sorted(self.counts.items())),
        }
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_name(path.name + ".partial")
        # mtime=0: the same training gives the same bytes.
        with partial.open("wb") as raw, gzip.GzipFile(fileobj=raw, mode="wb", mtime=0) as out:
            out.write(json.dumps(document, ensure_ascii=False, separators=(",", ":")).encode("utf-8"))
        partial.replace(path)  # the scanner never sees half a file

    @classmethod
    def load(cls, path: Path) -> Model:
        try:
            with gzip.open(path, "rb") as source:
                document = json.loads(source.read().decode("utf-8"))
        except (OSError, EOFError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise ModelError(f"{path}: not a gzip JSON model: {exc}") from exc
        if not isinstance(document, dict):
            raise ModelError(f"{path}: not a model (the JSON is not an object)")
        version = document.get("format_version")
        if version != FORMAT_VERSION:
            raise ModelError(f"{path}: format_version {version!r} is not supported (this scanner reads "
                             f"{FORMAT_VERSION}); train again with `govmail scanner train`")
        if document.get("tokenizer_version") != TOKENIZER_VERSION:
            raise ModelError(f"{path}: tokenizer_version {document.get('tokenizer_version')!r} differs from "
                             f"{TOKENIZER_VERSION}; train again with `govmail scanner train`")
        try:
            model = cls(spam=int(document["messages"]["spam"]), ham=int(document["messages"]["ham"]),
                        counts={str(t): [int(c[0]), int(c[1])] for t, c in document["tokens"].items()},
                        metadata=dict(document.get("metadata", {})))
        except (KeyError, TypeError, ValueError, IndexError) as exc:
            raise ModelError(f"{path}: malformed model: {type(exc).__name__}: {exc}") from exc
        stored = model.metadata.get("content_hash")
        if stored != model.content_hash():
            raise ModelError(f"{path}: content hash mismatch: the file was altered or truncated")
        return model
