"""What every connection handler on one node shares: its settings, fan-out, metrics and stores.

Built once by `server.Gateway`; the connection-level modules (session, resume, live, access)
read it. The fan-out and presence below it never see it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from realtime.backfill import Coalescer
from realtime.config import GatewayConfig
from realtime.envelope import notifications_channel, project_channel, tenant_channel
from realtime.fanout import Fanout
from realtime.metrics import Metrics
from realtime.presence import Presence
from realtime.protocol import Channel
from realtime.state import Session
from realtime.tickets import MemoryTicketStore, TicketStore


@dataclass(slots=True)
class Context:
    """What every connection handler shares on one node."""

    config: GatewayConfig
    fanout: Fanout
    metrics: Metrics
    sessions: set[Session] = field(default_factory=set)
    per_user: dict[str, int] = field(default_factory=dict)  # user -> open sessions on this node
    coalescer: Coalescer | None = None
    presence: Presence | None = None
    tickets: TicketStore = field(default_factory=MemoryTicketStore)  # used jtis (single use)

    @property
    def features(self) -> list[str]:
        found = ["resume"] if self.coalescer is not None else []
        return found + (["presence", "ephemeral"] if self.presence is not None else [])

    def broker_name(self, tenant: str, channel: Channel) -> str:
        prefix = self.config.channel_prefix
        if channel.user is not None:
            return notifications_channel(prefix, tenant, channel.user)
        if channel.project is None:
            return tenant_channel(prefix, tenant)
        return project_channel(prefix, tenant, channel.project)
