"""Finds the changes between two JSON Schemas of one topic that break readers of data already on the topic.

A topic version keeps its payloads for days to a year, so a newer model must still accept
every payload an older one accepted: fields may be added only as optional, enum values may
only be added, a field may only become optional or nullable. Anything narrower (a field
removed, retyped, or newly required) needs a new model and a new topic version.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

Schema = dict[str, Any]

# Keys that document a schema without changing which payloads it accepts.
ANNOTATIONS = frozenset({"description", "title", "default", "examples", "$comment"})
# Keys whose value maps names to schemas, so the names themselves must survive stripping.
NAMED_SCHEMAS = frozenset({"properties", "$defs"})
# Keys handled by the object comparison rather than by plain equality.
OBJECT_KEYS = frozenset({"properties", "required", "additionalProperties"})
REF_PREFIX = "#/$defs/"


@dataclass(frozen=True)
class Change:
    """One breaking change: where it is (`Model.field`) and what happened to it."""

    where: str
    what: str

    def __str__(self) -> str:
        return f"{self.where}: {self.what}"


def strip_annotations(schema: Any) -> Any:
    if isinstance(schema, list):
        return [strip_annotations(item) for item in schema]
    if not isinstance(schema, dict):
        return schema
    stripped: Schema = {}
    for key, value in schema.items():
        if key in ANNOTATIONS:
            continue
        if key in NAMED_SCHEMAS:
            stripped[key] = {name: strip_annotations(sub) for name, sub in value.items()}
        else:
            stripped[key] = strip_annotations(value)
    return stripped


class _Comparison:
    def __init__(self, old: Schema, new: Schema):
        self.root = old.get("title") or "<root>"
        self.old = strip_annotations(old)
        self.new = strip_annotations(new)
        self.old_defs: dict[str, Schema] = self.old.get("$defs", {})
        self.new_defs: dict[str, Schema] = self.new.get("$defs", {})

    def changes(self) -> list[Change]:
        found = self.object_changes(self.root, self.old, self.new)
        # Nested models are compared once here, by name, rather than at every field that uses them.
        for name in sorted(self.old_defs.keys() & self.new_defs.keys()):
            found += self.object_changes(name, self.old_defs[name], self.new_defs[name])
        return found

    def object_changes(self, where: str, old: Schema, new: Schema) -> list[Change]:
        found: list[Change] = []
        old_props: Schema = old.get("properties", {})
        new_props: Schema = new.get("properties", {})
        old_required = set(old.get("required", []))
        new_required = set(new.get("required", []))
        for name in sorted(old_props):
            if name not in new_props:
                found.append(Change(f"{where}.{name}", "removed"))
            elif not self.widens(old_props[name], new_props[name]):
                found.append(
                    Change(
                        f"{where}.{name}",
                        f"retyped from {describe(old_props[name])} to {describe(new_props[name])}",
                    )
                )
        for name in sorted(new_required - old_required):
            what = "became required" if name in old_props else "added as a required field"
            found.append(Change(f"{where}.{name}", what))
        if old.get("additionalProperties", True) is not False and new.get("additionalProperties") is False:
            found.append(Change(where, "no longer accepts unknown fields"))
        return found

    def widens(self, old: Any, new: Any) -> bool:
        """True when `new` accepts at least every value `old` accepts (judged structurally)."""
        if old == new:
            return True
        if not (isinstance(old, dict) and isinstance(new, dict)):
            return False
        if "anyOf" in old:
            return all(self.widens(branch, new) for branch in old["anyOf"])
        if "anyOf" in new:
            return any(self.widens(old, branch) for branch in new["anyOf"])
        if "$ref" in old or "$ref" in new:
            return self.ref_widens(old, new)
        old_values, new_values = allowed_values(old), allowed_values(new)
        if new_values is not None and (old_values is None or not set(old_values) <= set(new_values)):
            return False
        old_rest, new_rest = without_values(old), without_values(new)
        if "properties" in old_rest or "properties" in new_rest:
            return not self.object_changes("", old_rest, new_rest) and drop(old_rest, OBJECT_KEYS) == drop(
                new_rest, OBJECT_KEYS
            )
        if old_rest.keys() != new_rest.keys():
            return False
        return all(self.widens(old_rest[key], new_rest[key]) for key in old_rest)

    def ref_widens(self, old: Schema, new: Schema) -> bool:
        old_ref, new_ref = old.get("$ref"), new.get("$ref")
        if old_ref == new_ref:
            return True  # the definition itself is compared once, in changes()
        old_def = self.old_defs.get(ref_name(old_ref)) if old_ref else old
        new_def = self.new_defs.get(ref_name(new_ref)) if new_ref else new
        return old_def is not None and new_def is not None and self.widens(old_def, new_def)


def breaking_changes(old: Schema, new: Schema) -> list[Change]:
    """Every change from `old` to `new` that would reject a payload `old` accepted."""
    return _Comparison(old, new).changes()


def allowed_values(schema: Schema) -> list[Any] | None:
    if "const" in schema:
        return [schema["const"]]
    return schema.get("enum")


def without_values(schema: Schema) -> Schema:
    return drop(schema, {"const", "enum"})


def drop(schema: Schema, keys: frozenset[str] | set[str]) -> Schema:
    return {key: value for key, value in schema.items() if key not in keys}


def ref_name(ref: str) -> str:
    return ref.removeprefix(REF_PREFIX)


def describe(schema: Schema) -> str:
    """A short human form of a field's type for error messages: 'string', 'integer | null', 'MailInfo'."""
    if "$ref" in schema:
        return ref_name(schema["$ref"])
    if "anyOf" in schema:
        return " | ".join(describe(branch) for branch in schema["anyOf"])
    values = allowed_values(schema)
    if values is not None:
        return "one of " + ", ".join(repr(value) for value in values)
    kind = schema.get("type", "any")
    if kind == "array" and "items" in schema:
        return f"array of {describe(schema['items'])}"
    return str(kind)
