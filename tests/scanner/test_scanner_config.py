"""Scores, groups and thresholds are data: the shipped scanner.toml, merged with an operator's file."""

from __future__ import annotations

from pathlib import Path

import pytest

from services.scanner import config
from services.scanner.checks import CHECKS
from services.scanner.config import ConfigError
from services.scanner.pipeline import Pipeline
from tests.scanner.scanner_mail import SAMPLES


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "operator.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_shipped_config_describes_every_symbol_a_check_can_raise() -> None:
    shipped = config.load()
    for check in CHECKS:
        for name in (*check.symbols, f"CHECK_ERROR_{check.name.upper()}", f"CHECK_TIMEOUT_{check.name.upper()}"):
            rule = shipped.rule(name)
            assert rule is not None, name
            assert rule.description and rule.group in shipped.groups


def test_shipped_thresholds_and_forced_actions() -> None:
    shipped = config.load()
    assert shipped.actions.action_for(0) == "accept"
    assert shipped.actions.action_for(shipped.actions.add_header) == "add_header"
    assert shipped.actions.action_for(shipped.actions.quarantine) == "quarantine"
    assert shipped.actions.action_for(shipped.actions.reject) == "reject"
    assert shipped.rule("VIRUS_EICAR").action == "reject"
    assert shipped.rule("SPAM_GTUBE").action == "reject"
    assert shipped.rule("CHECK_TIMEOUT_VIRUS").action == "quarantine"


def test_wildcard_rules_prefer_the_longest_prefix(tmp_path: Path) -> None:
    cfg = config.load(write(tmp_path, """
[symbols."CHECK_ERROR_VIRUS*"]
group = "virus"
score = 15.0
description = "The virus check failed: treat as a likely virus."
"""))
    assert cfg.rule("CHECK_ERROR_VIRUS").group == "virus"
    assert cfg.rule("CHECK_ERROR_GTUBE").group == "check"
    assert cfg.rule("NOT_DESCRIBED") is None


async def test_operator_file_overrides_only_what_it_names(tmp_path: Path) -> None:
    raw = (SAMPLES / "malformed-mime.eml").read_bytes()
    assert (await Pipeline(config.load()).scan(raw)).action == "accept"
    cfg = config.load(write(tmp_path, "[symbols.MIME_BAD]\nscore = 7.5\n\n[groups.mime]\nmax_score = 8.0\n"))
    assert cfg.rule("MIME_BAD").description  # the shipped description is kept
    assert cfg.rule("SPAM_GTUBE").score == config.load().rule("SPAM_GTUBE").score
    verdict = await Pipeline(cfg).scan(raw)
    assert (verdict.action, verdict.score, verdict.required_score) == ("add_header", 7.5, 6.0)


async def test_group_cap_limits_what_a_group_adds(tmp_path: Path) -> None:
    cfg = config.load(write(tmp_path, "[symbols.MIME_BAD]\nscore = 7.5\n"))  # mime group caps at 5
    verdict = await Pipeline(cfg).scan((SAMPLES / "malformed-mime.eml").read_bytes())
    assert verdict.symbols[0].score == 7.5
    assert (verdict.score, verdict.action) == (5.0, "accept")


async def test_forced_action_holds_whatever_the_thresholds(tmp_path: Path) -> None:
    cfg = config.load(write(tmp_path, "[actions]\nreject = 300\nquarantine = 200\nadd_header = 100\n"))
    verdict = await Pipeline(cfg).scan((SAMPLES / "gtube.eml").read_bytes())
    assert verdict.score < verdict.required_score == 100
    assert verdict.action == "reject"


async def test_action_accept_takes_the_floor_away(tmp_path: Path) -> None:
    cfg = config.load(write(tmp_path, '[symbols.SPAM_GTUBE]\naction = "accept"\nscore = 7.0\n'))
    verdict = await Pipeline(cfg).scan((SAMPLES / "gtube.eml").read_bytes())
    assert (verdict.action, verdict.score) == ("add_header", 7.0)


def test_version_names_the_configuration(tmp_path: Path) -> None:
    shipped = Pipeline(config.load()).version
    changed = Pipeline(config.load(write(tmp_path, "[actions]\nadd_header = 5.0\n"))).version
    assert shipped != changed
    assert shipped.split("+")[0] == changed.split("+")[0]


@pytest.mark.parametrize(
    ("text", "complaint"),
    [
        ("[actions]\nquarantine = 20.0\n", "add_header <= quarantine <= reject"),
        ('[symbols.SPAM_NEW]\ngroup = "nope"\nscore = 1.0\ndescription = "x"\n', "undefined groups: nope"),
        ('[symbols.SPAM_GTUBE]\naction = "drop"\n', "action"),
        ("[symbols.SPAM_GTUBE]\nweight = 3\n", "weight"),
        ("[actions\nreject = 1\n", "not valid TOML"),
    ],
    ids=["thresholds-out-of-order", "unknown-group", "unknown-action", "unknown-key", "broken-toml"],
)
def test_bad_operator_file_is_refused(tmp_path: Path, text: str, complaint: str) -> None:
    path = write(tmp_path, text)
    with pytest.raises(ConfigError, match="operator.toml") as caught:
        config.load(path)
    assert complaint in str(caught.value)


def test_missing_operator_file_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="No such file"):
        config.load(tmp_path / "absent.toml")
