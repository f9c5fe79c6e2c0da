"""Per-connection state: what one authenticated socket carries. Pure data, no behaviour.

Every behaviour module (session, fanout, repair, resume, live, access, presence) imports this
one; it imports none of them, so the gateway's modules form no import cycle.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from realtime.auth import Access
from realtime.connection import Connection
from realtime.envelope import Envelope
from realtime.protocol import Channel
from realtime.registry import ChannelState

SessionChannel = ChannelState["Session"]  # a broker channel whose members are sessions


@dataclass(slots=True, eq=False)
class Session:
    ws: Connection
    user: str
    tenant: str
    access: Access
    user_channel: str
    tokens: float
    last_refill: float
    expires_at: float  # loop time at which the connection lifetime ends (4001)
    strikes: int = 0
    closing: bool = False
    # broker channel name -> the channel as the client named it
    channels: dict[str, Channel] = field(default_factory=dict)
    # Live events of the channel being resumed, held until its replay is written (bounded).
    recovery: list[Envelope] | None = None
    recovery_lost: str = "overflow"  # the resync reason if `recovery` is dropped meanwhile
    name: str = ""
    session_id: str = ""
    eph_tokens: float = 0.0
    present: list[Channel] = field(default_factory=list)  # projects it is in presence for
    eph_refill: float = 0.0
