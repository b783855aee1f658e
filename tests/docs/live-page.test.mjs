// examples/live.html in headless Chromium (Debian's `chromium`): the page, opened as a file,
// watches a table of a running gateway with EventSource; a document inserted through the API
// must appear on the page within 2 s of the insert's answer, measured in the page.
import assert from "node:assert/strict";
import { existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { after, before, test } from "node:test";
import { fileURLToPath, pathToFileURL } from "node:url";

import puppeteer from "puppeteer-core";

import { startGateway } from "../../clients/tests/gateway.mjs";

const chromium = process.env.CHROMIUM_BIN ?? "/usr/bin/chromium";
const page = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../../examples/live.html");

let gateway;
let scratch;

before(async () => {
  assert.ok(existsSync(chromium), `install Debian's chromium (${chromium})`);
  scratch = mkdtempSync(path.join(tmpdir(), "live-page-"));
  const policy = path.join(scratch, "policy.toml");
  writeFileSync(
    policy,
    [
      "[roles.admin]",
      "admin = true",
      "[roles.authenticated]",
      'tables = { messages = ["read", "write"] }',
      "[roles.anonymous]",
      'tables = { messages = ["read"] }',
    ].join("\n"),
  );
  gateway = await startGateway({ GATEWAY_POLICY: policy, GATEWAY_CORS_ORIGINS: "*" });
});

after(() => {
  gateway?.stop();
  if (scratch) rmSync(scratch, { recursive: true, force: true });
});

test("the live page shows a new document within 2 s", { timeout: 120_000 }, async () => {
  const browser = await puppeteer.launch({
    executablePath: chromium,
    headless: true,
    args: ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"],
  });
  try {
    const tab = await browser.newPage();
    const url = new URL(pathToFileURL(page));
    url.search = new URLSearchParams({ gateway: gateway.url, table: "messages", field: "text" }).toString();
    await tab.goto(url.href);
    await tab.waitForFunction(() => document.getElementById("status").textContent.startsWith("live"), {
      timeout: 30_000,
    });
    // Insert from the page's side and time, in the page, until the document is shown.
    const elapsed = await tab.evaluate(
      async (base, token) => {
        const list = document.getElementById("docs");
        const shown = new Promise((resolve) => {
          const observer = new MutationObserver(() => {
            if ([...list.children].some((li) => li.textContent === "hello, live")) {
              observer.disconnect();
              resolve(performance.now());
            }
          });
          observer.observe(list, { childList: true, subtree: true, characterData: true });
        });
        const response = await fetch(`${base}/v1/tables/messages`, {
          method: "POST",
          headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
          body: JSON.stringify({ text: "hello, live" }),
        });
        if (response.status !== 201) throw new Error(`insert answered ${response.status}`);
        const inserted = performance.now();
        return (await shown) - inserted;
      },
      gateway.url,
      gateway.token,
    );
    assert.ok(elapsed < 2000, `shown ${elapsed} ms after the insert`);
    const text = await tab.$eval("#docs li", (li) => li.textContent);
    assert.equal(text, "hello, live");
  } finally {
    await browser.close();
  }
});
