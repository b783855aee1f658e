// The test app's schema: the gateway's tables, the seeds' tables (KlipStream videos,
// DataDiver users and sessions), and indexes that the shared store suite orders by.
import { defineSchema, defineTable } from "convex/server";
import { v } from "convex/values";
import { gatewayFields, gatewayTables } from "../../../convex/gatewayTables";

export default defineSchema(
  {
    ...gatewayTables,
    // KlipStream: the pipeline writes status and output URLs per Twitch video.
    videos: defineTable({
      twitchId: v.string(),
      status: v.string(),
      title: v.optional(v.string()),
      transcriptUrl: v.optional(v.string()),
      chatUrl: v.optional(v.string()),
      audiowaveUrl: v.optional(v.string()),
      transcriptAnalysisUrl: v.optional(v.string()),
      transcriptWordUrl: v.optional(v.string()),
      ownerId: v.optional(v.string()),
      ...gatewayFields,
    }).index("by_twitch_id", ["twitchId"]),
    // DataDiver: users synced from Clerk, and their sessions.
    users: defineTable({
      externalId: v.string(),
      name: v.optional(v.string()),
      email: v.optional(v.string()),
      ...gatewayFields,
    }).index("by_external_id", ["externalId"]),
    sessions: defineTable({
      userId: v.string(),
      startedAt: v.number(),
      ...gatewayFields,
    }).index("by_user", ["userId"]),
    // Stripe events kept by the webhook tests, upserted by the event's object id.
    payments: defineTable(v.any()).index("by_stripeId", ["stripeId"]),
    // Schemaless tables the shared store suite orders by field.
    scores: defineTable(v.any()).index("by_score", ["score"]).index("by_score_name", ["score", "name"]).index("by_name", ["name"]),
    pages: defineTable(v.any()).index("by_bucket", ["bucket"]).index("by_bucket_i", ["bucket", "i"]),
    feed: defineTable(v.any()).index("by_w", ["w"]),
    things: defineTable(v.any()).index("by_k", ["k"]),
    c: defineTable(v.any()).index("by_i", ["i"]),
    // Live-query tests order a page by `n`.
    items: defineTable(v.any()).index("by_n", ["n"]),
  },
  { schemaValidation: true, strictTableNameTypes: false },
);
