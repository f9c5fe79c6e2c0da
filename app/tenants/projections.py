"""Projection "users": the user directory read model (names, e-mails, roles, active)."""

from __future__ import annotations

from app.eventstore.port import StoredEvent
from app.readside.projector import Projector
from app.tenants.events import UserDeactivated, UserRegistered, UserRenamed, UserRoleChanged
from app.tenants.tables import tenant_user_card


class UserDirectoryProjector(Projector):
    name = "users"
    tables = (tenant_user_card,)

    async def on_user_registered(self, event: UserRegistered, record: StoredEvent) -> None:
        self.rows(self.t.tenant_user_card).add(
            {
                "user_id": event.user_id,
                "tenant_id": record.tenant_id,
                "name": event.name,
                "email": event.email,
                "role": event.role,
                "active": True,
                "joined_at": record.recorded_at,
            }
        )

    async def on_user_renamed(self, event: UserRenamed, record: StoredEvent) -> None:
        await self.update(self.t.tenant_user_card, event.user_id, name=event.name)

    async def on_user_role_changed(self, event: UserRoleChanged, record: StoredEvent) -> None:
        await self.update(self.t.tenant_user_card, event.user_id, role=event.role)

    async def on_user_deactivated(self, event: UserDeactivated, record: StoredEvent) -> None:
        await self.update(self.t.tenant_user_card, event.user_id, active=False)
