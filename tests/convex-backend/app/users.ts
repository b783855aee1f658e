// DataDiver-style users synced from Clerk, and their sessions.
import { v } from "convex/values";
import { internalMutation, mutation, query } from "./_generated/server";

export const getByExternalId = query({
  args: { externalId: v.string() },
  handler: async (ctx, { externalId }) =>
    ctx.db
      .query("users")
      .withIndex("by_external_id", (q) => q.eq("externalId", externalId))
      .unique(),
});

/** What a Clerk webhook handler calls; internal, as in the seed. */
export const upsertFromClerk = internalMutation({
  args: { externalId: v.string(), name: v.optional(v.string()), email: v.optional(v.string()) },
  handler: async (ctx, args) => {
    const existing = await ctx.db
      .query("users")
      .withIndex("by_external_id", (q) => q.eq("externalId", args.externalId))
      .unique();
    if (existing === null) return ctx.db.insert("users", { ...args, gwVersion: 1 });
    await ctx.db.patch(existing._id, { ...args, gwVersion: (existing.gwVersion ?? 0) + 1 });
    return existing._id;
  },
});

export const startSession = mutation({
  args: { userId: v.string() },
  handler: async (ctx, { userId }) => ctx.db.insert("sessions", { userId, startedAt: Date.now(), gwVersion: 1 }),
});
