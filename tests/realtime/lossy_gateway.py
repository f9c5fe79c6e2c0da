"""A real gateway process on a lossy broker, for tests only (`python <this file>`).

Configured from the environment like `python -m realtime`, plus `LOSSY_EVERY_N` (drop every Nth
event message, see lossy_broker.py). Its drops are counted on the node's own /metrics as
`collabspace_gateway_test_drops_total`.
"""

from __future__ import annotations

import asyncio
import logging
import os
import sys
from pathlib import Path

from prometheus_client import Counter

sys.path.insert(0, str(Path(__file__).resolve().parent))  # run as a script: find lossy_broker

from lossy_broker import LossyBroker  # noqa: E402

from realtime.config import GatewayConfig  # noqa: E402
from realtime.main import broker_for, serve  # noqa: E402
from realtime.metrics import Metrics  # noqa: E402


async def run(config: GatewayConfig, every: int) -> None:
    metrics = Metrics()
    drops = Counter(
        "collabspace_gateway_test_drops",
        "Event messages the lossy broker dropped",
        registry=metrics.registry,
    )
    broker = LossyBroker(broker_for(config), every=every, on_drop=drops.inc)
    try:
        await serve(config, broker, metrics=metrics)
    finally:
        await broker.close()


def main() -> int:
    logging.basicConfig(level="INFO", format="%(asctime)s %(levelname)s %(name)s %(message)s")
    asyncio.run(run(GatewayConfig.from_env(), int(os.environ["LOSSY_EVERY_N"])))
    return 0


if __name__ == "__main__":
    sys.exit(main())
