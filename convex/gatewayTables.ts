// The tables and fields convex-gateway needs in your Convex schema.
//
//   import { defineSchema, defineTable } from "convex/server";
//   import { v } from "convex/values";
//   import { gatewayTables, gatewayFields } from "./gatewayTables";
//
//   export default defineSchema({
//     ...gatewayTables,
//     videos: defineTable({ twitchId: v.string(), status: v.string(), ...gatewayFields })
//       .index("by_twitch_id", ["twitchId"]),
//   });
import { defineTable } from "convex/server";
import { v } from "convex/values";

/**
 * Bookkeeping fields the gateway keeps in every document it writes. Spread them into the
 * validator of each table the gateway serves. They are reserved: REST clients cannot write them,
 * and the gateway hides them from REST responses (the version is the ETag).
 */
export const gatewayFields = {
  /** Bumped on every write through the gateway; the ETag and If-Match use it. */
  gwVersion: v.optional(v.number()),
  /** Milliseconds since the Unix epoch of the last write through the gateway. */
  gwUpdatedTime: v.optional(v.number()),
};

/** The gateway's own tables. */
export const gatewayTables = {
  /** Results of mutations that carried an idempotency key, so each key applies at most once. */
  gateway_idempotency: defineTable({
    key: v.string(),
    outcomes: v.any(),
    createdAt: v.number(),
  })
    .index("by_key", ["key"])
    .index("by_created", ["createdAt"]),
};
