"""Aggregate, Event and DomainError bases. Imports nothing but the standard library."""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterable
from typing import Any, ClassVar, Self


class DomainError(Exception):
    """A rule of the domain refused a command. Carries a stable code and the ids involved."""

    code: ClassVar[str] = "domain_error"

    def __init__(self, message: str, **context: Any) -> None:
        super().__init__(message)
        self.message = message
        self.context = context


class NotFoundError(DomainError):
    code = "not_found"


class InvalidInputError(DomainError):
    """A value that passed the wire schema but breaks a domain rule on one field."""

    code = "invalid"

    def __init__(self, message: str, *, field: str, **context: Any) -> None:
        super().__init__(message, field=field, **context)
        self.field = field


class RuleViolationError(DomainError):
    """The command is well-formed but the aggregate's current state does not allow it."""

    code = "rule_violation"


class PermissionDeniedError(DomainError):
    code = "forbidden"


class LimitReachedError(DomainError):
    code = "limit_reached"


class StaleVersionError(DomainError):
    """The caller's If-Match names a version that is no longer current."""

    code = "version_conflict"

    def __init__(self, *, stream_id: str, expected: int, current: int) -> None:
        super().__init__(
            f"{stream_id} is at version {current}, not {expected}",
            stream_id=stream_id,
            current_version=current,
        )
        self.current = current


class ConcurrencyError(DomainError):
    """Another writer appended to the stream first (the (stream, version) key refused us)."""

    code = "concurrent_modification"


_EVENT_TYPES: dict[str, type[Event]] = {}


# No slots on the base: a slotted dataclass is rebuilt, which breaks super() in __init_subclass__.
@dataclasses.dataclass(frozen=True, kw_only=True)
class Event:
    """A fact in the past tense. Fields are JSON primitives so that replay is exact."""

    schema_version: ClassVar[int] = 1

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        _EVENT_TYPES[cls.__name__] = cls

    @property
    def type(self) -> str:
        return type(self).__name__

    def to_data(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}

    @classmethod
    def from_data(cls, data: dict[str, Any]) -> Self:
        names = _FIELD_NAMES.get(cls)
        if names is None:
            # Replay decodes every event of the store: look the fields up once per class.
            names = _FIELD_NAMES[cls] = frozenset(f.name for f in dataclasses.fields(cls))
        if names.issuperset(data):
            return cls(**data)
        return cls(**{k: v for k, v in data.items() if k in names})


_FIELD_NAMES: dict[type[Event], frozenset[str]] = {}


def event_class(type_name: str) -> type[Event]:
    try:
        return _EVENT_TYPES[type_name]
    except KeyError:
        raise LookupError(f"unknown event type {type_name!r}") from None


# "TaskMoved" -> "on_task_moved", worked out once per event type (replay applies thousands).
_HANDLER_NAMES: dict[str, str] = {}


def _snake(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


class Aggregate:
    """State rebuilt by replaying its own events; new events are applied, then kept as pending."""

    stream_prefix: ClassVar[str]

    def __init__(self, aggregate_id: str) -> None:
        self.id = aggregate_id
        self.version = 0
        self.pending: list[Event] = []

    @classmethod
    def stream_id_for(cls, aggregate_id: str) -> str:
        return f"{cls.stream_prefix}-{aggregate_id}"

    @property
    def stream_id(self) -> str:
        return self.stream_id_for(self.id)

    @property
    def exists(self) -> bool:
        return self.version > 0 or bool(self.pending)

    @classmethod
    def replay(cls, aggregate_id: str, events: Iterable[Event]) -> Self:
        aggregate = cls(aggregate_id)
        for event in events:
            aggregate.apply(event)
            aggregate.version += 1
        return aggregate

    def record(self, event: Event) -> None:
        self.apply(event)
        self.pending.append(event)

    def apply(self, event: Event) -> None:
        name = _HANDLER_NAMES.get(event.type)
        if name is None:
            name = _HANDLER_NAMES[event.type] = "on_" + _snake(event.type)
        handler = getattr(self, name, None)
        if handler is None:
            raise LookupError(f"{type(self).__name__} cannot apply {event.type}")
        handler(event)

    def check_version(self, expected: int | None) -> None:
        """Refuse a command that names a version other than the one just loaded."""
        if expected is not None and expected != self.version:
            raise StaleVersionError(
                stream_id=self.stream_id, expected=expected, current=self.version
            )


ROLES = ("owner", "admin", "member")


@dataclasses.dataclass(frozen=True, slots=True)
class Actor:
    """The authenticated caller of a command or query, from a verified access token."""

    tenant_id: str
    user_id: str
    role: str

    @property
    def is_admin(self) -> bool:
        return self.role in ("owner", "admin")
