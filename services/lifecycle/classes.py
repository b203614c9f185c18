"""Service classes (R12): named quota, attachment limit and features, stored in Redis so a change applies at once."""

from __future__ import annotations

import re

from services.common.directory import FEATURES, SERVICE_CLASS_NAMES, ServiceClass, service_class_key
from services.lifecycle.admins import Admin
from services.lifecycle.errors import InvalidInput
from services.lifecycle.operations import Lifecycle
from services.lifecycle.outbox import OUTBOX

_NAME = re.compile(r"[a-z][a-z0-9_-]{0,31}")


class ServiceClasses:
    def __init__(self, core: Lifecycle):
        self.core = core
        self.redis = core.store.redis

    async def list(self, admin: Admin) -> list[ServiceClass]:
        await self.core.check(admin, "class.list")
        return [await self.core.store.service_class(name) for name in await self.core.class_names()]

    async def set(self, admin: Admin, name: str, quota_bytes: int, max_message_bytes: int,
                  features: list[str] | None = None) -> ServiceClass:
        """Create or change a class; ingress, delivery and webmail read it from Redis on their next message.

        `features` None keeps the class's features, or gives a new class every one.
        """
        async with self.core._action(admin, "class.set", name) as trace_id:
            await self.core.check(admin, "class.set")
            if not _NAME.fullmatch(name):
                raise InvalidInput("a class name is lower-case ASCII, e.g. 'standard' or 'leaders'")
            if quota_bytes <= 0 or max_message_bytes <= 0 or max_message_bytes > quota_bytes:
                raise InvalidInput("quota and message limit are positive, the limit no larger than the quota")
            if bad := sorted(set(features or []) - set(FEATURES)):
                raise InvalidInput(f"unknown features {', '.join(bad)}; known: {', '.join(FEATURES)}")
            old = await self.core.store.service_class(name) if name in await self.core.class_names() else None
            if features is None:
                features = old.features if old else list(FEATURES)
            new = ServiceClass(name=name, quota_bytes=quota_bytes, max_message_bytes=max_message_bytes,
                               features=sorted(set(features)))
            details = {**new.model_dump(), "before": old.model_dump() if old else None}
            events = [
                self.core._change(trace_id, admin, "service_class_set", "*", details=details),
                self.core._audit(trace_id, admin, "class.set", name, **details),
            ]
            fields = {**new.model_dump(exclude={"features"}), "features": ",".join(new.features)}
            async with self.redis.pipeline(transaction=True) as pipe:
                pipe.hset(service_class_key(name), mapping={k: str(v) for k, v in fields.items()})
                pipe.sadd(SERVICE_CLASS_NAMES, name)
                pipe.lpush(OUTBOX, *events)
                await pipe.execute()
            return new


