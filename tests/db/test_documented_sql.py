"""Every SQL example in README.md and docs/ runs, as the analyst's read-only role, on the migrated
schema: a renamed column or an ambiguous join in the documentation fails here, not for a reader."""
from __future__ import annotations

import re

import psycopg2
import pytest
from sqlalchemy import Engine
from support import ROOT

from services.config import Settings

DOCUMENTS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
SQL_BLOCK = re.compile(r"```sql\n(.*?)```", re.S)


def documented_statements() -> list[tuple[str, str]]:
    """(where, statement) for each statement of each ```sql block."""
    found = []
    for doc in DOCUMENTS:
        for block in SQL_BLOCK.findall(doc.read_text()):
            code = "\n".join(line for line in block.splitlines() if not line.lstrip().startswith("--"))
            found += [(f"{doc.name}: {s.strip().splitlines()[0]}", s.strip()) for s in code.split(";") if s.strip()]
    return found


STATEMENTS = documented_statements()


def test_the_documentation_has_sql_examples() -> None:
    assert len(STATEMENTS) >= 15 and {where.split(":")[0] for where, _ in STATEMENTS} >= {"README.md", "dashboard.md"}


@pytest.mark.parametrize("where, statement", STATEMENTS, ids=[w for w, _ in STATEMENTS])
def test_a_documented_query_runs_as_the_analyst(where: str, statement: str, owner_db: Engine,
                                                 base_settings: Settings) -> None:
    conn = psycopg2.connect(base_settings.reader_database_url)
    try:
        conn.set_session(readonly=True)
        with conn.cursor() as cur:
            cur.execute(statement)
            assert cur.description, f"{where}: returns no rows: not a query"
    finally:
        conn.rollback()
        conn.close()
