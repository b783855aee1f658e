// DataDiver's user and session writes, through the gateway with the generated TypeScript client:
// users synced from Clerk are upserted by their Clerk id, and a chat session is created together
// with the user's `lastSessionAt` in one atomic batch (all or nothing).
import { createGatewayClient, ifMatch, type Document } from "../../clients/typescript/src/index.ts";

type Client = ReturnType<typeof createGatewayClient>;

/** The part of a Clerk user webhook DataDiver keeps. */
export interface ClerkUser {
  id: string;
  first_name?: string;
  last_name?: string;
  email_addresses: { email_address: string }[];
}

async function findUser(client: Client, externalId: string): Promise<Document | undefined> {
  const { data, error } = await client.GET("/v1/tables/{table}", {
    params: { path: { table: "users" }, query: { filters: { externalId: `eq.${externalId}` }, limit: 1 } },
  });
  if (error) throw new Error(`listing users: ${error.code}: ${error.detail}`);
  return data.items[0];
}

/** Inserts the user, or updates it in place (conditionally, so a concurrent sync is not lost). */
export async function upsertFromClerk(client: Client, user: ClerkUser): Promise<Document> {
  const fields = {
    externalId: user.id,
    name: [user.first_name, user.last_name].filter(Boolean).join(" ") || undefined,
    email: user.email_addresses[0]?.email_address,
  };
  for (let attempt = 0; attempt < 5; attempt++) {
    const existing = await findUser(client, user.id);
    if (existing === undefined) {
      const { data, error } = await client.POST("/v1/tables/{table}", {
        params: { path: { table: "users" } },
        body: fields,
      });
      if (error) throw new Error(`inserting user: ${error.code}: ${error.detail}`);
      return data as Document;
    }
    const { data, error, response } = await client.PATCH("/v1/tables/{table}/{id}", {
      params: { path: { table: "users", id: existing._id }, header: { "If-Match": ifMatch(existing) } },
      body: fields,
    });
    if (response.status === 412) continue;
    if (error) throw new Error(`updating user: ${error.code}: ${error.detail}`);
    return data as Document;
  }
  throw new Error(`user ${user.id} kept changing`);
}

/** Creates a chat session and stamps the user's `lastSessionAt`, atomically. */
export async function createSession(client: Client, user: Document, metadata: Record<string, unknown> = {}) {
  const startedAt = Date.now();
  const { data, error } = await client.POST("/v1/transactions", {
    body: {
      operations: [
        { op: "insert", table: "sessions", document: { userId: user._id, startedAt, metadata } },
        { op: "patch", table: "users", id: user._id, patch: { lastSessionAt: startedAt }, version: user._version },
      ],
    },
  });
  if (error) throw new Error(`creating a session: ${error.code}: ${error.detail}`);
  // On Convex, while it is down, the batch is queued (202 with a receipt) instead.
  if (!("results" in data)) throw new Error(`the session was queued as ${data.outboxId}`);
  return data.results;
}
