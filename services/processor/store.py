"""The processor's PostgreSQL sink: one transaction per batch, bulk COPY, fenced offsets.

Each batch goes in ONE transaction: its rows (COPY into a temporary staging table, then
INSERT ... SELECT ... ON CONFLICT DO NOTHING), every partition's next offset, and every
touched symbol's state. Offsets are compare-and-set: a processor that lost its partitions in
a rebalance and still tries to commit finds the offset moved and rolls back (OffsetConflict)
instead of writing twice.
"""
from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from typing import Any, Iterable

import orjson
import psycopg2
import psycopg2.extras

from services.core.indicators import INDICATOR_COLUMNS
from services.db.binary_copy import BinaryCopy
from services.processor.transaction import BatchOutput

F8 = "double precision"
# A symbol's stored bars, oldest first: what its streaming state is rebuilt from.
STORED_CLOSES_SQL = "SELECT extract(epoch FROM ts)::float8, close FROM bars WHERE symbol = %s ORDER BY ts"


class OffsetConflict(RuntimeError):
    """Another consumer advanced a partition we were about to commit: our view is stale."""


@dataclass(frozen=True, slots=True)
class Sink:
    """A target table fed through a staging table of the same column order."""

    table: str
    columns: tuple[tuple[str, str], ...]  # (name, staging type); "ts"-like epoch columns are F8
    timestamps: tuple[str, ...] = ()  # staged as epoch seconds, stored as timestamptz
    jsonb: tuple[str, ...] = ()  # staged as text, stored as jsonb
    binary: bool = False  # has bytes values, sent to COPY in bytea's hex form

    def csv_rows(self, rows: list[tuple]) -> Iterable[tuple]:
        if not self.binary:
            return rows
        return (tuple("\\x" + v.hex() if isinstance(v, (bytes, bytearray)) else v for v in row) for row in rows)

    @property
    def staging(self) -> str:
        return f"stage_{self.table}"

    def create_staging_sql(self) -> str:
        cols = ", ".join(f"{name} {kind}" for name, kind in self.columns)
        return f"CREATE TEMP TABLE IF NOT EXISTS {self.staging} ({cols}) ON COMMIT DELETE ROWS"

    def write(self, cur: Any, rows: list[tuple]) -> None:
        cur.copy_expert(f"COPY {self.staging} FROM STDIN (FORMAT csv)", copy_csv(self.csv_rows(rows)))
        cur.execute(self.insert_sql())

    def insert_sql(self) -> str:
        names = [name for name, _ in self.columns]
        exprs = [
            f"to_timestamp({n})" if n in self.timestamps else f"{n}::jsonb" if n in self.jsonb else n
            for n in names
        ]
        return (
            f"INSERT INTO {self.table} ({', '.join(names)}) "
            f"SELECT {', '.join(exprs)} FROM {self.staging} ON CONFLICT DO NOTHING"
        )


class BarSink:
    """`bars`, the one table written at the stream's full rate, staged through binary COPY.

    A bar row is all numbers but its symbol, so the staging row carries the symbol as an index
    into the batch's symbol list (passed to the INSERT as an array) and every row has the same
    width (services.db.binary_copy). Indicators not yet defined travel as NaN and land as NULL.
    """

    table = "bars"
    staging = "stage_bars"
    _numbers = ("ts", "open", "high", "low", "close", "volume", *INDICATOR_COLUMNS)

    def __init__(self) -> None:
        types = ["smallint", *(("bigint" if n == "volume" else F8) for n in self._numbers)]
        self._copy = BinaryCopy(types)
        self._create = (f"CREATE TEMP TABLE IF NOT EXISTS {self.staging} (symbol_ix smallint, "
                        + ", ".join(f"{n} {t}" for n, t in zip(self._numbers, types[1:])) + ") ON COMMIT DELETE ROWS")
        values = ["to_timestamp(ts)", "open", "high", "low", "close", "volume",
                  *(f"nullif({c}, 'NaN')" for c in INDICATOR_COLUMNS)]
        self._insert = (f"INSERT INTO bars (symbol, {', '.join(self._numbers)}) "
                        f"SELECT (%s::text[])[symbol_ix], {', '.join(values)} FROM {self.staging} "
                        "ON CONFLICT DO NOTHING")

    def create_staging_sql(self) -> str:
        return self._create

    def write(self, cur: Any, rows: list[tuple]) -> None:
        """`rows` as built by the processor: (symbol, ts, open, high, low, close, volume, *indicators)."""
        columns = list(zip(*rows))
        symbols = sorted(set(columns[0]))
        index = {symbol: i for i, symbol in enumerate(symbols, 1)}  # PostgreSQL arrays count from 1
        columns[0] = [index[symbol] for symbol in columns[0]]
        cur.copy_expert(f"COPY {self.staging} FROM STDIN (FORMAT binary)", io.BytesIO(self._copy.encode(columns)))
        cur.execute(self._insert, (symbols,))


SINKS: tuple[Sink | BarSink, ...] = (
    BarSink(),
    Sink("signals", (("symbol", "text"), ("ts", F8), ("rule", "text"), ("side", "text"), ("price", F8),
                     ("value", F8), ("reference", F8)), timestamps=("ts",)),
    Sink("late_bars", (("topic", "text"), ("kafka_partition", "integer"), ("kafka_offset", "bigint"),
                       ("symbol", "text"), ("ts", F8), ("reason", "text"), ("last_applied_ts", F8),
                       ("payload", "text")), timestamps=("ts", "last_applied_ts"), jsonb=("payload",)),
    Sink("order_book", (("symbol", "text"), ("ts", F8), ("order_type", "text"), ("price", F8),
                        ("quantity", "bigint")), timestamps=("ts",)),
    Sink("news_sentiment", (("symbol", "text"), ("ts", F8), ("sentiment_score", F8),
                            ("sentiment_magnitude", F8)), timestamps=("ts",)),
    Sink("market_data", (("symbol", "text"), ("ts", F8), ("market_cap", F8), ("pe_ratio", F8)),
         timestamps=("ts",)),
    Sink("economic_indicators", (("indicator_name", "text"), ("ts", F8), ("value", F8)), timestamps=("ts",)),
    Sink("dead_letters", (("topic", "text"), ("kafka_partition", "integer"), ("kafka_offset", "bigint"),
                          ("reason", "text"), ("payload", "bytea")), binary=True),
)

# Every table the processor writes: what a test or benchmark empties to start from nothing.
PROCESSOR_TABLES: tuple[str, ...] = (*(sink.table for sink in SINKS), "processor_offsets", "symbol_state")


def copy_csv(rows: Iterable[tuple]) -> io.StringIO:
    """Rows as CSV for `COPY ... (FORMAT csv)`: the csv module runs in C and writes floats with
    repr(), which round-trips exactly; None becomes an unquoted empty field, i.e. NULL."""
    buf = io.StringIO()
    csv.writer(buf, lineterminator="\n").writerows(rows)
    buf.seek(0)
    return buf


class BatchWriter:
    def __init__(self, dsn: str, group: str, params: dict[str, Any], stuck_after_s: float = 15.0) -> None:
        self._dsn = dsn
        # A processor frozen mid-transaction (SIGSTOP, a hung host with its TCP connection open) holds
        # the dashboard feed's commit-order lock, and with it every other writer's commit: PostgreSQL
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
            with conn, conn.cursor() as cur:
                for sink in SINKS:
                    cur.execute(sink.create_staging_sql())
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

    def load_closes(self, symbol: str) -> list[tuple[float, float]]:
        """The symbol's stored bars as (epoch seconds, close), oldest first."""
        conn = self._reader()
        with conn, conn.cursor() as cur:
            cur.execute(STORED_CLOSES_SQL, (symbol,))
            return cur.fetchall()

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
    def write(self, out: BatchOutput, expected: dict[tuple[str, int], int | None]) -> None:
        """Store the batch atomically. `expected[tp]` is the stored next offset we started from."""
        conn = self._writer()
        try:
            with conn.cursor() as cur:
                for sink in SINKS:
                    rows = getattr(out, sink.table)
                    if rows:
                        sink.write(cur, rows)
                self._advance_offsets(cur, out.next_offsets, expected)
                if out.states:
                    psycopg2.extras.execute_values(
                        cur,
                        "INSERT INTO symbol_state (symbol, last_ts, params, state) VALUES %s "
                        "ON CONFLICT (symbol) DO UPDATE SET last_ts = EXCLUDED.last_ts, "
                        "params = EXCLUDED.params, state = EXCLUDED.state, updated_at = now()",
                        [(symbol, last_ts, self._params_json, orjson.dumps(state).decode())
                         for symbol, (last_ts, state) in out.states.items()],
                        template="(%s, to_timestamp(%s), %s::jsonb, %s::jsonb)",
                    )
            conn.commit()
        except BaseException:
            if not conn.closed:
                conn.rollback()
            raise

    def _advance_offsets(self, cur: Any, next_offsets: dict[tuple[str, int], int],
                         expected: dict[tuple[str, int], int | None]) -> None:
        for (topic, partition), offset in next_offsets.items():
            before = expected.get((topic, partition))
            if before is None:
                cur.execute(
                    "INSERT INTO processor_offsets (consumer_group, topic, kafka_partition, next_offset) "
                    "VALUES (%s, %s, %s, %s) ON CONFLICT DO NOTHING",
                    (self._group, topic, partition, offset),
                )
            else:
                cur.execute(
                    "UPDATE processor_offsets SET next_offset = %s, updated_at = now() "
                    "WHERE consumer_group = %s AND topic = %s AND kafka_partition = %s AND next_offset = %s",
                    (offset, self._group, topic, partition, before),
                )
            if cur.rowcount != 1:
                raise OffsetConflict(f"{topic}[{partition}] moved past {before}: another consumer owns it now")
