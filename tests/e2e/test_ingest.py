#!/usr/bin/env python3
"""Ingest with group commit, end to end (docs/performance.md, docs/guarantees.md).

Many clients send one event per request at once over keep-alive connections, so that
requests arriving while a commit runs are stored together in the next one.  Some
requests are bad (a wrong type in their second event) and some are sent twice, by two
clients at the same time, with one Idempotency-Key.  Whatever the grouping: every
acknowledged event is stored exactly once and seen once by a query's subscriber (seqs
without a gap), every bad request is rejected alone with nothing of it stored, and the
two sends of a keyed request get the same answer, one of them stored.  The same with
--fsync always.  A request whose client goes away right after sending it is stored all
the same.  And a stream made again with other columns is decoded with them."""

import http.client
import json
import os
import socket
import sys
import threading
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import sluice_test as st  # noqa: E402

CLIENTS = 8
REQUESTS = 40  # per client
SHARED = 12  # keyed requests each sent by two clients at once


def post(conn, path, body, headers):
    """One request on a keep-alive connection; (status, headers, parsed body)."""
    conn.request("POST", path, body=body.encode("utf-8"), headers=headers)
    r = conn.getresponse()
    data = r.read()
    return r.status, {k.lower(): v for k, v in r.getheaders()}, json.loads(data)


class GroupCommitTest(st.SluiceTestCase):
    server_args = []

    def client(self, c, acked, bad, replies, errors):
        """Client c: its own events (ids c*1000+j), every 7th request bad, and its share of
        the shared keyed requests."""
        path = "/v1/streams/ticks/events"
        conn = http.client.HTTPConnection(st.HOST, self.server.port, timeout=st.IO_TIMEOUT)
        try:
            for j in range(REQUESTS):
                i = c * 1000 + j
                # Clients c and c + CLIENTS/2 send the same keyed requests.
                if j < SHARED:
                    key = "shared-%d-%d" % (c % (CLIENTS // 2), j)
                    body = json.dumps({"ID": 90000 + (c % (CLIENTS // 2)) * 100 + j, "V": 0})
                    status, hdrs, doc = post(conn, path, body, {
                        "Content-Type": "application/json", "Idempotency-Key": key})
                    replies.append((key, status, doc, hdrs.get("idempotent-replayed")))
                if j % 7 == 3:
                    body = json.dumps([{"ID": i, "V": 1}, {"ID": "not an int", "V": 2}])
                    status, _, doc = post(conn, path, body, {"Content-Type": "application/json"})
                    if status != 400 or doc["error"]["code"] != "BAD_EVENT" \
                            or doc["error"].get("index") != 1:
                        errors.append("bad request %d answered %d %r" % (i, status, doc))
                    bad.append(i)
                    continue
                body = json.dumps({"ID": i, "V": j})
                status, _, doc = post(conn, path, body, {"Content-Type": "application/json"})
                if (status, doc) != (200, {"accepted": 1}):
                    errors.append("request %d answered %d %r" % (i, status, doc))
                acked.append(i)
        except (OSError, http.client.HTTPException) as e:
            errors.append("client %d: %r" % (c, e))
        finally:
            conn.close()

    def test_concurrent_single_events(self):
        s = self.server
        s.statements("CREATE STREAM ticks (id INT, v INT) WITH (RETENTION='3650 DAYS');")
        qid = s.create_query("SELECT id FROM ticks EMIT CHANGES", name="TICKS_SEEN")
        before = s.count("ticks")
        acked, bad, replies, errors = [], [], [], []
        with s.results(qid) as stream:
            stream.read_header()
            threads = [threading.Thread(target=self.client, args=(c, acked, bad, replies, errors))
                       for c in range(CLIENTS)]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            self.assertEqual(errors, [])

            # Each shared key: both sends answered 200 {"accepted": 1}, at most one of
            # them a replay (when both went into one group, the second one is).
            by_key = {}
            for key, status, doc, replayed in replies:
                self.assertEqual((status, doc), (200, {"accepted": 1}), key)
                by_key.setdefault(key, []).append(replayed)
            self.assertEqual(len(by_key), (CLIENTS // 2) * SHARED)
            for key, marks in by_key.items():
                self.assertEqual(sorted(m or "" for m in marks), ["", "true"], key)
            shared_ids = [90000 + c * 100 + k for c in range(CLIENTS // 2) for k in range(SHARED)]
            expected = sorted(acked + shared_ids)

            # Stored exactly once each; nothing of a bad request.
            doc = s.batch("SELECT id FROM ticks")
            stored = sorted(r["ID"] for r in doc["rows"])
            self.assertEqual(len(stored), before + len(expected))
            self.assertEqual(stored, expected)
            self.assertFalse(set(bad) & set(stored))

            # The subscriber sees each one once, seqs without a gap.
            rows = stream.read_rows(len(expected))
            self.assertEqual([r["seq"] for r in rows], list(range(1, len(expected) + 1)))
            self.assertEqual(sorted(r["row"]["ID"] for r in rows), expected)
        info = s.query_info(qid)
        self.assertEqual(st.stat(info, "rows_in"), len(expected))

    def test_vanished_client_is_stored(self):
        """The whole body arrived: the request is stored though nobody reads the answer
        (the client closes the connection right after sending)."""
        s = self.server
        s.statements("CREATE STREAM gone (id INT);")
        qid = s.create_query("SELECT id FROM gone EMIT CHANGES", name="GONE_SEEN")
        with s.results(qid) as stream:
            stream.read_header()
            body = b'{"ID": 777}'
            sock = socket.create_connection((st.HOST, s.port), timeout=st.IO_TIMEOUT)
            sock.sendall(b"POST /v1/streams/gone/events HTTP/1.1\r\nHost: x\r\n"
                         b"Content-Type: application/json\r\nContent-Length: %d\r\n\r\n%s"
                         % (len(body), body))
            sock.close()
            rows = stream.read_rows(1)
            self.assertEqual(rows[0]["row"], {"ID": 777})
        self.assertEqual(s.count("gone"), 1)


class GroupCommitFsyncAlwaysTest(GroupCommitTest):
    """The same with one fsync per group."""

    server_args = ["--fsync", "always"]


class SchemaChangeTest(st.SluiceTestCase):
    """Requests are decoded with a cached copy of their stream's schema: a stream dropped
    and made again with other columns is decoded with the new ones, both when the old
    copy rejects the body and when it accepts it in the old layout."""

    def test_stream_made_again(self):
        s = self.server
        s.statements("CREATE STREAM again (a INT);")
        s.ingest("again", [{"A": 1}])
        s.statements("DROP STREAM again; CREATE STREAM again (a VARCHAR, b INT);")
        s.ingest("again", [{"A": "x", "B": 2}])
        self.assertEqual(s.batch("SELECT a, b FROM again")["rows"], [{"A": "x", "B": 2}])
        s.statements("DROP STREAM again; CREATE STREAM again (b INT, a INT);")
        s.ingest("again", [{"B": 6}])
        self.assertEqual(s.batch("SELECT b, a FROM again")["rows"], [{"B": 6, "A": None}])
        r = s.post_events("again", [{"A": "not an int"}])
        self.assertApiError(r, 400, "BAD_EVENT")


if __name__ == "__main__":
    st.main()
