"""README's settings tables are generated, and no process reads a variable they do not list."""

from __future__ import annotations

import re
from pathlib import Path

from app import settings as api
from app.settings_table import BEGIN, END, markdown
from realtime import config as gateway

ROOT = Path(__file__).resolve().parents[2]
# Variables read outside the settings classes, each for a stated reason.
NOT_SETTINGS = {
    "HOST": "realtime/main.py only warns that it is ignored (older releases read it)",
    "CHANNEL_PREFIX": "`collabspace cluster` passes the operator's prefix on to its nodes",
}
READ = re.compile(r"""(?:env|environ)(?:\.get\(|\[)\s*["']([A-Z][A-Z0-9_]+)["']""")


def test_readme_holds_the_generated_tables() -> None:
    readme = (ROOT / "README.md").read_text()
    start, end = readme.index(BEGIN), readme.index(END) + len(END)
    assert readme[start:end] == markdown(), "run `collabspace settings` and paste it in README"


def test_every_variable_a_process_reads_is_in_a_table() -> None:
    listed = {s.env for s in api.SETTINGS} | {s.env for s in gateway.SETTINGS}
    read: dict[str, str] = {}
    for path in [*(ROOT / "app").rglob("*.py"), *(ROOT / "realtime").rglob("*.py")]:
        if "loadtest" in path.parts:  # a client tool with its own command-line options
            continue
        for name in READ.findall(path.read_text()):
            read.setdefault(name, str(path.relative_to(ROOT)))
    assert read, "the scan found no reads at all: the pattern is broken"
    unlisted = {n: where for n, where in read.items() if n not in listed | set(NOT_SETTINGS)}
    assert not unlisted, unlisted


def test_each_setting_names_a_field_of_its_class() -> None:
    for cls, table in ((api.Settings, api.SETTINGS), (gateway.GatewayConfig, gateway.SETTINGS)):
        fields = set(cls.__dataclass_fields__)
        assert {s.field for s in table} <= fields, cls
