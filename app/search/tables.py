"""Read-side tables of the search context (projection "search")."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import TSVECTOR

from app.kernel.db import metadata
from app.readside.projector import lookup_table

# The text search configuration: 'simple' lowercases words and keeps them whole (no stemming,
# no stop words), so a prefix typed on the board always matches the words it starts, in any
# language; stemming ('english') would turn "plann" into a lexeme no indexed word starts with.
CONFIG = "simple"

# The document of each entry: the title ranks above the description (weights A and B). The
# database derives it from the row (a stored generated column), so the projection, a rebuild
# and a hand-written fix can never disagree about it.
DOCUMENT = (
    f"setweight(to_tsvector('{CONFIG}'::regconfig, title), 'A')"
    f" || setweight(to_tsvector('{CONFIG}'::regconfig, body), 'B')"
)
# The title alone, under its own GIN index: the first tier of a search (entries with every word
# in the title, migration 0011) is found without fetching and ranking every description match.
TITLE_DOCUMENT = f"to_tsvector('{CONFIG}'::regconfig, title)"

# One row per project and per open task; archived tasks leave the index as they leave the board.
search_entry = sa.Table(
    "search_entry",
    metadata,
    sa.Column("kind", sa.String(8), primary_key=True),
    sa.Column("ref_id", sa.String(36), primary_key=True),
    sa.Column("tenant_id", sa.String(36), nullable=False),
    # A project's own id for a project; the task's project for a task: what access is checked on.
    sa.Column("project_id", sa.String(36), nullable=False),
    sa.Column("project_name", sa.String(200), nullable=False),
    sa.Column("title", sa.String(300), nullable=False),
    sa.Column("body", sa.Text, nullable=False),
    sa.Column("status", sa.String(20), nullable=False),
    sa.Column("tsv", TSVECTOR, sa.Computed(DOCUMENT, persisted=True), nullable=False),
    sa.Column("title_tsv", TSVECTOR, sa.Computed(TITLE_DOCUMENT, persisted=True), nullable=False),
    sa.Index(None, "tsv", postgresql_using="gin"),
    sa.Index(None, "title_tsv", postgresql_using="gin"),
    sa.Index(None, "tenant_id", "project_id"),
)

# Who is in which project, as this projection saw it: a search is scoped by it.
search_member = sa.Table(
    "search_member",
    metadata,
    sa.Column("project_id", sa.String(36), primary_key=True),
    sa.Column("user_id", sa.String(36), primary_key=True),
    sa.Column("tenant_id", sa.String(36), nullable=False),
    sa.Index(None, "tenant_id", "user_id"),
)

search_lookup = lookup_table("search_lookup")
