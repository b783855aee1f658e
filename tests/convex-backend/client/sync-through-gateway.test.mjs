// The official ConvexClient (what ConvexReactClient is built on) pointed at the gateway, which
// relays Convex's sync protocol to the test backend under its own rules. Run by the Rust test
// `sync_relay::the_official_convex_client_works_through_the_gateway`, which starts both servers
// and passes GATEWAY_URL, BACKEND_URL, USER_TOKEN and BAD_TOKEN.
import assert from "node:assert/strict";
import { test } from "node:test";

import { ConvexClient } from "convex/browser";

const url = process.env.GATEWAY_URL;

/** A client whose log lines are kept, to see what the server told it. */
function client() {
  const lines = [];
  const keep = (...args) => lines.push(args.map(String).join(" "));
  const c = new ConvexClient(url, {
    skipConvexDeploymentUrlCheck: true,
    logger: { logVerbose: () => {}, log: keep, warn: keep, error: keep },
  });
  c.lines = lines;
  return c;
}

/** Resolves with the first value of `query` that `accept` takes, within 10 s. */
function until(c, query, args, accept) {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no accepted value of ${query} within 10 s`)), 10000);
    const unsubscribe = c.onUpdate(query, args, (value) => {
      if (accept(value)) {
        clearTimeout(timer);
        unsubscribe();
        resolve(value);
      }
    });
  });
}

async function eventually(what, check) {
  const deadline = Date.now() + 10000;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

test("subscribes, mutates as the caller and sees the update", async () => {
  const c = client();
  try {
    c.setAuth(async () => process.env.USER_TOKEN);
    await until(c, "videos:list", { status: "Queued" }, (v) => Array.isArray(v));
    const seen = until(c, "videos:list", { status: "Queued" }, (v) => v.some((x) => x.twitchId === "sync-1"));
    await c.mutation("videos:create", { twitchId: "sync-1", title: "through the gateway" });
    const video = (await seen).find((x) => x.twitchId === "sync-1");
    assert.equal(video.ownerId, "alice", "Convex saw the caller's identity, as the gateway sent it");
    const identity = await until(c, "videos:whoami", {}, (v) => v !== null);
    assert.equal(identity.subject, "alice");
    assert.equal(identity.issuer.startsWith("http"), true);
  } finally {
    await c.close();
  }
});

test("a mutation the policy denies is refused by the gateway and never reaches Convex", async () => {
  const c = client();
  try {
    c.setAuth(async () => process.env.USER_TOKEN);
    await assert.rejects(c.mutation("videos:updateUrls", { twitchId: "sync-1", urls: {} }), /forbidden/);
    // The socket goes on working.
    await c.mutation("videos:create", { twitchId: "sync-2" });
    const requests = await (await fetch(`${process.env.BACKEND_URL}/_emu/requests`)).json();
    assert.equal(requests.some((r) => r.path === "videos:updateUrls"), false);
    assert.equal(requests.some((r) => r.route === "ws:mutation" && r.path === "videos:create"), true);
  } finally {
    await c.close();
  }
});

test("a query the policy denies ends the socket with FatalError naming it", async () => {
  // The client throws a FatalError from its socket handler, as it does for Convex's own: catch
  // it here instead of the test runner.
  const runners = process.listeners("uncaughtException");
  process.removeAllListeners("uncaughtException");
  const fatal = new Promise((resolve) => process.once("uncaughtException", resolve));
  const c = client();
  try {
    c.setAuth(async () => process.env.USER_TOKEN);
    c.onUpdate("videos:getByTwitchId", { twitchId: "sync-1" }, () => {});
    const error = await fatal;
    assert.match(String(error.message ?? error), /forbidden.*videos:getByTwitchId/);
  } finally {
    for (const runner of runners) process.on("uncaughtException", runner);
    await c.close();
  }
});

test("a bad token is refused with AuthError", async () => {
  const c = client();
  try {
    const refused = new Promise((resolve) => c.setAuth(async () => process.env.BAD_TOKEN, (ok) => ok || resolve("refused")));
    assert.equal(await refused, "refused");
  } finally {
    await c.close();
  }
});

test("the socket keeps working while the gateway renews the minted identity", async () => {
  const c = client();
  try {
    c.setAuth(async () => process.env.USER_TOKEN);
    await until(c, "videos:whoami", {}, (v) => v !== null);
    const renewals = async () => {
      const text = await (await fetch(`${url}/metrics`)).text();
      const line = text.split("\n").find((l) => l.startsWith("gateway_sync_identity_renewals_total "));
      return Number(line?.split(" ")[1] ?? 0);
    };
    const before = await renewals();
    await eventually("two renewals of the minted identity", async () => (await renewals()) >= before + 2);
    // Versions stayed consistent: a mutation resolves and the subscription moves.
    const seen = until(c, "videos:list", {}, (v) => v.some((x) => x.twitchId === "after-renewal"));
    await c.mutation("videos:create", { twitchId: "after-renewal" });
    assert.equal((await seen).find((x) => x.twitchId === "after-renewal").ownerId, "alice");
    assert.equal(c.lines.filter((l) => /mismatch|Invalid start version/i.test(l)).length, 0, c.lines.join("\n"));
  } finally {
    await c.close();
  }
});
