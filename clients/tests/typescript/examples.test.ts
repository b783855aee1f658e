// The TypeScript example (examples/typescript/datadiver.ts) against a running gateway.
import assert from "node:assert/strict";
import { after, before, test } from "node:test";

import { createGatewayClient } from "../../typescript/src/index.ts";
import { createSession, upsertFromClerk } from "../../../examples/typescript/datadiver.ts";
// @ts-expect-error: a plain ES module without types.
import { startGateway } from "../gateway.mjs";

let gateway: { url: string; token: string; stop(): void };
before(async () => {
  gateway = await startGateway();
});
after(() => gateway?.stop());

test("DataDiver upserts Clerk users and creates sessions atomically", async () => {
  const client = createGatewayClient(gateway.url, gateway.token);
  const clerk = { id: "user_2abc", first_name: "Ada", email_addresses: [{ email_address: "ada@example.com" }] };
  const first = await upsertFromClerk(client, clerk);
  const again = await upsertFromClerk(client, { ...clerk, last_name: "Lovelace" });
  assert.equal(again._id, first._id, "the same Clerk user is updated, not inserted twice");
  assert.equal(again.name, "Ada Lovelace");
  assert.equal(again._version, 2);

  const results = await createSession(client, again, { model: "gpt" });
  assert.deepEqual(results.map((r) => r.op), ["insert", "patch"]);
  const { data: user } = await client.GET("/v1/tables/{table}/{id}", {
    params: { path: { table: "users", id: again._id } },
  });
  assert.equal(typeof user?.lastSessionAt, "number");

  // With a stale version the whole batch fails: no session without its user stamp.
  await assert.rejects(createSession(client, again), /version_mismatch/);
  const { data: sessions } = await client.GET("/v1/tables/{table}", {
    params: { path: { table: "sessions" }, query: { filters: { userId: `eq.${again._id}` } } },
  });
  assert.equal(sessions?.items.length, 1);
});
