"""What a person typed, as a text-search query that cannot fail, and the opaque page cursor.

Nothing of the user's text reaches `to_tsquery` as syntax: the text is cut into words (runs of
letters and digits, in any script), each word becomes a quoted lexeme, and the words are joined
with `&`; the last word matches as a prefix (`:*`), for search as you type, once it has
MIN_PREFIX letters (a shorter one matches whole: "pr" as a prefix would read a good part of
the index, while "a" or "v2" are words people search for). Quotes, operators,
parentheses, backslashes and NULs are separators, never syntax, so every input is a valid
query (an input without words is an empty query, which finds nothing).
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import math
import re
import uuid

# Only so much of the text is read, and only so many words: a search box, not a document.
MAX_TEXT = 1000
MAX_TERMS = 8
MAX_TERM = 64
MIN_PREFIX = 3
_WORD = re.compile(r"[^\W_]+")

KINDS = ("project", "task")
# The two tiers of an answer (migration 0011): every word in the title, then the other matches.
TIERS = (1, 2)


class BadCursorError(ValueError):
    """A cursor this server did not hand out."""


def terms(text: str) -> list[str]:
    """The words of `text`, lower case, at most MAX_TERMS of at most MAX_TERM characters."""
    words = _WORD.findall(text[:MAX_TEXT].lower())
    return [word[:MAX_TERM] for word in words[:MAX_TERMS]]


def to_tsquery_text(words: list[str]) -> str:
    """`'alpha' & 'beta':*` for `["alpha", "beta"]`, `'alpha' & 'be'` for `["alpha", "be"]`;
    '' for no words."""
    if not words:
        return ""
    # The words hold letters and digits only: nothing in them needs escaping inside quotes.
    quoted = [f"'{word}'" for word in words]
    if len(words[-1]) >= MIN_PREFIX:
        quoted[-1] += ":*"
    return " & ".join(quoted)


@dataclasses.dataclass(frozen=True, slots=True)
class After:
    """The last hit of a page: the next page starts in its tier below its rank, then after its
    key, then goes on to the next tier."""

    tier: int
    rank: float
    kind: str
    ref_id: str

    def encode(self) -> str:
        # repr() of a float round-trips exactly, so the next page compares against the very
        # rank PostgreSQL computed (a `real`, widened to a double without loss).
        raw = f"{self.tier}|{self.rank!r}|{self.kind}|{self.ref_id}".encode()
        return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> After:
    """The position a `next_cursor` names; BadCursorError for anything else."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        tier_text, rank_text, kind, ref_id = raw.split("|")
        tier = int(tier_text)
        rank = float(rank_text)
        ref_id = str(uuid.UUID(ref_id))
    except (ValueError, binascii.Error, UnicodeDecodeError):
        raise BadCursorError(cursor) from None
    if tier not in TIERS or kind not in KINDS or not math.isfinite(rank) or rank < 0:
        raise BadCursorError(cursor)
    return After(tier, rank, kind, ref_id)
