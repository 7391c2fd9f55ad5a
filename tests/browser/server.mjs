// server.mjs: the real server for the browser tests, shared by dashboard.test.mjs
// (Chromium) and firefox.test.mjs (Firefox). Starts $SLUICE_BIN on a free port (or a
// given one) with a given data directory, waits for its "listening on" line, and calls
// the public HTTP API as curl would. Also the pageview events both tests post.

import { spawn } from "node:child_process";
import { once } from "node:events";

const BIN = process.env.SLUICE_BIN;

// Starts the server; resolves to { proc, url, port, data, token } once it listens.
export async function startServer({ port = 0, data, tokenFile }) {
  const args = ["--listen", `127.0.0.1:${port}`, "--data", data];
  if (tokenFile) args.push("--auth-token-file", tokenFile);
  const proc = spawn(BIN, args, { stdio: ["ignore", "pipe", "pipe"] });
  let err = "";
  proc.stderr.on("data", (d) => (err += d));
  const url = await new Promise((resolve, reject) => {
    let out = "";
    proc.stdout.on("data", (d) => {
      out += d;
      const m = out.match(/listening on (http:\/\/\S+)/);
      if (m) resolve(m[1]);
    });
    proc.on("exit", (code) => reject(new Error(`sluice exited (${code}): ${err}`)));
  });
  proc.stdout.resume();
  return { proc, url, port: Number(new URL(url).port), data, token: null };
}

export async function stopServer(server) {
  if (server.proc.exitCode !== null) return;
  server.proc.kill("SIGTERM");
  await once(server.proc, "exit");
}

// One API call; resolves to the JSON answer, throws on a non-2xx status.
export async function call(server, method, p, body, type = "application/json") {
  const headers = {};
  if (server.token) headers.Authorization = `Bearer ${server.token}`;
  if (body !== undefined) headers["Content-Type"] = type;
  const res = await fetch(server.url + p, {
    method,
    headers,
    body: body === undefined ? undefined : typeof body === "string" ? body : JSON.stringify(body),
  });
  const json = await res.json();
  if (!res.ok) throw new Error(`${method} ${p}: ${res.status} ${JSON.stringify(json)}`);
  return json;
}

export const sql = (server, text) => call(server, "POST", "/v1/statements", { sql: text });
export const post = (server, stream, events) =>
  call(server, "POST", `/v1/streams/${stream}/events`, events);

export const PAGEVIEWS_DDL = "CREATE STREAM pageviews (viewtime BIGINT, userid VARCHAR, " +
  "pageid VARCHAR) WITH (TIMESTAMP='viewtime');";
export const T0 = 1700000000000; // a minute boundary is T0 - 20000 (1699999980000)
export const view = (user, pageid, t) => ({ userid: user, pageid, viewtime: T0 + t });
