"""The directory readers other services rely on: rename aliases, delegation grants and stored service classes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from services.common.directory import (
    Grant,
    RedisDirectory,
    alias_key,
    grants_key,
    service_class_key,
)


async def test_alias_grant_and_service_class_are_read_as_lifecycle_writes_them(redis_client, infra_parts):
    directory = RedisDirectory.from_url(infra_parts.redis_url)
    now = datetime(2026, 11, 21, 8, 0, tzinfo=UTC)
    try:
        redis_client.set(alias_key("NguyenVanAnh@tiengiang.gov.vn"), "anhnv@tiengiang.gov.vn")
        assert await directory.canonical("nguyenvananh@tiengiang.gov.vn") == "anhnv@tiengiang.gov.vn"
        assert await directory.canonical("lethihoa@tiengiang.gov.vn") == "lethihoa@tiengiang.gov.vn"

        grant = Grant(mailbox="stttt@tiengiang.gov.vn", grantee="lmhieu@tiengiang.gov.vn",
                      rights=["view", "send_on_behalf"], expires_at=(now + timedelta(days=1)).isoformat())
        redis_client.hset(grants_key(grant.mailbox), grant.grantee, grant.model_dump_json())
        found = await directory.grant("stttt@tiengiang.gov.vn", "LMHieu@tiengiang.gov.vn", now=now)
        assert found is not None and found.rights == ["view", "send_on_behalf"]
        assert await directory.grant("stttt@tiengiang.gov.vn", "lmhieu@tiengiang.gov.vn",
                                     now=now + timedelta(days=2)) is None
        assert await directory.grant("stttt@tiengiang.gov.vn", "other@tiengiang.gov.vn", now=now) is None

        assert (await directory.service_class("basic")).max_message_bytes == 3 * 1024**2
        directory.class_cache_seconds = 0  # read again at once, as a process does after the cache period
        redis_client.hset(service_class_key("basic"), mapping={
            "name": "basic", "quota_bytes": 20 * 1024**2, "max_message_bytes": 5 * 1024**2, "features": "recall,burn"})
        stored = await directory.service_class("basic")
        assert (stored.max_message_bytes, stored.features) == (5 * 1024**2, ["recall", "burn"])
    finally:
        await directory.close()
