// The streaming export of the test backend (export.mjs): list_snapshot and document_deltas in
// the shapes the reference gives, for deploy-key callers only, over the revisions that the
// shipped `gateway:apply` mutation and the test app write.
import assert from "node:assert/strict";
import { once } from "node:events";
import { after, before, describe, test } from "node:test";

import { startBackend } from "./start.mjs";

const KEY = "test-deployment|secret-deploy-key";

describe("streaming export", () => {
  let backend;
  before(async () => {
    backend = await startBackend({ EMU_SNAPSHOT_PAGE: "2", EMU_DELTAS_PAGE: "2", EMU_ADMIN_KEY: KEY });
  });
  after(async () => {
    backend.child.kill("SIGTERM");
    await once(backend.child, "exit");
  });

  const call = async (route, body, authorization = `Convex ${KEY}`) => {
    const response = await fetch(backend.url + route, {
      method: "POST",
      headers: { "content-type": "application/json", ...(authorization ? { authorization } : {}) },
      body: JSON.stringify(body),
    });
    const text = await response.text();
    // Timestamps are i64 nanoseconds: keep them exact.
    const json = JSON.parse(text.replace(/"(_ts|snapshot|cursor)":(\d{16,})/g, '"$1":"$2"'));
    return { status: response.status, json };
  };
  const apply = async (ops) => {
    const { status, json } = await call("/api/mutation", { path: "gateway:apply", args: { ops }, format: "convex_encoded_json" }, null);
    assert.equal(status, 560, "a failed batch answers 560") ;
    return json;
  };
  const applyOk = async (ops) => {
    const { status, json } = await call("/api/mutation", { path: "gateway:apply", args: { ops }, format: "convex_encoded_json" }, null);
    assert.equal(status, 200, JSON.stringify(json));
    return json.value.outcomes;
  };
  const snapshotAll = async (table, format) => {
    const values = [];
    let cursor = null;
    let snapshot;
    let pages = 0;
    for (;;) {
      const { status, json } = await call("/api/list_snapshot", { tableName: table, cursor, snapshot, format });
      assert.equal(status, 200, JSON.stringify(json));
      values.push(...json.values);
      snapshot = json.snapshot;
      cursor = json.cursor;
      pages += 1;
      if (!json.hasMore) return { values, snapshot, pages };
    }
  };
  const deltasAll = async (table, cursor) => {
    const pages = [];
    for (;;) {
      const { status, json } = await call("/api/document_deltas", { tableName: table, cursor });
      assert.equal(status, 200, JSON.stringify(json));
      pages.push(json.values);
      assert.ok(BigInt(json.cursor) >= BigInt(cursor), "the cursor never goes back");
      cursor = json.cursor;
      if (!json.hasMore) return { pages, cursor };
    }
  };

  test("a snapshot pages through a table at one timestamp, then deltas carry every later revision, deletes as tombstones", async () => {
    const inserted = await applyOk([1, 2, 3, 4, 5].map((n) => ({ kind: "insert", table: "things", fields: { k: n } })));
    const before = await snapshotAll("things");
    assert.equal(before.pages, 3, "five documents in pages of two");
    assert.deepEqual(before.values.map((v) => v.k).sort(), [1, 2, 3, 4, 5]);
    for (const value of before.values) {
      assert.equal(value._table, "things");
      assert.equal(value._component, "");
      assert.match(value._ts, /^\d{16,}$/, "the commit timestamp, in nanoseconds");
      assert.ok(BigInt(value._ts) <= BigInt(before.snapshot));
    }
    // After the snapshot: one batch of three writes (one commit timestamp), then a delete.
    const [a, b, c] = inserted.map((o) => o.doc._id);
    await applyOk([
      { kind: "patch", table: "things", id: a, patch: { k: 10 } },
      { kind: "patch", table: "things", id: b, patch: { k: 20 } },
      { kind: "insert", table: "things", fields: { k: 6 } },
    ]);
    await applyOk([{ kind: "delete", table: "things", id: c }]);
    // A batch that fails leaves no revision.
    await apply([
      { kind: "insert", table: "things", fields: { k: 99 } },
      { kind: "delete", table: "things", id: "00000000000000000000099999things" },
    ]);
    const { pages, cursor } = await deltasAll("things", before.snapshot);
    const all = pages.flat();
    assert.deepEqual(all.map((v) => (v._deleted ? `delete ${v._id}` : v.k)), [10, 20, 6, `delete ${c}`]);
    // A page of two never splits the batch's timestamp: its three revisions came in one page.
    assert.equal(pages[0].length, 3);
    assert.equal(new Set(pages[0].map((v) => v._ts)).size, 1);
    const tombstone = all.at(-1);
    assert.deepEqual(Object.keys(tombstone).sort(), ["_component", "_deleted", "_id", "_table", "_ts"]);
    // Nothing new: the same cursor answers nothing, and later writes come after it.
    const idle = await call("/api/document_deltas", { tableName: "things", cursor });
    assert.deepEqual(idle.json.values, []);
    await applyOk([{ kind: "patch", table: "things", id: a, patch: { k: 11 } }]);
    const next = await call("/api/document_deltas", { tableName: "things", cursor });
    assert.deepEqual(next.json.values.map((v) => v.k), [11]);
    assert.ok(BigInt(next.json.values[0]._ts) > BigInt(cursor));
    // An older snapshot still reads the table as it was.
    const again = await snapshotAll("things");
    assert.deepEqual(again.values.map((v) => v.k).sort((x, y) => x - y), [4, 5, 6, 11, 20]);
  });

  test("int64 values are lossless in convex_encoded_json and strings in json; other tables stay out", async () => {
    const big = Buffer.alloc(8);
    big.writeBigInt64LE(2n ** 60n + 1n);
    await applyOk([{ kind: "insert", table: "c", fields: { i: { $integer: big.toString("base64") } } }]);
    const encoded = await snapshotAll("c", "convex_encoded_json");
    assert.deepEqual(encoded.values.map((v) => v.i), [{ $integer: big.toString("base64") }]);
    const clean = await snapshotAll("c", "json");
    assert.deepEqual(clean.values.map((v) => v.i), [String(2n ** 60n + 1n)]);
    assert.ok(clean.values.every((v) => v._table === "c"));
  });

  test("only a deploy key reads the export", async () => {
    for (const authorization of [null, "Bearer a.b.c", "Convex wrong-key"]) {
      for (const route of ["/api/list_snapshot", "/api/document_deltas"]) {
        const { status, json } = await call(route, { tableName: "things", cursor: 0 }, authorization);
        assert.equal(status, 401, `${route} with ${authorization}`);
        assert.equal(json.code, "BadAdminKey");
      }
    }
    const { status, json } = await call("/api/document_deltas", { tableName: "things" });
    assert.equal(status, 400);
    assert.equal(json.code, "DocumentDeltasCursorRequired");
  });
});
