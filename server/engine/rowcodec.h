/* rowcodec.h: the binary form of rows in the event log.
 *
 * A batch of rows is encoded into one blob, stored as one SQLite row (storage never
 * looks inside).  The format is compact and versioned; decoding checks every length, so
 * a damaged blob gives an error, never a crash.  Format: a header byte (version), then
 * per row: rowtime (zig-zag varint), ncols (varint), per column a type byte and its
 * payload (varint for integers, 8 bytes little-endian for DOUBLE, varint length + bytes
 * for VARCHAR, BYTES and the bodies of ARRAY, MAP and STRUCT values (nested.h, checked
 * whole when read), nothing for NULL, one byte for BOOLEAN, for DECIMAL its scale byte
 * and its unscaled value zig-zagged as 128 bits, low then high 64 bits as varints). */
#ifndef SL_ROWCODEC_H
#define SL_ROWCODEC_H

#include "buf.h"
#include "error.h"
#include "row.h"

#include <stddef.h>

/* Appends the batch header to out; call once before the first row. */
void sl_rowcodec_begin(sl_buf *out);
/* Appends one row to out. */
void sl_rowcodec_put(sl_buf *out, const sl_row *row);

typedef struct sl_rowcodec_reader {
    const unsigned char *p, *end;
} sl_rowcodec_reader;

/* Starts reading a blob (borrowed; must outlive the reader). -1 and STORAGE_ERROR when
 * the header is not one this version reads. */
int sl_rowcodec_open(sl_rowcodec_reader *rd, const void *data, size_t len, sl_error *err);
/* Reads the next row into a new row the caller frees: 1 with *out set, 0 at the end of
 * the blob, -1 with STORAGE_ERROR when the blob is damaged. */
int sl_rowcodec_next(sl_rowcodec_reader *rd, sl_row **out, sl_error *err);

#endif
