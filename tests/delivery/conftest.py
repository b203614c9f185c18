"""Delivery's fixtures: the shared local DNS server, retried when its random UDP port is taken on TCP."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.dnsserver import LocalDNS


@pytest.fixture
def local_dns() -> Iterator[LocalDNS]:
    # LocalDNS binds TCP on the port the kernel gave its UDP socket; on a busy machine some other
    # connection may already hold that TCP port (EADDRINUSE), so try a few ports.
    for attempt in range(20):
        try:
            server = LocalDNS()
            break
        except OSError:
            if attempt == 19:
                raise
    yield server
    server.close()
