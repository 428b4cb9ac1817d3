"use strict";
// Tickflow dashboard page. History comes from the read-only REST API (/api/...), everything the
// processor commits afterwards from the live updates (the WebSocket /ws). The WebSocket is opened
// first, and events for the chart are held back while its history loads, so nothing falls between
// the two.
//
// Each part is its own script, loaded before this one (index.html): page.js (the view they all
// follow, and the REST helper), chart.js (the chart), signals.js (the live signal list), cards.js
// (the summary cards), live.js (the WebSocket), and the batch side's forecast.js, evaluations.js
// and recommendations.js. This script starts them, switches the view (symbol and timeframe), and
// hands each live event to the parts that show it.
//
// The address drives the view: #MSFT (base bars) or #MSFT/5m. A switch on the page (the selectors,
// a click on a card) only sets the hash, which adds a history entry; the page follows `hashchange`,
// so an edited address, a shared link and the browser's Back and Forward all show what they name.

(() => {
  const TF = window.TickflowTimeframes;
  const { view, api } = window.TickflowPage;
  const chart = window.TickflowChart;
  const signals = window.TickflowSignals;
  const cards = window.TickflowCards;
  const live = window.TickflowLive;
  const $ = (id) => document.getElementById(id);
  if (!chart) {
    $("chart-message").textContent = "The charting library is missing: run `make install` (npm ci in services/dashboard/web).";
    $("chart-message").hidden = false;
    return;
  }

  const secondsOf = (timeframe) => (timeframe === TF.RAW ? null
    : view.timeframes.find((t) => t.timeframe === timeframe)?.seconds ?? null);

  // Show `symbol` in `timeframe`.
  async function loadChart(symbol, timeframe) {
    const serial = ++view.serial;
    const switched = timeframe !== view.timeframe || (symbol !== view.symbol && signals.symbol() !== null);
    Object.assign(view, { symbol, timeframe, seconds: secondsOf(timeframe) });
    chart.switchTo();
    $("symbol").value = symbol;
    $("timeframe").value = timeframe;
    // The page's other parts follow the view (forecast.js: the band; evaluations.js: the table).
    document.dispatchEvent(new CustomEvent("tickflow:view",
      { detail: { symbol, timeframe, timeframes: view.timeframes, chart: chart.lwc } }));
    // the address names the view as the page spells it (#aapl -> #AAPL), without a new history entry
    if (location.hash !== hashOf(symbol, timeframe)) history.replaceState(null, "", hashOf(symbol, timeframe));
    if (switched) signals.load().catch((err) => console.warn(`signal list: ${err.message}`));
    await chart.load(serial, cards.render);
  }

  // A symbol may hold a '/' (BTC/USD): encoded in the hash, so the timeframe stays the part after it.
  const hashOf = (symbol, timeframe) => (timeframe === TF.RAW ? `#${encodeURIComponent(symbol)}`
    : `#${encodeURIComponent(symbol)}/${timeframe}`);

  // The view the address names: [symbol, timeframe], each null where it names none the page knows.
  function fromHash() {
    const [symbol = "", timeframe = TF.RAW] = location.hash.slice(1).split("/").map((part) => {
      try { return decodeURIComponent(part); } catch { return ""; }   // a malformed escape names nothing
    });
    return [view.symbols.includes(symbol.toUpperCase()) ? symbol.toUpperCase() : null,
      view.timeframes.some((t) => t.timeframe === timeframe) ? timeframe : null];
  }

  // Show a view; the cards summarise the chart's timeframe, so a new timeframe reloads them.
  async function show(symbol, timeframe) {
    const newTimeframe = timeframe !== view.timeframe;
    await loadChart(symbol, timeframe);
    if (newTimeframe) cards.load();
  }

  // A switch on the page: a new address, which the page then follows (onHashChange).
  function navigate(symbol, timeframe) {
    if (location.hash !== hashOf(symbol, timeframe)) location.hash = hashOf(symbol, timeframe);
  }

  function onHashChange() {
    const [symbol, timeframe] = fromHash();
    const wanted = [symbol ?? view.symbol, timeframe ?? view.timeframe];
    if (wanted[0] === view.symbol && wanted[1] === view.timeframe) {
      // nothing new (or nothing the page knows): the address says what is shown
      const shown = hashOf(view.symbol, view.timeframe);
      if (location.hash !== shown) history.replaceState(null, "", shown);
      return;
    }
    show(...wanted).catch((err) => chart.showMessage(`Switch failed: ${err.message}`));
  }

  function onEvent(ev) {
    if (ev.type === "bar") {
      cards.setPrice(ev.symbol, ev.close);
      cards.renderSoon();
      if (view.seconds !== null) signals.noteWindow(ev);
    } else if (view.seconds === null) {
      signals.add(ev, true);
    }
    if (ev.symbol === view.symbol) chart.offer(ev);
  }

  async function reloadAll() {
    await Promise.all([loadChart(view.symbol, view.timeframe), signals.load(), cards.load()]);
  }

  // ---------------------------------------------------------------- start
  async function start() {
    const [symbols, timeframes] = await Promise.all([api("/api/symbols"), api("/api/timeframes")]);
    view.timeframes = timeframes.items;
    $("timeframe").replaceChildren(...timeframes.items.map((t) =>
      new Option(t.timeframe === TF.RAW ? "raw (base bars)" : t.timeframe, t.timeframe)));
    $("timeframe").addEventListener("change", (e) => navigate(view.symbol, e.target.value));
    view.symbols = symbols.items.filter((s) => s.configured || s.last_ts != null).map((s) => s.symbol);
    for (const s of symbols.items) if (s.last_close != null) cards.setPrice(s.symbol, s.last_close);
    $("symbol").replaceChildren(...view.symbols.map((s) => new Option(s, s)));
    $("symbol").addEventListener("change", (e) => navigate(e.target.value, view.timeframe));
    $("feed-symbol").addEventListener("change", () => signals.load());
    cards.start((symbol) => navigate(symbol, view.timeframe));
    const [wanted, wantedTimeframe] = fromHash();
    view.timeframe = wantedTimeframe ?? TF.RAW;
    view.seconds = secondsOf(view.timeframe);
    view.symbol = wanted ?? view.symbols[0];
    window.addEventListener("hashchange", onHashChange);
    // The live updates first, and the loads once they have said hello (their starting point): events
    // committed during the loads are then not lost. Without a hello in 3 s, load anyway and let them catch up.
    live.start(onEvent, reloadAll);
    chart.hold();
    await Promise.race([live.hello, new Promise((resolve) => setTimeout(resolve, 3000))]);
    // the view now: the address may have been changed meanwhile
    await Promise.all([loadChart(view.symbol, view.timeframe), signals.load(), cards.load()]);
    setInterval(cards.load, 60000);             // the DAG refreshes them hourly
  }

  // For tests and the curious: what the page currently shows.
  window.tickflowDashboard = {
    bars: chart.probe.bars,
    markers: chart.probe.markers,
    timeframe: () => view.timeframe,
    candleTimes: chart.probe.candleTimes,
    closedBars: chart.probe.closedBars,
    forming: chart.probe.forming,
    indicatorsEnd: chart.probe.indicatorsEnd,
    feedTimeframe: () => $("signals").dataset.timeframe,
    feedSymbols: () => [...$("signals").querySelectorAll(".symbol")].map((e) => e.textContent),
    rsiLevels: chart.probe.rsiLevels,
    tickLabel: chart.probe.tickLabel,
    liveSignals: signals.liveSignals,
    feedItems: () => $("signals").children.length,
    lastId: live.lastId,
    symbol: () => view.symbol,
  };

  start().catch((err) => chart.showMessage(`Start failed: ${err.message}`));
})();
