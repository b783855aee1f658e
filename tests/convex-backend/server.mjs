// A local stand-in for a Convex deployment's public HTTP API, for tests only.
//
// It runs the gateway's own `convex/` functions plus the test app in `app/` under the official
// `convex-test` engine, and serves on 127.0.0.1:
//   POST /api/query | /api/mutation | /api/action      {path, args, format}
//   POST /api/run/{module path}/{function}             {args, format}
//   POST /api/query_batch, /api/query_ts, /api/query_at_ts
//   GET  /_emu/health, POST /_emu/reset, GET|DELETE /_emu/requests (what callers sent)
//   GET  /api/sync, /api/{version}/sync   the WebSocket sync protocol (sync.mjs), for
//        ConvexClient, ConvexReactClient and the Rust crate `convex`
//   GET  /_emu/sync                        open sockets and subscribed queries
//   GET|POST /api/list_snapshot, /api/document_deltas   the streaming export (export.mjs), for
//        `Authorization: Convex <deploy key>` only
//   POST /api/[v1/]update_environment_variables, GET /api/[v1/]list_environment_variables
//        the deployment's environment variables (env.mjs), deploy key only
//
// Environment:
//   PORT                     port to bind (0 = any; the bound port is printed as `listening on …`)
//   EMU_ERROR_STATUS         HTTP status of function errors: 560 (convex-js) or 200 (the backend)
//   EMU_OMIT_EMPTY_LOGLINES  1 to leave out empty `logLines`, as the real backend does
//   EMU_ADMIN_KEY            the admin key that unlocks internal functions (default: any)
//
// Differences from a real Convex deployment: tokens are decoded but not verified (the gateway's
// own tests verify what it mints against its JWKS, as Convex would), document ids and cursors
// have another shape, every call runs one at a time, and only the routes above exist.
import { AsyncLocalStorage } from "node:async_hooks";
import { readdirSync } from "node:fs";
import http from "node:http";
import path from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { format as inspectFormat } from "node:util";

import { convexTest } from "convex-test";

import { EnvError, EnvironmentVariables } from "./env.mjs";
import { ExportError, RevisionLog, cleanJson, exportArgs, stringify } from "./export.mjs";
import { SyncServer } from "./sync.mjs";
import { ConvexError, convexToJson, jsonToConvex } from "convex/values";

const here = path.dirname(fileURLToPath(import.meta.url));
const gatewayDir = path.resolve(here, "../../convex");
const appDir = path.join(here, "app");

const errorStatus = Number(process.env.EMU_ERROR_STATUS ?? 560);
const omitEmptyLogLines = process.env.EMU_OMIT_EMPTY_LOGLINES === "1";
const adminKey = process.env.EMU_ADMIN_KEY;

// --- modules ---------------------------------------------------------------------------------

/** `{"./gateway.ts": () => import(...)}` for the shipped functions and the test app. */
function moduleMap() {
  const modules = {};
  const add = (dir, prefix) => {
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      const full = path.join(dir, entry.name);
      if (entry.isDirectory()) {
        add(full, `${prefix}${entry.name}/`);
      } else if (/\.(ts|js)$/.test(entry.name) && !entry.name.endsWith(".d.ts")) {
        let loaded;
        // Memoized: re-importing through tsx's loader on every call costs a thread round trip.
        modules[`./${prefix}${entry.name}`] = () => (loaded ??= import(pathToFileURL(full).href));
      }
    }
  };
  add(gatewayDir, "");
  add(appDir, "");
  return modules;
}

const modules = moduleMap();
const schema = (await import(pathToFileURL(path.join(appDir, "schema.ts")).href)).default;
let t = convexTest(schema, modules);
// Every revision, for the streaming export (export.mjs).
const revisions = new RevisionLog();
revisions.install();
// The deployment's environment variables.
const env = new EnvironmentVariables();

/** The registered function at `module:name`, or null. */
async function findFunction(udfPath) {
  const [modulePath, name = "default"] = udfPath.split(":");
  const load = modules[`./${modulePath}.ts`] ?? modules[`./${modulePath}.js`];
  if (!load) return null;
  const mod = await load();
  return mod[name] ?? null;
}

function kindOf(func) {
  if (func.isQuery) return "Query";
  if (func.isMutation) return "Mutation";
  if (func.isAction) return "Action";
  return null;
}

// --- log lines -------------------------------------------------------------------------------

const logStore = new AsyncLocalStorage();
for (const level of ["log", "info", "warn", "error", "debug"]) {
  const original = console[level].bind(console);
  console[level] = (...args) => {
    const lines = logStore.getStore();
    if (lines) lines.push(`[${level.toUpperCase()}] ${inspectFormat(...args)}`);
    else original(...args);
  };
}

// --- requests --------------------------------------------------------------------------------

const recorded = [];
let requestCounter = 0;

class HttpError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

function decodeToken(authorization) {
  if (!authorization) return { identity: null, admin: false };
  const [scheme, credential = ""] = authorization.split(" ", 2);
  if (scheme === "Convex") {
    const key = credential.split(":")[0];
    if (adminKey !== undefined && key !== adminKey) {
      throw new HttpError(401, "BadAdminKey", "The provided admin key was invalid for this instance");
    }
    return { identity: null, admin: true };
  }
  if (scheme !== "Bearer") throw new HttpError(401, "InvalidAuthHeader", "Authorization header must be Bearer or Convex");
  const parts = credential.split(".");
  let claims;
  try {
    if (parts.length !== 3) throw new Error("not a JWT");
    claims = JSON.parse(Buffer.from(parts[1], "base64url").toString("utf8"));
  } catch {
    throw new HttpError(401, "InvalidAuthHeader", "Could not parse JWT payload");
  }
  if (typeof claims.exp === "number" && claims.exp * 1000 < Date.now()) {
    throw new HttpError(401, "InvalidAuthHeader", "Token expired");
  }
  if (typeof claims.sub !== "string" || typeof claims.iss !== "string") {
    throw new HttpError(401, "InvalidAuthHeader", "Missing subject or issuer");
  }
  const { sub, iss, aud, exp, iat, nbf, jti, ...custom } = claims;
  void aud, exp, iat, nbf, jti;
  return {
    identity: { ...custom, subject: sub, issuer: iss, tokenIdentifier: `${iss}|${sub}` },
    admin: false,
  };
}

function encodeValue(value, format) {
  const encoded = convexToJson(value === undefined ? null : value);
  return format === "json" ? cleanJson(encoded) : encoded;
}

/**
 * Runs one function as `auth` and answers `{ok, kind, value, message, errorData, logLines}`;
 * `value` and `errorData` are Convex values (not yet encoded). Throws HttpError for a request the
 * backend refuses before running anything (bad args).
 */
async function execute(kind, udfPath, args, auth) {
  try {
    return await executeUnlogged(kind, udfPath, args, auth);
  } finally {
    await revisions.flush(t);
  }
}

async function executeUnlogged(kind, udfPath, args, auth) {
  const logLines = [];
  const requestId = `emu${++requestCounter}`;
  const failure = (message, errorData) => ({
    ok: false,
    message: `[Request ID: ${requestId}] Server Error\n${message}`,
    errorData,
    logLines,
  });
  const func = await findFunction(udfPath);
  const visible = func && (func.isPublic || auth.admin);
  if (!visible) return failure(`Could not find public function for '${udfPath}'. Did you forget to run \`npx convex dev\` or \`npx convex deploy\`?`);
  const actual = kindOf(func);
  if (kind !== null && actual !== kind) {
    return failure(`Trying to execute ${udfPath} as ${kind}, but it is defined as ${actual}.`);
  }
  let decodedArgs;
  try {
    decodedArgs = jsonToConvex(args);
  } catch (error) {
    throw new HttpError(400, "BadJsonBody", String(error));
  }
  const accessor = auth.identity ? t.withIdentity(auth.identity) : t;
  try {
    const run = { Query: accessor.query, Mutation: accessor.mutation, Action: accessor.action }[actual];
    const value = await logStore.run(logLines, () => run.call(accessor, udfPath, decodedArgs));
    return { ok: true, kind: actual, value, logLines };
  } catch (error) {
    if (error instanceof ConvexError) {
      const data = error.data;
      return { ...failure(`Uncaught ConvexError: ${typeof data === "string" ? data : JSON.stringify(data)}`, data), kind: actual };
    }
    return { ...failure(`Uncaught ${error?.name ?? "Error"}: ${error?.message ?? String(error)}`), kind: actual };
  }
}

/** Runs one function call and builds Convex's response body and status. */
async function runFunction(kind, body, auth) {
  const { path: udfPath, format = "json" } = body;
  if (format !== "json" && format !== "convex_encoded_json") {
    throw new HttpError(400, "BadFormat", `Unsupported format ${format}`);
  }
  if (typeof udfPath !== "string") throw new HttpError(400, "BadJsonBody", "path is required");
  let args = body.args ?? {};
  if (Array.isArray(args)) {
    if (args.length !== 1) throw new HttpError(400, "BadJsonBody", "args must be an object or a one-element array");
    args = args[0];
  }
  const result = await execute(kind, udfPath, args, auth);
  // A write over HTTP moves the subscriptions of every WebSocket client, as in Convex.
  if (result.kind === "Mutation" || result.kind === "Action") await sync.afterHttpWrite();
  const payload = result.ok
    ? { status: "success", value: encodeValue(result.value, format) }
    : {
        status: "error",
        errorMessage: result.message,
        ...(result.errorData === undefined ? {} : { errorData: encodeValue(result.errorData, format) }),
      };
  if (!(omitEmptyLogLines && result.logLines.length === 0)) payload.logLines = result.logLines;
  return { status: result.ok ? 200 : errorStatus, body: payload };
}

/** The JSON body; `exact` names integer fields kept as their decimal text (i64 timestamps). */
async function readJson(req, exact = []) {
  const chunks = [];
  for await (const chunk of req) chunks.push(chunk);
  let text = Buffer.concat(chunks).toString("utf8");
  if (text.trim() === "") return {};
  for (const name of exact) text = text.replace(new RegExp(`"${name}"\\s*:\\s*(-?\\d+)`, "g"), `"${name}":"$1"`);
  try {
    return JSON.parse(text);
  } catch {
    throw new HttpError(400, "BadJsonBody", "The request body is not valid JSON");
  }
}

function send(res, status, body) {
  const text = typeof body === "string" ? body : JSON.stringify(body);
  res.writeHead(status, { "content-type": typeof body === "string" ? "text/plain" : "application/json" });
  res.end(text);
}

const KINDS = { "/api/query": "Query", "/api/mutation": "Mutation", "/api/action": "Action" };

async function handle(req, res) {
  const url = new URL(req.url, "http://localhost");
  const route = url.pathname;
  if (route === "/_emu/health") return send(res, 200, { status: "ok" });
  if (route === "/_emu/reset" && req.method === "POST") {
    t = convexTest(schema, modules);
    revisions.reset();
    env.reset();
    recorded.length = 0;
    return send(res, 200, { status: "reset" });
  }
  if (route === "/_emu/sync") return send(res, 200, sync.stats());
  if (route === "/_emu/requests") {
    if (req.method === "DELETE") recorded.length = 0;
    return send(res, 200, recorded);
  }
  if (route === "/" || route === "/instance_name") return send(res, 200, "This Convex deployment is running. See https://docs.convex.dev/.");
  if (route === "/api/list_snapshot" || route === "/api/document_deltas") return streamingExport(req, res, url, route);
  const envRoute = route.replace(/^\/api\/v1\//, "/api/");
  if (envRoute === "/api/list_environment_variables" || envRoute === "/api/update_environment_variables") {
    return environmentVariables(req, res, envRoute);
  }
  if (req.method !== "POST") throw new HttpError(404, "NotFound", `No route for ${req.method} ${route}`);

  const body = await readJson(req);
  const auth = decodeToken(req.headers.authorization);
  if (/^bearer /i.test(req.headers.authorization ?? "")) {
    try {
      await env.checkToken(req.headers.authorization.slice(7));
    } catch (error) {
      if (error instanceof EnvError) throw new HttpError(error.status, error.code, error.message);
      throw error;
    }
  }
  recorded.push({
    route,
    path: body.path ?? route.replace(/^\/api\/run\//, ""),
    authorization: req.headers.authorization ?? null,
    identity: auth.identity,
    convexClient: req.headers["convex-client"] ?? null,
    requestId: req.headers["convex-request-id"] ?? null,
    format: body.format ?? null,
  });
  if (recorded.length > 2000) recorded.splice(0, recorded.length - 2000);

  if (route in KINDS) {
    const result = await runFunction(KINDS[route], body, auth);
    return send(res, result.status, result.body);
  }
  if (route.startsWith("/api/run/")) {
    const segments = route.slice("/api/run/".length).split("/");
    // As Convex: a module path and a function name, or 400 MissingIdentifier.
    if (segments.length < 2 || segments.some((s) => s === "")) {
      throw new HttpError(400, "MissingIdentifier", "Path or function name not provided in path, e.g. /api/run/messages/list");
    }
    const name = segments.pop();
    const result = await runFunction(null, { ...body, path: `${segments.join("/")}:${name}` }, auth);
    return send(res, result.status, result.body);
  }
  if (route === "/api/query_ts") {
    const ts = Buffer.alloc(8);
    ts.writeBigUInt64LE(BigInt(Date.now()) * 1_000_000n);
    return send(res, 200, { ts: ts.toString("base64") });
  }
  if (route === "/api/query_at_ts") {
    const result = await runFunction("Query", body, auth);
    return send(res, result.status, result.body);
  }
  if (route === "/api/query_batch") {
    const results = [];
    for (const query of body.queries ?? []) results.push((await runFunction("Query", query, auth)).body);
    return send(res, 200, { results });
  }
  throw new HttpError(404, "NotFound", `No route for POST ${route}`);
}

/** `list_snapshot` and `document_deltas` (GET or POST), for deploy-key callers only. */
async function streamingExport(req, res, url, route) {
  const body = req.method === "POST" ? await readJson(req, ["snapshot", "cursor"]) : {};
  const authorization = req.headers.authorization ?? "";
  recorded.push({ route, path: route, authorization: authorization || null, identity: null, convexClient: req.headers["convex-client"] ?? null, requestId: null, format: null });
  if (!/^convex /i.test(authorization)) {
    throw new HttpError(401, "BadAdminKey", "Streaming export requires a deploy key (Authorization: Convex <key>)");
  }
  if (!decodeToken(`Convex ${authorization.slice(7)}`).admin) throw new HttpError(401, "BadAdminKey", "The provided admin key was invalid for this instance");
  try {
    const deltas = route === "/api/document_deltas";
    const args = exportArgs(url, body, deltas);
    const result = deltas ? revisions.documentDeltas(args) : revisions.listSnapshot(args);
    res.writeHead(200, { "content-type": "application/json" });
    res.end(stringify(result));
  } catch (error) {
    if (error instanceof ExportError) throw new HttpError(error.status, error.code, error.message);
    throw error;
  }
}

/** The environment-variable API, for deploy-key callers only. */
async function environmentVariables(req, res, route) {
  const authorization = req.headers.authorization ?? "";
  recorded.push({ route, path: route, authorization: authorization || null, identity: null, convexClient: req.headers["convex-client"] ?? null, requestId: null, format: null });
  if (!/^convex /i.test(authorization) || !decodeToken(`Convex ${authorization.slice(7)}`).admin) {
    throw new HttpError(401, "BadAdminKey", "The provided admin key was invalid for this instance");
  }
  try {
    if (route === "/api/list_environment_variables") {
      if (req.method !== "GET") throw new HttpError(405, "MethodNotAllowed", "GET only");
      return send(res, 200, env.list());
    }
    if (req.method !== "POST") throw new HttpError(405, "MethodNotAllowed", "POST only");
    env.update(await readJson(req));
    res.writeHead(200);
    return res.end();
  } catch (error) {
    if (error instanceof EnvError) throw new HttpError(error.status, error.code, error.message);
    throw error;
  }
}

const sync = new SyncServer({ execute, decodeToken, record: (entry) => recorded.push(entry) });

const server = http.createServer((req, res) => {
  handle(req, res).catch((error) => {
    if (error instanceof HttpError) return send(res, error.status, { code: error.code, message: error.message });
    send(res, 500, { code: "InternalServerError", message: String(error?.stack ?? error) });
  });
});

sync.attach(server);

server.listen(Number(process.env.PORT ?? 0), "127.0.0.1", () => {
  const { port } = server.address();
  console.info(`listening on http://127.0.0.1:${port}`);
});

for (const signal of ["SIGINT", "SIGTERM"]) process.on(signal, () => server.close(() => process.exit(0)));
