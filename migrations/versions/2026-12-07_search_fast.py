"""Search in one round trip, title matches first (issue 16 s.4: p99 <= 5 ms).

Revision ID: 0011_search_fast
Revises: 0010_task_fields
Create Date: 2026-12-07

Where the time went (101,000 entries in one tenant, docs/search-and-reports.md): a three-letter
prefix matched ~1,400-2,100 entries and every one was fetched from the heap and ranked
(`ts_rank`) before the best 20 were taken; the GIN lookup itself was a tenth of it.

`search_entry` gains `title_tsv`, the title's own `tsvector` (a stored generated column, so
a rebuild's shadow table carries it), under a GIN index. `collabspace_search` now answers in
two tiers: first the entries whose title holds every word (found through the title's index,
a fraction of the matches), ranked by `ts_rank` of the whole document; only when that tier has
fewer than the page asks for does it read the other matches (the words spread over title and
description, or in the description only), ranked the same way. For a one-word query the order
is the one `ts_rank` gave before (a title occurrence outranks any description-only match); for
several words, a hit with every word in its title comes first. The cursor names the tier.

The function takes the tenant the caller has just set (`p_tenant`) only to be called after the
setting in a one-statement read (a LATERAL call on the `set_config` result, app/search/views.py);
it still reads the tenant from the transaction and answers nothing when the two differ.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import TSVECTOR

revision = "0011_search_fast"
down_revision = "0010_task_fields"
branch_labels = None
depends_on = None

APP_ROLE = "collabspace_app"
# As app/search/tables.py TITLE_DOCUMENT says (a migration never imports the app's code).
TITLE_DOCUMENT = "to_tsvector('simple'::regconfig, title)"

HITS = """
    SELECT e.kind::text, e.ref_id::text, e.project_id::text, e.project_name::text,
           e.title::text, e.status::text, {tier}, ts_rank(e.tsv, q)
      FROM search_entry AS e
     WHERE {match} AND e.tenant_id = tenant
       AND (p_admin OR e.project_id IN (SELECT m.project_id FROM search_member AS m
                                         WHERE m.tenant_id = tenant AND m.user_id = p_user))
       AND ({first_page}
            OR ts_rank(e.tsv, q) < p_after_rank
            OR (ts_rank(e.tsv, q) = p_after_rank
                AND (e.kind::text, e.ref_id::text) > (p_after_kind, p_after_ref)))
     ORDER BY 8 DESC, 1, 2
"""

TIER_1 = HITS.format(tier=1, match="e.title_tsv @@ q", first_page="p_after_tier IS NULL")
TIER_2 = HITS.format(
    tier=2,
    match="e.tsv @@ q AND NOT e.title_tsv @@ q",
    first_page="p_after_tier IS DISTINCT FROM 2",
)

NEW_ARGS = "text, text, text, boolean, integer, integer, real, text, text"
# Tier 1: every word in the title (the title's GIN index: a fraction of the matches). Tier 2,
# read only when tier 1 does not fill the page: the other matches. Within a tier, ts_rank of
# the whole document, ties by (kind, id); keyset paging by (tier, rank, kind, id).
NEW_FUNCTION = f"""
CREATE FUNCTION collabspace_search(
    p_tenant text, p_query text, p_user text, p_admin boolean, p_limit integer,
    p_after_tier integer, p_after_rank real, p_after_kind text, p_after_ref text
) RETURNS TABLE (hit_kind text, hit_ref text, hit_project text, hit_project_name text,
                 hit_title text, hit_status text, hit_tier integer, hit_rank real)
LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = public, pg_temp
AS $$
DECLARE
    tenant text := nullif(current_setting('app.tenant_id', true), '');
    q tsquery := to_tsquery('simple', p_query);
    found integer := 0;
BEGIN
    IF tenant IS NULL OR tenant IS DISTINCT FROM p_tenant OR p_limit < 1 THEN
        RETURN;
    END IF;
    IF p_after_tier IS NULL OR p_after_tier = 1 THEN
        RETURN QUERY {TIER_1}
         LIMIT p_limit;
        GET DIAGNOSTICS found = ROW_COUNT;
        IF found >= p_limit THEN
            RETURN;
        END IF;
    END IF;
    RETURN QUERY {TIER_2}
     LIMIT p_limit - found;
END
$$
"""

OLD_ARGS = "text, text, boolean, integer, real, text, text"
# Migration 0009's function, restored by the downgrade.
OLD_FUNCTION = """
CREATE FUNCTION collabspace_search(
    p_query text, p_user text, p_admin boolean, p_limit integer,
    p_after_rank real, p_after_kind text, p_after_ref text
) RETURNS TABLE (hit_kind text, hit_ref text, hit_project text, hit_project_name text,
                 hit_title text, hit_status text, hit_rank real)
LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = public, pg_temp
AS $$
DECLARE
    tenant text := nullif(current_setting('app.tenant_id', true), '');
    q tsquery := to_tsquery('simple', p_query);
BEGIN
    IF tenant IS NULL THEN
        RETURN;
    END IF;
    RETURN QUERY
    SELECT e.kind::text, e.ref_id::text, e.project_id::text, e.project_name::text,
           e.title::text, e.status::text, ts_rank(e.tsv, q)
      FROM search_entry AS e
     WHERE e.tsv @@ q AND e.tenant_id = tenant
       AND (p_admin OR e.project_id IN (SELECT m.project_id FROM search_member AS m
                                         WHERE m.tenant_id = tenant AND m.user_id = p_user))
       AND (p_after_rank IS NULL
            OR ts_rank(e.tsv, q) < p_after_rank
            OR (ts_rank(e.tsv, q) = p_after_rank
                AND (e.kind::text, e.ref_id::text) > (p_after_kind, p_after_ref)))
     ORDER BY 7 DESC, 1, 2
     LIMIT p_limit;
END
$$
"""


def _grant(args: str) -> None:
    op.execute(f"REVOKE ALL ON FUNCTION collabspace_search({args}) FROM PUBLIC")
    op.execute(
        f"""
        DO $$ BEGIN
            IF EXISTS (SELECT FROM pg_roles WHERE rolname = '{APP_ROLE}') THEN
                GRANT EXECUTE ON FUNCTION collabspace_search({args}) TO {APP_ROLE};
            END IF;
        END $$;
        """
    )


def upgrade() -> None:
    op.add_column(
        "search_entry",
        sa.Column(
            "title_tsv", TSVECTOR(), sa.Computed(TITLE_DOCUMENT, persisted=True), nullable=False
        ),
    )
    op.create_index(
        "ix_search_entry_title_tsv", "search_entry", ["title_tsv"], postgresql_using="gin"
    )
    op.execute(f"DROP FUNCTION collabspace_search({OLD_ARGS})")
    op.execute(NEW_FUNCTION)
    _grant(NEW_ARGS)


def downgrade() -> None:
    op.execute(f"DROP FUNCTION collabspace_search({NEW_ARGS})")
    op.execute(OLD_FUNCTION)
    _grant(OLD_ARGS)
    op.drop_index("ix_search_entry_title_tsv", table_name="search_entry")
    op.drop_column("search_entry", "title_tsv")
