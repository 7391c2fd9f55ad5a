/* sha256.h: SHA-256 (FIPS 180-4), for the body hash of an ingest request's
 * Idempotency-Key record.  Incremental: init, any number of updates, final. */
#ifndef SL_SHA256_H
#define SL_SHA256_H

#include <stddef.h>
#include <stdint.h>

#define SL_SHA256_LEN 32

typedef struct sl_sha256 {
    uint32_t h[8];
    uint64_t bytes;          /* message length so far */
    unsigned char block[64]; /* a partial block */
    size_t fill;             /* bytes in block */
} sl_sha256;

void sl_sha256_init(sl_sha256 *c);
/* Adds len bytes of data (borrowed for the call). */
void sl_sha256_update(sl_sha256 *c, const void *data, size_t len);
/* Writes the digest of everything added into out; c must be initialised again before
 * further use. */
void sl_sha256_final(sl_sha256 *c, unsigned char out[SL_SHA256_LEN]);

#endif
