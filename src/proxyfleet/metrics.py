"""What proxyfleet counts for `GET /metrics` (Prometheus' text format, prometheus-client).

Counters and histograms are kept per process in a `Metrics` the composition root builds:
checker verdicts per stage and outcome with their latency, scrapes per source and outcome,
leases granted, event deliveries per notifier and outcome, the gateway's requests (by way in
and outcome) and bytes, which the gateway counts in plain integers on its hot path and adds
here in one go at each flush and before each exposition. What the database knows (proxies
by status and protocol, live leases, deliveries waiting) is read when /metrics is asked and
passed to `exposition()` as gauges, so every process answers the same for those.

`serve --workers N` runs N processes behind one port: the CLI calls `use_directory()` before it
starts them, so each process writes its counters to files there (prometheus-client's
multiprocess mode) and whichever process answers /metrics adds them all up.

Imports prometheus-client and the standard library only.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Mapping
from pathlib import Path

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
    multiprocess,
)
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

MULTIPROCESS_ENV = "PROMETHEUS_MULTIPROC_DIR"
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
LATENCY_BUCKETS = (0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)


def use_directory(directory: Path) -> None:
    """Make the processes started from here on count into `directory` (emptied first: files
    of an earlier run would be added to this one's counts)."""
    shutil.rmtree(directory, ignore_errors=True)
    directory.mkdir(parents=True)
    os.environ[MULTIPROCESS_ENV] = str(directory)


def _multiprocess() -> bool:
    return bool(os.environ.get(MULTIPROCESS_ENV))


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.checks = Counter("proxyfleet_checks", "Checker verdicts by stage and outcome.",
                              ["stage", "outcome"], registry=self.registry)
        self.check_latency = Histogram(
            "proxyfleet_check_latency_seconds", "Latency of passed checks, by stage.",
            ["stage"], buckets=LATENCY_BUCKETS, registry=self.registry)
        self.scrapes = Counter("proxyfleet_scrapes", "Source scrapes by source and outcome.",
                               ["source_id", "outcome"], registry=self.registry)
        self.leases_granted = Counter("proxyfleet_leases_granted", "Leases granted.",
                                      registry=self.registry)
        self.deliveries = Counter(
            "proxyfleet_event_deliveries", "Event deliveries by notifier and outcome.",
            ["notifier_id", "notifier", "outcome"], registry=self.registry)
        self.gateway_requests = Counter(
            "proxyfleet_gateway_requests", "Requests to the rotating gateway by way in "
            "(http, connect, socks5, socks4) and outcome (ok, failed, refused_auth, "
            "rate_limited).", ["way", "outcome"], registry=self.registry)
        self.gateway_bytes = Counter(
            "proxyfleet_gateway_bytes", "Bytes the rotating gateway carried: up (from "
            "clients, handshakes included) and down (to clients from their targets).",
            ["direction"], registry=self.registry)

    def check(self, stage: int, passed: bool, latency_ms: float | None) -> None:
        label = str(stage)
        self.checks.labels(label, "passed" if passed else "failed").inc()
        if passed and latency_ms is not None:
            self.check_latency.labels(label).observe(latency_ms / 1000)

    def scrape(self, source_id: str, succeeded: bool) -> None:
        self.scrapes.labels(source_id, "success" if succeeded else "failure").inc()

    def lease_granted(self) -> None:
        self.leases_granted.inc()

    def delivery(self, notifier_id: str, notifier: str, succeeded: bool) -> None:
        self.deliveries.labels(notifier_id, notifier, "success" if succeeded else "failure").inc()

    def gateway_traffic(self, requests: Mapping[tuple[str, str], int], up: int,
                        down: int) -> None:
        """Add what the gateway carried since it last reported: requests by (way, outcome),
        bytes each way."""
        for (way, outcome), count in requests.items():
            self.gateway_requests.labels(way, outcome).inc(count)
        self.gateway_bytes.labels("up").inc(up)
        self.gateway_bytes.labels("down").inc(down)

    def exposition(self, gauges: Collector) -> bytes:
        """The text /metrics answers: this process's counters (all processes' in
        multiprocess mode) and the gauges read from the database."""
        if _multiprocess():
            counted = CollectorRegistry()
            multiprocess.MultiProcessCollector(counted)  # type: ignore[no-untyped-call]
        else:
            counted = self.registry
        read = CollectorRegistry()
        read.register(gauges)
        return generate_latest(counted) + generate_latest(read)


class DatabaseGauges(Collector):
    """Gauges read from the database just before an exposition."""

    def __init__(self, proxies: Mapping[tuple[str, str], int], live_leases: int,
                 deliveries_waiting: int) -> None:
        self._proxies = proxies
        self._live_leases = live_leases
        self._waiting = deliveries_waiting

    def collect(self) -> list[GaugeMetricFamily]:
        proxies = GaugeMetricFamily("proxyfleet_proxies", "Proxies by status and protocol.",
                                    labels=["status", "protocol"])
        for (status, protocol), count in sorted(self._proxies.items()):
            proxies.add_metric([status, protocol], count)
        return [proxies,
                GaugeMetricFamily("proxyfleet_leases_live", "Leases live now.",
                                  value=self._live_leases),
                GaugeMetricFamily("proxyfleet_event_deliveries_waiting",
                                  "Event deliveries not yet made (pending).",
                                  value=self._waiting)]
