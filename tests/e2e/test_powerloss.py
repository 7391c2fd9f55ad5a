#!/usr/bin/env python3
"""Power loss (SPEC section 6: with --fsync always an acknowledged event survives a power
loss).  The server runs with tests/e2e/powerloss.so preloaded, which keeps, beside the
data directory, the image a power cut would leave at any moment: each file as of its
last fsync, and no file that was never synced.  A writer posts batches and the server is
SIGKILLed right after an acknowledgement or while a request is in flight (the power
cut); a server started on the image must have every acknowledged event, and its
persistent query must start.  The same cut with --fsync normal loses acknowledged events
(SQLite does not sync its log per commit then), which shows the image really is what a
power cut leaves."""

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

SHIM = os.environ.get("SLUICE_POWERLOSS_SHIM", "")
SEED = 20261124
BATCH = 20
SCHEMA = "CREATE STREAM ev (id INT, k VARCHAR) WITH (RETENTION='3650 DAYS');"
QUERY = "SELECT k, COUNT(*) AS c, SUM(id) AS s FROM ev GROUP BY k EMIT CHANGES"


def batch(b):
    return [{"ROWTIME": (b * BATCH + j) * 10, "ID": b * BATCH + j, "K": "k%d" % (j % 3)}
            for j in range(BATCH)]


@unittest.skipIf(st.WRAPPER, "the shim is preloaded into the server, not into a wrapper")
@unittest.skipUnless(os.path.exists(SHIM), "powerloss.so is not built (make check builds it)")
class PowerLossTest(st.ServerPerTestCase):
    def server_with_shim(self, fsync):
        """A server whose data directory's power-cut image is kept in a directory of its
        own; returns (server, image directory)."""
        image = tempfile.mkdtemp(prefix="sluice-powerloss-")
        self.addCleanup(shutil.rmtree, image, True)
        srv = st.Server(["--fsync", fsync, "--checkpoint-interval", "1"])
        self.addCleanup(srv.close)
        srv.extra_env.update({
            "LD_PRELOAD": SHIM,
            "POWERLOSS_DATA": os.path.realpath(srv.data_dir),
            "POWERLOSS_IMAGE": image,
            # An ASan build wants its runtime first; the shim has none.
            "ASAN_OPTIONS": (os.environ.get("ASAN_OPTIONS", "") + ":verify_asan_link_order=0"),
        })
        return srv.start(), image

    def cut_power(self, fsync, acked, in_flight, rng):
        """Posts `acked` batches (each answered 200), then kills the server, at once or
        while one more batch is in flight; returns a server started on the image."""
        srv, image = self.server_with_shim(fsync)
        srv.statements(SCHEMA)
        srv.create_query(QUERY, name="TOTALS")
        for b in range(acked):
            srv.ingest("ev", batch(b))
        if in_flight:
            body = json.dumps(batch(acked)).encode()
            s = socket.create_connection((st.HOST, srv.port), timeout=st.IO_TIMEOUT)
            s.sendall(("POST /v1/streams/ev/events HTTP/1.1\r\nHost: x\r\nContent-Type: "
                       "application/json\r\nContent-Length: %d\r\nConnection: close\r\n\r\n"
                       % len(body)).encode() + body)
            time.sleep(rng.random() * 0.01)
            srv.kill()
            s.close()
        else:
            srv.kill()
        after = st.Server()
        self.addCleanup(after.close)
        shutil.rmtree(after.data_dir)
        # A copy cut short by the kill is not part of the image.
        shutil.copytree(image, after.data_dir, ignore=shutil.ignore_patterns("*.powerloss-tmp"))
        return after.start()

    def acknowledged_present(self, srv, acked):
        """How many of the first acked batches' events the server has."""
        if srv.get("/v1/streams/ev").status != 200:
            return 0
        doc = srv.batch("SELECT COUNT(*) AS n FROM ev WHERE id < %d" % (acked * BATCH))
        return doc["rows"][0]["N"] if doc["rows"] else 0

    def test_fsync_always_keeps_every_acknowledged_event(self):
        rng = random.Random(SEED)
        for rnd in range(4):
            acked = 5 + rng.randrange(40)
            srv = self.cut_power("always", acked, rnd % 2 == 1, rng)
            self.assertEqual(self.acknowledged_present(srv, acked), acked * BATCH,
                             "round %d: %d batches acknowledged" % (rnd, acked))
            # The persistent query starts on the image and has read every event kept.
            info = srv.query_info("TOTALS")
            self.assertEqual(info["state"], "running")
            self.assertEqual(info["rows_in"], srv.count("ev"))
            self.assertHealthy(srv)

    def test_fsync_normal_loses_acknowledged_events(self):
        srv = self.cut_power("normal", 30, False, random.Random(SEED))
        self.assertLess(self.acknowledged_present(srv, 30), 30 * BATCH)
        self.assertHealthy(srv)


if __name__ == "__main__":
    st.main()
