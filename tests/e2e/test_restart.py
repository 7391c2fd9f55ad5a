#!/usr/bin/env python3
"""Restarts (docs/guarantees.md): streams, acknowledged events and persistent queries
survive a SIGTERM restart and a SIGKILL (crash) restart on the same data directory.  A
query registered before the restart goes on where it was: its replay is deterministic,
so its seq numbers continue, `?from=SEQ` with the last seq seen gives only newer rows,
and EMIT FINAL emits no window twice and none missing."""

import os
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import sluice_test as st  # noqa: E402

SCHEMA = "CREATE STREAM clicks (k VARCHAR, v INT) WITH (RETENTION='3650 DAYS');"
TOTALS = "SELECT k, COUNT(*) AS c, SUM(v) AS t FROM clicks GROUP BY k EMIT CHANGES"
WINDOWS = ("SELECT k, COUNT(*) AS c FROM clicks WINDOW TUMBLING (SIZE 10 SECONDS) "
           "GROUP BY k EMIT FINAL")


def ev(rowtime, k, v):
    return {"ROWTIME": rowtime, "K": k, "V": v}


def total(seq, k, c, t):
    return {"seq": seq, "row": {"K": k, "C": c, "T": t}}


def win(start, k, c):
    return {"WINDOWSTART": start, "WINDOWEND": start + 10000, "K": k, "C": c}


class RestartTest(st.ServerPerTestCase):
    """Each test runs its own server (self.srv) and restarts it."""

    def setUp(self):
        self.srv = self.new_server()

    def setup_queries(self):
        s = self.srv
        s.statements(SCHEMA)
        self.assertEqual(s.create_query(TOTALS, name="TOTALS"), "TOTALS")
        self.assertEqual(s.create_query(WINDOWS, name="WINDOWS"), "WINDOWS")
        self.describe = self.schema_of(s.statements("DESCRIBE CLICKS")[0])

    @staticmethod
    def schema_of(desc):
        """What DESCRIBE says of the schema (not of the data: event counts change)."""
        return {k: desc.get(k) for k in ("name", "columns", "timestamp", "retention_ms")}

    def restart(self, hard):
        if hard:
            self.srv.kill()
            self.srv.start()
        else:
            rc = self.srv.stop()
            self.assertEqual(rc, 0, "exit status after SIGTERM")
            self.srv.start()

    def assert_catalog(self):
        s = self.srv
        doc = s.statements("SHOW STREAMS")
        self.assertIn("CLICKS", [x["name"] for x in doc[0]["streams"]])
        self.assertEqual(self.schema_of(s.statements("DESCRIBE CLICKS")[0]), self.describe)
        ids = [q["id"] for q in st.query_list(s.get_json("/v1/queries"))]
        self.assertIn("TOTALS", ids)
        self.assertIn("WINDOWS", ids)

    def post_and_read(self, qid, from_seq, events, n):
        """Subscribes with ?from=from_seq, posts events, and returns the next n lines:
        had the query repeated a change already seen, it would come first."""
        with self.srv.results(qid, "from=%d" % from_seq) as res:
            res.read_header()
            if events:
                self.srv.ingest("CLICKS", events)
            return res.read_rows(n)

    def replay_all(self, qid, n):
        with self.srv.results(qid, "from=0") as res:
            res.read_header()
            return res.read_rows(n)

    def check_restart(self, hard):
        s = self.srv
        self.setup_queries()
        with s.results("TOTALS") as res:
            res.read_header()
            s.ingest("CLICKS", [ev(1000, "a", 1), ev(2000, "b", 2)])
            s.ingest("CLICKS", ev(11000, "a", 3))
            before = res.read_rows(3)
        self.assertEqual(before, [total(1, "a", 1, 1), total(2, "b", 1, 2),
                                  total(3, "a", 2, 4)])
        win_before = self.replay_all("WINDOWS", 2)
        self.assertEqual([w["seq"] for w in win_before], [1, 2])
        self.assertRowsEqual([win(0, "a", 1), win(0, "b", 1)], [w["row"] for w in win_before],
                             ordered=False)

        self.restart(hard)
        self.assert_catalog()
        self.assertEqual(s.count("CLICKS"), 3)
        # The same changes with the same seqs, then new ones continuing the state.
        self.assertEqual(self.replay_all("TOTALS", 3), before)
        self.assertEqual(self.replay_all("WINDOWS", 2), win_before)
        self.assertEqual(self.post_and_read("TOTALS", 3, [ev(21000, "b", 4)], 1),
                         [total(4, "b", 2, 6)])
        # Window [10000, 20000) closed at 21000: emitted once, after seq 2.
        self.assertEqual(self.post_and_read("WINDOWS", 2, None, 1),
                         [{"seq": 3, "row": win(10000, "a", 1)}])
        info = s.query_info("WINDOWS")
        self.assertEqual(st.stat(info, "watermark"), 21000)
        self.assertEqual(st.stat(info, "late_rows"), 0)

        # A second restart right after an acknowledged ingest.
        s.ingest("CLICKS", ev(22000, "a", 5))
        self.restart(hard)
        self.assert_catalog()
        self.assertEqual(s.count("CLICKS"), 5)
        self.assertEqual(self.post_and_read("TOTALS", 5, [ev(31000, "a", 6)], 1),
                         [total(6, "a", 4, 15)])
        rows = self.post_and_read("WINDOWS", 3, None, 2)
        self.assertEqual([r["seq"] for r in rows], [4, 5])
        self.assertRowsEqual([win(20000, "b", 1), win(20000, "a", 1)],
                             [r["row"] for r in rows], ordered=False)
        # Batch over the whole log agrees with what the live query emitted.
        doc = s.batch(WINDOWS.replace(" EMIT FINAL", ""))
        self.assertRowsEqual([win(0, "a", 1), win(0, "b", 1), win(10000, "a", 1),
                              win(20000, "b", 1), win(20000, "a", 1), win(30000, "a", 1)],
                             doc["rows"], ordered=False)
        self.assertHealthy(s)

    def test_sigterm_restart(self):
        self.check_restart(hard=False)

    def test_sigkill_restart(self):
        self.check_restart(hard=True)

    def test_acknowledged_events_survive_kill(self):
        s = self.srv
        s.statements(SCHEMA)
        n = 0
        for i in range(40):
            s.ingest("CLICKS", [ev(1000 * n + j, "k%d" % (j % 7), j) for j in range(25)],
                     ndjson=(i % 2 == 1))
            n += 25
        s.kill()
        s.start()
        self.assertEqual(s.count("CLICKS"), n)
        doc = s.batch("SELECT k, COUNT(*) AS c FROM clicks GROUP BY k")
        self.assertEqual(sum(r["C"] for r in doc["rows"]), n)
        self.assertEqual(len(doc["rows"]), 7)

    def test_dropped_things_stay_dropped(self):
        s = self.srv
        self.setup_queries()
        s.statements("CREATE STREAM other (x INT);")
        s.ingest("OTHER", {"ROWTIME": 1, "X": 1})
        s.statements("DROP QUERY WINDOWS; DROP STREAM other;")
        self.restart(hard=False)
        ids = [q["id"] for q in st.query_list(s.get_json("/v1/queries"))]
        self.assertEqual(ids, ["TOTALS"])
        names = [x["name"] for x in s.statements("SHOW STREAMS")[0]["streams"]]
        self.assertEqual(names, ["CLICKS"])
        self.assertApiError(s.get("/v1/queries/WINDOWS"), 404, "UNKNOWN_QUERY", server=s)
        # The name is free again, and the new stream starts empty.
        s.statements("CREATE STREAM other (x INT);")
        self.assertEqual(s.count("OTHER"), 0)

    def test_subscribers_get_an_error_line_on_shutdown(self):
        s = self.srv
        self.setup_queries()
        with s.results("TOTALS") as res:
            res.read_header()
            s.ingest("CLICKS", ev(1, "a", 1))
            res.read_rows(1)
            s.proc.send_signal(st.signal.SIGTERM)
            last = res.expect_obj()
            self.assertIn("error", last, "last line before shutdown: %r" % (last,))
            self.assertEqual(last["error"].get("code"), "SHUTTING_DOWN", last)
            self.assertIsNone(res.read_obj())
        self.assertEqual(s.proc.wait(timeout=st.STOP_TIMEOUT), 0,
                         "exit status after SIGTERM")
        s.start()
        self.assertEqual(self.replay_all("TOTALS", 1), [total(1, "a", 1, 1)])


if __name__ == "__main__":
    st.main()
