"""Prometheus metrics of one service, on 127.0.0.1 at ``--metrics-port`` (off by default).

Calls, errors and latency by method come from wrapping the object's exposed methods once
at start; the state's figures (miners per bucket, pending reasons, eliminations, the last
refresh's age and duration) are read from the service when Prometheus scrapes, so they are
never stale and cost nothing between scrapes.
"""

from __future__ import annotations

import functools
import inspect
import time
from collections.abc import Callable, Iterator, Mapping
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram, start_http_server
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

# What a service reports on each scrape: name -> (help, value or {label value: value}).
Sample = Mapping[str, tuple[str, float | Mapping[str, float]]]
LATENCY_BUCKETS = (0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.05, 0.25, 1.0, 5.0)


class _StateCollector(Collector):
    def __init__(self, sample: Callable[[], Sample], label: str) -> None:
        self._sample = sample
        self._label = label

    def collect(self) -> Iterator[GaugeMetricFamily]:
        for name, (help_text, value) in self._sample().items():
            if isinstance(value, Mapping):
                family = GaugeMetricFamily(name, help_text, labels=[self._label])
                for label, figure in value.items():
                    family.add_metric([label], figure)
            else:
                family = GaugeMetricFamily(name, help_text, value=value)
            yield family


class ServiceMetrics:
    """The metrics of one service object; ``serve(port)`` publishes them."""

    def __init__(self, sample: Callable[[], Sample], label: str = "bucket") -> None:
        self.registry = CollectorRegistry()
        self.calls = Counter(
            "cpm_calls", "Calls served, by method", ["method"], registry=self.registry
        )
        self.errors = Counter(
            "cpm_call_errors",
            "Calls that raised, by method and error",
            ["method", "error"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "cpm_call_seconds",
            "Time to serve a call, by method",
            ["method"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.auth_refusals = Counter(
            "cpm_auth_refusals",
            "Connections refused for a missing or wrong token",
            registry=self.registry,
        )
        self.handshake_drops = Counter(
            "cpm_handshake_drops",
            "Connections dropped before their handshake was accepted, by reason",
            ["reason"],
            registry=self.registry,
        )
        self.registry.register(_StateCollector(sample, label))

    def instrument(self, obj: object) -> None:
        """Time and count every exposed method of ``obj`` (instance attributes win)."""
        for name, method in inspect.getmembers(obj, inspect.ismethod):
            if getattr(method, "_pyroExposed", False):
                setattr(obj, name, self._measured(name, method))

    def _measured(self, name: str, method: Callable[..., Any]) -> Callable[..., Any]:
        calls, errors, latency = (
            self.calls.labels(name),
            self.errors,
            self.latency.labels(name),
        )

        @functools.wraps(method)
        def measured(*args: Any, **kwargs: Any) -> Any:
            started = time.perf_counter()
            try:
                return method(*args, **kwargs)
            except Exception as exc:
                errors.labels(name, type(exc).__name__).inc()
                raise
            finally:
                calls.inc()
                latency.observe(time.perf_counter() - started)

        return measured

    def serve(self, port: int) -> None:
        """Publish on http://127.0.0.1:``port``/metrics, from a daemon thread."""
        start_http_server(port, addr="127.0.0.1", registry=self.registry)
