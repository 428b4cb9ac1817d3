"use strict";
// The per-symbol summary cards: each symbol's live last price beside its summary over the picked
// period (the market_summary DAG, hourly; /api/summary) in the chart's timeframe, and, loaded with
// them, the recommendation cards (recommendations.js). A click on a card shows its symbol
// (app.js passes what to do to start).

window.TickflowCards = (() => {
  const TF = window.TickflowTimeframes;
  const { view, api, num } = window.TickflowPage;
  const $ = (id) => document.getElementById(id);
  const state = {
    period: "1h",
    summaries: {},
    lastPrice: {},
    dirty: false,          // a redraw is due (live prices)
  };
  let pick = null;         // what a click on a card does with its symbol

  const pct = (v) => (v == null ? "—" : `${(v * 100).toFixed(2)}%`);
  const compact = (v) => (v == null ? "—" : Intl.NumberFormat("en", { notation: "compact" }).format(v));

  async function load() {
    window.TickflowRecommendations.load(view.timeframe);
    try {
      const timeframe = view.timeframe;
      const data = await api(`/api/summary?period=${state.period}&timeframe=${timeframe}`);
      if (timeframe !== view.timeframe) return;  // switched meanwhile: its own load follows
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
    render();
  }

  // The two percentages of a card: the live price against the summary window's open (top), and
  // the window's own return, its close against its open (in the list).
  const PERIOD_NAME = { "1h": "hour", "1d": "day", "7d": "week" };
  function render() {
    state.dirty = false;
    const cards = view.symbols.map((symbol) => {
      const s = state.summaries[symbol];
      const last = state.lastPrice[symbol] ?? s?.close;
      const change = s && last != null ? last / s.open - 1 : null;
      const card = document.createElement("article");
      card.className = `card${symbol === view.symbol ? " selected" : ""}`;
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
      card.addEventListener("click", () => pick(symbol));
      return card;
    });
    $("cards").replaceChildren(...cards);
  }

  function renderSoon() {
    if (state.dirty) return;
    state.dirty = true;
    setTimeout(render, 500);   // live prices: at most two redraws a second
  }

  const setPrice = (symbol, price) => { state.lastPrice[symbol] = price; };

  // The period picker, and what a click on a card does (`onPick(symbol)`).
  function start(onPick) {
    pick = onPick;
    document.querySelectorAll(".period-picker button").forEach((button) => button.addEventListener("click", () => {
      document.querySelectorAll(".period-picker button").forEach((b) => b.classList.toggle("active", b === button));
      state.period = button.dataset.period;
      load();
    }));
  }

  return { start, load, render, renderSoon, setPrice };
})();
