"""The processor's PostgreSQL writer: one transaction per batch, bulk COPY, fenced offsets.

Each batch goes in ONE transaction: its rows (COPY into a temporary staging table, then
INSERT ... SELECT ... ON CONFLICT DO NOTHING), every partition's next offset, and every
touched symbol's state. Offsets are compare-and-set: a processor that lost its partitions in
a rebalance and still tries to commit finds the offset moved and rolls back (OffsetConflict)
instead of writing twice.
"""
from __future__ import annotations

from typing import Any, Iterable, NamedTuple

import orjson
import psycopg2

from services.db.queries import RebuildSource, rebuild_source
from services.processor.sinks import BAR_SINK, SINKS, Encoded, timestamptz_of
from services.processor.transaction import BatchOutput


class EncodedBatch(NamedTuple):
    """What a batch writes, made ready without a connection (see `encode`)."""

    sinks: list[Encoded]  # every sink with rows, in SINKS order
    # each touched symbol's state, as the columns the statement saving them takes
    symbols: list[str]
    last_ts: list[float]
    states: list[str]  # JSON


def encode(out: BatchOutput) -> EncodedBatch:
    """The batch's COPY payloads and state JSON: the CPU-bound part of writing, done by the caller's
    thread (the processor's loop) so the writer thread holds the GIL only between round trips."""
    states = out.states.items()
    return EncodedBatch([sink.encode(rows) for sink in SINKS if (rows := out.rows_of(sink.row))],
                        [symbol for symbol, _ in states], [last_ts for _, (last_ts, _) in states],
                        [orjson.dumps(state).decode() for _, (_, state) in states])


class OffsetConflict(RuntimeError):
    """Another consumer advanced a partition we were about to commit: our view is stale."""


class BatchWriter:
    def __init__(self, dsn: str, group: str, params: dict[str, Any], stuck_after_s: float = 15.0) -> None:
        self._dsn = dsn
        # A processor frozen mid-transaction (SIGSTOP, a hung host with its TCP connection open) holds
        # the dashboard_feed triggers' commit-order lock, and with it every other writer's commit: PostgreSQL
        # ends such a session after this long, and the processor rewinds when it wakes.
        stuck_ms = max(1, round(stuck_after_s * 1000))
        self._options = f"-c idle_in_transaction_session_timeout={stuck_ms} -c statement_timeout={stuck_ms}"
        self._group = group
        self._params_json = orjson.dumps(params).decode()
        self._params = params
        # Two connections: batches are written on a background thread while the loop reads.
        self._read_conn: Any = None
        self._write_conn: Any = None

    # -- connections ------------------------------------------------------------------
    def _connect(self, role: str) -> Any:
        return psycopg2.connect(self._dsn, application_name=f"tickflow-processor-{role}:{self._group}"[:63],
                                connect_timeout=5, options=self._options)

    def _reader(self) -> Any:
        if self._read_conn is None or self._read_conn.closed:
            self._read_conn = self._connect("read")
        return self._read_conn

    def _writer(self) -> Any:
        if self._write_conn is None or self._write_conn.closed:
            conn = self._connect("write")
            # A batch's first statement begins its transaction ("BEGIN; …"): psycopg2's own BEGIN
            # would be a round trip of its own.
            conn.autocommit = True
            with conn.cursor() as cur:
                cur.execute(BAR_SINK.create_staging_sql())
            self._write_conn = conn
        return self._write_conn

    def close(self) -> None:
        """Drop both connections (also after an error); the next call reconnects."""
        for conn in (self._read_conn, self._write_conn):
            try:
                if conn is not None and not conn.closed:
                    conn.close()
            except psycopg2.Error:
                pass
        self._read_conn = self._write_conn = None

    # -- reads ------------------------------------------------------------------------
    def load_offsets(self, partitions: Iterable[tuple[str, int]]) -> dict[tuple[str, int], int]:
        wanted = list(partitions)
        if not wanted:
            return {}
        conn = self._reader()
        with conn, conn.cursor() as cur:
            cur.execute(
                "SELECT topic, kafka_partition, next_offset FROM processor_offsets "
                "WHERE consumer_group = %s AND (topic, kafka_partition) IN %s",
                (self._group, tuple(wanted)),
            )
            return {(t, p): o for t, p, o in cur.fetchall()}

    def load_rebuild_source(self, symbol: str, timeframes: Iterable[str]) -> RebuildSource:
        """What the symbol's state is rebuilt from: its newest checkpoint and the stored base bars after it."""
        conn = self._reader()
        with conn, conn.cursor() as cur:
            return rebuild_source(cur, symbol, self._params, timeframes)

    def load_states(self, symbols: Iterable[str]) -> dict[str, dict[str, Any]]:
        wanted = tuple(symbols)
        if not wanted:
            return {}
        conn = self._reader()
        with conn, conn.cursor() as cur:
            cur.execute("SELECT symbol, params, state FROM symbol_state WHERE symbol IN %s", (wanted,))
            rows = cur.fetchall()
        states = {}
        for symbol, params, state in rows:
            if params != self._params:
                raise RuntimeError(
                    f"{symbol}: stored indicator state was computed with {params}, settings now say "
                    f"{self._params}; run the indicator_backfill DAG for {symbol} (it recomputes the stored "
                    "indicators and rebuilds this state) or restore the settings"
                )
            states[symbol] = state
        return states

    # -- the batch transaction ----------------------------------------------------------
    def write(self, out: BatchOutput, expected: dict[tuple[str, int], int | None],
              encoded: EncodedBatch | None = None) -> None:
        """Store the batch atomically. `expected[tp]` is the stored next offset we started from;
        `encoded`: the batch made ready by `encode` (on another thread), else encoded here.

        Round trips are most of a small batch's transaction (a few dozen bars at 5,000 bars/s), so it
        sends three requests: the bars' COPY, which begins the transaction; every INSERT with the
        statement that moves the offsets and saves the states; COMMIT.
        """
        ready = encoded if encoded is not None else encode(out)
        conn = self._writer()
        begin = "BEGIN; "
        try:
            with conn.cursor() as cur:
                # Every COPY before the first INSERT: inserting bars takes the dashboard_feed triggers'
                # commit-order lock, and a backend waiting for COPY data from a frozen client ignores
                # statement_timeout (PostgreSQL only checks for cancels there between commands), so
                # it would hold the lock until the client woke. Once staged, every wait is one that
                # stuck_after_s bounds: a statement running, or the session idle in its transaction.
                statements = []
                for sink in ready.sinks:
                    statements.append(sink.load(cur, begin))
                    if sink.copy is not None:
                        begin = ""  # the COPY began the transaction
                statements.append(self._advance(cur, out.next_offsets, expected, ready))
                cur.execute(begin.encode() + b"; ".join(statements))
                moved = set(cur.fetchall())
                for topic, partition in out.next_offsets:
                    if (topic, partition) not in moved:
                        raise OffsetConflict(f"{topic}[{partition}] moved past {expected.get((topic, partition))}: "
                                             "another consumer owns it now")
                cur.execute(b"COMMIT")
        except BaseException:
            self._abort(conn)
            raise

    @staticmethod
    def _abort(conn: Any) -> None:
        """Roll back what a failed batch began (the connection is in autocommit: psycopg2's rollback()
        would not); a connection that cannot is closed, and the next batch reconnects."""
        if conn.closed or conn.get_transaction_status() == psycopg2.extensions.TRANSACTION_STATUS_IDLE:
            return
        try:
            with conn.cursor() as cur:
                cur.execute(b"ROLLBACK")
        except psycopg2.Error:
            conn.close()

    def _advance(self, cur: Any, next_offsets: dict[tuple[str, int], int],
                 expected: dict[tuple[str, int], int | None], ready: EncodedBatch) -> bytes:
        """The statement that moves every partition's stored next offset on, compare-and-set against
        `expected` (None: the first batch of the partition), and saves every touched symbol's state;
        it returns the partitions it moved."""
        return bytes(cur.mogrify(_ADVANCE, {
            "group": self._group,
            "topics": [topic for topic, _ in next_offsets],
            "partitions": [partition for _, partition in next_offsets],
            "offsets": list(next_offsets.values()),
            "before": [expected.get(tp) for tp in next_offsets],
            "symbols": ready.symbols,
            "last_ts": ready.last_ts,
            "params": self._params_json,
            "states": ready.states,
        }))


# The batch's offsets and symbol states in one statement; returns the partitions it moved on. A
# partition another consumer moved meanwhile matches neither branch, and the caller rolls back.
_ADVANCE = f"""
WITH batch AS (
    SELECT * FROM unnest(%(topics)s::text[], %(partitions)s::int[], %(offsets)s::bigint[], %(before)s::bigint[])
        AS b(topic, kafka_partition, next_offset, before)
), moved AS (
    UPDATE processor_offsets o SET next_offset = b.next_offset, updated_at = now() FROM batch b
    WHERE o.consumer_group = %(group)s AND o.topic = b.topic AND o.kafka_partition = b.kafka_partition
      AND o.next_offset = b.before
    RETURNING o.topic, o.kafka_partition
), started AS (
    INSERT INTO processor_offsets (consumer_group, topic, kafka_partition, next_offset)
    SELECT %(group)s, topic, kafka_partition, next_offset FROM batch WHERE before IS NULL
    ON CONFLICT DO NOTHING
    RETURNING topic, kafka_partition
), saved AS (
    INSERT INTO symbol_state (symbol, last_ts, params, state)
    SELECT s.symbol, {timestamptz_of('s.last_ts')}, %(params)s::jsonb, s.state::jsonb
    FROM unnest(%(symbols)s::text[], %(last_ts)s::float8[], %(states)s::text[]) AS s(symbol, last_ts, state)
    ON CONFLICT (symbol) DO UPDATE SET last_ts = EXCLUDED.last_ts, params = EXCLUDED.params,
        state = EXCLUDED.state, updated_at = now()
)
SELECT topic, kafka_partition FROM moved UNION ALL SELECT topic, kafka_partition FROM started
"""
