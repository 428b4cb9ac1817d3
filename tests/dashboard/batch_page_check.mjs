// Open the dashboard (stored rows only, no pipeline) in Debian's headless Chromium and print, as one
// JSON line, what the forecast band and the evaluation table show in a series of views: the page's
// first view, the table switched to another timeframe, then each symbol and timeframe given.
//
// usage: node batch_page_check.mjs <page url> <web dir with node_modules> <timeout ms> <view>...
//   a view is SYMBOL/TIMEFRAME; the first is the page's URL hash, and "table:TIMEFRAME" picks the
//   evaluation table's own timeframe.
import { run } from "../browser.mjs";

const [url, webDir, timeoutArg, ...views] = process.argv.slice(2);
const timeout = Number(timeoutArg);

const result = { errors: [], views: [] };
await run(webDir, result, async (browser) => {
  const page = await browser.newPage({ viewport: { width: 1440, height: 1100 }, locale: "en-US" });
  page.on("pageerror", (err) => result.errors.push(`pageerror: ${err.message}`));
  page.on("console", (msg) => { if (msg.type() === "error") result.errors.push(`console: ${msg.text()}`); });
  // Both parts say which view they show once they have shown it.
  const shown = (forecastView, tableView) => page.waitForFunction(([f, t]) =>
    document.getElementById("forecast-legend").dataset.view === f
    && document.getElementById("evaluation-table").dataset.view === t, [forecastView, tableView],
  { timeout, polling: 50 });
  const read = () => page.evaluate(() => {
    const legend = document.getElementById("forecast-legend");
    const table = document.getElementById("evaluation-table");
    const candles = window.tickflowDashboard.candleTimes();
    return {
      forecast: { view: legend.dataset.view, hidden: legend.hidden, beatsNaive: legend.dataset.beatsNaive ?? null,
                  keys: [...legend.querySelectorAll(".key")].map((k) => k.textContent),
                  note: document.getElementById("forecast-note")?.textContent ?? null,
                  points: window.TickflowForecast.points() },
      lastCandle: candles.length ? candles[candles.length - 1] : null,
      table: { view: table.dataset.view, hidden: table.hidden,
               note: document.getElementById("evaluation-note").textContent,
               rows: [...document.querySelectorAll("#evaluation-rows tr")].map((tr) => Object.fromEntries(
                 [...tr.children].map((td) => [td.className.split(" ")[0],
                   td.className === "markers" ? [...td.children].map((m) => m.textContent) : td.textContent]))) },
    };
  });
  const [first, ...rest] = views;
  await page.goto(`${url}/#${first}`, { waitUntil: "load" });
  await shown(first, first);
  await page.waitForFunction(() => window.tickflowDashboard.bars() > 0, null, { timeout, polling: 50 });
  result.views.push(await read());
  let current = first;
  for (const view of rest) {
    if (view.startsWith("table:")) {
      const [symbol] = current.split("/");
      await page.selectOption("#evaluation-timeframe", view.slice(6));
      await shown(current, `${symbol}/${view.slice(6)}`);
    } else {
      const [symbol, timeframe] = view.split("/");
      const [was, wasTimeframe] = current.split("/");
      if (symbol !== was) await page.selectOption("#symbol", symbol);
      if (timeframe !== wasTimeframe) await page.selectOption("#timeframe", timeframe);
      current = view;
      await shown(view, view);
    }
    result.views.push(await read());
  }
});
