// Drives the official ConvexHttpClient against the test backend running our convex/ functions,
// in both error-status modes (560 like convex-js expects, 200 like the real backend sends).
import assert from "node:assert/strict";
import { once } from "node:events";
import { after, before, describe, test } from "node:test";

import { ConvexHttpClient } from "convex/browser";
import { ConvexError } from "convex/values";

export { startBackend } from "./start.mjs";
import { startBackend } from "./start.mjs";

function unsignedJwt(claims) {
  const part = (o) => Buffer.from(JSON.stringify(o)).toString("base64url");
  return `${part({ alg: "ES256", typ: "JWT", kid: "k" })}.${part(claims)}.sig`;
}

for (const errorStatus of ["560", "200"]) {
  describe(`test backend with function errors as HTTP ${errorStatus}`, () => {
    let backend;
    let client;
    before(async () => {
      backend = await startBackend({ EMU_ERROR_STATUS: errorStatus, EMU_OMIT_EMPTY_LOGLINES: errorStatus === "200" ? "1" : "0" });
      client = new ConvexHttpClient(backend.url, { skipConvexDeploymentUrlCheck: true, logger: false });
    });
    after(async () => {
      backend.child.kill("SIGTERM");
      await once(backend.child, "exit");
    });

    test("the seed's pipeline calls work: create, look up, update status", async () => {
      await client.mutation("videos:create", { twitchId: "v1", title: "Intro" });
      const video = await client.query("videos:getByTwitchId", { twitchId: "v1" });
      assert.equal(video.status, "Queued");
      await client.mutation("videos:updateStatusByTwitchId", { twitchId: "v1", status: "Transcribing" });
      assert.equal((await client.query("videos:getByTwitchId", { twitchId: "v1" })).status, "Transcribing");
    });

    test("ConvexError data comes back as data, plain errors without it", async () => {
      await assert.rejects(
        client.mutation("videos:updateStatusByTwitchId", { twitchId: "missing", status: "Failed" }),
        (error) => error instanceof ConvexError && error.data.code === "NOT_FOUND",
      );
      await assert.rejects(client.mutation("videos:explode", {}), (error) => !(error instanceof ConvexError) && /boom/.test(error.message));
    });

    test("old idempotency keys are purged by an internal mutation only", async () => {
      const write = { ops: [{ kind: "insert", table: "purge_notes", fields: { text: "keyed" } }], idempotencyKey: "purge-me" };
      assert.equal((await client.mutation("gateway:apply", write)).replayed, false);
      assert.equal((await client.mutation("gateway:apply", write)).replayed, true);
      await assert.rejects(client.mutation("gateway:purgeIdempotency", {}), /Could not find public function/);
      const admin = new ConvexHttpClient(backend.url, { skipConvexDeploymentUrlCheck: true, logger: false });
      admin.setAdminAuth("test-admin-key");
      // Within the retention nothing goes; past it, the key is forgotten.
      assert.equal((await admin.mutation("gateway:purgeIdempotency", {})).deleted, 0);
      const purged = await admin.mutation("gateway:purgeIdempotency", { retentionMs: -1000 });
      assert.ok(purged.deleted >= 1, JSON.stringify(purged));
      assert.equal(purged.more, false);
      assert.equal((await client.mutation("gateway:apply", write)).replayed, false);
    });

    test("history: gateway:apply keeps versions of the tables it is told to; purgeHistory forgets deleted documents' only", async () => {
      const history = { tables: ["hist_notes"], sub: "alice" };
      const inserted = await client.mutation("gateway:apply", { ops: [{ kind: "insert", table: "hist_notes", fields: { n: 1 } }, { kind: "insert", table: "hist_other", fields: { n: 1 } }], history });
      const [gone, other] = inserted.outcomes.map((o) => o.doc._id);
      const kept = (await client.mutation("gateway:apply", { ops: [{ kind: "insert", table: "hist_notes", fields: { n: 2 } }], history })).outcomes[0].doc._id;
      await client.mutation("gateway:apply", { ops: [{ kind: "patch", table: "hist_notes", id: gone, patch: { n: 3 } }], history: { ...history, revert: true } });
      await client.mutation("gateway:apply", { ops: [{ kind: "delete", table: "hist_notes", id: gone }], history });
      const versions = async (table, id) => (await client.query("gateway:history", { table, id, limit: 10 })).items;
      assert.deepEqual((await versions("hist_notes", gone)).map((e) => [e.version, e.op, e.sub, e.fields?.n ?? null]), [
        [3, "delete", "alice", null],
        [2, "revert", "alice", 3],
        [1, "insert", "alice", 1],
      ]);
      assert.deepEqual(await versions("hist_other", other), [], "a table not named keeps nothing");
      // A dry run keeps no version.
      await assert.rejects(
        client.mutation("gateway:apply", { ops: [{ kind: "patch", table: "hist_notes", id: kept, patch: { n: 9 } }], history, dryRun: true }),
        (error) => error instanceof ConvexError && error.data.code === "DRY_RUN",
      );
      assert.equal((await versions("hist_notes", kept)).length, 1);
      const admin = new ConvexHttpClient(backend.url, { skipConvexDeploymentUrlCheck: true, logger: false });
      admin.setAdminAuth("test-admin-key");
      assert.equal((await admin.mutation("gateway:purgeHistory", {})).deleted, 0, "within the retention nothing goes");
      assert.equal((await admin.mutation("gateway:purgeHistory", { retentionMs: -1000 })).deleted, 3);
      assert.deepEqual(await versions("hist_notes", gone), []);
      assert.equal((await versions("hist_notes", kept)).length, 1, "a live document's history stays");
    });

    test("gateway:webhook: deploy key only, the target once per key, a table upserted by a field", async () => {
      const event = { key: "webhook:clerk:msg_1", mutation: "users:upsertFromClerk", args: { data: { id: "user_w1", first_name: "Ada", email_addresses: [] } } };
      await assert.rejects(client.mutation("gateway:webhook", event), /Could not find public function/);
      const admin = new ConvexHttpClient(backend.url, { skipConvexDeploymentUrlCheck: true, logger: false });
      admin.setAdminAuth("test-admin-key");
      const first = await admin.mutation("gateway:webhook", event);
      const again = await admin.mutation("gateway:webhook", event);
      assert.deepEqual([first.replayed, again.replayed], [false, true]);
      assert.equal(again.result, first.result, "the replay answers the first result");
      assert.equal((await client.query("users:getByExternalId", { externalId: "user_w1" })).gwVersion, 1, "the mutation ran once");
      // A target that throws leaves nothing, the key included: a retry runs it again.
      const bad = { key: "webhook:clerk:msg_2", mutation: "users:upsertFromClerk", args: { data: {} } };
      await assert.rejects(admin.mutation("gateway:webhook", bad), (error) => error instanceof ConvexError && error.data.code === "INVALID_USER");
      // Tables: insert, then upsert by a field (found through its index).
      const upsert = (key, status) => admin.mutation("gateway:webhook", { key, table: "payments", fields: { stripeId: "in_w", status }, upsertBy: "stripeId" });
      assert.equal((await upsert("webhook:stripe:evt_1", "open")).result.kind, "inserted");
      assert.equal((await upsert("webhook:stripe:evt_2", "paid")).result.kind, "updated");
      const rows = (await client.query("gateway:list", { table: "payments", filters: [], order: [], limit: 10, cursor: null })).items.filter((r) => r.stripeId === "in_w");
      assert.deepEqual(rows.map((r) => [r.status, r.gwVersion]), [["paid", 2]]);
      await assert.rejects(admin.mutation("gateway:webhook", { key: "webhook:x:1", table: "payments", fields: { _id: "x" } }), (error) => error instanceof ConvexError && error.data.code === "RESERVED_FIELD");
    });

    test("environment variables: Convex's routes, shapes, codes and limits, deploy key only, all or nothing", async () => {
      const call = (path, init = {}, key = "test-admin-key") =>
        fetch(`${backend.url}${path}`, { ...init, headers: { "content-type": "application/json", ...(key ? { authorization: `Convex ${key}` } : {}) } });
      const update = (changes) => call("/api/v1/update_environment_variables", { method: "POST", body: JSON.stringify({ changes }) });
      const list = async () => (await (await call("/api/list_environment_variables")).json()).environmentVariables;
      assert.equal((await call("/api/v1/list_environment_variables", {}, null)).status, 401);
      const set = await update([{ name: "A_KEY", value: "1" }, { name: "B_KEY", value: "2" }]);
      assert.equal(set.status, 200);
      assert.equal(await set.text(), "", "an empty body, as Convex answers");
      assert.deepEqual(await list(), { A_KEY: "1", B_KEY: "2" });
      const refusal = async (changes, code) => {
        const answer = await update(changes);
        assert.equal(answer.status, 400);
        assert.equal((await answer.json()).code, code);
      };
      await refusal([{ name: "C_KEY", value: "3" }, { name: "C_KEY", value: "4" }], "EnvVarNameNotUnique");
      await refusal([{ name: "D_KEY", value: "x" }, { name: "bad-name", value: "x" }], "EnvironmentVariableNameInvalid");
      await refusal([{ name: "E".repeat(41), value: "x" }], "EnvironmentVariableNameTooLong");
      await refusal([{ name: "BIG", value: "x".repeat(8 * 1024 + 1) }], "EnvironmentVariableValueTooLarge");
      await refusal([{ name: "CONVEX_CLOUD_URL", value: "x" }], "EnvVarNameForbidden");
      await refusal(Array.from({ length: 99 }, (_, i) => ({ name: `V${i}`, value: "x" })), "EnvVarLimitMet");
      assert.deepEqual(await list(), { A_KEY: "1", B_KEY: "2" }, "a refused update changes nothing");
      assert.equal((await update([{ name: "A_KEY" }, { name: "B_KEY", value: null }])).status, 200);
      assert.deepEqual(await list(), {});
    });

    test("internal functions are hidden and kinds are enforced", async () => {
      await assert.rejects(client.mutation("videos:purge", {}), /Could not find public function/);
      await assert.rejects(client.query("videos:create", { twitchId: "x" }), /defined as Mutation/);
    });

    test("gateway:syncApply: deploy key only, in order, once per key, never over a changed document", async () => {
      const changes = (list) => ({ changes: list });
      // Without the deploy key, it does not exist.
      await assert.rejects(
        client.mutation("gateway:syncApply", changes([{ key: "s:1", table: "things", op: "insert", fields: { v: 1 } }])),
        /Could not find public function/,
      );
      const admin = new ConvexHttpClient(backend.url, { skipConvexDeploymentUrlCheck: true, logger: false });
      admin.setAdminAuth("any-deploy-key");
      const first = await admin.mutation("gateway:syncApply", changes([
        { key: "s:1", table: "things", op: "insert", fields: { v: 1, gone: null } },
        { key: "s:2", table: "things", op: "insert", fields: { v: 2 } },
      ]));
      assert.deepEqual(first.outcomes.map((o) => o.status), ["inserted", "inserted"]);
      const [a, b] = first.outcomes.map((o) => o.id);
      // A retry with the same keys answers as the first time and writes nothing.
      const again = await admin.mutation("gateway:syncApply", changes([
        { key: "s:1", table: "things", op: "insert", fields: { v: 1 } },
      ]));
      assert.deepEqual(again.outcomes, [{ status: "inserted", id: a, replayed: true }]);
      const next = await admin.mutation("gateway:syncApply", changes([
        // Applies: the document still holds what was last synced.
        { key: "s:3", table: "things", op: "update", id: a, fields: { v: 10 }, expect: { v: 1 } },
        // Nothing to write: the document already holds it.
        { key: "s:4", table: "things", op: "update", id: a, fields: { v: 10 }, expect: { v: 1 } },
        // A conflict: b no longer holds v: 1; the batch stops here.
        { key: "s:5", table: "things", op: "update", id: b, fields: { v: 20 }, expect: { v: 1 } },
        { key: "s:6", table: "things", op: "delete", id: a, expect: { v: 10 } },
      ]));
      assert.deepEqual(next.outcomes.map((o) => o.status), ["updated", "same", "conflict"]);
      assert.equal(next.outcomes[2].current.v, 2);
      // Forced (a conflict Postgres won), and a delete of a document that is gone.
      const forced = await admin.mutation("gateway:syncApply", changes([
        { key: "s:5", table: "things", op: "update", id: b, fields: { v: 20 }, expect: { v: 1 }, force: true },
        { key: "s:6", table: "things", op: "delete", id: a, expect: { v: 10 } },
        { key: "s:7", table: "things", op: "delete", id: a },
      ]));
      assert.deepEqual(forced.outcomes.map((o) => o.status), ["updated", "deleted", "missing"]);
      const doc = await client.query("gateway:get", { table: "things", id: b });
      assert.equal(doc.v, 20);
      assert.equal(doc.gwVersion, 2);
      assert.equal(await client.query("gateway:get", { table: "things", id: a }), null);
    });

    test("requests Convex refuses answer 4xx with its {code, message} body", async () => {
      const post = async (route, body) => {
        const response = await fetch(`${backend.url}${route}`, {
          method: "POST",
          headers: { "content-type": "application/json" },
          body: typeof body === "string" ? body : JSON.stringify(body),
        });
        return { status: response.status, body: await response.json() };
      };
      const missing = await post("/api/run/0", { args: {} });
      assert.equal(missing.status, 400);
      assert.equal(missing.body.code, "MissingIdentifier");
      assert.equal((await post("/api/run/videos/whoami", { args: {} })).body.status, "success");
      assert.equal((await post("/api/query", { path: "videos:whoami", args: {}, format: "xml" })).body.code, "BadFormat");
      assert.equal((await post("/api/query", "{not json")).body.code, "BadJsonBody");
      const reserved = await post("/api/query", { path: "videos:whoami", args: { $bad: 1 } });
      assert.equal(reserved.status, 400);
      assert.equal(reserved.body.code, "BadJsonBody");
      // The official client refuses such args itself, before sending: only raw callers get the 400.
      await assert.rejects(client.query("videos:whoami", { $bad: 1 }), /starts with a '\$'/);
    });

    test("the caller's identity reaches the function", async () => {
      client.setAuth(unsignedJwt({ sub: "alice", iss: "https://gateway.test", name: "Alice", exp: Math.floor(Date.now() / 1000) + 60 }));
      const identity = await client.query("videos:whoami", {});
      client.clearAuth();
      assert.equal(identity.subject, "alice");
      assert.equal(identity.tokenIdentifier, "https://gateway.test|alice");
      assert.equal(identity.name, "Alice");
    });

    test("gateway:apply is atomic, versioned and idempotent", async () => {
      const first = await client.mutation("gateway:apply", {
        ops: [{ kind: "insert", table: "notes", fields: { text: "a" } }],
      });
      const doc = first.outcomes[0].doc;
      assert.equal(doc.gwVersion, 1);
      // The second op fails: the first must not persist.
      await assert.rejects(
        client.mutation("gateway:apply", {
          ops: [
            { kind: "insert", table: "notes", fields: { text: "b" } },
            { kind: "delete", table: "notes", id: "missing" },
          ],
        }),
        (error) => error instanceof ConvexError && error.data.code === "NOT_FOUND" && error.data.op === 1,
      );
      const all = await client.query("gateway:list", { table: "notes", filters: [], order: [], limit: 100, cursor: null });
      assert.deepEqual(all.items.map((d) => d.text), ["a"]);
      await assert.rejects(
        client.mutation("gateway:apply", { ops: [{ kind: "patch", table: "notes", id: doc._id, patch: { text: "x" }, expected: [7] }] }),
        (error) => error instanceof ConvexError && error.data.code === "VERSION_MISMATCH" && error.data.actual === 1,
      );
      const patch = { ops: [{ kind: "patch", table: "notes", id: doc._id, patch: { text: "c", extra: { k: 1 } }, expected: [1] }], idempotencyKey: "k-1" };
      const once1 = await client.mutation("gateway:apply", patch);
      const once2 = await client.mutation("gateway:apply", patch);
      assert.equal(once1.replayed, false);
      assert.equal(once2.replayed, true);
      assert.equal(once2.outcomes[0].doc.gwVersion, 2, "the replay returns the first result and applies nothing");
      const stored = await client.query("gateway:get", { table: "notes", id: doc._id });
      assert.equal(stored.gwVersion, 2);
      await assert.rejects(
        client.mutation("gateway:apply", { ops: [{ kind: "insert", table: "notes", fields: { gwVersion: 9 } }] }),
        (error) => error instanceof ConvexError && error.data.code === "RESERVED_FIELD",
      );
    });

    test("gateway:list uses an index for an eq filter when one exists", async () => {
      await client.mutation("videos:create", { twitchId: "idx-1" });
      await client.mutation("videos:create", { twitchId: "idx-2" });
      const eq = (field, value) => ({ field, op: "eq", value, negated: false });
      const indexed = await client.query("gateway:list", { table: "videos", filters: [eq("twitchId", "idx-2")], order: [], limit: 10, cursor: null });
      assert.equal(indexed.index, "by_twitch_id");
      assert.deepEqual(indexed.items.map((v) => v.twitchId), ["idx-2"]);
      const scanned = await client.query("gateway:list", { table: "videos", filters: [eq("status", "Queued")], order: [], limit: 100, cursor: null });
      assert.equal(scanned.index, null);
      assert.ok(scanned.items.length >= 2);
    });

    test("gateway:list filters by type, orders by an index and pages with a cursor", async () => {
      const docs = [{ score: 3, name: "a" }, { score: "3", name: "b" }, { score: 1, name: "c" }, { name: "d" }, { score: 5, name: "e" }];
      await client.mutation("gateway:apply", { ops: docs.map((fields) => ({ kind: "insert", table: "scores", fields })) });
      const names = async (filters, order = [], limit = 100) => {
        const out = [];
        let cursor = null;
        do {
          const page = await client.query("gateway:list", { table: "scores", filters, order, limit, cursor });
          out.push(...page.items.map((d) => d.name));
          cursor = page.nextCursor;
        } while (cursor !== null);
        return out.join("");
      };
      const f = (field, op, value, negated = false) => ({ field, op, value, negated });
      assert.equal(await names([f("score", "gt", 2)]), "ae");
      assert.equal(await names([f("score", "eq", "3")]), "b");
      assert.equal(await names([f("score", "gt", 2, true)]), "bcd");
      assert.equal(await names([f("score", "isNull")]), "d");
      assert.equal(await names([f("name", "like", "*")]), "abcde");
      assert.equal(await names([f("name", "ilike", "E")]), "e");
      // Convex orders strings above numbers and missing values first: descending is b e a c d.
      assert.equal(await names([], [{ field: "score", direction: "desc" }], 2), "beacd");
      assert.equal(await names([], [{ field: "score", direction: "asc" }], 3), "dcaeb");
      await assert.rejects(
        client.query("gateway:list", { table: "scores", filters: [], order: [{ field: "nope", direction: "asc" }], limit: 10, cursor: null }),
        (error) => error instanceof ConvexError && error.data.code === "ORDER_NEEDS_INDEX",
      );
    });
  });
}
