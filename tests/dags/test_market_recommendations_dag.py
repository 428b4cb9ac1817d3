"""market_recommendations with dag.test() on the real PostgreSQL, from real stored rows: GOOG's daily
history as the processor stored it (bars, indicators, signals), its signal evaluations and forecast
made by the other DAGs' code, and news sentiment rows. Every number of every text is among the row's
facts, and the facts equal the stored rows, re-read here by their keys and by our own queries. The
LLM phrasing goes to a local FAKE OpenAI-compatible endpoint (tests/fake_llm.py): its good answer is
stored, its answer with an invented number is replaced by the template's text."""
from __future__ import annotations

import copy
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import pytest
from dags_support import task_states, xcom
from fake_llm import FakeLLM, plain_words
from goog_daily import GoogDaily
from sqlalchemy import Engine, text

from services.config import Settings
from services.core.recommendation import template_text, unsupported_numbers
from services.orchestration.analytics.market_forecast import forecast_symbol
from services.orchestration.analytics.signal_evaluation import evaluate_signals

END = datetime(2013, 3, 2, tzinfo=timezone.utc)
NEWS = [(END - timedelta(hours=h), score, 0.5) for h, score in ((1, 0.4), (5, -0.1), (23, 0.25), (30, -0.9))]


def close_to(fact: float, stored: float) -> bool:
    """`fact` is `stored` rounded at the fact's own last decimal."""
    exponent = Decimal(repr(fact)).as_tuple().exponent
    return abs(fact - stored) <= 0.5 * 10.0 ** exponent + 1e-9 * abs(stored)


def one(conn: Any, sql: str, **params: Any) -> dict[str, Any]:
    [row] = conn.execute(text(sql), params).mappings().all()
    return dict(row)


def answer(facts: dict[str, Any], draft: str) -> tuple[int, str]:
    """The fake model: plain words for daily candles, an invented number for the base bars."""
    return plain_words(facts, draft) if facts["timeframe"] == "1d" else (200, "GOOG will gain 12.5% this week.")


@pytest.fixture
def stored_inputs(goog_tables: GoogDaily, base_settings: Settings, owner_db: Engine) -> None:
    with owner_db.begin() as conn:
        conn.execute(text("TRUNCATE signal_evaluations, market_forecasts, forecast_evaluations, news_sentiment, "
                          "recommendations"))
    dsn = base_settings.database_url  # the writer, as the DAGs write
    evaluate_signals(dsn, END, timedelta(days=4000), 10.0, ["GOOG"], ["raw", "1d"])
    evaluate_signals(dsn, END, timedelta(days=4000), 0.0, ["GOOG"], ["1d"])  # another fee: not the configured one
    forecast_symbol(dsn, "GOOG", END, 7, 300, 5)
    with owner_db.begin() as conn:
        conn.execute(text("INSERT INTO news_sentiment (symbol, ts, sentiment_score, sentiment_magnitude) "
                          "VALUES (:s, :ts, :score, :mag)"),
                     [{"s": "GOOG", "ts": ts, "score": score, "mag": mag} for ts, score, mag in NEWS])


def test_recommendations_on_goog(stored_inputs: None, dag_bag: dict[str, Any], dag_env: None, owner_db: Engine,
                                 goog_tables: GoogDaily, monkeypatch: pytest.MonkeyPatch) -> None:
    # the run's symbols ([]: all configured); AAPL has no bars: no row
    monkeypatch.setenv("TICKFLOW_SYMBOLS", "GOOG,AAPL")
    with FakeLLM(answer) as fake:
        monkeypatch.setenv("TICKFLOW_RECOMMENDATION_LLM_URL", fake.url)
        monkeypatch.setenv("TICKFLOW_RECOMMENDATION_LLM_MODEL", "fake-model")
        monkeypatch.setenv("TICKFLOW_RECOMMENDATION_LLM_KEY", "sk-fake")
        run = dag_bag["market_recommendations"].test(run_conf={
            "symbols": [], "timeframes": ["raw", "1d"], "end": END.isoformat(), "min_trades": 10})
        assert run.state == "success", task_states(run)
    assert len(fake.requests) == 2
    report = xcom(run, "recommend")
    assert report["rows"] == 2 and report["skipped"] == ["AAPL raw", "AAPL 1d"]

    with owner_db.connect() as conn:
        rows = {r["timeframe"]: dict(r) for r in conn.execute(text(
            "SELECT * FROM recommendations ORDER BY timeframe")).mappings()}
        assert set(rows) == {"raw", "1d"}
        for timeframe, row in rows.items():
            facts = row["facts"]
            assert (row["symbol"], row["as_of"], row["run_id"], row["llm_model"]) == ("GOOG", END, run.run_id,
                                                                                      "fake-model")
            # every number of every text is among the facts; the template is the facts written out
            assert unsupported_numbers(row["text"], facts) == []
            assert unsupported_numbers(row["template_text"], facts) == []
            assert row["template_text"] == template_text(facts) and row["weight"] == facts["summary"]["weight"]
            check_facts_are_the_stored_rows(conn, timeframe, facts, goog_tables)
        llm, template = rows["1d"], rows["raw"]
        assert (llm["phrasing"], llm["fallback_reason"]) == ("llm", None)
        assert llm["text"] == plain_words(llm["facts"], "")[1]
        assert (template["phrasing"], template["text"]) == ("template", template["template_text"])
        assert template["fallback_reason"] == "numbers not among the facts: 12.5"
        assert conn.execute(text("SELECT count(*) FROM recommendation_latest")).scalar_one() == 2

    # The raw text, read as a person would: the newest base bar is GOOG's real close of 2013-03-01.
    words = template["text"]
    assert words.startswith("GOOG (base bars), as of 2013-03-02. Close 806.19 on 2013-03-01.")
    assert "News: 3 items in the last 24 h, mean sentiment +0.18 on a scale from -1 to 1." in words
    forecast = template["facts"]["forecast"]
    assert ("the forecast is no better than assuming no change" in words) == (not forecast["beats_naive"])
    assert all(f"{rule} last said " in words for rule in ("ema_cross", "macd_cross", "rsi")) and "Weight: " in words


def check_facts_are_the_stored_rows(conn: Any, timeframe: str, facts: dict[str, Any], goog: GoogDaily) -> None:
    """Each part of the facts against its row, found by its key and by a query of our own."""
    ind = facts["indicators"]
    assert ind["source"]["table"] == "bars"
    newest = conn.execute(text("SELECT max(ts) FROM bars WHERE symbol = 'GOOG' AND timeframe = :tf AND ts < :e"),
                          {"tf": timeframe, "e": END}).scalar_one()
    bar = one(conn, "SELECT * FROM bars WHERE symbol = :symbol AND timeframe = :timeframe AND ts = :ts",
              **ind["source"]["key"])
    assert bar["ts"] == newest and not ind["stale"]
    assert bar["close"] == goog.csv.loc[newest, "Close"]
    for name in ("close", "sma", "ema_fast", "ema_slow", "rsi", "macd", "macd_signal", "bb_upper", "bb_lower"):
        assert close_to(ind[name], bar[name]), name
    assert close_to(ind["bollinger_position_pct"],
                    100 * (bar["close"] - bar["bb_lower"]) / (bar["bb_upper"] - bar["bb_lower"]))

    assert [s["rule"] for s in facts["signals"]] == ["ema_cross", "macd_cross", "rsi"]
    for item in facts["signals"]:
        key = item["latest"]["source"]["key"]
        signal = one(conn, "SELECT * FROM signals WHERE symbol = :symbol AND timeframe = :timeframe AND ts = :ts "
                           "AND rule = :rule", **key)
        assert signal["ts"] == conn.execute(text(
            "SELECT max(ts) FROM signals WHERE symbol = 'GOOG' AND timeframe = :tf AND rule = :r AND ts < :e"),
            {"tf": timeframe, "r": item["rule"], "e": END}).scalar_one()
        assert item["latest"]["side"] == signal["side"] and close_to(item["latest"]["price"], signal["price"])
        ev = item["evaluation"]
        row = one(conn, "SELECT * FROM signal_evaluations WHERE symbol = :symbol AND timeframe = :timeframe "
                        "AND rule = :rule AND window_end = :window_end AND fee_bps = :fee_bps", **ev["source"]["key"])
        assert (row["rule"], row["window_end"], row["fee_bps"]) == (item["rule"], END, 10.0)
        assert (ev["from"], ev["to"]) == (f"{row['first_ts']:%Y-%m-%d}", f"{row['last_ts']:%Y-%m-%d}")  # the bars'
        assert ev["trades"] == row["trades"] and ev["enough_trades"] == (row["trades"] >= 10)
        for name in ("win_rate", "mean_trade_return", "total_return", "bh_total_return"):
            assert close_to(ev[f"{name}_pct"], 100 * row[name]), name
        assert ev["beats_buy_and_hold"] == (row["total_return"] > row["bh_total_return"])

    fc = facts["forecast"]
    row = one(conn, "SELECT * FROM market_forecasts WHERE symbol = :symbol AND as_of = :as_of AND target = :target "
                    "AND step = :step", **fc["source"]["key"])
    assert (row["target"], row["step"], fc["horizon_days"], row["as_of"]) == ("close", 7, 7, END - timedelta(days=2))
    assert fc["model"] == row["model"] and fc["beats_naive"] == row["beats_naive"]
    assert fc["clearly_beats_naive"] == (row["beats_naive"] and row["mase"] <= 0.9 * row["naive_mase"])
    for name in ("lo_80", "hi_80", "lo_95", "hi_95", "mase", "naive_mase"):
        assert close_to(fc[name], row[name]), name
    assert close_to(fc["close"], row["forecast"])

    news = facts["news"]
    key = news["source"]["key"]
    count, mean = conn.execute(text("SELECT count(*), avg(sentiment_score) FROM news_sentiment WHERE symbol = :symbol "
                                    "AND ts >= :ts_from AND ts < :ts_to"), key).one()
    assert (key["ts_from"], key["ts_to"]) == ((END - timedelta(hours=24)).isoformat(), END.isoformat())
    assert news["items"] == count == 3 and close_to(news["mean_score"], mean)
    assert mean == pytest.approx((0.4 - 0.1 + 0.25) / 3)


def test_market_recommendations_refuses_bad_params(goog_tables: GoogDaily, dag_bag: dict[str, Any]) -> None:
    from airflow.sdk.exceptions import ParamValidationError

    for name, bad in (("symbols", ["NOPE"]), ("timeframes", ["7x"]), ("min_trades", 0), ("end", "yesterday")):
        params = copy.deepcopy(dag_bag["market_recommendations"].params)
        with pytest.raises(ParamValidationError, match=f"Invalid input for param {name}: "):
            params[name] = bad  # refused by the trigger form and the API: no run is created
