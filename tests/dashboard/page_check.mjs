// Open the dashboard (stored data only, no pipeline) in Debian's headless Chromium with an en-US
// locale (where a browser's own time labels are 12-hour) and print, as one JSON line, what a
// person reads: each card's labelled percentages, the live signal list under its symbol filter
// (the selected symbol, all symbols, another selected symbol), the page's times, the RSI levels.
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
});
