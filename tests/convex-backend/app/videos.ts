// KlipStream-style pipeline functions: the seed's `video:*` calls, done on real Convex semantics.
import { ConvexError, v } from "convex/values";
import { internalMutation, mutation, query } from "./_generated/server";

export const STATUSES = [
  "Queued",
  "Downloading",
  "Fetching chat",
  "Transcribing",
  "Analyzing",
  "Finding highlights",
  "Completed",
  "Failed",
] as const;

const status = v.union(...STATUSES.map((s) => v.literal(s)));

export const getByTwitchId = query({
  args: { twitchId: v.string() },
  handler: async (ctx, { twitchId }) =>
    ctx.db
      .query("videos")
      .withIndex("by_twitch_id", (q) => q.eq("twitchId", twitchId))
      .unique(),
});

export const create = mutation({
  args: { twitchId: v.string(), title: v.optional(v.string()) },
  handler: async (ctx, { twitchId, title }) => {
    const identity = await ctx.auth.getUserIdentity();
    return ctx.db.insert("videos", {
      twitchId,
      title,
      status: "Queued",
      ownerId: identity?.subject,
      gwVersion: 1,
    });
  },
});

async function byTwitchId(ctx: any, twitchId: string) {
  const video = await ctx.db
    .query("videos")
    .withIndex("by_twitch_id", (q: any) => q.eq("twitchId", twitchId))
    .unique();
  if (video === null) throw new ConvexError({ code: "NOT_FOUND", twitchId });
  return video;
}

export const updateStatusByTwitchId = mutation({
  args: { twitchId: v.string(), status },
  handler: async (ctx, { twitchId, status }) => {
    const video = await byTwitchId(ctx, twitchId);
    console.log("status", twitchId, status);
    await ctx.db.patch(video._id, {
      status,
      gwVersion: (video.gwVersion ?? 0) + 1,
      gwUpdatedTime: Date.now(),
    });
    return { twitchId, status };
  },
});

export const updateUrls = mutation({
  args: {
    twitchId: v.string(),
    urls: v.object({
      transcriptUrl: v.optional(v.string()),
      chatUrl: v.optional(v.string()),
      audiowaveUrl: v.optional(v.string()),
      transcriptAnalysisUrl: v.optional(v.string()),
      transcriptWordUrl: v.optional(v.string()),
    }),
  },
  handler: async (ctx, { twitchId, urls }) => {
    const video = await byTwitchId(ctx, twitchId);
    await ctx.db.patch(video._id, { ...urls, gwVersion: (video.gwVersion ?? 0) + 1 });
    return null;
  },
});

/** The videos in a status (or all), oldest first: what a live dashboard subscribes to. */
export const list = query({
  args: { status: v.optional(v.string()) },
  handler: async (ctx, { status }) => {
    const all = await ctx.db.query("videos").collect();
    return all
      .filter((video) => status === undefined || video.status === status)
      .map(({ twitchId, status, title, ownerId }) => ({ twitchId, status, title, ownerId }));
  },
});

/** Who the caller is, as Convex sees it. */
export const whoami = query({
  args: {},
  handler: async (ctx) => ctx.auth.getUserIdentity(),
});

/** Fails with a plain Error (no errorData). */
export const explode = mutation({
  args: {},
  handler: async () => {
    throw new Error("boom");
  },
});

/** Internal: never reachable through the public HTTP API without an admin key. */
export const purge = internalMutation({
  args: {},
  handler: async (ctx) => {
    for (const video of await ctx.db.query("videos").collect()) await ctx.db.delete(video._id);
    return null;
  },
});
