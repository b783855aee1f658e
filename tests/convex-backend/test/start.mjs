// Starts the test backend on a free port, for the tests beside this file.
import { spawn } from "node:child_process";
import path from "node:path";
import { fileURLToPath } from "node:url";

const server = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../server.mjs");

/** Starts the backend on a free port and resolves with its URL. */
export async function startBackend(env = {}) {
  const child = spawn(process.execPath, ["--import", "tsx", server], {
    env: { ...process.env, PORT: "0", ...env },
    stdio: ["ignore", "pipe", "inherit"],
  });
  let output = "";
  for await (const chunk of child.stdout) {
    output += chunk;
    const match = output.match(/listening on (http:\/\/127\.0\.0\.1:\d+)/);
    if (match) return { url: match[1], child };
  }
  throw new Error(`backend exited before listening: ${output}`);
}
