/*
 * queue.c - bounded blocking queue and byte budget (see queue.h).
 *
 * Threading: every field of tdx_queue after creation is guarded by mu.
 */
#include "queue.h"

#include "alloc.h"
#include "err.h"

struct tdx_queue {
    pthread_mutex_t mu;
    pthread_cond_t not_full;
    pthread_cond_t not_empty;
    void **items; /* ring buffer of cap slots */
    size_t cap;
    size_t head; /* next slot to pop */
    size_t len;
    int closed;
};

int tdx_queue_create(size_t cap, tdx_queue **out_q)
{
    if (cap == 0)
        return TDX_EINVAL;
    tdx_queue *q = tdx_calloc(1, sizeof *q);
    if (q == NULL)
        return TDX_ENOMEM;
    q->items = tdx_calloc(cap, sizeof *q->items);
    if (q->items == NULL) {
        tdx_free(q);
        return TDX_ENOMEM;
    }
    q->cap = cap;
    pthread_mutex_init(&q->mu, NULL);
    pthread_cond_init(&q->not_full, NULL);
    pthread_cond_init(&q->not_empty, NULL);
    *out_q = q;
    return 0;
}

void tdx_queue_free(tdx_queue *q)
{
    if (q == NULL)
        return;
    pthread_mutex_destroy(&q->mu);
    pthread_cond_destroy(&q->not_full);
    pthread_cond_destroy(&q->not_empty);
    tdx_free(q->items);
    tdx_free(q);
}

int tdx_queue_push(tdx_queue *q, void *item)
{
    pthread_mutex_lock(&q->mu);
    while (q->len == q->cap && !q->closed)
        pthread_cond_wait(&q->not_full, &q->mu);
    if (q->closed) {
        pthread_mutex_unlock(&q->mu);
        return TDX_ECANCELED;
    }
    q->items[(q->head + q->len) % q->cap] = item;
    q->len++;
    pthread_cond_signal(&q->not_empty);
    pthread_mutex_unlock(&q->mu);
    return 0;
}

int tdx_queue_pop(tdx_queue *q, void **out_item)
{
    pthread_mutex_lock(&q->mu);
    while (q->len == 0 && !q->closed)
        pthread_cond_wait(&q->not_empty, &q->mu);
    if (q->len == 0) {
        pthread_mutex_unlock(&q->mu);
        return 0;
    }
    *out_item = q->items[q->head];
    q->head = (q->head + 1) % q->cap;
    q->len--;
    pthread_cond_signal(&q->not_full);
    pthread_mutex_unlock(&q->mu);
    return 1;
}

void tdx_queue_close(tdx_queue *q)
{
    pthread_mutex_lock(&q->mu);
    q->closed = 1;
    pthread_cond_broadcast(&q->not_full);
    pthread_cond_broadcast(&q->not_empty);
    pthread_mutex_unlock(&q->mu);
}

size_t tdx_queue_len(tdx_queue *q)
{
    pthread_mutex_lock(&q->mu);
    size_t n = q->len;
    pthread_mutex_unlock(&q->mu);
    return n;
}

int tdx_budget_init(tdx_budget *b, size_t limit)
{
    if (limit == 0)
        return TDX_EINVAL;
    b->limit = limit;
    b->used = b->held = b->peak = 0;
    b->closed = 0;
    pthread_mutex_init(&b->mu, NULL);
    pthread_cond_init(&b->cv, NULL);
    return 0;
}

void tdx_budget_destroy(tdx_budget *b)
{
    pthread_mutex_destroy(&b->mu);
    pthread_cond_destroy(&b->cv);
}

int tdx_budget_acquire(tdx_budget *b, size_t n)
{
    pthread_mutex_lock(&b->mu);
    while (!b->closed && b->used > 0 && b->used + b->held + n > b->limit)
        pthread_cond_wait(&b->cv, &b->mu);
    if (b->closed) {
        pthread_mutex_unlock(&b->mu);
        return TDX_ECANCELED;
    }
    b->used += n;
    if (b->used + b->held > b->peak)
        b->peak = b->used + b->held;
    pthread_mutex_unlock(&b->mu);
    return 0;
}

/* Add n to *count (used or held) without waiting. */
static void budget_add(tdx_budget *b, size_t *count, size_t n)
{
    pthread_mutex_lock(&b->mu);
    *count += n;
    if (b->used + b->held > b->peak)
        b->peak = b->used + b->held;
    pthread_mutex_unlock(&b->mu);
}

void tdx_budget_take(tdx_budget *b, size_t n)
{
    budget_add(b, &b->used, n);
}

void tdx_budget_hold(tdx_budget *b, size_t n)
{
    budget_add(b, &b->held, n);
}

void tdx_budget_release(tdx_budget *b, size_t n)
{
    pthread_mutex_lock(&b->mu);
    b->used = n > b->used ? 0 : b->used - n;
    pthread_cond_broadcast(&b->cv);
    pthread_mutex_unlock(&b->mu);
}

void tdx_budget_close(tdx_budget *b)
{
    pthread_mutex_lock(&b->mu);
    b->closed = 1;
    pthread_cond_broadcast(&b->cv);
    pthread_mutex_unlock(&b->mu);
}

size_t tdx_budget_peak(tdx_budget *b)
{
    pthread_mutex_lock(&b->mu);
    size_t p = b->peak;
    pthread_mutex_unlock(&b->mu);
    return p;
}
