"""Within a topic version a model may only widen: the committed schemas guard it, and the comparison is exact."""

from __future__ import annotations

import json
import subprocess
from typing import Any, Literal

import pytest
from pydantic import BaseModel, ConfigDict, Field

from schemas import export
from schemas.compat import breaking_changes
from schemas.events import MailDelivery


def committed_versions(name: str) -> list[tuple[str, dict[str, Any]]]:
    """The schema file in the tree and, when git knows it, the copy in HEAD (catches a re-export before commit)."""
    path = export.schema_path(export.ROOT, name)
    versions = [("working tree", json.loads(path.read_text(encoding="utf-8")))]
    try:
        shown = subprocess.run(
            ["git", "show", f"HEAD:./{export.JSON_DIR}/{name}.json"],
            cwd=export.ROOT,
            capture_output=True,
            check=False,
        )
    except FileNotFoundError:  # no git: a source tarball; the tree copy is all there is
        return versions
    if shown.returncode == 0:
        versions.append(("git HEAD", json.loads(shown.stdout)))
    return versions


@pytest.mark.parametrize("name", list(export.schema_documents()))
def test_models_do_not_break_their_committed_schema(name: str) -> None:
    current = export.schema_documents()[name]
    for where, committed in committed_versions(name):
        changes = breaking_changes(committed, current)
        assert not changes, (
            f"{name}: breaking change against the schema in the {where}:\n"
            + "\n".join(f"  {change}" for change in changes)
            + "\nwithin a topic version only optional fields may be added; "
            "a breaking change needs a new model and a new topic version (e.g. .v2)"
        )


class Inner(BaseModel):
    model_config = ConfigDict(extra="forbid", title="Inner")
    sha256: str
    size: int


class Before(BaseModel):
    model_config = ConfigDict(extra="forbid", title="Event")
    subject: str = Field(description="Tiêu đề — 标题")
    size: int
    status: Literal["delivered", "bounced"]
    unit: str | None = None
    title: str = ""
    blob: Inner


def changes_to(model: type[BaseModel]) -> list[str]:
    return [str(change) for change in breaking_changes(Before.model_json_schema(), model.model_json_schema())]


def test_adding_an_optional_field_and_rewording_is_compatible() -> None:
    class After(Before):
        subject: str = Field(description="Subject, decoded")
        sender_unit: str | None = Field(None, description="Đơn vị gửi")

    assert changes_to(After) == []


def test_widening_an_enum_or_making_a_field_nullable_or_optional_is_compatible() -> None:
    class After(Before):
        status: Literal["delivered", "bounced", "deferred"]
        size: int | None = None

    assert changes_to(After) == []


def test_adding_a_required_field_is_breaking() -> None:
    class After(Before):
        priority: int

    assert changes_to(After) == ["Event.priority: added as a required field"]


def test_making_an_optional_field_required_is_breaking() -> None:
    class After(Before):
        unit: str | None

    assert changes_to(After) == ["Event.unit: became required"]


def test_removing_a_field_is_breaking_even_one_named_title() -> None:
    class After(BaseModel):
        model_config = ConfigDict(extra="forbid", title="Event")
        subject: str
        size: int
        status: Literal["delivered", "bounced"]
        unit: str | None = None
        blob: Inner

    assert changes_to(After) == ["Event.title: removed"]


def test_retyping_a_field_is_breaking() -> None:
    class After(Before):
        size: str

    assert changes_to(After) == ["Event.size: retyped from integer to string"]


def test_narrowing_an_enum_or_dropping_null_is_breaking() -> None:
    class After(Before):
        status: Literal["delivered"]
        unit: str = ""

    assert changes_to(After) == [
        "Event.status: retyped from one of 'delivered', 'bounced' to one of 'delivered'",
        "Event.unit: retyped from string | null to string",
    ]


def test_a_change_inside_a_nested_model_is_named_by_that_model() -> None:
    class Inner(BaseModel):  # same name and title as the original nested model
        model_config = ConfigDict(extra="forbid", title="Inner")
        sha256: str

    class After(Before):
        blob: Inner

    assert changes_to(After) == ["Inner.size: removed"]


def test_replacing_a_nested_model_with_another_shape_is_breaking() -> None:
    class Other(BaseModel):
        model_config = ConfigDict(extra="forbid", title="Other")
        uri: str

    class After(Before):
        blob: Other

    assert changes_to(After) == ["Event.blob: retyped from Inner to Other"]


def test_a_real_event_losing_a_status_value_is_caught() -> None:
    before = MailDelivery.model_json_schema()
    after = json.loads(json.dumps(before))
    after["properties"]["status"]["enum"].remove("dropped")
    assert [str(c) for c in breaking_changes(before, after)] == [
        "MailDelivery.status: retyped from one of 'delivered', 'deferred', 'bounced', 'quarantined', 'rejected', "
        "'dropped' to one of 'delivered', 'deferred', 'bounced', 'quarantined', 'rejected'"
    ]
