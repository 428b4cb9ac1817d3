"use strict";
// What the page's own scripts share (chart.js, signals.js, cards.js, live.js and app.js): the view
// they all follow, which app.js sets on every symbol or timeframe switch, the REST helper, and the
// formats used in more than one of them.

window.TickflowPage = (() => {
  const TF = window.TickflowTimeframes;
  const view = {
    symbol: null,
    symbols: [],
    timeframe: TF.RAW,
    seconds: null,         // window length of the timeframe; null for raw
    timeframes: [],        // from /api/timeframes: {timeframe, seconds}
    serial: 0,             // bumped on every symbol or timeframe switch: late answers of an older view are dropped
  };

  async function api(path) {
    const response = await fetch(path);
    if (!response.ok) throw new Error(`${path}: HTTP ${response.status} ${await response.text()}`);
    return response.json();
  }

  const num = (v, digits = 2) => (v == null ? "—" : Number(v).toFixed(digits));
  const signalKey = (s) => `${s.symbol}|${s.ts}|${s.rule}`;

  return { view, api, num, signalKey };
})();
