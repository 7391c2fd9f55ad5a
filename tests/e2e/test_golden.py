#!/usr/bin/env python3
"""Golden SQL cases (tests/golden/*.case, format in tests/golden/README.md), each run on
a fresh server both continuously (a persistent query registered before the events, its
result stream read until the expected rows arrived) and in batch (the same SELECT
without its EMIT clause on POST /v1/query), and checked against each other: batch
equals continuous (SPEC, first paragraph).

Every case's server reads its clock from a file the runner writes (SLUICE_TEST_CLOCK),
so a `-- clock` section moves the time IDLE_TIMEOUT goes by between two requests of
events; the runner then waits until the server has acted on it (ClockProbe) before it
posts anything else."""

import glob
import json
import os
import re
import shutil
import sys
import tempfile
import time
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
# The clock a case's server starts with when the case sets none (epoch ms: 2023-11-14).
DEFAULT_CLOCK = 1700000000000


class Case:
    """One parsed .case file."""

    def __init__(self, path):
        self.path = path
        self.name = os.path.splitext(os.path.basename(path))[0]
        self.statements = ""
        self.events = []  # [(stream, [[event, ...] per request])]
        # What happens after the statements, in order: ("events", stream, groups) and
        # ("clock", ms, line) steps.
        self.steps = []
        self.clock_start = DEFAULT_CLOCK
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
        self._last_clock = 0  # the last -- clock value read, while parsing
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
                self.steps.append(("events", arg, groups))
            elif kind == "clock":
                for l, n in body:
                    if l.strip():
                        self._fail(n, "-- clock takes no lines (only comments)")
                ms, header_line = arg
                if ms <= self._last_clock:
                    self._fail(header_line, "-- clock %d does not move the clock forward "
                               "(it is at %d)" % (ms, self._last_clock))
                if self.events:
                    self.steps.append(("clock", ms, header_line))
                elif self._last_clock:
                    self._fail(header_line, "only one -- clock may come before the first "
                               "-- events (the clock the server starts with)")
                else:
                    self.clock_start = ms
                self._last_clock = ms
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
                elif words[0] == "clock":
                    if len(words) != 2 or not re.fullmatch(r"[0-9]+", words[1]) or \
                            int(words[1]) == 0:
                        self._fail(n, "-- clock needs one number, the epoch ms the server's "
                                   "clock reads from then on (greater than 0), got %r"
                                   % line[3:].strip())
                    section = ("clock", (int(words[1]), n))
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

    def source(self):
        """The name of the query's stream, upper case."""
        return re.search(r"\bFROM\s+(\w+)", self.query, re.I).group(1).upper()

    def source_events(self):
        src = self.source()
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


def write_clock(path, ms):
    """Sets the clock a server started with SLUICE_TEST_CLOCK=path reads (the file is
    replaced whole, so the server never reads half of it)."""
    with open(path + ".new", "w") as f:
        f.write("%d\n" % ms)
    os.replace(path + ".new", path)


class ClockProbe:
    """Shows when the server has acted on a new clock value, with no sleeping.

    A stream of its own, WITH (IDLE_TIMEOUT='1 MILLISECOND'), and an EMIT FINAL query
    over it in windows of 1 ms.  Before the clock moves from P to T (T > P) the probe
    posts an event at T - 2, in the window [T - 2, T - 1) that only an idle advance
    closes (no later event comes); the server's upkeep reads the clock once per tick and
    makes every stream's idle advance for that reading under one lock, so once the
    window's row has arrived, the tick that read T is done for every stream, and a
    later request of events comes after it.  The case's own stream and query are not
    touched."""

    STREAM = "GOLDEN_CLOCK"

    def __init__(self, server, clock_path, clock_ms):
        self.server = server
        self.path = clock_path
        self.clock = clock_ms
        server.statements("CREATE STREAM %s (n INT) WITH (IDLE_TIMEOUT='1 MILLISECOND');"
                          % self.STREAM)
        qid = server.create_query("SELECT COUNT(*) AS n FROM %s WINDOW TUMBLING "
                                  "(SIZE 1 MILLISECOND) EMIT FINAL" % self.STREAM)
        self.results = server.results(qid)
        self.results.read_header()

    def close(self):
        self.results.close()

    def set(self, ms):
        """Moves the clock to ms and returns once the server has made the idle advances
        it implies; raises AssertionError (what it saw) after IO_TIMEOUT seconds."""
        assert ms > self.clock
        self.server.ingest(self.STREAM, {"ROWTIME": ms - 2, "N": 0})
        write_clock(self.path, ms)
        self.clock = ms
        deadline = time.monotonic() + st.IO_TIMEOUT
        want = {"WINDOWSTART": ms - 2, "WINDOWEND": ms - 1, "N": 1}
        while True:
            # Heartbeats (empty lines) may come meanwhile: the deadline is the whole wait.
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError("no row of the clock probe within %.0f s; lines so far: "
                                     "%r" % (st.IO_TIMEOUT, self.results.lines[-10:]))
            self.results.timeout = left
            self.results.sock.settimeout(left)
            line = self.results.readline()
            if line is None:
                raise AssertionError("the clock probe's result stream ended: %r"
                                     % self.results.lines[-10:])
            if line.strip() == "":
                continue
            obj = st.loads(line)
            if obj.get("row") != want:
                raise AssertionError("the clock probe expected %r, got %r" % (want, obj))
            return


class GoldenTest(st.ServerPerTestCase):
    """One test per case; each case gets its own server."""

    def idle_timeout_ms(self, s, stream):
        """The stream's IDLE_TIMEOUT in ms, 0 for none."""
        return s.get_json("/v1/streams/%s" % stream).get("idle_timeout_ms") or 0

    def set_clock(self, case, s, probe, qid, ms, line, last_arrival):
        """A -- clock step: moves the server's clock to ms and waits until the server has
        acted on it; then the query's watermark must be where IDLE_TIMEOUT puts it: the
        source stream idle for its timeout since its last events (at the clock
        last_arrival) goes to ms - timeout, never backwards; otherwise it stays."""
        where = "%s:%d: -- clock %d" % (case.path, line, ms)
        before = st.stat(s.query_info(qid), "watermark")
        try:
            probe.set(ms)
        except AssertionError as e:
            self.fail("%s: the server did not act on the new clock: %s" % (where, e))
        idle = self.idle_timeout_ms(s, case.source())
        want = before
        if idle > 0 and ms - last_arrival >= idle and (before is None or ms - idle > before):
            want = ms - idle
        self.assertEqual(st.stat(s.query_info(qid), "watermark"), want,
                         "%s: the query's watermark after the clock moved (IDLE_TIMEOUT %d ms, "
                         "the source's last events at clock %d)" % (where, idle, last_arrival))

    def run_case(self, path):
        case = Case(path)
        tmp = tempfile.mkdtemp(prefix="sluice-golden-")
        self.addCleanup(shutil.rmtree, tmp, True)
        clock_path = os.path.join(tmp, "clock")
        write_clock(clock_path, case.clock_start)
        s = self.new_server(env={"SLUICE_TEST_CLOCK": clock_path})
        s.statements(case.statements)
        probe = None
        if any(step[0] == "clock" for step in case.steps):
            probe = ClockProbe(s, clock_path, case.clock_start)
            self.addCleanup(probe.close)
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

            clock = case.clock_start
            last_arrival = clock  # of the query's source: the clock at its last events
            for step in case.steps:
                if step[0] == "clock":
                    _, clock, line = step
                    self.set_clock(case, s, probe, qid, clock, line, last_arrival)
                    continue
                _, stream, groups = step
                for gi, group in enumerate(groups):
                    if len(group) == 1:
                        s.ingest(stream, group[0])
                    else:
                        s.ingest(stream, group, ndjson=(gi % 2 == 1))
                if stream.upper() == case.source():
                    last_arrival = clock

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

    def parse(self, clock_lines, after_events=()):
        """Writes a case whose first -- events section (one event) has the lines
        clock_lines before it and after_events after it; returns its path and a function
        that parses it."""
        d = tempfile.mkdtemp(prefix="sluice-case-")
        self.addCleanup(shutil.rmtree, d, True)
        path = os.path.join(d, "c.case")
        lines = (["-- statements", "CREATE STREAM t (k VARCHAR);"] + clock_lines
                 + ["-- events T", '{"ROWTIME": 1000, "K": "a"}'] + list(after_events)
                 + ["-- query",
                    "SELECT k, COUNT(*) AS c FROM t WINDOW TUMBLING (SIZE 1 SECOND) "
                    "GROUP BY k EMIT FINAL",
                    "-- expect columns", "WINDOWSTART BIGINT", "WINDOWEND BIGINT",
                    "K VARCHAR", "C BIGINT", "-- expect final", "-- expect batch",
                    '{"WINDOWSTART": 1000, "WINDOWEND": 2000, "K": "a", "C": 1}'])
        with open(path, "w") as f:
            f.write("\n".join(lines) + "\n")
        return path, lambda: Case(path)

    def assertBadCase(self, clock_lines, after_events, line, why):
        """The case does not parse, and the error names the file, the line and why."""
        path, parse = self.parse(clock_lines, after_events)
        with self.assertRaises(ValueError) as cm:
            parse()
        msg = str(cm.exception)
        self.assertTrue(msg.startswith("%s:%d: " % (path, line)), msg)
        self.assertIn(why, msg)

    def test_clock_steps(self):
        """-- clock before the first events is where the clock starts; later ones are
        steps between requests, in file order."""
        _, parse = self.parse(["-- clock 3000"],
                              ["-- clock 18000", "# a comment", "",
                               "-- events T", '{"ROWTIME": 2000, "K": "b"}',
                               "-- clock 30000"])
        case = parse()
        self.assertEqual(case.clock_start, 3000)
        self.assertEqual([(s[0], s[1]) for s in case.steps],
                         [("events", "T"), ("clock", 18000), ("events", "T"),
                          ("clock", 30000)])
        self.assertEqual([s[2] for s in case.steps if s[0] == "clock"], [6, 11])
        _, parse = self.parse([])
        self.assertEqual(parse().clock_start, DEFAULT_CLOCK)

    def test_bad_clock(self):
        self.assertBadCase(["-- clock"], [], 3, "-- clock needs one number")
        self.assertBadCase(["-- clock 5 SECONDS"], [], 3, "-- clock needs one number")
        self.assertBadCase(["-- clock -5"], [], 3, "-- clock needs one number")
        self.assertBadCase(["-- clock 0"], [], 3, "-- clock needs one number")
        self.assertBadCase(["-- clock 3000", "{}"], [], 4, "-- clock takes no lines")
        self.assertBadCase(["-- clock 3000", "-- clock 4000"], [], 4,
                           "only one -- clock may come before the first -- events")
        self.assertBadCase(["-- clock 3000"], ["-- clock 3000"], 6,
                           "-- clock 3000 does not move the clock forward (it is at 3000)")
        self.assertBadCase([], ["-- clock 5000", "-- clock 4000"], 6,
                           "-- clock 4000 does not move the clock forward (it is at 5000)")


if __name__ == "__main__":
    st.main()
