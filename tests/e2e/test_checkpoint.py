#!/usr/bin/env python3
"""Query checkpoints over the real binary (docs/guarantees.md, "Restarts"): a persistent
query checkpoints its state now and then (here every second, --checkpoint-interval 1000)
and at a clean stop; after a restart it restores its checkpoint and replays only the
events after it, which GET /v1/queries/{id} shows ("restore": from_checkpoint,
replay_from, replayed_events).  Across SIGKILL and SIGTERM: EMIT FINAL rows come once,
none missing; a client resuming with ?from= its last seq (changes and late rows) sees
each later seq once, without a gap; a damaged checkpoint is refused with a log line and
the query replays its whole log.  And ?snapshot=true streams a snapshot larger than the
subscriber buffer whole, then the changes after it."""

import os
import sqlite3
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import sluice_test as st  # noqa: E402

ARGS = ["--checkpoint-interval", "1000"]
SCHEMA = ("CREATE STREAM clicks (k VARCHAR, v INT) WITH (RETENTION='3650 DAYS');")
TOTALS = "SELECT k, COUNT(*) AS c, SUM(v) AS t FROM clicks GROUP BY k EMIT CHANGES"
FINAL = ("SELECT k, COUNT(*) AS c, SUM(v) AS t FROM clicks WINDOW TUMBLING (SIZE 10 SECONDS) "
         "GROUP BY k EMIT FINAL")
# How long a test waits for the once-a-second upkeep to take a checkpoint.
CHECKPOINT_WAIT = 10.0 * st.TIMEOUT_SCALE


def events(first, n, step=1000):
    """n events from ROWTIME first * step on, four keys, v = their index."""
    return [{"ROWTIME": (first + i) * step, "K": "k%d" % ((first + i) % 4), "V": first + i}
            for i in range(n)]


def wait_checkpoint(srv, qid, offset, wait=CHECKPOINT_WAIT):
    """Waits until the query's last checkpoint covers the log up to offset (for at most
    wait seconds); returns its status."""
    deadline = time.monotonic() + wait
    while True:
        info = srv.query_info(qid)
        ck = info["checkpoint"]
        if ck and ck["offset"] >= offset:
            return info
        if time.monotonic() > deadline:
            raise AssertionError("no checkpoint at offset %d within %.0f s: %r"
                                 % (offset, wait, info))
        time.sleep(0.05)


def all_changes(srv, qid, n):
    """The query's kept output from seq 1: n lines, then nothing more kept."""
    with srv.results(qid, "from=0") as res:
        res.read_header()
        rows = [(o["seq"], o["row"]) for o in res.read_rows(n)]
    assert srv.query_info(qid)["seq"] == n, "more than %d changes" % n
    return rows


class CheckpointRestartTest(st.ServerPerTestCase):
    def setUp(self):
        self.srv = self.new_server(ARGS)
        s = self.srv
        s.statements(SCHEMA)
        s.create_query(TOTALS, name="TOTALS")
        s.create_query(FINAL, name="FINAL")

    def assert_restored(self, qid, offset, replayed):
        r = self.srv.query_info(qid)["restore"]
        self.assertEqual(r, {"from_checkpoint": True, "replay_from": offset,
                             "replayed_events": replayed, "error": None})

    def assert_restored_after(self, qid, offset, events):
        """Restored from a checkpoint at offset or later (the upkeep may have taken one
        more before the kill), replaying the rest of the events only."""
        r = self.srv.query_info(qid)["restore"]
        self.assertTrue(r["from_checkpoint"], r)
        self.assertGreaterEqual(r["replay_from"], offset, r)
        self.assertEqual(r["replay_from"] + r["replayed_events"], events, r)

    def test_sigkill_restores_the_checkpoint(self):
        s = self.srv
        for b in range(10):
            s.ingest("clicks", events(b * 10, 10))
        wait_checkpoint(s, "TOTALS", 100)
        wait_checkpoint(s, "FINAL", 100)
        s.ingest("clicks", events(100, 7))
        totals, finals = s.query_info("TOTALS")["seq"], s.query_info("FINAL")["seq"]
        self.assertEqual((totals, finals), (107, 40))
        before = (all_changes(s, "TOTALS", totals), all_changes(s, "FINAL", finals))

        s.kill()
        s.start()
        # Each query restored its checkpoint (at offset 100, unless the upkeep took one
        # more before the kill) and replayed only the events after it.
        self.assert_restored_after("TOTALS", 100, 107)
        self.assert_restored_after("FINAL", 100, 107)
        self.assertEqual((all_changes(s, "TOTALS", totals), all_changes(s, "FINAL", finals)),
                         before)
        # It goes on as before: the window [100 s, 110 s) closes once, after seq 40.
        s.ingest("clicks", events(110, 1))
        with s.results("FINAL", "from=40") as res:
            res.read_header()
            rows = res.read_rows(4)
        self.assertEqual([r["seq"] for r in rows], [41, 42, 43, 44])
        self.assertRowsEqual(
            [{"WINDOWSTART": 100000, "WINDOWEND": 110000, "K": "k%d" % k,
              "C": 2 if k < 3 else 1, "T": (100 + k) + (104 + k if k < 3 else 0)}
             for k in range(4)],
            [r["row"] for r in rows], ordered=False)
        # Batch over the whole log agrees with every final row, none twice.
        rows = [r for _, r in all_changes(s, "FINAL", 44)]
        doc = s.batch("SELECT k, COUNT(*) AS c, SUM(v) AS t FROM clicks WINDOW TUMBLING "
                      "(SIZE 10 SECONDS) GROUP BY k")
        self.assertRowsEqual([r for r in doc["rows"] if r["WINDOWSTART"] < 110000], rows,
                             ordered=False)

    def test_sigterm_checkpoints_at_stop(self):
        s = self.srv
        s.ingest("clicks", events(0, 25))
        seq = s.query_info("TOTALS")["seq"]
        self.assertEqual(s.stop(), 0)
        s.start()
        # Nothing to replay: the stop checkpointed everything.
        self.assert_restored("TOTALS", 25, 0)
        self.assert_restored("FINAL", 25, 0)
        info = s.query_info("TOTALS")
        self.assertEqual((info["seq"], info["rows_in"], info["checkpoint"]["offset"]),
                         (seq, 25, 25))

    def test_resume_from_across_restarts(self):
        """A client connected before each restart resumes with ?from= its last seq and
        sees every later seq once, of the changes and of the late rows."""
        s = self.srv
        seen, late_seen = [], []
        s.ingest("clicks", events(0, 30))
        late = [{"ROWTIME": 500, "K": "late%d" % i, "V": i} for i in range(3)]
        for restart in range(4):
            with s.results("TOTALS", "from=%d" % (seen[-1] if seen else 0)) as res, \
                    s.open_stream("/v1/queries/FINAL/late?from=%d"
                                  % (late_seen[-1] if late_seen else 0)) as lres:
                self.assertEqual(lres.status, 200)
                res.read_header()
                lres.read_header()
                s.ingest("clicks", events(30 + restart * 5, 5))
                s.ingest("clicks", late[restart % 3])
                # Read only part of what there is before the crash.
                want = s.query_info("TOTALS")["seq"] - (seen[-1] if seen else 0) - 3
                seen += [o["seq"] for o in res.read_rows(want)]
                late_seen.append(lres.read_rows(1)[0]["seq"])
            if restart % 2 == 0:
                wait_checkpoint(s, "TOTALS", s.get_json("/v1/streams/clicks")["events"])
                # One more event (stream time does not move) for the restore to replay.
                s.ingest("clicks", events(34 + restart * 5, 1))
                s.kill()
            else:
                self.assertEqual(s.stop(), 0)
            s.start()
        last = s.query_info("TOTALS")["seq"]
        with s.results("TOTALS", "from=%d" % seen[-1]) as res:
            res.read_header()
            seen += [o["seq"] for o in res.read_rows(last - seen[-1])]
        self.assertEqual(seen, list(range(1, last + 1)))
        # Late rows: seq 1, 2, 3, 4 across the restarts, never starting over.
        self.assertEqual(late_seen, [1, 2, 3, 4])
        self.assertEqual(s.query_info("FINAL")["late_seq"], 4)

    def test_damaged_checkpoint_replays_the_log(self):
        s = self.srv
        s.ingest("clicks", events(0, 40))
        before = all_changes(s, "TOTALS", 40)
        self.assertEqual(s.stop(), 0)
        db = sqlite3.connect(os.path.join(s.data_dir, "sluice.db"))
        db.execute("UPDATE checkpoint_parts SET data = zeroblob(length(data)) "
                   "WHERE query_id = 'TOTALS'")
        db.commit()
        db.close()
        s.start()
        info = s.query_info("TOTALS")
        self.assertEqual(info["restore"]["from_checkpoint"], False)
        self.assertEqual(info["restore"]["replay_from"], 0)
        self.assertEqual(info["restore"]["replayed_events"], 40)
        self.assertIn("damaged checkpoint", info["restore"]["error"])
        self.assertEqual(all_changes(s, "TOTALS", 40), before)
        self.assertIn("query TOTALS: its checkpoint is not used (damaged checkpoint: ",
                      s.stderr_tail())
        # The other query's checkpoint was fine.
        self.assertTrue(s.query_info("FINAL")["restore"]["from_checkpoint"])
        # The next checkpoint is good again.
        self.assertEqual(s.stop(), 0)
        s.start()
        self.assertEqual(s.query_info("TOTALS")["restore"],
                         {"from_checkpoint": True, "replay_from": 40, "replayed_events": 0,
                          "error": None})


BIG_SCHEMA = "CREATE STREAM big (k INT, p VARCHAR) WITH (RETENTION='3650 DAYS');"
BIG = ("SELECT k, COUNT(*) AS c, MAX(p) AS p FROM big WINDOW TUMBLING (SIZE 1 HOUR) "
       "GROUP BY k EMIT FINAL")
# Keys of a 600-character string each: 10 000 of them make a state of about 7 MB,
# stored in about 7 parts of SL_CHECKPOINT_PART_BYTES (1 MiB).
BIG_KEYS = 10000


def big_events(first, n):
    return [{"ROWTIME": 1000, "K": k, "P": ("%06d" % k) * 100}
            for k in range(first, first + n)]


class CheckpointInPartsTest(st.ServerPerTestCase):
    """A checkpoint's state is written in parts, a short transaction each, off the server
    lock, and becomes the query's checkpoint in one last transaction: a SIGKILL while
    the parts are being written keeps the previous checkpoint, which the restart
    restores; a checkpoint with a part missing is refused with the reason shown."""

    def db_one(self, srv, sql):
        db = sqlite3.connect("file:%s?mode=ro" % os.path.join(srv.data_dir, "sluice.db"),
                             uri=True, timeout=30)
        try:
            return db.execute(sql).fetchone()[0]
        finally:
            db.close()

    def test_sigkill_while_writing_parts_keeps_the_previous_checkpoint(self):
        s = self.new_server(ARGS)
        s.statements(BIG_SCHEMA)
        s.create_query(BIG, name="BIG")
        half = BIG_KEYS // 2
        for first in range(0, half, 1000):
            s.ingest("big", big_events(first, 1000))
        # The upkeep waits twenty times as long as the last checkpoint took.
        previous = wait_checkpoint(s, "BIG", half, 6 * CHECKPOINT_WAIT)["checkpoint"]["offset"]
        prev_gen = self.db_one(s, "SELECT gen FROM checkpoints WHERE query_id = 'BIG'")

        # The second half: the next checkpoint (about 20 parts) is killed mid-write.  The
        # write is seen in progress when parts of a newer generation are stored than the
        # checkpoint names; should one finish before the kill lands, try again.
        caught = False
        for attempt in range(5):
            if attempt == 0:
                for first in range(half, BIG_KEYS, 1000):
                    s.ingest("big", big_events(first, 1000))
            else:
                s.ingest("big", big_events(0, 10))  # keys it has: a change to checkpoint
            deadline = time.monotonic() + 6 * CHECKPOINT_WAIT
            while True:
                self.assertLess(time.monotonic(), deadline, "no checkpoint write seen")
                newer = self.db_one(
                    s, "SELECT count(*) FROM checkpoint_parts WHERE query_id = 'BIG' AND "
                    "gen > (SELECT gen FROM checkpoints WHERE query_id = 'BIG')")
                if newer:
                    break
                time.sleep(0.002)
            s.kill()
            gen = self.db_one(s, "SELECT gen FROM checkpoints WHERE query_id = 'BIG'")
            if gen == prev_gen:
                caught = True
                break
            # The write finished first: that checkpoint is now the previous one.
            prev_gen = gen
            previous = self.db_one(s, "SELECT log_offset FROM checkpoints "
                                   "WHERE query_id = 'BIG'")
            s.start()
        self.assertTrue(caught, "every checkpoint write finished before the kill")
        events = self.db_one(s, "SELECT next_offset FROM streams WHERE upper(name) = 'BIG'")
        self.assertGreater(self.db_one(s, "SELECT count(*) FROM checkpoint_parts "
                                       "WHERE query_id = 'BIG' AND gen > %d" % prev_gen), 0)

        s.start()
        self.assertEqual(s.query_info("BIG")["restore"],
                         {"from_checkpoint": True, "replay_from": previous,
                          "replayed_events": events - previous, "error": None})
        info = s.query_info("BIG")
        self.assertEqual(info["rows_in"], events, info)

        # A clean stop writes the next checkpoint whole and deletes the other parts.
        self.assertEqual(s.stop(), 0)
        gen = self.db_one(s, "SELECT gen FROM checkpoints WHERE query_id = 'BIG'")
        self.assertGreater(gen, prev_gen)
        self.assertEqual(self.db_one(s, "SELECT count(*) FROM checkpoint_parts "
                                     "WHERE gen <> %d" % gen), 0)
        parts = self.db_one(s, "SELECT parts FROM checkpoints WHERE query_id = 'BIG'")
        self.assertGreaterEqual(parts, 5)

        # A part lost: the checkpoint is refused, saying so, and the log replayed.
        db = sqlite3.connect(os.path.join(s.data_dir, "sluice.db"))
        db.execute("DELETE FROM checkpoint_parts WHERE n = 1")
        db.commit()
        db.close()
        s.start()
        r = s.query_info("BIG")["restore"]
        self.assertFalse(r["from_checkpoint"], r)
        self.assertEqual(r["replay_from"], 0)
        self.assertEqual(r["error"], "damaged checkpoint: part 1 of %d is missing" % parts)
        # Every key's window row comes once the window closes: the state is whole.
        s.ingest("big", [{"ROWTIME": 2 * 3600 * 1000, "K": 0, "P": "z"}])
        info = s.query_info("BIG")
        self.assertEqual(info["seq"], BIG_KEYS, info)


class SnapshotTest(st.ServerPerTestCase):
    """?snapshot=true used to queue the whole snapshot into the subscriber's buffer at
    once, so a snapshot larger than --subscriber-buffer was cut off with OVERLOADED.  It
    is now streamed in blocks as the client reads, then the changes made meanwhile."""

    KEYS = 600
    PAD = "x" * 100

    def test_snapshot_larger_than_the_buffer(self):
        s = self.new_server(["--subscriber-buffer", "16K"])
        s.statements(SCHEMA)
        s.create_query("SELECT k, COUNT(*) AS c, LATEST_BY_OFFSET(v) AS v FROM clicks "
                       "GROUP BY k EMIT CHANGES", name="LATEST")
        s.ingest("clicks", [{"ROWTIME": i, "K": "%s%04d" % (self.PAD, i), "V": i}
                            for i in range(self.KEYS)])
        # The first key in the snapshot's order changes last: the snapshot's rows are not
        # in seq order, and the changes after it must start after the newest of them.
        first = "%s%04d" % (self.PAD, 0)
        s.ingest("clicks", {"ROWTIME": self.KEYS, "K": first, "V": 99})
        seq = s.query_info("LATEST")["seq"]
        changed = "%s%04d" % (self.PAD, self.KEYS - 1)
        with s.results("LATEST", "snapshot=true") as res:
            res.read_header()
            # Changes while the snapshot is being read come after it, each once.
            s.ingest("clicks", [{"ROWTIME": 1000, "K": changed, "V": -7},
                                {"ROWTIME": 1000, "K": "new", "V": -1}])
            rows = []
            while not rows or rows[-1]["seq"] != seq + 2:
                rows += res.read_rows(1)
        snap = [r for r in rows if r["seq"] <= seq]
        after = [r for r in rows if r["seq"] > seq]
        # The snapshot as of seq: every key once (the changed one may be left to the
        # changes when the snapshot reached it after the change), none past seq.
        keys = [r["row"]["K"] for r in snap]
        self.assertEqual(len(keys), len(set(keys)))
        self.assertEqual(set(keys) | {changed},
                         {"%s%04d" % (self.PAD, i) for i in range(self.KEYS)})
        self.assertEqual(snap[0], {"seq": seq, "row": {"K": first, "C": 2, "V": 99}})
        self.assertTrue(all(r["row"]["C"] == 1 for r in snap[1:]))
        self.assertEqual([(r["seq"], r["row"]["K"], r["row"]["C"], r["row"]["V"]) for r in after],
                         [(seq + 1, changed, 2, -7), (seq + 2, "new", 1, -1)])
        self.assertHealthy(s)


if __name__ == "__main__":
    st.main()
