/* ckpt.h: the byte format of query checkpoints: primitives that operators, aggregates
 * and the instance use to write their state into a buffer and to read it back.
 *
 * A writer appends to a caller-owned sl_buf.  Integers are varints (zig-zag for signed
 * ones), DOUBLEs 8 bytes little-endian, rows and values the event log's own encoding
 * (rowcodec.h, without its batch header), so that every value type the log stores can be
 * checkpointed with no code here.  A writer carries a sticky `why`: a part of the state
 * that cannot be saved sets it, and the caller gives up on the checkpoint.
 *
 * A reader never trusts its bytes.  Every read is checked against the end; the first
 * inconsistency sets the sticky `why` (a static string), after which every read returns
 * zero or NULL without reading, so restore code reads straight through and checks once.
 * Counts are read with an upper bound and against the bytes left, so a damaged count
 * can never make a reader allocate more than the blob could describe. */
#ifndef SL_CKPT_H
#define SL_CKPT_H

#include "buf.h"
#include "row.h"
#include "value.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct sl_ckpt_writer {
    sl_buf *out;     /* borrowed: where the bytes go */
    const char *why; /* NULL, or why the state cannot be saved (static) */
} sl_ckpt_writer;

void sl_ckpt_put_u64(sl_ckpt_writer *w, uint64_t v);
void sl_ckpt_put_i64(sl_ckpt_writer *w, int64_t v);
void sl_ckpt_put_f64(sl_ckpt_writer *w, double d);
void sl_ckpt_put_bool(sl_ckpt_writer *w, bool b);
/* A row (borrowed) in the log's encoding. */
void sl_ckpt_put_row(sl_ckpt_writer *w, const sl_row *row);
/* n values (borrowed) as one row with ROWTIME rowtime; n at most SL_MAX_COLUMNS. */
void sl_ckpt_put_values(sl_ckpt_writer *w, int64_t rowtime, uint32_t n, const sl_value *v);
/* Marks the checkpoint as impossible (why: a static string); the first reason stays. */
void sl_ckpt_cannot(sl_ckpt_writer *w, const char *why);

typedef struct sl_ckpt_reader {
    const unsigned char *p, *end; /* the bytes not read yet (borrowed) */
    const char *why;              /* NULL while every read made sense (static) */
} sl_ckpt_reader;

/* A reader over len bytes at data (borrowed: they must outlive it). */
void sl_ckpt_reader_init(sl_ckpt_reader *rd, const void *data, size_t len);
/* Marks the bytes as damaged (why: a static string) and returns -1; the first reason
 * stays. */
int sl_ckpt_fail(sl_ckpt_reader *rd, const char *why);
/* 0 while nothing failed, else -1. */
static inline int sl_ckpt_status(const sl_ckpt_reader *rd)
{
    return rd->why ? -1 : 0;
}

uint64_t sl_ckpt_get_u64(sl_ckpt_reader *rd);
int64_t sl_ckpt_get_i64(sl_ckpt_reader *rd);
double sl_ckpt_get_f64(sl_ckpt_reader *rd);
bool sl_ckpt_get_bool(sl_ckpt_reader *rd);
/* A count of items, each taking at least one byte: fails (and returns 0) past max or
 * past the bytes left. */
uint64_t sl_ckpt_get_count(sl_ckpt_reader *rd, uint64_t max);
/* A row; caller frees.  NULL once the reader failed. */
sl_row *sl_ckpt_get_row(sl_ckpt_reader *rd);
/* A row that must have exactly n values (what sl_ckpt_put_values wrote); caller frees.
 * NULL once the reader failed. */
sl_row *sl_ckpt_get_values(sl_ckpt_reader *rd, uint32_t n);

/* A 64-bit checksum of len bytes (not cryptographic: it detects damage). */
uint64_t sl_ckpt_checksum(const void *data, size_t len);

/* Frames.  A blob is a 30-byte header, then its payload: 4 magic bytes naming what it
 * is, a format version, the version byte of the log's row encoding, a 64-bit tag (what
 * the payload belongs to: a plan's fingerprint), the payload's length and its checksum
 * (8 bytes little-endian each).  sl_ckpt_frame_begin appends a header to w->out and
 * returns where it starts; sl_ckpt_frame_end, once the payload is appended, fills in its
 * length and checksum. */
size_t sl_ckpt_frame_begin(sl_ckpt_writer *w, const char magic[4], unsigned version, uint64_t tag);
void sl_ckpt_frame_end(sl_ckpt_writer *w, size_t at);
/* Points rd at the payload of the blob data/len (borrowed) after checking its header
 * (magic, version, row encoding, tag) and its length and checksum.  Returns 0, or -1
 * with rd->why set. */
int sl_ckpt_frame_open(sl_ckpt_reader *rd, const void *data, size_t len, const char magic[4],
                       unsigned version, uint64_t tag);

#endif
