// Open the dashboard in Debian's headless Chromium (driven by playwright-core from the page's own
// npm folder), wait until the chart has bars and at least one signal marker, check that the live
// signal list grows, save a screenshot; then pick the 1m timeframe and record its candles, the
// forming candle as base bars arrive, a window closing, and the page's forming candle beside
// /api/bars/forming at the same base bar; save a second screenshot and print what the page showed
// as one JSON line.
//
// usage: node browser_check.mjs <page url> <screenshot.png> <web dir with node_modules> [timeout ms]
import { run } from "../browser.mjs";

const [url, screenshot, webDir, timeoutArg] = process.argv.slice(2);
const timeout = Number(timeoutArg || 30000);

const result = { errors: [] };
await run(webDir, result, async (browser) => {
  const page = await browser.newPage({ viewport: { width: 1440, height: 1100 } });
  page.on("pageerror", (err) => result.errors.push(`pageerror: ${err.message}`));
  page.on("console", (msg) => { if (msg.type() === "error") result.errors.push(`console: ${msg.text()}`); });
  await page.goto(url, { waitUntil: "load" });
  const shown = () => page.evaluate(() => {
    const d = window.tickflowDashboard;
    return { symbol: d.symbol(), bars: d.bars(), markers: d.markers(), feedItems: d.feedItems(),
             liveSignals: d.liveSignals(), lastId: d.lastId(), cards: document.querySelectorAll(".card").length,
             status: document.getElementById("status").textContent };
  });
  await page.waitForFunction(() => window.tickflowDashboard && window.tickflowDashboard.bars() > 0
    && window.tickflowDashboard.markers() > 0, null, { timeout, polling: 100 });
  result.first = await shown();
  // The live list grows: a signal arrives over the WebSocket after the page loaded.
  await page.waitForFunction((before) => window.tickflowDashboard.liveSignals() > before
    && window.tickflowDashboard.feedItems() > 0, result.first.liveSignals, { timeout, polling: 100 });
  await page.waitForFunction((before) => window.tickflowDashboard.bars() > before, result.first.bars,
    { timeout, polling: 100 });
  result.second = await shown();
  await page.waitForTimeout(300);  // let the last frame paint before the picture
  await page.screenshot({ path: screenshot, fullPage: true });
  result.screenshot = screenshot;

  // The 1m timeframe: stored candles with markers, and the forming candle.
  await page.selectOption("#timeframe", "1m");
  const minute = () => page.evaluate(() => {
    const d = window.tickflowDashboard;
    return { timeframe: d.timeframe(), hash: location.hash, candleTimes: d.candleTimes(), closed: d.closedBars(),
             forming: d.forming(), indicatorsEnd: d.indicatorsEnd(), markers: d.markers(), feedItems: d.feedItems(),
             feedTimeframe: d.feedTimeframe(), chartTimeframe: document.getElementById("chart").dataset.timeframe,
             formingNote: document.getElementById("forming-note").textContent };
  });
  await page.waitForFunction(() => {
    const d = window.tickflowDashboard;
    return d.timeframe() === "1m" && d.closedBars().length > 0 && d.forming() !== null && d.markers() > 0
      && d.feedTimeframe() === "1m" && d.feedItems() > 0;
  }, null, { timeout, polling: 100 });
  result.minute = await minute();
  // The forming candle follows the base bars, then its window closes and the stored candle replaces it.
  const f0 = result.minute.forming;
  await page.waitForFunction((lastTs) => window.tickflowDashboard.forming()?.last_ts > lastTs, f0.last_ts,
    { timeout, polling: 50 });
  result.grown = await minute();
  await page.waitForFunction((start) => window.tickflowDashboard.closedBars().some((b) => b.ts === start), f0.ts,
    { timeout, polling: 100 });
  result.closedAfter = await minute();
  // What REST stored for the closed window, and the forming candle from REST at the page's newest base bar.
  result.stored = await page.evaluate(async (start) =>
    (await (await fetch(`/api/bars?symbol=AAPL&timeframe=1m&from=${start}&limit=1`)).json()).items[0], f0.ts);
  result.formingPair = await page.evaluate(async () => {
    for (let i = 0; i < 100; i++) {   // the generator keeps going: retry until both saw the same base bar
      const mine = window.tickflowDashboard.forming();
      const rest = (await (await fetch("/api/bars/forming?symbol=AAPL&timeframe=1m")).json()).item;
      if (mine && rest && mine.last_ts === rest.last_ts) return { page: mine, rest, tries: i + 1 };
      await new Promise((r) => setTimeout(r, 20));
    }
    return null;
  });
  await page.waitForTimeout(300);
  const minuteShot = screenshot.replace(/\.png$/, "-1m.png");
  await page.screenshot({ path: minuteShot, fullPage: true });
  result.minuteScreenshot = minuteShot;
});
