// Convex's deployment environment variables, as ../../../shared/reference/convex-http-api.md
// (§5.3) and Convex's own `crates/common/src/types/environment_variables.rs` describe them:
//   POST /api/update_environment_variables, /api/v1/update_environment_variables
//        {"changes":[{"name","value"}|{"name"}]}      (a missing or null value unsets)  → 200, empty
//   GET  /api/list_environment_variables, /api/v1/list_environment_variables
//        → {"environmentVariables":{NAME: value}}
// for deploy-key callers only. Names match ^[a-zA-Z_]+[a-zA-Z0-9_]*$ and are at most 40
// characters, values at most 8 KiB, at most 100 variables, no name twice in one update, the
// built-in CONVEX_CLOUD_URL and CONVEX_SITE_URL cannot be set; errors are 400 with Convex's codes.
// Set variables are what functions read from `process.env`, as in a deployment.
//
// Auth providers: when `GATEWAY_ISSUER` is set (the gateway's `convex trust` sets it, as
// `auth.config.ts` reads it), a bearer token must carry that `iss`, the `aud` in
// `GATEWAY_APPLICATION_ID`, and a signature that one of the keys at `GATEWAY_JWKS_URL`
// verifies, or the call is refused (401 NoAuthProvider / InvalidAuthHeader), as Convex does for
// a token no provider accepts. Without it, tokens are decoded but not verified.
import { createPublicKey, verify } from "node:crypto";

const NAME = /^[a-zA-Z_]+[a-zA-Z0-9_]*$/;
const MAX_NAME_LENGTH = 40;
const MAX_VALUE_LENGTH = 8 * 1024;
export const ENV_VAR_LIMIT = 100;
const BUILT_IN = new Set(["CONVEX_CLOUD_URL", "CONVEX_SITE_URL"]);

export class EnvError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

export class EnvironmentVariables {
  constructor() {
    /** @type {Map<string, string>} */
    this.vars = new Map();
  }

  list() {
    return { environmentVariables: Object.fromEntries([...this.vars.entries()].sort(([a], [b]) => (a < b ? -1 : 1))) };
  }

  /** Applies every change or none. */
  update(body) {
    const changes = body?.changes;
    if (!Array.isArray(changes)) throw new EnvError(400, "BadJsonBody", "changes must be an array");
    const seen = new Set();
    for (const change of changes) {
      const { name, value } = change ?? {};
      if (typeof name !== "string" || !NAME.test(name)) {
        throw new EnvError(400, "EnvironmentVariableNameInvalid", `The environment variable name ${name} is invalid. Environment variable names must begin with a letter and may only include characters a-z, A-Z, 0-9, and underscores.`);
      }
      if (name.length > MAX_NAME_LENGTH) {
        throw new EnvError(400, "EnvironmentVariableNameTooLong", `The environment variable name ${name} is too long. Environment variable names must be less than ${MAX_NAME_LENGTH}.`);
      }
      if (value !== undefined && value !== null) {
        if (typeof value !== "string") throw new EnvError(400, "BadJsonBody", "an environment variable's value is a string");
        const size = Buffer.byteLength(value, "utf8");
        if (size > MAX_VALUE_LENGTH) {
          throw new EnvError(400, "EnvironmentVariableValueTooLarge", `The environment variable value is ${size} bytes, which is too large. (max size: ${MAX_VALUE_LENGTH}`);
        }
      }
      if (BUILT_IN.has(name)) throw new EnvError(400, "EnvVarNameForbidden", `Environment variable with name "${name}" is built-in and cannot be overridden`);
      if (seen.has(name)) throw new EnvError(400, "EnvVarNameNotUnique", `An environment variable with name "${name}" already exists`);
      seen.add(name);
    }
    const next = new Map(this.vars);
    for (const { name, value } of changes) {
      if (value === undefined || value === null) next.delete(name);
      else next.set(name, value);
    }
    if (next.size > ENV_VAR_LIMIT) throw new EnvError(400, "EnvVarLimitMet", `The environment variable limit (${ENV_VAR_LIMIT}) has been met.`);
    for (const name of this.vars.keys()) if (!next.has(name)) delete process.env[name];
    for (const [name, value] of next) process.env[name] = value;
    this.vars = next;
  }

  reset() {
    for (const name of this.vars.keys()) delete process.env[name];
    this.vars = new Map();
  }

  /**
   * Checks a bearer token against the auth provider the variables configure (see above);
   * nothing to check when none is configured.
   */
  async checkToken(token) {
    const issuer = this.vars.get("GATEWAY_ISSUER");
    if (issuer === undefined) return;
    const [header, payload, signature] = token.split(".");
    let claims;
    let head;
    try {
      head = JSON.parse(Buffer.from(header, "base64url").toString("utf8"));
      claims = JSON.parse(Buffer.from(payload, "base64url").toString("utf8"));
    } catch {
      throw new EnvError(401, "InvalidAuthHeader", "Could not parse JWT payload");
    }
    const audience = this.vars.get("GATEWAY_APPLICATION_ID");
    const audiences = Array.isArray(claims.aud) ? claims.aud : [claims.aud];
    if (claims.iss !== issuer || (audience !== undefined && !audiences.includes(audience))) {
      throw new EnvError(401, "NoAuthProvider", `No auth provider found matching the given token (issuer ${claims.iss}, audience ${claims.aud})`);
    }
    const jwksUrl = this.vars.get("GATEWAY_JWKS_URL");
    if (jwksUrl === undefined) throw new EnvError(401, "InvalidAuthHeader", "The auth provider has no JWKS URL");
    let keys;
    try {
      keys = (await (await fetch(jwksUrl)).json()).keys ?? [];
    } catch (error) {
      throw new EnvError(401, "InvalidAuthHeader", `Could not fetch the JWKS at ${jwksUrl}: ${error}`);
    }
    const jwk = keys.find((k) => k.kid === head.kid);
    if (jwk === undefined) throw new EnvError(401, "InvalidAuthHeader", `No key with kid ${head.kid} at ${jwksUrl}`);
    const signed = Buffer.from(`${header}.${payload}`);
    const sig = Buffer.from(signature ?? "", "base64url");
    const key = createPublicKey({ key: jwk, format: "jwk" });
    const ok =
      head.alg === "ES256"
        ? verify("sha256", signed, { key, dsaEncoding: "ieee-p1363" }, sig)
        : head.alg === "RS256" && verify("sha256", signed, key, sig);
    if (!ok) throw new EnvError(401, "InvalidAuthHeader", "The token's signature does not verify");
  }
}
