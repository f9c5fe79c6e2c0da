"""GET /search over HTTP, as the app role under row-level security, against the live projection."""

from __future__ import annotations

import random

import httpx

from tests.integration.api_helpers import assert_problem
from tests.search.helpers import World
from tests.support import invite, sign_up


async def test_titles_outrank_descriptions_and_the_last_word_matches_as_a_prefix(
    client: httpx.AsyncClient,
) -> None:
    w = World(client)
    owner = await sign_up(client)
    pid = await w.project(owner, "Apollo", "A landing on the moon")
    await w.task(owner, pid, "Landing gear inspection")
    await w.task(owner, pid, "Paint the hangar", "after the landing lights are fixed")
    await w.task(owner, pid, "Order fuel")
    found = await w.search(owner, "landi")
    titles = [hit["title"] for hit in found["items"]]
    assert titles[0] == "Landing gear inspection"
    assert set(titles) == {"Landing gear inspection", "Paint the hangar", "Apollo"}
    ranks = [hit["rank"] for hit in found["items"]]
    assert ranks == sorted(ranks, reverse=True) and ranks[0] > ranks[-1]
    assert found["terms"] == ["landi"]
    task_hit = found["items"][0]
    assert task_hit["kind"] == "task" and task_hit["project_id"] == pid
    assert task_hit["project_name"] == "Apollo" and task_hit["status"] == "todo"
    # Earlier words match whole: "land" is not a word of any entry.
    assert await w.found(owner, "land gear") == []
    assert await w.found(owner, "LANDING gea") == ["Landing gear inspection"]
    assert await w.found(owner, "fuel") == ["Order fuel"]


async def test_edits_moves_renames_and_archives_reach_the_index(client: httpx.AsyncClient) -> None:
    w = World(client)
    owner = await sign_up(client)
    pid = await w.project(owner, "Hermes")
    tid = await w.task(owner, pid, "Draft the brochure")
    await w.write("PATCH", f"/tasks/{tid}", owner, {"title": "Print the leaflet"})
    await w.write("POST", f"/tasks/{tid}/move", owner, {"status": "in_progress"})
    await w.write("PATCH", f"/projects/{pid}", owner, {"name": "Mercury"})
    assert await w.found(owner, "brochure") == []
    (hit,) = (await w.search(owner, "leaflet"))["items"]
    assert (hit["status"], hit["project_name"]) == ("in_progress", "Mercury")
    assert await w.found(owner, "mercury") == ["Mercury"]
    assert await w.found(owner, "hermes") == []
    await w.write("POST", f"/tasks/{tid}/archive", owner)
    assert await w.found(owner, "leaflet") == []


async def test_members_find_only_their_projects_and_lose_them_when_removed(
    client: httpx.AsyncClient,
) -> None:
    w = World(client)
    owner = await sign_up(client, tenant="Scoped")
    mia = await invite(client, owner, "Mia")
    admin = await invite(client, owner, "Ada", role="admin")
    mine = await w.project(owner, "Comet shared")
    theirs = await w.project(owner, "Comet private")
    await w.task(owner, mine, "Comet tail survey")
    await w.task(owner, theirs, "Comet core sample")
    await w.write("POST", f"/projects/{mine}/members", owner, {"user_id": mia["user_id"]})
    assert sorted(await w.found(mia, "comet")) == ["Comet shared", "Comet tail survey"]
    assert len(await w.found(admin, "comet")) == 4
    assert len(await w.found(owner, "comet")) == 4
    await w.write("DELETE", f"/projects/{mine}/members/{mia['user_id']}", owner)
    assert await w.found(mia, "comet") == []
    # Another tenant with the very same words finds only its own.
    other = await sign_up(client, tenant="Elsewhere")
    await w.project(other, "Comet elsewhere")
    assert await w.found(other, "comet") == ["Comet elsewhere"]


async def test_pages_follow_the_cursor_without_repeats_or_gaps(client: httpx.AsyncClient) -> None:
    w = World(client)
    owner = await sign_up(client)
    pid = await w.project(owner, "Pager")
    for i in range(23):
        # Equal ranks for most (a tie across a page boundary), a few ranked higher.
        title = f"Zebra crossing {i}" + (" zebra zebra" if i % 7 == 0 else "")
        await w.task(owner, pid, title)
    seen: list[str] = []
    ranks: list[float] = []
    cursor = None
    pages = 0
    while True:
        params = {"limit": 5} if cursor is None else {"limit": 5, "cursor": cursor}
        page = await w.search(owner, "zebra", **params)
        seen += [hit["id"] for hit in page["items"]]
        ranks += [hit["rank"] for hit in page["items"]]
        pages += 1
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert pages == 5 and len(seen) == 23 == len(set(seen))
    assert ranks == sorted(ranks, reverse=True)
    everything = await w.search(owner, "zebra", limit=50)
    assert [hit["id"] for hit in everything["items"]] == seen


async def test_any_text_is_a_query_and_bad_parameters_are_clear_problems(
    client: httpx.AsyncClient,
) -> None:
    w = World(client)
    owner = await sign_up(client)
    pid = await w.project(owner, "Odd")
    await w.task(owner, pid, "O'Brien's café — naïve “quotes” & ops")
    nasty = [
        "",
        " ",
        "'",
        "''",
        "\\",
        "a:*",
        "!",
        "a & | b",
        "(((",
        "a <-> b",
        "'); DROP TABLE search_entry; --",
        "\x00",
        "naïve\x00café",
        "😀",
        "ǅ ½ ⅷ ٣",
        "x" * 5000,
        " ".join(["word"] * 500),
        "o'brien",
        "café naï",
        "%",
        "_",
        "*:",
        ":",
        "&",
        "|",
        "!!a",
        "<1>",
    ]
    rng = random.Random(16)
    alphabet = "ab'\"\\&|!:*()<>- \t\n%_\x00é€😀ß" + "".join(chr(c) for c in range(0x300, 0x310))
    nasty += ["".join(rng.choice(alphabet) for _ in range(rng.randint(1, 30))) for _ in range(60)]
    for text in nasty:
        response = await w.get("/search", owner, q=text)
        assert response.status_code == 200, (text, response.text)
    assert await w.found(owner, "o'brien") == ["O'Brien's café — naïve “quotes” & ops"]
    assert await w.found(owner, "café naï") == ["O'Brien's café — naïve “quotes” & ops"]
    assert (await w.search(owner, "!!!"))["items"] == []
    assert (await w.search(owner, ""))["items"] == []
    nothing = await client.get("/search", headers=owner["headers"])
    assert nothing.status_code == 200 and nothing.json()["items"] == []
    for params in ({"limit": 0}, {"limit": 51}, {"limit": "x"}, {"cursor": "nope"}):
        response = await client.get(
            "/search", params={"q": "a", **params}, headers=owner["headers"]
        )
        assert_problem(response, 422)
    assert_problem(await client.get("/search", params={"q": "a"}), 401)
