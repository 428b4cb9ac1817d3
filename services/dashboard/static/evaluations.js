"use strict";
// The evaluation table: what following each rule's signals would have done for the selected
// symbol in a timeframe (the chart's by default; the table's own selector picks another), beside
// buy-and-hold over the same bars (the signal_evaluation DAG; README, "Signal evaluation";
// /api/evaluations). Every number is a stored one, formatted; the two markers are the API's
// judgements: too few closed trades to judge (below its `min_trades`) and lost to buy-and-hold.
//
// app.js announces every symbol or timeframe switch with a `tickflow:view` event on `document`
// ({symbol, timeframe, timeframes}).

(() => {
  const TF = window.TickflowTimeframes;
  const $ = (id) => document.getElementById(id);
  const state = { symbol: null, timeframes: [], loads: 0 };

  // One format per kind of number, everywhere in the table.
  const dash = (f) => (v) => (v == null ? "—" : f(v));
  const signedPct = dash((v) => `${v >= 0 ? "+" : ""}${(v * 100).toFixed(2)}%`);   // returns
  const share = dash((v) => `${(v * 100).toFixed(1)}%`);                            // win rate, drawdown
  const ratio = dash((v) => v.toFixed(2));                                          // Sharpe
  const bps = (v) => `${Number(v.toFixed(2))} bps`;

  const secondsOf = (timeframe) => state.timeframes.find((t) => t.timeframe === timeframe)?.seconds ?? 1;
  const span = (e) => `${TF.label(e.first_ts, secondsOf(e.timeframe))} – ${TF.label(e.last_ts, secondsOf(e.timeframe))}`
    + ` UTC · ${e.bars} bars`;

  function cell(tr, text, cls = "") {
    const td = document.createElement("td");
    td.textContent = text;
    if (cls) td.className = cls;
    tr.append(td);
    return td;
  }

  function row(e, minTrades) {
    const tr = document.createElement("tr");
    cell(tr, e.rule, "rule");
    cell(tr, e.open_trade_return == null ? String(e.trades) : `${e.trades} (+1 open)`, "trades");
    const unjudged = e.too_few_trades ? " unjudged" : "";
    cell(tr, share(e.win_rate), `win-rate${unjudged}`);
    cell(tr, signedPct(e.mean_trade_return), `mean-trade${unjudged}`);
    cell(tr, signedPct(e.total_return), "total");
    cell(tr, signedPct(e.bh_total_return), "bh-total bh");
    cell(tr, ratio(e.sharpe), "sharpe");
    cell(tr, ratio(e.bh_sharpe), "bh-sharpe bh");
    cell(tr, share(e.max_drawdown), "drawdown");
    cell(tr, share(e.bh_max_drawdown), "bh-drawdown bh");
    cell(tr, bps(e.fee_bps), "fee");
    cell(tr, span(e), "span");
    const marks = cell(tr, "", "markers");
    const mark = (cls, text) => {
      const el = document.createElement("span");
      el.className = `marker ${cls}`;
      el.textContent = text;
      marks.append(el);
    };
    if (e.too_few_trades) mark("too-few", `too few trades (< ${minTrades})`);
    if (e.lost_to_buy_and_hold) mark("lost", "lost to buy-and-hold");
    return tr;
  }

  async function load() {
    const mine = ++state.loads;
    const timeframe = $("evaluation-timeframe").value;
    const symbol = state.symbol;
    const table = $("evaluation-table");
    delete table.dataset.view;
    try {
      const url = `/api/evaluations?symbol=${encodeURIComponent(symbol)}&timeframe=${encodeURIComponent(timeframe)}`;
      const response = await fetch(url);
      if (!response.ok) throw new Error(`HTTP ${response.status}`);
      const body = await response.json();
      if (mine !== state.loads) return;
      $("evaluation-rows").replaceChildren(...body.items.map((e) => row(e, body.min_trades)));
      table.hidden = !body.items.length;
      const of = TF.noun(timeframe);
      $("evaluation-note").textContent = body.items.length
        ? `${symbol}, ${of}; fees are paid on every entry and exit. Too few trades: fewer than ${body.min_trades} `
          + "closed trades, too few to judge the rule by. Lost to buy-and-hold: a lower total return than holding "
          + "over the same bars."
        : `no evaluation of ${symbol}'s ${of} yet (the signal_evaluation DAG evaluates them daily)`;
    } catch (err) {
      if (mine === state.loads) $("evaluation-note").textContent = `evaluations unavailable: ${err.message}`;
    } finally {
      if (mine === state.loads) table.dataset.view = `${symbol}/${timeframe}`;
    }
  }

  // A new view: the table shows the chart's symbol and timeframe (its selector offers the chart's).
  document.addEventListener("tickflow:view", (ev) => {
    const { symbol, timeframe, timeframes } = ev.detail;
    const select = $("evaluation-timeframe");
    if (state.timeframes !== timeframes) {
      state.timeframes = timeframes;
      select.replaceChildren(...[...$("timeframe").options].map((o) => new Option(o.text, o.value)));
    }
    state.symbol = symbol;
    select.value = timeframe;
    load();
  });
  $("evaluation-timeframe").addEventListener("change", load);
})();
