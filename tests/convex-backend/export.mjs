// Convex's streaming export, as ../../../shared/reference/convex-streaming-export.md describes
// it: `list_snapshot` (a table as it stood at one timestamp, in pages) and `document_deltas`
// (every revision after a cursor, deletes as tombstones, in pages that never split a
// timestamp), for deploy-key callers only.
//
// The log: every write any function makes goes through the `1.0/insert|shallowMerge|replace|
// remove` syscalls; the ids they touch are noted, and after each call (`flush`) each touched
// document's committed state is compared with its last logged revision. A change is logged with
// one commit timestamp per call (nanoseconds, strictly increasing, never at or below a
// timestamp already handed out as a snapshot or a cursor); a write that a failed mutation rolled
// back leaves nothing. Writes by scheduled functions are logged at the next call's flush.
//
// Shapes follow the serde types the reference cites: metadata `_component` (""), `_table`,
// `_ts` (an i64 JSON number) and, in deltas, `_deleted`; `format` is `json` (the default;
// int64 as a string, bytes as base64) or `convex_encoded_json`/`convex_json` (lossless).
import { convexToJson } from "convex/values";

const SNAPSHOT_PAGE = Number(process.env.EMU_SNAPSHOT_PAGE ?? 1024);
const DELTAS_PAGE = Number(process.env.EMU_DELTAS_PAGE ?? 128);

/** A timestamp in nanoseconds now. */
function nowNs() {
  return BigInt(Date.now()) * 1_000_000n;
}

export class RevisionLog {
  constructor() {
    this.reset();
  }

  reset() {
    /** `{ts, table, id, json}`; `json` is the document's convex_encoded_json text, or null. */
    this.entries = [];
    /** id -> the last logged json (null once deleted). */
    this.last = new Map();
    /** id -> table, touched since the last flush. */
    this.touched = new Map();
    /** The highest timestamp handed out (a commit, a snapshot or a cursor). */
    this.floor = 0n;
  }

  /** A commit timestamp above everything handed out so far. */
  nextTs() {
    const ts = nowNs() > this.floor ? nowNs() : this.floor + 1n;
    this.floor = ts;
    return ts;
  }

  /** A read timestamp: everything logged so far is at or below it, and nothing later will be. */
  readTs() {
    const now = nowNs();
    if (now > this.floor) this.floor = now;
    return this.floor;
  }

  /** Wraps the engine's syscalls (installed by convexTest as `globalThis.Convex`) to note writes. */
  install() {
    const inner = globalThis.Convex;
    const log = this;
    globalThis.Convex = {
      get syscall() {
        return inner.syscall;
      },
      get asyncSyscall() {
        const call = inner.asyncSyscall;
        return async (op, jsonArgs) => {
          const result = await call(op, jsonArgs);
          if (op === "1.0/insert") {
            const { table } = JSON.parse(jsonArgs);
            log.touched.set(JSON.parse(result)._id, table);
          } else if (op === "1.0/shallowMerge" || op === "1.0/replace" || op === "1.0/remove") {
            const { table, id } = JSON.parse(jsonArgs);
            // `ctx.db.patch(id, …)` names no table: convex-test's ids end with it.
            log.touched.set(id, table ?? id.replace(/^\d+/, ""));
          }
          return result;
        };
      },
      get jsSyscall() {
        return inner.jsSyscall;
      },
    };
  }

  /** Logs the committed state of every document touched since the last flush. */
  async flush(t) {
    if (this.touched.size === 0) return;
    const touched = [...this.touched];
    this.touched.clear();
    const docs = await t.run(async (ctx) => Promise.all(touched.map(([id]) => ctx.db.get(id))));
    let ts = null;
    touched.forEach(([id, table], i) => {
      const doc = docs[i];
      const json = doc === null ? null : JSON.stringify(convexToJson(doc));
      const previous = this.last.has(id) ? this.last.get(id) : null;
      if (json === previous) return;
      ts ??= this.nextTs();
      this.entries.push({ ts, table, id, json });
      this.last.set(id, json);
    });
  }

  /** `list_snapshot`: the table (or every table) as it stood at `snapshot`, from after `cursor`. */
  listSnapshot({ table, snapshot, cursor, format }) {
    const at = snapshot ?? this.readTs();
    if (at > this.floor) throw new ExportError(400, "SnapshotTooNew", `Snapshot ${at} is in the future`);
    const state = new Map();
    for (const entry of this.entries) {
      if (entry.ts > at) break;
      if (table !== undefined && entry.table !== table) continue;
      state.set(entry.id, entry);
    }
    const after = cursor === undefined || cursor === null ? null : JSON.parse(cursor);
    const rows = [...state.values()]
      .filter((entry) => entry.json !== null)
      .sort((a, b) => (a.table === b.table ? compare(a.id, b.id) : compare(a.table, b.table)))
      .filter((entry) => after === null || compare([entry.table, entry.id], [after.table, after.id]) > 0);
    const page = rows.slice(0, SNAPSHOT_PAGE);
    const last = page.at(-1);
    return {
      values: page.map((entry) => value(entry, format, false)),
      snapshot: at,
      cursor: last ? JSON.stringify({ table: last.table, id: last.id }) : null,
      hasMore: rows.length > page.length,
    };
  }

  /** `document_deltas`: the revisions after `cursor` (exclusive), never splitting a timestamp. */
  documentDeltas({ table, cursor, format }) {
    if (cursor === undefined || cursor === null) {
      throw new ExportError(400, "DocumentDeltasCursorRequired", "document_deltas requires a cursor");
    }
    const page = [];
    let more = false;
    for (const entry of this.entries) {
      if (entry.ts <= cursor || (table !== undefined && entry.table !== table)) continue;
      if (page.length >= DELTAS_PAGE && entry.ts !== page.at(-1).ts) {
        more = true;
        break;
      }
      page.push(entry);
    }
    return {
      values: page.map((entry) => value(entry, format, true)),
      cursor: more ? page.at(-1).ts : this.readTs(),
      hasMore: more,
    };
  }
}

export class ExportError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

function compare(a, b) {
  if (Array.isArray(a)) return compare(a[0], b[0]) || compare(a[1], b[1]);
  return a < b ? -1 : a > b ? 1 : 0;
}

/** A logged revision as the export writes it. */
function value(entry, format, delta) {
  const meta = { _component: "", _table: entry.table, _ts: entry.ts };
  if (entry.json === null) return { _id: entry.id, ...meta, _deleted: true };
  const doc = JSON.parse(entry.json);
  return { ...(format === "json" ? cleanJson(doc) : doc), ...meta, ...(delta ? { _deleted: false } : {}) };
}

/** convex_encoded_json -> `json`: int64 as a decimal string, bytes as base64, special floats as strings. */
export function cleanJson(value) {
  if (Array.isArray(value)) return value.map(cleanJson);
  if (value !== null && typeof value === "object") {
    const keys = Object.keys(value);
    if (keys.length === 1 && keys[0] === "$integer") {
      return Buffer.from(value.$integer, "base64").readBigInt64LE().toString();
    }
    if (keys.length === 1 && keys[0] === "$bytes") return value.$bytes;
    if (keys.length === 1 && keys[0] === "$float") {
      const f = Buffer.from(value.$float, "base64").readDoubleLE();
      return Number.isNaN(f) ? "NaN" : f > 0 ? "Infinity" : "-Infinity";
    }
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, cleanJson(v)]));
  }
  return value;
}

/** JSON text with BigInts as plain JSON numbers (timestamps are i64 nanoseconds). */
export function stringify(body) {
  return JSON.stringify(body, (_, v) => (typeof v === "bigint" ? `\u0000big${v}` : v)).replace(
    /"\\u0000big(-?\d+)"/g,
    "$1",
  );
}

/** The export arguments of a GET query string or a POST body. */
export function exportArgs(url, body, deltas) {
  const get = (name) => body[name] ?? url.searchParams.get(name) ?? undefined;
  const int = (name) => {
    const raw = get(name);
    if (raw === undefined || raw === null || raw === "") return undefined;
    try {
      return BigInt(raw);
    } catch {
      throw new ExportError(400, "InvalidCursor", `${name} must be an integer`);
    }
  };
  const format = get("format") ?? "json";
  if (!["json", "convex_clean_json", "convex_encoded_json", "convex_json"].includes(format)) {
    throw new ExportError(400, "InvalidFormat", `Unsupported format ${format}`);
  }
  return {
    table: get("tableName") ?? get("table_name"),
    snapshot: int("snapshot"),
    cursor: deltas ? int("cursor") : get("cursor"),
    format: format === "json" || format === "convex_clean_json" ? "json" : "convex_encoded_json",
  };
}
