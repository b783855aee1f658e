// Inbound webhooks signed by the providers' own libraries, sent to the gateway, which fronts
// the Convex test backend: Svix (what Clerk sends), Standard Webhooks, Stripe and GitHub.
// Each scheme: a valid delivery reaches its target once, also when delivered twice; a tampered
// body, a wrong secret, an old and a future timestamp and an empty signature are refused with
// the documented code; a second secret passes during a rotation. Run by the Rust test
// `webhooks::providers_libraries_sign_deliveries_that_reach_convex_once`, which starts both
// servers and passes GATEWAY_URL, BACKEND_URL and the secrets.
import assert from "node:assert/strict";
import { test } from "node:test";

import { sign as githubSign } from "@octokit/webhooks-methods";
import { Webhook as StandardWebhook } from "standardwebhooks";
import Stripe from "stripe";
import { Webhook as SvixWebhook } from "svix";
import { ConvexHttpClient } from "convex/browser";

const gateway = process.env.GATEWAY_URL;
const backend = new ConvexHttpClient(process.env.BACKEND_URL, { skipConvexDeploymentUrlCheck: true, logger: false });
const stripe = new Stripe("sk_test_unused");

async function post(name, body, headers) {
  const response = await fetch(`${gateway}/webhooks/${name}`, {
    method: "POST",
    headers: { "content-type": "application/json", ...headers },
    body,
  });
  const text = await response.text();
  return { status: response.status, body: text === "" ? null : JSON.parse(text) };
}

async function refused(name, body, headers, code) {
  const answer = await post(name, body, headers);
  assert.equal(answer.status, 401, JSON.stringify(answer.body));
  assert.equal(answer.body.code, code, JSON.stringify(answer.body));
}

async function table(name) {
  const page = await backend.query("gateway:list", { table: name, filters: [], order: [], limit: 1000, cursor: null });
  return page.items;
}

const minutesAgo = (m) => new Date(Date.now() - m * 60_000);

test("svix (Clerk): user.created reaches users:upsertFromClerk once; updated and deleted follow", async () => {
  const svix = new SvixWebhook(process.env.CLERK_WEBHOOK_SECRET);
  const created = JSON.stringify({
    type: "user.created",
    object: "event",
    data: { id: "user_2a", first_name: "Ada", last_name: "Lovelace", primary_email_address_id: "e1", email_addresses: [{ id: "e1", email_address: "ada@example.com" }] },
  });
  const send = (id, payload, at = new Date()) =>
    post("clerk", payload, { "svix-id": id, "svix-timestamp": String(Math.floor(at / 1000)), "svix-signature": svix.sign(id, at, payload) });
  const first = await send("msg_created_1", created);
  assert.equal(first.status, 200);
  assert.deepEqual([first.body.status, first.body.id, first.body.eventType], ["delivered", "msg_created_1", "user.created"]);
  // Svix retries with the same id and a new timestamp and signature.
  const again = await send("msg_created_1", created);
  assert.deepEqual([again.status, again.body.status, again.body.first], [200, "duplicate", "delivered"]);
  let user = await backend.query("users:getByExternalId", { externalId: "user_2a" });
  assert.deepEqual([user.name, user.email, user.gwVersion], ["Ada Lovelace", "ada@example.com", 1]);

  const updated = JSON.stringify({ type: "user.updated", object: "event", data: { id: "user_2a", first_name: "Ada", last_name: "King", email_addresses: [] } });
  assert.equal((await send("msg_updated_1", updated)).body.status, "delivered");
  user = await backend.query("users:getByExternalId", { externalId: "user_2a" });
  assert.deepEqual([user.name, user.gwVersion], ["Ada King", 2]);

  const ignored = await send("msg_session_1", JSON.stringify({ type: "session.created", object: "event", data: { id: "sess_1" } }));
  assert.deepEqual([ignored.status, ignored.body.status], [200, "ignored"]);

  const deleted = JSON.stringify({ type: "user.deleted", object: "event", data: { id: "user_2a", deleted: true } });
  assert.equal((await send("msg_deleted_1", deleted)).body.status, "delivered");
  assert.equal(await backend.query("users:getByExternalId", { externalId: "user_2a" }), null);
});

test("svix (Clerk): tampering, a wrong secret, old and future timestamps and an empty signature are refused; a rotated secret passes", async () => {
  const svix = new SvixWebhook(process.env.CLERK_WEBHOOK_SECRET);
  const payload = JSON.stringify({ type: "user.created", object: "event", data: { id: "user_bad", email_addresses: [] } });
  const headers = (id, at, signature) => ({ "svix-id": id, "svix-timestamp": String(Math.floor(at / 1000)), "svix-signature": signature });
  const now = new Date();
  await refused("clerk", payload.replace("user_bad", "user_evil"), headers("m1", now, svix.sign("m1", now, payload)), "webhook_signature");
  const stranger = new SvixWebhook("whsec_" + Buffer.from("not the configured secret").toString("base64"));
  await refused("clerk", payload, headers("m2", now, stranger.sign("m2", now, payload)), "webhook_signature");
  const old = minutesAgo(10);
  await refused("clerk", payload, headers("m3", old, svix.sign("m3", old, payload)), "webhook_timestamp");
  const future = minutesAgo(-10);
  await refused("clerk", payload, headers("m4", future, svix.sign("m4", future, payload)), "webhook_timestamp");
  await refused("clerk", payload, headers("m5", now, "v1,"), "webhook_signature");
  await refused("clerk", payload, headers("m5", now, ""), "webhook_signature");
  assert.equal(await backend.query("users:getByExternalId", { externalId: "user_bad" }), null, "nothing refused was delivered");

  // During a rotation Svix signs with both keys; the gateway lists both secrets.
  const next = new SvixWebhook(process.env.CLERK_WEBHOOK_SECRET_NEXT);
  const rotated = JSON.stringify({ type: "user.created", object: "event", data: { id: "user_rotated", email_addresses: [] } });
  const both = `${svix.sign("m6", now, rotated).replace("v1,", "v1,AAAA")} ${next.sign("m6", now, rotated)}`;
  const answer = await post("clerk", rotated, headers("m6", now, both));
  assert.deepEqual([answer.status, answer.body.status], [200, "delivered"]);
  assert.notEqual(await backend.query("users:getByExternalId", { externalId: "user_rotated" }), null);
});

test("standard webhooks: webhook-* headers, into a table once", async () => {
  const hook = new StandardWebhook(process.env.STANDARD_WEBHOOK_SECRET);
  const payload = JSON.stringify({ type: "thing.made", data: { k: "std-1", n: 7 } });
  const send = (id, body, at = new Date(), signed = body) =>
    post("standard", body, { "webhook-id": id, "webhook-timestamp": String(Math.floor(at / 1000)), "webhook-signature": hook.sign(id, at, signed) });
  assert.equal((await send("std_1", payload)).body.status, "delivered");
  assert.equal((await send("std_1", payload)).body.status, "duplicate");
  assert.equal((await table("things")).filter((t) => t.k === "std-1").length, 1);
  const old = minutesAgo(6);
  const stale = await post("standard", payload, { "webhook-id": "std_2", "webhook-timestamp": String(Math.floor(old / 1000)), "webhook-signature": hook.sign("std_2", old, payload) });
  assert.deepEqual([stale.status, stale.body.code], [401, "webhook_timestamp"]);
  const tampered = await send("std_3", payload.replace("7", "8"), new Date(), payload);
  assert.deepEqual([tampered.status, tampered.body.code], [401, "webhook_signature"]);
});

test("stripe: events upsert a payment by its object id; the signing helper's header is checked both ways in time", async () => {
  const secret = process.env.STRIPE_WEBHOOK_SECRET;
  const event = (id, type, status) =>
    JSON.stringify({ id, object: "event", type, data: { object: { id: "in_1", object: "invoice", status, amount_paid: 4200 } } });
  const send = (payload, timestamp = Math.floor(Date.now() / 1000)) =>
    post("stripe", payload, { "stripe-signature": stripe.webhooks.generateTestHeaderString({ payload, secret, timestamp }) });
  const paid = event("evt_1", "invoice.paid", "paid");
  assert.equal((await send(paid)).body.status, "delivered");
  assert.equal((await send(paid)).body.status, "duplicate", "Stripe's event id dedupes");
  assert.equal((await send(event("evt_2", "invoice.voided", "void"))).body.status, "delivered");
  const payments = await table("payments");
  assert.equal(payments.length, 1, "one invoice, upserted by stripeId");
  assert.deepEqual([payments[0].stripeId, payments[0].status, payments[0].amount, payments[0].eventType], ["in_1", "void", 4200, "invoice.voided"]);
  assert.equal((await send(event("evt_3", "charge.refunded", "x"))).body.status, "ignored");

  const now = Math.floor(Date.now() / 1000);
  await refused("stripe", event("evt_4", "invoice.paid", "old"), { "stripe-signature": stripe.webhooks.generateTestHeaderString({ payload: event("evt_4", "invoice.paid", "old"), secret, timestamp: now - 301 }) }, "webhook_timestamp");
  // Stripe's own verifyHeader lets a future timestamp through; the gateway does not.
  await refused("stripe", event("evt_5", "invoice.paid", "future"), { "stripe-signature": stripe.webhooks.generateTestHeaderString({ payload: event("evt_5", "invoice.paid", "future"), secret, timestamp: now + 301 }) }, "webhook_timestamp");
  await refused("stripe", event("evt_6", "invoice.paid", "x"), { "stripe-signature": `t=${now},v1=` }, "webhook_signature");
  await refused("stripe", event("evt_7", "invoice.paid", "x"), { "stripe-signature": stripe.webhooks.generateTestHeaderString({ payload: event("evt_7", "invoice.paid", "x"), secret: "whsec_wrong", timestamp: now }) }, "webhook_signature");
  assert.equal((await table("payments"))[0].status, "void", "nothing refused was written");
});

test("github: X-Hub-Signature-256 from @octokit/webhooks-methods, deduped by X-GitHub-Delivery", async () => {
  const secret = process.env.GITHUB_WEBHOOK_SECRET;
  const payload = JSON.stringify({ ref: "refs/heads/main", repository: { full_name: "acme/app" } });
  const headers = async (delivery, body = payload) => ({
    "x-hub-signature-256": await githubSign(secret, body),
    "x-github-delivery": delivery,
    "x-github-event": "push",
  });
  assert.equal((await post("github", payload, await headers("d-1"))).body.status, "delivered");
  assert.equal((await post("github", payload, await headers("d-1"))).body.status, "duplicate");
  assert.deepEqual((await table("things")).filter((t) => t.repo === "acme/app").map((t) => t.k), ["refs/heads/main"]);
  await refused("github", payload.replace("main", "evil"), await headers("d-2"), "webhook_signature");
  await refused("github", payload, { ...(await headers("d-3")), "x-hub-signature-256": "sha256=" }, "webhook_signature");
  const ping = await post("github", "{}", { ...(await headers("d-4", "{}")), "x-github-event": "ping" });
  assert.deepEqual([ping.status, ping.body.status], [200, "ignored"]);
});
