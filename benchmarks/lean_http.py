"""A minimal HTTP/1.1 keep-alive client for load generation.

httpx spends ~0.5 ms of CPU per request in Python; on this 2-core machine the load generator
shares the cores with the API and PostgreSQL, so a heavy client depresses the very rate it
measures. This one writes the request bytes and reads the status line, headers and a
Content-Length body from one asyncio stream: tens of microseconds per request. It only speaks
what uvicorn answers a JSON API with (no chunked bodies, no redirects, no TLS).
"""

from __future__ import annotations

import asyncio
from typing import Any

import orjson


class LeanClient:
    def __init__(self, host: str, port: int, headers: dict[str, str] | None = None) -> None:
        self._host = host
        self._port = port
        extra = "".join(f"{k}: {v}\r\n" for k, v in (headers or {}).items())
        self._fixed = f"Host: {host}:{port}\r\n{extra}".encode()
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None

    async def __aenter__(self) -> LeanClient:
        self._reader, self._writer = await asyncio.open_connection(self._host, self._port)
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._writer is not None:
            self._writer.close()
            await self._writer.wait_closed()

    async def request(self, method: str, path: str, json: Any = None) -> tuple[int, bytes]:
        assert self._reader is not None and self._writer is not None
        body = b"" if json is None else orjson.dumps(json)
        head = f"{method} {path} HTTP/1.1\r\n".encode() + self._fixed
        if json is not None:
            head += b"Content-Type: application/json\r\n"
        head += b"Content-Length: %d\r\n\r\n" % len(body)
        self._writer.write(head + body)
        raw = await self._reader.readuntil(b"\r\n\r\n")
        lines = raw.split(b"\r\n")
        status = int(lines[0].split(b" ", 2)[1])
        length = 0
        for line in lines[1:]:
            name, _, value = line.partition(b":")
            lowered = name.lower()
            if lowered == b"content-length":
                length = int(value)
            elif lowered == b"transfer-encoding":
                raise RuntimeError("chunked responses are not supported by the lean client")
        return status, await self._reader.readexactly(length) if length else b""
