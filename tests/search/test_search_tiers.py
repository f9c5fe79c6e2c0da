"""GET /search since migration 0011: every word in the title comes first, the cursor pages
across the two tiers, and a short last word matches whole (docs/search-and-reports.md)."""

from __future__ import annotations

import httpx

from tests.search.helpers import World
from tests.support import invite, sign_up


async def test_a_short_last_word_matches_whole_and_three_letters_start_a_prefix(
    client: httpx.AsyncClient,
) -> None:
    w = World(client)
    owner = await sign_up(client)
    pid = await w.project(owner, "Apollo")
    await w.task(owner, pid, "Release v2")
    await w.task(owner, pid, "Release v20")
    await w.task(owner, pid, "Plan a trip")
    # One or two letters would start thousands of words in a large tenant: they match whole.
    assert await w.found(owner, "ap") == []
    assert await w.found(owner, "apo") == ["Apollo"]
    assert await w.found(owner, "v2") == ["Release v2"]
    assert await w.found(owner, "release v") == []
    assert await w.found(owner, "a") == ["Plan a trip"]
    assert sorted(await w.found(owner, "rel")) == ["Release v2", "Release v20"]
    assert (await w.search(owner, "v2"))["terms"] == ["v2"]


async def test_hits_with_every_word_in_the_title_come_first_whatever_ts_rank_says(
    client: httpx.AsyncClient,
) -> None:
    w = World(client)
    owner = await sign_up(client)
    pid = await w.project(owner, "Hangar")
    await w.task(owner, pid, "Landing")
    # Four words starting "land" in the description outweigh one in a title for ts_rank.
    await w.task(owner, pid, "Paint the doors", "landing lander landed landings")
    found = (await w.search(owner, "land"))["items"]
    assert [(hit["title"], hit["in_title"]) for hit in found] == [
        ("Landing", True),
        ("Paint the doors", False),
    ]
    assert found[1]["rank"] > found[0]["rank"]
    await w.task(owner, pid, "Gear and wheel inspection")
    await w.task(owner, pid, "Gear", "inspection inspections inspector inspected")
    found = (await w.search(owner, "gear insp"))["items"]
    assert [(hit["title"], hit["in_title"]) for hit in found] == [
        ("Gear and wheel inspection", True),
        ("Gear", False),
    ]
    assert found[1]["rank"] > found[0]["rank"]


async def test_pages_cross_from_title_hits_to_the_others_without_repeats_or_gaps(
    client: httpx.AsyncClient,
) -> None:
    w = World(client)
    owner = await sign_up(client)
    mia = await invite(client, owner, "Mia")
    shared = await w.project(owner, "Savanna")
    private = await w.project(owner, "Reserve")
    await w.write("POST", f"/projects/{shared}/members", owner, {"user_id": mia["user_id"]})
    mine: set[str] = set()
    for i in range(7):
        # Equal ranks in each tier (ties across page boundaries), a few ranked higher.
        extra = " zebra" if i % 3 == 0 else ""
        mine.add(await w.task(owner, shared, f"Zebra crossing {i}{extra}"))
        mine.add(await w.task(owner, shared, f"Stripe {i}", f"a zebra{extra} was seen"))
        await w.task(owner, private, f"Zebra herd {i}", "zebra")
    for who, expected in ((owner, 21), (mia, 14)):
        seen: list[str] = []
        tiers: list[bool] = []
        ranks: dict[bool, list[float]] = {True: [], False: []}
        cursor = None
        while True:
            params = {"limit": 4} if cursor is None else {"limit": 4, "cursor": cursor}
            page = await w.search(who, "zebra", **params)
            for hit in page["items"]:
                seen.append(hit["id"])
                tiers.append(hit["in_title"])
                ranks[hit["in_title"]].append(hit["rank"])
            cursor = page["next_cursor"]
            if cursor is None:
                break
        assert len(seen) == expected == len(set(seen)), seen
        titled = tiers.count(True)
        assert tiers == [True] * titled + [False] * (expected - titled)
        assert titled == (14 if who is owner else 7)
        for tier in (True, False):
            assert ranks[tier] == sorted(ranks[tier], reverse=True)
        everything = await w.search(who, "zebra", limit=50)
        assert [hit["id"] for hit in everything["items"]] == seen
    assert set(seen) == mine
