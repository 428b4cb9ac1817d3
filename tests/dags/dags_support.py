"""Helpers for the DAG tests (not tests): the pipeline's output and how to read it back."""
from __future__ import annotations

from dataclasses import dataclass

import pandas as pd
from sqlalchemy import Engine, text
from support import wait_until

from services.config import Settings
from services.kafka_io import make_consumer


@dataclass
class Streamed:
    bars: pd.DataFrame  # exactly what the processor wrote: base bars
    signals: pd.DataFrame
    start: float  # epoch of each symbol's first candle
    rolled_bars: pd.DataFrame  # its rolled candles (1m, 5m, ...) and their signals
    rolled_signals: pd.DataFrame

    def times(self, symbol: str) -> pd.Series:
        return self.bars.loc[self.bars["symbol"] == symbol, "ts"].reset_index(drop=True)


def read_tables(engine: Engine) -> tuple[pd.DataFrame, pd.DataFrame]:
    with engine.connect() as conn:
        bars = pd.read_sql_query(text("SELECT * FROM bars WHERE timeframe = 'raw' ORDER BY symbol, ts"), conn)
        signals = pd.read_sql_query(text("SELECT symbol, ts, rule, side, price, value, reference FROM signals "
                                         "WHERE timeframe = 'raw' ORDER BY symbol, ts, rule"), conn)
    return bars, signals


def read_rolled(engine: Engine) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The rolled candles and their signals (every timeframe but raw), in key order."""
    with engine.connect() as conn:
        bars = pd.read_sql_query(text("SELECT * FROM bars WHERE timeframe <> 'raw' ORDER BY symbol, timeframe, ts"),
                                 conn)
        signals = pd.read_sql_query(text(
            "SELECT symbol, timeframe, ts, rule, side, price, value, reference FROM signals WHERE timeframe <> 'raw' "
            "ORDER BY symbol, timeframe, ts, rule"), conn)
    return bars, signals


def xcom(dag_run: object, task_id: str, map_index: int = -1) -> object:
    """The return value of a task of a finished run (from the metadata database)."""
    from airflow.models.xcom import XComModel
    from airflow.utils.session import create_session

    with create_session() as session:
        row = session.scalars(XComModel.get_many(run_id=dag_run.run_id, dag_ids=dag_run.dag_id,  # type: ignore[attr-defined]
                                                 task_ids=task_id, key="return_value", map_indexes=map_index)).first()
        return None if row is None else XComModel.deserialize_value(row)


def task_states(dag_run: object) -> dict[str, str]:
    """{task_id or task_id[map_index]: state} of a finished run."""
    from airflow.models.taskinstance import TaskInstance
    from airflow.utils.session import create_session
    from sqlalchemy import select

    with create_session() as session:
        tis = session.scalars(select(TaskInstance).where(TaskInstance.dag_id == dag_run.dag_id,  # type: ignore[attr-defined]
                                                         TaskInstance.run_id == dag_run.run_id)).all()  # type: ignore[attr-defined]
        return {ti.task_id if ti.map_index < 0 else f"{ti.task_id}[{ti.map_index}]": str(ti.state) for ti in tis}


def wait_for_topic_metadata(stack: Settings) -> None:
    """Wait until a new client sees every topic's partitions.

    A processor that joins its group while the broker still has no metadata for freshly created
    topics gets no partitions and (kafka-python 3.0.12) may not re-join for a long time.
    """
    consumer = make_consumer(stack.kafka_bootstrap, None)
    try:
        def visible() -> bool:
            return all(len(consumer.partitions_for_topic(t.name) or ()) == t.partitions for t in stack.topics.specs)

        wait_until(visible, timeout=30, interval=0.2, what="metadata of the new topics")
    finally:
        consumer.close()
