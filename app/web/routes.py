"""Serves the live board page at `/` and its modules under `/static/` (no build step)."""

from __future__ import annotations

from pathlib import Path

from starlette.requests import Request
from starlette.responses import FileResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles

STATIC_DIR = Path(__file__).parent / "static"

# The modules change with every deploy and are small: revalidate instead of caching blindly.
_NO_CACHE = {"Cache-Control": "no-cache"}


async def index(request: Request) -> Response:
    return FileResponse(STATIC_DIR / "index.html", headers=_NO_CACHE)


class _RevalidatedStatic(StaticFiles):
    def file_response(self, *args: object, **kwargs: object) -> Response:
        response = super().file_response(*args, **kwargs)  # type: ignore[arg-type]
        response.headers.update(_NO_CACHE)
        return response


def routes() -> list[BaseRoute]:
    return [
        Route("/", index, methods=["GET", "HEAD"]),
        Mount("/static", app=_RevalidatedStatic(directory=STATIC_DIR), name="static"),
    ]
