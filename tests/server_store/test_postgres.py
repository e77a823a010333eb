"""The dedup lookup on PostgreSQL: MLflow's own query, its plan with and without hydraflow's index."""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest

from hydraflow.tracking import store

pytestmark = pytest.mark.slow


def _bulk_runs(database: str, n: int) -> None:
    """``n`` more runs (copies of the first run's row) with a fingerprint tag each, written with SQL."""
    import hydraflow_test_servers as servers

    cols = [
        r[0]
        for r in servers.pg_query(
            database,
            "SELECT column_name FROM information_schema.columns WHERE table_name = 'runs' ORDER BY ordinal_position",
        )
    ]
    values = ", ".join("md5(random()::text || g::text)" if c == "run_uuid" else f"r.{c}" for c in cols)
    servers.pg_query(
        database,
        f"INSERT INTO runs ({', '.join(cols)}) SELECT {values} "  # noqa: S608 - column names from the catalog
        f"FROM (SELECT * FROM runs LIMIT 1) r, generate_series(1, {n}) g",
    )
    for key in (store.FINGERPRINT_TAG, store.OVERRIDES_TAG):
        servers.pg_query(
            database,
            "INSERT INTO tags (key, value, run_uuid) SELECT %s, md5(r.run_uuid || %s) || md5(r.run_uuid), "
            "r.run_uuid FROM runs r WHERE NOT EXISTS "
            "(SELECT 1 FROM tags t WHERE t.run_uuid = r.run_uuid AND t.key = %s)",
            (key, key, key),
        )
    servers.pg_query(database, "ANALYZE")


def _plan_nodes(plan: dict[str, Any]) -> list[dict[str, Any]]:
    out = [plan]
    for child in plan.get("Plans", ()):
        out += _plan_nodes(child)
    return out


def test_fingerprint_lookup_plan(postgres_database) -> None:
    """The lookup `@hydraflow.main` makes (``find_run``) is MLflow's SQL; without the index PostgreSQL scans
    every tag row (linear in the runs), with it one hash-index probe."""
    import hydraflow_test_servers as servers
    import sqlalchemy as sa
    from mlflow.tracking import MlflowClient

    uri = postgres_database()
    database = uri.rsplit("/", 1)[1]
    client = MlflowClient(uri)
    exp = client.create_experiment("plan")
    wanted = uuid.uuid4().hex * 2
    run = client.create_run(exp, tags={store.FINGERPRINT_TAG: wanted})
    _bulk_runs(database, 5000)

    captured: list[tuple[str, Any]] = []

    def capture(_conn: Any, _cursor: Any, statement: str, parameters: Any, *_: Any) -> None:
        if "tags.value" in statement and "runs" in statement:
            captured.append((statement, parameters))

    sa.event.listen(sa.engine.Engine, "before_cursor_execute", capture)
    try:
        found = store.find_run(client, exp, store.FINGERPRINT_TAG, wanted)
    finally:
        sa.event.remove(sa.engine.Engine, "before_cursor_execute", capture)
    assert found is not None
    assert found.info.run_id == run.info.run_id
    assert len(captured) == 1
    statement, params = captured[0]

    def plan() -> list[dict[str, Any]]:
        conn = servers._pg_connect(database)
        try:
            cur = conn.cursor()
            cur.execute("EXPLAIN (FORMAT JSON) " + statement, params)
            (row,) = cur.fetchall()
        finally:
            conn.close()
        data = row[0] if not isinstance(row[0], str) else json.loads(row[0])
        return _plan_nodes(data[0]["Plan"])

    def on_tags(nodes: list[dict[str, Any]]) -> list[str]:
        return [
            f"{n['Node Type']}:{n.get('Index Name', '')}" for n in nodes if n.get("Relation Name") == "tags"
        ]

    assert on_tags(plan()) == ["Seq Scan:"]  # MLflow's (key, run_uuid) key does not serve a value lookup
    store._pg_indexed.discard(uri)
    store.index_postgres_tags(uri)
    indexed = on_tags(plan())
    assert indexed
    assert all(store.POSTGRES_TAG_INDEX in n for n in indexed), indexed
    assert store.find_run(client, exp, store.FINGERPRINT_TAG, wanted).info.run_id == run.info.run_id
    store.index_postgres_tags(uri)  # idempotent


def test_a_job_writing_to_postgresql_adds_the_index(postgres_database, app) -> None:
    import hydraflow_test_servers as servers

    uri = postgres_database()
    a = app(uri)
    a.run("seed=1")
    a.run("seed=1")  # found by the indexed lookup: skipped
    database = uri.rsplit("/", 1)[1]
    rows = servers.pg_query(
        database, "SELECT indexdef FROM pg_indexes WHERE indexname = %s", (store.POSTGRES_TAG_INDEX,)
    )
    assert rows == [(f"CREATE INDEX {store.POSTGRES_TAG_INDEX} ON public.tags USING hash (value)",)]
    assert servers.pg_query(database, "SELECT count(*) FROM runs") == [(1,)]

    off = postgres_database()
    app(off).run("seed=1", env={"HYDRAFLOW_POSTGRES_INDEX": "0"})
    rows = servers.pg_query(
        off.rsplit("/", 1)[1], "SELECT 1 FROM pg_indexes WHERE indexname = %s", (store.POSTGRES_TAG_INDEX,)
    )
    assert rows == []
