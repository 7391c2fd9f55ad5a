#!/usr/bin/env python3
"""Guarantees under faults and load (SPEC section 6, docs/guarantees.md), end to end:
idempotent ingest (Idempotency-Key), bounded ingest (429 with Retry-After), per-query
state limits, retention, and errors at start and on a full disk."""

import json
import os
import resource
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import sluice_test as st  # noqa: E402

SCHEMA = "CREATE STREAM orders (id INT, amount INT) WITH (RETENTION='3650 DAYS');"


def post_keyed(server, stream, events, key, ndjson=False):
    """POSTs events with an Idempotency-Key header; returns the Response."""
    path = "/v1/streams/%s/events" % stream
    if ndjson:
        body = "".join(json.dumps(e) + "\n" for e in events)
        ctype = st.NDJSON
    else:
        body = json.dumps(events)
        ctype = "application/json"
    return server.request("POST", path, body, {"Content-Type": ctype, "Idempotency-Key": key})


class IdempotencyTest(st.SluiceTestCase):
    """Each test makes its own stream on the class's server."""

    def make_stream(self, name):
        self.server.statements(SCHEMA.replace("orders", name))

    def test_retry_gets_same_answer_and_one_copy(self):
        s = self.server
        self.make_stream("retry1")
        events = [{"ID": 1, "AMOUNT": 10}, {"ID": 2, "AMOUNT": 20}]
        first = post_keyed(s, "retry1", events, "order-batch-1")
        self.assertEqual((first.status, first.json()), (200, {"accepted": 2}))
        self.assertIsNone(first.header("Idempotent-Replayed"))
        for _ in range(3):
            again = post_keyed(s, "retry1", events, "order-batch-1")
            self.assertEqual((again.status, again.body), (200, first.body))
            self.assertEqual(again.header("Idempotent-Replayed"), "true")
        self.assertEqual(s.count("retry1"), 2)
        # Another key stores again; no key stores every time.
        self.assertEqual(post_keyed(s, "retry1", events, "order-batch-2").status, 200)
        s.ingest("retry1", events)
        self.assertEqual(s.count("retry1"), 6)

    def test_same_key_different_body_is_422(self):
        s = self.server
        self.make_stream("mismatch1")
        self.assertEqual(post_keyed(s, "mismatch1", [{"ID": 1, "AMOUNT": 1}], "k").status, 200)
        r = post_keyed(s, "mismatch1", [{"ID": 1, "AMOUNT": 2}], "k")
        err = self.assertApiError(r, 422, "IDEMPOTENCY_MISMATCH")
        self.assertIn("'k'", err["message"])
        # The same events sent as NDJSON are another request too.
        r = post_keyed(s, "mismatch1", [{"ID": 1, "AMOUNT": 1}], "k", ndjson=True)
        self.assertApiError(r, 422, "IDEMPOTENCY_MISMATCH")
        self.assertEqual(s.count("mismatch1"), 1)

    def test_key_is_per_stream(self):
        s = self.server
        self.make_stream("per_a")
        self.make_stream("per_b")
        ev = [{"ID": 1, "AMOUNT": 1}]
        self.assertEqual(post_keyed(s, "per_a", ev, "shared").status, 200)
        r = post_keyed(s, "per_b", ev, "shared")
        self.assertEqual((r.status, r.header("Idempotent-Replayed")), (200, None))
        self.assertEqual((s.count("per_a"), s.count("per_b")), (1, 1))

    def test_failed_request_is_not_remembered(self):
        s = self.server
        self.make_stream("failed1")
        r = post_keyed(s, "failed1", [{"ID": "x"}], "k-failed")
        self.assertApiError(r, 400, "BAD_EVENT")
        r = post_keyed(s, "failed1", [{"ID": 3, "AMOUNT": 3}], "k-failed")
        self.assertEqual((r.status, r.json(), r.header("Idempotent-Replayed")),
                         (200, {"accepted": 1}, None))

    def test_bad_keys(self):
        s = self.server
        self.make_stream("badkey1")
        r = post_keyed(s, "badkey1", [{"ID": 1}], "x" * 256)
        self.assertApiError(r, 400, "BAD_REQUEST")
        r = post_keyed(s, "badkey1", [{"ID": 1}], "")
        self.assertApiError(r, 400, "BAD_REQUEST")
        self.assertEqual(post_keyed(s, "badkey1", [{"ID": 1}], "x" * 255).status, 200)
        self.assertEqual(s.count("badkey1"), 1)


def padded_events(n_bytes, stream_events=1):
    """A JSON array of events padded with spaces to exactly n_bytes."""
    body = json.dumps([{"ID": i, "AMOUNT": i} for i in range(stream_events)])
    assert len(body) <= n_bytes
    return (body + " " * (n_bytes - len(body))).encode()


class HeldUpload:
    """A POST whose headers (with Expect: 100-continue) are sent and whose body is held
    back.  The server answers either `100 Continue` (it admitted the body: the request
    now counts against the pending limits) or a final answer at once."""

    def __init__(self, server, path, length=None, chunked=False):
        self.sock = st.socket.create_connection((st.HOST, server.port), timeout=st.IO_TIMEOUT)
        head = "POST %s HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n" % path
        head += "Transfer-Encoding: chunked\r\n" if chunked else "Content-Length: %d\r\n" % length
        head += "Expect: 100-continue\r\n\r\n"
        self.sock.sendall(head.encode())
        self.first = self._read_answer()

    def _read_answer(self):
        data = b""
        while b"\r\n\r\n" not in data:
            b = self.sock.recv(65536)
            if not b:
                raise AssertionError("connection closed before an answer: %r" % data)
            data += b
        head, _, rest = data.partition(b"\r\n\r\n")
        if head.startswith(b"HTTP/1.1 100"):
            return None
        # A final answer: read its body too.
        r = st.parse_response(data)
        while len(r.body) < int(r.header("content-length", "0")):
            data += self.sock.recv(65536)
            r = st.parse_response(data)
        return r

    def admitted(self):
        return self.first is None

    def finish(self, body):
        """Sends the body; returns the final Response."""
        self.sock.sendall(body)
        r = self._read_answer()
        self.close()
        return r

    def close(self):
        self.sock.close()


class BoundedIngestTest(st.SluiceTestCase):
    """Small limits make back-pressure deterministic: uploads whose bodies are held back
    keep their slots (and their Content-Length reserved) until they finish."""

    server_args = ["--max-pending-bodies", "2", "--max-pending-bytes", "4K",
                   "--max-connections", "8"]

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.server.statements(SCHEMA)

    def metric(self, name):
        text = self.server.get("/metrics").text()
        for line in text.splitlines():
            if line.startswith(name + " "):
                return int(line.split()[1])
        raise AssertionError("no metric %s in %r" % (name, text))

    def assert_busy(self, r):
        self.assertIsNotNone(r, "expected a 429 answer, got 100 Continue")
        self.assertEqual(r.header("Retry-After"), "1", "Retry-After of %r" % (r,))
        self.assertApiError(r, 429, "TOO_MANY_REQUESTS")

    def test_pending_bodies_limit(self):
        s = self.server
        before = s.count("orders")
        path = "/v1/streams/orders/events"
        held = [HeldUpload(s, path, 200) for _ in range(2)]
        try:
            self.assertTrue(all(h.admitted() for h in held))
            self.assertEqual(self.metric("sluice_pending_bodies"), 2)
            self.assertEqual(self.metric("sluice_pending_body_bytes"), 400)
            third = HeldUpload(s, path, 200)
            self.assert_busy(third.first)
            third.close()
            # A plain request without Expect gets the same answer before its body is read.
            r = s.post_events("orders", [{"ID": 9, "AMOUNT": 9}])
            self.assert_busy(r)
            # GETs are not limited.
            self.assertEqual(s.get("/v1/streams/orders").status, 200)
            r = held[0].finish(padded_events(200, 2))
            self.assertEqual((r.status, r.json()), (200, {"accepted": 2}))
            s.ingest("orders", [{"ID": 3, "AMOUNT": 3}])
        finally:
            for h in held:
                h.close()
        # The server learns of the closed uploads when its polling thread reads their
        # sockets, which may be after it answers the next request on another thread.
        self.assertEqual(st.wait_for(lambda: self.metric("sluice_pending_bodies"), 0), 0)
        self.assertEqual(self.metric("sluice_pending_body_bytes"), 0)
        self.assertEqual(s.count("orders"), before + 3)
        self.assertGreaterEqual(self.metric("sluice_requests_rejected_busy_total"), 2)

    def test_pending_bytes_limit(self):
        s = self.server
        path = "/v1/streams/orders/events"
        big = HeldUpload(s, path, 3000)
        try:
            self.assertTrue(big.admitted())
            self.assert_busy(HeldUpload(s, path, 2000).first)
            small = HeldUpload(s, path, 1000)
            self.assertTrue(small.admitted())
            r = small.finish(padded_events(1000))
            self.assertEqual((r.status, r.json()), (200, {"accepted": 1}))
            # A chunked body reserves as it arrives: past the limit it is refused.
            chunked = HeldUpload(s, path, chunked=True)
            self.assertTrue(chunked.admitted())
            body = padded_events(2000)
            r = chunked.finish(b"%x\r\n%s\r\n0\r\n\r\n" % (len(body), body))
            self.assert_busy(r)
            r = big.finish(padded_events(3000))
            self.assertEqual((r.status, r.json()), (200, {"accepted": 1}))
        finally:
            big.close()
        # One body larger than --max-pending-bytes still gets through when it is alone.
        r = s.request("POST", path, padded_events(5000), {"Content-Type": "application/json"})
        self.assertEqual((r.status, r.json()), (200, {"accepted": 1}))

    def test_connection_limit(self):
        """Past --max-connections the server stops accepting: a new client's connection
        waits in the kernel's listen queue, unanswered, until another one closes."""
        s = self.server
        idle = [st.socket.create_connection((st.HOST, s.port)) for _ in range(8)]
        assert_waits_for_a_close(self, s, idle)


def assert_waits_for_a_close(test, server, held, meanwhile=None):
    """A new client's request goes unanswered for a second (it waits in the listen
    queue), then meanwhile() runs; once one of the held connections closes, the client
    is served.  Closes every connection."""
    waiting = st.socket.create_connection((st.HOST, server.port), timeout=1.0)
    try:
        waiting.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        with test.assertRaises(st.socket.timeout):
            waiting.recv(100)
        if meanwhile:
            meanwhile()
        held.pop().close()
        waiting.settimeout(st.IO_TIMEOUT)
        r = st.read_answer(waiting)
        test.assertEqual((r.status, r.json()), (200, {"status": "ok"}))
    finally:
        waiting.close()
        for c in held:
            c.close()


def sockets(pid):
    """How many sockets the process pid has open."""
    n = 0
    for fd in os.listdir("/proc/%d/fd" % pid):
        try:
            n += os.readlink("/proc/%d/fd/%s" % (pid, fd)).startswith("socket:")
        except OSError:
            pass  # closed meanwhile
    return n


class OutOfDescriptorsTest(st.ServerPerTestCase):
    """When the server runs out of file descriptors, accept() fails: new clients wait in
    the listen queue (said once in the log, not at every retry) and are served as soon
    as a connection closes; nothing else breaks."""

    @unittest.skipIf(st.WRAPPER, "valgrind keeps descriptors of its own under the limit")
    def test_new_clients_wait_until_a_descriptor_is_free(self):
        s = self.new_server()
        s.statements(SCHEMA)
        pid = s.proc.pid
        # Once the statement's connection is closed, the listening socket is the only
        # socket; then room for two more descriptors: two connections, and accept() fails.
        self.assertEqual(st.wait_for(lambda: sockets(pid), 1), 1)
        used = len(os.listdir("/proc/%d/fd" % pid))
        _, hard = resource.prlimit(pid, resource.RLIMIT_NOFILE)
        resource.prlimit(pid, resource.RLIMIT_NOFILE, (used + 2, hard))
        held = [st.socket.create_connection((st.HOST, s.port)) for _ in range(2)]
        for c in held:
            c.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
            c.settimeout(st.IO_TIMEOUT)
            self.assertIn(b"200 OK", c.recv(4096))

        def said_once():
            log = open(s.stderr_path).read()
            self.assertEqual(log.count("cannot accept a connection: Too many open files"), 1, log)

        assert_waits_for_a_close(self, s, held, said_once)
        resource.prlimit(pid, resource.RLIMIT_NOFILE, (hard, hard))
        s.ingest("orders", [{"ID": 1, "AMOUNT": 1}])
        self.assertEqual(s.count("orders"), 1)
        self.assertIn("accepting connections again", open(s.stderr_path).read())


class StateLimitTest(st.SluiceTestCase):
    """A query past its state limit fails alone, with a clear error."""

    server_args = ["--query-state-limit", "1M"]
    PER_KEY = "SELECT id, COUNT(*) AS c FROM %s GROUP BY id EMIT CHANGES"

    def test_query_past_its_limit_fails_alone(self):
        s = self.server
        s.statements(SCHEMA.replace("orders", "limited"))
        r = s.post_json("/v1/queries", {"sql": self.PER_KEY % "limited", "name": "SMALL",
                                        "state_limit": 4096})
        self.assertEqual(r.status, 201, r)
        self.assertEqual(s.create_query(self.PER_KEY % "limited", name="BIG"), "BIG")
        self.assertEqual(s.query_info("BIG")["state_limit"], 1024 * 1024)
        info = s.query_info("SMALL")
        self.assertEqual((info["state"], info["error"], info["state_limit"]),
                         ("running", None, 4096))
        with s.results("SMALL") as sub:
            s.ingest("limited", [{"ID": i, "AMOUNT": 1} for i in range(300)])
            last = sub.read_last_obj()
            self.assertIn("error", last)
            self.assertEqual(last["error"]["code"], "QUERY_FAILED")
            self.assertIn("past its limit of 4096 bytes", last["error"]["message"])
        info = s.query_info("SMALL")
        self.assertEqual(info["state"], "failed")
        self.assertIn("past its limit of 4096 bytes", info["error"])
        self.assertEqual(info["state_bytes"], 0)
        # The server, the stream and the other query go on.
        s.ingest("limited", [{"ID": 1000, "AMOUNT": 1}])
        big = s.query_info("BIG")
        self.assertEqual((big["state"], big["rows_in"]), ("running", 301))
        self.assertLess(s.query_info("SMALL")["rows_in"], 300)
        self.assertEqual(s.count("limited"), 301)
        # A new query over that history with the same limit is refused.
        r = s.post_json("/v1/queries", {"sql": self.PER_KEY % "limited", "state_limit": 4096})
        self.assertApiError(r, 422, "LIMIT_EXCEEDED")

    def test_bad_state_limit(self):
        s = self.server
        s.statements(SCHEMA.replace("orders", "badlimit"))
        for bad in (0, -1, 1.5, "1M", 2 ** 60):
            r = s.post_json("/v1/queries", {"sql": self.PER_KEY % "badlimit",
                                            "state_limit": bad})
            self.assertApiError(r, 400, "BAD_REQUEST")


class RetentionTest(st.SluiceTestCase):
    """RETENTION deletes stored batches once the stream's watermark is more than the
    retention past their newest ROWTIME, in the background (about once a second)."""

    def wait_for_count(self, stream, expect):
        return st.wait_for(lambda: self.server.count(stream), expect)

    def test_old_events_go_newer_stay(self):
        s = self.server
        s.statements("CREATE STREAM ret (id INT) WITH (RETENTION='10 SECONDS');")
        # Old data loaded first is not purged: the watermark is its own newest ROWTIME.
        s.ingest("ret", [{"ROWTIME": 1000 + i, "ID": i} for i in range(5)])
        s.ingest("ret", [{"ROWTIME": 9000, "ID": 5}, {"ROWTIME": 30000, "ID": 6}])
        s.ingest("ret", [{"ROWTIME": 25000, "ID": 7}])
        self.assertEqual(s.count("ret"), 8)
        # The watermark moves to 40000: the cutoff is 30000.  The first batch (newest
        # 1004) and the third (25000) go; the second stays whole (its newest is 30000).
        s.ingest("ret", [{"ROWTIME": 40000, "ID": 8}])
        self.assertEqual(self.wait_for_count("ret", 3), 3)
        doc = s.batch("SELECT id FROM ret")
        self.assertEqual(sorted(r["ID"] for r in doc["rows"]), [5, 6, 8])
        # The stream still counts every event ever appended.
        self.assertEqual(s.get_json("/v1/streams/ret")["events"], 9)
        # A stream with the default retention (7 days) keeps these.
        s.statements("CREATE STREAM keep (id INT);")
        s.ingest("keep", [{"ROWTIME": 0, "ID": 1}])
        s.ingest("keep", [{"ROWTIME": 6 * 86400000, "ID": 2}])
        s.ingest("ret", [{"ROWTIME": 40001, "ID": 9}])
        self.assertEqual(self.wait_for_count("ret", 4), 4)
        self.assertEqual(s.count("keep"), 2)


def run_binary(args, timeout=st.START_TIMEOUT):
    """Runs sluice to its exit (it must not start); returns (status, stderr text)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("SLUICE_")}
    p = st.subprocess.run([st.sluice_bin()] + args, stdin=st.subprocess.DEVNULL,
                          stdout=st.subprocess.PIPE, stderr=st.subprocess.PIPE, env=env,
                          timeout=timeout)
    return p.returncode, p.stderr.decode("utf-8", "replace")


class StartupErrorTest(unittest.TestCase):
    """A data directory whose database is not sluice's, or is damaged: the binary exits
    with status 1 and one clear line naming the file, and leaves the file alone."""

    def setUp(self):
        self.tmp = st.tempfile.mkdtemp(prefix="sluice-e2e-start-")
        self.addCleanup(st.shutil.rmtree, self.tmp, True)
        self.db = os.path.join(self.tmp, "sluice.db")

    def assert_refused(self, what):
        with open(self.db, "rb") as f:
            before = f.read()
        rc, err = run_binary(["--listen", "127.0.0.1:0", "--data", self.tmp])
        self.assertEqual(rc, 1, "exit status; stderr: %s" % err)
        lines = err.strip().splitlines()
        self.assertEqual(len(lines), 1, "one line on stderr: %r" % err)
        self.assertTrue(lines[0].startswith("sluice: cannot open the data directory %s: %s"
                                            % (self.tmp, self.db)), lines[0])
        self.assertIn(what, lines[0])
        with open(self.db, "rb") as f:
            self.assertEqual(f.read(), before, "the file was changed")

    def test_not_a_database(self):
        with open(self.db, "wb") as f:
            f.write(bytes((i * 7 + 3) % 256 for i in range(8192)))
        self.assert_refused("not a sluice database")

    def test_another_applications_database(self):
        import sqlite3
        con = sqlite3.connect(self.db)
        con.execute("CREATE TABLE t(x)")
        con.commit()
        con.close()
        self.assert_refused("not a sluice database")

    def test_damaged_database(self):
        srv = st.Server()
        self.addCleanup(srv.close)
        srv.start()
        srv.statements("CREATE STREAM padded (id INT, pad VARCHAR);")
        for i in range(40):
            srv.ingest("padded", [{"ID": i, "PAD": "x" * 3000}])
        self.assertEqual(srv.stop(), 0)
        db = os.path.join(srv.data_dir, "sluice.db")
        with open(db, "r+b") as f:
            for page in range(4, 8):
                f.seek(page * 4096)
                f.write(b"\xa5" * 4096)
        self.db = db
        self.tmp = srv.data_dir
        self.assert_refused("damaged")


class DiskFullTest(unittest.TestCase):
    """On a full disk ingest answers 507 INSUFFICIENT_STORAGE (nothing stored, no crash),
    and works again once there is room.  The data directory is a 2 MiB tmpfs; the test
    is skipped where mounting one is not allowed."""

    def setUp(self):
        self.mnt = st.tempfile.mkdtemp(prefix="sluice-e2e-full-")
        self.addCleanup(os.rmdir, self.mnt)
        r = st.subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", self.mnt],
                              stdout=st.subprocess.PIPE, stderr=st.subprocess.STDOUT)
        if r.returncode != 0:
            self.skipTest("cannot mount a small tmpfs here (needs root): %s"
                          % r.stdout.decode("utf-8", "replace").strip())
        self.addCleanup(st.subprocess.run, ["umount", self.mnt])

    def test_disk_full_is_507(self):
        srv = st.Server(["--max-body", "1M"])
        srv.data_dir = os.path.join(self.mnt, "data")
        self.addCleanup(srv.close)
        srv.start()
        srv.statements("CREATE STREAM fill (id INT, pad VARCHAR);")
        stored, answers = 0, []
        for i in range(200):
            r = srv.post_events("fill", [{"ID": i, "PAD": "x" * 100000}])
            answers.append(r.status)
            if r.status != 200:
                break
            stored += 1
        self.assertEqual(r.status, 507, "answers: %r" % answers)
        err = r.error()
        self.assertEqual((err["code"], err["message"]), ("INSUFFICIENT_STORAGE", "disk full"))
        self.assertEqual(r.header("content-type"), "application/json")
        self.assertTrue(srv.alive())
        self.assertEqual(srv.get("/health").status, 200)
        # Small writes may still fit; a batch query reads what is stored.
        self.assertEqual(srv.count("fill"), stored)
        # Room again (the stream dropped): ingest works, and nothing was half-stored.
        r = srv.post_sql("DROP STREAM fill;")
        if r.status == 200:
            srv.statements("CREATE STREAM again (id INT);")
            srv.ingest("again", [{"ID": 1}])
            self.assertEqual(srv.count("again"), 1)
        else:
            self.assertEqual(r.status, 507, r)
        self.assertEqual(srv.stop(), 0)


class IdempotencyRestartTest(st.ServerPerTestCase):
    """The record is stored with the events: it survives a SIGKILL."""

    def test_survives_sigkill(self):
        s = self.new_server()
        s.statements(SCHEMA)
        events = [{"ID": i, "AMOUNT": i} for i in range(5)]
        first = post_keyed(s, "orders", events, "before-crash")
        self.assertEqual(first.status, 200)
        s.restart(hard=True)
        again = post_keyed(s, "orders", events, "before-crash")
        self.assertEqual((again.status, again.body, again.header("Idempotent-Replayed")),
                         (200, first.body, "true"))
        self.assertApiError(post_keyed(s, "orders", events[:1], "before-crash"), 422,
                            "IDEMPOTENCY_MISMATCH", server=s)
        self.assertEqual(s.count("orders"), 5)


if __name__ == "__main__":
    st.main()
