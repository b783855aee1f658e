// Starts the gateway binary on a free loopback port with its own data folder, for the client
// smoke tests and the examples, and mints an admin token with its `token` command.
import { execFileSync, spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");

async function freePort() {
  const server = createServer();
  await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address();
  await new Promise((resolve) => server.close(resolve));
  return port;
}

/** A running gateway: `{ url, token, stop() }`. */
export async function startGateway(extraEnv = {}) {
  const binary = process.env.GATEWAY_BIN ?? path.join(root, "target/debug/convex-gateway");
  const dataDir = mkdtempSync(path.join(tmpdir(), "gateway-client-"));
  const port = await freePort();
  const env = { PATH: process.env.PATH, GATEWAY_ADDR: `127.0.0.1:${port}`, GATEWAY_DATA_DIR: dataDir, ...extraEnv };
  const child = spawn(binary, ["serve"], { env, stdio: "ignore" });
  const url = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + 30_000;
  for (;;) {
    const ready = await fetch(`${url}/ready`).then((r) => r.ok, () => false);
    if (ready) break;
    if (Date.now() > deadline) throw new Error("the gateway did not become ready");
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  const token = execFileSync(binary, ["token", "--sub", "client-tests", "--role", "admin", "--ttl", "1h"], {
    env,
    stdio: ["ignore", "pipe", "ignore"],
  })
    .toString()
    .trim();
  return {
    url,
    token,
    stop() {
      child.kill("SIGTERM");
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}
