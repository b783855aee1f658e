// A typed client for convex-gateway. The types (`schema.d.ts`) are generated from the gateway's
// OpenAPI spec by openapi-typescript (`npm run generate`); requests go through openapi-fetch, so
// every path, parameter and body is checked against the spec at compile time.
import createClient, { type Middleware } from "openapi-fetch";

import type { components, paths } from "./schema";

export type { components, paths };
export type Document = components["schemas"]["DocumentBody"];
export type Problem = components["schemas"]["Problem"];

/** A client for the gateway at `baseUrl`, sending `token` as the bearer token when given. */
export function createGatewayClient(baseUrl: string, token?: string | (() => string)) {
  // Filters are one query parameter each (`?status=eq.queued`), as the spec's `style: form`
  // says; openapi-fetch would otherwise send objects as `filters[status]=…`. Answers are typed
  // as JSON and problems: the event streams some routes also offer (live watches) are read
  // another way.
  const client = createClient<paths, "application/json" | "application/problem+json">({
    baseUrl,
    querySerializer: { object: { style: "form", explode: true } },
  });
  if (token !== undefined) {
    const auth: Middleware = {
      onRequest({ request }) {
        request.headers.set("authorization", `Bearer ${typeof token === "function" ? token() : token}`);
        return request;
      },
    };
    client.use(auth);
  }
  return client;
}

/** The ETag value that `If-Match` takes for a document: its `_version`, quoted. */
export function ifMatch(document: Pick<Document, "_version">): string {
  return `"${document._version}"`;
}
