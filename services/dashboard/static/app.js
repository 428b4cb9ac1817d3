"use strict";
// Tickflow dashboard page. History comes from the read-only REST API (/api/...), everything the
// processor commits afterwards from the WebSocket /ws. The WebSocket is opened first, and events
// for the chart are held back while its history loads, so nothing falls between the two.
// Charts: lightweight-charts (npm, served from node_modules at /vendor/lightweight-charts.js).
//
// Timeframes: `raw` shows the base bars, and the feed's bars and signals go straight onto the
// chart. A rolled-up timeframe (1m, 5m, ...) shows its stored (closed) candles with their
// indicators and signals from REST, plus the forming candle, which is not stored: the page gets it
// from /api/bars/forming and grows it with the feed's base bars (timeframes.js). When a base bar
// of a later window arrives, the forming window has closed and its candle is stored in the same
// transaction as that bar, so the page then fetches the newest stored candles and signals.

(() => {
  const LWC = window.LightweightCharts;
  const TF = window.TickflowTimeframes;
  const CHART_BARS = 1500;     // history loaded per symbol
  const MAX_BARS = 4000;       // trimmed back to CHART_BARS beyond this
  const FEED_MAX = 100;        // signals kept in the live list
  const COLORS = {
    buy: "#26a69a", sell: "#ef5350", sma: "#f5a623", emaFast: "#4fc3f7", emaSlow: "#ba68c8",
    bb: "#78909c", rsi: "#e0e0e0", text: "#d8dee9", grid: "#1c2430", bg: "#0f1419",
    formingUp: "rgba(38,166,154,0.4)", formingDown: "rgba(239,83,80,0.4)",
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
    timeframe: TF.RAW,
    seconds: null,         // window length of the timeframe; null for raw
    timeframes: [],        // from /api/timeframes: {timeframe, seconds}
    view: 0,               // bumped on every symbol or timeframe switch: late answers of an older view are dropped
    forming: null,         // rolled timeframe: the forming candle (not stored), or null
    seenTs: -Infinity,     // rolled timeframe: newest base bar already counted in a candle on the chart
    refreshing: false,     // rolled timeframe: fetching the newest stored candles and signals
    refreshAgain: false,
    windowOf: {},          // rolled timeframe: each symbol's newest base-bar window (a later one = a candle closed)
    feedTimer: null,
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
  const timeLabel = (ts) => TF.label(ts, state.seconds);  // UTC, 24 h, as precise as the timeframe needs
  // The time axis, UTC and 24 h too (the library's own labels follow the browser's locale: "3:27:25 PM").
  const tickLabel = (ts, type) => TF.tick(ts, type);
  const num = (v, digits = 2) => (v == null ? "—" : Number(v).toFixed(digits));
  const pct = (v) => (v == null ? "—" : `${(v * 100).toFixed(2)}%`);
  const compact = (v) => (v == null ? "—" : Intl.NumberFormat("en", { notation: "compact" }).format(v));

  // ---------------------------------------------------------------- chart
  const chart = LWC.createChart($("chart"), {
    autoSize: true,
    layout: { background: { color: COLORS.bg }, textColor: COLORS.text, panes: { separatorColor: "#263040" } },
    grid: { vertLines: { color: COLORS.grid }, horzLines: { color: COLORS.grid } },
    localization: { timeFormatter: timeLabel },   // the crosshair's time
    timeScale: { timeVisible: true, secondsVisible: true, rightOffset: 4, tickMarkFormatter: tickLabel },
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
  // 30 / 70 as dotted lines titled on the pane, without badges on the scale (they hid its labels).
  const rsiLevels = [[30, COLORS.buy], [70, COLORS.sell]].map(([price, color]) => rsi.createPriceLine(
    { price, color, lineStyle: LWC.LineStyle.Dotted, title: String(price), axisLabelVisible: false }));
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

  // The forming candle, drawn paler than the stored ones: it has no indicators (none are stored for
  // it), so the overlays and panes end at the last closed candle.
  function drawForming() {
    const f = state.forming;
    if (!f) return;
    const color = f.close >= f.open ? COLORS.formingUp : COLORS.formingDown;
    candles.update({ time: f.ts, open: f.open, high: f.high, low: f.low, close: f.close, color, wickColor: color });
    $("forming-note").textContent = `forming ${timeLabel(f.ts)} UTC · ${f.base_bars} base bar${f.base_bars === 1 ? "" : "s"}`
      + " · indicators when it closes";
  }

  // Rolled timeframe: one base bar of the selected symbol, from the feed.
  function addBaseBar(b) {
    if (b.ts <= state.seenTs) return;                // already in the forming (or a stored) candle
    state.seenTs = b.ts;
    const last = state.bars[state.bars.length - 1];
    if (last && TF.windowStart(b.ts, state.seconds) <= last.ts) return;  // its window is closed and on the chart
    const before = state.forming;
    state.forming = TF.addBase(before, b, state.seconds);
    drawForming();
    if (before && state.forming.ts !== before.ts) refreshClosed();   // `before` has closed: it is stored now
  }

  // Rolled timeframe: the stored candles and signals after the last closed candle on the chart.
  async function refreshClosed() {
    if (state.refreshing) { state.refreshAgain = true; return; }
    const view = state.view;
    state.refreshing = true;
    try {
      do {
        state.refreshAgain = false;
        const last = state.bars[state.bars.length - 1];
        const q = `symbol=${encodeURIComponent(state.symbol)}&timeframe=${state.timeframe}`;
        const [bars, signals] = await Promise.all(last
          ? [api(`/api/bars?${q}&from=${last.ts}&limit=5000`), api(`/api/signals?${q}&since=${last.ts}&limit=1000`)]
          : [api(`/api/bars?${q}&order=desc&limit=${CHART_BARS}`), api(`/api/signals?${q}&order=desc&limit=1000`)]);
        if (view !== state.view) return;
        const items = last ? bars.items : bars.items.reverse();
        const fresh = items.filter((b) => !last || b.ts > last.ts);
        if (fresh.length) {
          let all = state.bars.concat(fresh);
          if (all.length > MAX_BARS) all = all.slice(-CHART_BARS);
          setChartData(all);    // the stored candles replace what the page drew of them while forming
          const newest = all[all.length - 1].ts;
          if (state.forming && state.forming.ts <= newest) state.forming = null;
          drawForming();
        }
        const first = state.bars.length ? state.bars[0].ts : Infinity;
        const added = signals.items.filter((s) => s.ts >= first && !state.markerKeys.has(signalKey(s)));
        if (added.length || fresh.length) {
          setMarkers(state.markers.filter((m) => m.time >= first).concat(added.map(toMarker)));
        }
      } while (state.refreshAgain && view === state.view);
    } catch (err) {
      console.warn(`could not refresh the ${state.timeframe} candles: ${err.message}`);  // the next close retries
    } finally {
      if (view === state.view) state.refreshing = false;
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

  const secondsOf = (timeframe) => (timeframe === TF.RAW ? null
    : state.timeframes.find((t) => t.timeframe === timeframe)?.seconds ?? null);

  // The chart of `symbol` in `timeframe` (both also in the URL: #MSFT, or #MSFT/5m).
  async function loadChart(symbol, timeframe) {
    const view = ++state.view;
    const switched = timeframe !== state.timeframe || (symbol !== state.symbol && feedSymbol() !== null);
    Object.assign(state, { symbol, timeframe, seconds: secondsOf(timeframe), loading: true, pending: [],
                           forming: null, seenTs: -Infinity, refreshing: false, refreshAgain: false });
    $("symbol").value = symbol;
    $("timeframe").value = timeframe;
    $("chart").dataset.timeframe = timeframe;
    // The page's other parts follow the view (forecast.js: the band; evaluations.js: the table).
    document.dispatchEvent(new CustomEvent("tickflow:view",
      { detail: { symbol, timeframe, timeframes: state.timeframes, chart } }));
    $("forming-note").textContent = "";
    $("forming-note").hidden = state.seconds === null;
    chart.applyOptions({ timeScale: { secondsVisible: state.seconds === null || state.seconds % 60 !== 0 } });
    // a symbol may hold a '/' (BTC/USD): encoded in the hash, so the timeframe stays the part after it
    const hash = timeframe === TF.RAW ? `#${encodeURIComponent(symbol)}` : `#${encodeURIComponent(symbol)}/${timeframe}`;
    if (location.hash !== hash) history.replaceState(null, "", hash);
    if (switched) loadSignalFeed().catch((err) => console.warn(`signal list: ${err.message}`));
    const q = `symbol=${encodeURIComponent(symbol)}&timeframe=${timeframe}`;
    try {
      // The forming candle first, then the stored ones: a window that closes in between is then among
      // the stored candles (the stale forming one is dropped below), and the base bar that closed it
      // is held in `pending` and starts the next forming candle.
      const forming = state.seconds === null ? null : await api(`/api/bars/forming?${q}`);
      const [bars, signals] = await Promise.all([
        api(`/api/bars?${q}&order=desc&limit=${CHART_BARS}`),
        api(`/api/signals?${q}&order=desc&limit=1000`),
      ]);
      if (view !== state.view) return;            // another symbol or timeframe was picked meanwhile
      const history = bars.items.reverse();
      setChartData(history);
      const first = history.length ? history[0].ts : Infinity;
      setMarkers(signals.items.filter((s) => s.ts >= first).map(toMarker));
      const f = forming?.item;
      if (f) {
        state.seenTs = f.last_ts;
        if (!history.length || f.ts > history[history.length - 1].ts) state.forming = f;
        drawForming();
      }
      showChartMessage(history.length || state.forming ? ""
        : state.seconds === null ? `No bars for ${symbol} yet: start the generator (make run).`
          : `No ${timeframe} candles for ${symbol} yet: the first one is stored when its window closes.`);
    } catch (err) {
      showChartMessage(`Could not load ${symbol} ${timeframe}: ${err.message}`);
    } finally {
      if (view === state.view) {
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

  // The list shows the signals of the selected timeframe, of the selected symbol or of all symbols
  // (#feed-symbol). The feed carries base-bar signals only: in a rolled timeframe the list is
  // refreshed from REST whenever a candle of some symbol closes (its signals are stored with it).
  const feedSymbol = () => ($("feed-symbol").value === "all" ? null : state.symbol);
  const signalsUrl = (timeframe) => `/api/signals?timeframe=${timeframe}&order=desc&limit=50`
    + (feedSymbol() ? `&symbol=${encodeURIComponent(feedSymbol())}` : "");

  async function loadSignalFeed() {
    const timeframe = state.timeframe;
    const symbol = feedSymbol();
    const latest = await api(signalsUrl(timeframe));
    if (timeframe !== state.timeframe || symbol !== feedSymbol()) return;
    $("signals").replaceChildren();
    $("signals").dataset.timeframe = timeframe;
    $("signals").dataset.symbol = symbol ?? "all";
    $("feed-timeframe").textContent = TF.noun(timeframe);
    state.feedKeys.clear();
    state.liveSignals = 0;
    $("feed-count").textContent = "0 new";
    state.windowOf = {};
    latest.items.reverse().forEach((s) => addToFeed(s, false));
  }

  function noteWindow(ev) {   // rolled timeframe: a base bar of any symbol
    const start = TF.windowStart(ev.ts, state.seconds);
    const seen = state.windowOf[ev.symbol];
    state.windowOf[ev.symbol] = start;
    if ((seen === undefined || start > seen) && state.feedTimer === null) {
      state.feedTimer = setTimeout(refreshSignalFeed, 250);   // closes of several symbols: one request
    }
  }

  async function refreshSignalFeed() {
    state.feedTimer = null;
    const timeframe = state.timeframe;
    if (timeframe === TF.RAW) return;
    try {
      const latest = await api(signalsUrl(timeframe));
      if (timeframe === state.timeframe) latest.items.reverse().forEach((s) => addToFeed(s, true));
    } catch (err) {
      console.warn(`signal list: ${err.message}`);    // the next close retries
    }
  }

  async function loadSummaries() {
    window.TickflowRecommendations.load(state.timeframe);
    try {
      const timeframe = state.timeframe;
      const data = await api(`/api/summary?period=${state.period}&timeframe=${timeframe}`);
      if (timeframe !== state.timeframe) return;  // switched meanwhile: its own load follows
      state.summaries = Object.fromEntries(data.items.map((s) => [s.symbol, s]));
      const newest = data.items.reduce((a, s) => (s.window_end > (a?.window_end ?? 0) ? s : a), null);
      const of = TF.noun(timeframe);
      $("summary-note").textContent = newest
        ? `${of}, window ${TF.span(newest.window_start, newest.window_end)} UTC (market_summary DAG, hourly); `
          + "last price live"
        : `no summaries of ${of} over this period (the market_summary DAG computes them hourly; a timeframe `
          + "gets the periods at least twice its length, base bars the last hour and day); last price is live";
    } catch (err) {
      $("summary-note").textContent = `summaries unavailable: ${err.message}`;
    }
    renderCards();
  }

  // ---------------------------------------------------------------- live signal list
  function addToFeed(s, live) {
    const key = signalKey(s);
    if (state.feedKeys.has(key) || (feedSymbol() && s.symbol !== feedSymbol())) return;
    state.feedKeys.add(key);
    const li = document.createElement("li");
    li.className = live ? "new" : "";
    li.dataset.key = key;
    for (const [cls, text] of [["time", TF.label(s.ts, state.seconds, true)], ["symbol", s.symbol], ["rule", s.rule],
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
  // The two percentages of a card: the live price against the summary window's open (top), and
  // the window's own return, its close against its open (in the list).
  const PERIOD_NAME = { "1h": "hour", "1d": "day", "7d": "week" };
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
      const period = PERIOD_NAME[state.period] ?? state.period;
      card.innerHTML = `
        <h3><span>${symbol}</span><span class="change ${dir}">${pct(change)}</span></h3>
        <div class="price ${dir}">${num(last)}<small class="change-label">${pct(change)}: last price vs the
          ${period}'s open</small></div>`;
      if (s) {
        const rows = [
          ["high / low", `${num(s.high)} / ${num(s.low)}`],
          [`return (${period}: close / open)`, pct(s.return)],
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
      card.addEventListener("click", () => loadChart(symbol, state.timeframe));
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
  // The feed's events are base bars and base-bar signals: in a rolled timeframe a base bar grows the
  // forming candle, and the signals are not this timeframe's (its own come from REST).
  function applyToChart(ev) {
    if (state.seconds === null) {
      if (ev.type === "bar") addBar(ev); else addMarker(ev);
    } else if (ev.type === "bar") {
      addBaseBar(ev);
    }
  }

  function onEvent(ev) {
    if (ev.type === "bar") {
      state.lastPrice[ev.symbol] = ev.close;
      cardsNeedRender();
      if (state.seconds !== null) noteWindow(ev);
    } else if (state.seconds === null) {
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

  let helloSeen;
  const hello = new Promise((resolve) => { helloSeen = resolve; });

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
        helloSeen();
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
    await Promise.all([loadChart(state.symbol, state.timeframe), loadSignalFeed(), loadSummaries()]);
  }

  // ---------------------------------------------------------------- start
  async function start() {
    const [symbols, timeframes] = await Promise.all([api("/api/symbols"), api("/api/timeframes")]);
    state.timeframes = timeframes.items;
    $("timeframe").replaceChildren(...timeframes.items.map((t) =>
      new Option(t.timeframe === TF.RAW ? "raw (base bars)" : t.timeframe, t.timeframe)));
    $("timeframe").addEventListener("change", async (e) => {
      await loadChart(state.symbol, e.target.value);
      loadSummaries();                            // the cards summarise the chart's timeframe
    });
    state.symbols = symbols.items.filter((s) => s.configured || s.last_ts != null).map((s) => s.symbol);
    for (const s of symbols.items) if (s.last_close != null) state.lastPrice[s.symbol] = s.last_close;
    $("symbol").replaceChildren(...state.symbols.map((s) => new Option(s, s)));
    $("symbol").addEventListener("change", (e) => loadChart(e.target.value, state.timeframe));
    $("feed-symbol").addEventListener("change", () => loadSignalFeed());
    document.querySelectorAll(".period-picker button").forEach((button) => button.addEventListener("click", () => {
      document.querySelectorAll(".period-picker button").forEach((b) => b.classList.toggle("active", b === button));
      state.period = button.dataset.period;
      loadSummaries();
    }));
    const [wanted, wantedTimeframe = TF.RAW] = location.hash.slice(1).split("/").map(decodeURIComponent);
    const symbol = state.symbols.includes(wanted.toUpperCase()) ? wanted.toUpperCase() : state.symbols[0];
    state.timeframe = timeframes.items.some((t) => t.timeframe === wantedTimeframe) ? wantedTimeframe : TF.RAW;
    state.seconds = secondsOf(state.timeframe);
    state.symbol = symbol;
    // The feed first, and the loads once it has said hello (its starting point): events committed
    // during the loads are then not lost. Without a hello in 3 s, load anyway and let it catch up.
    connect();
    state.loading = true;
    await Promise.race([hello, new Promise((resolve) => setTimeout(resolve, 3000))]);
    await Promise.all([loadChart(symbol, state.timeframe), loadSignalFeed(), loadSummaries()]);
    setInterval(loadSummaries, 60000);          // the DAG refreshes them hourly
  }

  // For tests and the curious: what the page currently shows.
  window.tickflowDashboard = {
    bars: () => candles.data().length,
    markers: () => state.markers.length,
    timeframe: () => state.timeframe,
    candleTimes: () => candles.data().map((c) => c.time),
    closedBars: () => state.bars.map((b) => ({ ts: b.ts, open: b.open, high: b.high, low: b.low, close: b.close,
                                               volume: b.volume })),
    forming: () => (state.forming ? { ...state.forming } : null),
    indicatorsEnd: () => { const d = overlays.sma.data(); return d.length ? d[d.length - 1].time : null; },
    feedTimeframe: () => $("signals").dataset.timeframe,
    feedSymbols: () => [...$("signals").querySelectorAll(".symbol")].map((e) => e.textContent),
    rsiLevels: () => rsiLevels.map((l) => l.options()),
    tickLabel,
    liveSignals: () => state.liveSignals,
    feedItems: () => $("signals").children.length,
    lastId: () => state.lastId,
    symbol: () => state.symbol,
  };

  start().catch((err) => showChartMessage(`Start failed: ${err.message}`));
})();
