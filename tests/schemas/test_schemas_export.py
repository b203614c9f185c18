"""The exported JSON Schema files and the README table match the code, and the exporter keeps them so."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from schemas import export
from schemas.registry import ALL_TOPICS, DLQ_TOPICS, TOPICS

REPO = export.ROOT.parent


def test_exported_files_match_a_fresh_export() -> None:
    stale = export.stale_files()
    assert not stale, "stale schema files, run `python -m schemas.export`:\n" + "\n".join(stale)


def test_exported_files_are_sorted_indented_utf8_with_a_trailing_newline() -> None:
    for path in sorted((export.ROOT / export.JSON_DIR).glob("*.json")):
        text = path.read_text(encoding="utf-8")
        assert text == json.dumps(json.loads(text), indent=2, sort_keys=True, ensure_ascii=False) + "\n", (
            path.name
        )


def test_export_is_deterministic() -> None:
    first = {name: export.render(doc) for name, doc in export.schema_documents().items()}
    second = {name: export.render(doc) for name, doc in export.schema_documents().items()}
    assert first == second


def test_dlq_topics_share_the_dead_letter_schema() -> None:
    names = {export.schema_name(topic) for topic in DLQ_TOPICS}
    assert names == {export.DEAD_LETTER}
    assert set(export.schema_documents()) == {*TOPICS, export.DEAD_LETTER}


def test_readme_table_lists_every_topic_with_its_key_and_model() -> None:
    readme = (export.ROOT / export.README).read_text(encoding="utf-8")
    for spec in ALL_TOPICS.values():
        row = next(line for line in readme.splitlines() if line.startswith(f"| `{spec.name}` |"))
        assert f"`{spec.key}`" in row
        assert f"[{spec.model.__name__}](json/{export.schema_name(spec.name)}.json)" in row


@pytest.fixture
def root(tmp_path: Path) -> Path:
    """A registry folder holding only the hand-written README, as before the first export."""
    shutil.copy(export.ROOT / export.README, tmp_path / export.README)
    return tmp_path


def test_check_lists_missing_files_then_write_creates_them(
    root: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert export.main(["--root", str(root), "--check"]) == 1
    err = capsys.readouterr().err
    assert "stale: json/mail.received.v1.json: missing" in err
    assert "stale: json/dead-letter.json: missing" in err
    assert "run `python -m schemas.export`" in err

    assert export.main(["--root", str(root)]) == 0
    assert "wrote: json/account.events.v1.json" in capsys.readouterr().out
    assert export.main(["--root", str(root), "--check"]) == 0
    for name in export.schema_documents():
        assert (root / "json" / f"{name}.json").read_bytes() == (
            export.ROOT / "json" / f"{name}.json"
        ).read_bytes()


def test_check_names_an_edited_file_and_an_unknown_one(
    root: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    export.write(root)
    edited = root / "json" / "auth.events.v1.json"
    edited.write_text(edited.read_text(encoding="utf-8").replace("Place from", "Nơi từ"), encoding="utf-8")
    (root / "json" / "mail.old.v0.json").write_text("{}\n", encoding="utf-8")

    assert export.main(["--root", str(root), "--check"]) == 1
    err = capsys.readouterr().err
    assert "stale: json/auth.events.v1.json: differs" in err
    assert "stale: json/mail.old.v0.json: unknown" in err
    assert "mail.received.v1.json" not in err

    assert export.main(["--root", str(root)]) == 0
    assert not (root / "json" / "mail.old.v0.json").exists()
    assert export.stale_files(root) == []


def test_check_reports_a_readme_without_the_table_markers(
    root: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (root / export.README).write_text("# Sổ đăng ký chủ đề — 主题注册表\n", encoding="utf-8")
    assert export.main(["--root", str(root), "--check"]) == 1
    assert "README.md" in capsys.readouterr().err
    assert export.main(["--root", str(root)]) == 2
    assert not (root / "json").exists()


def test_write_refuses_a_breaking_change(root: Path, capsys: pytest.CaptureFixture[str]) -> None:
    export.write(root)
    committed = root / "json" / "mail.received.v1.json"
    doc = json.loads(committed.read_text(encoding="utf-8"))
    # As if the committed model had a field the code no longer has.
    doc["properties"]["priority"] = {"type": "integer", "title": "Priority"}
    before = export.render(doc)
    committed.write_text(before, encoding="utf-8")

    assert export.main(["--root", str(root)]) == 2
    err = capsys.readouterr().err
    assert "breaking: mail.received.v1: MailReceived.priority: removed" in err
    assert "new model and topic version" in err
    assert committed.read_text(encoding="utf-8") == before

    assert export.main(["--root", str(root), "--allow-breaking"]) == 0
    assert export.stale_files(root) == []


def test_runs_as_a_module() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "schemas.export", "--check"],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
