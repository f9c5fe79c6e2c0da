"""The parent's side of the load-client processes: spawn, ask, gather, stop (all bounded)."""

from __future__ import annotations

import asyncio
import multiprocessing
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
from typing import Any

from app.loadtest.worker import ClientSpec, WorkerPlan, run


class WorkerLostError(Exception):
    """A load-client process died or did not answer in time."""


def split(clients: list[ClientSpec], workers: int) -> list[list[ClientSpec]]:
    """Deal the clients out like cards, so each process holds every gateway and project."""
    return [clients[i::workers] for i in range(workers) if clients[i::workers]]


class Pool:
    def __init__(self, api: str, tokens: dict[int, str], clients: list[ClientSpec],
                 workers: int) -> None:
        # spawn, not fork: the parent already runs an event loop and an HTTP client.
        context = multiprocessing.get_context("spawn")
        self.pipes: list[Connection] = []
        self.procs: list[BaseProcess] = []
        for share in split(clients, max(1, workers)):
            parent, child = context.Pipe()
            proc = context.Process(target=run, args=(child, WorkerPlan(api, tokens, share)),
                                   daemon=True)
            proc.start()
            child.close()
            self.pipes.append(parent)
            self.procs.append(proc)

    @property
    def pids(self) -> list[int]:
        return [p.pid for p in self.procs if p.pid is not None]

    async def ask(self, message: tuple[Any, ...], timeout_s: float) -> list[dict[str, Any]]:
        for pipe in self.pipes:
            pipe.send(message)
        return list(await asyncio.gather(*(self._reply(p, timeout_s) for p in self.pipes)))

    @staticmethod
    async def _reply(pipe: Connection, timeout_s: float) -> dict[str, Any]:
        ready = await asyncio.to_thread(pipe.poll, timeout_s)
        if not ready:
            raise WorkerLostError(f"a load-client process did not answer within {timeout_s} s")
        try:
            reply: dict[str, Any] = pipe.recv()
        except EOFError:
            raise WorkerLostError("a load-client process died") from None
        return reply

    async def close(self) -> None:
        try:
            await self.ask(("close",), 20)
        except (WorkerLostError, OSError):
            pass
        for proc in self.procs:
            await asyncio.to_thread(proc.join, 5)
            if proc.is_alive():
                proc.kill()
                await asyncio.to_thread(proc.join, 5)
        for pipe in self.pipes:
            pipe.close()
