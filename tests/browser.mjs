// Debian's headless Chromium, driven by playwright-core from the dashboard's npm folder, for the
// browser tests' scripts: `run(webDir, result, body)` launches it, awaits `body(browser)`, notes a
// failure in `result`, closes the browser and prints `result` as one JSON line (the test reads it).
import { createRequire } from "node:module";
import path from "node:path";

export async function run(webDir, result, body) {
  const require = createRequire(path.join(path.resolve(webDir), "package.json"));
  const { chromium } = require("playwright-core");
  const browser = await chromium.launch({
    executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
    // As root in a container, without a GPU, on a machine with no outside network.
    args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
           "--disable-component-update", "--disable-sync"],
  });
  try {
    await body(browser);
  } catch (err) {
    result.failure = String(err && err.message ? err.message : err);
  } finally {
    await browser.close();
  }
  console.log(JSON.stringify(result));
  process.exit(result.failure ? 1 : 0);
}

// A page with an en-US locale (where a browser's own time labels are 12-hour) whose errors and
// console errors are noted in `result.errors`.
export async function newPage(browser, result) {
  const page = await browser.newPage({ viewport: { width: 1440, height: 1100 }, locale: "en-US" });
  page.on("pageerror", (err) => result.errors.push(`pageerror: ${err.message}`));
  page.on("console", (msg) => { if (msg.type() === "error") result.errors.push(`console: ${msg.text()}`); });
  return page;
}
