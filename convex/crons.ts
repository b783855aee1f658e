// Forgets idempotency keys older than 7 days every hour (see gateway:purgeIdempotency). If your
// project has its own crons.ts, add this job to it instead of copying this file.
import { cronJobs, makeFunctionReference } from "convex/server";

const crons = cronJobs();

crons.interval(
  "purge convex-gateway idempotency keys",
  { hours: 1 },
  makeFunctionReference<"mutation">("gateway:purgeIdempotency"),
  {},
);

crons.interval(
  "purge convex-gateway history of long-deleted documents",
  { hours: 1 },
  makeFunctionReference<"mutation">("gateway:purgeHistory"),
  {},
);

export default crons;
