// Hand-written stand-in for `npx convex codegen` output (codegen needs a deployment, so it cannot
// run offline). convex-test finds the functions root by this `_generated` module.
export {
  queryGeneric as query,
  mutationGeneric as mutation,
  actionGeneric as action,
  internalQueryGeneric as internalQuery,
  internalMutationGeneric as internalMutation,
  internalActionGeneric as internalAction,
} from "convex/server";
