// The official ConvexHttpClient, pointed at the gateway (which fronts the Convex test backend),
// works unchanged: queries, mutations, ConvexError data, the caller's identity, and a policy
// denial. Run by the Rust test `functions::the_official_convex_http_client_works_through_the_gateway`,
// which starts both servers and passes GATEWAY_URL, USER_TOKEN and OTHER_TOKEN.
import assert from "node:assert/strict";
import { test } from "node:test";

import { ConvexHttpClient } from "convex/browser";
import { ConvexError } from "convex/values";

const url = process.env.GATEWAY_URL;
const client = () => new ConvexHttpClient(url, { skipConvexDeploymentUrlCheck: true, logger: false });

test("queries and mutations pass through with the caller's identity", async () => {
  const alice = client();
  alice.setAuth(process.env.USER_TOKEN);
  await alice.mutation("videos:create", { twitchId: "tg-1", title: "Through the gateway" });
  const video = await alice.query("videos:getByTwitchId", { twitchId: "tg-1" });
  assert.equal(video.title, "Through the gateway");
  assert.equal(video.ownerId, "alice", "the function saw the caller as its identity");
  await alice.mutation("videos:updateStatusByTwitchId", { twitchId: "tg-1", status: "Analyzing" });
  assert.equal((await alice.query("videos:getByTwitchId", { twitchId: "tg-1" })).status, "Analyzing");
  const identity = await alice.query("videos:whoami", {});
  assert.equal(identity.subject, "alice");
});

test("ConvexError data reaches the client as data", async () => {
  const alice = client();
  alice.setAuth(process.env.USER_TOKEN);
  await assert.rejects(
    alice.mutation("videos:updateStatusByTwitchId", { twitchId: "nope", status: "Failed" }),
    (error) => error instanceof ConvexError && error.data.code === "NOT_FOUND" && error.data.twitchId === "nope",
  );
});

test("each client keeps its own identity", async () => {
  const [a, b] = [client(), client()];
  a.setAuth(process.env.USER_TOKEN);
  b.setAuth(process.env.OTHER_TOKEN);
  const [ia, ib] = await Promise.all([a.query("videos:whoami", {}), b.query("videos:whoami", {})]);
  assert.equal(ia.subject, "alice");
  assert.equal(ib.subject, "bob");
});

test("the policy can deny a function, and anonymous callers are refused", async () => {
  const alice = client();
  alice.setAuth(process.env.USER_TOKEN);
  await assert.rejects(alice.mutation("videos:updateUrls", { twitchId: "tg-1", urls: {} }), /forbidden/);
  await assert.rejects(client().query("videos:whoami", {}), /missing_token/);
});
