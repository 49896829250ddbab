"""Prometheus metrics, in a registry owned by one app (no process-wide state): requests by
route and status, latency, queue depth, frames processed, time per pipeline stage, jobs."""

from __future__ import annotations

import time
from collections.abc import Callable

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from starlette.types import ASGIApp, Message, Receive, Scope, Send

_LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300)
# Label values come from a fixed set, never from what a client sends: any token is a valid
# HTTP method, so unknown ones share one label (as do unknown paths: "unmatched").
_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter("shoptag_http_requests", "HTTP requests answered.",
                                ["method", "route", "status"], registry=self.registry)
        self.latency = Histogram("shoptag_http_request_duration_seconds", "Time to answer a request.",
                                 ["method", "route"], buckets=_LATENCY_BUCKETS, registry=self.registry)
        self.queue_depth = Gauge("shoptag_queue_depth", "Work waiting or running, by queue.",
                                 ["queue"], registry=self.registry)
        self.frames = Counter("shoptag_frames_processed", "Video frames sampled and matched.",
                              registry=self.registry)
        self.stage_seconds = Counter("shoptag_stage_seconds", "Time spent per pipeline stage.",
                                     ["stage"], registry=self.registry)
        self.jobs = Counter("shoptag_jobs_finished", "Async jobs finished, by outcome.", ["status"],
                            registry=self.registry)
        # Reasons are a fixed set (``api.webhook_applier.REASONS``), never a shop or a product.
        self.webhook_events = Counter(
            "shoptag_webhook_events", "Shopify webhook events applied, skipped, put back to be tried again "
            "(retried) or given up (failed), by reason.", ["outcome", "reason"], registry=self.registry)
        self.webhook_deliveries = Counter(
            "shoptag_webhook_deliveries", "Signed Shopify webhook deliveries, by answer (queued, duplicate, "
            "ignored; refused: the shop's queue was full, 429).", ["answer"], registry=self.registry)

    def watch_queue(self, name: str, depth: Callable[[], float]) -> None:
        """Report ``depth()`` as the queue's size at each scrape."""
        self.queue_depth.labels(name).set_function(depth)

    def record_tagging(self, frames: int, stage_seconds: dict[str, float]) -> None:
        self.frames.inc(frames)
        for stage, seconds in stage_seconds.items():
            self.stage_seconds.labels(stage).inc(seconds)

    def render(self) -> bytes:
        return generate_latest(self.registry)


class MetricsMiddleware:
    """Counts and times every HTTP request, labelled by its route template (never the raw
    path, so ids in paths cannot blow up the number of series) and its method (unknown methods
    as "other")."""

    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        status = 500
        started = time.perf_counter()

        async def recording_send(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, recording_send)
        finally:
            route = getattr(scope.get("route"), "path", "unmatched")
            method = scope["method"] if scope["method"] in _METHODS else "other"
            self.metrics.requests.labels(method, route, str(status)).inc()
            self.metrics.latency.labels(method, route).observe(time.perf_counter() - started)
