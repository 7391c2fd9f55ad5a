#!/usr/bin/env python3
"""Crash test (SPEC section 6, docs/guarantees.md): a writer posts batches with an
Idempotency-Key and retries on connection errors as a real client would, while the
server is killed with SIGKILL at random points (a fixed seed: before a request, while
one is in flight, right after an answer) and restarted on the same data directory.
The query checkpoints at every upkeep tick (--checkpoint-interval 1), so kills land
before, during and after checkpoint writes, and a few land right after one on purpose
(the restart must restore it and replay only what follows).  At the end every
acknowledged event is stored exactly once, and a persistent EMIT FINAL query's rows
(read with ?from=0) equal those of a crash-free run: none missing, none twice, same
seqs.  Then a SIGTERM lets an upload in flight finish, ends result streams with a last
line, and loses nothing.

IdleAdvanceCrashTest: a stream WITH (IDLE_TIMEOUT) whose stream time the server's clock
(driven by the test through SLUICE_TEST_CLOCK) advances while it is idle, closing a
window; late rows come after; the server is killed right after the advance and after a
late row, and restarted: the final rows, late rows and statistics equal a crash-free
run's, as does a batch query (the advances are replayed from the log)."""

import json
import os
import random
import shutil
import socket
import sys
import tempfile
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import sluice_test as st  # noqa: E402

SEED = 20240611
BATCHES = 160
BATCH = 25  # events per batch
MIN_KILLS = 24
TIME_BUDGET = 60.0  # seconds: the run fails rather than go on for ever
# Checkpoint at every upkeep tick (once a second).
ARGS = ["--checkpoint-interval", "1"]
# Batches before which the server is killed right after its next checkpoint.
KILL_AFTER_CHECKPOINT = (40, 80, 120)

SCHEMA = "CREATE STREAM ev (id INT, k VARCHAR) WITH (RETENTION='3650 DAYS');"
FINAL = ("SELECT k, COUNT(*) AS c, SUM(id) AS s FROM ev WINDOW TUMBLING (SIZE 1 SECOND) "
         "GROUP BY k EMIT FINAL")


def batch_events(b):
    """The events of batch b: ids in order, ROWTIME 10 ms apart, three keys."""
    out = []
    for j in range(BATCH):
        i = b * BATCH + j
        out.append({"ROWTIME": i * 10, "ID": i, "K": "k%d" % (i % 3)})
    return out


def closing_event():
    """One event far enough ahead to close every window of the batches."""
    i = BATCHES * BATCH
    return [{"ROWTIME": i * 10 + 5000, "ID": i, "K": "end"}]


def send_raw(port, body, key, timeout=st.IO_TIMEOUT):
    """Sends one ingest request on a fresh connection; returns the socket (the answer
    is not read yet).  Raises OSError when the server is not there."""
    s = socket.create_connection((st.HOST, port), timeout=timeout)
    head = ("POST /v1/streams/ev/events HTTP/1.1\r\nHost: x\r\nContent-Type: application/json"
            "\r\nIdempotency-Key: %s\r\nContent-Length: %d\r\nConnection: close\r\n\r\n"
            % (key, len(body)))
    s.sendall(head.encode() + body)
    return s


def final_rows(server, qid, n):
    """The first n rows of the query's output from seq 1, as (seq, row) pairs, and then
    the seq the query reports (to show there is nothing after them)."""
    with server.results(qid, "from=0") as sub:
        sub.read_header()
        rows = [(o["seq"], o["row"]) for o in sub.read_rows(n)]
    return rows, server.query_info(qid)["seq"]


def expected_rows():
    """EMIT FINAL of FINAL over all the batches, computed here."""
    windows = {}
    for b in range(BATCHES):
        for e in batch_events(b):
            w = e["ROWTIME"] // 1000 * 1000
            c, s = windows.get((w, e["K"]), (0, 0))
            windows[(w, e["K"])] = (c + 1, s + e["ID"])
    return [{"WINDOWSTART": w, "WINDOWEND": w + 1000, "K": k, "C": c, "S": s}
            for (w, k), (c, s) in windows.items()]


class CrashTest(st.ServerPerTestCase):
    def post_until_acknowledged(self, srv, body, key, rng, stats, deadline):
        """Posts one batch until it is acknowledged, killing the server at random points
        (and restarting it) the way a crash would."""
        while True:
            self.assertLess(time.monotonic(), deadline, "crash test ran out of time")
            plan = rng.random()
            if plan < stats["p_kill"] * 0.2:
                srv.kill()  # before the request
            try:
                if not srv.alive():
                    raise ConnectionRefusedError("server down")
                s = send_raw(srv.port, body, key)
                if plan < stats["p_kill"]:
                    # In flight: the body is sent; the server may or may not have stored
                    # it (and answered) when it dies.
                    time.sleep(rng.random() * 0.02)
                    srv.kill()
                    if rng.random() < 0.5:
                        # The client gives up on the answer (a timeout, a reset):
                        # whatever was stored, it must retry.
                        s.close()
                        raise ConnectionResetError("answer lost")
                r = st.read_answer(s)
                if r.status != 200:
                    raise AssertionError("ingest answered %r" % (r,))
                if r.header("Idempotent-Replayed") == "true":
                    stats["replayed"] += 1
                if plan > 1 - stats["p_kill"] * 0.2:
                    srv.kill()  # right after the answer
                return r
            except (OSError, AssertionError) as e:
                if isinstance(e, AssertionError) and srv.alive():
                    raise
                stats["retries"] += 1
                if not srv.alive():
                    stats["kills"] += 1
                    srv.start()
                    restore = srv.query_info("FINAL")["restore"]
                    stats["from_checkpoint"] += restore["from_checkpoint"]

    def kill_after_checkpoint(self, srv, stats, deadline):
        """Waits for the query's next checkpoint, kills the server at once, restarts it
        and checks that it restored that checkpoint (or a later one)."""
        first = srv.query_info("FINAL")["checkpoints"]
        while True:
            self.assertLess(time.monotonic(), deadline, "crash test ran out of time")
            info = srv.query_info("FINAL")
            if info["checkpoints"] > first:
                break
            time.sleep(0.01)
        srv.kill()
        stats["kills"] += 1
        srv.start()
        restore = srv.query_info("FINAL")["restore"]
        self.assertTrue(restore["from_checkpoint"], restore)
        self.assertGreaterEqual(restore["replay_from"], info["checkpoint"]["offset"], restore)
        stats["restored_after_checkpoint"] += 1

    def run_writer(self, srv, rng, p_kill, deadline):
        stats = {"kills": 0, "retries": 0, "replayed": 0, "p_kill": p_kill,
                 "restored_after_checkpoint": 0, "from_checkpoint": 0}
        for b in range(BATCHES):
            if p_kill and b in KILL_AFTER_CHECKPOINT:
                self.kill_after_checkpoint(srv, stats, deadline)
            body = json.dumps(batch_events(b)).encode()
            r = self.post_until_acknowledged(srv, body, "batch-%d" % b, rng, stats, deadline)
            self.assertEqual(r.json(), {"accepted": BATCH})
        stats["p_kill"] = 0
        self.post_until_acknowledged(srv, json.dumps(closing_event()).encode(), "closing",
                                     rng, stats, deadline)
        return stats

    def test_sigkill_at_random_points(self):
        started = time.monotonic()
        deadline = started + TIME_BUDGET
        rng = random.Random(SEED)
        expect = expected_rows()

        # The crash-free run.
        ref = self.new_server(ARGS)
        ref.statements(SCHEMA)
        ref.create_query(FINAL, name="FINAL")
        calm = self.run_writer(ref, random.Random(SEED), 0.0, deadline)
        self.assertEqual(calm["kills"], 0)
        ref_rows, ref_seq = final_rows(ref, "FINAL", len(expect))
        self.assertEqual(ref_seq, len(expect))
        self.assertRowsEqual(expect, [r for _, r in ref_rows], ordered=False,
                             what="crash-free EMIT FINAL rows")

        # The run with crashes.
        srv = self.new_server(ARGS)
        srv.statements(SCHEMA)
        srv.create_query(FINAL, name="FINAL")
        stats = self.run_writer(srv, rng, 0.3, deadline)
        self.assertGreaterEqual(stats["kills"], MIN_KILLS, "kills in this run: %r" % stats)
        self.assertEqual(stats["restored_after_checkpoint"], len(KILL_AFTER_CHECKPOINT))

        # Every acknowledged event is stored exactly once.
        n = BATCHES * BATCH + 1
        self.assertEqual(srv.count("ev"), n)
        doc = srv.batch("SELECT COUNT(*) AS n, COUNT_DISTINCT(id) AS d, MIN(id) AS lo, "
                        "MAX(id) AS hi FROM ev")
        self.assertEqual(doc["rows"], [{"N": n, "D": n, "LO": 0, "HI": n - 1}])
        self.assertEqual(srv.get_json("/v1/streams/ev")["events"], n)

        # The persistent EMIT FINAL query's output equals the crash-free run's.
        rows, seq = final_rows(srv, "FINAL", len(expect))
        self.assertEqual(seq, len(expect), "no row after the expected ones")
        self.assertEqual(rows, ref_rows)
        sys.stderr.write("crash test: %d kills, %d retries, %d replayed answers, "
                         "%d checkpoints restored, %.1f s\n"
                         % (stats["kills"], stats["retries"], stats["replayed"],
                            stats["from_checkpoint"] + stats["restored_after_checkpoint"],
                            time.monotonic() - started))

    def test_sigterm_finishes_in_flight(self):
        srv = self.new_server()
        srv.statements(SCHEMA)
        srv.create_query(FINAL, name="FINAL")
        srv.ingest("ev", batch_events(0))
        body = json.dumps(batch_events(1)).encode()
        sub = srv.results("FINAL")
        s = socket.create_connection((st.HOST, srv.port), timeout=st.IO_TIMEOUT)
        s.sendall(("POST /v1/streams/ev/events HTTP/1.1\r\nHost: x\r\nContent-Type: "
                   "application/json\r\nContent-Length: %d\r\nExpect: 100-continue\r\n"
                   "Connection: close\r\n\r\n" % len(body)).encode())
        self.assertTrue(s.recv(100).startswith(b"HTTP/1.1 100"))
        srv.proc.send_signal(st.signal.SIGTERM)
        # The result stream ends with its last line.
        last = sub.read_last_obj()
        sub.close()
        self.assertEqual(last["error"]["code"], "SHUTTING_DOWN")
        # The upload in flight is still received, stored and answered.
        s.sendall(body)
        r = st.read_answer(s)
        self.assertEqual((r.status, r.json()), (200, {"accepted": BATCH}))
        self.assertEqual(srv.proc.wait(timeout=st.STOP_TIMEOUT), 0)
        srv.start()
        self.assertEqual(srv.count("ev"), 2 * BATCH)
        self.assertEqual(srv.query_info("FINAL")["rows_in"], 2 * BATCH)


# The test clock's start (epoch ms); ROWTIMEs are T0 + offsets.
T0 = 1700000000000
IDLE_SCHEMA = "CREATE STREAM idle (k VARCHAR) WITH (IDLE_TIMEOUT='5 SECONDS');"
IDLE_FINAL = ("SELECT k, COUNT(*) AS c FROM idle WINDOW TUMBLING (SIZE 10 SECONDS) "
              "GROUP BY k EMIT FINAL")
IDLE_BATCH = "SELECT k, COUNT(*) AS c FROM idle WINDOW TUMBLING (SIZE 10 SECONDS) GROUP BY k"


class IdleAdvanceCrashTest(st.ServerPerTestCase):
    def set_clock(self, path, ms):
        """Sets the test clock the server reads (replaced whole, never half written)."""
        with open(path + ".new", "w") as f:
            f.write("%d\n" % ms)
        os.replace(path + ".new", path)

    def new_clocked_server(self, name):
        path = os.path.join(self.tmp, name + ".clock")
        self.set_clock(path, T0)
        # No checkpoint but at a clean stop: the restarts rebuild from the log.
        return path, self.new_server(["--checkpoint-interval", "86400000"],
                                     env={"SLUICE_TEST_CLOCK": path})

    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="sluice-idle-")
        self.addCleanup(shutil.rmtree, self.tmp, True)

    def ev(self, srv, ms, k):
        srv.ingest("idle", [{"ROWTIME": T0 + ms, "K": k}])

    def wait_rows(self, srv, after, n):
        """Waits (reading the result stream, no sleeping) for the changes after seq
        `after` up to n of them; returns them."""
        with srv.results("FINAL", "from=%d" % after) as res:
            res.read_header()
            return [(o["seq"], o["row"]) for o in res.read_rows(n)]

    def run_script(self, crashes):
        """The same requests on a fresh server; with crashes, a SIGTERM restart before
        the idle advance (its checkpoint comes before it) and SIGKILL restarts right
        after the advance (no event since) and right after a late row.  Returns what a
        client sees at the end."""
        clock, srv = self.new_clocked_server("crash" if crashes else "plain")
        srv.statements(IDLE_SCHEMA)
        srv.create_query(IDLE_FINAL, name="FINAL")
        self.ev(srv, 1000, "a")
        self.ev(srv, 2000, "b")
        if crashes:
            self.assertEqual(srv.stop(), 0)
            srv.start()
            self.assertEqual(srv.query_info("FINAL")["restore"]["replay_from"], 2)
        # Idle for 18 s: stream time goes to T0 + 13000, which closes [T0, T0 + 10000).
        self.set_clock(clock, T0 + 18000)
        self.assertEqual([r for _, r in self.wait_rows(srv, 0, 2)],
                         [{"WINDOWSTART": T0, "WINDOWEND": T0 + 10000, "K": "a", "C": 1},
                          {"WINDOWSTART": T0, "WINDOWEND": T0 + 10000, "K": "b", "C": 1}])
        if crashes:
            # Killed before any other event: restarted with the clock where it was, the
            # server is not idle for the timeout yet, but the advance was recorded.
            srv.restart(hard=True)
            self.assertEqual(srv.query_stat("FINAL", "watermark"), T0 + 13000)
        self.ev(srv, 3000, "c")  # late: its window closed
        if crashes:
            srv.restart(hard=True)
        self.ev(srv, 16000, "d")
        self.set_clock(clock, T0 + 40000)  # stream time to T0 + 35000
        self.wait_rows(srv, 2, 1)
        self.ev(srv, 12000, "e")  # late
        info = srv.query_info("FINAL")
        with srv.open_stream("/v1/queries/FINAL/late?from=0") as late:
            late.read_header()
            late_rows = [(o["seq"], o["row"]) for o in late.read_rows(info["late_seq"])]
        batch = srv.batch(IDLE_BATCH)["rows"]
        return {"changes": self.wait_rows(srv, 0, info["seq"]), "late": late_rows,
                "late_rows": st.stat(info, "late_rows"), "rows_in": st.stat(info, "rows_in"),
                "batch": sorted(batch, key=lambda r: (r["WINDOWSTART"], r["K"]))}

    def test_idle_advance_survives_sigkill(self):
        plain = self.run_script(False)
        self.assertEqual(plain["late_rows"], 2)
        self.assertEqual(plain["late"], [(1, {"K": "c"}), (2, {"K": "e"})])
        self.assertEqual([(r["K"], r["C"]) for r in plain["batch"]],
                         [("a", 1), ("b", 1), ("d", 1)])
        crashed = self.run_script(True)
        self.assertEqual(crashed, plain)


if __name__ == "__main__":
    st.main()
