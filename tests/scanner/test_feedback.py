"""Users' spam / not-spam reports: the scanner keeps them from mail.feedback.v1, `train` learns from them, and the scanner takes up the newest model."""

from __future__ import annotations

import asyncio
import hashlib
import json
import subprocess
import uuid
from pathlib import Path

import pytest

from schemas.events import BlobRef, MailFeedback
from schemas.registry import FEEDBACK
from services.scanner.checks import bayes
from services.scanner.classifier import training
from services.scanner.classifier.model import Model
from tests.conftest import govmail_command
from tests.scanner.test_bayes import mail
from tests.scanner.test_scanner_service import BACKLOG_TOLERANT, read_topic, running_scanner


def report(ref: BlobRef, label: str, reporter: str = "leminhhieu@tiengiang.gov.vn") -> MailFeedback:
    return MailFeedback(producer="webmail", message_id=uuid.uuid4().hex, blob=ref, label=label, reporter=reporter,
                        mailbox=reporter, note="Thư rác — 垃圾邮件" if label == "spam" else "Không phải thư rác")


async def wait_for(condition, seconds: float = 60) -> None:
    async with asyncio.timeout(seconds):
        while not condition():
            await asyncio.sleep(0.2)


def tiny_corpus(root: Path) -> Path:
    for group, is_spam in ((training.SPAM_GROUP, True), (training.HAM_GROUP, False)):
        (root / group).mkdir(parents=True)
        for i in range(10):
            (root / group / f"{i:05d}.eml").write_bytes(mail(200 + i, is_spam))
    return root


async def test_reports_are_kept_trained_on_and_the_newest_model_is_taken_up(
    infra_parts, platform_env: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    env = {**platform_env, **BACKLOG_TOLERANT, "SCANNER_MODEL_REFRESH": "0.5"}
    env.pop(training.MODEL_ENV, None)
    data = Path(env["GOVMAIL_DATA_DIR"])
    reports = data / "scanner" / "feedback"
    spam, ham, changed = mail(1, True), mail(2, False), mail(3, True)
    digest = {name: hashlib.sha256(raw).hexdigest() for name, raw in (("spam", spam), ("ham", ham), ("changed", changed))}
    async with running_scanner(infra_parts.bootstrap, env, tmp_path) as scanner:
        refs = {name: scanner.store.put(raw) for name, raw in (("spam", spam), ("ham", ham), ("changed", changed))}
        first = report(refs["changed"], "spam", "zhangwei@backan.gov.vn")
        for event in (report(refs["spam"], "spam"), report(refs["ham"], "ham"), first,
                      report(refs["changed"], "ham", "zhangwei@backan.gov.vn")):  # the same reporter changes their mind
            await scanner.publisher.publish(FEEDBACK, event)
        lost = report(BlobRef(sha256="0" * 64, size=1, uri="file:///nowhere"), "spam")
        await scanner.publisher.publish(FEEDBACK, lost)

        await wait_for(lambda: (reports / "ham" / f"{digest['changed']}.eml").exists()
                       and (reports / "spam" / f"{digest['spam']}.eml").exists()
                       and (reports / "ham" / f"{digest['ham']}.eml").exists())
        assert (reports / "spam" / f"{digest['spam']}.eml").read_bytes() == spam
        assert not (reports / "spam" / f"{digest['changed']}.eml").exists()  # the latest report wins
        assert '"reporter": "leminhhieu@tiengiang.gov.vn"' in (reports / "spam" / f"{digest['spam']}.json").read_text()
        letters = await read_topic(infra_parts.bootstrap, f"{FEEDBACK}.dlq", {lost.message_id: None},
                                   lambda v: json.loads(v).get("message_id"))
        assert '"blob_missing"' in letters[lost.message_id].decode()

        # Train on a tiny corpus plus the kept reports: a new versioned model file.
        train_env = {**env, "GOVMAIL_CORPUS_DIR": str(tiny_corpus(tmp_path / "corpus"))}
        result = subprocess.run([*govmail_command("scanner"), "train", "--all"], env=train_env, capture_output=True,
                                text=True, timeout=120)
        assert result.returncode == 0, result.stderr
        (path,) = (data / "scanner" / "models").glob("bayes-*.json.gz")
        model = Model.load(path)
        assert (model.spam, model.ham) == (10 + 1, 10 + 2)
        assert model.metadata["feedback"] == [str(reports)]
        assert model.metadata["feedback_sizes"] == {"spam": 1, "ham": 2}
        version = model.metadata["version"]
        assert path.name == f"bayes-{version}.json.gz"

        # The running scanner takes up the new model without a restart.
        await wait_for(lambda: f'"version": "{version}"' in scanner.stderr.read_text(encoding="utf-8"))

    # Training again writes a second version beside the first; the newest is the one loaded.
    result = subprocess.run([*govmail_command("scanner"), "train", "--all", "--no-reports"], env=train_env,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    older, newer = sorted((data / "scanner" / "models").glob("bayes-*.json.gz"))
    assert older == path and Model.load(newer).metadata["feedback_sizes"] == {"spam": 0, "ham": 0}
    monkeypatch.setenv("GOVMAIL_DATA_DIR", str(data))
    monkeypatch.delenv(training.MODEL_ENV, raising=False)
    bayes.reset()
    try:
        assert bayes.load().metadata["version"] == Model.load(newer).metadata["version"]
    finally:
        bayes.reset()
