"""The ClickHouse input structure of an event model, derived from its pydantic fields, so that ClickHouse reads an event's JSON as strictly as the model does.

The analytics ingest hands the events' JSON to ClickHouse as they came off the bus; ClickHouse
parses them into a table of this structure and the row of each topic's table is selected from it.
Each field becomes the column type that refuses what the model refuses: a `str` takes no number,
a `Literal` is an Enum that takes no other word, a nested model is a named Tuple that must have
every element, and a required field may be neither null nor missing (with the reading settings
of `STRICT_JSON`). A field with a default must be present too: the services write every field,
and an event written otherwise is read by the model itself (see ingest.screen) and stored as the
model writes it.
"""

from __future__ import annotations

import types
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal, Union, get_args, get_origin

from pydantic import BaseModel

# How ClickHouse must read an event's JSON to be as strict as pydantic (see the module docstring).
STRICT_JSON = {
    "input_format_skip_unknown_fields": 1,  # the models ignore extra keys
    "input_format_json_ignore_unknown_keys_in_named_tuple": 1,
    "input_format_json_defaults_for_missing_elements_in_named_tuple": 0,
    "input_format_force_null_for_omitted_fields": 1,  # a missing field is null, which only a Nullable column takes
    "input_format_null_as_default": 0,
    "input_format_json_read_numbers_as_strings": 0,
    "input_format_json_read_bools_as_numbers": 0,
    "input_format_json_read_bools_as_strings": 0,
    "input_format_json_read_arrays_as_strings": 0,
    "input_format_json_read_objects_as_strings": 0,
    "date_time_input_format": "best_effort",  # RFC 3339 with a zone, as pydantic writes it
    # Parsed on one thread, so that an error names the row of the input it was found in.
    "input_format_parallel_parsing": 0,
}
# Times to the millisecond, as the tables keep them; a time without a zone is UTC, as on the bus.
TIME = "DateTime64(3, 'UTC')"
SCALARS = {str: "String", int: "Int64", float: "Float64", bool: "Bool", datetime: TIME}


class UnsupportedField(TypeError):
    """A model field whose type has no ClickHouse counterpart here yet."""


@dataclass(frozen=True)
class InputStructure:
    """The columns ClickHouse reads an event into, and the settings it reads them with."""

    columns: tuple[tuple[str, str], ...]
    # Fields that hold a free JSON object (dict[str, Any]): read as its text, checked to be an object.
    free_objects: tuple[str, ...] = ()

    @property
    def ddl(self) -> str:
        """The column list of a CREATE TABLE, with a check that each free object is an object."""
        parts = [f"{quote(name)} {kind}" for name, kind in self.columns]
        parts += [f"CONSTRAINT {name}_is_an_object CHECK startsWith({quote(name)}, '{{')" for name in self.free_objects]
        return ", ".join(parts)

    @property
    def settings(self) -> dict[str, Any]:
        # A free object can only be kept as text if objects may be read as strings; the check keeps it an object.
        return {**STRICT_JSON, "input_format_json_read_objects_as_strings": 1} if self.free_objects else STRICT_JSON


def quote(name: str) -> str:
    return f"`{name}`"


def structure(model: type[BaseModel], extra: tuple[tuple[str, str], ...] = ()) -> InputStructure:
    """The input structure of a model's JSON (plus `extra` columns the caller adds to each line)."""
    columns, free = [], []
    for name, field in model.model_fields.items():
        if field.annotation == dict[str, Any]:
            columns.append((name, "String"))
            free.append(name)
        else:
            columns.append((name, column_type(field.annotation)))
    return InputStructure(tuple(columns) + extra, tuple(free))


def column_type(annotation: Any) -> str:
    """The ClickHouse type that reads what pydantic accepts for `annotation` (or refuses more)."""
    origin, args = get_origin(annotation), get_args(annotation)
    if origin in (Union, types.UnionType):
        present = [a for a in args if a is not type(None)]
        if len(present) != 1 or len(args) != 2:
            raise UnsupportedField(f"only `X | None` unions are supported, not {annotation}")
        return f"Nullable({column_type(present[0])})"
    if origin is Literal:
        words = ", ".join(f"'{escape(word)}' = {number}" for number, word in enumerate(args, start=1))
        return f"Enum8({words})"
    if origin is list:
        return f"Array({column_type(args[0])})"
    if origin is dict and args[0] is str and args[1] in SCALARS:
        return f"Map(String, {SCALARS[args[1]]})"
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        elements = ", ".join(f"{quote(name)} {column_type(field.annotation)}"
                             for name, field in annotation.model_fields.items())
        return f"Tuple({elements})"
    if annotation in SCALARS:
        return SCALARS[annotation]
    raise UnsupportedField(f"no ClickHouse type for {annotation}")


def escape(word: str) -> str:
    return word.replace("\\", "\\\\").replace("'", "\\'")
