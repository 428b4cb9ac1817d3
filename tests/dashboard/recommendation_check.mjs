// Open the dashboard (stored data only) in Debian's headless Chromium and print, as one JSON line,
// the recommendations a person reads: per card the symbol, the stance, the weight, the deciding
// facts, the freshness, the line under it, and the full text behind its "full text" click (hidden,
// then shown); the table's rows; for the base bars, and after switching the timeframe selector to 1m.
//
// usage: node recommendation_check.mjs <page url> <web dir with node_modules> [timeout ms]
import { newPage, run } from "../browser.mjs";

const [url, webDir, timeoutArg] = process.argv.slice(2);
const timeout = Number(timeoutArg || 30000);

const result = { errors: [] };
await run(webDir, result, async (browser) => {
  const page = await newPage(browser, result);
  const shown = () => page.evaluate(() => {
    const visible = (el) => el.checkVisibility() && el.getBoundingClientRect().height > 0;
    return {
      timeframe: window.TickflowRecommendations.shown(),
      note: document.getElementById("recommendation-note").textContent,
      cards: [...document.querySelectorAll("#recommendations .recommendation")].map((c) => ({
        symbol: c.dataset.symbol, stance: c.querySelector(".stance").textContent, stanceAttr: c.dataset.stance,
        stanceClass: c.querySelector(".stance").className, weight: c.querySelector(".weight").textContent,
        deciding: [...c.querySelectorAll(".deciding li")].map((li) => li.textContent),
        freshness: c.querySelector(".freshness").textContent, text: c.querySelector(".text").textContent,
        open: c.querySelector("details").open, textVisible: visible(c.querySelector(".text")), meta: c.querySelector(".meta").textContent })),
      tableHidden: document.getElementById("recommendation-table").hidden,
      head: [...document.querySelectorAll("#recommendation-table th")].map((th) => th.textContent),
      rows: [...document.querySelectorAll("#recommendation-rows tr")].map((tr) => [...tr.children].map((td) => td.textContent)),
    };
  });
  await page.goto(url, { waitUntil: "load" });
  await page.waitForFunction(() => window.TickflowRecommendations.shown() === "raw"
    && document.querySelectorAll("#recommendations .recommendation").length > 0, null, { timeout, polling: 100 });
  result.raw = await shown();
  // One click away: each card's "full text" opens its text.
  for (const summary of await page.$$("#recommendations .recommendation details summary")) await summary.click();
  result.opened = await shown();
  if (process.env.SCREENSHOT) await page.screenshot({ path: process.env.SCREENSHOT, fullPage: true });
  await page.selectOption("#timeframe", "1m");
  await page.waitForFunction(() => window.TickflowRecommendations.shown() === "1m", null, { timeout, polling: 100 });
  result.minute = await shown();
});
