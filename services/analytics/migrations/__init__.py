"""Versioned DDL of the analytics tables: `NNN_name.sql` files applied in order and recorded in `schema_migrations`.

A file that was applied is never edited (its checksum is recorded and checked); a change is a
new file. Statements are separated by `;` and written with IF NOT EXISTS / IF EXISTS so that a
migration interrupted half-way can simply run again.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from pathlib import Path

from clickhouse_connect.driver.client import Client

from services.analytics.warehouse import query_dicts

FOLDER = Path(__file__).resolve().parent
FILE_NAME = re.compile(r"^(\d{3})_([a-z0-9_]+)\.sql$")

LEDGER = """
CREATE TABLE IF NOT EXISTS schema_migrations
(
    version UInt32 COMMENT 'Number of the migration file (NNN of NNN_name.sql)',
    name String COMMENT 'Name part of the migration file',
    checksum String COMMENT 'SHA-256 of the file as it was applied; an applied file must not change',
    applied_at DateTime64(3, 'UTC') DEFAULT now64(3, 'UTC') COMMENT 'When the migration was applied, UTC'
)
ENGINE = ReplacingMergeTree
ORDER BY version
COMMENT 'Migrations of the analytics schema that have been applied'
"""


class MigrationError(RuntimeError):
    """The migration files and the database disagree; a person has to look."""


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    sql: str

    @property
    def checksum(self) -> str:
        return hashlib.sha256(self.sql.encode("utf-8")).hexdigest()

    @property
    def label(self) -> str:
        return f"{self.version:03d}_{self.name}"


def discover(folder: Path = FOLDER) -> list[Migration]:
    found: dict[int, Migration] = {}
    for path in sorted(folder.glob("*.sql")):
        match = FILE_NAME.match(path.name)
        if not match:
            raise MigrationError(f"{path.name}: migration files are named NNN_name.sql")
        version = int(match.group(1))
        if version in found:
            raise MigrationError(f"{path.name}: version {version:03d} is used by {found[version].label}.sql too")
        found[version] = Migration(version, match.group(2), path.read_text(encoding="utf-8"))
    return [found[v] for v in sorted(found)]


def split_statements(sql: str) -> list[str]:
    """Split a script on `;` outside quotes; `--` comments are dropped (the HTTP interface takes one statement at a time)."""
    statements: list[str] = []
    current: list[str] = []
    quote = ""
    i = 0
    while i < len(sql):
        ch = sql[i]
        if quote:
            current.append(ch)
            if ch == "\\" and i + 1 < len(sql):
                current.append(sql[i + 1])
                i += 1
            elif ch == quote:
                quote = ""
        elif ch in "'\"`":
            quote = ch
            current.append(ch)
        elif sql.startswith("--", i):
            end = sql.find("\n", i)
            i = len(sql) if end < 0 else end
            continue
        elif ch == ";":
            statements.append("".join(current))
            current = []
        else:
            current.append(ch)
        i += 1
    statements.append("".join(current))
    return [s.strip() for s in statements if s.strip()]


def applied(client: Client) -> dict[int, str]:
    """Applied versions and their checksums."""
    rows = query_dicts(client, "SELECT version, checksum FROM schema_migrations FINAL")
    return {row["version"]: row["checksum"] for row in rows}


def apply(client: Client, folder: Path = FOLDER) -> list[Migration]:
    """Apply the migrations not yet recorded, in order; returns those applied now."""
    client.command(LEDGER)
    done = applied(client)
    pending = []
    for migration in discover(folder):
        if migration.version in done:
            if done[migration.version] != migration.checksum:
                raise MigrationError(f"{migration.label}.sql changed after it was applied; add a new migration instead")
            continue
        pending.append(migration)
    for migration in pending:
        for statement in split_statements(migration.sql):
            client.command(statement)
        client.insert(
            "schema_migrations",
            [[migration.version, migration.name, migration.checksum]],
            column_names=["version", "name", "checksum"],
        )
    return pending
