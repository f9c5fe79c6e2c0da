"""The parent's side of the load-client processes: spawn, ask, gather, stop (all bounded)."""

from __future__ import annotations

import asyncio
import multiprocessing
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
from typing import Any

from app.tools.loadtest.worker import ClientSpec, WorkerPlan, run


class WorkerLostError(Exception):
    """A load-client process died or did not answer in time."""


def split(clients: list[ClientSpec], workers: int) -> list[list[ClientSpec]]:
    """Deal the clients out like cards, so each process holds every gateway and project."""
    return [clients[i::workers] for i in range(workers) if clients[i::workers]]


class Pool:
    def __init__(
        self, api: str, tokens: dict[int, str], clients: list[ClientSpec], workers: int
    ) -> None:
        # spawn, not fork: the parent already runs an event loop and an HTTP client.
        context = multiprocessing.get_context("spawn")
        self.pipes: list[Connection] = []
        # One question at a time; replies carry the question's number, so a reply left over by
        # a cancelled question (the progress ticker) is dropped instead of answering the next.
        self.lock = asyncio.Lock()
        self.seq = 0
        self.procs: list[BaseProcess] = []
        for share in split(clients, max(1, workers)):
            parent, child = context.Pipe()
            proc = context.Process(
                target=run, args=(child, WorkerPlan(api, tokens, share)), daemon=True
            )
            proc.start()
            child.close()
            self.pipes.append(parent)
            self.procs.append(proc)

    @property
    def pids(self) -> list[int]:
        return [p.pid for p in self.procs if p.pid is not None]

    async def ask(self, message: tuple[Any, ...], timeout_s: float) -> list[dict[str, Any]]:
        async with self.lock:
            self.seq += 1
            for pipe in self.pipes:
                pipe.send((self.seq, *message))
            return list(
                await asyncio.gather(*(self._reply(p, self.seq, timeout_s) for p in self.pipes))
            )

    @staticmethod
    async def _reply(pipe: Connection, seq: int, timeout_s: float) -> dict[str, Any]:
        for _ in range(16):
            ready = await asyncio.to_thread(pipe.poll, timeout_s)
            if not ready:
                raise WorkerLostError(f"a load-client process did not answer within {timeout_s} s")
            try:
                number, reply = pipe.recv()
            except EOFError:
                raise WorkerLostError("a load-client process died") from None
            if number == seq:
                return dict(reply)
        raise WorkerLostError("a load-client process answered out of turn")

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
