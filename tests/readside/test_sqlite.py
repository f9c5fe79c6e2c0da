"""The embedded default: projections, runner and rebuild on a SQLite file, no LISTEN, no locks."""

from __future__ import annotations

from pathlib import Path

from app import migrate, readmodels
from app.bootstrap import bootstrap
from app.kernel.db import make_engine
from app.kernel.projection_runner import ProjectionRunner
from app.kernel.projections import snapshot
from app.projects import views as project_views
from app.tenants.passwords import Argon2Hasher
from tests.readside.script import Script, dump
from tests.support import settings_for


async def test_projections_run_and_rebuild_on_the_embedded_sqlite_file(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'embedded.db'}"
    engine = make_engine(url)
    try:
        await migrate.upgrade(engine)
        services = bootstrap(settings_for(url), engine, hasher=Argon2Hasher(fast=True))
        script = Script(services.bus)
        runner = ProjectionRunner(engine, readmodels.projectors(), signal=services.signal)
        await runner.start()
        try:
            world = await script.story()
            assert await runner.wait_for(script.head, 5.0)
        finally:
            await runner.stop()
        live = await dump(engine)
        for name in readmodels.NAMES:
            await readmodels.rebuild(engine, name, batch_size=7)
        assert await dump(engine) == live
        async with snapshot(engine) as connection:
            dashboard = await project_views.project_dashboard(
                connection, world["owner"], world["apollo"]
            )
        assert dashboard["name"] == "Apollo 11" and dashboard["completion_pct"] == 40
        await migrate.downgrade(engine, "0001_write_side")
    finally:
        await engine.dispose()
