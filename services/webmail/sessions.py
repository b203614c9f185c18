"""Web sessions in Redis: a random token in the cookie, a CSRF token and a submission token per session."""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass

import redis.asyncio as aioredis

from services.ingress.auth import SUBMIT_TOKEN_PREFIX, submit_token_key

COOKIE = "gm_session"


def session_key(token: str) -> str:
    return f"gm:webmail:session:{token}"


@dataclass
class Session:
    token: str
    username: str
    csrf: str
    submit_token: str
    ip: str
    place: str
    must_change_password: bool
    epoch: int = 0  # the account's session_epoch at login: lifecycle raises it to end every session


class SessionStore:
    def __init__(self, client: aioredis.Redis, ttl: int):
        self.redis = client
        self.ttl = ttl

    async def create(self, username: str, ip: str, place: str, must_change_password: bool, epoch: int = 0) -> Session:
        session = Session(token=secrets.token_urlsafe(32), username=username.lower(),
                          csrf=secrets.token_urlsafe(32), submit_token=SUBMIT_TOKEN_PREFIX + secrets.token_urlsafe(32),
                          ip=ip, place=place, must_change_password=must_change_password, epoch=epoch)
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.hset(session_key(session.token), mapping={
                "username": session.username, "csrf": session.csrf, "submit_token": session.submit_token,
                "ip": ip, "place": place, "must_change_password": int(must_change_password), "epoch": epoch,
                "created_at": f"{time.time():.3f}"})
            pipe.expire(session_key(session.token), self.ttl)
            pipe.set(submit_token_key(session.submit_token), session.username, ex=self.ttl)
            await pipe.execute()
        return session

    async def get(self, token: str) -> Session | None:
        """The session, its lifetime (and its submission token's) renewed; None when unknown or expired."""
        if not token or len(token) > 100:
            return None
        raw = await self.redis.hgetall(session_key(token))
        if not raw or "username" not in raw:
            return None
        async with self.redis.pipeline(transaction=False) as pipe:
            pipe.expire(session_key(token), self.ttl)
            pipe.expire(submit_token_key(raw["submit_token"]), self.ttl)
            await pipe.execute()
        return Session(token=token, username=raw["username"], csrf=raw["csrf"], submit_token=raw["submit_token"],
                       ip=raw.get("ip", ""), place=raw.get("place", ""),
                       must_change_password=raw.get("must_change_password") == "1", epoch=int(raw.get("epoch") or 0))

    async def password_changed(self, session: Session, epoch: int) -> None:
        """The owner changed the password in this session: it goes on (at the account's new epoch), the others end."""
        await self.redis.hset(session_key(session.token), mapping={"must_change_password": 0, "epoch": epoch})

    async def destroy(self, session: Session) -> None:
        await self.redis.delete(session_key(session.token), submit_token_key(session.submit_token))
