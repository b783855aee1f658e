// The docs page as a person uses it: headless Chromium (Debian's `chromium`) opens /docs on a
// running gateway, authorizes with a token, runs "Try it out" on the list route with a filter,
// and must find the filtered document, and only it, in the answer shown on the page.
import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { after, before, test } from "node:test";

import puppeteer from "puppeteer-core";

import { startGateway } from "../../clients/tests/gateway.mjs";

const chromium = process.env.CHROMIUM_BIN ?? "/usr/bin/chromium";

/** Polls `check` until it returns a value, or fails after `ms`. */
async function waitFor(check, ms, what) {
  const deadline = Date.now() + ms;
  for (;;) {
    const value = await check().catch(() => undefined);
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

let gateway;
let base;
let token;

before(async () => {
  assert.ok(existsSync(chromium), `install Debian's chromium (${chromium})`);
  gateway = await startGateway();
  ({ url: base, token } = gateway);
  for (const doc of [
    { title: "Queued clip", status: "queued" },
    { title: "Finished clip", status: "done" },
  ]) {
    const response = await fetch(`${base}/v1/tables/videos`, {
      method: "POST",
      headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
      body: JSON.stringify(doc),
    });
    assert.equal(response.status, 201);
  }
});

after(() => gateway?.stop());

test("Try it out filters a list from the docs page", { timeout: 120_000 }, async () => {
  const browser = await puppeteer.launch({
    executablePath: chromium,
    headless: true,
    args: ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"],
  });
  const page = await browser.newPage();
  await page.setViewport({ width: 1280, height: 2000 });
  try {
    await page.goto(`${base}/docs`, { waitUntil: "networkidle0" });

    // Authorize with the bearer token.
    await page.click("button.authorize");
    await page.waitForSelector(".auth-container input");
    await page.type(".auth-container input", token);
    await page.click(".auth-btn-wrapper button.authorize");
    await page.click(".auth-btn-wrapper button.btn-done");

    // Open the list route, try it out with a table and a filter.
    const op = "#operations-tables-list_documents";
    await page.click(`${op} .opblock-summary`);
    await page.waitForSelector(`${op} .try-out__btn`);
    await page.click(`${op} .try-out__btn`);
    // Swagger UI prefills the spec's examples; replace them as a person would: select all,
    // type over it.
    const typeOver = async (selector, text) => {
      await page.waitForSelector(selector);
      await page.focus(selector);
      await page.keyboard.down("Control");
      await page.keyboard.press("KeyA");
      await page.keyboard.up("Control");
      await page.keyboard.press("Backspace");
      await page.type(selector, text);
    };
    await typeOver(`${op} tr[data-param-name="table"] input`, "videos");
    await typeOver(`${op} tr[data-param-name="filters"] textarea`, '{"status": "eq.queued"}');
    await page.click(`${op} .execute`);

    const requestUrl = await waitFor(
      () => page.$eval(`${op} .request-url pre`, (el) => el.textContent),
      30_000,
      "the request URL",
    );
    assert.match(requestUrl, /\/v1\/tables\/videos\?.*status=eq\.queued/, requestUrl);
    const body = await waitFor(
      () => page.$eval(`${op} .live-responses-table .response-col_description pre`, (el) => el.textContent),
      30_000,
      "the response body",
    );
    const answer = JSON.parse(body);
    assert.deepEqual(
      answer.items.map((item) => item.title),
      ["Queued clip"],
      body,
    );
  } catch (error) {
    // What the page showed, for whoever reads the failure.
    const shot = path.join(tmpdir(), "gateway-docs-failure.png");
    await page.screenshot({ path: shot, fullPage: true }).catch(() => {});
    throw new Error(`${error.message} (screenshot: ${shot})`, { cause: error });
  } finally {
    await browser.close();
  }
});
