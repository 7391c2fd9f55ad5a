/* mhd_null.h: libmicrohttpd answering ingest requests without storing anything, run in
 * the benchmark's own process: the floor that libmicrohttpd and the handing of a
 * request to another thread set under sluice's ingest figures (bench_http
 * --mhd-null). */
#ifndef SL_BENCH_MHD_NULL_H
#define SL_BENCH_MHD_NULL_H

typedef enum bench_mhd_mode {
    MHD_NULL_AT_ONCE, /* the answer is queued at once */
    MHD_NULL_HANDOFF, /* as sluice: suspended, queued, a thread takes the queue and resumes */
    MHD_NULL_BLOCK    /* a thread per connection, which waits until that thread took it */
} bench_mhd_mode;

/* Starts a libmicrohttpd server on an ephemeral loopback port that answers every
 * request 200 {"accepted":1} once its body is read, as `how` says; with `threads`
 * polling threads set up as sluice's (epoll, suspend and resume allowed), except in
 * MHD_NULL_BLOCK (a thread per connection).  Returns the port, or -1.  It runs until
 * the process exits. */
int bench_mhd_null_start(unsigned threads, bench_mhd_mode how);

#endif
