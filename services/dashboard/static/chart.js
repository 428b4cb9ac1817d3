"use strict";
// The price chart: candles with their indicator overlays, the RSI and MACD panes, and signal
// markers, in the selected symbol and timeframe (page.js). Charts: lightweight-charts (npm, served
// from node_modules at /vendor/lightweight-charts.js); without it this script is null and app.js
// says so on the page.
//
// In `raw` the live updates' bars and signals go straight onto the chart. A rolled-up timeframe
// (1m, 5m, ...) shows its stored (closed) candles with their indicators and signals from REST, plus
// the forming candle, which is not stored: the chart gets it from /api/bars/forming and grows it
// with the live updates' base bars (timeframes.js). When a base bar of a later window arrives, the
// forming window has closed and its candle is stored in the same transaction as that bar, so the
// chart then fetches the newest stored candles and signals. While a view's history loads, its live
// events are held back and applied after it, so nothing falls between the two.

window.TickflowChart = (() => {
  const LWC = window.LightweightCharts;
  if (!LWC) return null;
  const TF = window.TickflowTimeframes;
  const { view, api, signalKey } = window.TickflowPage;
  const CHART_BARS = 1500;     // history loaded per symbol
  const MAX_BARS = 4000;       // trimmed back to CHART_BARS beyond this
  const COLORS = {
    buy: "#26a69a", sell: "#ef5350", sma: "#f5a623", emaFast: "#4fc3f7", emaSlow: "#ba68c8",
    bb: "#78909c", rsi: "#e0e0e0", text: "#d8dee9", grid: "#1c2430", bg: "#0f1419",
    formingUp: "rgba(38,166,154,0.4)", formingDown: "rgba(239,83,80,0.4)",
  };
  const $ = (id) => document.getElementById(id);

  const state = {
    forming: null,         // rolled timeframe: the forming candle (not stored), or null
    seenTs: -Infinity,     // rolled timeframe: newest base bar already counted in a candle on the chart
    refreshing: false,     // rolled timeframe: fetching the newest stored candles and signals
    refreshAgain: false,
    bars: [],              // bars on the chart, oldest first
    markers: [],
    markerKeys: new Set(),
    loading: false,        // history loading: live events wait in `pending`
    pending: [],
  };

  // ---------------------------------------------------------------- formatting
  const timeLabel = (ts) => TF.label(ts, view.seconds);  // UTC, 24 h, as precise as the timeframe needs
  // The time axis, UTC and 24 h too (the library's own labels follow the browser's locale: "3:27:25 PM").
  const tickLabel = (ts, type) => TF.tick(ts, type);

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

  // Rolled timeframe: one base bar of the selected symbol, from the live updates.
  function addBaseBar(b) {
    if (b.ts <= state.seenTs) return;                // already in the forming (or a stored) candle
    state.seenTs = b.ts;
    const last = state.bars[state.bars.length - 1];
    if (last && TF.windowStart(b.ts, view.seconds) <= last.ts) return;  // its window is closed and on the chart
    const before = state.forming;
    state.forming = TF.addBase(before, b, view.seconds);
    drawForming();
    if (before && state.forming.ts !== before.ts) refreshClosed();   // `before` has closed: it is stored now
  }

  // Rolled timeframe: the stored candles and signals after the last closed candle on the chart.
  async function refreshClosed() {
    if (state.refreshing) { state.refreshAgain = true; return; }
    const serial = view.serial;
    state.refreshing = true;
    try {
      do {
        state.refreshAgain = false;
        const last = state.bars[state.bars.length - 1];
        const q = `symbol=${encodeURIComponent(view.symbol)}&timeframe=${view.timeframe}`;
        const [bars, signals] = await Promise.all(last
          ? [api(`/api/bars?${q}&from=${last.ts}&limit=5000`), api(`/api/signals?${q}&since=${last.ts}&limit=1000`)]
          : [api(`/api/bars?${q}&order=desc&limit=${CHART_BARS}`), api(`/api/signals?${q}&order=desc&limit=1000`)]);
        if (serial !== view.serial) return;
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
      } while (state.refreshAgain && serial === view.serial);
    } catch (err) {
      console.warn(`could not refresh the ${view.timeframe} candles: ${err.message}`);  // the next close retries
    } finally {
      if (serial === view.serial) state.refreshing = false;
    }
  }

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

  // ---------------------------------------------------------------- loading a view
  // The view app.js has just switched to: forget the previous one and hold live events until `load`.
  function switchTo() {
    Object.assign(state, { loading: true, pending: [], forming: null, seenTs: -Infinity, refreshing: false,
                           refreshAgain: false });
    $("chart").dataset.timeframe = view.timeframe;
    $("forming-note").textContent = "";
    $("forming-note").hidden = view.seconds === null;
    chart.applyOptions({ timeScale: { secondsVisible: view.seconds === null || view.seconds % 60 !== 0 } });
  }

  // The history of the view `serial` (the current one when called); `loaded` runs once it is on the
  // chart with the held events applied, unless another view was picked meanwhile.
  async function load(serial, loaded) {
    const { symbol, timeframe } = view;
    const q = `symbol=${encodeURIComponent(symbol)}&timeframe=${timeframe}`;
    try {
      // The forming candle first, then the stored ones: a window that closes in between is then among
      // the stored candles (the stale forming one is dropped below), and the base bar that closed it
      // is held in `pending` and starts the next forming candle.
      const forming = view.seconds === null ? null : await api(`/api/bars/forming?${q}`);
      const [bars, signals] = await Promise.all([
        api(`/api/bars?${q}&order=desc&limit=${CHART_BARS}`),
        api(`/api/signals?${q}&order=desc&limit=1000`),
      ]);
      if (serial !== view.serial) return;            // another symbol or timeframe was picked meanwhile
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
      showMessage(history.length || state.forming ? ""
        : view.seconds === null ? `No bars for ${symbol} yet: start the generator (make run).`
          : `No ${timeframe} candles for ${symbol} yet: the first one is stored when its window closes.`);
    } catch (err) {
      showMessage(`Could not load ${symbol} ${timeframe}: ${err.message}`);
    } finally {
      if (serial === view.serial) {
        state.loading = false;
        const held = state.pending;
        state.pending = [];
        held.forEach(applyEvent);
        chart.timeScale().scrollToRealTime();
        loaded();
      }
    }
  }

  function showMessage(text) {
    $("chart-message").textContent = text;
    $("chart-message").hidden = !text;
  }

  // ---------------------------------------------------------------- live updates
  // They carry base bars and base-bar signals: in a rolled timeframe a base bar grows the forming
  // candle, and the signals are not this timeframe's (its own come from REST).
  function applyEvent(ev) {
    if (view.seconds === null) {
      if (ev.type === "bar") addBar(ev); else addMarker(ev);
    } else if (ev.type === "bar") {
      addBaseBar(ev);
    }
  }

  // An event of the selected symbol: applied now, or held while the history loads.
  function offer(ev) {
    if (state.loading) state.pending.push(ev); else applyEvent(ev);
  }

  return {
    lwc: chart,
    switchTo,
    load,
    hold: () => { state.loading = true; },
    offer,
    showMessage,
    // For tests and the curious: what the chart currently shows.
    probe: {
      bars: () => candles.data().length,
      markers: () => state.markers.length,
      candleTimes: () => candles.data().map((c) => c.time),
      closedBars: () => state.bars.map((b) => ({ ts: b.ts, open: b.open, high: b.high, low: b.low, close: b.close,
                                                 volume: b.volume })),
      forming: () => (state.forming ? { ...state.forming } : null),
      indicatorsEnd: () => { const d = overlays.sma.data(); return d.length ? d[d.length - 1].time : null; },
      rsiLevels: () => rsiLevels.map((l) => l.options()),
      tickLabel,
    },
  };
})();
