"""Wire models of the search context."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from app.kernel.web import ReadParams, Wire
from app.search.query import MAX_TERMS, MAX_TEXT, MIN_PREFIX
from app.search.views import MAX_LIMIT


class SearchParams(ReadParams):
    q: str = Field(
        default="",
        description=(
            "What to look for, as typed: words are matched whole except the last, which"
            f" matches as a prefix once it has {MIN_PREFIX} letters; only the first {MAX_TERMS}"
            f" words of the first {MAX_TEXT} characters count. Any text is accepted; text"
            " without words (or none) finds nothing."
        ),
    )
    limit: int = Field(default=20, ge=1, le=MAX_LIMIT)
    cursor: str | None = Field(
        default=None, max_length=200, description="The next_cursor of the previous page"
    )


class SearchHit(Wire):
    kind: Literal["project", "task"]
    id: str
    project_id: str = Field(description="The project itself, or the task's project")
    project_name: str
    title: str
    status: str
    in_title: bool = Field(
        description="Every word is in the title: these hits come first, then the others"
    )
    rank: float = Field(
        description="ts_rank of the hit: higher is better within in_title and without it;"
        " title outweighs text"
    )


class SearchOut(Wire):
    items: list[SearchHit]
    next_cursor: str | None
    terms: list[str] = Field(description="The words searched for, as the query understood them")
    as_of_position: int
