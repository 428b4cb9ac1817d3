"use strict";
// Tickflow dashboard page. History comes from the read-only REST API (/api/...), everything the
// processor commits afterwards from the WebSocket /ws. The WebSocket is opened first, and events
// for the chart are held back while its history loads, so nothing falls between the two.
// Charts: lightweight-charts (npm, served from node_modules at /vendor/lightweight-charts.js).

(() => {
  const LWC = window.LightweightCharts;
  const CHART_BARS = 1500;     // history loaded per symbol
  const MAX_BARS = 4000;       // trimmed back to CHART_BARS beyond this
  const FEED_MAX = 100;        // signals kept in the live list
  const COLORS = {
    buy: "#26a69a", sell: "#ef5350", sma: "#f5a623", emaFast: "#4fc3f7", emaSlow: "#ba68c8",
    bb: "#78909c", rsi: "#e0e0e0", text: "#d8dee9", grid: "#1c2430", bg: "#0f1419",
  };
  const $ = (id) => document.getElementById(id);
  if (!LWC) {
    $("chart-message").textContent = "The charting library is missing: run `make install` (npm ci in services/dashboard/web).";
    $("chart-message").hidden = false;
    return;
  }

  const state = {
    symbol: null,
    symbols: [],
    lastId: null,          // last event id seen: where a reconnect resumes
    bars: [],              // bars on the chart, oldest first
    markers: [],
    markerKeys: new Set(),
    loading: false,        // chart history loading: chart events wait in `pending`
    pending: [],
    feedKeys: new Set(),
    liveSignals: 0,
    period: "1h",
    summaries: {},
    lastPrice: {},
    cardsDirty: false,
    retryMs: 500,
  };

  // ---------------------------------------------------------------- formatting
  const pad = (n, w = 2) => String(n).padStart(w, "0");
  function clock(ts) {
    const d = new Date(ts * 1000);
    return `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}.${Math.floor(d.getMilliseconds() / 100)}`;
  }
  const num = (v, digits = 2) => (v == null ? "—" : Number(v).toFixed(digits));
  const pct = (v) => (v == null ? "—" : `${(v * 100).toFixed(2)}%`);
  const compact = (v) => (v == null ? "—" : Intl.NumberFormat("en", { notation: "compact" }).format(v));

  // ---------------------------------------------------------------- chart
  const chart = LWC.createChart($("chart"), {
    autoSize: true,
    layout: { background: { color: COLORS.bg }, textColor: COLORS.text, panes: { separatorColor: "#263040" } },
    grid: { vertLines: { color: COLORS.grid }, horzLines: { color: COLORS.grid } },
    timeScale: { timeVisible: true, secondsVisible: true, rightOffset: 4 },
    localization: { timeFormatter: clock },
    crosshair: { mode: LWC.CrosshairMode.Normal },
  });
  const candles = chart.addSeries(LWC.CandlestickSeries, {
    upColor: COLORS.buy, downColor: COLORS.sell, wickUpColor: COLORS.buy, wickDownColor: COLORS.sell,
    borderVisible: false,
  });
  const line = (color, pane, extra = {}) => chart.addSeries(LWC.LineSeries, {
    color, lineWidth: 1, priceLineVisible: false, lastValueVisible: false, crosshairMarkerVisible: false, ...extra,
  }, pane);
  const dashed = { lineStyle: LWC.LineStyle.Dashed };
  const overlays = {        // bar field -> line series on the price pane
    sma: line(COLORS.sma, 0),
    ema_fast: line(COLORS.emaFast, 0),
    ema_slow: line(COLORS.emaSlow, 0),
    bb_upper: line(COLORS.bb, 0, dashed),
    bb_lower: line(COLORS.bb, 0, dashed),
  };
  const rsi = line(COLORS.rsi, 1, { lastValueVisible: true });
  rsi.createPriceLine({ price: 30, color: COLORS.buy, lineStyle: LWC.LineStyle.Dotted, title: "30" });
  rsi.createPriceLine({ price: 70, color: COLORS.sell, lineStyle: LWC.LineStyle.Dotted, title: "70" });
  const macdHist = chart.addSeries(LWC.HistogramSeries, { priceLineVisible: false, lastValueVisible: false }, 2);
  const lowerPanes = { rsi, macd: line(COLORS.emaFast, 2), macd_signal: line(COLORS.sma, 2) };
  const panes = chart.panes();
  panes[0].setStretchFactor(3);
  panes[1].setStretchFactor(1);
  panes[2].setStretchFactor(1.2);
  const markers = LWC.createSeriesMarkers(candles, []);

  // A value or, when the indicator has none yet, a gap ("whitespace" in lightweight-charts).
  const point = (time, value) => (value == null ? { time } : { time, value });
  const histPoint = (time, v) => (v == null ? { time }
    : { time, value: v, color: v >= 0 ? "rgba(38,166,154,0.5)" : "rgba(239,83,80,0.5)" });

  function setChartData(bars) {
    state.bars = bars;
    candles.setData(bars.map((b) => ({ time: b.ts, open: b.open, high: b.high, low: b.low, close: b.close })));
    for (const [field, series] of Object.entries({ ...overlays, ...lowerPanes })) {
      series.setData(bars.map((b) => point(b.ts, b[field])));
    }
    macdHist.setData(bars.map((b) => histPoint(b.ts, b.macd_hist)));
  }

  function addBar(b) {
    const last = state.bars[state.bars.length - 1];
    if (last && b.ts < last.ts) return;            // already on the chart (history overlap)
    if (last && b.ts === last.ts) state.bars[state.bars.length - 1] = b; else state.bars.push(b);
    candles.update({ time: b.ts, open: b.open, high: b.high, low: b.low, close: b.close });
    for (const [field, series] of Object.entries({ ...overlays, ...lowerPanes })) series.update(point(b.ts, b[field]));
    macdHist.update(histPoint(b.ts, b.macd_hist));
    if (state.bars.length > MAX_BARS) {
      setChartData(state.bars.slice(-CHART_BARS));
      setMarkers(state.markers.filter((m) => m.time >= state.bars[0].ts));
    }
  }

  const signalKey = (s) => `${s.symbol}|${s.ts}|${s.rule}`;
  const RULE_LABEL = { rsi: "R", ema_cross: "E", macd_cross: "M" };  // marker letters (see the legend)
  function toMarker(s) {
    const buy = s.side === "BUY";
    return {
      time: s.ts, position: buy ? "belowBar" : "aboveBar", shape: buy ? "arrowUp" : "arrowDown",
      color: buy ? COLORS.buy : COLORS.sell, text: RULE_LABEL[s.rule] ?? s.rule, id: signalKey(s),
    };
  }
  function setMarkers(list) {
    state.markers = list.sort((a, b) => a.time - b.time);
    state.markerKeys = new Set(list.map((m) => m.id));
    markers.setMarkers(state.markers);
  }
  function addMarker(s) {
    if (state.markerKeys.has(signalKey(s)) || !state.bars.length || s.ts < state.bars[0].ts) return;
    setMarkers([...state.markers, toMarker(s)]);
  }

  // ---------------------------------------------------------------- REST
  async function api(path) {
    const response = await fetch(path);
    if (!response.ok) throw new Error(`${path}: HTTP ${response.status} ${await response.text()}`);
    return response.json();
  }

  async function loadSymbol(symbol) {
    state.symbol = symbol;
    state.loading = true;
    state.pending = [];
    $("symbol").value = symbol;
    if (location.hash !== `#${symbol}`) history.replaceState(null, "", `#${symbol}`);
    try {
      const [bars, signals] = await Promise.all([
        api(`/api/bars?symbol=${symbol}&order=desc&limit=${CHART_BARS}`),
        api(`/api/signals?symbol=${symbol}&order=desc&limit=1000`),
      ]);
      if (symbol !== state.symbol) return;        // another symbol was picked meanwhile
      const history = bars.items.reverse();
      setChartData(history);
      const first = history.length ? history[0].ts : Infinity;
      setMarkers(signals.items.filter((s) => s.ts >= first).map(toMarker));
      showChartMessage(history.length ? "" : `No bars for ${symbol} yet: start the generator (make run).`);
    } catch (err) {
      showChartMessage(`Could not load ${symbol}: ${err.message}`);
    } finally {
      if (symbol === state.symbol) {
        state.loading = false;
        const held = state.pending;
        state.pending = [];
        held.forEach(applyToChart);
        chart.timeScale().scrollToRealTime();
        renderCards();
      }
    }
  }

  function showChartMessage(text) {
    $("chart-message").textContent = text;
    $("chart-message").hidden = !text;
  }

  async function loadSignalFeed() {
    const latest = await api("/api/signals?order=desc&limit=50");
    $("signals").replaceChildren();
    state.feedKeys.clear();
    latest.items.reverse().forEach((s) => addToFeed(s, false));
  }

  async function loadSummaries() {
    try {
      const data = await api(`/api/summary?period=${state.period}`);
      state.summaries = Object.fromEntries(data.items.map((s) => [s.symbol, s]));
      const newest = Math.max(0, ...data.items.map((s) => s.window_end));
      $("summary-note").textContent = newest
        ? `window ending ${new Date(newest * 1000).toLocaleString()} (market_summary DAG, hourly); last price live`
        : "no summaries yet: the market_summary DAG computes them hourly; last price is live";
    } catch (err) {
      $("summary-note").textContent = `summaries unavailable: ${err.message}`;
    }
    renderCards();
  }

  // ---------------------------------------------------------------- live signal list
  function addToFeed(s, live) {
    const key = signalKey(s);
    if (state.feedKeys.has(key)) return;
    state.feedKeys.add(key);
    const li = document.createElement("li");
    li.className = live ? "new" : "";
    li.dataset.key = key;
    for (const [cls, text] of [["time", clock(s.ts)], ["symbol", s.symbol], ["rule", s.rule],
      [s.side, s.side], ["price", num(s.price)]]) {
      const span = document.createElement("span");
      span.className = cls;
      span.textContent = text;
      li.append(span);
    }
    $("signals").prepend(li);
    while ($("signals").children.length > FEED_MAX) $("signals").lastElementChild.remove();
    if (live) $("feed-count").textContent = `${++state.liveSignals} new`;
  }

  // ---------------------------------------------------------------- summary cards
  function renderCards() {
    state.cardsDirty = false;
    const cards = state.symbols.map((symbol) => {
      const s = state.summaries[symbol];
      const last = state.lastPrice[symbol] ?? s?.close;
      const change = s && last != null ? last / s.open - 1 : null;
      const card = document.createElement("article");
      card.className = `card${symbol === state.symbol ? " selected" : ""}`;
      card.dataset.symbol = symbol;
      const dir = change == null ? "" : change >= 0 ? "up" : "down";
      card.innerHTML = `
        <h3><span>${symbol}</span><span class="${dir}">${pct(change)}</span></h3>
        <div class="price ${dir}">${num(last)}</div>`;
      if (s) {
        const rows = [
          ["high / low", `${num(s.high)} / ${num(s.low)}`],
          ["return", pct(s.return)],
          ["volume", compact(s.volume)],
          ["volatility", s.volatility == null ? "—" : `${(s.volatility * 100).toFixed(3)}%`],
          ["signals", `${s.buy_signals} buy · ${s.sell_signals} sell`],
          [`hit rate (${s.horizon_bars} bars)`, s.hit_rate == null ? "—" : `${pct(s.hit_rate)} of ${s.evaluated}`],
          ...s.rules.map((r) => [`  ${r.rule}`, `${r.buy_signals}B ${r.sell_signals}S · ${r.hit_rate == null ? "—" : pct(r.hit_rate)}`]),
        ];
        const dl = document.createElement("dl");
        for (const [k, v] of rows) dl.insertAdjacentHTML("beforeend", `<dt>${k}</dt><dd>${v}</dd>`);
        card.append(dl);
      } else {
        card.insertAdjacentHTML("beforeend", `<p class="none">no ${state.period} summary yet</p>`);
      }
      card.addEventListener("click", () => loadSymbol(symbol));
      return card;
    });
    $("cards").replaceChildren(...cards);
  }

  function cardsNeedRender() {
    if (state.cardsDirty) return;
    state.cardsDirty = true;
    setTimeout(renderCards, 500);   // live prices: at most two redraws a second
  }

  // ---------------------------------------------------------------- WebSocket
  function applyToChart(ev) {
    if (ev.type === "bar") addBar(ev); else addMarker(ev);
  }

  function onEvent(ev) {
    if (ev.type === "bar") {
      state.lastPrice[ev.symbol] = ev.close;
      cardsNeedRender();
    } else {
      addToFeed(ev, true);
    }
    if (ev.symbol === state.symbol) {
      if (state.loading) state.pending.push(ev); else applyToChart(ev);
    }
  }

  function setStatus(cls, text) {
    $("status").className = `status ${cls}`;
    $("status").textContent = text;
  }

  function connect() {
    const url = new URL("/ws", location.href);
    url.protocol = url.protocol === "https:" ? "wss:" : "ws:";
    if (state.lastId !== null) url.searchParams.set("after", state.lastId);
    const ws = new WebSocket(url);
    ws.onopen = () => { state.retryMs = 500; setStatus("live", "live"); };
    ws.onmessage = (message) => {
      const msg = JSON.parse(message.data);
      if (msg.type === "hello") {
        if (state.lastId === null) state.lastId = msg.head;
      } else if (msg.type === "events") {
        msg.events.forEach(onEvent);
        state.lastId = msg.last_id;
        setStatus("live", `live · feed #${state.lastId}`);
      } else if (msg.type === "heartbeat") {
        state.lastId = Math.max(state.lastId ?? 0, msg.last_id);
      } else if (msg.type === "reset") {   // could not resume (pruned): reload from REST
        state.lastId = msg.head;
        reloadAll();
      } else if (msg.type === "error") {
        console.error("feed:", msg.detail);
      }
    };
    ws.onclose = () => {
      setStatus("down", `reconnecting in ${(state.retryMs / 1000).toFixed(1)} s…`);
      setTimeout(connect, state.retryMs);
      state.retryMs = Math.min(state.retryMs * 2, 10000);
    };
  }

  async function reloadAll() {
    await Promise.all([loadSymbol(state.symbol), loadSignalFeed(), loadSummaries()]);
  }

  // ---------------------------------------------------------------- start
  async function start() {
    const symbols = await api("/api/symbols");
    state.symbols = symbols.items.filter((s) => s.configured || s.last_ts != null).map((s) => s.symbol);
    for (const s of symbols.items) if (s.last_close != null) state.lastPrice[s.symbol] = s.last_close;
    $("symbol").replaceChildren(...state.symbols.map((s) => new Option(s, s)));
    $("symbol").addEventListener("change", (e) => loadSymbol(e.target.value));
    document.querySelectorAll(".period-picker button").forEach((button) => button.addEventListener("click", () => {
      document.querySelectorAll(".period-picker button").forEach((b) => b.classList.toggle("active", b === button));
      state.period = button.dataset.period;
      loadSummaries();
    }));
    const wanted = decodeURIComponent(location.hash.slice(1)).toUpperCase();
    state.symbol = state.symbols.includes(wanted) ? wanted : state.symbols[0];
    connect();                                  // first: events committed during the loads are not lost
    state.loading = true;
    await Promise.all([loadSymbol(state.symbol), loadSignalFeed(), loadSummaries()]);
    setInterval(loadSummaries, 60000);          // the DAG refreshes them hourly
  }

  // For tests and the curious: what the page currently shows.
  window.tickflowDashboard = {
    bars: () => candles.data().length,
    markers: () => state.markers.length,
    liveSignals: () => state.liveSignals,
    feedItems: () => $("signals").children.length,
    lastId: () => state.lastId,
    symbol: () => state.symbol,
  };

  start().catch((err) => showChartMessage(`Start failed: ${err.message}`));
})();
