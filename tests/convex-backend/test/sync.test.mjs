// Proves the test backend's WebSocket sync protocol with the official clients before the gateway
// is tested against it: ConvexClient (what ConvexReactClient is built on) subscribes, sees its
// own mutations and other clients' HTTP writes, authenticates, is refused a bad token, and gets
// errors as errors.
import assert from "node:assert/strict";
import { once } from "node:events";
import { after, before, test } from "node:test";

import { ConvexClient, ConvexHttpClient } from "convex/browser";

import { startBackend } from "./start.mjs";

let backend;
before(async () => {
  backend = await startBackend({ EMU_PING_MS: "500" });
});
after(async () => {
  backend.child.kill("SIGTERM");
  await once(backend.child, "exit");
});

function unsignedJwt(claims) {
  const part = (o) => Buffer.from(JSON.stringify(o)).toString("base64url");
  return `${part({ alg: "ES256", typ: "JWT", kid: "k" })}.${part(claims)}.sig`;
}

const token = (sub) => unsignedJwt({ sub, iss: "https://issuer.test", exp: Math.floor(Date.now() / 1000) + 600 });

/** Resolves with the first value of `query` that `accept` takes, within 5 s. */
function until(client, query, args, accept) {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no accepted value of ${query} within 5 s`)), 5000);
    const unsubscribe = client.onUpdate(query, args, (value) => {
      if (accept(value)) {
        clearTimeout(timer);
        unsubscribe();
        resolve(value);
      }
    });
  });
}

test("a subscription sees its own mutation and another client's HTTP write", async () => {
  const client = new ConvexClient(backend.url, { skipConvexDeploymentUrlCheck: true });
  try {
    await until(client, "videos:list", { status: "Queued" }, (v) => Array.isArray(v) && v.length === 0);
    const seen = until(client, "videos:list", { status: "Queued" }, (v) => v.some((x) => x.twitchId === "ws-1"));
    await client.mutation("videos:create", { twitchId: "ws-1", title: "over the socket" });
    assert.equal((await seen)[0].title, "over the socket");
    // A write over HTTP reaches the WebSocket subscriber too.
    const http = new ConvexHttpClient(backend.url, { skipConvexDeploymentUrlCheck: true, logger: false });
    const moved = until(client, "videos:list", { status: "Queued" }, (v) => v.length === 2);
    await http.mutation("videos:create", { twitchId: "http-1" });
    assert.deepEqual((await moved).map((v) => v.twitchId).sort(), ["http-1", "ws-1"]);
    // An action answers too.
    const stats = await (await fetch(`${backend.url}/_emu/sync`)).json();
    assert.equal(stats.connections, 1);
  } finally {
    await client.close();
  }
});

test("authentication changes the identity queries run as", async () => {
  const client = new ConvexClient(backend.url, { skipConvexDeploymentUrlCheck: true });
  try {
    assert.equal(await client.query("videos:whoami", {}), null);
    client.setAuth(async () => token("alice"));
    const identity = await until(client, "videos:whoami", {}, (v) => v !== null);
    assert.equal(identity.subject, "alice");
    await client.mutation("videos:create", { twitchId: "owned" });
    const mine = await until(client, "videos:list", {}, (v) => v.some((x) => x.twitchId === "owned"));
    assert.equal(mine.find((x) => x.twitchId === "owned").ownerId, "alice");
  } finally {
    await client.close();
  }
});

test("a token that cannot be read is refused with AuthError", async () => {
  const client = new ConvexClient(backend.url, { skipConvexDeploymentUrlCheck: true });
  try {
    const refused = new Promise((resolve) => client.setAuth(async () => "not-a-jwt", (ok) => ok || resolve("refused")));
    assert.equal(await refused, "refused");
  } finally {
    await client.close();
  }
});

test("function errors reach the client as errors", async () => {
  const client = new ConvexClient(backend.url, { skipConvexDeploymentUrlCheck: true });
  try {
    await assert.rejects(client.mutation("videos:explode", {}), /boom/);
    await assert.rejects(client.query("videos:nope", {}), /Could not find public function/);
  } finally {
    await client.close();
  }
});
