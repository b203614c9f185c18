"""Dashboard, alerts and runbook speak of the metrics services/common/metrics.py really registers."""

from __future__ import annotations

import json
import re

from prometheus_client.parser import text_string_to_metric_families

from services.common.metrics import REGISTRY
from tests.k8s.conftest import ROOT, one

DASHBOARD = json.loads((ROOT / "k8s" / "grafana" / "govmail.json").read_text(encoding="utf-8"))
OPERATIONS = (ROOT / "docs" / "operations.md").read_text(encoding="utf-8")


def exposed_series() -> set[str]:
    """Every series name a scrape can return, after one sample of each metric exists."""
    names = set()
    for family in text_string_to_metric_families(REGISTRY.exposition()):
        if family.type == "counter":
            names.add(family.name + "_total")
        elif family.type == "histogram":
            names |= {family.name + suffix for suffix in ("_bucket", "_sum", "_count")}
        else:
            names.add(family.name)
    return names


def govmail_names(expression: str) -> set[str]:
    return set(re.findall(r"\bgovmail_[a-z_]+", expression))


def test_every_dashboard_query_reads_a_registered_metric():
    expressions = [t["expr"] for panel in DASHBOARD["panels"] for t in panel["targets"]]
    used = set().union(*map(govmail_names, expressions))
    assert used and used <= exposed_series(), used - exposed_series()
    # Each figure the issue asks for has a panel.
    for metric in ("govmail_messages_in_total", "govmail_messages_out_total", "govmail_verdicts_total",
                   "govmail_delivery_outcomes_total", "govmail_consumer_lag", "govmail_dead_letters_total",
                   "govmail_smtp_replies_total"):
        assert metric in used, metric
    ids = [panel["id"] for panel in DASHBOARD["panels"]]
    assert len(ids) == len(set(ids))


def test_every_alert_reads_registered_metrics_and_is_explained_in_the_runbook(rendered):
    rules = one(rendered["province"], "PrometheusRule", "govmail")
    alerts = [rule for group in rules["spec"]["groups"] for rule in group["rules"]]
    assert alerts
    for alert in alerts:
        assert govmail_names(alert["expr"]) <= exposed_series(), alert["alert"]
        assert alert["labels"]["severity"] in ("info", "warning", "critical")
        anchor = alert["annotations"]["runbook"].split("#")[1]
        assert re.search(rf"^#+ .*\{{#{anchor}\}}|^#+ {anchor.replace('-', '[ -]')}", OPERATIONS, re.M | re.I), anchor
        assert f"`{alert['alert']}`" in OPERATIONS, f"{alert['alert']} is not explained in docs/operations.md"


def test_prometheus_scrapes_every_service_on_the_port_that_serves_metrics(rendered):
    monitors = [r for r in rendered["province"] if r["kind"] == "PodMonitor"]
    scraped: dict[str, str] = {}
    for monitor in monitors:
        selector = monitor["spec"]["selector"]
        names = selector.get("matchLabels", {}).get("app.kubernetes.io/name")
        names = [names] if names else selector["matchExpressions"][0]["values"]
        (endpoint,) = monitor["spec"]["podMetricsEndpoints"]
        assert endpoint["path"] == "/metrics"
        for name in names:
            assert name not in scraped, f"{name} scraped twice"
            scraped[name] = endpoint["port"]
    for name, port in scraped.items():
        container = one(rendered["province"], "Deployment", name)["spec"]["template"]["spec"]["containers"][0]
        # /metrics lives beside /healthz, on the port the liveness probe uses.
        assert container["livenessProbe"]["httpGet"]["port"] == port, name
    deployments = {r["metadata"]["name"] for r in rendered["province"] if r["kind"] == "Deployment"}
    assert set(scraped) == deployments
