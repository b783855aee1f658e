// DataDiver-style users synced from Clerk, and their sessions.
import { ConvexError, v } from "convex/values";
import { internalMutation, mutation, query } from "./_generated/server";

export const getByExternalId = query({
  args: { externalId: v.string() },
  handler: async (ctx, { externalId }) =>
    ctx.db
      .query("users")
      .withIndex("by_external_id", (q) => q.eq("externalId", externalId))
      .unique(),
});

/**
 * What Clerk's `user.created` and `user.updated` webhooks call, with the event's `data` (a
 * Clerk user), as in the seed. Internal: only the deploy key (the gateway's webhook delivery)
 * runs it. Clerk's user carries many more fields than these, so `data` is not a strict object.
 */
export const upsertFromClerk = internalMutation({
  args: { data: v.any() },
  handler: async (ctx, { data }) => {
    if (typeof data?.id !== "string") throw new ConvexError({ code: "INVALID_USER", message: "a Clerk user has an id" });
    const name = [data.first_name, data.last_name].filter((part) => typeof part === "string" && part !== "").join(" ");
    const primary = (data.email_addresses ?? []).find((e: any) => e?.id === data.primary_email_address_id) ?? data.email_addresses?.[0];
    const fields = {
      externalId: data.id as string,
      ...(name === "" ? {} : { name }),
      ...(typeof primary?.email_address === "string" ? { email: primary.email_address as string } : {}),
    };
    const existing = await ctx.db
      .query("users")
      .withIndex("by_external_id", (q) => q.eq("externalId", fields.externalId))
      .unique();
    if (existing === null) return ctx.db.insert("users", { ...fields, gwVersion: 1 });
    await ctx.db.patch(existing._id, { ...fields, gwVersion: (existing.gwVersion ?? 0) + 1 });
    return existing._id;
  },
});

/** What Clerk's `user.deleted` webhook calls, with the deleted user's id. */
export const deleteFromClerk = internalMutation({
  args: { clerkUserId: v.string() },
  handler: async (ctx, { clerkUserId }) => {
    const existing = await ctx.db
      .query("users")
      .withIndex("by_external_id", (q) => q.eq("externalId", clerkUserId))
      .unique();
    if (existing !== null) await ctx.db.delete(existing._id);
    return existing?._id ?? null;
  },
});

export const startSession = mutation({
  args: { userId: v.string() },
  handler: async (ctx, { userId }) => ctx.db.insert("sessions", { userId, startedAt: Date.now(), gwVersion: 1 }),
});
