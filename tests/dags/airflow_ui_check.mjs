// Log in to Airflow's UI (simple auth manager) in Debian's headless Chromium and use each DAG's
// trigger form as a person would: list the choices the Symbols field offers and what is left after
// typing an unknown symbol; type bad params into the Configuration JSON editor and press Trigger
// (what the UI says, whether it went on to a run); trigger an end-before-start window and a run with
// empty params (the runs' ids). Prints one JSON line.
//
// usage: node airflow_ui_check.mjs <airflow url> <admin password> <web dir with node_modules> <dag id>...
import { run } from "../browser.mjs";

const [url, password, webDir, ...dagIds] = process.argv.slice(2);
// Generous: on a busy 2-core machine the UI's first page and form load slowly (a wait, not a sleep).
const timeout = 90000;

const result = { dags: {} };
await run(webDir, result, async (browser) => {
  const page = await browser.newPage({ viewport: { width: 1440, height: 1000 } });
  page.setDefaultTimeout(timeout);
  await page.goto(`${url}/`);
  await page.fill("input[name=username]", "admin");
  await page.fill("input[name=password]", password);
  await page.keyboard.press("Enter");
  await page.waitForURL((u) => !u.pathname.startsWith("/auth"));
  result.loggedIn = true;

  const openForm = async (dagId) => {
    await page.goto(`${url}/dags/${dagId}`);
    await page.getByTestId("trigger-dag-button").click();
    const dialog = page.getByRole("dialog");
    await dialog.getByText(`Trigger Dag - ${dagId}`).waitFor();
    return dialog;
  };
  const options = () => page.locator("[role=option]").allTextContents();
  // Replace the Configuration JSON (a Monaco editor) as a paste would, and press the form's Trigger.
  const triggerWith = async (dialog, conf) => {
    if (conf !== null) {
      await dialog.locator("[id$=':trigger:advancedOptions']").click();
      const editor = dialog.locator(".monaco-editor .view-lines");
      await editor.click();
      await page.keyboard.press("Control+A");
      await page.keyboard.insertText(JSON.stringify(conf));
      await page.keyboard.press("Shift+Control+End");   // what the editor closed on its own
      await page.keyboard.press("Delete");
    }
    const before = page.url();
    await dialog.getByRole("button", { name: "Trigger", exact: true }).click();
    // Either the UI goes on to the new run's page, or it says why not.
    await page.waitForFunction((b) => /\/runs\//.test(location.pathname) && location.href !== b
      || document.querySelector("[data-scope=toast][data-part=root]"), before, { polling: 100 });
    // A toast comes first either way: then wait for the outcome itself (the run's page, or the reason in
    // the still-open form) and read both in one step, so a dialog closing meanwhile cannot race the read.
    const outcome = await page.waitForFunction((b) => {
      const dialogs = [...document.querySelectorAll("[role=dialog]")];
      const says = dialogs.flatMap((d) => d.innerText.split("\n")).filter((l) => /invalid|error|fail/i.test(l));
      const onRun = /\/runs\//.test(location.pathname) && location.href !== b;
      return (onRun || says.length) && { formOpen: dialogs.length > 0 && !onRun, says: onRun ? [] : says };
    }, before, { polling: 100 });
    const { formOpen, says } = await outcome.jsonValue();
    const run = page.url().match(/\/runs\/([^/?#]+)/);
    const toasts = await page.locator("[data-scope=toast][data-part=root]").allInnerTexts();
    return { run: run ? decodeURIComponent(run[1]) : null, toasts: toasts.map((t) => t.replace(/\s+/g, " ").trim()),
             formOpen, formSays: says };
  };

  for (const dagId of dagIds) {
    const seen = {};
    let dialog = await openForm(dagId);
    const symbols = dialog.locator("input[role=combobox]").first();
    await symbols.click();
    seen.symbolOptions = await options();
    await symbols.fill("ZZZZ");
    seen.afterTypingUnknown = await options();
    await symbols.fill("");
    seen.unknownSymbol = await triggerWith(dialog, { symbols: ["ZZZZ"] });
    dialog = await openForm(dagId);
    seen.notADate = await triggerWith(dialog, { start: "yesterday" });
    if (dagId === "indicator_reconciliation") {
      dialog = await openForm(dagId);
      seen.toleranceOutOfRange = await triggerWith(dialog, { tolerance: 2 });
    }
    dialog = await openForm(dagId);
    seen.endBeforeStart = await triggerWith(dialog, { start: "2024-05-02T00:00:00Z", end: "2024-05-01T00:00:00Z" });
    dialog = await openForm(dagId);
    seen.emptyParams = await triggerWith(dialog, null);
    result.dags[dagId] = seen;
  }
});
