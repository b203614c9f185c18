"""Prometheus metrics: a small registry of labelled counters, gauges and histograms, the platform's metric names, and /metrics."""

from __future__ import annotations

import math
import re
import threading
from collections.abc import Callable, Iterable, Sequence

from aiohttp import web

# Text exposition format 0.0.4, what every Prometheus server scrapes.
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

METRIC_NAME = re.compile(r"^[a-zA-Z_:][a-zA-Z0-9_:]*$")
LABEL_NAME = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]*$")

# Seconds: from a fast scan (milliseconds) to a large attachment written to a slow disk.
DEFAULT_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)


def format_value(value: float) -> str:
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    return repr(float(value))


def escape_label(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def escape_help(text: str) -> str:
    return text.replace("\\", "\\\\").replace("\n", "\\n")


def render_labels(pairs: Iterable[tuple[str, str]]) -> str:
    body = ",".join(f'{name}="{escape_label(value)}"' for name, value in pairs)
    return "{" + body + "}" if body else ""


class Metric:
    """One metric family: a name, a help text, label names, and one child per combination of label values."""

    kind = ""

    def __init__(self, name: str, help_: str, labels: Sequence[str] = ()):
        if not METRIC_NAME.match(name):
            raise ValueError(f"{name!r} is not a valid Prometheus metric name")
        for label in labels:
            if not LABEL_NAME.match(label) or label.startswith("__") or label in self.reserved_labels():
                raise ValueError(f"{label!r} cannot be a label of {name}")
        self.name = name
        self.help = help_
        self.label_names = tuple(labels)
        self._children: dict[tuple[str, ...], object] = {}
        self._lock = threading.Lock()

    @staticmethod
    def reserved_labels() -> tuple[str, ...]:
        return ()

    def new_child(self) -> object:
        raise NotImplementedError

    def labels(self, **values: object):
        if set(values) != set(self.label_names):
            raise ValueError(f"{self.name} takes the labels {list(self.label_names)}, got {sorted(values)}")
        key = tuple(str(values[name]) for name in self.label_names)
        with self._lock:
            child = self._children.get(key)
            if child is None:
                child = self._children[key] = self.new_child()
        return child

    def _unlabelled(self):
        if self.label_names:
            raise ValueError(f"{self.name} needs its labels {list(self.label_names)}")
        return self.labels()

    def samples(self) -> list[str]:
        raise NotImplementedError

    def exposition(self) -> str:
        lines = [f"# HELP {self.name} {escape_help(self.help)}", f"# TYPE {self.name} {self.kind}"]
        return "\n".join(lines + self.samples())

    def _items(self) -> list[tuple[tuple[tuple[str, str], ...], object]]:
        with self._lock:
            items = list(self._children.items())
        return [(tuple(zip(self.label_names, key, strict=True)), child) for key, child in sorted(items)]


class CounterChild:
    def __init__(self) -> None:
        self.value = 0.0
        self._lock = threading.Lock()

    def inc(self, amount: float = 1.0) -> None:
        if amount < 0:
            raise ValueError("a counter only goes up; use a gauge for values that fall")
        with self._lock:
            self.value += amount


class Counter(Metric):
    """Counts events since the process started; Prometheus' rate() takes care of restarts."""

    kind = "counter"

    def __init__(self, name: str, help_: str, labels: Sequence[str] = ()):
        if not name.endswith("_total"):
            raise ValueError(f"counter {name!r} must end in _total")
        super().__init__(name, help_, labels)

    def new_child(self) -> CounterChild:
        return CounterChild()

    def inc(self, amount: float = 1.0) -> None:
        self._unlabelled().inc(amount)

    def samples(self) -> list[str]:
        return [f"{self.name}{render_labels(pairs)} {format_value(child.value)}" for pairs, child in self._items()]


class GaugeChild:
    def __init__(self) -> None:
        self.value = 0.0
        self.function: Callable[[], float] | None = None

    def set(self, value: float) -> None:
        self.value = float(value)

    def inc(self, amount: float = 1.0) -> None:
        self.value += amount

    def dec(self, amount: float = 1.0) -> None:
        self.value -= amount

    def set_function(self, function: Callable[[], float]) -> None:
        """Read the value when scraped (consumer lag, queue sizes) instead of keeping it up to date."""
        self.function = function

    def read(self) -> float:
        return float(self.function()) if self.function else self.value


class Gauge(Metric):
    """A value that goes up and down."""

    kind = "gauge"

    def new_child(self) -> GaugeChild:
        return GaugeChild()

    def set(self, value: float) -> None:
        self._unlabelled().set(value)

    def samples(self) -> list[str]:
        return [f"{self.name}{render_labels(pairs)} {format_value(child.read())}" for pairs, child in self._items()]


class HistogramChild:
    def __init__(self, bounds: tuple[float, ...]) -> None:
        self.bounds = bounds
        self.counts = [0] * len(bounds)  # per bucket, not cumulative; made cumulative when rendered
        self.sum = 0.0
        self.count = 0
        self._lock = threading.Lock()

    def observe(self, value: float) -> None:
        with self._lock:
            self.sum += value
            self.count += 1
            for i, bound in enumerate(self.bounds):
                if value <= bound:
                    self.counts[i] += 1
                    break


class Histogram(Metric):
    """Distribution of durations or sizes in cumulative buckets, with their sum and count."""

    kind = "histogram"

    def __init__(self, name: str, help_: str, labels: Sequence[str] = (), buckets: Sequence[float] = DEFAULT_BUCKETS):
        bounds = tuple(sorted(float(b) for b in buckets))
        if not bounds or len(set(bounds)) != len(bounds):
            raise ValueError(f"{name}: buckets must be distinct and at least one")
        if bounds[-1] != math.inf:
            bounds += (math.inf,)
        self.bounds = bounds
        super().__init__(name, help_, labels)

    @staticmethod
    def reserved_labels() -> tuple[str, ...]:
        return ("le",)

    def new_child(self) -> HistogramChild:
        return HistogramChild(self.bounds)

    def observe(self, value: float) -> None:
        self._unlabelled().observe(value)

    def samples(self) -> list[str]:
        lines: list[str] = []
        for pairs, child in self._items():
            with child._lock:
                counts, total, count = list(child.counts), child.sum, child.count
            cumulative = 0
            for bound, n in zip(self.bounds, counts, strict=True):
                cumulative += n
                lines.append(f"{self.name}_bucket{render_labels(pairs + (('le', format_value(bound)),))} {cumulative}")
            lines.append(f"{self.name}_sum{render_labels(pairs)} {format_value(total)}")
            lines.append(f"{self.name}_count{render_labels(pairs)} {count}")
        return lines


class Registry:
    """The metrics of one process, rendered together for a scrape."""

    def __init__(self) -> None:
        self._metrics: dict[str, Metric] = {}
        self._lock = threading.Lock()

    def _add(self, metric: Metric) -> Metric:
        with self._lock:
            if metric.name in self._metrics:
                raise ValueError(f"metric {metric.name} is registered twice")
            self._metrics[metric.name] = metric
        return metric

    def counter(self, name: str, help_: str, labels: Sequence[str] = ()) -> Counter:
        return self._add(Counter(name, help_, labels))  # type: ignore[return-value]

    def gauge(self, name: str, help_: str, labels: Sequence[str] = ()) -> Gauge:
        return self._add(Gauge(name, help_, labels))  # type: ignore[return-value]

    def histogram(
        self, name: str, help_: str, labels: Sequence[str] = (), buckets: Sequence[float] = DEFAULT_BUCKETS
    ) -> Histogram:
        return self._add(Histogram(name, help_, labels, buckets))  # type: ignore[return-value]

    def exposition(self) -> str:
        with self._lock:
            metrics = sorted(self._metrics.values(), key=lambda m: m.name)
        return "".join(metric.exposition() + "\n" for metric in metrics)

    def handler(self) -> Callable[[web.Request], web.Response]:
        """An aiohttp handler serving this registry; `app.router.add_get("/metrics", REGISTRY.handler())`."""

        async def metrics(request: web.Request) -> web.Response:
            return web.Response(body=self.exposition().encode("utf-8"), headers={"Content-Type": CONTENT_TYPE})

        return metrics


REGISTRY = Registry()

# The platform's figures (names are what k8s/grafana/govmail.json and the PrometheusRule alerts read).
# Labels stay low-cardinality: services, topics, actions, outcomes, reply codes; never addresses or ids.
MESSAGES_IN = REGISTRY.counter(
    "govmail_messages_in_total", "Messages a service took in: accepted by ingress, records consumed by the others.",
    ["service", "topic"],
)
MESSAGES_OUT = REGISTRY.counter(
    "govmail_messages_out_total", "Events a service published and the broker acknowledged.", ["service", "topic"]
)
VERDICTS = REGISTRY.counter("govmail_verdicts_total", "Scanner verdicts by action.", ["action"])
DELIVERY_OUTCOMES = REGISTRY.counter(
    "govmail_delivery_outcomes_total", "Delivery outcomes per recipient (delivered, deferred, bounced, …).",
    ["outcome", "route"],
)
CONSUMER_LAG = REGISTRY.gauge(
    "govmail_consumer_lag", "Records of a partition not yet processed by this consumer group member.",
    ["service", "topic", "partition"],
)
DEAD_LETTERS = REGISTRY.counter(
    "govmail_dead_letters_total", "Inputs sent to a dead-letter topic, by the reason given.",
    ["service", "topic", "reason"],
)
SMTP_REPLIES = REGISTRY.counter(
    "govmail_smtp_replies_total", "SMTP replies ingress gave, by listener (mx, submission) and reply code.",
    ["listener", "code"],
)
HANDLE_SECONDS = REGISTRY.histogram(
    "govmail_handle_seconds", "Seconds one input took to handle, retries included.", ["service"]
)
