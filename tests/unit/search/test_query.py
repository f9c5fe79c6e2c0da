"""The user's text as a tsquery, and the page cursor (app/search/query.py)."""

from __future__ import annotations

import base64
import uuid

import pytest

from app.search.query import After, BadCursorError, decode_cursor, terms, to_tsquery_text


def test_the_last_word_is_a_prefix_from_three_letters_and_whole_below() -> None:
    assert to_tsquery_text(terms("Landing GEA")) == "'landing' & 'gea':*"
    assert to_tsquery_text(terms("landing ge")) == "'landing' & 'ge'"
    assert to_tsquery_text(terms("v2")) == "'v2'"
    assert to_tsquery_text(terms("a")) == "'a'"
    # Only the last word is ever a prefix; a short earlier word is whole as any earlier word.
    assert to_tsquery_text(terms("a plan")) == "'a' & 'plan':*"
    assert to_tsquery_text(terms("'); --")) == ""


def test_a_cursor_names_the_tier_and_round_trips_exactly() -> None:
    ref = str(uuid.uuid4())
    for after in (After(1, 0.6079271, "task", ref), After(2, 0.1, "project", ref)):
        assert decode_cursor(after.encode()) == after


@pytest.mark.parametrize(
    "raw",
    [
        "0.5|task|{ref}",  # before migration 0011: no tier
        "3|0.5|task|{ref}",
        "0|0.5|task|{ref}",
        "x|0.5|task|{ref}",
        "1|nan|task|{ref}",
        "1|-1|task|{ref}",
        "1|0.5|user|{ref}",
        "1|0.5|task|not-a-uuid",
    ],
)
def test_a_cursor_this_server_did_not_hand_out_is_refused(raw: str) -> None:
    text = raw.format(ref=uuid.uuid4()).encode()
    with pytest.raises(BadCursorError):
        decode_cursor(base64.urlsafe_b64encode(text).decode().rstrip("="))
