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
_path: Path | None = None  # the file _model came from; None when put in place by use()


def use(model: Model | None) -> None:
    """Put a model in place (None: none), instead of the file; for tests and benchmarks."""
    global _loaded, _model, _path
    with _lock:
        _model, _loaded, _path = model, True, None


def reset() -> None:
    """Forget the model, so that the next message loads the file again."""
    global _loaded, _model, _path
    with _lock:
        _model, _loaded, _path = None, False, None


def read(path: Path) -> Model | None:
    """The model in `path`, or None (logged): a missing or unusable model never fails a message."""
    try:
        model = Model.load(path)
    except ModelError as exc:
        if not path.exists():
            logger.warning("bayes_model_missing", path=str(path))
        else:
            logger.error("bayes_model_invalid", path=str(path), error=str(exc))
        return None
    logger.info("bayes_model_loaded", path=str(path), version=model.metadata.get("version"), spam=model.spam,
                ham=model.ham, content_hash=model.metadata.get("content_hash"))
    return model


def refresh() -> bool:
    """Load the newest model if `govmail scanner train` wrote one since; True when it changed.

    The service calls this now and then from a worker thread, so a message never waits for a load.
    """
    global _loaded, _model, _path
    path = default_model_path()
    with _lock:
        if _loaded and path == _path:
            return False
    model = read(path)
    if model is None:  # keep what we have rather than lose the classifier to a bad file
        return False
    with _lock:
        _model, _loaded, _path = model, True, path
    return True


def load(path: Path | None = None) -> Model | None:
    """The model, read once: missing or unusable, the check adds nothing (logged once), never fails each message."""
    global _loaded, _model, _path
    with _lock:
        if _loaded:
            return _model
        path = path or default_model_path()
        _model, _loaded, _path = read(path), True, path
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
