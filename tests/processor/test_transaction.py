"""build_batch: routing each message to its table, dead letters, offsets and touched symbols."""
from __future__ import annotations

from dataclasses import dataclass

import orjson

from services.core.indicators import IndicatorParams
from services.core.records import ValidationContext
from services.core.signals import SignalRules
from services.core.stream import SymbolStream
from services.kafka_io import Topics
from services.processor.sinks import BarRow, DeadLetterRow, LateBarRow, NewsSentimentRow
from services.processor.transaction import MAX_MESSAGE_BYTES, build_batch

TOPICS = Topics("t.")
NOW = 1_767_225_600.0


@dataclass
class Msg:
    topic: str
    partition: int
    offset: int
    value: bytes | None
    key: bytes | None = b"AAPL"  # what ingest keys the records of these tests by
    timestamp: int = int(NOW * 1000)  # when Kafka stamped it, ms


def candle(ts: float, close: float = 100.0) -> bytes:
    return orjson.dumps({"stock_symbol": "AAPL", "opening_price": close, "closing_price": close,
                         "high": close + 1, "low": close - 1, "volume": 5, "timestamp": ts})


def run(messages: list[Msg]):  # type: ignore[no-untyped-def]
    streams: dict[str, SymbolStream] = {}

    def stream_for(symbol: str) -> SymbolStream:
        return streams.setdefault(symbol, SymbolStream(symbol, IndicatorParams(), SignalRules()))

    return build_batch(messages, stream_for, ValidationContext(now=None), TOPICS.record_type_of_topic, clock=NOW)


def test_routes_records_and_tracks_offsets() -> None:
    p, news = TOPICS.prices, TOPICS.by_record_type["news_sentiment"]
    out, count = run([
        Msg(p, 2, 40, candle(NOW - 3)),
        Msg(p, 2, 41, candle(NOW - 2)),
        Msg(p, 2, 42, candle(NOW - 2)),  # duplicate
        Msg(p, 2, 43, candle(NOW - 9)),  # late
        Msg(news, 0, 7, orjson.dumps({"data_type": "news_sentiment", "timestamp": NOW, "stock_symbol": "AAPL",
                                       "sentiment_score": 0.1, "sentiment_magnitude": 0.2})),
    ])
    assert count == 5
    bars = out.rows_of(BarRow)
    assert [(r.symbol, r.ts, r.close) for r in bars] == [("AAPL", NOW - 3, 100.0), ("AAPL", NOW - 2, 100.0)]
    assert [(r.kafka_offset, r.reason) for r in out.rows_of(LateBarRow)] == [(42, "duplicate"), (43, "late")]
    assert out.rows_of(NewsSentimentRow) == [NewsSentimentRow("AAPL", NOW, 0.1, 0.2)]
    assert out.next_offsets == {(p, 2): 44, (news, 0): 8}
    assert list(out.states) == ["AAPL"] and out.states["AAPL"][0] == NOW - 2
    assert out.rows_of(DeadLetterRow) == []


def test_poison_messages_become_dead_letters_with_reasons() -> None:
    p = TOPICS.prices
    econ = orjson.dumps({"data_type": "economic_indicator", "timestamp": NOW, "indicator_name": "CPI", "value": 1.0})
    out, count = run([
        Msg(p, 0, 1, b"not json"),
        Msg(p, 0, 2, orjson.dumps({"stock_symbol": "AAPL"})),
        Msg(p, 0, 3, econ),                                  # valid record, wrong topic
        Msg(p, 0, 4, candle(NOW, close=-5.0)),               # absurd value
        Msg(p, 0, 5, b"[" + b"1," * MAX_MESSAGE_BYTES + b"1]"),
        Msg(p, 0, 6, None),
        Msg(p, 0, 7, candle(NOW - 1)),
    ])
    dead = out.rows_of(DeadLetterRow)
    reasons = [r.reason for r in dead]
    assert [r.kafka_offset for r in dead] == [1, 2, 3, 4, 5, 6]
    assert reasons[0].startswith("not JSON")
    assert "opening_price: Field required" in reasons[1]
    assert reasons[2] == f"a economic_indicator record on {p}"
    assert "closing_price" in reasons[3]
    assert "exceeds" in reasons[4] and len(dead[4].payload) == MAX_MESSAGE_BYTES
    assert len(out.rows_of(BarRow)) == 1 and out.next_offsets == {(p, 0): 8} and count == 7


def test_a_record_keyed_by_another_symbol_is_a_dead_letter_whatever_the_timing() -> None:
    """On another symbol's partition its order against its own symbol's bars would depend on timing."""
    p, econ_topic = TOPICS.prices, TOPICS.by_record_type["economic_indicator"]
    econ = orjson.dumps({"data_type": "economic_indicator", "timestamp": NOW, "indicator_name": "CPI", "value": 1.0})
    out, _ = run([
        Msg(p, 0, 1, candle(NOW - 5), key=b"MSFT"),
        Msg(p, 0, 2, candle(NOW - 4), key=None),
        Msg(p, 0, 3, candle(NOW - 3), key=b"\xffAAPL"),
        Msg(econ_topic, 0, 4, econ, key=b"GDP"),
        Msg(econ_topic, 0, 5, econ, key=b"CPI"),
        Msg(p, 0, 6, candle(NOW - 2)),
    ])
    dead = out.rows_of(DeadLetterRow)
    assert [r.kafka_offset for r in dead] == [1, 2, 3, 4]
    assert dead[0].reason == "keyed b'MSFT', not by its stock_symbol 'AAPL' as ingest keys it"
    assert dead[1].reason == "keyed None, not by its stock_symbol 'AAPL' as ingest keys it"
    assert dead[3].reason == "keyed b'GDP', not by its indicator_name 'CPI' as ingest keys it"
    assert [(r.symbol, r.ts) for r in out.rows_of(BarRow)] == [("AAPL", NOW - 2)]
    assert sum(1 for rows in out.rows.values() if rows) == 3  # bars, dead letters and the one economic indicator


def test_a_record_from_beyond_the_skew_never_moves_event_time() -> None:
    """Judged against the time Kafka stamped on the message (a replay decides the same), or the
    processor's clock when that is earlier (a producer's own stamp cannot be trusted further)."""
    p, skew = TOPICS.prices, ValidationContext(now=None).max_future_skew
    stamped = int((NOW - 100) * 1000)
    out, _ = run([
        Msg(p, 0, 1, candle(NOW - 100 + skew), timestamp=stamped),         # at the limit: applied
        Msg(p, 0, 2, candle(NOW - 100 + skew + 0.01), timestamp=stamped),  # beyond the stamp + skew
        Msg(p, 0, 3, candle(NOW + skew + 1), timestamp=int((NOW + 3600) * 1000)),  # stamp beyond our clock
        Msg(p, 0, 4, candle(NOW - 90)),
    ])
    dead = out.rows_of(DeadLetterRow)
    assert [r.kafka_offset for r in dead] == [2, 3]
    assert dead[0].reason == (f"invalid record: timestamp: {NOW - 100 + skew + 0.01:.6f} is {skew + 0.01:.3f} s ahead "
                              f"of the time it reached Kafka; at most {skew:g} s of clock skew is allowed")
    assert f"is {skew + 1:.3f} s ahead" in dead[1].reason
    assert [r.ts for r in out.rows_of(BarRow)] == [NOW - 100 + skew, NOW - 90]
    assert out.rows_of(LateBarRow) == []  # the genuine bar after the refused one is not late


def test_each_table_is_declared_once_by_its_row_type() -> None:
    """The sinks' INSERTs (and the bars' staging table) follow the row types' fields, in order."""
    from services.core.indicators import INDICATOR_COLUMNS
    from services.processor.sinks import SINKS, SignalRow

    by_table = {sink.table: sink for sink in SINKS}
    assert by_table["signals"].row is SignalRow
    assert by_table["signals"].insert_sql().startswith(
        "INSERT INTO signals (symbol, timeframe, ts, rule, side, price, value, reference) "
        "SELECT symbol, timeframe, (timestamptz 'epoch' + round(ts * 1000000) * interval '1 microsecond'), ")
    assert ("FROM unnest(%s::text[], %s::bigint[], %s::bigint[], %s::text[], %s::bytea[]) "
            "AS s(topic, kafka_partition, kafka_offset, reason, payload)") in by_table["dead_letters"].insert_sql()
    assert BarRow._fields == ("symbol", "timeframe", "ts", "open", "high", "low", "close", "volume", "base_bars",
                              *INDICATOR_COLUMNS)
    assert "stage_bars (symbol_ix smallint, timeframe_ix smallint, ts double precision, open double precision" in (
        by_table["bars"].create_staging_sql())
