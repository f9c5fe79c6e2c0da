"""The API's /metrics in Prometheus text: the relay, the projections and the process."""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.process_collector import ProcessCollector
from starlette.requests import Request
from starlette.responses import Response

from app.kernel.signals import CommitSignal
from app.relay.metrics import RelayCollector
from app.runtime import Runtime

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


class ProjectionCollector:
    def __init__(self, runtime: Runtime, signal: CommitSignal) -> None:
        self._runtime = runtime
        self._signal = signal

    def collect(self) -> Iterator[Metric]:
        head = GaugeMetricFamily(
            "collabspace_commit_head", "Highest position committed by this process"
        )
        head.add_metric([], float(self._signal.head))
        yield head
        runner = self._runtime.runner
        if runner is None:
            return
        checkpoint = GaugeMetricFamily(
            "collabspace_projection_checkpoint",
            "Position each projection has applied",
            labels=["projection"],
        )
        leading = GaugeMetricFamily(
            "collabspace_projection_leading",
            "1 if this process applies the projection",
            labels=["projection"],
        )
        for name, position in runner.positions.items():
            checkpoint.add_metric([name], float(position))
            leading.add_metric([name], float(name in runner.leading))
        yield checkpoint
        yield leading


def registry_for(runtime: Runtime, signal: CommitSignal) -> CollectorRegistry:
    # A private registry per app: no global state shared between apps in one process (tests).
    registry = CollectorRegistry(auto_describe=False)
    registry.register(ProcessCollector(registry=None))
    registry.register(ProjectionCollector(runtime, signal))
    if runtime.relay is not None:
        registry.register(RelayCollector(runtime.relay.metrics))
    return registry


async def metrics(request: Request) -> Response:
    registry: CollectorRegistry = request.state.metrics
    return Response(generate_latest(registry), media_type=CONTENT_TYPE)
