"""The composition root: builds the message bus and binds each handler's dependencies."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from functools import partial

from sqlalchemy.ext.asyncio import AsyncEngine

from app.eventstore.postgres import PgPool, pg_uow_factory
from app.eventstore.uow import UnitOfWork
from app.kernel.clock import Clock, utc_now
from app.kernel.messagebus import Handler, MessageBus
from app.kernel.signals import CommitSignal
from app.kernel.tokens import TokenSigner
from app.notifications import commands as nc
from app.notifications import handlers as nh
from app.projects import api as projects_api
from app.projects import commands as pc
from app.projects import handlers as ph
from app.settings import Settings
from app.tasks import commands as tc
from app.tasks import handlers as th
from app.tasks.ports import Projects
from app.tenants import commands as uc
from app.tenants import handlers as uh
from app.tenants.domain import Plan, plan_catalog
from app.tenants.gate import ActiveUserGate
from app.tenants.passwords import Argon2Hasher
from app.tenants.ports import DirectoryFactory, PasswordHasher, ProjectsOfUser
from app.tenants.ratelimit import Throttle, login_throttle
from app.tenants.tables import directory_for


@dataclasses.dataclass(slots=True)
class Services:
    """Everything a request needs, built once per process and owned by the lifespan."""

    settings: Settings
    engine: AsyncEngine
    # Called as uow_factory() or uow_factory(tenant_id=...) for reads outside the bus.
    uow_factory: Callable[..., UnitOfWork]
    bus: MessageBus
    signer: TokenSigner
    hasher: PasswordHasher
    directory: DirectoryFactory
    clock: Clock
    signal: CommitSignal
    login_throttle: Throttle
    gate: ActiveUserGate
    # What a realtime ticket lists (the tenants context issues it; projects answers this).
    projects_of_user: ProjectsOfUser
    # Project access for the tasks context's queries (its handlers get it bound, see handlers).
    projects: Projects
    # The plan catalogue (names to limits), for the plan endpoint and the board.
    plans: dict[str, Plan]
    # The write path's asyncpg pool (app.eventstore.postgres); closed by the lifespan.
    pool: PgPool

    async def close(self) -> None:
        await self.login_throttle.close()
        await self.pool.close()


def plans_of(settings: Settings) -> dict[str, Plan]:
    """The plan catalogue: the default plan's limits are the settings'."""
    return plan_catalog(
        default_project_limit=settings.default_project_limit,
        default_member_limit=settings.default_member_limit,
    )


def handlers(
    *, directory: DirectoryFactory, hasher: PasswordHasher, settings: Settings
) -> dict[type, Handler]:
    plans = plans_of(settings)
    return {
        uc.SignUp: partial(uh.sign_up, directory=directory, hasher=hasher, plans=plans),
        uc.InviteUser: partial(uh.invite_user, directory=directory, hasher=hasher),
        uc.UpdateUser: partial(uh.update_user, directory=directory),
        uc.DeactivateUser: partial(
            uh.deactivate_user, directory=directory, release_user=projects_api.release_user
        ),
        uc.ChangePlan: partial(uh.change_plan, directory=directory, plans=plans),
        pc.CreateProject: ph.create_project,
        pc.UpdateProject: ph.update_project,
        pc.ChangeProjectStatus: ph.change_project_status,
        pc.ChangeProjectBudget: ph.change_project_budget,
        pc.RecordProjectSpend: ph.record_project_spend,
        pc.AddProjectMember: ph.add_project_member,
        pc.ChangeProjectMemberRole: ph.change_project_member_role,
        pc.RemoveProjectMember: ph.remove_project_member,
        tc.CreateTask: partial(th.create_task, projects=projects_api),
        tc.EditTask: partial(th.edit_task, projects=projects_api),
        tc.AssignTask: partial(th.assign_task, projects=projects_api),
        tc.MoveTask: partial(th.move_task, projects=projects_api),
        tc.ArchiveTask: partial(th.archive_task, projects=projects_api),
        nc.MarkNotificationRead: nh.mark_notification_read,
        nc.MarkAllNotificationsRead: nh.mark_all_notifications_read,
        tc.AddTaskComment: partial(th.add_task_comment, projects=projects_api),
        tc.EditTaskComment: partial(th.edit_task_comment, projects=projects_api),
        tc.DeleteTaskComment: partial(th.delete_task_comment, projects=projects_api),
    }


def bootstrap(
    settings: Settings,
    engine: AsyncEngine,
    *,
    clock: Clock = utc_now,
    hasher: PasswordHasher | None = None,
) -> Services:
    signal = CommitSignal()
    # Commands run on raw asyncpg with hand-written SQL (app.eventstore.postgres), connecting with
    # the engine's URL: the app role, under row-level security.
    pool = PgPool(engine.url.render_as_string(hide_password=False), size=settings.db_pool_size)
    make_uow = pg_uow_factory(pool, clock=clock, on_commit=signal.notify)
    hasher = hasher or Argon2Hasher()
    bus = MessageBus(
        make_uow,
        handlers(directory=directory_for, hasher=hasher, settings=settings),
    )
    return Services(
        settings=settings,
        engine=engine,
        uow_factory=make_uow,
        bus=bus,
        signer=TokenSigner(settings.secret_key),
        hasher=hasher,
        directory=directory_for,
        clock=clock,
        signal=signal,
        login_throttle=login_throttle(settings.redis_url, settings.channel_prefix, clock),
        gate=ActiveUserGate(make_uow, directory_for),
        projects_of_user=projects_api.projects_of_user,
        projects=projects_api,
        plans=plans_of(settings),
        pool=pool,
    )
