"""The shared secret that proves an HTTP call comes from another part of the platform (webmail → delivery API)."""

from __future__ import annotations

import contextlib
import os
import secrets
from collections.abc import Mapping
from pathlib import Path

from services.common.settings import PlatformSettings

HEADER = "Authorization"
SCHEME = "Bearer "


def token_path(data_dir: Path) -> Path:
    return data_dir / "secrets" / "internal.token"


def internal_token(settings: PlatformSettings) -> str:
    """GOVMAIL_INTERNAL_TOKEN (a Kubernetes Secret), else the data dir's token file: on one machine every
    process shares the data dir, so the first one to ask makes the file and the others read it."""
    if settings.internal_token:
        return settings.internal_token
    path = token_path(settings.data)
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        draft = path.with_name(f".{path.name}.{os.getpid()}")
        draft.write_text(secrets.token_urlsafe(32))
        draft.chmod(0o600)
        # link() fails when another process got there first: then its token is the one.
        with contextlib.suppress(FileExistsError):
            os.link(draft, path)
        draft.unlink()
    return path.read_text().strip()


def credentials(token: str) -> dict[str, str]:
    return {HEADER: SCHEME + token}


def is_internal(headers: Mapping[str, str], token: str) -> bool:
    sent = headers.get(HEADER, "")
    return sent.startswith(SCHEME) and secrets.compare_digest(sent[len(SCHEME):].encode(), token.encode())
