/* ckptwriter.h: writes query checkpoints to the store on a thread of its own.
 *
 * The server takes a checkpoint in two halves.  Under its lock, the instance encodes the
 * query's state into memory as of one log position and output seq (a job: the state
 * bytes, the kept output chunks and snapshot rows, the checkpoint row), and hands the
 * job over.  The writer thread then stores it through a side store (store.h) without
 * that lock: the state in parts of at most SL_CHECKPOINT_PART_BYTES, each its own short
 * transaction, under a generation number the caller chose; then, in one transaction,
 * the checkpoint row naming that generation with the output chunks and snapshot rows,
 * which makes the new checkpoint the one read back (a crash before keeps the former one
 * whole); then it deletes the parts of other generations, a few per transaction.
 *
 * One job at a time: the caller submits the next one only once the last is collected
 * (sl_ckptwriter_poll or sl_ckptwriter_wait), so memory holds at most one encoded
 * state beside the live ones.  Every function is called by one thread at a time (the
 * server's lock); the writer thread touches only the job and the side store. */
#ifndef SL_CKPTWRITER_H
#define SL_CKPTWRITER_H

#include "buf.h"
#include "error.h"
#include "store.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* A checkpoint to write.  The submitter fills everything above `rc`; the writer sets
 * c.parts and c.state_len and the fields from rc on. */
typedef struct sl_ckpt_job {
    char *query_id;        /* owned */
    const void *owner;     /* the submitter's, to recognise the job (never dereferenced) */
    sl_store_checkpoint c; /* the row; c.gen chosen by the submitter, c.state unused */
    sl_buf state;          /* the engine state (owned) */
    sl_buf kept[3];        /* bytes that outputs and snaps point into (owned) */
    sl_store_output outputs[2];
    size_t noutputs;
    sl_store_snap *snaps; /* owned */
    size_t nsnaps;

    int rc;           /* 0 once written, -1 with err set when it failed */
    sl_error err;     /* why it failed */
    bool cancelled;   /* its query was dropped: nothing more of it is written */
    double write_ms;  /* how long the writer took, parts to trim (wall clock) */
    double commit_ms; /* of which the transaction that made it visible */
} sl_ckpt_job;

typedef struct sl_ckptwriter sl_ckptwriter;

/* A new empty job for query_id (copied); caller frees with sl_ckpt_job_free or hands it
 * to sl_ckptwriter_submit. */
sl_ckpt_job *sl_ckpt_job_new(const char *query_id, const void *owner);
/* Accepts NULL. */
void sl_ckpt_job_free(sl_ckpt_job *job);

/* Starts the writer thread with a side store of store (borrowed: it must outlive the
 * writer).  On success *out is the writer; caller frees with sl_ckptwriter_free. */
int sl_ckptwriter_new(sl_store *store, sl_ckptwriter **out, sl_error *err);
/* Finishes the job in hand (sl_ckptwriter_wait), stops the thread and closes the side
 * store; a job left uncollected is freed.  Accepts NULL. */
void sl_ckptwriter_free(sl_ckptwriter *w);

/* Whether a job was submitted and not collected yet. */
bool sl_ckptwriter_busy(sl_ckptwriter *w);
/* Hands job (takes ownership) to the writer thread; it must not be busy. */
void sl_ckptwriter_submit(sl_ckptwriter *w, sl_ckpt_job *job);
/* The job submitted, once it is done (written, failed or cancelled): caller frees; the
 * writer is then no longer busy.  NULL while it is in progress or none was submitted. */
sl_ckpt_job *sl_ckptwriter_poll(sl_ckptwriter *w);
/* sl_ckptwriter_poll after waiting for the job to be done; NULL when none was
 * submitted. */
sl_ckpt_job *sl_ckptwriter_wait(sl_ckptwriter *w);
/* Cancels the job of owner, when the writer holds one: no transaction of it starts
 * after this returns (one in progress is waited for), and polling gives it back with
 * cancelled set.  For a query being dropped, whose rows are deleted next. */
void sl_ckptwriter_cancel(sl_ckptwriter *w, const void *owner);

#endif
