// Open the dashboard (stored data only) in Debian's headless Chromium and print, as one JSON line,
// the recommendation cards a person reads: per card the symbol, the text, the weight and the
// line under it, for the base bars and after switching the timeframe selector to 1m.
//
// usage: node recommendation_check.mjs <page url> <web dir with node_modules> [timeout ms]
import { newPage, run } from "../browser.mjs";

const [url, webDir, timeoutArg] = process.argv.slice(2);
const timeout = Number(timeoutArg || 30000);

const result = { errors: [] };
await run(webDir, result, async (browser) => {
  const page = await newPage(browser, result);
  const cards = () => page.evaluate(() => ({
    timeframe: window.TickflowRecommendations.shown(),
    note: document.getElementById("recommendation-note").textContent,
    cards: [...document.querySelectorAll("#recommendations .recommendation")].map((c) => ({
      symbol: c.dataset.symbol, text: c.querySelector(".text").textContent,
      weight: c.querySelector(".weight").textContent, meta: c.querySelector(".meta").textContent })) }));
  await page.goto(url, { waitUntil: "load" });
  await page.waitForFunction(() => window.TickflowRecommendations.shown() === "raw"
    && document.querySelectorAll("#recommendations .recommendation").length > 0, null, { timeout, polling: 100 });
  result.raw = await cards();
  await page.selectOption("#timeframe", "1m");
  await page.waitForFunction(() => window.TickflowRecommendations.shown() === "1m", null, { timeout, polling: 100 });
  result.minute = await cards();
});
