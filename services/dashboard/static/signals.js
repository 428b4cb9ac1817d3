"use strict";
// The live signal list (#signals): the newest signals of the selected timeframe, of the selected
// symbol or of all symbols (#feed-symbol), with a count of those that arrived since it loaded. The
// live updates carry base-bar signals only: in raw they go straight onto the list (app.js calls
// add), in a rolled timeframe the list is refreshed from REST whenever a candle of some symbol
// closes (its signals are stored with it; app.js passes every base bar to noteWindow).

window.TickflowSignals = (() => {
  const TF = window.TickflowTimeframes;
  const { view, api, num, signalKey } = window.TickflowPage;
  const MAX_ITEMS = 100;       // signals kept in the list
  const $ = (id) => document.getElementById(id);
  const state = {
    keys: new Set(),       // the signals on the list
    liveSignals: 0,        // added live since the list loaded
    windowOf: {},          // rolled timeframe: each symbol's newest base-bar window (a later one = a candle closed)
    timer: null,           // rolled timeframe: a refresh is due
  };

  const symbol = () => ($("feed-symbol").value === "all" ? null : view.symbol);
  const signalsUrl = (timeframe) => `/api/signals?timeframe=${timeframe}&order=desc&limit=50`
    + (symbol() ? `&symbol=${encodeURIComponent(symbol())}` : "");

  async function load() {
    const timeframe = view.timeframe;
    const shown = symbol();
    const latest = await api(signalsUrl(timeframe));
    if (timeframe !== view.timeframe || shown !== symbol()) return;
    $("signals").replaceChildren();
    $("signals").dataset.timeframe = timeframe;
    $("signals").dataset.symbol = shown ?? "all";
    $("feed-timeframe").textContent = TF.noun(timeframe);
    state.keys.clear();
    state.liveSignals = 0;
    $("feed-count").textContent = "0 new";
    state.windowOf = {};
    latest.items.reverse().forEach((s) => add(s, false));
  }

  function noteWindow(ev) {   // rolled timeframe: a base bar of any symbol
    const start = TF.windowStart(ev.ts, view.seconds);
    const seen = state.windowOf[ev.symbol];
    state.windowOf[ev.symbol] = start;
    if ((seen === undefined || start > seen) && state.timer === null) {
      state.timer = setTimeout(refresh, 250);   // closes of several symbols: one request
    }
  }

  async function refresh() {
    state.timer = null;
    const timeframe = view.timeframe;
    if (timeframe === TF.RAW) return;
    try {
      const latest = await api(signalsUrl(timeframe));
      if (timeframe === view.timeframe) latest.items.reverse().forEach((s) => add(s, true));
    } catch (err) {
      console.warn(`signal list: ${err.message}`);    // the next close retries
    }
  }

  function add(s, live) {
    const key = signalKey(s);
    if (state.keys.has(key) || (symbol() && s.symbol !== symbol())) return;
    state.keys.add(key);
    const li = document.createElement("li");
    li.className = live ? "new" : "";
    li.dataset.key = key;
    for (const [cls, text] of [["time", TF.label(s.ts, view.seconds, true)], ["symbol", s.symbol], ["rule", s.rule],
      [s.side, s.side], ["price", num(s.price)]]) {
      const span = document.createElement("span");
      span.className = cls;
      span.textContent = text;
      li.append(span);
    }
    $("signals").prepend(li);
    while ($("signals").children.length > MAX_ITEMS) $("signals").lastElementChild.remove();
    if (live) $("feed-count").textContent = `${++state.liveSignals} new`;
  }

  return { symbol, load, noteWindow, add, liveSignals: () => state.liveSignals };
})();
