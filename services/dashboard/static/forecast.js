"use strict";
// The forecast band on the daily chart: the selected symbol's newest stored 7-day close forecast
// (the market_forecast DAG; README, "Forecasts"; /api/forecasts) drawn after the last candle of
// the `1d` timeframe: the median as a solid line, the 80% interval dashed, the 95% interval dotted,
// with the model and its cross-validated skill in the legend. When no model beat naive, the legend
// says so ("no better than naive: MASE x vs y") rather than hide it. Forecasts are of daily
// candles: other timeframes get a note and no band.
//
// app.js announces every symbol or timeframe switch with a `tickflow:view` event on `document`
// ({symbol, timeframe, chart}); the values drawn are the stored ones, unchanged.

window.TickflowForecast = (() => {
  const TF = window.TickflowTimeframes;
  const DAILY = "1d";
  const TARGET = "close";
  const $ = (id) => document.getElementById(id);
  let lines = null;       // stored field -> line series on the price pane, made on the first view
  let views = 0;          // bumped on every view: a late answer for an older one is dropped

  function makeLines(chart) {
    const LWC = window.LightweightCharts;
    const color = getComputedStyle(document.documentElement).getPropertyValue("--forecast").trim();  // batch.css
    const line = (lineStyle, lineWidth) => chart.addSeries(LWC.LineSeries, {
      color, lineStyle, lineWidth, priceLineVisible: false, lastValueVisible: false,
    }, 0);
    const dashed = LWC.LineStyle.Dashed;
    const dotted = LWC.LineStyle.Dotted;
    return {
      forecast: line(LWC.LineStyle.Solid, 2),
      lo_80: line(dashed, 1), hi_80: line(dashed, 1),
      lo_95: line(dotted, 1), hi_95: line(dotted, 1),
    };
  }

  const mase = (v) => Number(v).toFixed(3);

  // What the legend says about the forecast's skill, from the stored row.
  function skill(day) {
    if (day.beats_naive) {
      return { text: `${day.model} beats naive: MASE ${mase(day.mase)} vs ${mase(day.naive_mase)}`, beats: true };
    }
    const best = day.best_model == null ? "no other model could be fitted"
      : `MASE ${mase(day.best_mase)} vs ${mase(day.naive_mase)} (best other model: ${day.best_model})`;
    return { text: `no better than naive: ${best}; the band is naive's forecast`, beats: false };
  }

  function legend(text, day = null) {
    const el = $("forecast-legend");
    el.replaceChildren();
    el.hidden = !text;
    if (!text) return;
    if (day) {
      const key = (cls, label) => {
        const span = document.createElement("span");
        span.className = `key ${cls}`;
        span.textContent = label;
        el.append(span);
      };
      key("forecast-line", `${day.model} forecast`);
      key("forecast-80", "80%");
      key("forecast-95", "95%");
    }
    const note = document.createElement("span");
    note.id = "forecast-note";
    note.textContent = text;
    el.append(note);
  }

  // The band (or a note) for one view; the legend's data-view says which view it shows once done.
  async function show({ symbol, timeframe, chart }) {
    const view = ++views;
    const el = $("forecast-legend");
    lines = lines ?? makeLines(chart);
    Object.values(lines).forEach((l) => l.setData([]));
    delete el.dataset.view;
    delete el.dataset.beatsNaive;
    legend("");
    try {
      if (timeframe !== DAILY) {
        legend(`forecasts are daily: pick ${DAILY} for the 7-day band`);
        return;
      }
      const response = await fetch(`/api/forecasts?symbol=${encodeURIComponent(symbol)}`);
      if (!response.ok) throw new Error(`HTTP ${response.status}`);
      const days = (await response.json()).items.filter((d) => d.target === TARGET);
      if (view !== views) return;
      if (!days.length) {
        legend(`no forecast for ${symbol} (the market_forecast DAG makes them daily from the ${DAILY} candles)`);
        return;
      }
      for (const [field, line] of Object.entries(lines)) {
        line.setData(days.map((d) => ({ time: d.ts, value: d[field] })));
      }
      const said = skill(days[0]);
      legend(`${days.length}-day ${TARGET} forecast from ${TF.label(days[0].as_of, 86400)} · ${said.text}`, days[0]);
      el.dataset.beatsNaive = String(said.beats);
      chart.timeScale().scrollToRealTime();
    } catch (err) {
      if (view === views) legend(`forecast unavailable: ${err.message}`);
    } finally {
      if (view === views) el.dataset.view = `${symbol}/${timeframe}`;
    }
  }

  document.addEventListener("tickflow:view", (e) => { show(e.detail); });

  // For tests: the points drawn, per stored field ({time, value}).
  return {
    points: () => Object.fromEntries(Object.entries(lines ?? {}).map(([field, line]) =>
      [field, line.data().map((p) => ({ time: p.time, value: p.value }))])),
  };
})();
