"""The user's to-do list (R16): messages marked for action, with an optional due date, in one Redis hash."""

from __future__ import annotations

import json
import time

import redis.asyncio as aioredis


def todo_key(username: str) -> str:
    """Hash '<mailbox>/<folder>/<uid>' -> JSON {subject, sender, due, added_at}."""
    return f"gm:webmail:todo:{username.lower()}"


class Todos:
    def __init__(self, client: aioredis.Redis):
        self.redis = client

    async def add(self, user: str, mailbox: str, folder: str, uid: str, subject: str, sender: str, due: str) -> None:
        entry = {"subject": subject, "sender": sender, "due": due, "added_at": time.time()}
        await self.redis.hset(todo_key(user), f"{mailbox}/{folder}/{uid}", json.dumps(entry, ensure_ascii=False))

    async def refs(self, user: str) -> set[str]:
        return set(await self.redis.hkeys(todo_key(user)))

    async def items(self, user: str) -> list[dict]:
        """Soonest due first; items without a due date last, oldest first."""
        found = []
        for ref, raw in (await self.redis.hgetall(todo_key(user))).items():
            mailbox, _, rest = ref.partition("/")
            folder, _, uid = rest.rpartition("/")
            found.append({"ref": ref, "mailbox": mailbox, "folder": folder, "uid": uid, **json.loads(raw)})
        return sorted(found, key=lambda i: (i["due"] == "", i["due"], i["added_at"]))

    async def done(self, user: str, ref: str) -> None:
        await self.redis.hdel(todo_key(user), ref)
