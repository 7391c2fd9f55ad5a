#!/usr/bin/env python3
"""The HTTP thread pool (--http-threads, docs/http-api.md and docs/limits.md).

With several polling threads a group commit's changes are queued for a result stream's
subscriber while the thread that polls its connection may be busy with others, and
ingest, served by the other threads, does not wait for it.  A subscriber's bound
(--subscriber-buffer) used to be enforced on those queued bytes alone, so a client that
read everything it was sent, its socket empty, was cut off with OVERLOADED as too slow
when the server itself was behind (tests/e2e/test_load.py failed with the pool that way).
The bound now applies to the client: past --subscriber-buffer a subscriber is cut off
once its socket stops taking bytes, and past twice that in any case; and a group commit
first waits for subscribers that the polling threads fell behind on.

Each test here queues a burst in one group commit (one request): the commit holds the
server lock, so no thread can send any of it before all of it is queued."""

import os
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import sluice_test as st  # noqa: E402

PAD = "x" * 1000  # a change is about 1 KB (queued by its row's size, sent as ~1 KB)


def read_until_overloaded(test, sub, seq, check):
    """Reads rows after seq, each checked by check(obj, its seq), up to the OVERLOADED
    line; returns the last seq read."""
    while True:
        obj = sub.expect_obj()
        if "error" in obj:
            test.assertEqual(obj["error"]["code"], "OVERLOADED", obj)
            return seq
        seq += 1
        check(obj, seq)


class BurstTest(st.SluiceTestCase):
    server_args = ["--subscriber-buffer", "4K", "--http-threads", "2"]

    def burst(self, first, n):
        """Ingests events first..first+n-1 in one request (one group commit)."""
        self.server.ingest("burst", [{"ROWTIME": i, "K": i, "PAD": PAD}
                                     for i in range(first, first + n)])

    def test_reading_client_gets_a_burst_past_its_buffer(self):
        s = self.server
        s.statements("CREATE STREAM burst (k INT, pad VARCHAR);")
        qid = s.create_query("SELECT k, pad FROM burst EMIT CHANGES", name="BURST")
        with s.results(qid) as sub:
            sub.read_header()
            # About 6 KB queued at once, past the 4 KB buffer but within twice it: the
            # client reads, so it gets every row (it was cut off after the third).
            self.burst(0, 6)
            for i in range(6):
                self.assertEqual(sub.expect_obj(), {"seq": i + 1, "row": {"K": i, "PAD": PAD}})
            self.burst(6, 6)
            for i in range(6, 12):
                self.assertEqual(sub.expect_obj(), {"seq": i + 1, "row": {"K": i, "PAD": PAD}})
            self.assertEqual(s.query_info(qid)["subscribers"], 1)
            # About 12 KB at once, past twice the buffer: cut off all the same, after
            # the rows that fit.
            self.burst(12, 12)
            seq = read_until_overloaded(self, sub, 12, lambda obj, seq: self.assertEqual(
                obj, {"seq": seq, "row": {"K": seq - 1, "PAD": PAD}}))
            self.assertLess(seq, 24, "cut off before the end of the burst")
            self.assertIsNone(sub.read_obj(), "the stream ends after its error line")
            # A stream stops counting as a subscriber before its end is sent.
            self.assertEqual(s.query_info(qid)["subscribers"], 0)
        self.assertEqual(s.query_stat(qid, "rows_out"), 24)

    def test_stalled_client_is_still_cut_off(self):
        """A client that stops reading fills its socket and is cut off at its bound, and
        ingest never waits for it."""
        s = self.server
        s.statements("CREATE STREAM stall (k INT, pad VARCHAR);")
        qid = s.create_query("SELECT k, pad FROM stall EMIT CHANGES", name="STALL")
        with s.results(qid, rcvbuf=4096) as sub:
            sub.read_header()
            # More than the server's socket send buffer can hold (it grows up to
            # tcp_wmem's maximum), plus 2 MB, in bursts of 50 KB.
            total = (st.send_buffer_max() + (2 << 20)) // 1000 + 1
            total += -total % 50
            for i in range(0, total, 50):
                s.ingest("stall", [{"ROWTIME": j, "K": j, "PAD": PAD} for j in range(i, i + 50)])
            self.assertEqual(s.count("stall"), total)
            seq = read_until_overloaded(self, sub, 0, lambda obj, seq: self.assertEqual(
                obj["seq"], seq, "rows before the cut are consecutive"))
            self.assertLess(seq, total, "the subscriber was cut off before the end")
            self.assertIsNone(sub.read_obj(), "the stream ends after its error line")
            self.assertEqual(s.query_info(qid)["subscribers"], 0)


class KeptConnection:
    """A keep-alive connection that has been served once (so the server has accepted it
    and given it to a polling thread)."""

    def __init__(self, server):
        self.conn = st.http.client.HTTPConnection(st.HOST, server.port, timeout=st.IO_TIMEOUT)
        self.get("/health")

    def get(self, path):
        return self.call("GET", path)

    def call(self, method, path, body=None):
        """The body of the answer, which must be 200."""
        self.conn.request(method, path, body, {"Content-Type": "application/json"})
        r = self.conn.getresponse()
        answer = r.read()
        if r.status != 200:
            raise AssertionError("%s %s: %d %r" % (method, path, r.status, answer))
        return answer.decode()

    def close(self):
        self.conn.close()


def thread_shares(via):
    """(all open connections, the polling threads' shares sorted) as /metrics shows
    them, read over the KeptConnection via."""
    total, per = None, []
    for line in via.get("/metrics").splitlines():
        if st.re.match(r'sluice_thread_connections\{thread="\d+"\} \d+$', line):
            per.append(int(line.split()[1]))
        elif line.startswith("sluice_connections "):
            total = int(line.split()[1])
    return total, sorted(per)


class BalanceTest(st.SluiceTestCase):
    """One thread accepts every connection and gives it to the polling thread serving
    the fewest (ties in turn); /metrics shows each thread's share."""

    server_args = ["--http-threads", "2"]

    def test_connections_go_to_the_least_busy_thread(self):
        m = KeptConnection(self.server)
        kept = []
        try:
            # Once the server has seen earlier connections close, m is alone.
            self.assertEqual(st.wait_for(lambda: thread_shares(m), (1, [0, 1])), (1, [0, 1]))
            kept.append(KeptConnection(self.server))
            self.assertEqual(thread_shares(m), (2, [1, 1]))
            kept.pop().close()
            self.assertEqual(st.wait_for(lambda: thread_shares(m), (1, [0, 1])), (1, [0, 1]))
            # In turn, the next connection would go to m's thread; it goes to the idle one.
            kept.append(KeptConnection(self.server))
            self.assertEqual(thread_shares(m), (2, [1, 1]))
            kept += [KeptConnection(self.server) for _ in range(4)]
            self.assertEqual(thread_shares(m), (6, [3, 3]))
        finally:
            m.close()
            for c in kept:
                c.close()


class LeaderTest(st.SluiceTestCase):
    """A request on a connection that is alone on its polling thread, with nothing else
    waiting, is stored by that thread (the leader path: no hand-off to the committer);
    a connection that shares its thread always hands off, as its thread would not read
    the other connection meanwhile.  /metrics counts both."""

    server_args = ["--http-threads", "2"]

    def counters(self, via):
        """(commits, led, events) as /metrics shows them."""
        want = ("sluice_ingest_commits_total", "sluice_ingest_led_total",
                "sluice_events_ingested_total")
        got = {}
        for line in via.get("/metrics").splitlines():
            name, _, value = line.partition(" ")
            if name in want:
                got[name] = int(value)
        return tuple(got[n] for n in want)

    def post(self, conn, n, first):
        for i in range(first, first + n):
            self.assertEqual(conn.call("POST", "/v1/streams/lead/events",
                                       '{"ROWTIME": %d, "K": %d}' % (i, i)), '{"accepted":1}')

    def test_alone_on_its_thread_leads(self):
        self.server.statements("CREATE STREAM lead (k INT);")
        m = KeptConnection(self.server)
        conns = []
        try:
            self.assertEqual(st.wait_for(lambda: thread_shares(m)[0], 1), 1)
            # The posting connection goes to the idle thread: alone there.
            conns.append(KeptConnection(self.server))
            commits, led, events = self.counters(m)
            self.post(conns[0], 5, 0)
            self.assertEqual(self.counters(m), (commits + 5, led + 5, events + 5))
            # Two more connections: every thread serves two, so none leads.
            conns += [KeptConnection(self.server) for _ in range(2)]
            self.assertEqual(thread_shares(m), (4, [2, 2]))
            for c in conns:
                self.post(c, 2, 100 + 10 * conns.index(c))
            self.assertEqual(self.counters(m), (commits + 11, led + 5, events + 11))
            self.assertEqual(self.server.count("lead"), 11)
        finally:
            m.close()
            for c in conns:
                c.close()


def run_binary(args, env=None):
    """Runs sluice to its exit (it must not start); returns (status, stdout, stderr)."""
    e = {k: v for k, v in os.environ.items() if not k.startswith("SLUICE_")}
    e.update(env or {})
    p = st.subprocess.run([st.sluice_bin()] + args, stdin=st.subprocess.DEVNULL,
                          stdout=st.subprocess.PIPE, stderr=st.subprocess.PIPE, env=e,
                          timeout=st.START_TIMEOUT)
    return p.returncode, p.stdout.decode(), p.stderr.decode()


class OptionTest(unittest.TestCase):
    """--http-threads N (SLUICE_HTTP_THREADS): from 1 to SL_MAX_HTTP_THREADS (64)."""

    def test_help_names_the_option(self):
        rc, out, _ = run_binary(["--help"])
        self.assertEqual(rc, 0)
        self.assertIn("--http-threads N", out)
        self.assertIn("SLUICE_HTTP_THREADS", out)

    def test_out_of_range(self):
        for bad in ("0", "65", "two", "-1", ""):
            rc, _, err = run_binary(["--listen", "127.0.0.1:0", "--http-threads", bad])
            self.assertEqual(rc, 2, "--http-threads %r" % bad)
            self.assertEqual(err, "sluice: --http-threads must be a count from 1 to 64, not "
                             "'%s' (see sluice --help)\n" % bad)
        rc, _, err = run_binary(["--listen", "127.0.0.1:0"], env={"SLUICE_HTTP_THREADS": "65"})
        self.assertEqual(rc, 2)
        self.assertIn("--http-threads must be a count from 1 to 64, not '65'", err)

    def test_sizes_serve(self):
        """One thread, the most, and the variable: each server answers."""
        for args, env in ((["--http-threads", "1"], None), (["--http-threads", "64"], None),
                          ([], {"SLUICE_HTTP_THREADS": "3"})):
            srv = st.Server(args, env)
            try:
                srv.start()
                self.assertEqual(srv.get("/health").json(), {"status": "ok"})
            finally:
                srv.close()


if __name__ == "__main__":
    st.main()
