"""The scanner's configuration as data: symbol scores, groups and action thresholds from TOML."""

from __future__ import annotations

import hashlib
import json
import tomllib
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, ValidationError, model_validator

from schemas.events import Action

SHIPPED = Path(__file__).with_name("scanner.toml")

# Weakest first: a symbol's action is a floor, and the verdict takes the strongest that applies.
SEVERITY: dict[str, int] = {"accept": 0, "add_header": 1, "quarantine": 2, "reject": 3}


class ConfigError(Exception):
    """The scanner configuration cannot be read or is inconsistent; the scanner must not start."""


class Thresholds(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reject: float
    quarantine: float
    add_header: float

    @model_validator(mode="after")
    def ordered(self) -> Thresholds:
        if not self.add_header <= self.quarantine <= self.reject:
            raise ValueError("thresholds must satisfy add_header <= quarantine <= reject")
        return self

    def action_for(self, score: float) -> Action:
        if score >= self.reject:
            return "reject"
        if score >= self.quarantine:
            return "quarantine"
        if score >= self.add_header:
            return "add_header"
        return "accept"


class Group(BaseModel):
    model_config = ConfigDict(extra="forbid")

    description: str
    max_score: float | None = Field(None, description="Most the group's symbols add to the total together.")


class SymbolRule(BaseModel):
    model_config = ConfigDict(extra="forbid")

    group: str
    score: float
    description: str
    action: Action | None = Field(None, description="Least action a message gets when this symbol fires.")


# A symbol no rule describes still shows in the verdict, with no weight.
UNKNOWN = SymbolRule(group="", score=0.0, description="Not described in the scanner configuration.")


class ScannerConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    actions: Thresholds
    groups: dict[str, Group]
    symbols: dict[str, SymbolRule]
    _digest: str = PrivateAttr("")

    @model_validator(mode="after")
    def groups_exist(self) -> ScannerConfig:
        unknown = sorted({r.group for r in self.symbols.values()} - set(self.groups))
        if unknown:
            raise ValueError(f"symbols refer to undefined groups: {', '.join(unknown)}")
        return self

    @property
    def digest(self) -> str:
        """Short fingerprint of the effective configuration, so a verdict can be traced to it."""
        return self._digest

    def rule(self, name: str) -> SymbolRule | None:
        """The rule for a symbol: its exact entry, else the longest matching `PREFIX*` entry."""
        if name in self.symbols:
            return self.symbols[name]
        patterns = [k for k in self.symbols if k.endswith("*") and name.startswith(k[:-1])]
        return self.symbols[max(patterns, key=len)] if patterns else None

    def capped(self, group: str, total: float) -> float:
        cap = self.groups[group].max_score if group in self.groups else None
        return total if cap is None else min(total, cap)


def merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    """Tables merge key by key; any other value in the override replaces the base's."""
    out = dict(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = merge(out[key], value)
        else:
            out[key] = value
    return out


def read_toml(path: Path) -> dict[str, Any]:
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(f"{path}: {exc.strerror or exc}") from exc
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from exc


def load(override: Path | None = None) -> ScannerConfig:
    """The shipped configuration, with the operator's file merged over it when one is given."""
    data = read_toml(SHIPPED)
    if override is not None:
        data = merge(data, read_toml(override))
    try:
        config = ScannerConfig.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(f"{override or SHIPPED}: {exc}") from exc
    canonical = json.dumps(data, sort_keys=True, ensure_ascii=False).encode("utf-8")
    config._digest = hashlib.sha256(canonical).hexdigest()[:12]
    return config
