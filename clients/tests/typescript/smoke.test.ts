// The generated TypeScript client against a running gateway: insert, filter a list, and write
// with If-Match from the listed `_version`, including the 412 a stale version gets.
import assert from "node:assert/strict";
import { after, before, test } from "node:test";

import { createGatewayClient, ifMatch } from "../../typescript/src/index.ts";
// @ts-expect-error: a plain ES module without types.
import { startGateway } from "../gateway.mjs";

let gateway: { url: string; token: string; stop(): void };
before(async () => {
  gateway = await startGateway();
});
after(() => gateway?.stop());

test("the typed client inserts, filters and writes conditionally", async () => {
  const client = createGatewayClient(gateway.url, gateway.token);
  const created = await client.POST("/v1/tables/{table}", {
    params: { path: { table: "videos" } },
    body: { twitchId: "2234567890", status: "queued" },
  });
  assert.equal(created.response.status, 201);

  const listed = await client.GET("/v1/tables/{table}", {
    params: { path: { table: "videos" }, query: { filters: { twitchId: "eq.2234567890" }, limit: 10 } },
  });
  assert.equal(listed.response.status, 200);
  const video = listed.data?.items[0];
  assert.ok(video, JSON.stringify(listed.data));
  assert.equal(video._version, 1);

  const moved = await client.PATCH("/v1/tables/{table}/{id}", {
    params: { path: { table: "videos", id: video._id }, header: { "If-Match": ifMatch(video) } },
    body: { status: "transcribing" },
  });
  assert.equal(moved.response.status, 200);
  // 200 is the document; a 202 (queued while Convex is down) would be a receipt.
  assert.ok(moved.data && "_version" in moved.data, JSON.stringify(moved.data));
  assert.equal(moved.data._version, 2);

  const stale = await client.PATCH("/v1/tables/{table}/{id}", {
    params: { path: { table: "videos", id: video._id }, header: { "If-Match": ifMatch(video) } },
    body: { status: "failed" },
  });
  assert.equal(stale.response.status, 412);
  assert.equal(stale.error?.code, "version_mismatch");

  const anonymous = await createGatewayClient(gateway.url).GET("/v1/tables/{table}", {
    params: { path: { table: "videos" } },
  });
  assert.equal(anonymous.response.status, 401);
  assert.equal(anonymous.error?.code, "missing_token");
});
