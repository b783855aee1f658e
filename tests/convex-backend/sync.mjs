// The WebSocket sync protocol of a Convex deployment, as the official clients speak it
// (ConvexClient, ConvexReactClient, the Rust crate `convex`): the subset that
// ../../../shared/reference/convex-sync-protocol.md describes.
//
// - `GET /api/sync` and `GET /api/{version}/sync` upgrade to a WebSocket of JSON text frames.
// - Each connection has its own version `{querySet, identity, ts}`, starting at zero; every
//   Transition starts at the connection's current version.
// - `ModifyQuerySet` adds and removes queries and is answered by a Transition with their results.
// - `Mutation` and `Action` run as the connection's identity and are answered by a
//   MutationResponse (with the commit `ts`) or an ActionResponse; then every connection's
//   queries run again, and each connection whose results changed gets a Transition (the caller
//   always gets one reaching the write's `ts`, which its client waits for). Writes over HTTP move
//   subscriptions the same way (`afterWrite`).
// - `Authenticate` sets the identity (User, None or Admin) and bumps `identity`; a token that
//   cannot be read gets `AuthError`, then the socket closes, as Convex does.
// - `{"type":"Ping"}` after EMU_PING_MS (15,000) idle; `Event` is ignored.
//
// As elsewhere in this stand-in, tokens are decoded, not verified.
import { convexToJson } from "convex/values";
import { WebSocketServer } from "ws";

const PING_MS = Number(process.env.EMU_PING_MS ?? 15000);

/** A u64 as the protocol writes it: base64 of its 8 little-endian bytes. */
function u64(value) {
  const buffer = Buffer.alloc(8);
  buffer.writeBigUInt64LE(BigInt(value));
  return buffer.toString("base64");
}

function encode(value) {
  return convexToJson(value === undefined ? null : value);
}

export class SyncServer {
  constructor({ execute, decodeToken, record }) {
    this.execute = execute;
    this.decodeToken = decodeToken;
    this.record = record;
    this.connections = new Set();
    this.ts = 0n;
    this.queue = Promise.resolve();
  }

  /** Serves the sync endpoints on `server`'s upgrades. */
  attach(server) {
    const wss = new WebSocketServer({ noServer: true });
    server.on("upgrade", (req, socket, head) => {
      const { pathname } = new URL(req.url, "http://localhost");
      if (!/^\/api\/(?:[^/]+\/)?sync$/.test(pathname)) {
        socket.end("HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\n\r\n");
        return;
      }
      wss.handleUpgrade(req, socket, head, (ws) => this.open(ws, req));
    });
  }

  /** Runs `task` after everything queued before it. */
  enqueue(task) {
    const run = this.queue.then(task);
    this.queue = run.catch(() => {});
    return run;
  }

  /** Re-runs every subscription after a write made over HTTP. */
  afterHttpWrite() {
    return this.enqueue(() => this.afterWrite());
  }

  /** Open sockets and subscribed queries, for tests. */
  stats() {
    let queries = 0;
    const paths = {};
    for (const conn of this.connections) {
      queries += conn.queries.size;
      for (const q of conn.queries.values()) paths[q.udfPath] = (paths[q.udfPath] ?? 0) + 1;
    }
    return { connections: this.connections.size, queries, paths };
  }

  /** A new commit timestamp (ns), after every earlier one. */
  commit() {
    const now = BigInt(Date.now()) * 1_000_000n;
    this.ts = now > this.ts ? now : this.ts + 1n;
    return this.ts;
  }

  open(ws, req) {
    const conn = {
      ws,
      version: { querySet: 0, identity: 0, ts: 0n },
      queries: new Map(),
      auth: { identity: null, admin: false },
      client: req.headers["convex-client"] ?? null,
      lastSent: Date.now(),
    };
    this.connections.add(conn);
    const ping = setInterval(() => {
      if (Date.now() - conn.lastSent >= PING_MS) this.send(conn, { type: "Ping" });
    }, Math.max(100, Math.min(PING_MS, 5000)));
    ws.on("message", (data) => {
      let message;
      try {
        message = JSON.parse(data.toString("utf8"));
      } catch {
        this.fatal(conn, "The message is not JSON");
        return;
      }
      // One message at a time, over all connections: results and versions never interleave.
      this.enqueue(() => this.handle(conn, message)).catch((error) =>
        this.fatal(conn, String(error?.stack ?? error)),
      );
    });
    ws.on("close", () => {
      clearInterval(ping);
      this.connections.delete(conn);
    });
  }

  send(conn, message) {
    if (conn.ws.readyState !== conn.ws.OPEN) return;
    conn.lastSent = Date.now();
    conn.ws.send(JSON.stringify(message));
  }

  fatal(conn, error) {
    this.send(conn, { type: "FatalError", error });
    conn.ws.close(1011, "FatalError");
  }

  async handle(conn, message) {
    switch (message.type) {
      case "Connect":
      case "Event":
        return;
      case "ModifyQuerySet":
        return this.modifyQuerySet(conn, message);
      case "Mutation":
      case "Action":
        return this.write(conn, message);
      case "Authenticate":
        return this.authenticate(conn, message);
      default:
        return this.fatal(conn, `Unknown message type ${message.type}`);
    }
  }

  /** Runs a query for the connection: a QueryUpdated or QueryFailed modification. */
  async runQuery(conn, queryId, query) {
    const result = await this.execute("Query", query.udfPath, query.args, conn.auth);
    this.record({
      route: "ws:query",
      path: query.udfPath,
      identity: conn.auth.identity,
      authorization: null,
      convexClient: conn.client,
      requestId: null,
      format: null,
    });
    if (result.ok) {
      return { type: "QueryUpdated", queryId, value: encode(result.value), logLines: result.logLines, journal: null };
    }
    return {
      type: "QueryFailed",
      queryId,
      errorMessage: result.message,
      logLines: result.logLines,
      journal: null,
      ...(result.errorData === undefined ? {} : { errorData: encode(result.errorData) }),
    };
  }

  transition(conn, end, modifications) {
    const start = conn.version;
    this.send(conn, {
      type: "Transition",
      startVersion: { querySet: start.querySet, identity: start.identity, ts: u64(start.ts) },
      endVersion: { querySet: end.querySet, identity: end.identity, ts: u64(end.ts) },
      modifications,
    });
    conn.version = end;
  }

  async modifyQuerySet(conn, { baseVersion, newVersion, modifications }) {
    if (baseVersion !== conn.version.querySet) {
      return this.fatal(conn, `Base version ${baseVersion} passed up doesn't match the current version ${conn.version.querySet}`);
    }
    const changes = [];
    for (const mod of modifications ?? []) {
      if (mod.type === "Add") {
        const args = Array.isArray(mod.args) ? (mod.args[0] ?? {}) : (mod.args ?? {});
        const query = { udfPath: mod.udfPath, args, last: null };
        conn.queries.set(mod.queryId, query);
        const update = await this.runQuery(conn, mod.queryId, query);
        query.last = JSON.stringify(update);
        changes.push(update);
      } else if (mod.type === "Remove") {
        conn.queries.delete(mod.queryId);
        changes.push({ type: "QueryRemoved", queryId: mod.queryId });
      }
    }
    this.transition(conn, { ...conn.version, querySet: newVersion, ts: this.ts }, changes);
  }

  async write(conn, { type, requestId, udfPath, args }) {
    const kind = type === "Mutation" ? "Mutation" : "Action";
    const callArgs = Array.isArray(args) ? (args[0] ?? {}) : (args ?? {});
    const result = await this.execute(kind, udfPath, callArgs, conn.auth);
    this.record({
      route: `ws:${kind.toLowerCase()}`,
      path: udfPath,
      identity: conn.auth.identity,
      authorization: null,
      convexClient: conn.client,
      requestId: null,
      format: null,
    });
    const response = { type: `${kind}Response`, requestId, success: result.ok, logLines: result.logLines };
    if (result.ok) {
      response.result = encode(result.value);
    } else {
      response.result = result.message;
      if (result.errorData !== undefined) response.errorData = encode(result.errorData);
    }
    let ts = null;
    if (result.ok && kind === "Mutation") {
      ts = this.commit();
      response.ts = u64(ts);
    }
    this.send(conn, response);
    await this.afterWrite(result.ok && kind === "Mutation" ? conn : null);
  }

  /**
   * Runs every connection's queries again and sends the changed results; `caller` gets a
   * Transition even when nothing changed, so its mutation resolves.
   */
  async afterWrite(caller = null) {
    const ts = this.commit();
    for (const conn of [...this.connections]) {
      const changes = [];
      for (const [queryId, query] of conn.queries) {
        const update = await this.runQuery(conn, queryId, query);
        const text = JSON.stringify(update);
        if (text !== query.last) {
          query.last = text;
          changes.push(update);
        }
      }
      if (changes.length > 0 || conn === caller) {
        this.transition(conn, { ...conn.version, ts }, changes);
      }
    }
  }

  async authenticate(conn, message) {
    const { baseVersion, tokenType, value } = message;
    if (baseVersion !== conn.version.identity) {
      return this.fatal(conn, `Base identity version ${baseVersion} doesn't match ${conn.version.identity}`);
    }
    try {
      if (tokenType === "User") conn.auth = this.decodeToken(`Bearer ${value ?? ""}`);
      else if (tokenType === "Admin") conn.auth = this.decodeToken(`Convex ${value ?? ""}`);
      else conn.auth = { identity: null, admin: false };
    } catch (error) {
      this.send(conn, { type: "AuthError", error: error.message, baseVersion, authUpdateAttempted: true });
      conn.ws.close(1000, "AuthError");
      return;
    }
    this.record({
      route: "ws:authenticate",
      path: null,
      identity: conn.auth.identity,
      authorization: null,
      convexClient: conn.client,
      requestId: null,
      format: null,
    });
    const changes = [];
    for (const [queryId, query] of conn.queries) {
      const update = await this.runQuery(conn, queryId, query);
      query.last = JSON.stringify(update);
      changes.push(update);
    }
    this.transition(conn, { ...conn.version, identity: baseVersion + 1, ts: this.ts }, changes);
  }
}
