// convex-gateway's generic document functions. Deploy this file (with gatewayTables.ts) into
// your Convex project's `convex/` folder; the gateway calls these over Convex's HTTP API:
//
//   gateway:list   (query)    one page of a table: typed filters, an order served by an index, a cursor
//   gateway:get    (query)    one document by id, or null
//   gateway:apply  (mutation) a batch of writes in one Convex transaction, with version checks
//                             and an optional idempotency key
//   gateway:syncApply (internal mutation) Postgres changes from the table sync (GATEWAY_SYNC),
//                             in order, once each, refusing a document that changed meanwhile
//   gateway:webhook (internal mutation) a verified inbound webhook (GATEWAY_WEBHOOKS), once per
//                             message id: a mutation of yours, or a table insert or upsert
//   gateway:history (query)    a document's versions, for tables that keep history
//   gateway:whoami (query)     the caller's identity as Convex sees it (`convex trust` probes it)
//   gateway:purgeHistory (internal mutation) forgets long-deleted documents' histories (cron)
//   gateway:purgeIdempotency (internal mutation) forgets idempotency keys older than 7 days;
//                             `crons.ts` runs it hourly
//
// The functions are generic over table names (queryGeneric/mutationGeneric), so they work with
// any schema. Errors that the gateway maps to HTTP statuses are thrown as ConvexError with a
// stable `code` in their data; the gateway never parses error messages.
import {
  internalMutationGeneric as internalMutation,
  makeFunctionReference,
  mutationGeneric as mutation,
  queryGeneric as query,
  type GenericDatabaseReader,
  type GenericDocument,
} from "convex/server";
import { ConvexError, v, type Value } from "convex/values";

/** Convex functions read the deployment's environment variables from `process.env`. */
declare const process: { env: Record<string, string | undefined> };

/** A filter value: what a REST filter literal can be. */
const literal = v.union(v.string(), v.number(), v.boolean());

const filterValidator = v.object({
  /** `_id`, `_creationTime`, or a dotted path into the document. */
  field: v.string(),
  op: v.union(
    v.literal("eq"),
    v.literal("neq"),
    v.literal("gt"),
    v.literal("gte"),
    v.literal("lt"),
    v.literal("lte"),
    v.literal("like"),
    v.literal("ilike"),
    v.literal("in"),
    v.literal("isNull"),
    v.literal("isTrue"),
    v.literal("isFalse"),
  ),
  value: v.optional(literal),
  values: v.optional(v.array(literal)),
  /** For `eq`/`neq` with an unquoted number: the string, spelled as written, that also matches. */
  text: v.optional(v.string()),
  negated: v.boolean(),
});

const orderValidator = v.object({
  field: v.string(),
  direction: v.union(v.literal("asc"), v.literal("desc")),
});

type Filter = typeof filterValidator.type;
type Order = typeof orderValidator.type;

/** The fields the gateway reserves in every document. */
const RESERVED = ["gwVersion", "gwUpdatedTime"];

/** The index an order on `fields` uses: `by_<f1>_<f2>…` (dots become `_`). */
export function indexNameFor(fields: string[]): string {
  return "by_" + fields.map((f) => f.replace(/\./g, "_")).join("_");
}

/** The names an index on `fields` may have: `by_twitchId`, or in snake case `by_twitch_id`. */
export function indexCandidates(fields: string[]): string[] {
  const verbatim = indexNameFor(fields);
  const snake =
    "by_" +
    fields
      .map((f) => f.replace(/\./g, "_").replace(/([a-z0-9])([A-Z])/g, "$1_$2").toLowerCase())
      .join("_");
  return verbatim === snake ? [verbatim] : [verbatim, snake];
}

/**
 * The first declared index among the candidates for `fields`, found by a one-document read
 * (a function may paginate only once, so the probe cannot be the paginated query itself).
 */
async function findIndex(db: GenericDatabaseReader<any>, table: string, fields: string[]) {
  for (const name of indexCandidates(fields)) {
    try {
      await db.query(table).withIndex(name).first();
      return name;
    } catch (error) {
      if (error instanceof ConvexError) throw error;
      // Not declared: try the next name.
    }
  }
  return null;
}

function fail(code: string, message: string, extra: Record<string, Value> = {}): never {
  throw new ConvexError({ code, message, ...extra });
}

/**
 * A Convex filter expression that narrows the scan for `filter`, or `true` when it cannot.
 *
 * It may let through more than the filter allows (real Convex compares across types in its
 * total value order, so `gt 2` also passes strings), never less; `matches` then applies the
 * exact semantics in JavaScript. Negated comparisons and patterns are left to `matches` alone.
 */
function filterExpression(q: any, filter: Filter): any {
  const field = q.field(filter.field);
  const value = filter.value as Value;
  const text = filter.text;
  if (filter.negated) {
    switch (filter.op) {
      case "eq":
        return text === undefined ? q.neq(field, value) : q.and(q.neq(field, value), q.neq(field, text));
      case "isNull":
        return q.and(q.neq(field, undefined), q.neq(field, null));
      default:
        return true;
    }
  }
  switch (filter.op) {
    case "eq":
      return text === undefined ? q.eq(field, value) : q.or(q.eq(field, value), q.eq(field, text));
    case "neq":
      return q.and(
        q.neq(field, undefined),
        q.neq(field, null),
        q.neq(field, value),
        ...(text === undefined ? [] : [q.neq(field, text)]),
      );
    case "gt":
    case "gte":
    case "lt":
    case "lte":
      if (typeof value === "boolean") fail("INVALID_FILTER", `${filter.op} needs a number or a string`);
      return q[filter.op](field, value);
    case "in":
      return q.or(...(filter.values ?? []).map((v) => q.eq(field, v)));
    case "isNull":
      return q.or(q.eq(field, undefined), q.eq(field, null));
    case "isTrue":
      return q.eq(field, true);
    case "isFalse":
      return q.eq(field, false);
    default:
      return true;
  }
}

/** A `*` wildcard pattern as an anchored regular expression. */
function patternRegex(pattern: string, ignoreCase: boolean): RegExp {
  const escaped = pattern
    .split("*")
    .map((part) => part.replace(/[.+?^${}()|[\]\\]/g, "\\$&"))
    .join(".*");
  return new RegExp(`^${escaped}$`, ignoreCase ? "is" : "s");
}

function fieldValue(doc: GenericDocument, path: string): unknown {
  return path.split(".").reduce<unknown>((value, key) => {
    if (value !== null && typeof value === "object" && !Array.isArray(value)) {
      return (value as Record<string, unknown>)[key];
    }
    return undefined;
  }, doc);
}

/** Equality that never crosses types: 30 is not "30", and 1 is not true. */
function sameValue(a: unknown, b: unknown): boolean {
  return typeof a === typeof b && a === b;
}

/**
 * The exact filter semantics, shared with the gateway's embedded store: comparisons only between
 * values of one type, `neq` only on present values, `is.null` also for missing fields, and a
 * negated filter matches exactly where the filter does not.
 */
function matches(doc: GenericDocument, filter: Filter): boolean {
  const value = fieldValue(doc, filter.field);
  const literal = filter.value;
  // An unquoted number also equals the string spelled as written.
  const equal = (v: unknown) => sameValue(v, literal) || (filter.text !== undefined && sameValue(v, filter.text));
  let result: boolean;
  switch (filter.op) {
    case "eq":
      result = equal(value);
      break;
    case "neq":
      result = value !== undefined && value !== null && !equal(value);
      break;
    case "gt":
    case "gte":
    case "lt":
    case "lte": {
      if (typeof value !== typeof literal || (typeof value !== "number" && typeof value !== "string")) {
        result = false;
        break;
      }
      const [a, b] = [value as number | string, literal as number | string];
      result =
        filter.op === "gt" ? a > b : filter.op === "gte" ? a >= b : filter.op === "lt" ? a < b : a <= b;
      break;
    }
    case "like":
    case "ilike":
      result =
        typeof value === "string" && patternRegex(String(literal ?? ""), filter.op === "ilike").test(value);
      break;
    case "in":
      result = (filter.values ?? []).some((v) => sameValue(value, v));
      break;
    case "isNull":
      result = value === undefined || value === null;
      break;
    case "isTrue":
      result = value === true;
      break;
    case "isFalse":
      result = value === false;
      break;
  }
  return filter.negated ? !result : result;
}

/** One page of a table. */
export const list = query({
  args: {
    table: v.string(),
    filters: v.array(filterValidator),
    order: v.array(orderValidator),
    limit: v.number(),
    cursor: v.union(v.string(), v.null()),
  },
  handler: async (ctx, { table, filters, order, limit, cursor }) => {
    if (!Number.isInteger(limit) || limit < 1 || limit > 1000) {
      fail("INVALID_LIMIT", "limit must be a whole number from 1 to 1000");
    }
    // `_creationTime` last is implied by every index; only the keys before it select one.
    const keys = order.filter((o, i) => !(o.field === "_creationTime" && i === order.length - 1));
    const direction = order.length > 0 ? order[order.length - 1].direction : "asc";
    if (order.some((o) => o.direction !== direction)) {
      fail("ORDER_NEEDS_INDEX", "Convex indexes serve one direction; every order key must share it");
    }
    const byId = keys.length === 1 && keys[0].field === "_id";
    if (!byId && keys.some((k) => k.field === "_creationTime" || k.field === "_id")) {
      fail("ORDER_NEEDS_INDEX", "on Convex, _creationTime can only be the last order key, and _id only the only one");
    }
    // The index that serves the order. With the default order, an `eq` filter on a field may
    // use that field's index instead: the documents it selects come out in creation order too.
    let index: string | null = null;
    let eqFilter: Filter | undefined;
    if (byId) {
      index = "by_id";
    } else if (keys.length > 0) {
      index = await findIndex(ctx.db, table, keys.map((k) => k.field));
      if (index === null) {
        const names = indexCandidates(keys.map((k) => k.field)).join(" or ");
        fail(
          "ORDER_NEEDS_INDEX",
          `ordering ${table} by ${keys.map((k) => k.field).join(", ")} needs an index named ${names} ` +
            `on [${keys.map((k) => `"${k.field}"`).join(", ")}]`,
        );
      }
    } else {
      eqFilter = filters.find(
        (f) => f.op === "eq" && !f.negated && !f.field.startsWith("_") && f.value !== undefined,
      );
      if (eqFilter !== undefined) index = await findIndex(ctx.db, table, [eqFilter.field]);
    }
    let base: any;
    // An `eq` on an unquoted number matches the number and its text: two ranges of the index,
    // numbers first (Convex's own order). A cursor names its range (`n|…` or `s|…`), ranges with
    // nothing in them are skipped, so the common case (one type per field) pages like any other.
    let range: { kind: "n" | "s"; next: string | null } | undefined;
    if (index === null) {
      base = ctx.db.query(table);
    } else if (keys.length === 0 && !byId && eqFilter !== undefined) {
      const eq = eqFilter;
      const indexName = index;
      const lookup = (value: Value | undefined) => (q: any) => q.eq(eq.field, value);
      let target = eq.value;
      if (eq.text !== undefined) {
        const text = eq.text;
        const hasText = async () => (await ctx.db.query(table).withIndex(indexName, lookup(text)).first()) !== null;
        let kind: "n" | "s";
        if (cursor === null) {
          const hasNumber = (await ctx.db.query(table).withIndex(indexName, lookup(eq.value)).first()) !== null;
          kind = hasNumber ? "n" : "s";
        } else if (cursor.startsWith("n|") || cursor.startsWith("s|")) {
          kind = cursor[0] as "n" | "s";
          cursor = cursor.slice(2) || null;
        } else {
          fail("INVALID_CURSOR", "the cursor does not belong to this query");
        }
        const next = kind === "n" && (await hasText()) ? "s|" : null;
        range = { kind, next };
        if (kind === "s") target = text;
      }
      base = ctx.db.query(table).withIndex(indexName, lookup(target));
    } else {
      base = ctx.db.query(table).withIndex(index);
    }
    const ordered = base.order(direction);
    const filtered = filters.length
      ? ordered.filter((q: any) => q.and(...filters.map((f) => filterExpression(q, f))))
      : ordered;
    let page;
    try {
      page = await filtered.paginate({ numItems: limit, cursor });
    } catch (error) {
      if (error instanceof ConvexError) throw error;
      if (cursor !== null) fail("INVALID_CURSOR", "the cursor does not belong to this query");
      throw error;
    }
    let nextCursor: string | null = page.isDone ? null : page.continueCursor;
    if (range !== undefined) {
      nextCursor = nextCursor === null ? range.next : `${range.kind}|${nextCursor}`;
    }
    return {
      items: page.page.filter((doc: GenericDocument) => filters.every((f) => matches(doc, f))),
      nextCursor,
      /** The index that served the page (null: a scan in creation order). */
      index,
    };
  },
});

async function load(db: GenericDatabaseReader<any>, table: string, id: string) {
  const normalized = db.normalizeId(table, id);
  return normalized === null ? null : await db.get(normalized);
}

/** One document by id, or null. */
export const get = query({
  args: { table: v.string(), id: v.string() },
  handler: async (ctx, { table, id }) => load(ctx.db, table, id),
});

const expected = v.optional(v.union(v.literal("exists"), v.array(v.number())));
/** Where earlier operations' ids go in this operation's document: a path, and the operation. */
const refs = v.optional(v.array(v.object({ path: v.array(v.union(v.string(), v.number())), ref: v.number() })));
/** The target document: `id`, or `idRef`, the index of an earlier operation of the batch. */
const target = { id: v.optional(v.string()), idRef: v.optional(v.number()) };

const opValidator = v.union(
  v.object({ kind: v.literal("insert"), table: v.string(), fields: v.any(), refs }),
  v.object({ kind: v.literal("patch"), table: v.string(), ...target, patch: v.any(), expected, refs }),
  v.object({ kind: v.literal("replace"), table: v.string(), ...target, fields: v.any(), expected, refs }),
  v.object({ kind: v.literal("delete"), table: v.string(), ...target, expected }),
  v.object({ kind: v.literal("check"), table: v.string(), ...target, expected }),
);

/** RFC 7396 JSON Merge Patch on plain objects: null removes, objects merge, the rest replaces. */
function mergePatch(target: Record<string, any>, patch: Record<string, any>): Record<string, any> {
  const out: Record<string, any> = { ...target };
  for (const [key, value] of Object.entries(patch)) {
    if (value === null) {
      delete out[key];
    } else if (typeof value === "object" && !Array.isArray(value) && !(value instanceof ArrayBuffer)) {
      const base = out[key];
      out[key] = mergePatch(
        base !== null && typeof base === "object" && !Array.isArray(base) ? base : {},
        value,
      );
    } else {
      out[key] = value;
    }
  }
  return out;
}

function userFields(doc: Record<string, any>): Record<string, any> {
  const out: Record<string, any> = {};
  for (const [key, value] of Object.entries(doc)) {
    if (!key.startsWith("_") && !RESERVED.includes(key)) out[key] = value;
  }
  return out;
}

function checkFields(fields: unknown, op: number): Record<string, any> {
  if (fields === null || typeof fields !== "object" || Array.isArray(fields)) {
    fail("INVALID_DOCUMENT", "the document must be an object", { op });
  }
  for (const key of Object.keys(fields as object)) {
    if (key.startsWith("_") || RESERVED.includes(key)) {
      fail("RESERVED_FIELD", `field ${key} is reserved`, { op, field: key });
    }
  }
  return fields as Record<string, any>;
}

/** Which tables of the batch keep history, who writes, and whether the batch is a revert. */
const historyValidator = v.object({
  tables: v.array(v.string()),
  sub: v.optional(v.string()),
  revert: v.optional(v.boolean()),
});

/**
 * A batch of writes, all applied or none (one Convex transaction). `expected` is a version
 * precondition: "exists", or the versions the document may be at. With `idempotencyKey`, the
 * first result is stored and returned again for the same key without applying anything.
 * With `dryRun` (the gateway's `Prefer: tx=rollback`), every operation runs, the schema's
 * validation included, and the outcomes are thrown as `{code: "DRY_RUN", outcomes}`: a thrown
 * error rolls the whole transaction back, so nothing is stored.
 */
export const apply = mutation({
  args: {
    ops: v.array(opValidator),
    idempotencyKey: v.optional(v.string()),
    dryRun: v.optional(v.boolean()),
    history: v.optional(historyValidator),
  },
  handler: async (ctx, { ops, idempotencyKey, dryRun, history }) => {
    if (dryRun === true && idempotencyKey !== undefined) {
      fail("INVALID_DOCUMENT", "a dry run takes no idempotency key");
    }
    if (idempotencyKey !== undefined) {
      const previous = await ctx.db
        .query("gateway_idempotency")
        .withIndex("by_key", (q) => q.eq("key", idempotencyKey))
        .unique();
      if (previous !== null) return { outcomes: previous.outcomes, replayed: true };
    }
    const now = Date.now();
    const outcomes: Array<Record<string, any>> = [];
    const idOf = (ref: number, index: number): string => {
      if (!Number.isInteger(ref) || ref < 0 || ref >= index) {
        fail("INVALID_REFERENCE", `$ref ${ref} does not name an earlier operation`, { op: index });
      }
      const outcome = outcomes[ref];
      return outcome.kind === "deleted" ? outcome.id : outcome.doc._id;
    };
    /** Puts earlier operations' ids where the document's references were. */
    const withRefs = (value: unknown, at: typeof refs.type, index: number) => {
      for (const { path, ref } of at ?? []) {
        let parent: any = value;
        for (const key of path.slice(0, -1)) parent = parent?.[key];
        if (parent === null || typeof parent !== "object" || path.length === 0) {
          fail("INVALID_REFERENCE", "a $ref path does not exist in the document", { op: index });
        }
        parent[path[path.length - 1]] = idOf(ref, index);
      }
      return value;
    };
    /** Records a version of a document of a table that keeps history. */
    const keep = async (table: string, op: "insert" | "update" | "delete", doc: GenericDocument | null, deleted?: { id: string; version: number }) => {
      if (history === undefined || !history.tables.includes(table)) return;
      await ctx.db.insert("gateway_history", {
        table,
        docId: doc !== null ? (doc._id as string) : deleted!.id,
        version: doc !== null ? (doc.gwVersion as number) : deleted!.version + 1,
        op: history.revert === true ? "revert" : op,
        at: now,
        ...(history.sub === undefined ? {} : { sub: history.sub }),
        ...(doc === null ? {} : { fields: userFields(doc) }),
      });
    };
    for (const [index, op] of ops.entries()) {
      if (op.kind === "insert") {
        const fields = checkFields(withRefs(op.fields, op.refs, index), index);
        const id = await ctx.db.insert(op.table, { ...fields, gwVersion: 1, gwUpdatedTime: now });
        const doc = await ctx.db.get(id);
        outcomes.push({ kind: "inserted", doc });
        await keep(op.table, "insert", doc);
        continue;
      }
      const id = op.idRef !== undefined ? idOf(op.idRef, index) : op.id;
      if (id === undefined) fail("INVALID_DOCUMENT", "the operation needs id or idRef", { op: index });
      const current = await load(ctx.db, op.table, id);
      if (current === null) {
        fail("NOT_FOUND", `document ${id} not found in ${op.table}`, { op: index, table: op.table, id });
      }
      const version = typeof current.gwVersion === "number" ? current.gwVersion : 0;
      if (op.expected !== undefined && op.expected !== "exists" && !op.expected.includes(version)) {
        fail("VERSION_MISMATCH", `document ${id} is at version ${version}`, { op: index, id, actual: version });
      }
      switch (op.kind) {
        case "check":
          outcomes.push({ kind: "checked", doc: current });
          break;
        case "delete":
          await ctx.db.delete(current._id);
          outcomes.push({ kind: "deleted", id });
          await keep(op.table, "delete", null, { id: current._id as string, version });
          break;
        case "patch":
        case "replace": {
          const next =
            op.kind === "patch"
              ? mergePatch(userFields(current), checkFields(withRefs(op.patch, op.refs, index), index))
              : checkFields(withRefs(op.fields, op.refs, index), index);
          await ctx.db.replace(current._id, { ...next, gwVersion: version + 1, gwUpdatedTime: now });
          const doc = await ctx.db.get(current._id);
          outcomes.push({ kind: "updated", doc });
          await keep(op.table, "update", doc);
          break;
        }
      }
    }
    if (dryRun === true) throw new ConvexError({ code: "DRY_RUN", outcomes });
    if (idempotencyKey !== undefined) {
      await ctx.db.insert("gateway_idempotency", { key: idempotencyKey, outcomes, createdAt: now });
    }
    return { outcomes, replayed: false };
  },
});

/**
 * A verified inbound webhook, delivered once per `key` (`webhook:<name>:<message id>`): the
 * mutation at `mutation` runs with `args` (internal mutations too), or `fields` are inserted
 * into `table`, or, with `upsertBy`, merged into the document whose field of that name holds
 * the same value. The key is recorded in the same transaction, so a delivery the gateway
 * repeats (a lost answer, the outbox after an outage) does nothing the second time.
 * Internal: only the gateway, with the deploy key, calls it.
 */
export const webhook = internalMutation({
  args: {
    key: v.string(),
    mutation: v.optional(v.string()),
    args: v.optional(v.any()),
    table: v.optional(v.string()),
    fields: v.optional(v.any()),
    upsertBy: v.optional(v.union(v.string(), v.null())),
  },
  handler: async (ctx, { key, mutation: path, args, table, fields, upsertBy }) => {
    const previous = await ctx.db
      .query("gateway_idempotency")
      .withIndex("by_key", (q) => q.eq("key", key))
      .unique();
    if (previous !== null) return { result: previous.outcomes, replayed: true };
    let result: any;
    if (path !== undefined) {
      result = await ctx.runMutation(makeFunctionReference<"mutation">(path), args ?? {});
    } else if (table !== undefined) {
      const doc = checkFields(fields, 0);
      const now = Date.now();
      const field = upsertBy ?? undefined;
      let existing: GenericDocument | null = null;
      if (field !== undefined) {
        const value = doc[field];
        if (value === undefined || value === null) fail("INVALID_DOCUMENT", `the document has no ${field} to upsert by`);
        const index = await findIndex(ctx.db, table, [field]);
        existing =
          index === null
            ? await ctx.db.query(table).filter((q: any) => q.eq(q.field(field), value)).first()
            : await ctx.db.query(table).withIndex(index, (q: any) => q.eq(field, value)).first();
      }
      if (existing === null) {
        const id = await ctx.db.insert(table, { ...doc, gwVersion: 1, gwUpdatedTime: now });
        result = { kind: "inserted", id };
      } else {
        const version = typeof existing.gwVersion === "number" ? existing.gwVersion : 0;
        await ctx.db.replace(existing._id as any, {
          ...userFields(existing),
          ...doc,
          gwVersion: version + 1,
          gwUpdatedTime: now,
        });
        result = { kind: "updated", id: existing._id };
      }
    } else {
      fail("INVALID_DOCUMENT", "a webhook names a mutation or a table");
    }
    await ctx.db.insert("gateway_idempotency", { key, outcomes: result ?? null, createdAt: Date.now() });
    return { result: result ?? null, replayed: false };
  },
});

/**
 * A document's history, newest first: versions below `before` (all without it), at most
 * `limit`. The gateway checks its policy (read access, row ownership) before it asks.
 */
export const history = query({
  args: { table: v.string(), id: v.string(), before: v.optional(v.number()), limit: v.number() },
  handler: async (ctx, { table, id, before, limit }) => {
    if (!Number.isInteger(limit) || limit < 1 || limit > 1000) {
      fail("INVALID_LIMIT", "limit must be a whole number from 1 to 1000");
    }
    const rows = await ctx.db
      .query("gateway_history")
      .withIndex("by_doc", (q: any) =>
        before === undefined
          ? q.eq("table", table).eq("docId", id)
          : q.eq("table", table).eq("docId", id).lt("version", before),
      )
      .order("desc")
      .take(limit + 1);
    const items = rows.slice(0, limit).map(({ version, op, at, sub, fields }) => ({
      version,
      op,
      at,
      sub: sub ?? null,
      fields: fields ?? null,
    }));
    return { items, nextCursor: rows.length > limit ? items[items.length - 1].version : null };
  },
});

/**
 * Who Convex sees calling: the identity of the caller's token (as `auth.config.ts` accepted
 * it), or null. `convex-gateway convex trust` calls it with a token the gateway minted.
 */
export const whoami = query({
  args: {},
  handler: async (ctx) => {
    const identity = await ctx.auth.getUserIdentity();
    return identity === null
      ? null
      : { subject: identity.subject, issuer: identity.issuer, tokenIdentifier: identity.tokenIdentifier };
  },
});

/** How long a deleted document's history is kept: `GATEWAY_HISTORY_TTL` seconds, or 30 days. */
function historyRetentionMs(): number {
  const seconds = Number(process.env.GATEWAY_HISTORY_TTL ?? "");
  return Number.isFinite(seconds) && seconds > 0 ? seconds * 1000 : 30 * 24 * 60 * 60 * 1000;
}

/**
 * Forgets the histories of documents deleted longer ago than the retention (the deployment's
 * `GATEWAY_HISTORY_TTL` environment variable, in seconds; 30 days without it), a batch at a
 * time. Internal: `crons.ts` runs it hourly.
 */
export const purgeHistory = internalMutation({
  args: { retentionMs: v.optional(v.number()) },
  handler: async (ctx, { retentionMs }) => {
    const before = Date.now() - (retentionMs ?? historyRetentionMs());
    const deletes = await ctx.db
      .query("gateway_history")
      .withIndex("by_deleted", (q: any) => q.eq("op", "delete").lt("at", before))
      .take(100);
    let deleted = 0;
    for (const gone of deletes) {
      const versions = await ctx.db
        .query("gateway_history")
        .withIndex("by_doc", (q: any) => q.eq("table", gone.table).eq("docId", gone.docId).lte("version", gone.version))
        .collect();
      for (const row of versions) await ctx.db.delete(row._id);
      deleted += versions.length;
    }
    if (deletes.length === 100) {
      await ctx.scheduler.runAfter(0, makeFunctionReference<"mutation">("gateway:purgeHistory"), { retentionMs });
    }
    return { deleted };
  },
});

/** How long an idempotency key is remembered: far longer than any retry or outbox delivery. */
export const KEY_RETENTION_MS = 7 * 24 * 60 * 60 * 1000;
const PURGE_BATCH = 1000;

/**
 * Deletes idempotency keys older than `retentionMs` (7 days by default), a batch at a time,
 * scheduling itself again while more remain. Internal: only crons and deploy-key holders run it.
 */
export const purgeIdempotency = internalMutation({
  args: { retentionMs: v.optional(v.number()) },
  handler: async (ctx, { retentionMs }) => {
    const before = Date.now() - (retentionMs ?? KEY_RETENTION_MS);
    const old = await ctx.db
      .query("gateway_idempotency")
      .withIndex("by_created", (q) => q.lt("createdAt", before))
      .take(PURGE_BATCH);
    for (const row of old) await ctx.db.delete(row._id);
    const more = old.length === PURGE_BATCH;
    if (more) {
      await ctx.scheduler.runAfter(0, makeFunctionReference<"mutation">("gateway:purgeIdempotency"), { retentionMs });
    }
    return { deleted: old.length, more };
  },
});

/** Two Convex values are the same; a missing field and `null` count as the same. */
function sameConvexValue(a: any, b: any): boolean {
  if (a === b) return true;
  if ((a === null || a === undefined) && (b === null || b === undefined)) return true;
  if (typeof a === "number" && typeof b === "number") return Number.isNaN(a) && Number.isNaN(b);
  if (a instanceof ArrayBuffer || b instanceof ArrayBuffer) {
    if (!(a instanceof ArrayBuffer && b instanceof ArrayBuffer) || a.byteLength !== b.byteLength) return false;
    const x = new Uint8Array(a);
    const y = new Uint8Array(b);
    return x.every((byte, i) => byte === y[i]);
  }
  if (Array.isArray(a) || Array.isArray(b)) {
    return Array.isArray(a) && Array.isArray(b) && a.length === b.length && a.every((item, i) => sameConvexValue(item, b[i]));
  }
  if (a === null || b === null || typeof a !== "object" || typeof b !== "object") return false;
  const keys = new Set([...Object.keys(a), ...Object.keys(b)]);
  for (const key of keys) if (!sameConvexValue(a[key], b[key])) return false;
  return true;
}

/** Fields without the `null`s: Postgres's NULL is a missing field in Convex. */
function withoutNulls(fields: Record<string, any>): Record<string, any> {
  return Object.fromEntries(Object.entries(fields).filter(([, value]) => value !== null));
}

const syncChange = v.object({
  /** The change's idempotency key: a retry after a lost answer gets the first outcome back. */
  key: v.string(),
  table: v.string(),
  op: v.union(v.literal("insert"), v.literal("update"), v.literal("delete")),
  /** The document, for update and delete. */
  id: v.optional(v.string()),
  /** The new fields (insert, update). */
  fields: v.optional(v.any()),
  /** The fields as they were last synced: the write applies only while the document still holds them. */
  expect: v.optional(v.any()),
  /** Apply even if the document changed (a conflict already settled for this side). */
  force: v.optional(v.boolean()),
});

/**
 * The Postgres-to-Convex direction of convex-gateway's table sync: applies changes in order, in
 * one transaction. Internal: only the deploy key (the gateway's sync) can call it.
 *
 * Each change answers `inserted` (with the new id), `updated`, `deleted`, `same` (the document
 * already holds the fields: nothing written, so nothing echoes back), `missing` (a delete of a
 * document that is gone), or `conflict` (the document changed since it was last synced, with
 * its current state); the first conflict stops the batch, and the changes after it are not
 * applied. Outcomes other than `conflict` are kept under the change's key.
 */
export const syncApply = internalMutation({
  args: { changes: v.array(syncChange) },
  handler: async (ctx, { changes }) => {
    const now = Date.now();
    const outcomes: Array<Record<string, any>> = [];
    // The kept outcomes of this batch's keys, in one index range read (not one read per change).
    const keys = changes.map((change) => change.key).sort();
    const keptByKey = new Map<string, any>();
    if (keys.length > 0) {
      const rows = await ctx.db
        .query("gateway_idempotency")
        .withIndex("by_key", (q) => q.gte("key", keys[0]).lte("key", keys[keys.length - 1]))
        .collect();
      for (const row of rows) keptByKey.set(row.key, row);
    }
    for (const change of changes) {
      const kept = keptByKey.get(change.key) ?? null;
      if (kept !== null) {
        outcomes.push({ ...kept.outcomes, replayed: true });
        continue;
      }
      const fields = change.fields === undefined ? undefined : withoutNulls(checkFields(change.fields, outcomes.length));
      const current = change.id === undefined ? null : await load(ctx.db, change.table, change.id);
      let outcome: Record<string, any>;
      const changed =
        change.op !== "insert" && !change.force && change.expect !== undefined &&
        (current === null
          ? change.op === "update"
          : !sameConvexValue(userFields(current), change.expect) &&
            !(change.op === "update" && sameConvexValue(userFields(current), fields)));
      if (changed) {
        outcomes.push({ status: "conflict", current });
        break;
      }
      if (change.op === "delete") {
        if (current === null) {
          outcome = { status: "missing" };
        } else {
          await ctx.db.delete(current._id);
          outcome = { status: "deleted" };
        }
      } else if (current === null) {
        // An insert, or an update of a document that is gone (its delete lost a conflict).
        const id = await ctx.db.insert(change.table, { ...fields, gwVersion: 1, gwUpdatedTime: now });
        outcome = { status: "inserted", id };
      } else if (sameConvexValue(userFields(current), fields)) {
        outcome = { status: "same" };
      } else {
        const version = typeof current.gwVersion === "number" ? current.gwVersion : 0;
        await ctx.db.replace(current._id, { ...fields, gwVersion: version + 1, gwUpdatedTime: now });
        outcome = { status: "updated" };
      }
      await ctx.db.insert("gateway_idempotency", { key: change.key, outcomes: outcome, createdAt: now });
      outcomes.push(outcome);
    }
    return { outcomes };
  },
});
