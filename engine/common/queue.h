/*
 * queue.h - bounded blocking queue and a byte budget, the only channels
 * between pipeline threads.
 *
 * tdx_queue is a fixed-capacity FIFO of pointers guarded by one mutex and
 * two condition variables (zstd lib/common/pool.c).  A full queue blocks
 * the producer: that is the pipeline's back-pressure.  Closing a queue wakes
 * everyone: pushes then fail with TDX_ECANCELED and pops drain what is left,
 * then report end of stream.
 *
 * tdx_budget counts bytes in flight (batches read but not yet committed).
 * The reader acquires before it fills a batch and the writer releases after
 * the batch is durable, so memory is bounded by the budget, not by corpus
 * size.  A request larger than the whole budget is granted when nothing else
 * is held, so one oversized document cannot deadlock the pipeline.
 *
 * Estimates are made good when the real size is known: memory found larger
 * than what was acquired for it is taken without waiting (the holder is
 * past the point where waiting could deadlock, and the memory exists
 * already), and the next acquire waits for it.  Memory that stays for the
 * whole run (a worker's builder grown past its share) is held apart: it
 * counts against the limit, but an acquire with no batch in flight is
 * still granted, so it can slow the pipeline but never stop it.
 */
#ifndef TDX_COMMON_QUEUE_H
#define TDX_COMMON_QUEUE_H

#include <pthread.h>
#include <stddef.h>

typedef struct tdx_queue tdx_queue;

/** Create a queue holding at most cap items.  0, TDX_EINVAL or TDX_ENOMEM. */
int tdx_queue_create(size_t cap, tdx_queue **out_q);
void tdx_queue_free(tdx_queue *q);
/** Block while full.  0, or TDX_ECANCELED once the queue is closed. */
int tdx_queue_push(tdx_queue *q, void *item);
/** Block while empty and open.  1 and *out_item set, or 0 at end of stream. */
int tdx_queue_pop(tdx_queue *q, void **out_item);
/** No more pushes; poppers drain the remaining items and then see end of stream. */
void tdx_queue_close(tdx_queue *q);
/** Items currently queued (a snapshot, for progress reports). */
size_t tdx_queue_len(tdx_queue *q);

typedef struct tdx_budget {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    size_t limit; /* fixed after init */
    size_t used;  /* guarded by mu */
    size_t held;  /* guarded by mu: tdx_budget_hold's */
    size_t peak;  /* guarded by mu */
    int closed;   /* guarded by mu */
} tdx_budget;

int tdx_budget_init(tdx_budget *b, size_t limit);
void tdx_budget_destroy(tdx_budget *b);
/** Block until n bytes fit.  0, or TDX_ECANCELED once closed. */
int tdx_budget_acquire(tdx_budget *b, size_t n);
void tdx_budget_release(tdx_budget *b, size_t n);
/** Count n more bytes in flight now, without waiting (released as usual). */
void tdx_budget_take(tdx_budget *b, size_t n);
/** Count n bytes held for the rest of the run; never released. */
void tdx_budget_hold(tdx_budget *b, size_t n);
/** Wake and fail every waiter; used on shutdown. */
void tdx_budget_close(tdx_budget *b);
size_t tdx_budget_peak(tdx_budget *b);

#endif
