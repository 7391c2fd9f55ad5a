#!/usr/bin/env python3
"""Golden SQL cases (tests/golden/*.case, format in tests/golden/README.md), each run on
a fresh server both continuously (a persistent query registered before the events, its
result stream read until the expected rows arrived) and in batch (the same SELECT
without its EMIT clause on POST /v1/query), and checked against each other: batch
equals continuous (SPEC, first paragraph)."""

import glob
import json
import os
import re
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import sluice_test as st  # noqa: E402

UNITS_MS = {"MILLISECOND": 1, "SECOND": 1000, "MINUTE": 60000, "HOUR": 3600000,
            "DAY": 86400000}
EMIT_RE = re.compile(r"\s+EMIT\s+(CHANGES(\s+EVERY\s+\d+\s+[A-Z]+)?|FINAL)\s*;?\s*$", re.I)
GRACE_RE = re.compile(r"GRACE\s+PERIOD\s+(\d+)\s+([A-Z]+?)S?\s*[,)]", re.I)
SESSION_RE = re.compile(r"\bSESSION\s*\(\s*(\d+)\s+([A-Z]+?)S?\s*[,)]", re.I)
AGG_RE = re.compile(r"\b(COUNT|SUM|AVG|MIN|MAX|COUNT_DISTINCT|EARLIEST_BY_OFFSET|"
                    r"LATEST_BY_OFFSET|STDDEV_SAMP|PERCENTILE_APPROX|TOPK|COLLECT_LIST|"
                    r"COLLECT_SET)\s*\(|\bGROUP\s+BY\b", re.I)


class Case:
    """One parsed .case file."""

    def __init__(self, path):
        self.path = path
        self.name = os.path.splitext(os.path.basename(path))[0]
        self.statements = ""
        self.events = []  # [(stream, [[event, ...] per request])]
        self.query = None
        self.columns = None  # [(name, type)]
        self.expect_mode = None  # "changes" | "final"
        self.expect_rows = None
        self.expect_batch = None
        self.late_rows = 0
        self._parse()

    def _fail(self, lineno, why):
        raise ValueError("%s:%d: %s" % (self.path, lineno, why))

    def _parse(self):
        with open(self.path, encoding="utf-8") as f:
            lines = f.read().split("\n")
        section = None
        body = []

        def close(section, body, lineno):
            if section is None:
                if any(l.strip() for l, _ in body):
                    self._fail(lineno, "text before the first section")
                return
            kind, arg = section
            text_lines = [l for l, _ in body]
            if kind == "statements":
                self.statements = "\n".join(text_lines).strip()
            elif kind == "query":
                self.query = "\n".join(text_lines).strip()
            elif kind == "events":
                groups, cur = [], []
                for l, n in body:
                    if l.strip() == "":
                        if cur:
                            groups.append(cur)
                        cur = []
                        continue
                    try:
                        cur.append(st.loads(l))
                    except ValueError as e:
                        self._fail(n, "bad event JSON: %s" % e)
                if cur:
                    groups.append(cur)
                self.events.append((arg, groups))
            elif kind == "expect columns":
                self.columns = []
                for l, n in body:
                    if l.strip():
                        # The type is the rest of the line: "MAP<VARCHAR, INT>".
                        parts = l.strip().split(None, 1)
                        if len(parts) != 2:
                            self._fail(n, "expected NAME TYPE")
                        self.columns.append((parts[0], parts[1]))
            elif kind in ("expect changes", "expect final", "expect batch"):
                rows = []
                for l, n in body:
                    if l.strip():
                        try:
                            rows.append(st.loads(l))
                        except ValueError as e:
                            self._fail(n, "bad row JSON: %s" % e)
                if kind == "expect batch":
                    self.expect_batch = rows
                else:
                    self.expect_mode = kind.split()[1]
                    self.expect_rows = rows
            elif kind == "expect late_rows":
                self.late_rows = int(arg)
            else:
                self._fail(lineno, "unknown section %r" % kind)

        for n, line in enumerate(lines, 1):
            if line.startswith("#"):
                continue
            if line.startswith("-- "):
                close(section, body, n)
                words = line[3:].split()
                if not words:
                    self._fail(n, "empty section header")
                if words[0] == "events":
                    if len(words) != 2:
                        self._fail(n, "-- events needs a stream name")
                    section = ("events", words[1])
                elif words[0] == "expect" and len(words) >= 2:
                    if words[1] == "late_rows":
                        if len(words) != 3:
                            self._fail(n, "-- expect late_rows needs a number")
                        section = ("expect late_rows", words[2])
                    else:
                        section = (" ".join(words), None)
                else:
                    section = (" ".join(words), None)
                body = []
                continue
            body.append((line, n))
        close(section, body, len(lines))
        for what, v in (("-- query", self.query), ("-- expect columns", self.columns),
                        ("-- expect changes/final", self.expect_rows),
                        ("-- expect batch", self.expect_batch)):
            if v is None:
                self._fail(1, "missing %s" % what)
        emit = re.search(r"\bEMIT\s+(CHANGES|FINAL)\b", self.query, re.I)
        if not emit or emit.group(1).lower() != self.expect_mode:
            self._fail(1, "-- expect %s does not match the query's EMIT clause"
                       % self.expect_mode)

    def batch_sql(self):
        sql, n = EMIT_RE.subn("", self.query)
        assert n == 1, "cannot strip EMIT from %r" % self.query
        return sql

    def grace_ms(self):
        """How long after WINDOWEND a window closes: its grace, plus the gap for a
        session (a session closes at end + gap + grace)."""
        ms = 0
        for rx in (GRACE_RE, SESSION_RE):
            m = rx.search(self.query)
            if m:
                ms += int(m.group(1)) * UNITS_MS[m.group(2).upper()]
        return ms

    def is_aggregate(self):
        return AGG_RE.search(self.query) is not None

    def source_events(self):
        m = re.search(r"\bFROM\s+(\w+)", self.query, re.I)
        src = m.group(1).upper()
        return sum(len(g) for stream, groups in self.events if stream.upper() == src
                   for g in groups)


def case_files():
    d = os.path.join(st.srcdir(), "tests", "golden")
    files = sorted(glob.glob(os.path.join(d, "*.case")))
    if not files:
        raise st.HarnessError("no golden cases in %s" % d)
    return files


def exact_decimals(rows, columns):
    """rows with each real number of a DECIMAL column replaced by ("DECIMAL", its text),
    so that it matches only the same digits (12.30, not 12.3 or 12.300)."""
    dec = {n for n, t in columns if t.startswith("DECIMAL")}

    def fix(row):
        if not isinstance(row, dict):
            return row
        if "delete" in row and len(row) == 1:
            return {"delete": fix(row["delete"])}
        return {k: ("DECIMAL", v.text) if k in dec and isinstance(v, st.Number) else v
                for k, v in row.items()}
    return [fix(r) for r in rows]


def collapse(items, key):
    """The last row per key, in order of first appearance, without the keys a later
    delete removed (the state an upsert stream describes)."""
    out = {}
    for it in items:
        if "delete" in it:
            out.pop(json.dumps([it["delete"].get(k) for k in key]), None)
        else:
            out[json.dumps([it.get(k) for k in key])] = it
    return list(out.values())


class GoldenTest(st.ServerPerTestCase):
    """One test per case; each case gets its own server."""

    def run_case(self, path):
        case = Case(path)
        s = self.new_server()
        s.statements(case.statements)
        want_cols = [{"name": n, "type": t} for n, t in case.columns]
        names = [n for n, _ in case.columns]

        # --- continuously ------------------------------------------------------------
        qid = s.create_query(case.query)
        with s.results(qid) as res:
            self.assertEqual(res.headers.get("content-type", "").split(";")[0], st.NDJSON)
            header = res.read_header()
            self.assertEqual(header.get("query"), qid, "header.query")
            self.assertEqual(header.get("columns"), want_cols, "header.columns")
            key = header.get("key")
            self.assertIsInstance(key, list, "header.key")
            for k in key:
                self.assertIn(k, names, "key column %r is a result column" % k)
            if names[:2] == ["WINDOWSTART", "WINDOWEND"]:
                self.assertEqual(key[:2], ["WINDOWSTART", "WINDOWEND"], "windowed key")

            posted = 0
            for stream, groups in case.events:
                for gi, group in enumerate(groups):
                    if len(group) == 1:
                        s.ingest(stream, group[0])
                    else:
                        s.ingest(stream, group, ndjson=(gi % 2 == 1))
                    posted += len(group)

            lines = [res.expect_obj() for _ in case.expect_rows]
        self.assertEqual([l.get("seq") for l in lines], list(range(1, len(lines) + 1)),
                         "seq numbers of %r" % lines)
        # A change is a row, or {"delete": key} (expected as such a line).
        rows = [l["row"] if "row" in l else {"delete": l.get("delete")} for l in lines]
        rows = exact_decimals(rows, case.columns)
        case.expect_rows = exact_decimals(case.expect_rows, case.columns)
        case.expect_batch = exact_decimals(case.expect_batch, case.columns)
        for r in rows:
            if "delete" not in r:
                self.assertEqual(list(r), names, "row keys in column order: %r" % r)
        self.assertRowsEqual(case.expect_rows, rows, ordered=(case.expect_mode == "changes"),
                             what="continuous (EMIT %s) rows" % case.expect_mode.upper())

        info = s.query_info(qid)
        self.assertEqual(st.stat(info, "rows_in"), case.source_events(), "rows_in")
        self.assertEqual(st.stat(info, "rows_out"), len(case.expect_rows),
                         "rows_out (no row missing, none extra)")
        self.assertEqual(st.stat(info, "late_rows"), case.late_rows, "late_rows")
        watermark = st.stat(info, "watermark")

        # --- in batch ------------------------------------------------------------------
        doc = s.batch(case.batch_sql())
        self.assertEqual(doc.get("columns"), want_cols, "batch columns")
        batch = doc.get("rows")
        self.assertIsInstance(batch, list, "batch rows")
        batch = exact_decimals(batch, case.columns)
        self.assertRowsEqual(case.expect_batch, batch, ordered=False, what="batch rows")

        # --- batch equals continuous ---------------------------------------------------------
        if case.expect_mode == "final":
            grace = case.grace_ms()
            closed = [r for r in batch if r["WINDOWEND"] + grace <= watermark]
            self.assertRowsEqual(closed, rows, ordered=False,
                                 what="batch rows of closed windows vs EMIT FINAL rows")
        elif case.is_aggregate():
            self.assertRowsEqual(collapse(rows, key), batch, ordered=False,
                                 what="last EMIT CHANGES row per key vs batch rows")
        else:
            self.assertRowsEqual(rows, batch, ordered=False,
                                 what="EMIT CHANGES rows vs batch rows")

        r = s.get("/health")
        self.assertEqual((r.status, r.json()), (200, {"status": "ok"}))


def _add_tests():
    try:
        files = case_files()
    except st.HarnessError as e:
        def test_cases_found(self, e=e):
            self.fail(str(e))
        GoldenTest.test_cases_found = test_cases_found
        return
    for path in files:
        name = "test_" + re.sub(r"\W", "_", os.path.splitext(os.path.basename(path))[0])

        def t(self, path=path):
            self.run_case(path)
        t.__doc__ = os.path.basename(path)
        setattr(GoldenTest, name, t)


_add_tests()


class CaseFormatTest(unittest.TestCase):
    """The case files themselves parse (no server needed)."""

    def test_all_cases_parse(self):
        files = case_files()
        self.assertGreaterEqual(len(files), 12)
        for path in files:
            case = Case(path)
            self.assertTrue(case.events, "%s has events" % path)
            case.batch_sql()


if __name__ == "__main__":
    st.main()
