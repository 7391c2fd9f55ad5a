// api.js: the dashboard's only door to the server: the public HTTP API (docs/http-api.md),
// the same one curl uses. It adds the API token (kept in sessionStorage, sent as
// "Authorization: Bearer"), turns error bodies into ApiError, tells the page when the
// server asks for a token (401), and splits NDJSON result streams into objects.

const TOKEN_KEY = "sluice-token";

// Called with no argument whenever the server answers 401; app.js opens the token prompt.
let onUnauthorized = () => {};

export function setUnauthorizedHandler(fn) {
  onUnauthorized = fn;
}

export function getToken() {
  return sessionStorage.getItem(TOKEN_KEY) || "";
}

export function setToken(token) {
  if (token) sessionStorage.setItem(TOKEN_KEY, token);
  else sessionStorage.removeItem(TOKEN_KEY);
}

export class ApiError extends Error {
  // status: the HTTP status (0 for an error line inside a result stream); error: the
  // server's {"code","message","line","column","index","field",...} object.
  constructor(status, error) {
    super(error.message || `HTTP ${status}`);
    this.status = status;
    this.error = error;
    this.code = error.code || `HTTP_${status}`;
  }
}

// "SYNTAX_ERROR at line 1, column 8: near "FROM": syntax error"
export function describeError(e) {
  if (!(e instanceof ApiError)) return String((e && e.message) || e);
  const err = e.error;
  const where = [];
  if (err.line) where.push(`line ${err.line}, column ${err.column}`);
  if (err.index !== undefined) where.push(`event ${err.index}`);
  if (err.field) where.push(`field "${err.field}"`);
  return `${e.code}${where.length ? ` at ${where.join(", ")}` : ""}: ${e.message}`;
}

function withAuth(headers = {}) {
  const h = { ...headers };
  const token = getToken();
  if (token) h.Authorization = `Bearer ${token}`;
  return h;
}

// fetch() with the token; rejects with ApiError for an HTTP error. The caller reads the
// body of a successful response itself (result streams are read while they arrive).
export async function request(path, options = {}) {
  const res = await fetch(path, { ...options, headers: withAuth(options.headers) });
  if (res.ok) return res;
  const body = await res.json().catch(() => ({}));
  const err = new ApiError(res.status, body.error || {});
  if (res.status === 401) onUnauthorized();
  throw err;
}

// A JSON request and its JSON answer.
export async function api(path, options = {}) {
  const res = await request(path, options);
  return res.json();
}

// POST body as JSON, answer as JSON.
export function postJson(path, body) {
  return api(path, {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify(body),
  });
}

// Time one task may spend on parsing before it lets the page render and handle input.
const SLICE_MS = 8;

const yieldToPage = () => new Promise((resolve) => setTimeout(resolve, 0));

// Reads a response body of NDJSON and calls onMessage(object) for each line (heartbeats,
// the empty lines, are skipped), and onChunk() after each network chunk so that the caller
// can schedule one render for many rows. A large chunk is handled in slices of SLICE_MS,
// so that a fire-hose never blocks the page for long. Resolves when the stream ends;
// rejects when the connection breaks or is aborted.
export async function readNdjson(res, onMessage, onChunk = () => {}) {
  const reader = res.body.getReader();
  const decoder = new TextDecoder();
  let buffered = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    buffered += decoder.decode(value, { stream: true });
    const lines = buffered.split("\n");
    buffered = lines.pop();
    let sliceStart = performance.now();
    for (let i = 0; i < lines.length; i++) {
      if (lines[i].trim()) onMessage(JSON.parse(lines[i]));
      if ((i & 255) === 255 && performance.now() - sliceStart > SLICE_MS) {
        onChunk();
        await yieldToPage();
        sliceStart = performance.now();
      }
    }
    onChunk();
  }
  buffered += decoder.decode();
  if (buffered.trim()) onMessage(JSON.parse(buffered));
  onChunk();
}
