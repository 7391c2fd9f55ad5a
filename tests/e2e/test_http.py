#!/usr/bin/env python3
"""End-to-end tests of sluice's HTTP API (docs/http-api.md), run against the real binary:
every endpoint, every error a user can provoke, the framing of result streams, and the
curl tour of the docs.  After every bad request the server must still answer /health,
and a rejected ingest request must have stored nothing."""

import itertools
import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import sluice_test as st  # noqa: E402

_ids = itertools.count(1)


def uniq(prefix="S"):
    """A fresh upper-case name, so that tests sharing a server do not collide."""
    return "%s%d" % (prefix, next(_ids))


class Base(st.SluiceTestCase):
    def make_stream(self, cols="K VARCHAR, V INT", with_=""):
        name = uniq()
        sql = "CREATE STREAM %s (%s)%s;" % (name, cols, (" WITH (%s)" % with_) if with_ else "")
        doc = self.server.statements(sql)
        self.assertEqual(doc[0]["type"], "stream_created")
        return name


class TestBasics(Base):
    def test_health(self):
        r = self.server.get("/health")
        self.assertEqual(r.status, 200)
        self.assertEqual(r.header("content-type", "").split(";")[0], "application/json")
        self.assertEqual(r.json(), {"status": "ok"})

    def test_dashboard(self):
        r = self.server.get("/")
        self.assertEqual(r.status, 200)
        self.assertEqual(r.header("content-type", "").split(";")[0], "text/html")
        self.assertIn("<html", r.text().lower())

    def test_unknown_path_is_404(self):
        for path in ("/nope", "/v1/nope", "/v1/queries/Q1/nope", "/v1/streams/X/nope/deeper"):
            r = self.server.get(path)
            self.assertApiError(r, 404, "NOT_FOUND")

    def test_wrong_method_is_405(self):
        s = self.make_stream()
        for method, path in (("GET", "/v1/statements"), ("PUT", "/v1/statements"),
                             ("GET", "/v1/query"), ("PUT", "/v1/queries"),
                             ("DELETE", "/health"), ("POST", "/health"),
                             ("GET", "/v1/streams/%s/events" % s),
                             ("DELETE", "/v1/streams/%s/events" % s)):
            r = self.server.request(method, path)
            self.assertApiError(r, 405, "METHOD_NOT_ALLOWED")

    def test_streams_endpoints(self):
        s = self.make_stream("K VARCHAR KEY, V INT")
        self.server.ingest(s, [{"ROWTIME": 5, "K": "a", "V": 1},
                               {"ROWTIME": 9, "K": "b", "V": 2},
                               {"ROWTIME": 7, "K": "c", "V": 3}])
        doc = self.server.get_json("/v1/streams")
        self.assertIn(s, [x["name"] for x in doc["streams"]])
        for path in ("/v1/streams/%s" % s, "/v1/streams/%s" % s.lower()):
            info = self.server.get_json(path)
            self.assertEqual(info["name"], s)
            self.assertEqual(info["columns"], [{"name": "K", "type": "VARCHAR", "key": True},
                                               {"name": "V", "type": "INT", "key": False}])
            self.assertEqual(info["events"], 3)
            self.assertEqual(info["watermark"], 9)
        self.assertApiError(self.server.get("/v1/streams/NOPE"), 404, "UNKNOWN_STREAM")
        # A path names a stream like an unquoted identifier: case-insensitively.
        self.server.ingest(s.lower(), {"ROWTIME": 10, "K": "d", "V": 4})
        self.assertEqual(self.server.count(s), 4)

    def test_metrics(self):
        s = self.make_stream()
        self.server.ingest(s, {"ROWTIME": 1, "K": "a", "V": 1})
        r = self.server.get("/metrics")
        self.assertEqual(r.status, 200)
        self.assertEqual(r.header("content-type", "").split(";")[0], "text/plain")
        self.assertIn('sluice_stream_events{stream="%s"} 1' % s, r.text())

    def test_malformed_http_request(self):
        out = self.server.raw_request(b"GARBAGE NONSENSE\r\n\r\n")
        if out:
            self.assertIn(st.parse_response(out).status // 100, (4,))
        self.assertHealthy()
        # A client that announces a body and vanishes before sending it.
        self.server.raw_request(b"POST /v1/statements HTTP/1.1\r\nHost: x\r\n"
                                b"Content-Length: 1000\r\n\r\nCREATE STR", timeout=3)
        self.assertHealthy()


class TestStatements(Base):
    def test_create_show_describe_drop(self):
        name = uniq("PAGEVIEWS")
        doc = self.server.statements(
            "create stream %s (userid varchar KEY, pageid VARCHAR, n INT, d DOUBLE, "
            "b BOOLEAN, big BIGINT, ts TIMESTAMP) WITH (KAFKA_TOPIC='pv', "
            "VALUE_FORMAT='JSON', RETENTION='2 DAYS');" % name.lower())
        self.assertEqual(len(doc), 1)
        self.assertEqual(doc[0]["type"], "stream_created")
        self.assertEqual(doc[0]["name"], name)

        doc = self.server.statements("SHOW STREAMS;")
        self.assertEqual(doc[0]["type"], "streams")
        self.assertIn(name, [x["name"] for x in doc[0]["streams"]])

        doc = self.server.statements("DESCRIBE %s" % name.lower())
        self.assertEqual(doc[0]["type"], "description")
        self.assertEqual(doc[0]["name"], name)
        self.assertEqual(doc[0]["columns"], [
            {"name": "USERID", "type": "VARCHAR", "key": True},
            {"name": "PAGEID", "type": "VARCHAR", "key": False},
            {"name": "N", "type": "INT", "key": False},
            {"name": "D", "type": "DOUBLE", "key": False},
            {"name": "B", "type": "BOOLEAN", "key": False},
            {"name": "BIG", "type": "BIGINT", "key": False},
            {"name": "TS", "type": "TIMESTAMP", "key": False},
        ])

        doc = self.server.statements("DROP STREAM %s;" % name)
        self.assertEqual(len(doc), 1)
        doc = self.server.statements("SHOW STREAMS")
        self.assertNotIn(name, [x["name"] for x in doc[0]["streams"]])
        r = self.server.post_events(name, {"USERID": "u"})
        self.assertApiError(r, 404, "UNKNOWN_STREAM")

    def test_several_statements_and_json_body(self):
        a, b = uniq(), uniq()
        r = self.server.post_json("/v1/statements", {
            "sql": "CREATE STREAM %s (X INT);\n;CREATE STREAM %s (Y INT); SHOW STREAMS;"
                   % (a, b)})
        self.assertEqual(r.status, 200, r)
        doc = r.json()
        self.assertEqual([d["type"] for d in doc], ["stream_created", "stream_created",
                                                    "streams"])
        self.assertEqual([doc[0]["name"], doc[1]["name"]], [a, b])
        names = [x["name"] for x in doc[2]["streams"]]
        self.assertIn(a, names)
        self.assertIn(b, names)

    def test_quoted_identifiers_keep_case(self):
        doc = self.server.statements('CREATE STREAM "MixedCase%d" ("Val" INT, other INT);'
                                     % next(_ids))
        name = doc[0]["name"]
        self.assertTrue(name.startswith("MixedCase"), name)
        self.server.ingest(name, {"ROWTIME": 5, "Val": 7, "OTHER": 8})
        out = self.server.batch('SELECT "Val", other FROM "%s"' % name)
        self.assertEqual(out["columns"], [{"name": "Val", "type": "INT"},
                                          {"name": "OTHER", "type": "INT"}])
        self.assertEqual(out["rows"], [{"Val": 7, "OTHER": 8}])

    def test_create_existing_is_409(self):
        s = self.make_stream()
        r = self.server.post_sql("CREATE STREAM %s (A INT);" % s.lower())
        self.assertApiError(r, 409, "EXISTS")
        doc = self.server.statements("CREATE STREAM IF NOT EXISTS %s (A INT);" % s)
        self.assertEqual(len(doc), 1)
        # The original schema is kept.
        doc = self.server.statements("DESCRIBE %s" % s)
        self.assertEqual([c["name"] for c in doc[0]["columns"]], ["K", "V"])

    def test_syntax_errors(self):
        s = self.make_stream()
        r = self.server.post_sql("SELECT FROM %s" % s)
        err = self.assertApiError(r, 400, "SYNTAX_ERROR", line=1, column=8)
        self.assertEqual(err["message"], 'near "FROM": syntax error')

        r = self.server.post_sql("SELEC K FROM %s" % s)
        err = self.assertApiError(r, 400, "SYNTAX_ERROR", line=1, column=1)
        self.assertEqual(err["message"], 'near "SELEC": syntax error')

        # Line and column count across statements and lines, from 1.
        line3 = "  SELECT K FROM %s WHERE WHERE V = 1;" % s
        r = self.server.post_sql("SHOW STREAMS;\n\n" + line3)
        err = self.assertApiError(r, 400, "SYNTAX_ERROR", line=3,
                                  column=line3.rindex("WHERE") + 1)
        self.assertEqual(err["message"], 'near "WHERE": syntax error')

        r = self.server.post_sql("SELECT 'abc FROM %s" % s)
        self.assertApiError(r, 400, "SYNTAX_ERROR", line=1)
        r = self.server.post_sql("CREATE STREAM %s (A NOTATYPE)" % uniq())
        self.assertApiError(r, 400, "SYNTAX_ERROR", line=1)
        r = self.server.post_sql("SELECT K FROM %s WINDOW TUMBLING (SIZE 1 FORTNIGHT) "
                                 "GROUP BY K EMIT FINAL" % s)
        self.assertApiError(r, 400, "SYNTAX_ERROR", line=1)
        # The same errors through the other SQL endpoints.
        r = self.server.post_sql("SELECT FROM %s EMIT CHANGES" % s, "/v1/queries")
        self.assertApiError(r, 400, "SYNTAX_ERROR", line=1, column=8)
        r = self.server.post_sql("SELECT FROM %s" % s, "/v1/query")
        self.assertApiError(r, 400, "SYNTAX_ERROR", line=1, column=8)

    def test_error_positions_in_later_statements(self):
        s = uniq()
        for select in ("SELECT nope FROM %s EMIT CHANGES" % s, "SELECT nope FROM %s" % s):
            r = self.server.post_sql("CREATE STREAM IF NOT EXISTS %s (A INT);\n  %s;"
                                     % (s, select))
            err = self.assertApiError(r, 400, "UNKNOWN_COLUMN", line=2, column=10)
            self.assertEqual(err.get("statement_index"), 1, err)
        # The statement before the failing one has taken effect.
        self.assertEqual(self.server.statements("DESCRIBE %s" % s)[0]["name"], s)
        r = self.server.post_sql("SHOW STREAMS; SELECT A FROM %s WHERE A = 'x'" % s)
        err = self.assertApiError(r, 400, "TYPE_ERROR", line=1)
        self.assertGreaterEqual(err["column"], len("SHOW STREAMS; SELECT A FROM %s WHERE " % s))

    def test_empty_and_malformed_bodies(self):
        r = self.server.post_sql("")
        self.assertEqual(r.status, 400, r)
        self.assertIn(r.error()["code"], ("SYNTAX_ERROR", "BAD_REQUEST"))
        self.assertHealthy()
        r = self.server.post_sql("  ;  ")
        self.assertApiError(r, 400, "SYNTAX_ERROR")
        r = self.server.request("POST", "/v1/statements", '{"sql": "SHOW STR',
                                {"Content-Type": "application/json"})
        self.assertApiError(r, 400, "BAD_REQUEST")
        r = self.server.request("POST", "/v1/statements", '{"query": "SHOW STREAMS"}',
                                {"Content-Type": "application/json"})
        self.assertApiError(r, 400, "BAD_REQUEST")
        r = self.server.request("POST", "/v1/queries", '{"sql": 5}',
                                {"Content-Type": "application/json"})
        self.assertApiError(r, 400, "BAD_REQUEST")
        r = self.server.request("POST", "/v1/query", b"SELECT \xff\xfe FROM X",
                                {"Content-Type": "text/plain"})
        self.assertEqual(r.status // 100, 4, r)
        r.error()
        self.assertHealthy()

    def test_unknown_stream_is_404(self):
        r = self.server.post_sql("SELECT X FROM NOPE EMIT CHANGES")
        self.assertApiError(r, 404, "UNKNOWN_STREAM", line=1, column=15)
        r = self.server.post_sql("SELECT X FROM NOPE", "/v1/query")
        self.assertApiError(r, 404, "UNKNOWN_STREAM", line=1, column=15)
        r = self.server.post_sql("SELECT X FROM NOPE EMIT CHANGES", "/v1/queries")
        self.assertApiError(r, 404, "UNKNOWN_STREAM", line=1, column=15)
        r = self.server.post_sql("DESCRIBE NOPE")
        self.assertApiError(r, 404, "UNKNOWN_STREAM")
        r = self.server.post_sql("DROP STREAM NOPE")
        self.assertApiError(r, 404, "UNKNOWN_STREAM")
        doc = self.server.statements("DROP STREAM IF EXISTS NOPE")
        self.assertEqual(len(doc), 1)
        r = self.server.post_events("NOPE", {"X": 1})
        self.assertApiError(r, 404, "UNKNOWN_STREAM")

    def test_unknown_column_is_400(self):
        s = self.make_stream()
        r = self.server.post_sql("SELECT NOPE FROM %s EMIT CHANGES" % s)
        self.assertApiError(r, 400, "UNKNOWN_COLUMN", line=1, column=8)
        sql = "SELECT K FROM %s WHERE NOPE = 1" % s
        r = self.server.post_sql(sql, "/v1/query")
        self.assertApiError(r, 400, "UNKNOWN_COLUMN", line=1, column=sql.index("NOPE") + 1)
        sql = "SELECT K, COUNT(*) FROM %s\nGROUP BY nope EMIT CHANGES" % s
        r = self.server.post_sql(sql, "/v1/queries")
        self.assertApiError(r, 400, "UNKNOWN_COLUMN", line=2, column=10)

    def test_type_errors_are_400(self):
        s = self.make_stream("K VARCHAR, V INT, B BOOLEAN")
        sql = "SELECT V + 'a' FROM %s EMIT CHANGES" % s
        err = self.assertApiError(self.server.post_sql(sql), 400, "TYPE_ERROR", line=1)
        self.assertTrue(8 <= err["column"] <= 14, err)  # somewhere in `V + 'a'`
        for sql in ("SELECT SUM(K) FROM %s EMIT CHANGES" % s,
                    "SELECT K FROM %s WHERE V EMIT CHANGES" % s,
                    "SELECT NOT V FROM %s EMIT CHANGES" % s,
                    "SELECT B AND K FROM %s EMIT CHANGES" % s,
                    "SELECT K FROM %s WHERE K > 3 EMIT CHANGES" % s):
            self.assertApiError(self.server.post_sql(sql), 400, "TYPE_ERROR", line=1)

    def test_unsupported_is_422(self):
        s = self.make_stream()
        sql = "SELECT K, COUNT(*) AS C FROM %s GROUP BY K EMIT FINAL" % s
        for path in ("/v1/statements", "/v1/queries", "/v1/query"):
            self.assertApiError(self.server.post_sql(sql, path), 422, "UNSUPPORTED", line=1)
        # A column neither grouped nor aggregated.
        sql = "SELECT K, V, COUNT(*) FROM %s GROUP BY K EMIT CHANGES" % s
        self.assertApiError(self.server.post_sql(sql), 422, "UNSUPPORTED", line=1)
        # A persistent query must be continuous.
        sql = "SELECT K FROM %s" % s
        self.assertApiError(self.server.post_sql(sql, "/v1/queries"), 422, "UNSUPPORTED")

    def test_explain(self):
        s = self.make_stream()
        doc = self.server.statements(
            "EXPLAIN SELECT K, COUNT(*) AS C FROM %s WINDOW TUMBLING (SIZE 1 MINUTE) "
            "WHERE V > 0 GROUP BY K EMIT FINAL" % s)
        self.assertEqual(doc[0]["type"], "plan")
        plan = doc[0]["plan"]
        self.assertIsInstance(plan, str)
        for word in ("PROJECT", "AGGREGATE", "TUMBLING", "FILTER", "SOURCE %s" % s):
            self.assertIn(word, plan)
        # EXPLAIN starts nothing.
        self.assertNotIn(s, json.dumps(self.server.get_json("/v1/queries")))

    def test_select_through_statements(self):
        s = self.make_stream()
        self.server.ingest(s, [{"ROWTIME": 1, "K": "a", "V": 1},
                               {"ROWTIME": 2, "K": "a", "V": 2}])
        doc = self.server.statements(
            "SELECT K, SUM(V) AS S FROM %s GROUP BY K; "
            "SELECT K, COUNT(*) AS C FROM %s GROUP BY K EMIT CHANGES;" % (s, s))
        self.assertEqual(doc[0]["type"], "rows")
        self.assertEqual(doc[0]["columns"], [{"name": "K", "type": "VARCHAR"},
                                             {"name": "S", "type": "BIGINT"}])
        self.assertEqual(doc[0]["rows"], [{"K": "a", "S": 3}])
        self.assertEqual(doc[1]["type"], "query_created")
        qid = doc[1]["id"]
        self.assertIsInstance(qid, str)
        doc = self.server.statements("SHOW QUERIES")
        self.assertEqual(doc[0]["type"], "queries")
        self.assertIn(qid, [q["id"] for q in doc[0]["queries"]])
        self.server.query_info(qid)
        doc = self.server.statements("DROP QUERY %s" % qid)
        self.assertEqual(len(doc), 1)
        self.assertApiError(self.server.get("/v1/queries/%s" % qid), 404, "UNKNOWN_QUERY")
        self.assertApiError(self.server.post_sql("DROP QUERY %s" % qid), 404, "UNKNOWN_QUERY")


class TestIngest(Base):
    def test_forms(self):
        s = self.make_stream("ITEM VARCHAR, PRICE INT")
        r = self.server.post_events(s, {"ROWTIME": 1, "ITEM": "a", "PRICE": 1})
        self.assertEqual((r.status, r.json()), (200, {"accepted": 1}))
        r = self.server.post_events(s, [{"ROWTIME": 2, "ITEM": "b", "PRICE": 2},
                                        {"ROWTIME": 3, "item": "c", "price": 3}])
        self.assertEqual((r.status, r.json()), (200, {"accepted": 2}))
        body = ('{"ROWTIME": 4, "ITEM": "d", "PRICE": 4}\n\n'
                '{"ROWTIME": 5, "ITEM": "e", "PRICE": 5}\n'
                '{"ROWTIME": 6, "ITEM": "f", "PRICE": 6}')  # no final newline
        r = self.server.request("POST", "/v1/streams/%s/events" % s, body,
                                {"Content-Type": st.NDJSON})
        self.assertEqual((r.status, r.json()), (200, {"accepted": 3}))
        self.assertEqual(self.server.count(s), 6)
        out = self.server.batch("SELECT ROWTIME, ITEM, PRICE FROM %s" % s)
        self.assertRowsEqual([{"ROWTIME": i, "ITEM": "abcdef"[i - 1], "PRICE": i}
                              for i in range(1, 7)], out["rows"], ordered=False)

    def test_missing_and_unknown_fields(self):
        s = self.make_stream("A INT, B VARCHAR")
        self.server.ingest(s, [{"ROWTIME": 1, "A": 1}, {"ROWTIME": 2, "B": "x", "EXTRA": [1]},
                               {"ROWTIME": 3, "A": None, "B": None}])
        out = self.server.batch("SELECT ROWTIME, A, B FROM %s" % s)
        self.assertRowsEqual([{"ROWTIME": 1, "A": 1, "B": None},
                              {"ROWTIME": 2, "A": None, "B": "x"},
                              {"ROWTIME": 3, "A": None, "B": None}], out["rows"], ordered=False)

    def test_arrival_time_is_rowtime(self):
        s = self.make_stream()
        before = int(time.time() * 1000)
        self.server.ingest(s, {"K": "a", "V": 1})
        after = int(time.time() * 1000)
        out = self.server.batch("SELECT ROWTIME AS RT FROM %s" % s)
        rt = out["rows"][0]["RT"]
        self.assertTrue(before - 1000 <= rt <= after + 1000, (before, rt, after))

    def test_bad_event_stores_nothing(self):
        s = self.make_stream("ITEM VARCHAR, PRICE INT")
        self.server.ingest(s, {"ROWTIME": 1, "ITEM": "seed", "PRICE": 1})
        qid = self.server.create_query("SELECT ITEM, PRICE FROM %s EMIT CHANGES" % s)
        events = [{"ROWTIME": 2, "ITEM": "a", "PRICE": 1},
                  {"ROWTIME": 3, "ITEM": "b", "PRICE": 2},
                  {"ROWTIME": 4, "ITEM": "c", "PRICE": "2"}]
        for ndjson in (False, True):
            r = self.server.post_events(s, events, ndjson=ndjson)
            err = self.assertApiError(r, 400, "BAD_EVENT")
            self.assertEqual(err.get("index"), 2, err)
            self.assertEqual(str(err.get("field")).upper(), "PRICE", err)
        self.assertEqual(self.server.count(s), 1)
        self.assertEqual(self.server.query_stat(qid, "rows_in"), 1)

        # The first event of a request at fault.
        r = self.server.post_events(s, [{"ROWTIME": 5, "ITEM": 5, "PRICE": 1}])
        err = self.assertApiError(r, 400, "BAD_EVENT")
        self.assertEqual((err.get("index"), str(err.get("field")).upper()), (0, "ITEM"))
        # A line that is not JSON in NDJSON names its index.
        body = '{"ROWTIME": 6, "ITEM": "x", "PRICE": 1}\n{"ITEM": "y", PRICE: 2}\n'
        r = self.server.request("POST", "/v1/streams/%s/events" % s, body,
                                {"Content-Type": st.NDJSON})
        err = self.assertApiError(r, 400, "BAD_EVENT")
        self.assertEqual(err.get("index"), 1, err)
        self.assertEqual(self.server.count(s), 1)
        self.assertEqual(self.server.query_stat(qid, "rows_in"), 1)
        with self.server.results(qid, "from=0") as res:
            res.read_header()
            self.assertEqual(res.read_rows(1)[0], {"seq": 1, "row": {"ITEM": "seed", "PRICE": 1}})
            # The next row is the next good event, nothing of the rejected requests.
            self.server.ingest(s, {"ROWTIME": 7, "ITEM": "next", "PRICE": 7})
            self.assertEqual(res.read_rows(1)[0], {"seq": 2, "row": {"ITEM": "next", "PRICE": 7}})

    def test_wrong_types_are_bad_events(self):
        s = self.make_stream("I INT, BG BIGINT, D DOUBLE, B BOOLEAN, S VARCHAR, T TIMESTAMP")
        cases = [("I", "2"), ("I", 1.5), ("I", 3000000000), ("I", True), ("I", [1]),
                 ("BG", "9"), ("BG", 2.5), ("D", "1.0"), ("D", False), ("B", "true"),
                 ("B", 1), ("S", 5), ("S", {"a": 1}), ("T", "yesterday"), ("T", True)]
        for field, value in cases:
            r = self.server.post_events(s, [{"ROWTIME": 1, "I": 1}, {"ROWTIME": 2, field: value}])
            err = self.assertApiError(r, 400, "BAD_EVENT")
            self.assertEqual((err.get("index"), str(err.get("field")).upper()), (1, field),
                             "%s=%r: %r" % (field, value, err))
        # Two keys naming one column.
        r = self.server.post_events(s, {"ROWTIME": 1, "I": 1, "i": 2})
        self.assertApiError(r, 400, "BAD_EVENT")
        # Not an object; not JSON.
        for body in ("[1, 2]", '"text"', "42", "not json", '{"I": 1', '[{"I": 1},'):
            r = self.server.request("POST", "/v1/streams/%s/events" % s, body,
                                    {"Content-Type": "application/json"})
            err = self.assertApiError(r, 400, "BAD_EVENT")
            self.assertEqual(err.get("index"), 0, "%r: %r" % (body, err))
        self.assertEqual(self.server.count(s), 0)
        # Values at the edges of their types are fine.
        self.server.ingest(s, {"ROWTIME": 1, "I": -2147483648, "BG": -9223372036854775808,
                               "D": 1, "B": False, "S": "", "T": 0})
        out = self.server.batch("SELECT I, BG, D, B, S, T FROM %s" % s)
        self.assertEqual(out["rows"], [{"I": -2147483648, "BG": -9223372036854775808,
                                        "D": 1.0, "B": False, "S": "",
                                        "T": "1970-01-01T00:00:00.000Z"}])

    def test_nested_values_checked_by_type(self):
        s = self.make_stream("TAGS ARRAY<INT>, M MAP<VARCHAR, BOOLEAN>, "
                             "A STRUCT<CITY VARCHAR, GEO STRUCT<LAT DOUBLE>>, BLOB BYTES")
        cases = [("TAGS", [1, "2"], '"TAGS[2]": expected INT, got string'),
                 ("TAGS", {"a": 1}, '"TAGS": expected ARRAY<INT>, got object'),
                 ("M", {"x": 1}, '"M["x"]": expected BOOLEAN, got integer'),
                 ("A", {"geo": {"lat": "n"}}, '"A.GEO.LAT": expected DOUBLE, got string'),
                 ("A", {"city": "x", "CITY": "y"}, '"A": field CITY is given twice'),
                 ("A", [1], '"A": expected STRUCT<CITY VARCHAR, GEO STRUCT<LAT DOUBLE>>, '
                            'got array'),
                 ("BLOB", "not base64!", '"BLOB": "not base64!" is not base64'),
                 ("BLOB", 5, '"BLOB": expected BYTES, got integer')]
        for field, value, message in cases:
            for ndjson in (False, True):
                r = self.server.post_events(s, [{"ROWTIME": 1}, {"ROWTIME": 2, field: value}],
                                            ndjson=ndjson)
                err = self.assertApiError(r, 400, "BAD_EVENT")
                self.assertEqual((err.get("index"), err.get("field"), err.get("message")),
                                 (1, field, message))
        self.assertEqual(self.server.count(s), 0)
        # Well-typed values come back as they went in (keys of a STRUCT by any case).
        self.server.ingest(s, {"ROWTIME": 3, "TAGS": [3, None, -1], "M": {"b": True, "a": False},
                               "A": {"City": "Oslo", "geo": None}, "BLOB": "3q2+7w=="})
        out = self.server.batch("SELECT TAGS, M, A, BLOB, A->CITY, TAGS[3] AS T3 FROM %s" % s)
        self.assertEqual(out["columns"][2], {"name": "A", "type":
                                             "STRUCT<CITY VARCHAR, GEO STRUCT<LAT DOUBLE>>"})
        self.assertEqual(out["rows"], [{"TAGS": [3, None, -1], "M": {"b": True, "a": False},
                                        "A": {"CITY": "Oslo", "GEO": None}, "BLOB": "3q2+7w==",
                                        "CITY": "Oslo", "T3": -1}])

    def test_empty_body_is_400(self):
        s = self.make_stream()
        for ctype in ("application/json", st.NDJSON):
            for body in ("", "  \n"):
                r = self.server.request("POST", "/v1/streams/%s/events" % s, body,
                                        {"Content-Type": ctype})
                self.assertApiError(r, 400, "BAD_REQUEST")
        self.assertEqual(self.server.count(s), 0)

    def test_timestamp_column_must_be_set(self):
        s = self.make_stream("TS BIGINT, K VARCHAR", "TIMESTAMP='TS'")
        r = self.server.post_events(s, [{"TS": 5, "K": "a"}, {"K": "b", "ROWTIME": 7}])
        err = self.assertApiError(r, 400, "BAD_EVENT")
        self.assertEqual((err.get("index"), str(err.get("field")).upper()), (1, "TS"))
        self.assertEqual(self.server.count(s), 0)


class TestDecimal(Base):
    """DECIMAL values are JSON numbers written exactly (SPEC): what goes in comes out
    digit for digit, through the log, a persistent query's stream and a batch query."""

    def post_raw(self, stream, body):
        return self.server.request("POST", "/v1/streams/%s/events" % stream, body,
                                   {"Content-Type": "application/json"})

    def test_round_trip_is_exact(self):
        s = self.make_stream("ID INT, AMOUNT DECIMAL(38, 9), SMALL DECIMAL(4, 2)")
        desc = self.server.get_json("/v1/streams/%s" % s)
        self.assertIn({"name": "AMOUNT", "type": "DECIMAL(38, 9)", "key": False},
                      desc["columns"], desc)
        qid = self.server.create_query(
            "SELECT id, amount, small, amount * 2 AS twice FROM %s EMIT CHANGES" % s)
        with self.server.results(qid) as res:
            header = res.read_header()
            self.assertEqual(header["columns"][1:], [
                {"name": "AMOUNT", "type": "DECIMAL(38, 9)"},
                {"name": "SMALL", "type": "DECIMAL(4, 2)"},
                {"name": "TWICE", "type": "DECIMAL(38, 6)"}])
            r = self.post_raw(s, '[{"ROWTIME": 1, "ID": 1, "AMOUNT": 12345678901234567890.123456789,'
                                 ' "SMALL": 0.1},'
                                 ' {"ROWTIME": 2, "ID": 2, "AMOUNT": -1E-9, "SMALL": -99.99}]')
            self.assertEqual((r.status, r.json()), (200, {"accepted": 2}))
            lines = [res.readline() for _ in range(2)]
        want = ['{"seq":1,"row":{"ID":1,"AMOUNT":12345678901234567890.123456789,"SMALL":0.10,'
                '"TWICE":24691357802469135780.246914}}',
                '{"seq":2,"row":{"ID":2,"AMOUNT":-0.000000001,"SMALL":-99.99,"TWICE":0.000000}}']
        self.assertEqual([l.decode() if isinstance(l, bytes) else l for l in lines], want)
        # The same digits from the stored log, in a batch query.
        r = self.server.post_sql("SELECT amount, small FROM %s" % s, "/v1/query")
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.text(), '{"columns":[{"name":"AMOUNT","type":"DECIMAL(38, 9)"},'
                                   '{"name":"SMALL","type":"DECIMAL(4, 2)"}],"rows":['
                                   '{"AMOUNT":12345678901234567890.123456789,"SMALL":0.10},'
                                   '{"AMOUNT":-0.000000001,"SMALL":-99.99}]}')

    def test_values_that_do_not_fit_are_bad_events(self):
        s = self.make_stream("ID INT, SMALL DECIMAL(4, 2)")
        cases = [('1.005', '"SMALL": 1.005 has more than 2 digits after the point for '
                           'DECIMAL(4, 2)'),
                 ('100', '"SMALL": 100 is out of range for DECIMAL(4, 2)'),
                 ('"1.5"', '"SMALL": expected DECIMAL(4, 2), got string'),
                 ('true', '"SMALL": expected DECIMAL(4, 2), got boolean')]
        for value, message in cases:
            r = self.post_raw(s, '[{"ROWTIME": 1, "SMALL": 1}, {"ROWTIME": 2, "SMALL": %s}]'
                              % value)
            err = self.assertApiError(r, 400, "BAD_EVENT")
            self.assertEqual((err.get("index"), err.get("field"), err.get("message")),
                             (1, "SMALL", message))
        self.assertEqual(self.server.count(s), 0)

    def test_type_errors_name_the_decimal_type(self):
        s = self.make_stream("ID INT, SMALL DECIMAL(4, 2)")
        r = self.server.post_sql("SELECT id,\n  small + 'x' FROM %s;" % s, "/v1/query")
        err = self.assertApiError(r, 400, "TYPE_ERROR", line=2, column=9)
        self.assertEqual(err["message"], "cannot apply '+' to DECIMAL(4, 2) and VARCHAR")


class TestTooLarge(Base):
    server_args = ["--max-body", "1024"]

    def raw_post(self, path, body, ctype):
        head = ("POST %s HTTP/1.1\r\nHost: %s:%d\r\nContent-Type: %s\r\n"
                "Content-Length: %d\r\nConnection: close\r\n\r\n"
                % (path, st.HOST, self.server.port, ctype, len(body)))
        return st.parse_response(self.server.raw_request(head.encode() + body))

    def test_body_over_max_body_is_413(self):
        s = self.make_stream("K VARCHAR")
        big = json.dumps([{"ROWTIME": i, "K": "x" * 20} for i in range(60)]).encode()
        self.assertGreater(len(big), 1024)
        r = self.raw_post("/v1/streams/%s/events" % s, big, "application/json")
        self.assertApiError(r, 413, "TOO_LARGE")
        r = self.raw_post("/v1/statements", b"SHOW STREAMS;" + b" " * 2000, "text/plain")
        self.assertApiError(r, 413, "TOO_LARGE")
        r = self.raw_post("/v1/query", b"SELECT K FROM %s" % s.encode() + b" " * 2000,
                          "text/plain")
        self.assertApiError(r, 413, "TOO_LARGE")
        self.assertEqual(self.server.count(s), 0)
        # A body within the limit is fine.
        self.server.ingest(s, [{"ROWTIME": 1, "K": "x"}])
        self.assertEqual(self.server.count(s), 1)


class TestAuth(Base):
    """With --auth-token-file, /v1 and /metrics need `Authorization: Bearer <token>`;
    /health and the dashboard do not."""

    @classmethod
    def setUpClass(cls):
        import tempfile
        cls.token_dir = tempfile.mkdtemp(prefix="sluice-token-")
        path = os.path.join(cls.token_dir, "token")
        with open(path, "w") as f:
            f.write("s3cret-token\n")
        cls.server_args = ["--auth-token-file", path]
        super().setUpClass()

    @classmethod
    def tearDownClass(cls):
        super().tearDownClass()
        import shutil
        shutil.rmtree(cls.token_dir, ignore_errors=True)

    def test_token_required(self):
        ok = {"Authorization": "Bearer s3cret-token", "Content-Type": "text/plain"}
        for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": "s3cret-token"}):
            r = self.server.request("POST", "/v1/statements", "SHOW STREAMS", headers)
            self.assertApiError(r, 401, "UNAUTHORIZED")
            self.assertApiError(self.server.get("/v1/queries", headers), 401, "UNAUTHORIZED")
            self.assertApiError(self.server.get("/metrics", headers), 401, "UNAUTHORIZED")
        r = self.server.request("POST", "/v1/statements", "CREATE STREAM A (X INT)", ok)
        self.assertEqual(r.status, 200, r)
        r = self.server.request("POST", "/v1/streams/A/events", '{"X": 1}',
                                {"Content-Type": "application/json"})
        self.assertApiError(r, 401, "UNAUTHORIZED")
        r = self.server.request("POST", "/v1/query", "SELECT X FROM A", ok)
        self.assertEqual((r.status, r.json()["rows"]), (200, []))
        self.assertEqual(self.server.get("/").status, 200)


class TestQueries(Base):
    def test_lifecycle_and_stats(self):
        s = self.make_stream()
        qid = self.server.create_query("SELECT K, COUNT(*) AS C FROM %s GROUP BY K EMIT CHANGES"
                                       % s, body_json=False)
        name = uniq("MYQ")
        r = self.server.post_json("/v1/queries", {
            "sql": "SELECT K, SUM(V) AS S FROM %s WINDOW TUMBLING (SIZE 10 SECONDS) "
                   "GROUP BY K EMIT FINAL" % s, "name": name})
        self.assertEqual(r.status, 201, r)
        self.assertEqual(r.json()["id"], name)
        r = self.server.post_json("/v1/queries", {
            "sql": "SELECT K FROM %s EMIT CHANGES" % s, "name": name})
        self.assertApiError(r, 409, "EXISTS")

        ids = [q["id"] for q in st.query_list(self.server.get_json("/v1/queries"))]
        self.assertIn(qid, ids)
        self.assertIn(name, ids)

        self.server.ingest(s, [{"ROWTIME": 1000, "K": "a", "V": 1},
                               {"ROWTIME": 12000, "K": "a", "V": 2},
                               {"ROWTIME": 500, "K": "b", "V": 3}])
        info = self.server.query_info(name)
        self.assertEqual(info.get("id"), name)
        self.assertEqual(st.stat(info, "rows_in"), 3)
        self.assertEqual(st.stat(info, "rows_out"), 1)  # window [0, 10000) for a
        self.assertEqual(st.stat(info, "late_rows"), 1)  # 500 after the close
        self.assertEqual(st.stat(info, "watermark"), 12000)
        self.assertIsInstance(st.stat(info, "state_bytes"), int)
        self.assertGreater(st.stat(info, "state_bytes"), 0)
        info = self.server.query_info(qid)
        self.assertEqual((st.stat(info, "rows_in"), st.stat(info, "rows_out"),
                          st.stat(info, "late_rows")), (3, 3, 0))

        r = self.server.request("DELETE", "/v1/queries/%s" % name)
        self.assertEqual(r.status, 200, r)
        self.assertApiError(self.server.get("/v1/queries/%s" % name), 404, "UNKNOWN_QUERY")
        self.assertApiError(self.server.request("DELETE", "/v1/queries/%s" % name), 404,
                            "UNKNOWN_QUERY")
        r = self.server.get("/v1/queries/%s/results" % name)
        self.assertApiError(r, 404, "UNKNOWN_QUERY")
        ids = [q["id"] for q in st.query_list(self.server.get_json("/v1/queries"))]
        self.assertNotIn(name, ids)

    def test_late_row_stream(self):
        s = self.make_stream()
        name = uniq("LATE")
        r = self.server.post_json("/v1/queries", {
            "sql": "SELECT K, COUNT(*) AS C FROM %s WINDOW TUMBLING (SIZE 10 SECONDS) "
                   "GROUP BY K EMIT FINAL" % s, "name": name})
        self.assertEqual(r.status, 201, r)
        late = self.server.open_stream("/v1/queries/%s/late" % name)
        self.assertEqual(late.status, 200)
        self.assertEqual(late.read_header(), {
            "query": name, "late": True,
            "columns": [{"name": "K", "type": "VARCHAR"}, {"name": "V", "type": "INT"}]})
        self.server.ingest(s, [{"ROWTIME": 1000, "K": "a", "V": 1},
                               {"ROWTIME": 12000, "K": "a", "V": 2},
                               {"ROWTIME": 500, "K": "b", "V": 3}])
        self.assertEqual(late.expect_obj(), {"seq": 1, "row": {"K": "b", "V": 3}})
        self.server.ingest(s, [{"ROWTIME": 9999, "K": "c", "V": None}])
        self.assertEqual(late.expect_obj(), {"seq": 2, "row": {"K": "c", "V": None}})
        late.close()
        self.assertEqual(self.server.query_stat(name, "late_rows"), 2)
        # ?from=SEQ replays the kept late rows after SEQ.
        again = self.server.open_stream("/v1/queries/%s/late?from=1" % name)
        again.read_header()
        self.assertEqual(again.expect_obj(), {"seq": 2, "row": {"K": "c", "V": None}})
        again.close()
        self.assertApiError(self.server.get("/v1/queries/NOPE_%s/late" % name), 404,
                            "UNKNOWN_QUERY")

    def test_history_then_live_from_and_snapshot(self):
        s = self.make_stream()
        self.server.ingest(s, [{"ROWTIME": 1, "K": "a", "V": 1},
                               {"ROWTIME": 2, "K": "a", "V": 1}])
        qid = self.server.create_query(
            "SELECT K, COUNT(*) AS C FROM %s GROUP BY K EMIT CHANGES" % s)
        # The stored history first: ?from=0 replays every change.
        with self.server.results(qid, "from=0") as res:
            h = res.read_header()
            self.assertEqual(h, {"query": qid,
                                 "columns": [{"name": "K", "type": "VARCHAR"},
                                             {"name": "C", "type": "BIGINT"}],
                                 "key": ["K"]})
            self.assertEqual(res.read_rows(2), [{"seq": 1, "row": {"K": "a", "C": 1}},
                                                {"seq": 2, "row": {"K": "a", "C": 2}}])
            # Then live.
            self.server.ingest(s, {"ROWTIME": 3, "K": "b", "V": 1})
            self.assertEqual(res.read_rows(1), [{"seq": 3, "row": {"K": "b", "C": 1}}])
        # Without ?from: live rows only.
        with self.server.results(qid) as res:
            res.read_header()
            self.server.ingest(s, {"ROWTIME": 4, "K": "a", "V": 1})
            self.assertEqual(res.read_rows(1), [{"seq": 4, "row": {"K": "a", "C": 3}}])
        # ?from=SEQ: the changes after SEQ.
        with self.server.results(qid, "from=2") as res:
            res.read_header()
            self.assertEqual(res.read_rows(2), [{"seq": 3, "row": {"K": "b", "C": 1}},
                                                {"seq": 4, "row": {"K": "a", "C": 3}}])
        # ?snapshot=true: the current row of every key, then live.
        with self.server.results(qid, "snapshot=true") as res:
            res.read_header()
            snap = [o["row"] for o in res.read_rows(2)]
            self.assertRowsEqual([{"K": "a", "C": 3}, {"K": "b", "C": 1}], snap, ordered=False)
            self.server.ingest(s, {"ROWTIME": 5, "K": "b", "V": 1})
            self.assertEqual(res.read_rows(1), [{"seq": 5, "row": {"K": "b", "C": 2}}])
        # "from":"latest" skips the history.
        r = self.server.post_json("/v1/queries", {
            "sql": "SELECT K, COUNT(*) AS C FROM %s GROUP BY K EMIT CHANGES" % s,
            "from": "latest"})
        self.assertEqual(r.status, 201, r)
        q2 = r.json()["id"]
        with self.server.results(q2, "from=0") as res:
            res.read_header()
            self.server.ingest(s, {"ROWTIME": 6, "K": "a", "V": 1})
            self.assertEqual(res.read_rows(1), [{"seq": 1, "row": {"K": "a", "C": 1}}])

    def test_bad_from_is_400(self):
        s = self.make_stream()
        qid = self.server.create_query("SELECT K FROM %s EMIT CHANGES" % s)
        for q in ("from=abc", "from=-1", "from="):
            r = self.server.get("/v1/queries/%s/results?%s" % (qid, q))
            self.assertApiError(r, 400, "BAD_REQUEST")

    def test_concurrent_ingest(self):
        import threading
        s = self.make_stream()
        qid = self.server.create_query("SELECT COUNT(*) AS N FROM %s EMIT CHANGES" % s)
        errors = []

        def worker(w):
            try:
                for i in range(20):
                    self.server.ingest(s, [{"ROWTIME": w * 1000 + i, "K": "w%d" % w, "V": j}
                                           for j in range(5)], ndjson=(i % 2 == 0))
            except BaseException as e:  # reported below, in the test's thread
                errors.append(e)

        threads = [threading.Thread(target=worker, args=(w,)) for w in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        self.assertEqual(errors, [])
        self.assertEqual(self.server.count(s), 400)
        info = self.server.query_info(qid)
        self.assertEqual((st.stat(info, "rows_in"), st.stat(info, "rows_out")), (400, 400))
        with self.server.results(qid, "from=399") as res:
            res.read_header()
            self.assertEqual(res.read_rows(1), [{"seq": 400, "row": {"N": 400}}])

    def test_two_subscribers_see_the_same_stream(self):
        s = self.make_stream()
        qid = self.server.create_query("SELECT K, V * 2 AS W FROM %s EMIT CHANGES" % s)
        with self.server.results(qid) as a, self.server.results(qid, sse=True) as b:
            a.read_header()
            self.assertEqual(b.expect_event()["event"], "header")
            self.server.ingest(s, [{"ROWTIME": 1, "K": "x", "V": 2},
                                   {"ROWTIME": 2, "K": "y", "V": -3}])
            rows = a.read_rows(2)
            self.assertEqual(rows, [{"seq": 1, "row": {"K": "x", "W": 4}},
                                    {"seq": 2, "row": {"K": "y", "W": -6}}])
            self.assertEqual([b.expect_event()["data"] for _ in range(2)], rows)

    def test_ndjson_framing(self):
        s = self.make_stream()
        qid = self.server.create_query("SELECT K, V FROM %s EMIT CHANGES" % s)
        with self.server.results(qid) as res:
            self.assertEqual(res.status, 200)
            self.assertEqual(res.headers.get("content-type", "").split(";")[0], st.NDJSON)
            self.assertTrue(res.chunked, "a result stream is chunked: %r" % res.headers)
            res.read_header()
            self.server.ingest(s, [{"ROWTIME": 1, "K": "line\nbreak", "V": 1},
                                   {"ROWTIME": 2, "K": "quote\"s", "V": 2}])
            self.assertEqual(res.read_rows(2), [
                {"seq": 1, "row": {"K": "line\nbreak", "V": 1}},
                {"seq": 2, "row": {"K": "quote\"s", "V": 2}}])
            # Every non-empty line is exactly one JSON object.
            for line in res.lines:
                if line.strip():
                    self.assertIsInstance(json.loads(line), dict)

    def test_sse_framing_and_last_event_id(self):
        s = self.make_stream()
        qid = self.server.create_query("SELECT K, COUNT(*) AS C FROM %s GROUP BY K "
                                       "EMIT CHANGES" % s)
        with self.server.results(qid, sse=True) as res:
            self.assertEqual(res.headers.get("content-type", "").split(";")[0], st.SSE)
            ev = res.expect_event()
            self.assertEqual(ev["event"], "header")
            self.assertEqual(ev["data"]["header"]["query"], qid)
            self.assertEqual(ev["data"]["header"]["key"], ["K"])
            self.server.ingest(s, [{"ROWTIME": 1, "K": "a"}, {"ROWTIME": 2, "K": "a"}])
            evs = [res.expect_event(), res.expect_event()]
            self.assertEqual(evs, [
                {"event": "row", "id": "1", "data": {"seq": 1, "row": {"K": "a", "C": 1}}},
                {"event": "row", "id": "2", "data": {"seq": 2, "row": {"K": "a", "C": 2}}}])
        # Reconnecting with Last-Event-ID resumes after it.
        with self.server.results(qid, sse=True, headers={"Last-Event-ID": "1"}) as res:
            self.assertEqual(res.expect_event()["event"], "header")
            self.assertEqual(res.expect_event(),
                             {"event": "row", "id": "2",
                              "data": {"seq": 2, "row": {"K": "a", "C": 2}}})

    def test_dropped_query_ends_its_streams(self):
        s = self.make_stream()
        qid = self.server.create_query("SELECT K FROM %s EMIT CHANGES" % s)
        with self.server.results(qid) as a, self.server.results(qid, sse=True) as b:
            a.read_header()
            b.expect_event()
            r = self.server.request("DELETE", "/v1/queries/%s" % qid)
            self.assertEqual(r.status, 200, r)
            last = a.expect_obj()
            self.assertIn("error", last)
            self.assertEqual(last["error"].get("code"), "QUERY_DROPPED", last)
            self.assertIsNone(a.read_obj(), "the stream ends after its error line")
            ev = b.expect_event()
            self.assertEqual(ev["event"], "error")
            self.assertEqual(ev["data"]["error"]["code"], "QUERY_DROPPED", ev)
            self.assertIsNone(b.read_event())

    def test_drop_stream_in_use_is_422(self):
        s = self.make_stream()
        qid = self.server.create_query("SELECT K FROM %s EMIT CHANGES" % s)
        self.assertApiError(self.server.post_sql("DROP STREAM %s" % s), 422, "UNSUPPORTED")
        self.server.statements("DROP QUERY %s" % qid)
        self.server.statements("DROP STREAM %s" % s)
        self.assertApiError(self.server.post_sql("DESCRIBE %s" % s), 404, "UNKNOWN_STREAM")


class TestBatchAndPush(Base):
    def test_batch_json_and_ndjson(self):
        s = self.make_stream("PAGEID VARCHAR, V INT")
        self.server.ingest(s, [{"ROWTIME": 1000, "PAGEID": "home", "V": 1},
                               {"ROWTIME": 2000, "PAGEID": "home", "V": 2},
                               {"ROWTIME": 61000, "PAGEID": "about", "V": 3},
                               {"ROWTIME": 62000, "PAGEID": "home", "V": 4}])
        sql = ("SELECT PAGEID, COUNT(*) AS C FROM %s WINDOW TUMBLING (SIZE 1 MINUTE) "
               "GROUP BY PAGEID" % s)
        want_cols = [{"name": "WINDOWSTART", "type": "BIGINT"},
                     {"name": "WINDOWEND", "type": "BIGINT"},
                     {"name": "PAGEID", "type": "VARCHAR"}, {"name": "C", "type": "BIGINT"}]
        # Every window, as if all had closed (the last one too).
        want = [{"WINDOWSTART": 0, "WINDOWEND": 60000, "PAGEID": "home", "C": 2},
                {"WINDOWSTART": 60000, "WINDOWEND": 120000, "PAGEID": "about", "C": 1},
                {"WINDOWSTART": 60000, "WINDOWEND": 120000, "PAGEID": "home", "C": 1}]
        r = self.server.post_sql(sql, "/v1/query")
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.header("content-type", "").split(";")[0], "application/json")
        doc = r.json()
        self.assertEqual(doc["columns"], want_cols)
        self.assertRowsEqual(want, doc["rows"], ordered=False)

        with self.server.open_stream("/v1/query", accept=st.NDJSON, method="POST", body=sql,
                                     headers={"Content-Type": "text/plain"}) as res:
            self.assertEqual(res.status, 200)
            self.assertEqual(res.headers.get("content-type", "").split(";")[0], st.NDJSON)
            first = res.expect_obj()
            self.assertEqual(first["header"]["columns"], want_cols)
            rows = []
            while True:
                o = res.read_obj()
                if o is None:
                    break
                self.assertEqual(list(o), ["row"], o)
                rows.append(o["row"])
            self.assertRowsEqual(want, rows, ordered=False)

        # A JSON body works too; an empty result is an empty list.
        r = self.server.post_json("/v1/query", {"sql": "SELECT V FROM %s WHERE V > 100" % s})
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.json(), {"columns": [{"name": "V", "type": "INT"}], "rows": []})

    def test_batch_order_by_limit_and_rowtime_range(self):
        s = self.make_stream()
        # Three requests: three stored batches with ROWTIMEs 1000-1002, 5000-5002, 9000-9002.
        for base in (1000, 5000, 9000):
            self.server.ingest(s, [{"ROWTIME": base + i, "K": "k%d" % (base + i), "V": i}
                                   for i in range(3)])
        doc = self.server.batch("SELECT k, v FROM %s ORDER BY v DESC, k LIMIT 4" % s)
        self.assertEqual(doc["rows"], [{"K": "k1002", "V": 2}, {"K": "k5002", "V": 2},
                                       {"K": "k9002", "V": 2}, {"K": "k1001", "V": 1}])
        doc = self.server.batch("SELECT k FROM %s WHERE ROWTIME >= 5001 AND ROWTIME < 9001 "
                                "ORDER BY ROWTIME" % s)
        self.assertEqual(doc["rows"], [{"K": "k5001"}, {"K": "k5002"}, {"K": "k9000"}])
        r = self.server.post_sql("SELECT k FROM %s ORDER BY k EMIT CHANGES" % s, "/v1/queries")
        self.assertApiError(r, 422, "UNSUPPORTED")

    def test_batch_result_is_not_capped(self):
        s = self.make_stream()
        n = 0
        for i in range(10):
            self.server.ingest(s, [{"ROWTIME": n + j, "K": "k%d" % (n + j), "V": n + j}
                                   for j in range(2000)], ndjson=True)
            n += 2000
        doc = self.server.batch("SELECT K, V FROM %s" % s)
        self.assertEqual(len(doc["rows"]), n)
        self.assertEqual(sorted(r["V"] for r in doc["rows"]), list(range(n)))
        doc = self.server.batch("SELECT K, COUNT(*) AS C FROM %s GROUP BY K" % s)
        self.assertEqual(len(doc["rows"]), n)
        self.assertTrue(all(r["C"] == 1 for r in doc["rows"]))

    def test_transient_push_query(self):
        s = self.make_stream()
        sql = "SELECT K, V + 1 AS W FROM %s WHERE V > 0 EMIT CHANGES" % s
        with self.server.open_stream("/v1/query", method="POST", body=sql,
                                     headers={"Content-Type": "text/plain"}) as res:
            self.assertEqual(res.status, 200)
            self.assertEqual(res.headers.get("content-type", "").split(";")[0], st.NDJSON)
            h = res.read_header()
            self.assertEqual(h["columns"], [{"name": "K", "type": "VARCHAR"},
                                            {"name": "W", "type": "INT"}])
            self.server.ingest(s, [{"ROWTIME": 1, "K": "a", "V": 0},
                                   {"ROWTIME": 2, "K": "b", "V": 5}])
            self.server.ingest(s, {"ROWTIME": 3, "K": "c", "V": 1})
            self.assertEqual([o["row"] for o in res.read_rows(2)],
                             [{"K": "b", "W": 6}, {"K": "c", "W": 2}])
        # The client went away; the server goes on.
        self.assertHealthy()
        self.server.ingest(s, {"ROWTIME": 4, "K": "d", "V": 1})
        self.assertEqual(self.server.count(s), 4)

    def test_transient_push_query_sse(self):
        s = self.make_stream()
        sql = "SELECT K, COUNT(*) AS C FROM %s GROUP BY K EMIT CHANGES" % s
        with self.server.open_stream("/v1/query", accept=st.SSE, method="POST", body=sql,
                                     headers={"Content-Type": "text/plain"}) as res:
            self.assertEqual(res.status, 200)
            self.assertEqual(res.expect_event()["event"], "header")
            self.server.ingest(s, {"ROWTIME": 1, "K": "a"})
            ev = res.expect_event()
            self.assertEqual((ev["event"], ev["data"]["row"]), ("row", {"K": "a", "C": 1}))
        self.assertHealthy()


class TestSlowSubscriber(Base):
    """A subscriber that does not read is cut off past --subscriber-buffer with an
    OVERLOADED error line; ingest goes on meanwhile."""

    server_args = ["--subscriber-buffer", "64K"]

    def test_slow_subscriber_is_cut_off(self):
        s = self.make_stream("K VARCHAR, PAD VARCHAR")
        qid = self.server.create_query("SELECT K, PAD FROM %s EMIT CHANGES" % s)
        res = self.server.results(qid, rcvbuf=4096)
        try:
            res.read_header()
            pad = "x" * 1000
            total = 0
            # More rows than the server's socket send buffer can hold (it grows up to
            # tcp_wmem's maximum) plus 2 MB: far past --subscriber-buffer.
            wmem = 4 << 20
            try:
                with open("/proc/sys/net/ipv4/tcp_wmem") as f:
                    wmem = int(f.read().split()[2])
            except (OSError, ValueError, IndexError):
                pass
            for i in range((wmem + (2 << 20)) // 50000 + 1):
                self.server.ingest(s, [{"ROWTIME": total + j, "K": "k", "PAD": pad}
                                       for j in range(50)], ndjson=True)
                total += 50
            self.assertEqual(self.server.count(s), total)
            seq = 0
            while True:
                obj = res.expect_obj()
                if "error" in obj:
                    self.assertEqual(obj["error"].get("code"), "OVERLOADED", obj)
                    break
                seq += 1
                self.assertEqual(obj["seq"], seq, "rows before the cut are consecutive")
            self.assertLess(seq, total, "the subscriber was cut off before the end")
            self.assertIsNone(res.read_obj(), "the stream ends after its error line")
        finally:
            res.close()
        # The query itself goes on.
        self.server.ingest(s, {"ROWTIME": total, "K": "last", "PAD": ""})
        self.assertEqual(self.server.query_stat(qid, "rows_out"), total + 1)


class TestCoalesce(Base):
    """?on_slow=coalesce: a subscriber that falls behind past --subscriber-buffer keeps
    only the latest change per key instead of being cut off, and gets those changes in
    seq order once it reads again; ingest never waits for it."""

    server_args = ["--subscriber-buffer", "64K"]
    PAD = "x" * 1000

    def stall(self, keys, sse=False):
        """A GROUP BY K, PAD query with a subscriber (on_slow=coalesce) that does not
        read while more rows than every buffer on the way can hold are ingested, keys[i]
        being the key of event i.  Returns (stream, qid, res, total)."""
        s = self.make_stream("K VARCHAR, PAD VARCHAR")
        qid = self.server.create_query(
            "SELECT K, PAD, COUNT(*) AS C FROM %s GROUP BY K, PAD EMIT CHANGES" % s)
        res = self.server.results(qid, "on_slow=coalesce", sse=sse, rcvbuf=4096)
        if sse:
            self.assertEqual(res.expect_event()["event"], "header")
        else:
            self.assertEqual(res.read_header()["key"], ["K", "PAD"])
        # Each change encodes to about 1 KB: past the server's socket send buffer and
        # the client's receive buffer by 2 MB, far past --subscriber-buffer.
        total = (st.send_buffer_max() + (2 << 20)) // 1000 + 1
        total += -total % 50
        for i in range(0, total, 50):
            # Every request is acknowledged while the subscriber reads nothing: ingest
            # does not wait for it.
            self.server.ingest(s, [{"ROWTIME": j, "K": keys(j), "PAD": self.PAD}
                                   for j in range(i, i + 50)], ndjson=True)
        self.assertEqual(self.server.count(s), total)
        self.assertEqual(self.server.query_stat(qid, "rows_out"), total)
        return s, qid, res, total

    def read_change(self, res, sse):
        """The next change as (seq, row), or the error object as (None, error)."""
        if not sse:
            obj = res.expect_obj()
            if "error" in obj:
                return None, obj["error"]
            return obj["seq"], obj["row"]
        ev = res.expect_event()
        if ev["event"] == "error":
            return None, ev["data"]["error"]
        self.assertEqual(ev["event"], "row", ev)
        self.assertEqual(int(ev["id"]), ev["data"]["seq"], "the event id is the seq")
        return ev["data"]["seq"], ev["data"]["row"]

    def check_latest_per_key(self, sse):
        nkeys = 8
        s, qid, res, total = self.stall(lambda j: "k%d" % (j % nkeys), sse)
        try:
            # Event j is change j + 1 (seq); the last change of each key is its final
            # count.
            final = {"k%d" % k: (len(range(k, total, nkeys)), max(range(k, total, nkeys)) + 1)
                     for k in range(nkeys)}
            latest = {}
            last_seq, received = 0, 0
            while any(latest.get(k) != v for k, v in final.items()):
                seq, row = self.read_change(res, sse)
                self.assertIsNotNone(seq, "no error line within the bound: %r" % (row,))
                self.assertGreater(seq, last_seq, "seqs keep increasing")
                self.assertEqual(row["PAD"], self.PAD)
                last_seq = seq
                received += 1
                latest[row["K"]] = (row["C"], seq)
            self.assertEqual(last_seq, total, "the latest change arrived last")
            self.assertLess(received, total, "changes were coalesced away (gaps in seq)")
            # Live changes follow the coalesced ones.
            self.server.ingest(s, {"ROWTIME": total, "K": "k0", "PAD": self.PAD})
            self.assertEqual(self.read_change(res, sse),
                             (total + 1, {"K": "k0", "PAD": self.PAD,
                                          "C": final["k0"][0] + 1}))
        finally:
            res.close()
        self.assertHealthy()

    def test_stalled_subscriber_gets_latest_row_per_key(self):
        self.check_latest_per_key(sse=False)

    def test_stalled_subscriber_gets_latest_row_per_key_sse(self):
        self.check_latest_per_key(sse=True)

    def test_coalesced_set_is_bounded(self):
        """Every change has its own key: the coalesced set passes the bound and the
        subscriber is cut off with OVERLOADED after the changes it had before."""
        s, qid, res, total = self.stall(lambda j: "k%d" % j)
        try:
            seq = 0
            while True:
                got, row = self.read_change(res, False)
                if got is None:
                    self.assertEqual(row.get("code"), "OVERLOADED", row)
                    break
                seq += 1
                self.assertEqual(got, seq, "changes before the cut are consecutive")
            self.assertLess(seq, total, "cut off before the end")
            self.assertIsNone(res.read_obj(), "the stream ends after its error line")
        finally:
            res.close()
        self.assertHealthy()

    def test_dropped_while_coalescing(self):
        """The query is dropped while the subscriber is behind: it still gets the latest
        change of every key, then the QUERY_DROPPED line."""
        nkeys = 4
        s, qid, res, total = self.stall(lambda j: "k%d" % (j % nkeys))
        try:
            r = self.server.request("DELETE", "/v1/queries/%s" % qid)
            self.assertEqual(r.status, 200)
            latest, last_seq = {}, 0
            while True:
                seq, row = self.read_change(res, False)
                if seq is None:
                    self.assertEqual(row.get("code"), "QUERY_DROPPED", row)
                    break
                self.assertGreater(seq, last_seq)
                last_seq = seq
                latest[row["K"]] = row["C"]
            self.assertEqual(latest, {"k%d" % k: len(range(k, total, nkeys))
                                      for k in range(nkeys)})
            self.assertIsNone(res.read_obj(), "the stream ends after its error line")
        finally:
            res.close()
        self.assertHealthy()

    def test_query_without_key_cannot_coalesce(self):
        s = self.make_stream()
        qid = self.server.create_query("SELECT K, V FROM %s EMIT CHANGES" % s)
        err = self.assertApiError(
            self.server.get("/v1/queries/%s/results?on_slow=coalesce" % qid),
            400, "BAD_REQUEST")
        self.assertIn("on_slow=coalesce", err["message"])
        win = self.server.create_query(
            "SELECT K, COUNT(*) AS C FROM %s WINDOW TUMBLING (SIZE 1 SECOND) GROUP BY K "
            "EMIT FINAL" % s)
        err = self.assertApiError(
            self.server.get("/v1/queries/%s/late?on_slow=coalesce" % win), 400, "BAD_REQUEST")
        self.assertIn("on_slow=coalesce", err["message"])

    def test_unknown_on_slow_value(self):
        s = self.make_stream()
        qid = self.server.create_query(
            "SELECT K, COUNT(*) AS C FROM %s GROUP BY K EMIT CHANGES" % s)
        err = self.assertApiError(
            self.server.get("/v1/queries/%s/results?on_slow=drop" % qid), 400, "BAD_REQUEST")
        self.assertIn("on_slow", err["message"])
        self.assertIn("drop", err["message"])
        # The default, named.
        with self.server.results(qid, "on_slow=close") as res:
            res.read_header()
            self.server.ingest(s, {"ROWTIME": 1, "K": "a", "V": 1})
            self.assertEqual(res.read_rows(1)[0]["row"], {"K": "a", "C": 1})


class TestCurlTour(Base):
    """The tour of docs/http-api.md, step by step."""

    def test_tour(self):
        srv = self.server
        doc = srv.statements(
            "CREATE STREAM pageviews (userid VARCHAR, pageid VARCHAR, viewtime BIGINT)\n"
            "  WITH (TIMESTAMP='viewtime', KAFKA_TOPIC='pageviews');")
        self.assertEqual(doc[0]["type"], "stream_created")
        self.assertEqual(doc[0]["name"], "PAGEVIEWS")

        r = srv.post_json("/v1/queries", {
            "sql": "SELECT pageid, COUNT(*) AS views FROM pageviews "
                   "WINDOW TUMBLING (SIZE 1 MINUTE) GROUP BY pageid EMIT CHANGES",
            "name": "PAGE_COUNTS"})
        self.assertEqual((r.status, r.json()["id"]), (201, "PAGE_COUNTS"))

        with srv.results("PAGE_COUNTS") as res:
            h = res.read_header()
            self.assertEqual(h, {"query": "PAGE_COUNTS",
                                 "columns": [{"name": "WINDOWSTART", "type": "BIGINT"},
                                             {"name": "WINDOWEND", "type": "BIGINT"},
                                             {"name": "PAGEID", "type": "VARCHAR"},
                                             {"name": "VIEWS", "type": "BIGINT"}],
                                 "key": ["WINDOWSTART", "WINDOWEND", "PAGEID"]})
            body = ('{"userid":"alice","pageid":"home","viewtime":1700000000000}\n'
                    '{"userid":"bob","pageid":"home","viewtime":1700000005000}\n'
                    '{"userid":"alice","pageid":"pricing","viewtime":1700000030000}\n')
            r = srv.request("POST", "/v1/streams/PAGEVIEWS/events", body,
                            {"Content-Type": st.NDJSON})
            self.assertEqual((r.status, r.json()), (200, {"accepted": 3}))
            self.assertEqual(res.read_rows(3), [
                {"seq": 1, "row": {"WINDOWSTART": 1699999980000, "WINDOWEND": 1700000040000,
                                   "PAGEID": "home", "VIEWS": 1}},
                {"seq": 2, "row": {"WINDOWSTART": 1699999980000, "WINDOWEND": 1700000040000,
                                   "PAGEID": "home", "VIEWS": 2}},
                {"seq": 3, "row": {"WINDOWSTART": 1699999980000, "WINDOWEND": 1700000040000,
                                   "PAGEID": "pricing", "VIEWS": 1}}])
            r = srv.post_json("/v1/streams/PAGEVIEWS/events",
                              {"userid": "carol", "pageid": "home", "viewtime": 1700000041000})
            self.assertEqual((r.status, r.json()), (200, {"accepted": 1}))
            self.assertEqual(res.read_rows(1), [
                {"seq": 4, "row": {"WINDOWSTART": 1700000040000, "WINDOWEND": 1700000100000,
                                   "PAGEID": "home", "VIEWS": 1}}])

        info = srv.query_info("PAGE_COUNTS")
        self.assertEqual((st.stat(info, "rows_in"), st.stat(info, "rows_out"),
                          st.stat(info, "watermark")), (4, 4, 1700000041000))

        doc = srv.batch("SELECT pageid, COUNT(*) AS views FROM pageviews "
                        "WINDOW TUMBLING (SIZE 1 MINUTE) GROUP BY pageid")
        self.assertRowsEqual([
            {"WINDOWSTART": 1699999980000, "WINDOWEND": 1700000040000, "PAGEID": "home",
             "VIEWS": 2},
            {"WINDOWSTART": 1699999980000, "WINDOWEND": 1700000040000, "PAGEID": "pricing",
             "VIEWS": 1},
            {"WINDOWSTART": 1700000040000, "WINDOWEND": 1700000100000, "PAGEID": "home",
             "VIEWS": 1}], doc["rows"], ordered=False)

        r = srv.request("DELETE", "/v1/queries/PAGE_COUNTS")
        self.assertEqual(r.status, 200, r)


if __name__ == "__main__":
    st.main()
