"use strict";
// The recommendations (README "Recommendations"): the newest the daily market_recommendations DAG
// stored per symbol for the chart's timeframe, as a compact table across symbols and as a card per
// symbol. Both lead with what a trader scans first, the API's `glance` (services/core/stance.py,
// from the stored facts): the stance the evidence supports (or "no stance"), the weight, the one or
// two facts that decide it and how fresh the data is; the full grounded text is one click away
// (a <details> on each card). Every string is the API's as it is: the numbers stay the stored ones.
// cards.js calls load(timeframe) whenever it loads the summaries (at start, on a timeframe switch,
// every minute). Everything is set as text, never as HTML: the text may come from an LLM.

window.TickflowRecommendations = (() => {
  const TF = window.TickflowTimeframes;
  const $ = (id) => document.getElementById(id);
  let shown = null;  // the timeframe whose recommendations are on the page

  function element(tag, className, text) {
    const e = document.createElement(tag);
    if (className) e.className = className;
    if (text != null) e.textContent = text;
    return e;
  }

  const stanceClass = (glance) => `stance ${glance.stance ? glance.stance.toLowerCase() : "none"}`;
  const timeframeName = (timeframe) => (timeframe === TF.RAW ? "base bars" : timeframe);

  function card(item) {
    const { glance } = item;
    const c = element("article", "card recommendation");
    c.dataset.symbol = item.symbol;
    c.dataset.stance = glance.stance ?? "none";
    const head = element("h3");
    head.append(element("span", "symbol", item.symbol), element("span", stanceClass(glance), glance.stance_text),
      element("span", `weight ${item.weight}`, `weight: ${item.weight}`));
    const deciding = element("ul", "deciding");
    deciding.append(...glance.deciding.map((fact) => element("li", null, fact)));
    const details = element("details", "full");
    details.append(element("summary", null, "full text"), element("p", "text", item.text));
    const by = item.phrasing === "llm" ? "worded by an LLM, its numbers checked against the facts"
      : item.fallback_reason ? `worded from the facts (the LLM's answer was not used: ${item.fallback_reason})`
        : "worded from the facts";
    c.append(head, deciding, element("p", `freshness${glance.stale ? " stale" : ""}`, glance.freshness), details,
      element("p", "meta", `as of ${TF.label(item.as_of, 60)} UTC · ${by}`));
    return c;
  }

  function row(item) {
    const { glance } = item;
    const tr = element("tr");
    tr.dataset.symbol = item.symbol;
    const cells = [["symbol", item.symbol], ["timeframe", timeframeName(item.timeframe)],
      [stanceClass(glance), glance.stance_text], [`weight ${item.weight}`, item.weight],
      ["signal", glance.freshest_signal ?? "none stored"], ["forecast", glance.forecast_vs_naive]];
    tr.append(...cells.map(([cls, text]) => element("td", cls, text)));
    return tr;
  }

  async function load(timeframe) {
    const note = $("recommendation-note");
    try {
      const response = await fetch(`/api/recommendations?timeframe=${encodeURIComponent(timeframe)}`);
      if (!response.ok) throw new Error(`HTTP ${response.status}`);
      const { items } = await response.json();
      $("recommendations").replaceChildren(...items.map(card));
      $("recommendation-rows").replaceChildren(...items.map(row));
      $("recommendation-table").hidden = !items.length;
      shown = timeframe;
      const of = TF.noun(timeframe);
      note.textContent = items.length ? `of ${of} (market_recommendations DAG, daily); stance: the side taken by all `
        + "the evidence that counts (a rule that beat buy-and-hold on enough trades, a forecast that beat naive)"
        : `none stored for ${of} yet (the market_recommendations DAG writes them daily)`;
    } catch (err) {
      note.textContent = `recommendations unavailable: ${err.message}`;
    }
  }

  return { load, shown: () => shown };
})();
