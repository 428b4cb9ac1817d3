"use strict";
// The recommendation card per symbol (README "Recommendations"): the newest text the daily
// market_recommendations DAG stored for the chart's timeframe, how much weight it says the
// evidence deserves, and who worded it. cards.js calls load(timeframe) whenever it loads the
// summaries (at start, on a timeframe switch, every minute). The text is set as text, never as
// HTML: it may come from an LLM.

window.TickflowRecommendations = (() => {
  const TF = window.TickflowTimeframes;
  const $ = (id) => document.getElementById(id);
  let shown = null;  // the timeframe whose cards are on the page

  function element(tag, className, text) {
    const e = document.createElement(tag);
    if (className) e.className = className;
    if (text != null) e.textContent = text;
    return e;
  }

  function card(item) {
    const c = element("article", "card recommendation");
    c.dataset.symbol = item.symbol;
    const head = element("h3", null, item.symbol);
    head.append(element("span", `weight ${item.weight}`, `weight: ${item.weight}`));
    const asOf = TF.label(item.as_of, 60);
    const by = item.phrasing === "llm" ? "worded by an LLM, its numbers checked against the facts"
      : item.fallback_reason ? `worded from the facts (the LLM's answer was not used: ${item.fallback_reason})`
        : "worded from the facts";
    c.append(head, element("p", "text", item.text), element("p", "meta", `as of ${asOf} UTC · ${by}`));
    return c;
  }

  async function load(timeframe) {
    const note = $("recommendation-note");
    try {
      const response = await fetch(`/api/recommendations?timeframe=${encodeURIComponent(timeframe)}`);
      if (!response.ok) throw new Error(`HTTP ${response.status}`);
      const { items } = await response.json();
      $("recommendations").replaceChildren(...items.map(card));
      shown = timeframe;
      const of = TF.noun(timeframe);
      note.textContent = items.length ? `of ${of} (market_recommendations DAG, daily)`
        : `none stored for ${of} yet (the market_recommendations DAG writes them daily)`;
    } catch (err) {
      note.textContent = `recommendations unavailable: ${err.message}`;
    }
  }

  return { load, shown: () => shown };
})();
