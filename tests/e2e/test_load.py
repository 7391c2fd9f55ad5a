#!/usr/bin/env python3
"""Load test (SPEC section 6, docs/guarantees.md): many writers and hundreds of result
stream subscribers at once, on loopback, for a bounded time, with fixed seeds.

Writers are threads that post NDJSON batches with an Idempotency-Key each, as a careful
client does: `Expect: 100-continue`, a 429 answer retried after its Retry-After, a lost
connection retried on a new one.  A small --max-pending-bodies makes the 429s happen.

Subscribers (one thread, non-blocking sockets) follow three persistent queries:
  normal    read everything (NDJSON);
  sse       read everything as Server-Sent Events;
  stalled   never read while the writers run (a small SO_RCVBUF set before connecting);
  vanish    close the socket abruptly after a chosen number of rows (some with a reset);
  resume    opened when a vanishing one goes, with ?from=its last seq (NDJSON) or
            Last-Event-ID (SSE), as a client that reconnects does.
A small --subscriber-buffer makes the cut-offs happen quickly.

Afterwards: every acknowledged event is stored once (COUNT, COUNT_DISTINCT, and each
writer's set of ids), every subscriber that read saw a gap-free run of seqs whose lines
are byte for byte the query's output (read again with ?from=0), every stalled one was
cut off with an OVERLOADED line after a gap-free run or is still connected with
everything (a reader that the loaded machine made too slow for its buffer is cut off
the same way, reconnects with ?from= its last seq, and the reconnect must carry on gap-free
to the end), the server's resident memory (VmRSS, sampled during the run) stayed under
the bound stated below, and /health answers."""

import json
import os
import random
import selectors
import socket
import struct
import sys
import threading
import time
import unittest
import zlib

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import sluice_test as st  # noqa: E402

SEED = 4242
WRITERS = 12
BATCH = 40  # events per request
MAX_RECONNECTS = 50  # per writer: a server that stopped answering fails the test
MAX_BATCHES = 60  # per writer: at most 28,800 events, well within the kept output
RUN_S = 20.0  # the writers' schedule: MAX_BATCHES batches spread over this long
BURST = 5  # a writer sends its batches in bursts of this many, all writers at once
DRAIN_S = 60.0  # then every reading subscriber must reach the last seq within this
SUB_BUFFER = 64 * 1024  # --subscriber-buffer
STALLED_RCVBUF = 4096
PAD = 240  # bytes of padding per event: LOAD_ROWS's output passes the kernel's buffers
# Resident memory bound: the baseline (after setup, every subscriber connected) plus
# per subscriber its buffer and MHD's 64 KiB read block twice over, plus 64 MiB for the
# queries' kept output (28,800 changes each), SQLite's cache, the pending bodies and the
# allocator.  Measured peaks: 36 MiB without sanitizers (baseline 12 MiB), 105 MiB
# with ASan (baseline 38 MiB), against bounds of 114 and 140 MiB.
RSS_PER_SUB = SUB_BUFFER + 2 * 64 * 1024
RSS_SLACK = 64 * 1024 * 1024

SCHEMA = ("CREATE STREAM ev (w INT, id BIGINT, v INT, tag VARCHAR, pad VARCHAR) "
          "WITH (RETENTION='3650 DAYS');")
QUERIES = {
    "LOAD_ROWS": "SELECT w, id, v, tag, pad FROM ev EMIT CHANGES",
    "LOAD_AGG": "SELECT w, COUNT(*) AS c, SUM(v) AS s FROM ev GROUP BY w EMIT CHANGES",
    "LOAD_FINAL": ("SELECT w, COUNT(*) AS c FROM ev WINDOW TUMBLING (SIZE 1 SECOND, "
                   "GRACE PERIOD 2 SECONDS) GROUP BY w EMIT FINAL"),
}
# Subscribers per query and kind: fewer readers of the wide rows, so that this test's
# one reading thread keeps up.
MIX = {
    "LOAD_ROWS": {"normal": 6, "sse": 2, "stalled": 24, "vanish": 12},
    "LOAD_AGG": {"normal": 30, "sse": 10, "stalled": 12, "vanish": 24},
    "LOAD_FINAL": {"normal": 40, "sse": 10, "stalled": 8, "vanish": 24},
}


# --- writers --------------------------------------------------------------------------------

class Writer(threading.Thread):
    """Posts MAX_BATCHES NDJSON batches on a schedule over RUN_S, each until acknowledged."""

    def __init__(self, port, w, start):
        super().__init__(daemon=True)
        self.port, self.w, self.start_time = port, w, start
        self.rng = random.Random(SEED * 100 + w)
        self.sock = None
        self.acked = set()  # ids of acknowledged events
        self.batches = 0
        self.busy = 0  # 429 answers
        self.reconnects = 0
        self.replayed = 0
        self.error = None

    def events(self, b):
        out = []
        for j in range(BATCH):
            i = self.w * 1000000 + b * BATCH + j
            out.append({"ROWTIME": 1000000 + b * 250 + j, "W": self.w, "ID": i,
                        "V": self.rng.randrange(1000), "TAG": "t%d" % self.rng.randrange(50),
                        "PAD": chr(97 + self.rng.randrange(26)) * PAD})
        return out

    def connect(self):
        self.close()
        self.sock = socket.create_connection((st.HOST, self.port), timeout=st.IO_TIMEOUT)
        self.buf = b""

    def close(self):
        if self.sock:
            self.sock.close()
            self.sock = None

    def read_response(self):
        """One response (head and Content-Length body) from the kept connection."""
        while b"\r\n\r\n" not in self.buf:
            b = self.sock.recv(65536)
            if not b:
                raise ConnectionResetError("closed before an answer")
            self.buf += b
        head, self.buf = self.buf.split(b"\r\n\r\n", 1)
        lines = head.decode("latin-1").split("\r\n")
        status = int(lines[0].split(" ", 2)[1])
        hdrs = {}
        for line in lines[1:]:
            k, _, v = line.partition(":")
            hdrs[k.strip().lower()] = v.strip()
        n = int(hdrs.get("content-length", "0"))
        while len(self.buf) < n:
            b = self.sock.recv(65536)
            if not b:
                raise ConnectionResetError("closed inside an answer")
            self.buf += b
        body, self.buf = self.buf[:n], self.buf[n:]
        if "close" in hdrs.get("connection", "").lower():
            self.close()
        return st.Response(status, hdrs, body)

    def post(self, body, key):
        """Sends one request with Expect: 100-continue; returns the final Response."""
        if not self.sock:
            self.connect()
        head = ("POST /v1/streams/ev/events HTTP/1.1\r\nHost: x\r\nContent-Type: %s\r\n"
                "Idempotency-Key: %s\r\nContent-Length: %d\r\nExpect: 100-continue\r\n\r\n"
                % (st.NDJSON, key, len(body)))
        self.sock.sendall(head.encode())
        r = self.read_response()
        if r.status == 100:
            self.sock.sendall(body)
            r = self.read_response()
        elif self.sock:
            # A final answer before the body: the body is not read, so the connection
            # cannot carry another request.
            self.close()
        return r

    def run(self):
        try:
            for b in range(MAX_BATCHES):
                # The load's shape, not a wait for a result: every BURST batches all
                # writers send at once (which makes 429s), then pause if ahead.
                due = self.start_time + (b // BURST) * BURST * RUN_S / MAX_BATCHES
                if due > time.monotonic():
                    time.sleep(due - time.monotonic())
                evs = self.events(b)
                body = "".join(json.dumps(e) + "\n" for e in evs).encode()
                key = "w%d-b%d" % (self.w, b)
                while True:
                    try:
                        r = self.post(body, key)
                    except OSError as e:
                        self.reconnects += 1
                        self.close()
                        if self.reconnects > MAX_RECONNECTS:
                            raise AssertionError("writer %d: %d connections lost, the last "
                                                 "with %r" % (self.w, self.reconnects, e))
                        continue
                    if r.status == 429:
                        self.busy += 1
                        # As a client does: wait as long as the server asks.
                        time.sleep(float(r.header("retry-after")))
                        continue
                    if r.status != 200 or r.json() != {"accepted": BATCH}:
                        raise AssertionError("writer %d batch %d: %r" % (self.w, b, r))
                    if r.header("idempotent-replayed") == "true":
                        self.replayed += 1
                    break
                self.acked.update(e["ID"] for e in evs)
                self.batches += 1
        except BaseException as e:  # reported by the test
            self.error = e
        finally:
            self.close()


# --- subscribers ----------------------------------------------------------------------------

class Sub:
    """One result stream read from a non-blocking socket; keeps the seqs it saw (first,
    last, gaps) and a CRC of the row lines, not the lines themselves."""

    def __init__(self, server, qid, kind, sse=False, from_seq=None, rcvbuf=None,
                 vanish_after=None, rst=False):
        self.qid, self.kind, self.sse = qid, kind, sse
        self.from_seq = from_seq
        self.vanish_after, self.rst = vanish_after, rst
        query, headers = "", None
        if from_seq is not None:
            if sse:
                headers = {"Last-Event-ID": str(from_seq)}
            else:
                query = "from=%d" % from_seq
        self.rs = server.results(qid, query, sse=sse, headers=headers, rcvbuf=rcvbuf)
        self.rs.sock.setblocking(False)
        self.header = False
        self.first = self.last = None
        self.rows = 0
        self.crc = 0
        self.problems = []  # gaps, lines out of place
        self.error = None  # the {"error"} object of a last line
        self.ended = False  # the body ended (the server closed the stream)
        self.gone = False  # we closed it
        self.ev = {}  # SSE event being read
        self.resumed_by = None  # the Sub that took over after an OVERLOADED cut-off

    def fileno(self):
        return self.rs.sock.fileno()

    def on_readable(self):
        """Reads what is there; False when the socket is done with."""
        try:
            b = self.rs.sock.recv(262144)
        except (BlockingIOError, InterruptedError):
            return True
        except ConnectionResetError:
            b = b""
        if not b:
            self.ended = True
            if self.rs.chunked and not self.rs.eof:
                self.problems.append("connection closed inside the chunked body")
        else:
            self.rs.raw += b
            self.rs._decode()
        self.lines()
        if self.rs.eof:
            self.ended = True
        return not self.ended and not self.gone

    def lines(self):
        data = self.rs.data
        start = 0
        while not self.gone:
            i = data.find(b"\n", start)
            if i < 0:
                break
            line = data[start:i]
            start = i + 1
            if self.sse:
                self.sse_line(line)
            else:
                self.ndjson_line(line)
        self.rs.data = data[start:]

    def ndjson_line(self, line):
        if not line:
            return  # a heartbeat
        if line.startswith(b'{"seq":'):
            self.row(int(line[7:line.index(b",")]), line)
        elif line.startswith(b'{"header":'):
            self.on_header()
        elif line.startswith(b'{"error":'):
            self.on_error(json.loads(line)["error"])
        else:
            self.problems.append("unexpected line %r" % line[:100])

    def sse_line(self, line):
        if line.startswith(b":"):
            return  # a heartbeat comment
        if line:
            field, _, value = line.partition(b": ")
            self.ev[field] = value
            return
        ev, self.ev = self.ev, {}
        if not ev:
            return
        kind = ev.get(b"event")
        if kind in (b"row", b"delete"):
            seq = int(ev[b"data"][7:ev[b"data"].index(b",")])
            if ev.get(b"id") != str(seq).encode():
                self.problems.append("SSE id %r for seq %d" % (ev.get(b"id"), seq))
            self.row(seq, ev[b"data"])
        elif kind == b"header":
            self.on_header()
        elif kind == b"error":
            self.on_error(json.loads(ev[b"data"])["error"])
        else:
            self.problems.append("unexpected event %r" % ev)

    def on_header(self):
        if self.header or self.rows:
            self.problems.append("a header after the first line")
        self.header = True

    def on_error(self, err):
        if self.error:
            self.problems.append("a second error line")
        self.error = err

    def row(self, seq, line):
        if not self.header or self.error:
            self.problems.append("row seq %d before the header or after the error" % seq)
        if self.last is None:
            self.first = seq
        elif seq != self.last + 1:
            self.problems.append("seq %d after %d" % (seq, self.last))
        self.last = seq
        self.rows += 1
        self.crc = zlib.crc32(line, self.crc)
        if self.vanish_after is not None and self.rows >= self.vanish_after:
            self.vanish()

    def vanish(self):
        """Closes the socket abruptly (with a reset when self.rst), mid-stream."""
        if self.rst:
            self.rs.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                                    struct.pack("ii", 1, 0))
        self.rs.sock.close()
        self.gone = True

    def close(self):
        if not self.gone:
            self.rs.close()
            self.gone = True


def tcp_wmem_max():
    """The largest send buffer the kernel grows a TCP socket to (bytes)."""
    try:
        with open("/proc/sys/net/ipv4/tcp_wmem") as f:
            return int(f.read().split()[2])
    except (OSError, IndexError, ValueError):
        return 4 * 1024 * 1024


def vm_rss(pid):
    """Resident memory of a process in bytes (VmRSS of /proc/PID/status)."""
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise AssertionError("no VmRSS for pid %d" % pid)


def reference(server, qid, last):
    """The query's output lines 1..last, read with ?from=0 (NDJSON)."""
    out = []
    with server.results(qid, "from=0") as sub:
        sub.read_header()
        while len(out) < last:
            line = sub.readline()
            if line is None or line.startswith('{"error"'):
                raise AssertionError("?from=0 of %s ended after %d of %d rows: %r"
                                     % (qid, len(out), last, line))
            if line:
                out.append(line.encode())
    return out


class ResumeFarBehindTest(st.SluiceTestCase):
    """Regression: ?from=SEQ (and SSE Last-Event-ID) used to queue every kept change
    at once, so a client resuming further back than --subscriber-buffer was cut off
    with OVERLOADED at once although the changes were kept.  The kept changes are now
    copied as the client reads, and it goes live after the last one."""

    server_args = ["--subscriber-buffer", "4K"]
    ROWS = 1000  # about 30 bytes a line: ~29 KiB of output, seven times the buffer

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.server.statements("CREATE STREAM rs (id INT) WITH (RETENTION='3650 DAYS');")
        cls.server.create_query("SELECT id FROM rs EMIT CHANGES", name="RS")
        cls.server.create_query("SELECT COUNT(*) AS c FROM rs WINDOW TUMBLING (SIZE 1 SECOND) "
                                "EMIT FINAL", name="RS_LATE")
        # The first event moves the watermark past window 0: the rest are late for it.
        cls.server.ingest("rs", [{"ROWTIME": 5000, "ID": -1}])
        cls.server.ingest("rs", [{"ROWTIME": 1, "ID": i} for i in range(cls.ROWS)])

    def expect(self, sub, first, last):
        for seq in range(first, last + 1):
            obj = sub.expect_obj()
            self.assertEqual(obj, {"seq": seq, "row": {"ID": seq - 2}}, "seq %d" % seq)

    def test_from_zero_gets_everything_then_live(self):
        s = self.server
        n = self.ROWS + 1
        with s.results("RS", "from=0") as sub:
            sub.read_header()
            self.assertEqual(sub.expect_obj(), {"seq": 1, "row": {"ID": -1}})
            self.expect(sub, 2, 50)
            # New changes while the client is still behind come after the kept ones.
            s.ingest("rs", [{"ROWTIME": 6000, "ID": n - 1}, {"ROWTIME": 6000, "ID": n}])
            self.expect(sub, 51, n + 2)
            s.ingest("rs", [{"ROWTIME": 6000, "ID": n + 1}])
            self.expect(sub, n + 3, n + 3)
        with s.results("RS", "from=%d" % (n - 10), sse=True) as sub:
            self.assertEqual(sub.expect_event()["event"], "header")
            for seq in range(n - 9, n + 4):
                ev = sub.expect_event()
                self.assertEqual((ev["event"], ev["id"], ev["data"]["seq"]),
                                 ("row", str(seq), seq))
        with s.results("RS", sse=True, headers={"Last-Event-ID": "0"}) as sub:
            self.assertEqual(sub.expect_event()["event"], "header")
            self.assertEqual([sub.expect_event()["id"] for _ in range(n + 3)],
                             [str(i) for i in range(1, n + 4)])

    def test_late_rows_from_zero(self):
        with self.server.open_stream("/v1/queries/RS_LATE/late?from=0") as sub:
            self.assertEqual(sub.status, 200)
            sub.read_header()
            for seq in range(1, self.ROWS + 1):
                self.assertEqual(sub.expect_obj(), {"seq": seq, "row": {"ID": seq - 1}})


@unittest.skipIf(st.WRAPPER, "bound by wall time: run it without SLUICE_WRAPPER")
class LoadTest(st.SluiceTestCase):

    server_args = ["--subscriber-buffer", str(SUB_BUFFER), "--max-pending-bodies", "4"]

    @classmethod
    def setUpClass(cls):
        # In a sanitizer build ASan keeps freed blocks in a quarantine (256 MiB by
        # default) that VmRSS would count as the server's: cap it, so that the bound
        # measures what the server holds.  Without ASan the variable is ignored.
        opts = os.environ.get("ASAN_OPTIONS", "")
        os.environ["ASAN_OPTIONS"] = (opts + ":" if opts else "") + "quarantine_size_mb=16"
        try:
            super().setUpClass()
        finally:
            if opts:
                os.environ["ASAN_OPTIONS"] = opts
            else:
                del os.environ["ASAN_OPTIONS"]

    def test_writers_and_subscribers(self):
        s = self.server
        started = time.monotonic()
        rng = random.Random(SEED)
        s.statements(SCHEMA)
        for qid, sql in QUERIES.items():
            s.create_query(sql, name=qid)

        subs = []
        for qid in QUERIES:
            mix = MIX[qid]
            for _ in range(mix["normal"]):
                subs.append(Sub(s, qid, "normal"))
            for _ in range(mix["sse"]):
                subs.append(Sub(s, qid, "sse", sse=True))
            for _ in range(mix["stalled"]):
                subs.append(Sub(s, qid, "stalled", rcvbuf=STALLED_RCVBUF))
            for i in range(mix["vanish"]):
                after = rng.randrange(1, 3000 if qid != "LOAD_FINAL" else 40)
                subs.append(Sub(s, qid, "vanish", sse=(i % 4 == 3), vanish_after=after,
                                rst=(i % 2 == 0)))
        opened = len(subs)
        sel = selectors.DefaultSelector()
        for sub in subs:
            if sub.kind != "stalled":
                sel.register(sub.rs.sock, selectors.EVENT_READ, sub)
        base_rss = peak_rss = vm_rss(s.proc.pid)
        rss_bound = base_rss + opened * RSS_PER_SUB + RSS_SLACK
        samples = 0

        def sample():
            nonlocal peak_rss, samples
            rss = vm_rss(s.proc.pid)
            samples += 1
            peak_rss = max(peak_rss, rss)
            self.assertLess(rss, rss_bound, "VmRSS %d past the bound %d (baseline %d)"
                            % (rss, rss_bound, base_rss))

        def pump(until, done=None):
            """Reads every registered subscriber until the time `until` or done()."""
            nonlocal opened
            next_sample = 0.0
            while time.monotonic() < until and not (done and done()):
                now = time.monotonic()
                if now >= next_sample:
                    sample()
                    next_sample = now + 0.1
                for key, _ in sel.select(timeout=0.1):
                    sub = key.data
                    if not sub.on_readable():
                        sel.unregister(sub.rs.sock)
                        cut_off = (sub.kind in ("normal", "sse", "resume") and sub.error
                                   and sub.error.get("code") == "OVERLOADED")
                        if cut_off or (sub.kind == "vanish" and sub.gone and sub.rows % 3 == 0):
                            # This client reconnects after what it saw, as SPEC asks of a
                            # reader that was too slow (on a loaded machine this test's
                            # single reading thread can be) or that lost its connection.
                            r = Sub(s, sub.qid, "resume", sse=sub.sse,
                                    from_seq=sub.last or 0)
                            sub.resumed_by = r
                            subs.append(r)
                            opened += 1
                            sel.register(r.rs.sock, selectors.EVENT_READ, r)

        start = time.monotonic()
        writers = [Writer(s.port, w, start) for w in range(WRITERS)]
        for w in writers:
            w.start()
        pump(start + RUN_S + DRAIN_S, lambda: not any(w.is_alive() for w in writers))
        write_s = time.monotonic() - started
        for w in writers:
            w.join(st.IO_TIMEOUT)
            self.assertFalse(w.is_alive(), "writer %d did not finish" % w.w)
            if w.error:
                raise w.error

        # Every acknowledged event is stored exactly once.
        acked = set()
        for w in writers:
            acked |= w.acked
        n = len(acked)
        doc = s.batch("SELECT COUNT(*) AS n, COUNT_DISTINCT(id) AS d FROM ev")
        self.assertEqual(doc["rows"], [{"N": n, "D": n}])
        for w in writers:
            doc = s.batch("SELECT id FROM ev WHERE w = %d" % w.w)
            self.assertEqual(set(r["ID"] for r in doc["rows"]), w.acked,
                             "ids of writer %d" % w.w)
            self.assertEqual(len(doc["rows"]), len(w.acked))

        # Every reading subscriber reaches the query's last seq.
        final = {qid: s.query_info(qid)["seq"] for qid in QUERIES}
        readers = [x for x in subs if x.kind in ("normal", "sse", "resume", "vanish")]

        def caught_up():
            return all(x.last == final[x.qid] or x.ended or x.gone for x in readers)

        pump(time.monotonic() + DRAIN_S, caught_up)
        sample()
        # Stalled subscribers: read what they were sent (checked below).  Until then a
        # stalled client cannot tell whether the server has handed its stream's last
        # line to the kernel and ended it already (it is cut off when its socket stops
        # taking bytes, and that last line may still fit).
        for x in subs:
            if x.kind != "stalled":
                continue
            x.rs.sock.setblocking(True)
            x.rs.sock.settimeout(st.IO_TIMEOUT)
            while not x.ended and not (x.error is None and x.last == final[x.qid]):
                x.on_readable()
        # The server let go of every stream whose client vanished: it wrote to each
        # long after (their queries' output is large), and the write failed.  (A client
        # that goes while its stream is idle is noticed at the next heartbeat.)  And
        # of every stream that ended: a stream stops counting before its end is sent.
        for qid in ("LOAD_ROWS", "LOAD_AGG"):
            open_here = [x for x in subs if x.qid == qid and not x.gone and not x.ended]
            self.assertEqual(s.query_info(qid)["subscribers"], len(open_here),
                             "subscribers of %s" % qid)
        refs = {qid: reference(s, qid, final[qid]) for qid in QUERIES}

        def check_run(x):
            """The rows x saw are a gap-free run of the query's output, byte for byte."""
            self.assertEqual(x.problems, [], "%s subscriber of %s" % (x.kind, x.qid))
            self.assertTrue(x.header, "%s subscriber of %s saw no header" % (x.kind, x.qid))
            if x.rows:
                lines = refs[x.qid][x.first - 1:x.last]
                self.assertEqual(zlib.crc32(b"".join(lines)), x.crc,
                                 "rows %d..%d of %s differ from ?from=0"
                                 % (x.first, x.last, x.qid))

        def was_cut_and_resumed(x):
            """x was cut off as too slow, and a reconnect carried on after its last seq
            (that reconnect is checked on its own, as a "resume" subscriber)."""
            if not x.error:
                return False
            self.assertEqual(x.error["code"], "OVERLOADED", x.error)
            self.assertTrue(x.ended, "the stream ends after the OVERLOADED line")
            self.assertIsNotNone(x.resumed_by, "a cut-off reader reconnects")
            self.assertEqual(x.resumed_by.from_seq, x.last or 0)
            return True

        cut = stalled_live = vanished = resumed = readers_cut = 0
        for x in subs:
            if x.kind in ("normal", "sse"):
                check_run(x)
                self.assertEqual(x.first, 1, "%s subscriber of %s" % (x.kind, x.qid))
                if was_cut_and_resumed(x):
                    readers_cut += 1
                    continue
                self.assertEqual((x.last, x.error, x.ended), (final[x.qid], None, False),
                                 "%s subscriber of %s" % (x.kind, x.qid))
            elif x.kind == "resume":
                check_run(x)
                resumed += 1
                if x.rows:
                    self.assertEqual(x.first, x.from_seq + 1)
                if was_cut_and_resumed(x):
                    readers_cut += 1
                    continue
                self.assertEqual((x.last or x.from_seq, x.error, x.ended),
                                 (final[x.qid], None, False), "resumed from %d" % x.from_seq)
            elif x.kind == "vanish":
                check_run(x)
                self.assertTrue(x.gone or x.last == final[x.qid],
                                "vanishing subscriber neither vanished nor caught up")
                vanished += x.gone
        # Stalled subscribers: what they read.
        for x in subs:
            if x.kind != "stalled":
                continue
            check_run(x)
            if x.error:
                self.assertEqual(x.error["code"], "OVERLOADED", x.error)
                self.assertTrue(x.ended, "the stream ends after the OVERLOADED line")
                self.assertEqual(x.first, 1)
                cut += 1
            else:
                self.assertEqual((x.first, x.last, x.ended), (1, final[x.qid], False))
                stalled_live += 1
        # Past the kernel's socket buffers (the server's send buffer grows up to
        # tcp_wmem's maximum) a stalled subscriber's bytes wait in its own buffer: when a
        # query's output is larger than both, each of its stalled subscribers is cut off.
        for qid in QUERIES:
            stalled = [x for x in subs if x.kind == "stalled" and x.qid == qid]
            volume = sum(len(line) + 1 for line in refs[qid])
            if volume > SUB_BUFFER + tcp_wmem_max() + 4 * STALLED_RCVBUF + 65536:
                self.assertEqual([x.error["code"] if x.error else None for x in stalled],
                                 ["OVERLOADED"] * len(stalled),
                                 "stalled subscribers of %s (%d bytes of output)"
                                 % (qid, volume))
        self.assertGreater(cut, 0, "no stalled subscriber was cut off")
        for x in subs:
            x.close()
        self.assertHealthy()
        sample()
        info = {qid: s.query_info(qid) for qid in QUERIES}
        for qid in QUERIES:
            self.assertEqual(info[qid]["rows_in"], n, qid)
        sys.stderr.write(
            "load test: %d writers, %d events in %d batches (%d answers 429, %d "
            "reconnects, %d replayed) in %.1f s; %d result streams (%d resumed) received %d "
            "rows, %d vanished, %d readers cut off as too slow (and resumed), "
            "%d stalled cut off, %d stalled still connected; seqs %s; VmRSS baseline %.1f "
            "MiB, peak %.1f MiB (bound %.1f MiB, %d samples); %.1f s in all\n"
            % (WRITERS, n, sum(w.batches for w in writers), sum(w.busy for w in writers),
               sum(w.reconnects for w in writers), sum(w.replayed for w in writers),
               write_s, opened, resumed, sum(x.rows for x in subs), vanished, readers_cut, cut,
               stalled_live,
               ", ".join("%s %d" % kv for kv in final.items()), base_rss / 2**20,
               peak_rss / 2**20, rss_bound / 2**20, samples, time.monotonic() - started))


if __name__ == "__main__":
    st.main()
