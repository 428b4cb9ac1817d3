// Open the dashboard in Debian's headless Chromium (driven by playwright-core from the page's own
// npm folder), wait until the chart has bars and at least one signal marker, check that the live
// signal list grows, save a screenshot, and print what the page showed as one JSON line.
//
// usage: node browser_check.mjs <page url> <screenshot.png> <web dir with node_modules> [timeout ms]
import { createRequire } from "node:module";
import path from "node:path";

const [url, screenshot, webDir, timeoutArg] = process.argv.slice(2);
const timeout = Number(timeoutArg || 30000);
const require = createRequire(path.join(path.resolve(webDir), "package.json"));
const { chromium } = require("playwright-core");

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  // As root in a container, without a GPU, on a machine with no outside network.
  args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
         "--disable-component-update", "--disable-sync"],
});
const result = { errors: [] };
try {
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
} catch (err) {
  result.failure = String(err && err.message ? err.message : err);
} finally {
  await browser.close();
}
console.log(JSON.stringify(result));
process.exit(result.failure ? 1 : 0);
