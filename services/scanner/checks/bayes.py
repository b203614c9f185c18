"""BAYES_*: the statistical classifier's spam probability, in bands, from the model `govmail scanner train` wrote."""

from __future__ import annotations

import threading
from pathlib import Path

from services.common import logging as log
from services.scanner.check import Check, Findings
from services.scanner.classifier.model import Model, ModelError
from services.scanner.classifier.tokens import tokens
from services.scanner.classifier.training import default_model_path
from services.scanner.message import ParsedMail

logger = log.get(__name__)

# (lowest probability, symbol) for spam, (highest probability, symbol) for ham, strongest first.
SPAM_BANDS = ((0.99, "BAYES_SPAM_99"), (0.90, "BAYES_SPAM_90"), (0.70, "BAYES_SPAM_70"), (0.50, "BAYES_SPAM_50"))
HAM_BANDS = ((0.01, "BAYES_HAM_01"), (0.10, "BAYES_HAM_10"))

_lock = threading.Lock()
_loaded = False
_model: Model | None = None


def use(model: Model | None) -> None:
    """Put a model in place (None: none), instead of the file; for tests and benchmarks."""
    global _loaded, _model
    with _lock:
        _model, _loaded = model, True


def reset() -> None:
    """Forget the model, so that the next message loads the file again."""
    global _loaded, _model
    with _lock:
        _model, _loaded = None, False


def load(path: Path | None = None) -> Model | None:
    """The model, read once: missing or unusable, the check adds nothing (logged once), never fails each message."""
    global _loaded, _model
    with _lock:
        if _loaded:
            return _model
        path = path or default_model_path()
        try:
            _model = Model.load(path)
            logger.info("bayes_model_loaded", path=str(path), spam=_model.spam, ham=_model.ham,
                        content_hash=_model.metadata.get("content_hash"))
        except FileNotFoundError:
            logger.warning("bayes_model_missing", path=str(path))
        except ModelError as exc:
            logger.error("bayes_model_invalid", path=str(path), error=str(exc))
        _loaded = True
        return _model


def band(probability: float) -> str | None:
    if probability == 0.5:  # no clues, or as many for ham as for spam: no opinion
        return None
    for lowest, symbol in SPAM_BANDS:
        if probability >= lowest:
            return symbol
    for highest, symbol in HAM_BANDS:
        if probability <= highest:
            return symbol
    return None


def run(mail: ParsedMail, found: Findings) -> None:
    model = load()
    if model is None:
        return
    probability, clues = model.score(tokens(mail))
    symbol = band(probability)
    if symbol is not None:
        found.add(symbol, f"p={probability:.4f}", *(f"token={t}" for t in clues[:3]))


CHECK = Check("bayes", (*(s for _, s in SPAM_BANDS), *(s for _, s in HAM_BANDS)), run)
