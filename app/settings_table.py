"""README's settings tables, generated from the settings classes so that they cannot drift.

`collabspace settings` prints them; tests/unit/test_settings_table.py checks that README.md
holds exactly this text between its `settings:begin` and `settings:end` markers, and that no
module reads an environment variable these tables do not list.
"""

from __future__ import annotations

import dataclasses

from app import settings as api
from realtime import config as gateway
from realtime.config import Setting

BEGIN, END = "<!-- settings:begin -->", "<!-- settings:end -->"


def _default(cls: type, setting: Setting) -> str:
    if setting.default:  # said in words
        return str(setting.default)
    field = next(f for f in dataclasses.fields(cls) if f.name == setting.field)
    value = field.default
    if value is dataclasses.MISSING:
        return "required"
    if isinstance(value, bool):
        return "1" if value else "0"
    if value is None or value == "":
        return "unset"
    return f"`{value}`" if isinstance(value, str) else f"{value:g}"


def _table(title: str, cls: type, settings: tuple[Setting, ...]) -> list[str]:
    lines = [title, "", "| variable | default | meaning |", "| --- | --- | --- |"]
    for setting in settings:
        lines.append(f"| `{setting.env}` | {_default(cls, setting)} | {setting.meaning} |")
    return [*lines, ""]


def markdown() -> str:
    lines = [
        BEGIN,
        *_table(
            "The API (`web`) and the worker (`python -m app.worker`) read:",
            api.Settings,
            api.SETTINGS,
        ),
        *_table("A gateway node (`realtime`) reads:", gateway.GatewayConfig, gateway.SETTINGS),
        END,
    ]
    return "\n".join(lines)
