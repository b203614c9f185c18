"""Names the admin API shares with its clients (kept light so the CLI starts fast): header, schemes, unit kinds."""

from __future__ import annotations

# Who is acting, percent-encoded UTF-8; set by the admin CLI. Authentication comes with the lifecycle issue.
ADMIN_HEADER = "X-Govmail-Admin"

SCHEMES = ("tiengiang", "backan", "pinyin")
DEFAULT_SCHEME = "tiengiang"

UNIT_KINDS = ("unit", "agency", "department", "division", "district", "commune")
