"""Errors of the notifications context."""

from __future__ import annotations

from app.kernel.domain import NotFoundError


class NotificationNotFoundError(NotFoundError):
    """No notification of the caller's at that position (another user's answers the same)."""
