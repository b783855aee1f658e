// Hand-written stand-in for codegen's api.ts.
import { anyApi } from "convex/server";
export const api: any = anyApi;
export const internal: any = anyApi;
