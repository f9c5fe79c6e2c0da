"""The inbox relay on real PostgreSQL and Redis: each notification reaches its user's channel
once the projection committed it, `prev`-chained per user, and a restart resumes from its
checkpoint (nothing again, nothing lost); of two relays one publishes."""

from __future__ import annotations

import asyncio

from sqlalchemy.ext.asyncio import AsyncEngine

from app import readmodels
from app.bootstrap import bootstrap
from app.notifications.relay import EVENT_TYPE, InboxRelay
from app.projects import commands as pc
from app.readside.runner import ProjectionRunner
from app.relay.publisher import RedisPublisher
from app.tasks import commands as tc
from app.tenants.passwords import Argon2Hasher
from realtime.envelope import notifications_channel
from tests.readside.script import Script
from tests.relay.relay_support import TIMEOUT, eventually, subscribed
from tests.support import settings_for


async def _run(relay: InboxRelay) -> tuple[asyncio.Event, asyncio.Task[None]]:
    stop = asyncio.Event()
    return stop, asyncio.create_task(relay.run(stop))


async def _stop(*running: tuple[asyncio.Event, asyncio.Task[None]]) -> None:
    for stop, _ in running:
        stop.set()
    await asyncio.wait_for(asyncio.gather(*(task for _, task in running)), 30 * TIMEOUT)


async def test_notifications_reach_their_users_channel_once_in_order_across_a_restart(
    engine: AsyncEngine, database_url: str, redis_url: str, prefix: str
) -> None:
    services = bootstrap(settings_for(database_url), engine, hasher=Argon2Hasher(fast=True))
    script = Script(services.bus)
    runner = ProjectionRunner(engine, readmodels.projectors(), signal=services.signal)
    await runner.start()
    publisher = RedisPublisher(redis_url)
    try:
        async with subscribed(redis_url, prefix) as seen:
            # Two relays compete: one leads, the other stands by.
            first = await _run(InboxRelay(engine, publisher, prefix=prefix))
            second = await _run(InboxRelay(engine, publisher, prefix=prefix))
            owner = await script.tenant("Inbox")
            ann = await script.invite(owner, "Ann")
            project = await script.project(owner, "Bells")
            await script.run(pc.AddProjectMember(owner, project, ann.user_id), owner)
            task = await script.task(owner, project, "Ring")
            await script.run(tc.AssignTask(owner, task, ann.user_id), owner)
            await script.run(tc.MoveTask(owner, task, "in_progress"), owner)
            await script.run(tc.MoveTask(ann, task, "done"), ann)  # her own: not for her
            channel = notifications_channel(prefix, owner.tenant_id, ann.user_id)
            await eventually(lambda: len(seen.received) >= 3, 20 * TIMEOUT, "three notifications")
            await asyncio.sleep(2 * TIMEOUT)  # nothing more, and no second copy from the standby
            await _stop(first, second)
            got = [(e.channel, e.type, e.data["type"]) for e in seen.received]
            assert got == [
                (channel, EVENT_TYPE, "ProjectMemberAdded"),
                (channel, EVENT_TYPE, "TaskAssigned"),
                (channel, EVENT_TYPE, "TaskMoved"),
            ]
            positions = [e.position for e in seen.received]
            assert [e.prev for e in seen.received] == [None, *positions[:-1]]
            assert seen.received[1].data["text"] == 'Olivia assigned you "Ring" in Bells'

            # Stopped, then more happens: a new relay publishes only what is new, chained on.
            await script.run(tc.EditTask(owner, task, title="Ring twice"), owner)
            restarted = await _run(InboxRelay(engine, publisher, prefix=prefix))
            await eventually(lambda: len(seen.received) >= 4, 20 * TIMEOUT, "the fourth")
            await asyncio.sleep(2 * TIMEOUT)
            await _stop(restarted)
            assert len(seen.received) == 4
            last = seen.received[-1]
            assert (last.data["type"], last.prev) == ("TaskEdited", positions[-1])
    finally:
        await runner.stop()
        await publisher.close()
        await services.close()
