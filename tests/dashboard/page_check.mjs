// Open the dashboard (stored data only, no pipeline) in Debian's headless Chromium with an en-US
// locale (where a browser's own time labels are 12-hour) and print, as one JSON line, what a
// person reads: each card's labelled percentages, the live signal list under its symbol filter
// (the selected symbol, all symbols, another selected symbol), the page's times, the RSI levels;
// then the view the address drives (Back, Forward, an edited hash, one naming nothing known), and
// at three window widths how the summary cards lie and how many lines each label and value takes.
//
// usage: node page_check.mjs <page url> <web dir with node_modules> [timeout ms]
import { newPage, run } from "../browser.mjs";

const [url, webDir, timeoutArg] = process.argv.slice(2);
const timeout = Number(timeoutArg || 30000);

const result = { errors: [] };
await run(webDir, result, async (browser) => {
  const page = await newPage(browser, result);
  await page.goto(url, { waitUntil: "load" });
  const feed = () => page.evaluate(() => ({ of: document.getElementById("signals").dataset.symbol,
                                            symbols: [...new Set(window.tickflowDashboard.feedSymbols())].sort() }));
  const feedOf = (of) => page.waitForFunction((want) => {
    const d = window.tickflowDashboard;
    return d && document.getElementById("signals").dataset.symbol === want && d.feedItems() > 0;
  }, of, { timeout, polling: 100 });
  await page.waitForFunction(() => window.tickflowDashboard && window.tickflowDashboard.bars() > 0
    && document.querySelectorAll(".card dl").length > 0, null, { timeout, polling: 100 });
  await feedOf("AAPL");
  result.cards = await page.evaluate(() => [...document.querySelectorAll(".card")].map((c) => ({
    symbol: c.dataset.symbol, change: c.querySelector(".change").textContent,
    changeLabel: c.querySelector(".change-label").textContent.replace(/\s+/g, " "),
    terms: [...c.querySelectorAll("dt")].map((dt) => dt.textContent) })));
  result.selected = await feed();
  await page.selectOption("#feed-symbol", "all");
  await feedOf("all");
  result.all = await feed();
  await page.selectOption("#feed-symbol", "selected");
  await page.selectOption("#symbol", "MSFT");
  await feedOf("MSFT");
  result.other = await feed();
  result.times = await page.evaluate(() => ({
    summaryNote: document.getElementById("summary-note").textContent,
    signalTimes: [...document.querySelectorAll("#signals .time")].map((e) => e.textContent),
    ticks: [3, 4].map((type) => window.tickflowDashboard.tickLabel(1700062045, type)),
    text: document.body.innerText }));
  result.rsiLevels = await page.evaluate(() => window.tickflowDashboard.rsiLevels()
    .map((o) => ({ price: o.price, title: o.title, axisLabelVisible: o.axisLabelVisible })));

  // The address drives the view: each step waits until the chart shows the named symbol's newest stored
  // bar, in the named timeframe, then records what the page shows.
  const viewShown = async (symbol, timeframe) => {
    const newest = await page.evaluate(async ([sym, tf]) =>   // the stored data do not change meanwhile
      (await (await fetch(`/api/bars?symbol=${sym}&timeframe=${tf}&order=desc&limit=1`)).json()).items[0] ?? null,
    [symbol, timeframe]);
    await page.waitForFunction(([sym, tf, bar]) => {
      const d = window.tickflowDashboard;
      const bars = d.closedBars();
      const last = bars[bars.length - 1];
      return d.symbol() === sym && d.timeframe() === tf && document.getElementById("chart").dataset.timeframe === tf
        && (bar === null ? bars.length === 0 : last !== undefined && last.ts === bar.ts && last.close === bar.close)
        && document.querySelector("#cards .card.selected")?.dataset.symbol === sym;  // drawn with the chart
    }, [symbol, timeframe, newest], { timeout, polling: 100 });
    return page.evaluate(() => ({
      symbol: window.tickflowDashboard.symbol(), timeframe: window.tickflowDashboard.timeframe(), hash: location.hash,
      selects: [document.getElementById("symbol").value, document.getElementById("timeframe").value],
      historyLength: history.length }));
  };
  result.address = {};
  await page.goBack();                                     // before MSFT was picked: AAPL
  result.address.back = await viewShown("AAPL", "raw");
  await page.goForward();
  result.address.forward = await viewShown("MSFT", "raw");
  await page.evaluate(() => { location.hash = "#TSLA/1m"; });   // typed into the address bar
  result.address.edited = await viewShown("TSLA", "1m");
  await page.evaluate(() => { location.hash = "#tsla"; });      // a shared link, spelled loosely
  result.address.loose = await viewShown("TSLA", "raw");
  await page.evaluate(() => { location.hash = "#NOPE/1m"; });   // no such symbol: the timeframe still applies
  result.address.unknown = await viewShown("TSLA", "1m");
  await page.goBack();
  result.address.backAgain = await viewShown("TSLA", "raw");
  await page.selectOption("#timeframe", "1m");                // a switch on the page is an address too
  result.address.picked = await viewShown("TSLA", "1m");
  await page.goBack();
  result.address.unpicked = await viewShown("TSLA", "raw");

  // The summary cards at three widths: every label and value on one line, nothing cut off.
  result.layout = {};
  for (const width of [1280, 1500, 390]) {
    await page.setViewportSize({ width, height: 1100 });
    await page.evaluate(() => new Promise((resolve) => requestAnimationFrame(() => requestAnimationFrame(resolve))));
    result.layout[width] = await page.evaluate(() => {
      const lines = (node) => {                                // the text's line boxes, by their tops
        const range = document.createRange();
        range.selectNodeContents(node);
        return new Set([...range.getClientRects()].filter((r) => r.width > 0).map((r) => Math.round(r.top))).size;
      };
      const cards = [...document.querySelectorAll("#cards .card")];
      const parts = cards.flatMap((card) => [...card.querySelectorAll("h3 span, .price, .change-label, dt, dd")]
        .map((el) => ({ symbol: card.dataset.symbol, text: el.textContent.replace(/\s+/g, " ").trim(),
                        lines: lines(el.classList.contains("price") ? el.firstChild : el),  // the price without its label
                        clipped: el.scrollWidth > el.clientWidth + 1 || el.getBoundingClientRect().right
                          > card.getBoundingClientRect().right + 0.5 })));
      return {
        columns: new Set(cards.map((c) => Math.round(c.getBoundingClientRect().left))).size,
        cardWidths: cards.map((c) => Math.round(c.getBoundingClientRect().width)),
        overflow: document.getElementById("cards").scrollWidth > document.getElementById("cards").clientWidth,
        parts: parts.filter((p) => p.text),
      };
    });
  }
});
