"""The metrics registry renders Prometheus text that Prometheus' own parser reads back with the same values."""

from __future__ import annotations

import asyncio
import math
import urllib.request

import pytest
from aiohttp import web
from prometheus_client.parser import text_string_to_metric_families

from services.common import metrics
from services.common.metrics import CONTENT_TYPE, Registry


def parsed(registry: Registry) -> dict[str, dict[tuple, float]]:
    """Samples by name, then by their sorted label pairs."""
    found: dict[str, dict[tuple, float]] = {}
    for family in text_string_to_metric_families(registry.exposition()):
        for sample in family.samples:
            found.setdefault(sample.name, {})[tuple(sorted(sample.labels.items()))] = sample.value
    return found


def test_counters_count_per_label_combination_and_survive_unicode_labels():
    registry = Registry()
    replies = registry.counter("smtp_replies_total", "Replies by code.", ["listener", "code"])
    domains = registry.counter("rejected_total", "Rejections by reason.", ["reason"])
    replies.labels(listener="mx", code="250").inc()
    replies.labels(listener="mx", code="250").inc(2)
    replies.labels(listener="submission", code="535").inc()
    # Label values are free text: quotes, backslashes, newlines and non-ASCII must round-trip.
    odd = 'Sở Thông tin "và" Truyền thông\\河内市\n第二行'
    domains.labels(reason=odd).inc(5)

    samples = parsed(registry)
    assert samples["smtp_replies_total"] == {
        (("code", "250"), ("listener", "mx")): 3.0,
        (("code", "535"), ("listener", "submission")): 1.0,
    }
    assert samples["rejected_total"] == {(("reason", odd),): 5.0}


def test_counter_refuses_to_fall_and_needs_total_suffix_and_its_labels():
    registry = Registry()
    counter = registry.counter("inputs_total", "Inputs.", ["service"])
    with pytest.raises(ValueError, match="only goes up"):
        counter.labels(service="scanner").inc(-1)
    with pytest.raises(ValueError, match="takes the labels"):
        counter.labels(topic="mail.received.v1")
    with pytest.raises(ValueError, match="needs its labels"):
        counter.inc()
    with pytest.raises(ValueError, match="_total"):
        registry.counter("inputs", "No suffix.")
    with pytest.raises(ValueError, match="registered twice"):
        registry.counter("inputs_total", "Again.")
    with pytest.raises(ValueError, match="valid Prometheus metric name"):
        registry.gauge("mail.received", "Dots are not allowed.")


def test_gauges_set_move_and_read_functions_at_scrape_time():
    registry = Registry()
    lag = registry.gauge("consumer_lag", "Lag.", ["topic", "partition"])
    depth = registry.gauge("spool_depth", "Spooled messages.")
    lag.labels(topic="mail.received.v1", partition=0).set(120)
    lag.labels(topic="mail.received.v1", partition=0).dec(20)
    backlog = {"n": 7}
    lag.labels(topic="mail.received.v1", partition=1).set_function(lambda: backlog["n"])
    depth.set(3)

    backlog["n"] = 42
    samples = parsed(registry)
    assert samples["consumer_lag"] == {
        (("partition", "0"), ("topic", "mail.received.v1")): 100.0,
        (("partition", "1"), ("topic", "mail.received.v1")): 42.0,
    }
    assert samples["spool_depth"] == {(): 3.0}


def test_histogram_buckets_are_cumulative_with_sum_count_and_inf():
    registry = Registry()
    seconds = registry.histogram("handle_seconds", "Handling time.", ["service"], buckets=[0.1, 1.0])
    for value in (0.05, 0.1, 0.5, 3.0):
        seconds.labels(service="scanner").observe(value)

    samples = parsed(registry)
    buckets = {dict(labels)["le"]: value for labels, value in samples["handle_seconds_bucket"].items()}
    assert buckets == {"0.1": 2.0, "1.0": 3.0, "+Inf": 4.0}
    assert samples["handle_seconds_sum"] == {(("service", "scanner"),): pytest.approx(3.65)}
    assert samples["handle_seconds_count"] == {(("service", "scanner"),): 4.0}
    with pytest.raises(ValueError, match="cannot be a label"):
        registry.histogram("bad_seconds", "le is the bucket label.", ["le"])


def test_exposition_declares_help_and_type_with_escapes():
    registry = Registry()
    registry.gauge("temperature", "First line\\second\nline.").set(math.inf)
    text = registry.exposition()
    assert "# HELP temperature First line\\\\second\\nline.\n" in text
    assert "# TYPE temperature gauge\n" in text
    assert "temperature +Inf\n" in text


def test_platform_metrics_are_registered_under_the_names_dashboards_use():
    names = {family.name for family in text_string_to_metric_families(metrics.REGISTRY.exposition())}
    # The parser drops the _total suffix from counter families.
    assert {
        "govmail_messages_in", "govmail_messages_out", "govmail_verdicts", "govmail_delivery_outcomes",
        "govmail_consumer_lag", "govmail_dead_letters", "govmail_smtp_replies", "govmail_handle_seconds",
    } <= names


async def test_metrics_endpoint_serves_the_registry_over_http():
    registry = Registry()
    registry.counter("verdicts_total", "Verdicts.", ["action"]).labels(action="reject").inc(9)
    app = web.Application()
    app.router.add_get("/metrics", registry.handler())
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]
    try:
        def scrape() -> tuple[str, str]:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as response:
                return response.headers["Content-Type"], response.read().decode("utf-8")

        content_type, body = await asyncio.to_thread(scrape)
    finally:
        await runner.cleanup()
    assert content_type == CONTENT_TYPE
    assert 'verdicts_total{action="reject"} 9.0' in body
