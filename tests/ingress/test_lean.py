"""The lean SMTP class parses MAIL and RCPT paths exactly as aiosmtpd does."""

from __future__ import annotations

import asyncio

import pytest
from aiosmtpd.smtp import SMTP

from services.ingress.lean import LeanSMTP

ARGS = [
    "<vanthu@tiengiang.gov.vn>", "<vanthu@tiengiang.gov.vn> SIZE=2048 BODY=8BITMIME",
    "<a.b-c+d@x.y.z>  \t SMTPUTF8 ", "<a@b>(comment) SIZE=1", "<a@b> (comment) SIZE=1", "<a@b>   ",
    "<a@b>\x0bSIZE=1", "<a@b>\x0b", "<a@b>SIZE=1", "<>", "<a..b@c>", "<.a@b>", "<a@b.>", "<\"quoted local\"@b>",
    "<@route:a@b>", "a@b", " <a@b>", "<a@b", "<nguyễn@tiengiang.gov.vn>", "<张伟@gd.gov.cn>", "<=?utf-8?q?x?=@b>",
    "<a@[127.0.0.1]>", "<a b@c>", "<a@b c>", "<" + "l" * 70 + "@b>", "<a@b> =?x?=", "",
]


@pytest.mark.parametrize("local_part_limit", [0, 64])
def test_paths_are_parsed_as_aiosmtpd_parses_them(local_part_limit: int) -> None:
    async def both() -> list[tuple[object, object]]:
        lean, plain = LeanSMTP(object()), SMTP(object())
        lean.local_part_limit = plain.local_part_limit = local_part_limit
        return [(lean._getaddr(arg), plain._getaddr(arg)) for arg in ARGS]

    for ours, theirs in asyncio.run(both()):
        assert ours == theirs

