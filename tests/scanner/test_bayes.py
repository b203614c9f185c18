"""The Bayes classifier: tokens of Vietnamese and Chinese mail, training, the model file, the check and `train`."""

from __future__ import annotations

import gzip
import json
import subprocess
import sys
from collections.abc import Iterator
from email import policy
from email.headerregistry import Address
from email.message import EmailMessage
from pathlib import Path

import pytest

from services.scanner import config
from services.scanner.checks import bayes as bayes_check
from services.scanner.classifier import training
from services.scanner.classifier.model import FORMAT_VERSION, Model, ModelError
from services.scanner.classifier.tokens import MAX_TOKENS, text_tokens, tokens
from services.scanner.message import parse
from services.scanner.pipeline import Pipeline
from tests.conftest import govmail_command

SPAM_LINES = ["Khuyến mãi cực sốc, giảm giá 90% hôm nay!", "Trúng thưởng iPhone, nhấn vào link để nhận quà ngay",
              "限时优惠，点击领取免费礼品", "Vay tiền nhanh không cần thế chấp, lãi suất 0%"]
HAM_LINES = ["Kính gửi anh Lê Minh Hiếu, gửi anh báo cáo tháng 11 đính kèm.",
             "关于年度报告的通知：请各单位于12月5日前报送。", "Đề nghị các đơn vị rà soát danh bạ hộp thư công vụ.",
             "Giấy mời họp giao ban tuần, Đặng Thị Ưng chủ trì."]


def mail(i: int, spam: bool) -> bytes:
    m = EmailMessage(policy=policy.SMTP)
    if spam:
        m["From"] = Address("Khuyến Mãi Shop", f"deal{i}", "khuyenmai-sieure.biz")
        m["Subject"] = ["Khuyến mãi lớn", "恭喜您中奖了", "Trúng thưởng hôm nay"][i % 3]
        lines = SPAM_LINES[i % 4:] + SPAM_LINES[:i % 4]
        m.set_content("\n".join(lines))
        m.add_alternative(f"<html><body><p>{'</p><p>'.join(lines)}</p><a href='http://khuyenmai-sieure.biz/nhan-qua'>"
                      "Nhấn vào đây</a></body></html>", subtype="html")
    else:
        m["From"] = Address(["Nguyễn Văn Anh", "张伟", "Lê Minh Hiếu"][i % 3], f"can-bo{i}", "backan.gov.vn")
        m["Subject"] = ["Báo cáo tháng 11 — 关于年度报告的通知", "Giấy mời họp", "Công văn số 123/STTTT-VP"][i % 3]
        m.set_content("\n".join(HAM_LINES[i % 4:] + HAM_LINES[:i % 4]))
    m["To"] = Address("Lê Minh Hiếu", "leminhhieu", "tiengiang.gov.vn")
    m["Date"] = "Thu, 28 Nov 2024 09:15:00 +0700"
    m["Message-ID"] = f"<{'spam' if spam else 'ham'}-{i}@tiengiang.gov.vn>"
    return m.as_bytes()


def synthetic(count: int = 12) -> Iterator[training.Labelled]:
    for i in range(count):
        yield training.Labelled(f"spam-{i}", mail(i, True), True)
        yield training.Labelled(f"ham-{i}", mail(i, False), False)


@pytest.fixture(autouse=True)
def no_model_from_elsewhere() -> Iterator[None]:
    bayes_check.reset()
    yield
    bayes_check.reset()


def test_vietnamese_keeps_diacritics_adds_folded_forms_and_bigrams() -> None:
    found = text_tokens("Khuyến Mãi cho Đặng Thị Ưng")
    assert {"khuyến", "mãi", "khuyen", "mai", "khuyến mãi", "khuyen mai"} <= set(found)
    assert {"đặng", "dang", "ưng", "ung", "đặng thị", "dang thi"} <= set(found)
    assert all(t == t.lower() for t in found)


def test_english_gets_words_without_bigrams_and_long_strings_become_their_shape() -> None:
    found = text_tokens("Click here NOW " + "A" * 90)
    assert "click" in found and "now" in found
    assert not any(" " in t for t in found)
    assert "skip:a:90" in found


def test_chinese_runs_become_character_bigrams() -> None:
    found = text_tokens("关于年度报告的通知 张伟")
    assert found[:8] == ["关于", "于年", "年度", "度报", "报告", "告的", "的通", "通知"]
    assert "张伟" in found


def test_message_tokens_cover_subject_html_body_and_sender_domain() -> None:
    found = tokens(parse(mail(0, True)))
    assert "from:khuyenmai-sieure.biz" in found
    assert "subject:khuyến mãi" in found and "subject:khuyen" in found
    assert "url:khuyenmai-sieure.biz" in found
    assert "trúng" in found and "trung" in found and "优惠" in found
    assert not any(t.startswith("<") or "href" in t for t in found)  # the HTML markup is gone
    huge = parse(("Subject: x\r\n\r\n" + " ".join(f"w{i}" for i in range(10_000))).encode())
    assert len(tokens(huge)) == MAX_TOKENS


def test_trained_on_synthetic_mail_it_tells_spam_from_ham() -> None:
    model = training.train(synthetic())
    assert (model.spam, model.ham) == (12, 12)
    spam_p, clues = model.score(tokens(parse(mail(99, True))))
    ham_p, _ = model.score(tokens(parse(mail(99, False))))
    assert spam_p >= 0.99 and clues
    assert ham_p <= 0.01
    assert Model().score(tokens(parse(mail(1, True)))) == (0.5, [])  # an empty model has no opinion


def test_model_file_round_trip_and_refusals(tmp_path: Path) -> None:
    model = training.train(synthetic(4), {"corpus_groups": []})
    path = tmp_path / "m.json.gz"
    model.save(path)
    again = Model.load(path)
    assert (again.spam, again.ham, again.counts) == (model.spam, model.ham, model.counts)
    assert again.metadata["content_hash"] == model.content_hash()
    assert again.metadata["sizes"] == {"spam": 4, "ham": 4, "tokens": len(model.counts)}

    document = json.loads(gzip.decompress(path.read_bytes()))
    assert document["format_version"] == FORMAT_VERSION
    for change, message in ((lambda d: d.update(format_version=99), "format_version 99 is not supported"),
                            (lambda d: d["tokens"].update({"bịa đặt": [5, 0]}), "content hash mismatch")):
        altered = json.loads(json.dumps(document))
        change(altered)
        bad = tmp_path / "bad.json.gz"
        bad.write_bytes(gzip.compress(json.dumps(altered).encode()))
        with pytest.raises(ModelError, match=message):
            Model.load(bad)
    (tmp_path / "plain.json.gz").write_text("{}", encoding="utf-8")
    with pytest.raises(ModelError, match="not a gzip JSON model"):
        Model.load(tmp_path / "plain.json.gz")


async def test_check_bands_and_weights_in_the_pipeline() -> None:
    bayes_check.use(training.train(synthetic()))
    pipeline = Pipeline(config.load())
    spam = await pipeline.scan(mail(50, True))
    ham = await pipeline.scan(mail(50, False))
    spam_symbols = {s.name: s for s in spam.symbols}
    assert "BAYES_SPAM_99" in spam_symbols
    probability = spam_symbols["BAYES_SPAM_99"].options[0]
    assert probability.startswith("p=") and float(probability[2:]) >= 0.99
    # Alone, the strongest spam band marks the message as spam but does not quarantine or reject it.
    assert spam.action == "add_header"
    assert "BAYES_HAM_01" in {s.name for s in ham.symbols} and ham.action == "accept"
    assert [bayes_check.band(p) for p in (0.995, 0.95, 0.8, 0.6, 0.5, 0.3, 0.05, 0.005)] == [
        "BAYES_SPAM_99", "BAYES_SPAM_90", "BAYES_SPAM_70", "BAYES_SPAM_50", None, None, "BAYES_HAM_10", "BAYES_HAM_01"]


async def test_missing_or_unusable_model_adds_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(training.MODEL_ENV, str(tmp_path / "absent.json.gz"))
    verdict = await Pipeline(config.load()).scan(mail(1, True))
    assert not any(s.name.startswith(("BAYES_", "CHECK_")) for s in verdict.symbols)
    (tmp_path / "old.json.gz").write_bytes(gzip.compress(b'{"format_version": 0}'))
    bayes_check.reset()
    assert bayes_check.load(tmp_path / "old.json.gz") is None


def write_eml(folder: Path, items: Iterator[training.Labelled]) -> None:
    for item in items:
        sub = folder / ("spam" if item.is_spam else "ham")
        sub.mkdir(parents=True, exist_ok=True)
        (sub / f"{item.name}.eml").write_bytes(item.raw)


def test_train_command_on_feedback_and_a_tiny_corpus(tmp_path: Path, platform_env: dict[str, str]) -> None:
    feedback = tmp_path / "feedback"
    write_eml(feedback, synthetic(6))
    corpus_root = tmp_path / "corpus"
    for group, is_spam in ((training.SPAM_GROUP, True), (training.HAM_GROUP, False)):
        (corpus_root / group).mkdir(parents=True)
        for i in range(10):
            (corpus_root / group / f"{i:05d}.eml").write_bytes(mail(100 + i, is_spam))
    env = {**platform_env, "GOVMAIL_CORPUS_DIR": str(corpus_root)}
    env.pop(training.MODEL_ENV, None)
    result = subprocess.run([*govmail_command("scanner"), "train", "--feedback", str(feedback)],
                            env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert '"event": "bayes_model_written"' in result.stderr
    (default,) = (Path(env["GOVMAIL_DATA_DIR"]) / "scanner" / "models").glob("bayes-*.json.gz")
    model = Model.load(default)
    assert default.name == f"bayes-{model.metadata['version']}.json.gz"
    held_out = sum(not training.in_training_split(f"{i:05d}") for i in range(10))
    assert (model.spam, model.ham) == (6 + 10 - held_out, 6 + 10 - held_out)
    assert model.metadata["corpus_groups"] == ["spam-1", "easy-ham-1"]
    assert model.metadata["feedback"] == [str(feedback)]
    assert model.metadata["feedback_sizes"] == {"spam": 6, "ham": 6}
    assert model.metadata["trained_at"]

    out = tmp_path / "feedback-only.json.gz"
    result = subprocess.run([*govmail_command("scanner"), "train", "--corpus", "none", "--feedback", str(feedback),
                             "--out", str(out)], env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert (Model.load(out).spam, Model.load(out).metadata["corpus_groups"]) == (6, [])
    result = subprocess.run([sys.executable, "-m", "services.scanner", "train", "--feedback", str(tmp_path / "nope")],
                            env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 2 and '"event": "feedback_missing"' in result.stderr


def test_on_the_allowed_corpus_the_held_out_fifth_is_classified_well() -> None:
    model = training.train(training.corpus_split())
    # 0.70 is the lowest band that marks a message as spam on its own (BAYES_SPAM_70, add_header).
    quality = training.evaluate(model, training.corpus_split(held_out=True), threshold=0.7)
    assert quality.spam > 80 and quality.ham > 400
    assert quality.recall >= 0.93, quality
    assert quality.false_positive_rate <= 0.005, quality
