"""Names the admin API shares with its clients (kept light so the CLI starts fast): headers, token file, schemes, roles."""

from __future__ import annotations

from pathlib import Path

# Optional: the person at the terminal, percent-encoded UTF-8, recorded beside the authenticated
# administrator (useful when several operators share the bootstrap token). It grants nothing.
ADMIN_HEADER = "X-Govmail-Admin"

# Administrators authenticate with `Authorization: Bearer <token>`; the CLI takes the token from
# --token, then GOVMAIL_ADMIN_TOKEN, then the bootstrap token file in the data dir.
TOKEN_ENV = "GOVMAIL_ADMIN_TOKEN"


def token_file(data_dir: Path) -> Path:
    """Where the lifecycle service writes the province administrator's bootstrap token on first start."""
    return data_dir / "secrets" / "admin.token"


SCHEMES = ("tiengiang", "backan", "pinyin")
DEFAULT_SCHEME = "tiengiang"

UNIT_KINDS = ("unit", "agency", "department", "division", "district", "commune")

# province: the information centre; unit: one unit's subtree; auditor: audit log and statistics only.
ROLES = ("province", "unit", "auditor")

RIGHTS = ("view", "send_on_behalf", "send_as")
