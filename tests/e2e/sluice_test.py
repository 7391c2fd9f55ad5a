"""sluice_test: the harness the end-to-end tests share (Python 3 standard library only).

It starts the real `sluice` binary (env SLUICE_BIN, else ./sluice) on a free loopback
port with a fresh data directory, talks to it over HTTP, and stops it.  The pieces:

  Server         one sluice process: start(), stop() (SIGTERM), kill() (SIGKILL),
                 restart() on the same data directory, request helpers
                 (post_sql, post_events, get_json, ...), and open_stream() for results.
  Response       status, headers, body of a plain request, with .json() and .error().
  ResultStream   an open streaming response (chunked NDJSON or SSE) read one line or
                 one event at a time with a socket timeout.  Tests wait for an
                 expected line; they never sleep to wait for results.
  SluiceTestCase a unittest.TestCase base: a server per test class (setUpClass), a
                 /health check after every test, helpers to assert API errors.
  main()         runs a test module; on a failure it prints the stderr of the servers
                 the failing test used, and exits non-zero.

With SLUICE_WRAPPER set (e.g. "valgrind --leak-check=full ..."), every server runs as
`$SLUICE_WRAPPER $SLUICE_BIN ...` (the wrapper must exec the binary in the same
process, as valgrind does), and every timeout is multiplied by SLUICE_TIMEOUT_SCALE
(default 1), since a wrapper slows the server down; tests bound by wall time skip
themselves then (`WRAPPER` is true).

Every server gets its own temporary directory (data/ and stderr.log), removed when the
server is closed unless SLUICE_KEEP_TMP is set.
"""

import http.client
import json
import os
import re
import select
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import unittest

HOST = "127.0.0.1"
WRAPPER = shlex.split(os.environ.get("SLUICE_WRAPPER", ""))  # command the binary runs under
TIMEOUT_SCALE = float(os.environ.get("SLUICE_TIMEOUT_SCALE") or 1)
START_TIMEOUT = 10.0 * TIMEOUT_SCALE  # seconds to wait for the "listening" line
STOP_TIMEOUT = 10.0 * TIMEOUT_SCALE  # seconds to wait for exit after SIGTERM
IO_TIMEOUT = 10.0 * TIMEOUT_SCALE  # socket timeout of every request and stream read
LISTEN_RE = re.compile(r"sluice listening on http://127\.0\.0\.1:(\d+)")

NDJSON = "application/x-ndjson"
SSE = "text/event-stream"


class HarnessError(Exception):
    """The harness could not do its job (binary missing, server did not start)."""


def sluice_bin():
    """Path of the binary under test: $SLUICE_BIN, else ./sluice."""
    return os.environ.get("SLUICE_BIN") or os.path.abspath("sluice")


def srcdir():
    """The source tree: $SLUICE_SRCDIR, else two levels above this file."""
    d = os.environ.get("SLUICE_SRCDIR")
    if d:
        return d
    return os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))


def check_binary():
    """Raises HarnessError with a clear message when the binary cannot be run."""
    path = sluice_bin()
    if not os.path.exists(path):
        raise HarnessError(
            "sluice binary not found at %s: build it (make sluice) or set SLUICE_BIN" % path)
    if not os.access(path, os.X_OK):
        raise HarnessError("sluice binary at %s is not executable" % path)


class Number(float):
    """A JSON real number that also keeps its text, so that a DECIMAL's digits can be
    compared exactly (12.30 is not 12.3); otherwise it is the float it reads as."""

    def __new__(cls, text):
        n = float.__new__(cls, text)
        n.text = text
        return n


def send_buffer_max():
    """The most a socket's send buffer grows to (tcp_wmem's maximum), 4 MB if unknown."""
    try:
        with open("/proc/sys/net/ipv4/tcp_wmem") as f:
            return int(f.read().split()[2])
    except (OSError, ValueError, IndexError):
        return 4 << 20


def loads(text):
    """json.loads, reals as Number."""
    return json.loads(text, parse_float=Number)


def dumps(v):
    """json.dumps that writes a Number as its text (json.dumps would write the float)."""
    if isinstance(v, Number):
        return v.text
    if isinstance(v, dict):
        return "{" + ", ".join("%s: %s" % (json.dumps(k), dumps(x)) for k, x in v.items()) + "}"
    if isinstance(v, list):
        return "[" + ", ".join(dumps(x) for x in v) + "]"
    return json.dumps(v)


class Response:
    """A complete HTTP response."""

    def __init__(self, status, headers, body):
        self.status = status
        self.headers = headers  # dict, lower-case names
        self.body = body  # bytes

    def header(self, name, default=None):
        return self.headers.get(name.lower(), default)

    def text(self):
        return self.body.decode("utf-8")

    def json(self):
        try:
            return loads(self.body.decode("utf-8"))
        except ValueError as e:
            raise AssertionError("response body is not JSON (%s): %r" % (e, self.body[:500]))

    def error(self):
        """The {"error":{...}} object of an error response (asserts the shape)."""
        doc = self.json()
        if not isinstance(doc, dict) or not isinstance(doc.get("error"), dict):
            raise AssertionError("expected {\"error\":{...}}, got %r" % (doc,))
        return doc["error"]

    def __repr__(self):
        return "<Response %d %r>" % (self.status, self.body[:300])


class ResultStream:
    """A streaming HTTP response read incrementally from a raw socket.

    Decodes chunked transfer encoding itself (so tests see the framing the server
    really sends), or reads to Content-Length / connection close.  Every read waits at
    most `timeout` seconds for data and raises AssertionError when none comes."""

    def __init__(self, port, method, path, body=None, headers=None, timeout=IO_TIMEOUT,
                 rcvbuf=None):
        self.timeout = timeout
        if rcvbuf:
            # A small receive buffer (set before connecting, so that the TCP window
            # follows it) makes a client that does not read look slow sooner.
            self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
            self.sock.settimeout(timeout)
            self.sock.connect((HOST, port))
        else:
            self.sock = socket.create_connection((HOST, port), timeout=timeout)
        hdrs = {"Host": "%s:%d" % (HOST, port)}
        hdrs.update(headers or {})
        if body is not None:
            if isinstance(body, str):
                body = body.encode("utf-8")
            hdrs["Content-Length"] = str(len(body))
        req = "%s %s HTTP/1.1\r\n" % (method, path)
        req += "".join("%s: %s\r\n" % kv for kv in hdrs.items()) + "\r\n"
        self.sock.sendall(req.encode("latin-1") + (body or b""))
        self.raw = b""  # received, not yet decoded
        self.data = b""  # decoded body, not yet consumed
        self.eof = False  # the body has ended (last chunk, length reached, or close)
        self.lines = []  # every line returned so far, for failure messages
        self._read_head()

    # --- plumbing --------------------------------------------------------------------

    def _recv(self):
        """Reads more raw bytes; False at connection close."""
        try:
            b = self.sock.recv(65536)
        except socket.timeout:
            raise AssertionError(
                "no data from the server within %.0f s; lines so far: %r"
                % (self.timeout, self.lines[-10:]))
        if not b:
            return False
        self.raw += b
        return True

    def _read_head(self):
        while b"\r\n\r\n" not in self.raw:
            if not self._recv():
                raise AssertionError("connection closed before the response head: %r" % self.raw)
        head, self.raw = self.raw.split(b"\r\n\r\n", 1)
        lines = head.decode("latin-1").split("\r\n")
        parts = lines[0].split(" ", 2)
        self.status = int(parts[1])
        self.headers = {}
        for line in lines[1:]:
            k, _, v = line.partition(":")
            self.headers[k.strip().lower()] = v.strip()
        self.chunked = "chunked" in self.headers.get("transfer-encoding", "").lower()
        self.remaining = None
        if not self.chunked and "content-length" in self.headers:
            self.remaining = int(self.headers["content-length"])
        self._decode()

    def _decode(self):
        """Moves whatever complete body bytes self.raw holds into self.data."""
        if self.chunked:
            while not self.eof:
                i = self.raw.find(b"\r\n")
                if i < 0:
                    return
                size_text = self.raw[:i].split(b";")[0].strip()
                try:
                    size = int(size_text, 16)
                except ValueError:
                    raise AssertionError("bad chunk size line %r" % self.raw[:i])
                if size == 0:
                    # The last chunk; trailers (if any) end with an empty line.
                    rest = self.raw[i + 2:]
                    if rest.startswith(b"\r\n") or b"\r\n\r\n" in rest:
                        self.eof = True
                    return
                if len(self.raw) < i + 2 + size + 2:
                    return
                chunk = self.raw[i + 2:i + 2 + size]
                if self.raw[i + 2 + size:i + 4 + size] != b"\r\n":
                    raise AssertionError("chunk not followed by CRLF")
                self.data += chunk
                self.raw = self.raw[i + 4 + size:]
        elif self.remaining is not None:
            take = self.raw[:self.remaining]
            self.data += take
            self.raw = self.raw[len(take):]
            self.remaining -= len(take)
            if self.remaining == 0:
                self.eof = True
        else:
            self.data += self.raw
            self.raw = b""

    def _more(self):
        """Waits for more body data; False when the body has ended."""
        if self.eof:
            return False
        if not self._recv():
            self.eof = True
            if self.chunked:
                raise AssertionError("connection closed inside a chunked body")
            return False
        self._decode()
        return True

    # --- reading ---------------------------------------------------------------------

    def readline(self):
        """The next line of the body without its '\\n', or None at the end of the body."""
        while b"\n" not in self.data:
            if not self._more():
                if self.data:
                    line, self.data = self.data, b""
                    self.lines.append(line.decode("utf-8"))
                    return self.lines[-1]
                return None
        line, self.data = self.data.split(b"\n", 1)
        text = line.decode("utf-8")
        if text.endswith("\r"):
            text = text[:-1]
        self.lines.append(text)
        return text

    def read_body(self):
        """Everything left of the body (waits for its end)."""
        while self._more():
            pass
        out, self.data = self.data, b""
        return out

    def read_obj(self):
        """The next NDJSON object, skipping empty lines (heartbeats); None at the end."""
        while True:
            line = self.readline()
            if line is None:
                return None
            if line.strip() == "":
                continue
            try:
                return loads(line)
            except ValueError:
                raise AssertionError("NDJSON line is not JSON: %r" % line)

    def read_last_obj(self):
        """Reads NDJSON objects to the end of the stream; the last one (None when none)."""
        last = None
        while True:
            obj = self.read_obj()
            if obj is None:
                return last
            last = obj

    def expect_obj(self):
        obj = self.read_obj()
        if obj is None:
            raise AssertionError("result stream ended; lines so far: %r" % self.lines[-10:])
        return obj

    def read_header(self):
        """Reads the first line and returns the "header" object inside it."""
        obj = self.expect_obj()
        if "header" not in obj:
            raise AssertionError("first line is not a header: %r" % (obj,))
        return obj["header"]

    def read_rows(self, n):
        """Reads n {"seq":..,"row":..} lines; returns the objects (fails on anything else)."""
        out = []
        while len(out) < n:
            obj = self.expect_obj()
            if "row" not in obj:
                raise AssertionError("expected a row line (%d of %d read), got %r"
                                     % (len(out), n, obj))
            out.append(obj)
        return out

    def read_event(self):
        """The next Server-Sent Event as {"event","data","id"} (data parsed as JSON);
        comment lines (heartbeats) are skipped; None at the end of the body."""
        ev = {}
        data = []
        while True:
            line = self.readline()
            if line is None:
                return None
            if line == "":
                if data or ev:
                    ev["data"] = loads("\n".join(data)) if data else None
                    return ev
                continue
            if line.startswith(":"):
                continue
            field, _, value = line.partition(":")
            if value.startswith(" "):
                value = value[1:]
            if field == "data":
                data.append(value)
            elif field in ("event", "id", "retry"):
                ev[field] = value
            else:
                raise AssertionError("unknown SSE field %r in line %r" % (field, line))

    def expect_event(self):
        ev = self.read_event()
        if ev is None:
            raise AssertionError("event stream ended; lines so far: %r" % self.lines[-10:])
        return ev

    def json(self):
        """For an error answer: the whole body parsed as JSON."""
        return loads(self.read_body().decode("utf-8"))

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


class Server:
    """One sluice process on a fresh temporary directory."""

    def __init__(self, extra_args=None, env=None):
        check_binary()
        self.extra_args = list(extra_args or [])
        self.extra_env = dict(env or {})  # set in the server's environment
        self.tmp = tempfile.mkdtemp(prefix="sluice-e2e-")
        self.data_dir = os.path.join(self.tmp, "data")
        os.mkdir(self.data_dir)
        self.proc = None
        self.port = None
        self.stderr_path = None
        self.logs = []  # stderr files of every run, oldest first
        self.stdout_lines = []
        self.runs = 0

    # --- lifecycle ---------------------------------------------------------------------

    def start(self):
        """Starts the binary and waits for its `sluice listening on` line."""
        self.runs += 1
        self.stderr_path = os.path.join(self.tmp, "stderr.%d.log" % self.runs)
        self.logs.append(self.stderr_path)
        args = WRAPPER + [sluice_bin(), "--listen", "%s:0" % HOST, "--data", self.data_dir]
        args += self.extra_args
        # The server also reads SLUICE_* variables; only the flags given here count.
        env = {k: v for k, v in os.environ.items() if not k.startswith("SLUICE_")}
        env.update(self.extra_env)
        with open(self.stderr_path, "wb") as err:
            self.proc = subprocess.Popen(args, stdin=subprocess.DEVNULL, env=env,
                                         stdout=subprocess.PIPE, stderr=err)
        deadline = time.monotonic() + START_TIMEOUT
        buf = b""
        fd = self.proc.stdout.fileno()
        while True:
            m = LISTEN_RE.search(buf.decode("utf-8", "replace"))
            if m:
                self.port = int(m.group(1))
                break
            left = deadline - time.monotonic()
            if left <= 0:
                self._abort("no 'sluice listening on http://127.0.0.1:PORT' line on stdout "
                            "within %.0f s (is stdout flushed?)" % START_TIMEOUT)
            ready, _, _ = select.select([fd], [], [], left)
            if ready:
                b = os.read(fd, 4096)
                if not b:
                    self.proc.wait(timeout=STOP_TIMEOUT)
                    self._abort("sluice exited with status %s before listening"
                                % self.proc.returncode)
                buf += b
        self.stdout_lines = buf.decode("utf-8", "replace").splitlines()
        # Keep draining stdout so that the server never blocks on a full pipe.
        t = threading.Thread(target=self._drain, args=(self.proc,), daemon=True)
        t.start()
        return self

    def _drain(self, proc):
        for line in proc.stdout:
            self.stdout_lines.append(line.decode("utf-8", "replace").rstrip("\n"))

    def _abort(self, why):
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        raise HarnessError("%s\n%s" % (why, self.stderr_tail()))

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def stop(self):
        """SIGTERM, then waits for the exit; returns the exit status."""
        if not self.alive():
            return self.proc.returncode if self.proc else None
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise AssertionError("sluice did not exit within %.0f s of SIGTERM\n%s"
                                 % (STOP_TIMEOUT, self.stderr_tail()))
        return self.proc.returncode

    def kill(self):
        """SIGKILL (a crash, as far as the server can tell); returns when it is gone."""
        if self.alive():
            self.proc.kill()
            self.proc.wait()

    def restart(self, hard=False):
        """Stops (SIGTERM, or SIGKILL when hard) and starts again on the same data."""
        if hard:
            self.kill()
        else:
            self.stop()
        return self.start()

    def close(self):
        """Stops the server (SIGKILL if SIGTERM does not work) and removes its files."""
        try:
            if self.alive():
                try:
                    self.stop()
                except AssertionError:
                    pass
        finally:
            if not os.environ.get("SLUICE_KEEP_TMP"):
                self._kept_stderr = self.stderr_tail()
                shutil.rmtree(self.tmp, ignore_errors=True)

    def stderr_tail(self, limit=8000):
        """The server's stderr (all runs), for failure reports; kept in memory once
        the server is closed and its directory removed."""
        if getattr(self, "_kept_stderr", None) is not None:
            return self._kept_stderr
        out = []
        for path in self.logs:
            try:
                with open(path, "rb") as f:
                    text = f.read().decode("utf-8", "replace")
            except OSError:
                continue
            if len(text) > limit:
                text = "...\n" + text[-limit:]
            out.append("--- sluice stderr (%s) ---\n%s" % (os.path.basename(path), text))
        return "\n".join(out) if out else "(no stderr captured)"

    # --- requests ------------------------------------------------------------------------

    def request(self, method, path, body=None, headers=None, timeout=IO_TIMEOUT):
        """One request on its own connection; returns a Response."""
        if isinstance(body, str):
            body = body.encode("utf-8")
        conn = http.client.HTTPConnection(HOST, self.port, timeout=timeout)
        try:
            conn.request(method, path, body=body, headers=headers or {})
            r = conn.getresponse()
            data = r.read()
            hdrs = {k.lower(): v for k, v in r.getheaders()}
            return Response(r.status, hdrs, data)
        finally:
            conn.close()

    def raw_request(self, data, timeout=IO_TIMEOUT):
        """Sends raw bytes (a whole request, possibly malformed or cut short) and reads
        the answer until the server closes or answers completely.  Errors while sending
        are ignored: a server may answer (e.g. 413) before reading the whole body."""
        s = socket.create_connection((HOST, self.port), timeout=timeout)
        try:
            try:
                s.sendall(data)
            except OSError:
                pass
            try:
                s.shutdown(socket.SHUT_WR)
            except OSError:
                pass
            out = b""
            while True:
                try:
                    b = s.recv(65536)
                except (ConnectionResetError, socket.timeout):
                    break
                if not b:
                    break
                out += b
            return out
        finally:
            s.close()

    def get(self, path, headers=None):
        return self.request("GET", path, headers=headers)

    def get_json(self, path, status=200):
        r = self.get(path)
        if r.status != status:
            raise AssertionError("GET %s: expected %d, got %r" % (path, status, r))
        return r.json()

    def post_sql(self, sql, path="/v1/statements"):
        """POSTs SQL text (Content-Type text/plain); returns the Response."""
        return self.request("POST", path, sql, {"Content-Type": "text/plain"})

    def post_json(self, path, obj):
        return self.request("POST", path, json.dumps(obj), {"Content-Type": "application/json"})

    def statements(self, sql):
        """POST /v1/statements that must succeed; returns the JSON array."""
        r = self.post_sql(sql)
        if r.status != 200:
            raise AssertionError("statements %r: expected 200, got %r" % (sql, r))
        doc = r.json()
        if not isinstance(doc, list):
            raise AssertionError("statements answer is not a JSON array: %r" % (doc,))
        return doc

    def post_events(self, stream, events, ndjson=False):
        """POSTs events (a dict, a list, or with ndjson=True a list sent as NDJSON)."""
        path = "/v1/streams/%s/events" % stream
        if ndjson:
            body = "".join(dumps(e) + "\n" for e in events)
            return self.request("POST", path, body, {"Content-Type": NDJSON})
        return self.request("POST", path, dumps(events), {"Content-Type": "application/json"})

    def ingest(self, stream, events, ndjson=False):
        """post_events that must succeed with {"accepted": len(events)}."""
        r = self.post_events(stream, events, ndjson)
        n = 1 if isinstance(events, dict) else len(events)
        if r.status != 200 or r.json() != {"accepted": n}:
            raise AssertionError("ingest into %s: expected 200 {\"accepted\": %d}, got %r"
                                 % (stream, n, r))
        return r

    def create_query(self, sql, name=None, body_json=True):
        """POST /v1/queries that must answer 201; returns the query id."""
        if body_json:
            obj = {"sql": sql}
            if name is not None:
                obj["name"] = name
            r = self.post_json("/v1/queries", obj)
        else:
            r = self.post_sql(sql, "/v1/queries")
        if r.status != 201:
            raise AssertionError("POST /v1/queries %r: expected 201, got %r" % (sql, r))
        qid = r.json().get("id")
        if not isinstance(qid, str) or not qid:
            raise AssertionError("POST /v1/queries: no id in %r" % (r.json(),))
        return qid

    def batch(self, sql):
        """POST /v1/query (a batch SELECT) that must succeed; returns the JSON object."""
        r = self.post_sql(sql, "/v1/query")
        if r.status != 200:
            raise AssertionError("batch %r: expected 200, got %r" % (sql, r))
        return r.json()

    def count(self, stream):
        """Number of stored events of a stream, by a batch COUNT(*)."""
        doc = self.batch("SELECT COUNT(*) AS N FROM %s" % stream)
        rows = doc["rows"]
        return rows[0]["N"] if rows else 0

    def query_info(self, qid):
        return self.get_json("/v1/queries/%s" % qid)

    def query_stat(self, qid, name):
        """A statistic of GET /v1/queries/{id} (top level or under "stats")."""
        return stat(self.query_info(qid), name)

    def open_stream(self, path, accept=None, method="GET", body=None, headers=None,
                    timeout=IO_TIMEOUT, rcvbuf=None):
        hdrs = dict(headers or {})
        if accept:
            hdrs["Accept"] = accept
        return ResultStream(self.port, method, path, body, hdrs, timeout, rcvbuf)

    def results(self, qid, query="", sse=False, headers=None, rcvbuf=None):
        """Opens GET /v1/queries/{id}/results[?query]; asserts 200."""
        path = "/v1/queries/%s/results%s" % (qid, ("?" + query) if query else "")
        s = self.open_stream(path, accept=SSE if sse else None, headers=headers,
                             rcvbuf=rcvbuf)
        if s.status != 200:
            body = s.read_body()
            s.close()
            raise AssertionError("GET %s: expected 200, got %d %r" % (path, s.status, body))
        return s


def read_answer(sock):
    """Reads the whole answer of a Connection: close request from sock, closes sock and
    parses the answer; raises OSError (or AssertionError for a cut answer) when the
    server went away."""
    data = b""
    while True:
        b = sock.recv(65536)
        if not b:
            break
        data += b
    sock.close()
    return parse_response(data)


def parse_response(data):
    """Parses raw bytes of one HTTP response (as raw_request returns them) into a
    Response; the body is de-chunked.  Raises AssertionError when there is none."""
    if b"\r\n\r\n" not in data:
        raise AssertionError("no complete HTTP response in %r" % data[:300])
    head, body = data.split(b"\r\n\r\n", 1)
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split(" ", 2)[1])
    headers = {}
    for line in lines[1:]:
        k, _, v = line.partition(":")
        headers[k.strip().lower()] = v.strip()
    if "chunked" in headers.get("transfer-encoding", "").lower():
        out = b""
        while True:
            i = body.find(b"\r\n")
            if i < 0:
                break
            size = int(body[:i].split(b";")[0], 16)
            if size == 0:
                break
            out += body[i + 2:i + 2 + size]
            body = body[i + 4 + size:]
        body = out
    elif "content-length" in headers:
        body = body[:int(headers["content-length"])]
    return Response(status, headers, body)


def wait_for(read, expect, timeout=15.0):
    """Calls read() until it returns expect or timeout seconds pass; returns its last
    answer.  For what the server does on its own schedule (it learns that a client
    closed when its thread reads the socket; retention runs in the background)."""
    deadline = time.monotonic() + timeout
    while True:
        got = read()
        if got == expect or time.monotonic() > deadline:
            return got
        time.sleep(0.05)


def stat(info, name):
    """A statistic from a query status object: top level, or under "stats"."""
    if name in info:
        return info[name]
    if isinstance(info.get("stats"), dict) and name in info["stats"]:
        return info["stats"][name]
    raise AssertionError("query status has no %r: %r" % (name, info))


def query_list(doc):
    """The list of queries in GET /v1/queries: a bare array or {"queries": [...]}."""
    if isinstance(doc, list):
        return doc
    if isinstance(doc, dict) and isinstance(doc.get("queries"), list):
        return doc["queries"]
    raise AssertionError("GET /v1/queries: expected a list of queries, got %r" % (doc,))


def col_names(columns):
    """Names of a columns list ([{"name","type"}, ...])."""
    return [c["name"] for c in columns]


# --- value comparison -------------------------------------------------------------------

def value_matches(exp, act):
    """Expected vs actual JSON value: an expected integer must come back as an integer;
    an expected real number matches any number of equal value; booleans and null
    exactly; strings exactly."""
    if isinstance(exp, bool) or exp is None or isinstance(act, bool):
        return exp is act or (exp == act and type(exp) is type(act))
    if isinstance(exp, int):
        return isinstance(act, int) and act == exp
    if isinstance(exp, float):
        return isinstance(act, (int, float)) and float(act) == exp
    return type(exp) is type(act) and exp == act


def row_matches(exp, act):
    if not isinstance(act, dict) or set(exp) != set(act):
        return False
    return all(value_matches(exp[k], act[k]) for k in exp)


def multiset_diff(expected, actual):
    """Greedy matching of rows; returns (missing, unexpected)."""
    left = list(actual)
    missing = []
    for e in expected:
        for i, a in enumerate(left):
            if row_matches(e, a):
                del left[i]
                break
        else:
            missing.append(e)
    return missing, left


# --- unittest glue --------------------------------------------------------------------------

class SluiceTestCase(unittest.TestCase):
    """A test class with one server (started in setUpClass, closed in tearDownClass).
    Subclasses may set server_args.  After every test the server must still answer
    GET /health."""

    server_args = []
    server = None

    @classmethod
    def setUpClass(cls):
        cls.server = Server(cls.server_args)
        try:
            cls.server.start()
        except BaseException:
            cls.server.close()
            raise

    @classmethod
    def tearDownClass(cls):
        if cls.server:
            cls.server.close()

    def servers(self):
        """Servers whose stderr to print when this test fails."""
        out = [self.server] if self.server else []
        return out + list(getattr(self, "extra_servers", []))

    def new_server(self, args=None, env=None):
        """A further server for this test only (closed at the end of the test); env adds
        variables to its environment."""
        s = Server(args, env)
        if not hasattr(self, "extra_servers"):
            self.extra_servers = []
        self.extra_servers.append(s)
        self.addCleanup(s.close)
        return s.start()

    def tearDown(self):
        s = self.server
        if s is not None and s.runs and s.proc is not None:
            self.assertHealthy(s)

    def assertHealthy(self, server=None):
        """The server is alive and answers GET /health with {"status":"ok"}."""
        server = server or self.server
        if not server.alive():
            self.fail("sluice died (exit status %s)" % server.proc.returncode)
        r = server.get("/health")
        self.assertEqual((r.status, r.json()), (200, {"status": "ok"}), "GET /health")

    def assertApiError(self, r, status, code, line=None, column=None, server=None):
        """Asserts an error answer: HTTP status, a JSON {"error":{...}} body with this
        code and a message, and the SQL position when given; then that the server
        still answers GET /health."""
        self.assertEqual(r.status, status, "status of %r" % (r,))
        ctype = r.header("content-type", "").split(";")[0].strip()
        self.assertEqual(ctype, "application/json", "Content-Type of an error answer")
        err = r.error()
        self.assertEqual(err.get("code"), code, "error code in %r" % (err,))
        self.assertIsInstance(err.get("message"), str, "error message in %r" % (err,))
        self.assertTrue(err["message"], "empty error message")
        if line is not None:
            self.assertEqual(err.get("line"), line, "error line in %r" % (err,))
        if column is not None:
            self.assertEqual(err.get("column"), column, "error column in %r" % (err,))
        if server or self.server:
            self.assertHealthy(server)
        return err

    def assertRowsEqual(self, expected, actual, ordered, what="rows"):
        if ordered:
            ok = len(expected) == len(actual) and all(
                row_matches(e, a) for e, a in zip(expected, actual))
            if not ok:
                self.fail("%s differ (in order)\nexpected:\n%s\ngot:\n%s"
                          % (what, fmt_rows(expected), fmt_rows(actual)))
        else:
            missing, extra = multiset_diff(expected, actual)
            if missing or extra:
                self.fail("%s differ (any order)\nmissing:\n%s\nunexpected:\n%s\ngot:\n%s"
                          % (what, fmt_rows(missing), fmt_rows(extra), fmt_rows(actual)))


def fmt_rows(rows):
    return "\n".join("  " + json.dumps(r) for r in rows) or "  (none)"


class ServerPerTestCase(SluiceTestCase):
    """A test class with no class server: each test starts its own with new_server(),
    and those are the servers whose stderr a failure prints."""

    @classmethod
    def setUpClass(cls):
        check_binary()

    @classmethod
    def tearDownClass(cls):
        pass


class _Result(unittest.TextTestResult):
    """Prints the servers' stderr under every failing or erroring test."""

    def _dump(self, test):
        servers = []
        if isinstance(test, SluiceTestCase):
            servers = test.servers()
        elif hasattr(test, "servers"):  # a failed setUpClass: unittest passes a stand-in
            servers = test.servers()
        for s in servers:
            if s is not None:
                self.stream.writeln(s.stderr_tail())
        self.stream.flush()

    def addFailure(self, test, err):
        super().addFailure(test, err)
        self._dump(test)

    def addError(self, test, err):
        super().addError(test, err)
        self._dump(test)


def main(module="__main__"):
    """Runs the tests of a module; exits 0 when all pass, 1 otherwise (99 when the
    binary is missing, which automake reports as a hard error)."""
    try:
        check_binary()
    except HarnessError as e:
        sys.stderr.write("error: %s\n" % e)
        sys.exit(99)
    prog = unittest.main(module=module, exit=False, verbosity=2,
                         testRunner=unittest.TextTestRunner(resultclass=_Result,
                                                            verbosity=2))
    sys.exit(0 if prog.result.wasSuccessful() else 1)
