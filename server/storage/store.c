/* store.c: the durable side of sluice, kept in one SQLite database (DIR/sluice.db).
 *
 * This file is the only SQLite user.  It owns the schema (see README.md), the pragmas
 * that make a commit durable, and the statements that read and write the catalog, the
 * persistent queries and the event log.
 *
 * Invariants:
 * - Every statement is prepared once in sl_store_open from a constant string and reused
 *   with bound parameters; no SQL text is ever built from user input.
 * - Every write runs inside one BEGIN IMMEDIATE ... COMMIT; any failure rolls the
 *   transaction back before the call returns, so nothing is ever half-stored.
 * - No statement stays active between calls: each one is stepped, read and reset
 *   within the call, so a cursor never pins a read transaction and the caller may write
 *   between two cursor_next calls.
 * - streams.next_offset is the number of events ever appended to the stream and
 *   streams.max_rowtime the largest ROWTIME among them (INT64_MIN when none); both are
 *   updated in the same transaction as the events row, so they always agree with it.
 * - streams.id and queries.seq are AUTOINCREMENT, never reused: a stream dropped and
 *   created again gets a new id, so a cursor opened on the old one simply ends.
 * - Pointers passed to the functions below are borrowed for the call unless a comment
 *   says otherwise. */
#include "store.h"

#include "buf.h"
#include "mem.h"

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdbool.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* PRAGMA application_id of a sluice database: "SLUC" in ASCII. */
#define SL_STORE_APP_ID 0x534C5543
#define SL_STORE_APP_ID_STR "1397511491"
/* PRAGMA user_version: the schema version this file writes and understands. */
#define SL_STORE_SCHEMA_VERSION 5
#define SL_STORE_SCHEMA_VERSION_STR "5"
/* How long a write waits for another connection's lock before failing, in ms. */
#define SL_STORE_BUSY_TIMEOUT_MS 5000
/* WAL pages after a commit from which the checkpointer thread copies the WAL into the
 * database, and from which a commit does it itself because the checkpointer falls
 * behind.  Ten times SQLite's default: under steady commits each checkpoint copies the
 * few hot pages (the latest version of each) once for many commits, and the database
 * file's fsync comes less often (with 1,000, working checkpoints cost one event per
 * request 7% to 22% of its rate; with 10,000 nothing measurable). */
#define WAL_CHECKPOINT_PAGES 10000
#define WAL_CHECKPOINT_INLINE_PAGES (6 * WAL_CHECKPOINT_PAGES)

/* What version 2 added to the schema: the idempotency records and the index that finds
 * the batches retention deletes.  Both the schema and the migration from version 1
 * create them from this one text. */
#define V2_TABLES_SQL                                                                              \
    "CREATE INDEX events_by_time ON events(stream_id, max_rowtime);"                               \
    "CREATE TABLE idempotency("                                                                    \
    "  stream_id INTEGER NOT NULL REFERENCES streams(id),"                                         \
    "  key TEXT NOT NULL,"                                                                         \
    "  body_hash BLOB NOT NULL,"                                                                   \
    "  answer TEXT NOT NULL,"                                                                      \
    "  created_ms INTEGER NOT NULL,"                                                               \
    "  PRIMARY KEY(stream_id, key)) WITHOUT ROWID;"                                                \
    "CREATE INDEX idempotency_by_time ON idempotency(created_ms);"

/* What version 3 added: query checkpoints, the output they keep for ?from=SEQ (chunks
 * of changes and of late rows) and the snapshot rows (the latest row per key, by the
 * order keys were first emitted in).  The schema and the migration from version 2
 * create them from this one text. */
#define V3_TABLES_SQL                                                                              \
    "CREATE TABLE checkpoints("                                                                    \
    "  query_id TEXT PRIMARY KEY REFERENCES queries(id),"                                          \
    "  log_offset INTEGER NOT NULL,"                                                               \
    "  seq INTEGER NOT NULL,"                                                                      \
    "  late_seq INTEGER NOT NULL,"                                                                 \
    "  taken_ms INTEGER NOT NULL,"                                                                 \
    "  state BLOB NOT NULL);"                                                                      \
    "CREATE TABLE query_output("                                                                   \
    "  query_id TEXT NOT NULL REFERENCES queries(id),"                                             \
    "  kind INTEGER NOT NULL,"                                                                     \
    "  first_seq INTEGER NOT NULL,"                                                                \
    "  last_seq INTEGER NOT NULL,"                                                                 \
    "  data BLOB NOT NULL,"                                                                        \
    "  UNIQUE(query_id, kind, first_seq));"                                                        \
    "CREATE TABLE query_snapshot("                                                                 \
    "  query_id TEXT NOT NULL REFERENCES queries(id),"                                             \
    "  pos INTEGER NOT NULL,"                                                                      \
    "  seq INTEGER NOT NULL,"                                                                      \
    "  row BLOB NOT NULL,"                                                                         \
    "  PRIMARY KEY(query_id, pos)) WITHOUT ROWID;"

/* What version 4 changed: a checkpoint's engine state moved out of its checkpoints row
 * into checkpoint_parts, rows of at most SL_CHECKPOINT_PART_BYTES each, numbered n from
 * 0 within a generation (gen); the checkpoints row names the generation that holds its
 * state, how many parts and how many bytes in all.  Parts of any other generation are
 * left over (a write cut short, or replaced) and never read.  The migration from
 * version 3 makes each state blob part 0 of generation 1; a new file is made as version
 * 3 and migrated the same way. */
#define V4_MIGRATE_SQL                                                                             \
    "CREATE TABLE checkpoint_parts("                                                               \
    "  query_id TEXT NOT NULL REFERENCES queries(id),"                                             \
    "  gen INTEGER NOT NULL,"                                                                      \
    "  n INTEGER NOT NULL,"                                                                        \
    "  data BLOB NOT NULL,"                                                                        \
    "  UNIQUE(query_id, gen, n));"                                                                 \
    "INSERT INTO checkpoint_parts(query_id, gen, n, data) "                                        \
    "  SELECT query_id, 1, 0, state FROM checkpoints;"                                             \
    "CREATE TABLE checkpoints_v4("                                                                 \
    "  query_id TEXT PRIMARY KEY REFERENCES queries(id),"                                          \
    "  log_offset INTEGER NOT NULL,"                                                               \
    "  seq INTEGER NOT NULL,"                                                                      \
    "  late_seq INTEGER NOT NULL,"                                                                 \
    "  taken_ms INTEGER NOT NULL,"                                                                 \
    "  gen INTEGER NOT NULL,"                                                                      \
    "  parts INTEGER NOT NULL,"                                                                    \
    "  state_len INTEGER NOT NULL);"                                                               \
    "INSERT INTO checkpoints_v4 SELECT query_id, log_offset, seq, late_seq, taken_ms, 1, 1, "      \
    "  length(state) FROM checkpoints;"                                                            \
    "DROP TABLE checkpoints;"                                                                      \
    "ALTER TABLE checkpoints_v4 RENAME TO checkpoints;"

/* What version 5 added, so that a replay of the log gets what its first reading got
 * (docs/guarantees.md): each batch's stored time (the clock when its write group was
 * stored, which UNIX_TIMESTAMP() reads; INT64_MIN for batches stored before), and the
 * IDLE_TIMEOUT advances of stream time, each recorded at the log offset it was made
 * before (the stream's next event then).  The schema and the migration from version 4
 * apply this one text. */
#define V5_MIGRATE_SQL                                                                             \
    "ALTER TABLE events ADD COLUMN stored_ms INTEGER NOT NULL DEFAULT -9223372036854775808;"       \
    "CREATE TABLE idle_advances("                                                                  \
    "  stream_id INTEGER NOT NULL REFERENCES streams(id),"                                         \
    "  at_offset INTEGER NOT NULL,"                                                                \
    "  watermark INTEGER NOT NULL,"                                                                \
    "  PRIMARY KEY(stream_id, at_offset)) WITHOUT ROWID;"

/* The schema, created in one transaction when the database is new.  An older file is
 * brought up to this version in the same way, one version at a time (migrate_sql). */
static const char schema_sql[] =
    "CREATE TABLE streams("
    "  id INTEGER PRIMARY KEY AUTOINCREMENT,"
    "  name TEXT NOT NULL UNIQUE,"
    "  ddl TEXT NOT NULL,"
    "  next_offset INTEGER NOT NULL,"
    "  max_rowtime INTEGER NOT NULL);"
    "CREATE TABLE queries("
    "  seq INTEGER PRIMARY KEY AUTOINCREMENT,"
    "  id TEXT NOT NULL UNIQUE,"
    "  sql TEXT NOT NULL,"
    "  start_offset INTEGER NOT NULL,"
    "  state_limit INTEGER NOT NULL DEFAULT 0);"
    "CREATE TABLE events("
    "  stream_id INTEGER NOT NULL REFERENCES streams(id),"
    "  first_offset INTEGER NOT NULL,"
    "  count INTEGER NOT NULL,"
    "  min_rowtime INTEGER NOT NULL,"
    "  max_rowtime INTEGER NOT NULL,"
    "  data BLOB NOT NULL,"
    "  UNIQUE(stream_id, first_offset));" V2_TABLES_SQL V3_TABLES_SQL V4_MIGRATE_SQL V5_MIGRATE_SQL
    "PRAGMA application_id = " SL_STORE_APP_ID_STR ";"
    "PRAGMA user_version = " SL_STORE_SCHEMA_VERSION_STR ";";

/* migrate_sql[v] brings a version v file to version v + 1.  1 to 2: the idempotency
 * records, the per-query state limit and the index that finds the batches retention
 * deletes.  2 to 3: query checkpoints.  3 to 4: checkpoint states in parts.  4 to 5:
 * the batches' stored time and the recorded IDLE_TIMEOUT advances. */
static const char *const migrate_sql[SL_STORE_SCHEMA_VERSION] = {
    [1] = "ALTER TABLE queries ADD COLUMN state_limit INTEGER NOT NULL DEFAULT 0;" V2_TABLES_SQL
          "PRAGMA user_version = 2;",
    [2] = V3_TABLES_SQL "PRAGMA user_version = 3;",
    [3] = V4_MIGRATE_SQL "PRAGMA user_version = 4;",
    [4] = V5_MIGRATE_SQL "PRAGMA user_version = 5;",
};

/* The prepared statements: X(name, SQL).  Parameters are numbered as the functions
 * below bind them. */
#define STORE_STATEMENTS                                                                           \
    X(BEGIN, "BEGIN IMMEDIATE")                                                                    \
    X(COMMIT, "COMMIT")                                                                            \
    X(ROLLBACK, "ROLLBACK")                                                                        \
    X(STREAM_PUT, "INSERT INTO streams(name, ddl, next_offset, max_rowtime) "                      \
                  "VALUES (?1, ?2, 0, ?3)")                                                        \
    X(STREAM_DROP_EVENTS,                                                                          \
      "DELETE FROM events WHERE stream_id = (SELECT id FROM streams WHERE name = ?1)")             \
    X(STREAM_DROP_IDEM,                                                                            \
      "DELETE FROM idempotency WHERE stream_id = (SELECT id FROM streams WHERE name = ?1)")        \
    X(STREAM_DROP_ADVANCES,                                                                        \
      "DELETE FROM idle_advances WHERE stream_id = (SELECT id FROM streams WHERE name = ?1)")      \
    X(STREAM_DROP, "DELETE FROM streams WHERE name = ?1")                                          \
    X(STREAM_LIST, "SELECT name, ddl FROM streams ORDER BY id")                                    \
    X(STREAM_GET, "SELECT id, next_offset, max_rowtime FROM streams WHERE name = ?1")              \
    X(QUERY_PUT,                                                                                   \
      "INSERT INTO queries(id, sql, start_offset, state_limit) VALUES (?1, ?2, ?3, ?4)")           \
    X(QUERY_DROP, "DELETE FROM queries WHERE id = ?1")                                             \
    X(CKPT_PUT, "INSERT OR REPLACE INTO checkpoints(query_id, log_offset, seq, late_seq, "         \
                "taken_ms, gen, parts, state_len) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)")        \
    X(CKPT_GET, "SELECT log_offset, seq, late_seq, taken_ms, gen, parts, state_len "               \
                "FROM checkpoints WHERE query_id = ?1")                                            \
    X(CKPT_DROP, "DELETE FROM checkpoints WHERE query_id = ?1")                                    \
    X(PART_PUT, "INSERT OR REPLACE INTO checkpoint_parts(query_id, gen, n, data) "                 \
                "VALUES (?1, ?2, ?3, ?4)")                                                         \
    X(PART_COUNT, "SELECT count(*), coalesce(sum(length(data)), 0) FROM checkpoint_parts "         \
                  "WHERE query_id = ?1 AND gen = ?2 AND n < ?3")                                   \
    X(PART_LIST, "SELECT n, data FROM checkpoint_parts WHERE query_id = ?1 AND gen = ?2 "          \
                 "AND n < ?3 ORDER BY n")                                                          \
    X(PART_TRIM, "DELETE FROM checkpoint_parts WHERE rowid IN (SELECT rowid FROM "                 \
                 "checkpoint_parts WHERE query_id = ?1 AND gen <> ?2 LIMIT ?3)")                   \
    X(PART_DROP, "DELETE FROM checkpoint_parts WHERE query_id = ?1")                               \
    X(OUTPUT_PUT, "INSERT INTO query_output(query_id, kind, first_seq, last_seq, data) "           \
                  "VALUES (?1, ?2, ?3, ?4, ?5)")                                                   \
    X(OUTPUT_TRIM, "DELETE FROM query_output WHERE query_id = ?1 AND kind = ?2 AND "               \
                   "last_seq <= ?3")                                                               \
    X(OUTPUT_DROP, "DELETE FROM query_output WHERE query_id = ?1")                                 \
    X(OUTPUT_LIST, "SELECT first_seq, last_seq, data FROM query_output WHERE query_id = ?1 "       \
                   "AND kind = ?2 ORDER BY first_seq")                                             \
    X(SNAP_PUT, "INSERT OR REPLACE INTO query_snapshot(query_id, pos, seq, row) "                  \
                "VALUES (?1, ?2, ?3, ?4)")                                                         \
    X(SNAP_DELETE, "DELETE FROM query_snapshot WHERE query_id = ?1 AND pos = ?2")                  \
    X(SNAP_DROP, "DELETE FROM query_snapshot WHERE query_id = ?1")                                 \
    X(SNAP_LIST, "SELECT pos, seq, row FROM query_snapshot WHERE query_id = ?1 ORDER BY pos")      \
    X(QUERY_LIST, "SELECT id, sql, start_offset, state_limit FROM queries ORDER BY seq")           \
    X(APPEND_ADVANCE, "UPDATE streams SET next_offset = next_offset + ?2, "                        \
                      "max_rowtime = max(max_rowtime, ?3) WHERE name = ?1 "                        \
                      "RETURNING id, next_offset - ?2")                                            \
    X(APPEND_INSERT, "INSERT INTO events(stream_id, first_offset, count, min_rowtime, "            \
                     "max_rowtime, data, stored_ms) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)")          \
    X(BATCH_AT, "SELECT first_offset, count FROM events WHERE stream_id = ?1 AND "                 \
                "first_offset <= ?2 ORDER BY first_offset DESC LIMIT 1")                           \
    X(BATCH_NEXT,                                                                                  \
      "SELECT e.first_offset, e.count, e.data, a.watermark, e.stored_ms FROM events e "            \
      "LEFT JOIN idle_advances a ON a.stream_id = e.stream_id AND "                                \
      "a.at_offset = e.first_offset WHERE e.stream_id = ?1 AND "                                   \
      "e.first_offset >= ?2 AND e.first_offset < ?3 ORDER BY e.first_offset LIMIT 1")              \
    X(BATCH_NEXT_IN, "SELECT e.first_offset, e.count, e.data, a.watermark, e.stored_ms, "          \
                     "(SELECT coalesce(sum(k.count), 0) FROM events k WHERE k.stream_id = ?1 AND " \
                     "k.first_offset >= ?2 AND k.first_offset < e.first_offset), "                 \
                     "(SELECT max(k.max_rowtime) FROM events k WHERE k.stream_id = ?1 AND "        \
                     "k.first_offset >= ?2 AND k.first_offset < e.first_offset) "                  \
                     "FROM events e "                                                              \
                     "LEFT JOIN idle_advances a ON a.stream_id = e.stream_id AND "                 \
                     "a.at_offset = e.first_offset WHERE e.stream_id = ?1 AND "                    \
                     "e.first_offset >= ?2 AND e.first_offset < ?3 AND ((e.max_rowtime >= ?4 AND " \
                     "e.min_rowtime <= ?5) OR a.watermark IS NOT NULL) "                           \
                     "ORDER BY e.first_offset LIMIT 1")                                            \
    X(ADVANCE_PUT, "INSERT OR REPLACE INTO idle_advances(stream_id, at_offset, watermark) "        \
                   "SELECT id, ?2, ?3 FROM streams WHERE name = ?1")                               \
    X(ADVANCE_LAST, "SELECT a.at_offset, a.watermark FROM idle_advances a JOIN streams s ON "      \
                    "s.id = a.stream_id WHERE s.name = ?1 ORDER BY a.at_offset DESC LIMIT 1")      \
    X(RETENTION_ADVANCES,                                                                          \
      "DELETE FROM idle_advances WHERE stream_id = (SELECT id FROM streams WHERE name = ?1) AND "  \
      "at_offset < coalesce((SELECT min(first_offset) FROM events WHERE stream_id = "              \
      "(SELECT id FROM streams WHERE name = ?1)), (SELECT next_offset FROM streams WHERE "         \
      "name = ?1))")                                                                               \
    X(IDEM_GET, "SELECT i.body_hash, i.answer FROM idempotency i JOIN streams s ON "               \
                "s.id = i.stream_id WHERE s.name = ?1 AND i.key = ?2 AND i.created_ms >= ?3")      \
    X(IDEM_PUT, "INSERT OR REPLACE INTO idempotency(stream_id, key, body_hash, answer, "           \
                "created_ms) VALUES (?1, ?2, ?3, ?4, ?5)")                                         \
    X(IDEM_EXPIRE, "DELETE FROM idempotency WHERE (stream_id, key) IN (SELECT stream_id, key "     \
                   "FROM idempotency WHERE created_ms < ?1 LIMIT ?2)")                             \
    X(RETENTION_DELETE, "DELETE FROM events WHERE rowid IN (SELECT rowid FROM events WHERE "       \
                        "stream_id = (SELECT id FROM streams WHERE name = ?1) AND "                \
                        "max_rowtime < ?2 AND first_offset + count <= ?4 LIMIT ?3) "               \
                        "RETURNING count")

enum stmt_id {
#define X(name, sql) ST_##name,
    STORE_STATEMENTS
#undef X
        ST__COUNT
};

static const char *const stmt_sql[] = {
#define X(name, sql) sql,
    STORE_STATEMENTS
#undef X
};

struct sl_store {
    sqlite3 *db;
    char *path; /* DIR/sluice.db, for messages; owned */
    sqlite3_stmt *st[ST__COUNT];
    bool in_group;     /* between sl_store_group_begin and its commit or rollback */
    bool group_failed; /* a write of the open group failed: it can only roll back */
    sl_fsync mode;

    /* Write transactions of the store and of its side stores take turns on wlock (the
     * main store's own wlock_own), so that one never waits in SQLite's busy handler,
     * which sleeps, for another's: a write waits at most until the one in progress
     * commits.  side: a side store (sl_store_open_side), without a WAL checkpointer. */
    pthread_mutex_t *wlock;
    pthread_mutex_t wlock_own;
    bool side;

    /* The WAL checkpointer: a thread with a connection of its own (ckpt_db) that copies
     * the WAL into the database file, off the writers' path.  ckpt_* under ckpt_mu. */
    sqlite3 *ckpt_db;
    pthread_t ckpt_thread;
    bool ckpt_inited, ckpt_started;
    pthread_mutex_t ckpt_mu;
    pthread_cond_t ckpt_wake;
    pthread_cond_t ckpt_idle; /* signalled when a checkpoint ends */
    bool ckpt_due, ckpt_busy, ckpt_stop;
    uint64_t ckpt_frames; /* WAL frames the thread has copied into the database */
};

struct sl_store_cursor {
    sl_store *s;       /* borrowed: the store outlives its cursors */
    int64_t stream_id; /* streams.id, fixed at open */
    uint64_t pos;      /* the next batch starts at or after this offset */
    uint64_t end;      /* next_offset when the cursor was opened */
    bool ranged;       /* only batches with a ROWTIME in [lo, hi], or an advance */
    int64_t lo, hi;
    int64_t advance;     /* recorded before the current batch, INT64_MIN: none */
    int64_t stored_ms;   /* the current batch's stored time, INT64_MIN: none */
    uint64_t skipped;    /* ranged: events skipped right before the current batch */
    int64_t skipped_max; /* and their largest ROWTIME (INT64_MIN when none) */
    unsigned char *data; /* the current batch's bytes; owned */
    size_t cap;
};

/* Fills err from SQLite's error on s's connection after rc, and returns -1.  A full
 * disk gets its own code (INSUFFICIENT_STORAGE, 507) and message; anything else names
 * the file and quotes SQLite. */
static int db_error(sl_store *s, int rc, sl_error *err)
{
    if ((rc & 0xff) == SQLITE_FULL)
        return sl_error_set(err, SL_ERR_INSUFFICIENT_STORAGE, 0, 0, "disk full");
    return sl_error_set(err, SL_ERR_STORAGE_ERROR, 0, 0, "%s: %s", s->path, sqlite3_errmsg(s->db));
}

/* Resets a statement after use and drops its bindings, so that no blob or string of
 * the caller's stays referenced once the call returns. */
static void stmt_done(sqlite3_stmt *st)
{
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
}

/* Starts a write transaction, or joins the open group's.  Returns 0 or -1 with err set
 * (inside a group that already failed: nothing more is written in it). */
static int tx_begin(sl_store *s, sl_error *err)
{
    sqlite3_stmt *st = s->st[ST_BEGIN];
    int rc;

    if (s->in_group)
        return s->group_failed ? sl_error_set(err, SL_ERR_STORAGE_ERROR, 0, 0,
                                              "%s: an earlier write of this group failed", s->path)
                               : 0;
    pthread_mutex_lock(s->wlock);
    rc = sqlite3_step(st);
    sqlite3_reset(st);
    if (rc != SQLITE_DONE) {
        pthread_mutex_unlock(s->wlock);
        return db_error(s, rc, err);
    }
    return 0;
}

/* Ends the write transaction tx_begin started: commits it when ret is not negative,
 * otherwise (and when the commit fails) rolls it back; SQLite may already have rolled
 * it back itself after an I/O error or a full disk.  Returns ret, or -1 with err set.
 * Inside a group it only notes a failure: the group commits or rolls back as a whole. */
static int tx_end(sl_store *s, int ret, sl_error *err)
{
    sqlite3_stmt *st = s->st[ST_COMMIT];

    if (s->in_group) {
        if (ret < 0)
            s->group_failed = true;
        return ret;
    }
    if (ret >= 0) {
        int rc = sqlite3_step(st);

        sqlite3_reset(st);
        if (rc == SQLITE_DONE) {
            pthread_mutex_unlock(s->wlock);
            return ret;
        }
        ret = db_error(s, rc, err);
    }
    if (!sqlite3_get_autocommit(s->db)) {
        sqlite3_step(s->st[ST_ROLLBACK]);
        sqlite3_reset(s->st[ST_ROLLBACK]);
    }
    pthread_mutex_unlock(s->wlock);
    return -1;
}

/* The most parameters a statement takes. */
#define STORE_MAX_PARAMS 8

/* One value bound to a statement parameter.  A list of them ends at the first PARAM_END
 * (a zero-initialised entry); text and blob bytes are borrowed for the call. */
struct param {
    enum { PARAM_END, PARAM_INT, PARAM_TEXT, PARAM_BLOB } type;
    int64_t i;
    const void *p;
    size_t len;
};

static struct param p_int(int64_t v)
{
    return (struct param){PARAM_INT, v, NULL, 0};
}

/* text is NUL-terminated. */
static struct param p_text(const char *text)
{
    return (struct param){PARAM_TEXT, 0, text, 0};
}

static struct param p_blob(const void *bytes, size_t len)
{
    return (struct param){PARAM_BLOB, 0, bytes, len};
}

/* Binds params to st as ?1, ?2, ...  Returns SQLITE_OK or the code of the first bind
 * that fails (SQLITE_TOOBIG for a blob longer than SQLite's limit). */
static int bind_params(sqlite3_stmt *st, const struct param *params)
{
    int rc = SQLITE_OK;

    for (int i = 0; i < STORE_MAX_PARAMS && rc == SQLITE_OK; i++) {
        const struct param *p = &params[i];

        if (p->type == PARAM_END)
            break;
        if (p->type == PARAM_INT)
            rc = sqlite3_bind_int64(st, i + 1, p->i);
        else if (p->type == PARAM_TEXT)
            rc = sqlite3_bind_text(st, i + 1, p->p, -1, SQLITE_STATIC);
        else
            rc = sqlite3_bind_blob64(st, i + 1, p->len ? p->p : "", (sqlite3_uint64)p->len,
                                     SQLITE_STATIC);
    }
    return rc;
}

/* One statement of a write that returns no rows, with its parameters. */
struct step {
    enum stmt_id stmt;
    struct param params[STORE_MAX_PARAMS];
};

/* What a write is about, for the errors it gives: "<kind> <name> already exists" with
 * code EXISTS on a UNIQUE violation when exists is set, and "unknown <kind> <name>" with
 * code missing when the last step changes no row and missing is not SL_ERR_OK. */
struct subject {
    const char *kind;
    const char *name;
    bool exists;
    sl_errcode missing;
};

/* Runs n steps in order inside the caller's write transaction, stopping at the first
 * that fails.  about may be NULL.  Returns the number of rows the last step changed, or
 * -1 with err set. */
static int run_steps(sl_store *s, const struct step *steps, size_t n, const struct subject *about,
                     sl_error *err)
{
    for (size_t i = 0; i < n; i++) {
        sqlite3_stmt *st = s->st[steps[i].stmt];
        int rc = bind_params(st, steps[i].params);

        if (rc == SQLITE_OK)
            rc = sqlite3_step(st);
        stmt_done(st);
        if (rc == SQLITE_CONSTRAINT_UNIQUE && about && about->exists)
            return sl_error_set(err, SL_ERR_EXISTS, 0, 0, "%s %s already exists", about->kind,
                                about->name);
        if (rc != SQLITE_DONE)
            return db_error(s, rc, err);
    }
    int changed = sqlite3_changes(s->db);
    if (changed == 0 && about && about->missing != SL_ERR_OK)
        return sl_error_set(err, about->missing, 0, 0, "unknown %s %s", about->kind, about->name);
    return changed;
}

/* Runs n steps as one write transaction (see run_steps), committed before it returns
 * and rolled back on any failure.  Returns the number of rows the last step changed, or
 * -1 with err set and nothing stored. */
static int exec_write(sl_store *s, const struct step *steps, size_t n, const struct subject *about,
                      sl_error *err)
{
    if (tx_begin(s, err) != 0)
        return -1;
    return tx_end(s, run_steps(s, steps, n, about, err), err);
}

/* Creates dir and its missing parents with mode 0700, like mkdir -p.  Returns 0, or -1
 * with errno set. */
static int mkdir_p(const char *dir)
{
    char *p = sl_xstrdup(dir);
    char *c = p;
    struct stat sb;
    int ret = -1;

    for (;;) {
        while (*c == '/')
            c++;
        while (*c && *c != '/')
            c++;
        char saved = *c;
        *c = '\0';
        if (mkdir(p, 0700) != 0 && errno != EEXIST)
            goto fail;
        *c = saved;
        if (!saved)
            break;
    }
    if (stat(p, &sb) != 0)
        goto fail;
    if (!S_ISDIR(sb.st_mode)) {
        errno = ENOTDIR;
        goto fail;
    }
    ret = 0;
fail:
    free(p);
    return ret;
}

/* Reads one integer from a constant pragma query (e.g. "PRAGMA application_id").
 * Returns the SQLite code; *out is set on SQLITE_OK. */
static int pragma_int(sqlite3 *db, const char *sql, int64_t *out)
{
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(db, sql, -1, &st, NULL);

    if (rc != SQLITE_OK)
        return rc;
    rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        *out = sqlite3_column_int64(st, 0);
        rc = SQLITE_OK;
    }
    sqlite3_finalize(st);
    return rc;
}

/* Checks that the open file is a sluice database (or a new, empty one) and not damaged.
 * Sets *fresh when it holds no schema yet.  Returns 0 or -1 with err naming the file. */
static int check_identity(sl_store *s, int *fresh, sl_error *err)
{
    sqlite3_stmt *st = NULL;
    int64_t app_id = 0, tables = 0;
    int rc;

    rc = pragma_int(s->db, "PRAGMA application_id", &app_id);
    if (rc == SQLITE_OK)
        rc = pragma_int(s->db, "SELECT count(*) FROM sqlite_schema", &tables);
    if (rc != SQLITE_OK)
        return sl_error_set(err, SL_ERR_STORAGE_ERROR, 0, 0, "%s: not a sluice database: %s",
                            s->path, sqlite3_errmsg(s->db));
    if (app_id != SL_STORE_APP_ID && tables > 0)
        return sl_error_set(err, SL_ERR_STORAGE_ERROR, 0, 0,
                            "%s: not a sluice database (application_id %lld, %lld schema "
                            "objects)",
                            s->path, (long long)app_id, (long long)tables);
    *fresh = tables == 0;
    if (*fresh)
        return 0;

    /* quick_check answers one row "ok", or rows describing each problem found. */
    rc = sqlite3_prepare_v2(s->db, "PRAGMA quick_check(1)", -1, &st, NULL);
    if (rc == SQLITE_OK)
        rc = sqlite3_step(st);
    if (rc != SQLITE_ROW) {
        sl_error_set(err, SL_ERR_STORAGE_ERROR, 0, 0, "%s: damaged: %s", s->path,
                     sqlite3_errmsg(s->db));
        goto fail;
    }
    const char *verdict = (const char *)sqlite3_column_text(st, 0);
    if (!verdict || strcmp(verdict, "ok") != 0) {
        /* A problem reads "*** in database main ***\nPage 7: ..."; the message keeps
         * the problem, on one line. */
        const char *problem = verdict ? verdict : "integrity check failed";
        const char *nl = strchr(problem, '\n');

        if (problem[0] == '*' && nl)
            problem = nl + 1;
        sl_error_set(err, SL_ERR_STORAGE_ERROR, 0, 0, "%s: damaged: %s", s->path, problem);
        for (char *c = err ? err->message : NULL; c && *c; c++)
            if (*c == '\n')
                *c = ' ';
        goto fail;
    }
    sqlite3_finalize(st);
    return 0;
fail:
    sqlite3_finalize(st);
    return -1;
}

/* Creates the schema when the file is new, and refuses a schema newer than this code.
 * Runs in one write transaction so that two processes opening a new directory at once
 * create it once.  Returns 0 or -1 with err set. */
static int init_schema(sl_store *s, sl_error *err)
{
    int64_t version = 0;
    int rc;

    rc = sqlite3_exec(s->db, "BEGIN IMMEDIATE", NULL, NULL, NULL);
    if (rc != SQLITE_OK)
        return db_error(s, rc, err);
    rc = pragma_int(s->db, "PRAGMA user_version", &version);
    if (rc != SQLITE_OK)
        goto fail_db;
    if (version > SL_STORE_SCHEMA_VERSION) {
        sl_error_set(err, SL_ERR_STORAGE_ERROR, 0, 0,
                     "%s: written by a newer sluice (schema version %lld, this one reads "
                     "up to %d)",
                     s->path, (long long)version, SL_STORE_SCHEMA_VERSION);
        goto fail;
    }
    if (version == 0) {
        rc = sqlite3_exec(s->db, schema_sql, NULL, NULL, NULL);
        if (rc != SQLITE_OK)
            goto fail_db;
    }
    for (; version > 0 && version < SL_STORE_SCHEMA_VERSION; version++) {
        rc = sqlite3_exec(s->db, migrate_sql[version], NULL, NULL, NULL);
        if (rc != SQLITE_OK)
            goto fail_db;
    }
    rc = sqlite3_exec(s->db, "COMMIT", NULL, NULL, NULL);
    if (rc != SQLITE_OK)
        goto fail_db;
    return 0;
fail_db:
    db_error(s, rc, err);
fail:
    if (!sqlite3_get_autocommit(s->db))
        sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
    return -1;
}

/* Sets the connection's pragmas: WAL, the fsync policy, the busy timeout and foreign
 * keys.  Returns 0 or -1 with err set. */
static int set_pragmas(sl_store *s, sl_fsync mode, sl_error *err)
{
    const char *sync =
        mode == SL_FSYNC_ALWAYS ? "PRAGMA synchronous = FULL" : "PRAGMA synchronous = NORMAL";
    sqlite3_stmt *st = NULL;
    int rc;

    /* journal_mode answers the mode in force, which stays "delete" when WAL is not
     * possible (for instance on a file system without shared memory). */
    rc = sqlite3_prepare_v2(s->db, "PRAGMA journal_mode = WAL", -1, &st, NULL);
    if (rc == SQLITE_OK)
        rc = sqlite3_step(st);
    if (rc != SQLITE_ROW) {
        db_error(s, rc, err);
        goto fail;
    }
    const char *jm = (const char *)sqlite3_column_text(st, 0);
    if (!jm || strcmp(jm, "wal") != 0) {
        sl_error_set(err, SL_ERR_STORAGE_ERROR, 0, 0,
                     "%s: cannot use write-ahead logging (journal mode stays %s)", s->path,
                     jm ? jm : "unknown");
        goto fail;
    }
    sqlite3_finalize(st);
    st = NULL;
    rc = sqlite3_exec(s->db, sync, NULL, NULL, NULL);
    if (rc == SQLITE_OK)
        rc = sqlite3_exec(s->db, "PRAGMA foreign_keys = ON", NULL, NULL, NULL);
    if (rc != SQLITE_OK) {
        db_error(s, rc, err);
        goto fail;
    }
    return 0;
fail:
    sqlite3_finalize(st);
    return -1;
}

/* The checkpointer thread: a passive checkpoint (it never waits for the writer, nor the
 * writer for it) each time a commit left WAL_CHECKPOINT_PAGES or more in the WAL. */
static void *ckpt_main(void *arg)
{
    sl_store *s = arg;

    pthread_mutex_lock(&s->ckpt_mu);
    for (;;) {
        while (!s->ckpt_due && !s->ckpt_stop)
            pthread_cond_wait(&s->ckpt_wake, &s->ckpt_mu);
        if (s->ckpt_stop)
            break;
        s->ckpt_due = false;
        s->ckpt_busy = true;
        pthread_mutex_unlock(&s->ckpt_mu);
        /* A failure is tried again after the next commits; the writers go on. */
        int log = -1, copied = -1;
        int rc =
            sqlite3_wal_checkpoint_v2(s->ckpt_db, NULL, SQLITE_CHECKPOINT_PASSIVE, &log, &copied);
        pthread_mutex_lock(&s->ckpt_mu);
        if (rc == SQLITE_OK && copied > 0)
            s->ckpt_frames += (uint64_t)copied;
        s->ckpt_busy = false;
        pthread_cond_broadcast(&s->ckpt_idle);
    }
    pthread_mutex_unlock(&s->ckpt_mu);
    return NULL;
}

/* SQLite's hook after each commit, with the pages in the WAL: wakes the checkpointer,
 * or checkpoints right here when it has fallen far behind. */
static int wal_hook(void *ctx, sqlite3 *db, const char *name, int pages)
{
    sl_store *s = ctx;

    if (pages >= WAL_CHECKPOINT_INLINE_PAGES || !s->ckpt_started) {
        sqlite3_wal_checkpoint_v2(db, name, SQLITE_CHECKPOINT_PASSIVE, NULL, NULL);
    } else if (pages >= WAL_CHECKPOINT_PAGES) {
        pthread_mutex_lock(&s->ckpt_mu);
        s->ckpt_due = true;
        pthread_cond_signal(&s->ckpt_wake);
        pthread_mutex_unlock(&s->ckpt_mu);
    }
    return SQLITE_OK;
}

/* Starts the checkpointer; without it (a second connection that cannot be opened, no
 * thread) commits checkpoint themselves, as SQLite does by default. */
static void ckpt_start(sl_store *s)
{
    pthread_mutex_init(&s->ckpt_mu, NULL);
    pthread_cond_init(&s->ckpt_wake, NULL);
    pthread_cond_init(&s->ckpt_idle, NULL);
    s->ckpt_inited = true;
    sqlite3_wal_hook(s->db, wal_hook, s);
    if (sqlite3_open_v2(s->path, &s->ckpt_db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, NULL) !=
        SQLITE_OK)
        return;
    sqlite3_busy_timeout(s->ckpt_db, SL_STORE_BUSY_TIMEOUT_MS);
    /* A connection opens the WAL only when it first reads the database; until then
     * SQLite's checkpoint on it does nothing (it did, and the WAL grew to
     * WAL_CHECKPOINT_INLINE_PAGES every time). */
    if (sqlite3_exec(s->ckpt_db, "PRAGMA schema_version", NULL, NULL, NULL) != SQLITE_OK)
        return;
    s->ckpt_started = pthread_create(&s->ckpt_thread, NULL, ckpt_main, s) == 0;
}

uint64_t sl_store_wal_settle(sl_store *s)
{
    uint64_t frames;

    if (!s->ckpt_inited)
        return 0;
    pthread_mutex_lock(&s->ckpt_mu);
    while (s->ckpt_started && (s->ckpt_due || s->ckpt_busy))
        pthread_cond_wait(&s->ckpt_idle, &s->ckpt_mu);
    frames = s->ckpt_frames;
    pthread_mutex_unlock(&s->ckpt_mu);
    return frames;
}

static void ckpt_stop(sl_store *s)
{
    if (s->ckpt_started) {
        pthread_mutex_lock(&s->ckpt_mu);
        s->ckpt_stop = true;
        pthread_cond_signal(&s->ckpt_wake);
        pthread_mutex_unlock(&s->ckpt_mu);
        pthread_join(s->ckpt_thread, NULL);
        s->ckpt_started = false;
    }
    sqlite3_close(s->ckpt_db);
    s->ckpt_db = NULL;
}

/* Prepares every statement of stmt_sql on s's connection.  Returns 0 or -1 with err
 * set. */
static int prepare_all(sl_store *s, sl_error *err)
{
    for (int i = 0; i < ST__COUNT; i++) {
        int rc =
            sqlite3_prepare_v3(s->db, stmt_sql[i], -1, SQLITE_PREPARE_PERSISTENT, &s->st[i], NULL);
        if (rc != SQLITE_OK)
            return db_error(s, rc, err);
    }
    return 0;
}

/* Opens s->path read-write (plus flags, e.g. SQLITE_OPEN_CREATE) into s->db, with
 * extended result codes and the busy timeout.  Returns 0, or -1 with err set. */
static int open_db(sl_store *s, int flags, sl_error *err)
{
    int rc =
        sqlite3_open_v2(s->path, &s->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX | flags, NULL);

    if (rc != SQLITE_OK)
        return sl_error_set(err, SL_ERR_STORAGE_ERROR, 0, 0, "%s: cannot open: %s", s->path,
                            s->db ? sqlite3_errmsg(s->db) : sqlite3_errstr(rc));
    sqlite3_extended_result_codes(s->db, 1);
    sqlite3_busy_timeout(s->db, SL_STORE_BUSY_TIMEOUT_MS);
    return 0;
}

int sl_store_open(const char *dir, sl_fsync mode, sl_store **out, sl_error *err)
{
    sl_store *s = sl_xcalloc(1, sizeof(*s));
    size_t n = strlen(dir) + sizeof("/sluice.db");
    int fresh = 0;

    *out = NULL;
    pthread_mutex_init(&s->wlock_own, NULL);
    s->wlock = &s->wlock_own;
    s->mode = mode;
    s->path = sl_xmalloc(n);
    snprintf(s->path, n, "%s/sluice.db", dir);
    if (mkdir_p(dir) != 0) {
        sl_error_set(err, SL_ERR_STORAGE_ERROR, 0, 0, "%s: cannot create directory: %s", dir,
                     strerror(errno));
        goto fail;
    }
    if (open_db(s, SQLITE_OPEN_CREATE, err) != 0)
        goto fail;
    if (check_identity(s, &fresh, err) != 0)
        goto fail;
    if (set_pragmas(s, mode, err) != 0)
        goto fail;
    if (init_schema(s, err) != 0)
        goto fail;
    if (prepare_all(s, err) != 0)
        goto fail;
    ckpt_start(s);
    *out = s;
    return 0;
fail:
    sl_store_close(s);
    return -1;
}

void sl_store_wal_copy(sl_store *s, bool catch_up)
{
    /* Most of the WAL is copied while the other writers go on.  What they added
     * meanwhile is copied in a write turn of its own: only a copy that catches up with
     * the WAL's end lets the next write start the WAL over. */
    sqlite3_wal_checkpoint_v2(s->db, NULL, SQLITE_CHECKPOINT_PASSIVE, NULL, NULL);
    if (catch_up) {
        pthread_mutex_lock(s->wlock);
        sqlite3_wal_checkpoint_v2(s->db, NULL, SQLITE_CHECKPOINT_PASSIVE, NULL, NULL);
        pthread_mutex_unlock(s->wlock);
    }
}

int sl_store_open_side(sl_store *main, sl_store **out, sl_error *err)
{
    sl_store *s = sl_xcalloc(1, sizeof(*s));

    *out = NULL;
    s->side = true;
    s->wlock = main->wlock;
    s->mode = main->mode;
    s->path = sl_xstrdup(main->path);
    if (open_db(s, 0, err) != 0)
        goto fail;
    if (set_pragmas(s, s->mode, err) != 0 || prepare_all(s, err) != 0)
        goto fail;
    /* The main store's checkpointer thread copies the WAL into the database, woken by
     * the main store's commits: not this connection's commits, which would do it while
     * the other writers wait for their turn. */
    sqlite3_wal_autocheckpoint(s->db, 0);
    *out = s;
    return 0;
fail:
    sl_store_close(s);
    return -1;
}

void sl_store_close(sl_store *s)
{
    if (!s)
        return;
    if (s->ckpt_inited) {
        sqlite3_wal_hook(s->db, NULL, NULL);
        ckpt_stop(s);
        pthread_cond_destroy(&s->ckpt_wake);
        pthread_cond_destroy(&s->ckpt_idle);
        pthread_mutex_destroy(&s->ckpt_mu);
    }
    for (int i = 0; i < ST__COUNT; i++)
        sqlite3_finalize(s->st[i]);
    sqlite3_close(s->db);
    if (!s->side)
        pthread_mutex_destroy(&s->wlock_own);
    free(s->path);
    free(s);
}

/* --- Catalog -------------------------------------------------------------------- */

int sl_store_stream_put(sl_store *s, const char *name, const char *ddl, sl_error *err)
{
    const struct step put = {ST_STREAM_PUT, {p_text(name), p_text(ddl), p_int(INT64_MIN)}};
    const struct subject about = {"stream", name, true, SL_ERR_OK};

    return exec_write(s, &put, 1, &about, err) < 0 ? -1 : 0;
}

int sl_store_stream_drop(sl_store *s, const char *name, sl_error *err)
{
    const struct step drop[] = {
        {ST_STREAM_DROP_EVENTS, {p_text(name)}},
        {ST_STREAM_DROP_IDEM, {p_text(name)}},
        {ST_STREAM_DROP_ADVANCES, {p_text(name)}},
        {ST_STREAM_DROP, {p_text(name)}},
    };
    const struct subject about = {"stream", name, false, SL_ERR_UNKNOWN_STREAM};

    return exec_write(s, drop, sizeof(drop) / sizeof(drop[0]), &about, err) < 0 ? -1 : 0;
}

int sl_store_stream_list(sl_store *s, sl_store_stream_fn fn, void *ctx, sl_error *err)
{
    sqlite3_stmt *st = s->st[ST_STREAM_LIST];
    int rc, ret = 0;

    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        ret = fn(ctx, (const char *)sqlite3_column_text(st, 0),
                 (const char *)sqlite3_column_text(st, 1));
        if (ret != 0)
            break;
    }
    if (ret == 0 && rc != SQLITE_DONE)
        ret = db_error(s, rc, err);
    stmt_done(st);
    return ret;
}

/* Looks a stream up by name: its id, next offset and largest ROWTIME.  Returns 0, or -1
 * with err set (UNKNOWN_STREAM when there is none). */
static int stream_get(sl_store *s, const char *name, int64_t *id, uint64_t *next_offset,
                      int64_t *max_rowtime, sl_error *err)
{
    sqlite3_stmt *st = s->st[ST_STREAM_GET];
    int rc, ret = 0;

    sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
    rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        *id = sqlite3_column_int64(st, 0);
        *next_offset = (uint64_t)sqlite3_column_int64(st, 1);
        *max_rowtime = sqlite3_column_int64(st, 2);
    } else if (rc == SQLITE_DONE) {
        ret = sl_error_set(err, SL_ERR_UNKNOWN_STREAM, 0, 0, "unknown stream %s", name);
    } else {
        ret = db_error(s, rc, err);
    }
    stmt_done(st);
    return ret;
}

int sl_store_stream_stats(sl_store *s, const char *stream, uint64_t *next_offset,
                          int64_t *max_rowtime, sl_error *err)
{
    int64_t id;

    return stream_get(s, stream, &id, next_offset, max_rowtime, err);
}

/* --- Persistent queries ---------------------------------------------------------- */

int sl_store_query_put(sl_store *s, const char *id, const char *sql, uint64_t start_offset,
                       uint64_t state_limit, sl_error *err)
{
    const struct step put = {
        ST_QUERY_PUT,
        {p_text(id), p_text(sql), p_int((int64_t)start_offset), p_int((int64_t)state_limit)}};
    const struct subject about = {"query", id, true, SL_ERR_OK};

    return exec_write(s, &put, 1, &about, err) < 0 ? -1 : 0;
}

int sl_store_query_drop(sl_store *s, const char *id, sl_error *err)
{
    const struct step drop[] = {
        {ST_SNAP_DROP, {p_text(id)}}, {ST_OUTPUT_DROP, {p_text(id)}}, {ST_CKPT_DROP, {p_text(id)}},
        {ST_PART_DROP, {p_text(id)}}, {ST_QUERY_DROP, {p_text(id)}},
    };
    const struct subject about = {"query", id, false, SL_ERR_UNKNOWN_QUERY};

    return exec_write(s, drop, sizeof(drop) / sizeof(drop[0]), &about, err) < 0 ? -1 : 0;
}

int sl_store_query_list(sl_store *s, sl_store_query_fn fn, void *ctx, sl_error *err)
{
    sqlite3_stmt *st = s->st[ST_QUERY_LIST];
    int rc, ret = 0;

    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        ret = fn(ctx, (const char *)sqlite3_column_text(st, 0),
                 (const char *)sqlite3_column_text(st, 1), (uint64_t)sqlite3_column_int64(st, 2),
                 (uint64_t)sqlite3_column_int64(st, 3));
        if (ret != 0)
            break;
    }
    if (ret == 0 && rc != SQLITE_DONE)
        ret = db_error(s, rc, err);
    stmt_done(st);
    return ret;
}

/* --- Event log --------------------------------------------------------------------- */

int sl_store_group_begin(sl_store *s, sl_error *err)
{
    if (tx_begin(s, err) != 0)
        return -1;
    s->in_group = true;
    s->group_failed = false;
    return 0;
}

int sl_store_group_commit(sl_store *s, sl_error *err)
{
    bool failed = s->group_failed;

    s->in_group = false;
    if (failed)
        sl_error_set(err, SL_ERR_STORAGE_ERROR, 0, 0, "%s: a write of the group failed", s->path);
    return tx_end(s, failed ? -1 : 0, err);
}

void sl_store_group_rollback(sl_store *s)
{
    sl_error ignored;

    s->in_group = false;
    tx_end(s, -1, &ignored);
}

int sl_store_append(sl_store *s, const char *stream, const void *blob, size_t len, uint32_t count,
                    int64_t min_rowtime, int64_t max_rowtime, const sl_store_idem *idem,
                    uint64_t *first_offset, sl_error *err)
{
    return sl_store_append_idems(s, stream, blob, len, count, min_rowtime, max_rowtime, INT64_MIN,
                                 idem, idem ? 1 : 0, first_offset, err);
}

int sl_store_append_idems(sl_store *s, const char *stream, const void *blob, size_t len,
                          uint32_t count, int64_t min_rowtime, int64_t max_rowtime,
                          int64_t stored_ms, const sl_store_idem *idems, size_t nidem,
                          uint64_t *first_offset, sl_error *err)
{
    const struct param advance[] = {p_text(stream), p_int(count), p_int(max_rowtime), {0}};
    sqlite3_stmt *adv = s->st[ST_APPEND_ADVANCE];
    int64_t id = 0, first = 0;
    int rc, ret;

    /* An empty batch stores nothing: it would take the next batch's first offset. */
    if (count == 0) {
        uint64_t next;
        int64_t maxrt;

        if (stream_get(s, stream, &id, &next, &maxrt, err) != 0)
            return -1;
        if (first_offset)
            *first_offset = next;
        return 0;
    }
    if (tx_begin(s, err) != 0)
        return -1;
    bind_params(adv, advance);
    rc = sqlite3_step(adv);
    if (rc == SQLITE_ROW) {
        id = sqlite3_column_int64(adv, 0);
        first = sqlite3_column_int64(adv, 1);
    }
    stmt_done(adv);
    if (rc == SQLITE_DONE) {
        ret = sl_error_set(err, SL_ERR_UNKNOWN_STREAM, 0, 0, "unknown stream %s", stream);
    } else if (rc != SQLITE_ROW) {
        ret = db_error(s, rc, err);
    } else {
        /* A batch longer than SQLite's blob limit fails binding, with SQLITE_TOOBIG. */
        const struct step insert = {ST_APPEND_INSERT,
                                    {p_int(id), p_int(first), p_int(count), p_int(min_rowtime),
                                     p_int(max_rowtime), p_blob(blob, len), p_int(stored_ms)}};

        ret = run_steps(s, &insert, 1, NULL, err);
        for (size_t i = 0; i < nidem && ret >= 0; i++) {
            const sl_store_idem *idem = &idems[i];
            const struct step put = {ST_IDEM_PUT,
                                     {p_int(id), p_text(idem->key),
                                      p_blob(idem->body_hash, SL_STORE_HASH_LEN),
                                      p_text(idem->answer), p_int(idem->created_ms)}};

            ret = run_steps(s, &put, 1, NULL, err);
        }
    }
    if (tx_end(s, ret, err) < 0)
        return -1;
    if (first_offset)
        *first_offset = (uint64_t)first;
    return 0;
}

int sl_store_scan(sl_store *s, const char *stream, uint64_t from_offset, sl_store_cursor **out,
                  sl_error *err)
{
    sqlite3_stmt *st = s->st[ST_BATCH_AT];
    int64_t id, maxrt;
    uint64_t end, pos = from_offset;
    int rc;

    *out = NULL;
    if (stream_get(s, stream, &id, &end, &maxrt, err) != 0)
        return -1;
    /* Start at the batch holding from_offset when there is one: the last batch that
     * starts at or before it, provided it reaches past it. */
    sqlite3_bind_int64(st, 1, id);
    sqlite3_bind_int64(st, 2, (sqlite3_int64)from_offset);
    rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        uint64_t first = (uint64_t)sqlite3_column_int64(st, 0);
        uint64_t count = (uint64_t)sqlite3_column_int64(st, 1);

        if (first + count > from_offset)
            pos = first;
    }
    stmt_done(st);
    if (rc != SQLITE_ROW && rc != SQLITE_DONE)
        return db_error(s, rc, err);

    sl_store_cursor *c = sl_xcalloc(1, sizeof(*c));
    c->s = s;
    c->stream_id = id;
    c->pos = pos;
    c->end = end;
    c->advance = INT64_MIN;
    c->stored_ms = INT64_MIN;
    *out = c;
    return 0;
}

int sl_store_scan_range(sl_store *s, const char *stream, uint64_t from_offset, int64_t lo,
                        int64_t hi, sl_store_cursor **out, sl_error *err)
{
    if (sl_store_scan(s, stream, from_offset, out, err) < 0)
        return -1;
    (*out)->ranged = true;
    (*out)->lo = lo;
    (*out)->hi = hi;
    return 0;
}

int sl_store_cursor_next(sl_store_cursor *c, const void **blob, size_t *len, uint32_t *count,
                         uint64_t *first_offset, sl_error *err)
{
    sqlite3_stmt *st = c->s->st[c->ranged ? ST_BATCH_NEXT_IN : ST_BATCH_NEXT];
    int rc, ret;

    if (c->pos >= c->end)
        return 0;
    sqlite3_bind_int64(st, 1, c->stream_id);
    sqlite3_bind_int64(st, 2, (sqlite3_int64)c->pos);
    sqlite3_bind_int64(st, 3, (sqlite3_int64)c->end);
    if (c->ranged) {
        sqlite3_bind_int64(st, 4, c->lo);
        sqlite3_bind_int64(st, 5, c->hi);
    }
    rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        uint64_t first = (uint64_t)sqlite3_column_int64(st, 0);
        uint32_t n = (uint32_t)sqlite3_column_int64(st, 1);
        const void *data = sqlite3_column_blob(st, 2);
        size_t size = (size_t)sqlite3_column_bytes(st, 2);

        /* One spare byte keeps the buffer non-empty for a zero-length blob. */
        if (size + 1 > c->cap) {
            c->cap = size + 1;
            c->data = sl_xrealloc(c->data, c->cap);
        }
        if (size)
            memcpy(c->data, data, size);
        *blob = c->data;
        *len = size;
        *count = n;
        *first_offset = first;
        c->pos = first + n;
        c->advance =
            sqlite3_column_type(st, 3) == SQLITE_NULL ? INT64_MIN : sqlite3_column_int64(st, 3);
        c->stored_ms = sqlite3_column_int64(st, 4);
        c->skipped = c->ranged ? (uint64_t)sqlite3_column_int64(st, 5) : 0;
        c->skipped_max = c->ranged && sqlite3_column_type(st, 6) != SQLITE_NULL
                             ? sqlite3_column_int64(st, 6)
                             : INT64_MIN;
        ret = 1;
    } else if (rc == SQLITE_DONE) {
        c->pos = c->end;
        ret = 0;
    } else {
        ret = db_error(c->s, rc, err);
    }
    stmt_done(st);
    return ret;
}

int64_t sl_store_cursor_advance(const sl_store_cursor *c)
{
    return c->advance;
}

int64_t sl_store_cursor_stored_ms(const sl_store_cursor *c)
{
    return c->stored_ms;
}

uint64_t sl_store_cursor_skipped(const sl_store_cursor *c, int64_t *max_rowtime)
{
    *max_rowtime = c->skipped_max;
    return c->skipped;
}

void sl_store_cursor_close(sl_store_cursor *c)
{
    if (!c)
        return;
    free(c->data);
    free(c);
}

/* --- Idempotency records ------------------------------------------------------------ */

int sl_store_idem_get(sl_store *s, const char *stream, const char *key, int64_t not_before_ms,
                      unsigned char body_hash[SL_STORE_HASH_LEN], char **answer, sl_error *err)
{
    sqlite3_stmt *st = s->st[ST_IDEM_GET];
    int rc, ret = 0;

    *answer = NULL;
    sqlite3_bind_text(st, 1, stream, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, key, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 3, not_before_ms);
    rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        const void *hash = sqlite3_column_blob(st, 0);
        const char *text = (const char *)sqlite3_column_text(st, 1);

        if (sqlite3_column_bytes(st, 0) == SL_STORE_HASH_LEN && hash && text) {
            memcpy(body_hash, hash, SL_STORE_HASH_LEN);
            *answer = sl_xstrdup(text);
            ret = 1;
        } else {
            ret = sl_error_set(err, SL_ERR_STORAGE_ERROR, 0, 0,
                               "%s: damaged idempotency record for key '%s'", s->path, key);
        }
    } else if (rc != SQLITE_DONE) {
        ret = db_error(s, rc, err);
    }
    stmt_done(st);
    return ret;
}

int sl_store_idem_expire(sl_store *s, int64_t before_ms, unsigned max, unsigned *deleted,
                         sl_error *err)
{
    const struct step expire = {ST_IDEM_EXPIRE, {p_int(before_ms), p_int(max)}};
    int n = exec_write(s, &expire, 1, NULL, err);

    *deleted = n < 0 ? 0 : (unsigned)n;
    return n < 0 ? -1 : 0;
}

/* --- Retention ---------------------------------------------------------------------- */

int sl_store_retention_delete(sl_store *s, const char *stream, int64_t before_rowtime,
                              uint64_t below_offset, unsigned max_batches, unsigned *batches,
                              uint64_t *events, sl_error *err)
{
    int64_t below = below_offset > INT64_MAX ? INT64_MAX : (int64_t)below_offset;
    const struct param params[] = {
        p_text(stream), p_int(before_rowtime), p_int(max_batches), p_int(below), {0}};
    sqlite3_stmt *st = s->st[ST_RETENTION_DELETE];
    unsigned nb = 0;
    uint64_t ne = 0;
    int rc, ret;

    *batches = 0;
    *events = 0;
    if (tx_begin(s, err) != 0)
        return -1;
    bind_params(st, params);
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        nb++;
        ne += (uint64_t)sqlite3_column_int64(st, 0);
    }
    stmt_done(st);
    ret = rc == SQLITE_DONE ? 0 : db_error(s, rc, err);
    if (ret == 0 && nb > 0) {
        /* The advances recorded before the deleted batches go with them. */
        const struct step advances = {ST_RETENTION_ADVANCES, {p_text(stream)}};

        ret = run_steps(s, &advances, 1, NULL, err) < 0 ? -1 : 0;
    }
    if (tx_end(s, ret, err) < 0)
        return -1;
    *batches = nb;
    *events = ne;
    return 0;
}

/* --- Idle advances ------------------------------------------------------------------ */

int sl_store_advance_put(sl_store *s, const char *stream, uint64_t at_offset, int64_t watermark,
                         sl_error *err)
{
    const struct step put = {ST_ADVANCE_PUT,
                             {p_text(stream), p_int((int64_t)at_offset), p_int(watermark)}};
    const struct subject about = {"stream", stream, false, SL_ERR_UNKNOWN_STREAM};

    return exec_write(s, &put, 1, &about, err) < 0 ? -1 : 0;
}

int sl_store_advance_last(sl_store *s, const char *stream, uint64_t *at_offset, int64_t *watermark,
                          sl_error *err)
{
    sqlite3_stmt *st = s->st[ST_ADVANCE_LAST];
    int rc, ret = 0;

    sqlite3_bind_text(st, 1, stream, -1, SQLITE_STATIC);
    rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        *at_offset = (uint64_t)sqlite3_column_int64(st, 0);
        *watermark = sqlite3_column_int64(st, 1);
        ret = 1;
    } else if (rc != SQLITE_DONE) {
        ret = db_error(s, rc, err);
    }
    stmt_done(st);
    return ret;
}

/* --- Checkpoints -------------------------------------------------------------------- */

int sl_store_checkpoint_part_put(sl_store *s, const char *query_id, uint64_t gen, uint64_t n,
                                 const void *data, size_t len, sl_error *err)
{
    const struct step put = {
        ST_PART_PUT, {p_text(query_id), p_int((int64_t)gen), p_int((int64_t)n), p_blob(data, len)}};

    return exec_write(s, &put, 1, NULL, err) < 0 ? -1 : 0;
}

int sl_store_checkpoint_trim(sl_store *s, const char *query_id, uint64_t keep_gen, unsigned max,
                             unsigned *deleted, sl_error *err)
{
    const struct step trim = {ST_PART_TRIM,
                              {p_text(query_id), p_int((int64_t)keep_gen), p_int(max)}};
    int n = exec_write(s, &trim, 1, NULL, err);

    *deleted = n < 0 ? 0 : (unsigned)n;
    return n < 0 ? -1 : 0;
}

/* Checks, inside the caller's transaction, that query_id's parts n < c->parts of
 * generation c->gen are all stored and hold c->state_len bytes.  Returns 0 or -1 with
 * err set. */
static int parts_complete(sl_store *s, const char *query_id, const sl_store_checkpoint *c,
                          sl_error *err)
{
    sqlite3_stmt *st = s->st[ST_PART_COUNT];
    const struct param params[] = {
        p_text(query_id), p_int((int64_t)c->gen), p_int((int64_t)c->parts), {0}};
    int rc, ret = 0;

    bind_params(st, params);
    rc = sqlite3_step(st);
    if (rc != SQLITE_ROW)
        ret = db_error(s, rc, err);
    else if ((uint64_t)sqlite3_column_int64(st, 0) != c->parts ||
             (uint64_t)sqlite3_column_int64(st, 1) != c->state_len)
        ret = sl_error_set(err, SL_ERR_STORAGE_ERROR, 0, 0,
                           "%s: checkpoint of query %s: parts missing", s->path, query_id);
    stmt_done(st);
    return ret;
}

int sl_store_checkpoint_put(sl_store *s, const char *query_id, const sl_store_checkpoint *c,
                            const sl_store_output *outputs, size_t noutputs,
                            const sl_store_snap *snaps, size_t nsnaps, sl_error *err)
{
    int ret;

    if (tx_begin(s, err) != 0)
        return -1;
    if (c->reset) {
        const struct step reset[] = {{ST_SNAP_DROP, {p_text(query_id)}},
                                     {ST_OUTPUT_DROP, {p_text(query_id)}}};

        if (run_steps(s, reset, 2, NULL, err) < 0)
            return tx_end(s, -1, err);
    }
    const struct step put = {ST_CKPT_PUT,
                             {p_text(query_id), p_int((int64_t)c->log_offset),
                              p_int((int64_t)c->seq), p_int((int64_t)c->late_seq),
                              p_int(c->taken_ms), p_int((int64_t)c->gen), p_int((int64_t)c->parts),
                              p_int((int64_t)c->state_len)}};
    ret = parts_complete(s, query_id, c, err);
    if (ret >= 0)
        ret = run_steps(s, &put, 1, NULL, err);
    for (size_t i = 0; ret >= 0 && i < noutputs; i++) {
        const sl_store_output *o = &outputs[i];
        const struct step steps[] = {
            {ST_OUTPUT_TRIM, {p_text(query_id), p_int(o->kind), p_int((int64_t)o->trim_to)}},
            {ST_OUTPUT_PUT,
             {p_text(query_id), p_int(o->kind), p_int((int64_t)o->first_seq),
              p_int((int64_t)o->last_seq), p_blob(o->data, o->len)}},
        };

        /* An empty chunk only trims. */
        ret = run_steps(s, steps, o->len ? 2 : 1, NULL, err);
    }
    for (size_t i = 0; ret >= 0 && i < nsnaps; i++) {
        const sl_store_snap *e = &snaps[i];
        const struct step up = {ST_SNAP_PUT,
                                {p_text(query_id), p_int((int64_t)e->pos), p_int((int64_t)e->seq),
                                 p_blob(e->row, e->len)}};
        const struct step del = {ST_SNAP_DELETE, {p_text(query_id), p_int((int64_t)e->pos)}};

        ret = run_steps(s, e->row ? &up : &del, 1, NULL, err);
    }
    return tx_end(s, ret, err) < 0 ? -1 : 0;
}

int sl_store_checkpoint_get(sl_store *s, const char *query_id, sl_store_checkpoint *c, void **state,
                            sl_error *err)
{
    sqlite3_stmt *st = s->st[ST_CKPT_GET];
    sl_buf bytes = SL_BUF_INIT;
    uint64_t next = 0;
    int rc, ret = 0;

    *state = NULL;
    memset(c, 0, sizeof(*c));
    sqlite3_bind_text(st, 1, query_id, -1, SQLITE_STATIC);
    rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        c->log_offset = (uint64_t)sqlite3_column_int64(st, 0);
        c->seq = (uint64_t)sqlite3_column_int64(st, 1);
        c->late_seq = (uint64_t)sqlite3_column_int64(st, 2);
        c->taken_ms = sqlite3_column_int64(st, 3);
        c->gen = (uint64_t)sqlite3_column_int64(st, 4);
        c->parts = (uint64_t)sqlite3_column_int64(st, 5);
        c->state_len = (uint64_t)sqlite3_column_int64(st, 6);
        ret = 1;
    } else if (rc != SQLITE_DONE) {
        ret = db_error(s, rc, err);
    }
    stmt_done(st);
    if (ret <= 0)
        return ret;

    /* The parts, in order: the buffer grows with what is stored, never by what the
     * checkpoints row claims. */
    const struct param params[] = {
        p_text(query_id), p_int((int64_t)c->gen), p_int((int64_t)c->parts), {0}};
    st = s->st[ST_PART_LIST];
    bind_params(st, params);
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        if ((uint64_t)sqlite3_column_int64(st, 0) != next)
            break;
        sl_buf_append(&bytes, sqlite3_column_blob(st, 1), (size_t)sqlite3_column_bytes(st, 1));
        next++;
    }
    if (rc != SQLITE_ROW && rc != SQLITE_DONE)
        ret = db_error(s, rc, err);
    else if (next != c->parts || bytes.len != c->state_len)
        ret = sl_error_set(err, SL_ERR_STORAGE_ERROR, 0, 0,
                           "damaged checkpoint: part %" PRIu64 " of %" PRIu64 " is missing", next,
                           c->parts);
    stmt_done(st);
    if (ret < 0) {
        sl_buf_free(&bytes);
        return -1;
    }
    /* An empty state still gets a buffer, so that *state is never NULL on success. */
    if (!bytes.data)
        sl_buf_putc(&bytes, 0);
    *state = bytes.data;
    c->state = bytes.data;
    return 1;
}

/* Steps st (bound), handing each (number, number, blob) row to fn until fn returns
 * non-zero (that value is returned); a database error is -1 with err set. */
static int list_numbered_blobs(sl_store *s, sqlite3_stmt *st, sl_store_snap_fn fn, void *ctx,
                               sl_error *err)
{
    int rc, ret = 0;

    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        ret = fn(ctx, (uint64_t)sqlite3_column_int64(st, 0), (uint64_t)sqlite3_column_int64(st, 1),
                 sqlite3_column_blob(st, 2), (size_t)sqlite3_column_bytes(st, 2));
        if (ret != 0)
            break;
    }
    if (ret == 0 && rc != SQLITE_DONE)
        ret = db_error(s, rc, err);
    stmt_done(st);
    return ret;
}

int sl_store_output_list(sl_store *s, const char *query_id, int kind, sl_store_output_fn fn,
                         void *ctx, sl_error *err)
{
    sqlite3_stmt *st = s->st[ST_OUTPUT_LIST];

    sqlite3_bind_text(st, 1, query_id, -1, SQLITE_STATIC);
    sqlite3_bind_int(st, 2, kind);
    return list_numbered_blobs(s, st, fn, ctx, err);
}

int sl_store_snapshot_list(sl_store *s, const char *query_id, sl_store_snap_fn fn, void *ctx,
                           sl_error *err)
{
    sqlite3_stmt *st = s->st[ST_SNAP_LIST];

    sqlite3_bind_text(st, 1, query_id, -1, SQLITE_STATIC);
    return list_numbered_blobs(s, st, fn, ctx, err);
}
