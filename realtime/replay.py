"""Authorization at each replayed event: what a resuming user may be shown of one channel.

Pure: no I/O. Inputs are the channel's missed events and the tenant's access events in the same
range (both from backfill), and the user's rights now (ticket, updated live). Rules (documented
in docs/protocol.md, *Resume*):

- No access event about the user and this channel in the range: the rights now held then too.
- The user's role changed in the range: their rights at `since` are unknown here -> resync if
  they may read the channel now, forbidden otherwise.
- Project channel, first membership event in the range is the user's removal: they were a member
  until then -> replay up to and including the removal, then `unsubscribed` (access_revoked).
- First membership event is an addition (they were not a member at `since`) -> resync if they
  may read now (they get current state over REST), forbidden otherwise.
- Owners and admins read every project; membership events do not limit them.
- A notifications channel is its user's at every position: access events do not limit it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from realtime.auth import Access
from realtime.envelope import Envelope
from realtime.protocol import Channel

Outcome = Literal["recovered", "resync", "forbidden"]
ROLE_EVENTS = frozenset({"UserRoleChanged", "UserDeactivated"})
MEMBER_EVENTS = frozenset({"ProjectMemberAdded", "ProjectMemberRemoved"})


@dataclass(frozen=True, slots=True)
class Plan:
    outcome: Outcome
    events: list[Envelope] = field(default_factory=list)
    revoked_at: int | None = None  # position of the removal that ends the replay


def _about(env: Envelope, user: str) -> bool:
    target = env.data.get("user_id") or env.user
    return isinstance(target, str) and target.lower() == user.lower()


def plan(
    user: str,
    access: Access,
    channel: Channel,
    events: list[Envelope],
    access_events: list[Envelope],
) -> Plan:
    readable_now = access.may_read(channel)
    if channel.kind == "notifications":
        return Plan("recovered", events) if readable_now else Plan("forbidden")
    mine = [e for e in access_events if _about(e, user)]
    if any(e.type in ROLE_EVENTS for e in mine):
        return Plan("resync" if readable_now else "forbidden")
    if channel.kind == "tenant" or access.is_admin:
        return Plan("recovered", events) if readable_now else Plan("forbidden")
    membership = [
        e
        for e in mine
        if e.type in MEMBER_EVENTS and str(e.data.get("project_id", "")).lower() == channel.project
    ]
    if not membership:
        return Plan("recovered", events) if readable_now else Plan("forbidden")
    first = membership[0]
    if first.type == "ProjectMemberAdded":
        return Plan("resync" if readable_now else "forbidden")
    cut = first.position
    return Plan("recovered", [e for e in events if e.position <= cut], revoked_at=cut)


# --- Proof that a replay is exact (docs/protocol.md 7.1, "What proves a replay exact") -------
# `prev` is the position of the previous event on the same channel (null: there is none), set by
# the relay and by the backfill alike. A replay covers `since` up to the live stream only if its
# `prev` chain closes at both ends; anything else is a hole that the gateway must not paper over.


def chain_closes(events: list[Envelope], since: int) -> bool:
    """The first event's predecessor is at or before `since`, and each next event's is the one
    before it: nothing of the channel after `since` is missing between them."""
    last: int | None = None
    for env in events:
        if last is None:
            if env.prev is not None and env.prev > since:
                return False
        elif env.prev != last:
            return False
        last = env.position
    return True


def continues(env: Envelope, since: int, replayed_to: int | None) -> bool:
    """The first live event after a replay links to its last event (to `since` when nothing was
    replayed: then a predecessor at or before `since`, or none at all, closes it)."""
    if replayed_to is None:
        return env.prev is None or env.prev <= since
    return env.prev == replayed_to
