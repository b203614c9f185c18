"""The analysts' SQL endpoint: one SELECT (or WITH … SELECT) statement, run with ClickHouse's readonly setting."""

from __future__ import annotations

import re
from typing import Any

from clickhouse_connect.driver.client import Client

from services.analytics.migrations import split_statements

# Limits for a query typed by a person: ClickHouse stops it rather than the service.
LIMITS = {"readonly": 1, "max_execution_time": 30, "max_result_rows": 100_000, "result_overflow_mode": "break"}
FIRST_WORD = re.compile(r"^\s*\(*\s*([A-Za-z]+)")


class RefusedQuery(ValueError):
    """The text is not one read-only query."""


def check(sql: str) -> str:
    """The one statement of `sql` if it is a SELECT or WITH query; comments are dropped."""
    statements = split_statements(sql)
    if len(statements) != 1:
        raise RefusedQuery(f"send exactly one statement, not {len(statements)}")
    statement = statements[0]
    match = FIRST_WORD.match(statement)
    if not match or match.group(1).upper() not in ("SELECT", "WITH"):
        raise RefusedQuery("only SELECT and WITH queries are allowed")
    return statement


def run(client: Client, sql: str) -> dict[str, Any]:
    """Columns, their types and the rows, as JSON-ready values; the engine itself refuses any write."""
    result = client.query(check(sql), settings=LIMITS)
    types = [t.name for t in result.column_types]
    rows = [[value if isinstance(value, int | float | str | bool | type(None)) else str(value) for value in row]
            for row in result.result_rows]
    return {"columns": list(result.column_names), "types": types, "rows": rows}
