"""The dashboard's read-only REST API on the real PostgreSQL, with prepared bars and signals."""
from __future__ import annotations

import base64
import math
from datetime import datetime, timezone
from typing import Any, Iterator, get_args

import orjson
import psycopg2
import pytest
from dashboard_data import candles, insert_rows, stream_rows
from fastapi.testclient import TestClient
from sqlalchemy import Engine, text
from support import ROOT

from services.config import Settings
from services.core.indicators import INDICATOR_COLUMNS
from services.dashboard.app import create_app
from services.dashboard.schemas import Period
from services.db.connect import SIDE_DASHBOARD
from services.orchestration.analytics.market_summary import PERIODS, summarize

START = 1_700_000_000.0  # 2023-11-14T22:13:20Z
BAR_FIELDS = ("ts", "open", "high", "low", "close", "volume", *INDICATOR_COLUMNS)


@pytest.fixture
def prepared(dash_db: Settings) -> dict[str, Any]:
    bars, signals = stream_rows(candles(("AAPL", "MSFT"), 600, seed=21, start=START))
    insert_rows(dash_db.database_url, bars, signals)
    by_symbol: dict[str, list[dict[str, Any]]] = {}
    for row in bars:
        by_symbol.setdefault(row[0], []).append(dict(zip(BAR_FIELDS, row[1:])))
    sigs = [dict(zip(("symbol", "ts", "rule", "side", "price", "value", "reference"), s)) for s in signals]
    return {"bars": by_symbol, "signals": sigs}


@pytest.fixture
def client(dash_db: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(dash_db)) as c:
        yield c


def same_bar(got: dict[str, Any], want: dict[str, Any]) -> bool:
    for key in BAR_FIELDS:
        a, b = got[key], want[key]
        if (a is None) != (b is None):
            return False
        if a is not None and not math.isclose(a, b, rel_tol=1e-12, abs_tol=1e-9):
            return False
    return True


def all_pages(client: TestClient, url: str) -> tuple[list[dict[str, Any]], int]:
    items, pages = [], 0
    while url:
        response = client.get(url)
        assert response.status_code == 200, response.text
        body = response.json()
        items += body["items"]
        assert body["count"] == len(body["items"])
        pages += 1
        url = body["next"]
    return items, pages


def iso(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, timezone.utc).isoformat().replace("+00:00", "Z")


def test_bars_page_through_exactly_the_stored_rows(client: TestClient, prepared: dict[str, Any]) -> None:
    want = prepared["bars"]["AAPL"]
    got, pages = all_pages(client, "/api/bars?symbol=AAPL&limit=70")
    assert pages == math.ceil(len(want) / 70)
    assert len(got) == len(want) == 300
    assert all(same_bar(g, w) for g, w in zip(got, want))
    assert got[0]["sma"] is None and got[-1]["sma"] is not None  # NULL where the indicator has no value yet

    newest_first, _ = all_pages(client, "/api/bars?symbol=aapl&order=desc&limit=128")
    assert [b["ts"] for b in newest_first] == [b["ts"] for b in reversed(want)]

    # A time range [from, to), as epoch seconds or ISO 8601.
    lo, hi = want[50]["ts"], want[100]["ts"]
    for params in (f"from={lo}&to={hi}", f"from={iso(lo)}&to={iso(hi)}"):
        body = client.get(f"/api/bars?symbol=AAPL&{params}&limit=5000").json()
        assert [b["ts"] for b in body["items"]] == [b["ts"] for b in want[50:100]]
        assert body["next"] is None


def test_signals_filter_and_page(client: TestClient, prepared: dict[str, Any]) -> None:
    signals = prepared["signals"]
    def key(s: dict[str, Any]) -> tuple[Any, ...]:
        return (s["ts"], s["symbol"], s["rule"])

    everything, pages = all_pages(client, "/api/signals?limit=7")
    assert pages > 2
    assert [key(s) for s in everything] == sorted(key(s) for s in signals)
    assert all(s["price"] == next(w for w in signals if key(w) == key(s))["price"] for s in everything)

    msft = sorted((s for s in signals if s["symbol"] == "MSFT"), key=key)
    since = msft[len(msft) // 2]["ts"]
    got, _ = all_pages(client, f"/api/signals?symbol=MSFT&since={since}&order=desc&limit=3")
    assert [key(s) for s in got] == [key(s) for s in reversed(msft) if s["ts"] >= since]
    assert {s["side"] for s in got} <= {"BUY", "SELL"}


def test_symbols_list_configured_and_stored(client: TestClient, prepared: dict[str, Any], dash_db: Settings) -> None:
    items = {s["symbol"]: s for s in client.get("/api/symbols").json()["items"]}
    assert set(items) == set(dash_db.symbols)
    aapl = prepared["bars"]["AAPL"]
    assert items["AAPL"]["first_ts"] == pytest.approx(aapl[0]["ts"])
    assert items["AAPL"]["last_ts"] == pytest.approx(aapl[-1]["ts"])
    assert items["AAPL"]["last_close"] == aapl[-1]["close"]
    assert items["TSLA"] == {"symbol": "TSLA", "configured": True, "first_ts": None, "last_ts": None,
                             "last_close": None}


def test_summary_returns_the_newest_stored_summaries(client: TestClient, prepared: dict[str, Any],
                                                      dash_db: Settings) -> None:
    assert client.get("/api/summary").json() == {"items": []}
    end = datetime.fromtimestamp(START + 400, timezone.utc)
    summarize(dash_db.database_url, datetime.fromtimestamp(START + 200, timezone.utc), 5, run_id="older")
    summarize(dash_db.database_url, end, 5, run_id="newer")
    body = client.get("/api/summary?period=1h").json()
    assert [(s["symbol"], s["period"], s["run_id"]) for s in body["items"]] == [("AAPL", "1h", "newer"),
                                                                               ("MSFT", "1h", "newer")]
    aapl = body["items"][0]
    bars = [b for b in prepared["bars"]["AAPL"] if b["ts"] < START + 400]
    assert aapl["window_end"] == START + 400 and aapl["bars"] == len(bars)
    assert aapl["open"] == bars[0]["open"] and aapl["close"] == bars[-1]["close"]
    assert [r["rule"] for r in aapl["rules"]] == ["ema_cross", "macd_cross", "rsi"]
    assert len(client.get("/api/summary").json()["items"]) == 4
    assert [s["symbol"] for s in client.get("/api/summary?symbol=MSFT").json()["items"]] == ["MSFT", "MSFT"]


def test_the_api_serves_the_periods_the_dag_computes_and_the_table_allows() -> None:
    # The dashboard spells the periods out itself (it does not import the DAG side): keep them in step.
    assert get_args(Period) == tuple(PERIODS)
    allowed = f"CHECK (period IN ({', '.join(repr(p) for p in PERIODS)}))"
    assert allowed in (ROOT / "sql" / "0026_market_summary_timeframes.sql").read_text()


@pytest.mark.parametrize("url, status, message", [
    ("/api/bars", 422, "symbol"),
    ("/api/bars?symbol=NOPE", 404, "unknown symbol 'NOPE'"),
    ("/api/bars?symbol=$$$", 422, "is not a symbol"),
    ("/api/bars?symbol=AAPL&from=yesterday", 422, "neither ISO 8601"),
    ("/api/bars?symbol=AAPL&to=nan", 422, "neither ISO 8601"),
    ("/api/bars?symbol=AAPL&from=1700000100&to=1700000000", 422, "`to` must be after `from`"),
    ("/api/bars?symbol=AAPL&limit=0", 422, "greater than or equal to 1"),
    ("/api/bars?symbol=AAPL&limit=5001", 422, "less than or equal to 5000"),
    ("/api/bars?symbol=AAPL&limit=ten", 422, "valid integer"),
    ("/api/bars?symbol=AAPL&order=up", 422, "'asc' or 'desc'"),
    ("/api/bars?symbol=AAPL&cursor=garbage", 422, "not a cursor from this API"),
    ("/api/bars?symbol=AAPL&symbl=MSFT", 422, "unknown parameter(s) symbl"),
    ("/api/signals?since=2024-13-45", 422, "neither ISO 8601"),
    ("/api/signals?symbol=ZZZZ", 404, "unknown symbol"),
    ("/api/signals?limit=1001", 422, "less than or equal to 1000"),
    ("/api/summary?period=1w", 422, "'1h', '1d' or '7d'"),
    ("/api/symbols?x=1", 422, "unknown parameter(s) x"),
])
def test_bad_parameters_get_a_clear_4xx(client: TestClient, url: str, status: int, message: str) -> None:
    response = client.get(url)
    assert response.status_code == status, response.text
    assert message in response.text


def test_a_cursor_only_continues_its_own_listing(client: TestClient, prepared: dict[str, Any]) -> None:
    page = client.get("/api/bars?symbol=AAPL&limit=10").json()
    wrong_order = client.get(f"/api/bars?symbol=AAPL&limit=10&order=desc&cursor={page['next_cursor']}")
    assert wrong_order.status_code == 422 and "order=asc" in wrong_order.text
    elsewhere = client.get(f"/api/signals?cursor={page['next_cursor']}")
    assert elsewhere.status_code == 422 and "another endpoint" in elsewhere.text


def test_rest_reads_through_the_read_only_role(client: TestClient, prepared: dict[str, Any],
                                               owner_db: Engine, dash_db: Settings) -> None:
    assert client.get("/api/bars?symbol=AAPL&limit=5").status_code == 200
    engine = client.app.state.reader  # the engine every /api endpoint reads with
    with engine.connect() as conn:
        user, read_only = conn.execute(text("SELECT current_user, current_setting('transaction_read_only')")).one()
        assert (user, read_only) == (SIDE_DASHBOARD, "on")  # the dashboard's login in the test database
    raw = engine.raw_connection()
    try:
        with raw.cursor() as cur, pytest.raises(psycopg2.Error) as refused:
            cur.execute("DELETE FROM bars")
        assert isinstance(refused.value,
                          (psycopg2.errors.ReadOnlySqlTransaction, psycopg2.errors.InsufficientPrivilege))
    finally:
        raw.rollback()
        raw.close()
    with owner_db.connect() as conn:
        users = set(conn.execute(text(
            "SELECT usename FROM pg_stat_activity WHERE application_name = 'tickflow-dashboard-api' "
            "AND datname = current_database()")).scalars())
    assert users == {SIDE_DASHBOARD}


def test_docs_page_and_library_are_served(client: TestClient) -> None:
    spec = client.get("/openapi.json").json()
    assert {"/api/symbols", "/api/bars", "/api/signals", "/api/summary"} <= set(spec["paths"])
    assert {p["name"] for p in spec["paths"]["/api/bars"]["get"]["parameters"]} == {
        "symbol", "timeframe", "from", "to", "order", "limit", "cursor"}
    assert {"/api/timeframes", "/api/bars/forming"} <= set(spec["paths"])
    assert client.get("/docs").status_code == 200
    page = client.get("/")
    assert page.status_code == 200 and '<script src="/vendor/lightweight-charts.js">' in page.text
    library = client.get("/vendor/lightweight-charts.js")
    assert library.status_code == 200, "run `npm ci` in services/dashboard/web (make install does)"
    assert "LightweightCharts" in library.text and library.headers["content-type"].startswith("text/javascript")
    assert client.get("/static/app.js").status_code == 200
    assert ('<script src="/static/timeframes.js">' in page.text
            and client.get("/static/timeframes.js").status_code == 200)
    assert client.get("/static/style.css").status_code == 200


@pytest.mark.parametrize("key", [
    ["2024-01-01T00:00:00+00:00", 5, "rsi"],            # a number where the symbol goes (a 500 before)
    ["2024-01-01T00:00:00+00:00", "AAPL", ["rsi"]],
    ["2024-01-01T00:00:00+00:00", "AAPL", "x" * 500],
])
def test_a_tampered_cursor_is_a_4xx_naming_the_cursor(client: TestClient, key: list) -> None:
    forged = base64.urlsafe_b64encode(orjson.dumps(["signals", "asc", *key])).decode().rstrip("=")
    response = client.get(f"/api/signals?cursor={forged}")
    assert response.status_code == 422, response.text
    assert response.json()["detail"][0]["loc"] == ["query", "cursor"]


@pytest.mark.parametrize("query", ["symbol=", "cursor=", "since=", "symbol=" + "A" * 40])
def test_empty_or_oversized_parameters_are_refused_by_the_schema(client: TestClient, query: str) -> None:
    assert client.get(f"/api/signals?{query}").status_code == 422
    spec = client.get("/openapi.json").json()
    params = {p["name"]: p["schema"] for p in spec["paths"]["/api/signals"]["get"]["parameters"]}
    assert params["symbol"]["anyOf"][0]["minLength"] == 1 and params["cursor"]["anyOf"][0]["minLength"] == 1


def test_real_instruments_are_served_when_the_symbol_pattern_accepts_them(dash_db: Settings, owner_db: Engine) -> None:
    """README "Real market data": BTC/USD (percent-encoded in the query) with a fractional volume."""
    with owner_db.begin() as conn:
        conn.execute(text("INSERT INTO bars (symbol, timeframe, ts, open, high, low, close, volume, base_bars) "
                          "VALUES ('BTC/USD', 'raw', '1950-01-02T00:00:00Z', 0.5, 0.52, 0.49, 0.51, 0.125, 1)"))
    with TestClient(create_app(dash_db.with_updates(symbol_pattern="[A-Z]{3}/USD"))) as client:
        page = client.get("/api/bars?symbol=btc%2Fusd").json()
        assert [(b["ts"], b["close"], b["volume"]) for b in page["items"]] == [(-631065600.0, 0.51, 0.125)]
        assert page["symbol"] == "BTC/USD"
        assert "BTC/USD" in [s["symbol"] for s in client.get("/api/symbols").json()["items"]]
        assert client.get("/api/bars?symbol=ETH%2FEUR").status_code == 404
    with TestClient(create_app(dash_db)) as client:  # no pattern: the configured symbols only
        assert client.get("/api/bars?symbol=BTC%2FUSD").status_code == 404


@pytest.mark.parametrize("url, name", [
    ("/api/bars?symbol=AAPL&from=\u0663", "from"),                        # Arabic-Indic 3: read as epoch 3 before
    ("/api/bars?symbol=AAPL&to=\u0661\u0667\u0660\u0660\u0660\u0660\u0660\u0660\u0660\u0660", "to"),
    ("/api/bars?symbol=AAPL&limit=\u0663", "limit"),
    ("/api/signals?since=\uff13", "since"),                                # fullwidth 3
    ("/api/signals?until=1\u0667\u0660\u0660\u0660\u0660\u0660\u0660\u0660\u0660", "until"),
    ("/api/signals?limit=\uff11\uff10", "limit"),
])
def test_numbers_in_parameters_are_ascii_digits(client: TestClient, prepared: dict[str, Any], url: str,
                                                name: str) -> None:
    response = client.get(url)
    assert response.status_code == 422, response.text
    assert [e["loc"] for e in response.json()["detail"]] == [["query", name]]
    ascii_digits = url.translate({c: str(d) for d in range(10) for c in (0x660 + d, 0xff10 + d)})
    assert client.get(ascii_digits).status_code == 200  # the same number in ASCII digits is read
