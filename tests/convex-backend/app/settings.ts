// What a Convex function reads from the deployment's environment (set through the gateway's
// `convex env` and `/admin/convex/env`).
import { v } from "convex/values";
import { query } from "./_generated/server";

declare const process: { env: Record<string, string | undefined> };

export const get = query({
  args: { name: v.string() },
  handler: async (_ctx, { name }) => process.env[name] ?? null,
});
