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
  /**
   * Every version of the documents of tables that keep history (`history = true` in the
   * gateway's policy), written by gateway:apply in the write's transaction. A delete is one
   * past the last version, without fields.
   */
  gateway_history: defineTable({
    table: v.string(),
    docId: v.string(),
    version: v.number(),
    op: v.union(v.literal("insert"), v.literal("update"), v.literal("delete"), v.literal("revert")),
    at: v.number(),
    sub: v.optional(v.string()),
    fields: v.optional(v.any()),
  })
    .index("by_doc", ["table", "docId", "version"])
    .index("by_deleted", ["op", "at"]),
};
