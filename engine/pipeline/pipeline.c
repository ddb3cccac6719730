/*
 * pipeline.c - the indexing run (pipeline.h).
 *
 *   reader thread ──work_q──► N worker threads ──done_q──► writer (caller)
 *
 * The reader fills batches (a few MB of documents, copied into one arena)
 * and numbers them; workers normalize, match, cut terms and compress each
 * document and build the batch's sorted postings; the writer puts batches
 * back in sequence order and hands each to tdx_store_write_batch, one LMDB
 * transaction per batch.  Doc ids are given by the writer, in input order,
 * so the index is the same with 1 or N workers.
 *
 * Memory: every batch holds a share of a byte budget (common/queue.h) from
 * the moment the reader starts filling it until the writer has committed
 * it, so what is in flight stays under --memory whatever the corpus size.
 *
 * Errors: the first fatal error (any thread) is recorded once under
 * err_mu; it stops the reader, closes the budget so nobody waits on it,
 * and lets workers and writer drain without doing work, then all threads
 * are joined and the error returned.
 *
 * Threading: see the comments on the fields of `run` and `batch`.
 */
#include "pipeline.h"

#include "../common/alloc.h"
#include "../common/buf.h"
#include "../common/clock.h"
#include "../common/hash.h"
#include "../common/postings.h"
#include "../common/queue.h"
#include "../common/varint.h"
#include "../index/index.h"
#include "../match/match.h"
#include "../normalize/normalize.h"
#include "../store/store.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define KEY_MAX 400
/* Memory per byte of batch text, measured on generated notices: a batch
 * holds its text (arena), the normalized text's postings with positions,
 * hits and compressed text (BATCH_MEM); a worker's term builder holds one
 * batch's pairs and their sort buffer (WORKER_MEM).  --memory is split
 * between them, so it bounds what the run holds, not just what is queued. */
#define BATCH_MEM 6
#define WORKER_MEM 12

uint32_t tdx_date_ymd(const char *s)
{
    if (s == NULL)
        return 0;
    for (int i = 0; i < 10; i++) {
        if (i == 4 || i == 7) {
            if (s[i] != '-')
                return 0;
        } else if (s[i] < '0' || s[i] > '9') {
            return 0;
        }
    }
    uint32_t y = (uint32_t)atoi(s), m = (uint32_t)atoi(s + 5), d = (uint32_t)atoi(s + 8);
    if (m < 1 || m > 12 || d < 1 || d > 31 || y < 1)
        return 0;
    return y * 10000 + m * 100 + d;
}

/* A document of a batch: offsets into the batch arena (strings NUL-terminated). */
typedef struct bdoc {
    uint32_t key, source, title, date, url, format, encoding, text;
    uint32_t text_len;
    uint32_t kv0, nkv; /* index of the first pair in batch.kv, number of pairs */
    uint64_t line, offset, invalid;
    uint32_t date_ymd;
    /* worker results */
    uint64_t hash[2];
    uint32_t hit0, nhits;
    uint32_t z0, zlen;
} bdoc;

typedef struct binput {
    uint32_t path; /* arena offset */
    uint64_t size;
    int64_t mtime;
    uint64_t records;
    int complete;
} binput;

/* Owned by the reader while filling, then by one worker, then the writer. */
typedef struct batch {
    uint64_t seq;
    size_t budget; /* bytes of the budget this batch holds */
    int outgrew;   /* its results took more than BATCH_MEM's estimate */
    tdx_buf arena;
    bdoc *docs;
    size_t ndocs, cap_docs;
    uint32_t *kv; /* pairs of arena offsets */
    size_t nkv, cap_kv;
    binput *inputs;
    size_t ninputs, cap_inputs;
    uint64_t rejects;
    /* worker results */
    tdx_store_hit *hits;
    size_t nhits, cap_hits;
    tdx_buf z;
    tdx_postings post;
    tdx_stage_times t;
    const tdx_store_dict *dict; /* to record with this batch (the index's first) */
    struct batch *next; /* writer's reorder list */
} batch;

typedef struct run run;

typedef struct worker {
    run *p;
    pthread_t th;
    tdx_norm_ctx *nctx;
    tdx_norm_out nout, fout;
    tdx_match_scratch *scratch;
    tdx_hits hits;
    tdx_gram_builder *gb;
    tdx_store_zctx *z;
    tdx_buf zbuf, term;
    size_t held; /* budget held for its builder beyond WORKER_MEM's share */
} worker;

struct run {
    const tdx_pipeline_opts *o;
    /* immutable while threads run */
    tdx_norm *norm;
    char norm_expect[256]; /* the index's normalizer identity ("" for a new index) */
    tdx_watchlist *wl;
    tdx_matcher *matcher;
    tdx_store *store;
    tdx_store_dict *dict; /* set before the first batch is dispatched, then fixed */
    int dict_tried;       /* reader thread */
    int grams;
    int trigrams; /* the builders add 't' terms (the index has them) */
    size_t batch_bytes;
    int nworkers;
    worker *workers;
    tdx_queue *work_q, *done_q;
    tdx_budget budget;
    /* first fatal error: guarded by err_mu */
    pthread_mutex_t err_mu;
    tdx_err err;
    atomic_int failed;
    atomic_int live_workers; /* last worker out closes done_q */
    /* reader thread only */
    pthread_t reader_th;
    tdx_reader *reader;
    batch *cur;
    uint64_t next_seq;
    char *file_path;
    uint64_t file_size;
    int64_t file_mtime;
    uint64_t file_records;
    int have_file;
    double last_progress;
    /* recycled batches, buffers kept: pool guarded by pool_mu */
    pthread_mutex_t pool_mu;
    batch *pool;
    size_t npool, max_pool;
    pthread_mutex_t map_mu; /* the reader's lookups of its inputs vs. the map growing */
    /* progress: rp and the merge's guarded by prog_mu (written by the reader
     * thread; the merge's by the writer once the reader is done) */
    pthread_mutex_t prog_mu;
    tdx_read_progress rp;
    uint64_t merge_done, merge_total;
    /* read by the reader for progress, written by the writer */
    atomic_uint_fast64_t docs_added, bytes_indexed, docs_read, rejects;
    double t0;
    tdx_run_stats *st; /* writer (and the reader's own counters after join) */
    double read_time;  /* reader thread */
};

static void fail(run *p, const tdx_err *e, int code)
{
    pthread_mutex_lock(&p->err_mu);
    if (p->err.code == 0) {
        if (e && e->code)
            tdx_err_set(&p->err, e->code, "%s", e->msg);
        else
            tdx_err_set(&p->err, code, "%s", tdx_strerror(code));
    }
    pthread_mutex_unlock(&p->err_mu);
    atomic_store(&p->failed, 1);
    tdx_budget_close(&p->budget);
}

/* ---- batches ---- */

static void batch_free(batch *b)
{
    if (b == NULL)
        return;
    tdx_buf_free(&b->arena);
    tdx_free(b->docs);
    tdx_free(b->kv);
    tdx_free(b->inputs);
    tdx_free(b->hits);
    tdx_buf_free(&b->z);
    tdx_postings_free(&b->post);
    tdx_free(b);
}

static int arena_str(batch *b, const char *s, size_t len, uint32_t *out)
{
    if (b->arena.len + len + 1 > UINT32_MAX)
        return TDX_ELIMIT;
    *out = (uint32_t)b->arena.len;
    int rc = tdx_buf_append(&b->arena, s, len);
    return rc ? rc : tdx_buf_putc(&b->arena, 0);
}

static inline const char *astr(const batch *b, uint32_t off)
{
    return (const char *)b->arena.p + off;
}

/* ---- reader thread ---- */

/*
 * A committed batch goes back to the pool with its buffers, emptied: the
 * next batch reuses memory that is already mapped instead of faulting in
 * fresh pages (measured: page faults were a fifth of a run's time).
 */
static void batch_recycle(run *p, batch *b)
{
    pthread_mutex_lock(&p->pool_mu);
    int keep = p->npool < p->max_pool;
    if (keep) {
        tdx_buf_reset(&b->arena);
        /* A batch that outgrew the estimate (settle_memory), or held a
         * document larger than its share (dispatch), keeps nothing of what
         * it grew: the pool's memory is not in the budget. */
        if (b->arena.cap > 2 * p->batch_bytes)
            tdx_buf_free(&b->arena);
        if (b->outgrew || b->budget > 2 * p->batch_bytes * BATCH_MEM) {
            tdx_buf_free(&b->z);
            tdx_postings_free(&b->post);
            tdx_postings_init(&b->post);
        } else {
            tdx_buf_reset(&b->z);
            tdx_postings_reset(&b->post);
        }
        b->ndocs = b->nkv = b->ninputs = b->nhits = 0;
        b->rejects = 0;
        b->dict = NULL;
        b->budget = 0;
        b->outgrew = 0;
        memset(&b->t, 0, sizeof b->t);
        b->next = p->pool;
        p->pool = b;
        p->npool++;
    }
    pthread_mutex_unlock(&p->pool_mu);
    if (!keep)
        batch_free(b);
}

static void pool_free(run *p)
{
    while (p->pool) {
        batch *b = p->pool;
        p->pool = b->next;
        batch_free(b);
    }
    p->npool = 0;
}

static int new_batch(run *p)
{
    size_t want = p->batch_bytes * BATCH_MEM;
    if (tdx_budget_acquire(&p->budget, want) != 0)
        return TDX_ECANCELED;
    pthread_mutex_lock(&p->pool_mu);
    batch *b = p->pool;
    if (b) {
        p->pool = b->next;
        p->npool--;
        b->next = NULL;
    }
    pthread_mutex_unlock(&p->pool_mu);
    if (b == NULL) {
        b = tdx_calloc(1, sizeof *b);
        if (b == NULL) {
            tdx_budget_release(&p->budget, want);
            return TDX_ENOMEM;
        }
        tdx_postings_init(&b->post);
    }
    b->budget = want;
    /* The arena is filled to about batch_bytes: reserve it once instead of
     * doubling (and copying) its way up. */
    if (tdx_buf_grow(&b->arena, p->batch_bytes + (p->batch_bytes >> 3))) {
        tdx_budget_release(&p->budget, want);
        batch_free(b);
        return TDX_ENOMEM;
    }
    p->cur = b;
    return 0;
}

static int add_input_progress(run *p, int complete)
{
    batch *b = p->cur;
    if (!p->have_file)
        return 0;
    int rc = tdx_grow((void **)&b->inputs, &b->cap_inputs, b->ninputs + 1, sizeof *b->inputs, 64);
    if (rc)
        return rc;
    binput *in = &b->inputs[b->ninputs];
    rc = arena_str(b, p->file_path, strlen(p->file_path), &in->path);
    if (rc)
        return rc;
    in->size = p->file_size;
    in->mtime = p->file_mtime;
    in->records = p->file_records;
    in->complete = complete;
    b->ninputs++;
    return 0;
}

/*
 * A new index gets its text dictionary from the documents of its first
 * batch, before that batch goes to the workers, so every document of the
 * index is compressed with it.  Too little text: no dictionary.
 */
static void train_dict(run *p, batch *b)
{
    p->dict_tried = 1;
    size_t n = 0, total = 0;
    size_t *sizes = tdx_calloc(b->ndocs + 1, sizeof *sizes);
    tdx_buf samples = TDX_BUF_INIT;
    for (size_t i = 0; sizes && i < b->ndocs && total < ((size_t)8 << 20); i++) {
        const bdoc *x = &b->docs[i];
        size_t len = x->text_len > 65536 ? 65536 : x->text_len;
        if (len == 0 || tdx_buf_append(&samples, astr(b, x->text), len))
            continue;
        sizes[n++] = len;
        total += len;
    }
    tdx_err e = {0};
    if (sizes && samples.p &&
        tdx_store_dict_train(samples.p, sizes, (unsigned)n, &p->dict, &e) == 0)
        b->dict = p->dict;
    tdx_free(sizes);
    tdx_buf_free(&samples);
}

static int dispatch(run *p)
{
    batch *b = p->cur;
    p->cur = NULL;
    if (b == NULL)
        return 0;
    if (!p->dict_tried && p->dict == NULL && b->ndocs)
        train_dict(p, b);
    /* A batch that outgrew its share (one huge document) asks for its
     * whole need at once, having given back what it held: a request is
     * granted when nothing else is in flight, but not while the batch
     * itself holds part of the budget (a document of more than the budget
     * over BATCH_MEM waited for itself, forever). */
    size_t need = b->arena.len * BATCH_MEM;
    if (need > b->budget) {
        tdx_budget_release(&p->budget, b->budget);
        b->budget = 0;
        if (tdx_budget_acquire(&p->budget, need) != 0) {
            batch_free(b);
            return TDX_ECANCELED;
        }
        b->budget = need;
    }
    b->seq = p->next_seq++;
    if (tdx_queue_push(p->work_q, b) != 0) {
        tdx_budget_release(&p->budget, b->budget);
        batch_free(b);
        return TDX_ECANCELED;
    }
    return 0;
}

static int on_file(void *ctx, const char *path, uint64_t file_index, uint64_t size,
                   int64_t mtime, uint64_t *skip_records)
{
    run *p = ctx;
    (void)file_index;
    /* The previous file is complete: record it with the batch in hand. */
    if (p->have_file && p->cur && add_input_progress(p, 1) != 0)
        fail(p, NULL, TDX_ENOMEM);
    tdx_free(p->file_path);
    p->file_path = tdx_strdup(path);
    p->have_file = p->file_path != NULL;
    p->file_size = size;
    p->file_mtime = mtime;
    p->file_records = 0;
    *skip_records = 0;
    if (strcmp(path, "-") == 0)
        return 0;
    /* A short read transaction per file: one held for the whole run would
     * keep LMDB from reusing the pages every batch frees. */
    tdx_store_input in;
    tdx_rtxn *t;
    pthread_mutex_lock(&p->map_mu); /* the writer may be growing the map */
    int found = 0;
    if (tdx_store_read_begin(p->store, &t, NULL) == 0) {
        found = tdx_store_get_input(t, path, &in, NULL) == 0;
        tdx_store_read_end(t);
    }
    pthread_mutex_unlock(&p->map_mu);
    if (!found)
        return 0;
    if (in.size != size || in.mtime != mtime)
        return 0; /* changed since: read it all, keys and hashes sort it out */
    if (in.complete) {
        p->st->skipped_files++;
        p->have_file = 0;
        return 1;
    }
    *skip_records = in.records;
    p->file_records = in.records;
    return 0;
}

/* The reader is through with a file: it is complete as of the batch in hand. */
static void on_file_done(void *ctx, const char *path, uint64_t records)
{
    run *p = ctx;
    if (!p->have_file || strcmp(path, p->file_path) != 0)
        return;
    if (records > p->file_records)
        p->file_records = records;
    if (p->cur && add_input_progress(p, 1) != 0)
        fail(p, NULL, TDX_ENOMEM);
    p->have_file = 0;
}

static void on_reject(void *ctx, const tdx_reject *r)
{
    run *p = ctx;
    /* A bad record is consumed too: a resumed run must start after it, or it
     * would be read, reported and counted again. */
    if (r->records > p->file_records)
        p->file_records = r->records;
    if (r->kept) {
        p->st->warnings++;
    } else {
        if (p->cur)
            p->cur->rejects++;
        atomic_fetch_add(&p->rejects, 1);
    }
    if (p->o->reader.on_reject)
        p->o->reader.on_reject(p->o->reader.ctx, r);
}

/* Reader thread: publish the reader's counters for report_progress. */
static void snapshot_reader(run *p)
{
    if (p->reader == NULL)
        return;
    tdx_read_progress rp;
    tdx_reader_progress(p->reader, &rp);
    pthread_mutex_lock(&p->prog_mu);
    p->rp = rp;
    pthread_mutex_unlock(&p->prog_mu);
}

/*
 * Called by the reader (every 0.2 s) and by the writer (after every commit,
 * so scripts reading --progress json see each commit), never at once: the
 * callback runs under prog_mu.
 */
static void report_progress(run *p, int final)
{
    if (p->o->on_progress == NULL)
        return;
    tdx_progress pr = {0};
    pthread_mutex_lock(&p->prog_mu);
    pr.files = p->rp.files;
    pr.bytes_read = p->rp.bytes;
    pr.total_bytes = p->rp.total_bytes;
    pr.docs_read = atomic_load(&p->docs_read);
    pr.docs_added = atomic_load(&p->docs_added);
    pr.rejects = atomic_load(&p->rejects);
    pr.bytes_indexed = atomic_load(&p->bytes_indexed);
    pr.merge_done = p->merge_done;
    pr.merge_total = p->merge_total;
    pr.elapsed_s = tdx_now() - p->t0;
    pr.final = final;
    p->o->on_progress(p->o->ctx, &pr);
    pthread_mutex_unlock(&p->prog_mu);
}

static int add_doc(run *p, const tdx_doc *d)
{
    batch *b = p->cur;
    int rc = tdx_grow((void **)&b->docs, &b->cap_docs, b->ndocs + 1, sizeof *b->docs, 64);
    if (rc)
        return rc;
    bdoc *x = &b->docs[b->ndocs];
    memset(x, 0, sizeof *x);
    size_t klen = strlen(d->key);
    if (klen == 0) {
        rc = arena_str(b, d->source, strlen(d->source), &x->key);
    } else if (klen > KEY_MAX) {
        /* LMDB keys are short: keep a prefix and a hash of the whole key. */
        char k[KEY_MAX + 24];
        int n = snprintf(k, sizeof k, "%.*s#%016llx", KEY_MAX - 20, d->key,
                         (unsigned long long)tdx_hash64(d->key, klen));
        rc = arena_str(b, k, (size_t)n, &x->key);
    } else {
        rc = arena_str(b, d->key, klen, &x->key);
    }
    rc = rc ? rc : arena_str(b, d->source, strlen(d->source), &x->source);
    rc = rc ? rc : arena_str(b, d->title, strlen(d->title), &x->title);
    rc = rc ? rc : arena_str(b, d->date, strlen(d->date), &x->date);
    rc = rc ? rc : arena_str(b, d->url, strlen(d->url), &x->url);
    rc = rc ? rc : arena_str(b, d->format, strlen(d->format), &x->format);
    rc = rc ? rc : arena_str(b, d->encoding, strlen(d->encoding), &x->encoding);
    rc = rc ? rc : arena_str(b, (const char *)d->text, d->text_len, &x->text);
    if (rc)
        return rc;
    x->text_len = (uint32_t)d->text_len;
    x->line = d->line;
    x->offset = d->offset;
    x->invalid = d->invalid;
    x->date_ymd = d->date_parsed ? tdx_date_ymd(d->date) : 0;
    x->kv0 = (uint32_t)b->nkv;
    rc = tdx_grow((void **)&b->kv, &b->cap_kv, 2 * (b->nkv + d->nmeta), sizeof *b->kv, 64);
    for (size_t i = 0; rc == 0 && i < d->nmeta; i++) {
        uint32_t ko, vo;
        rc = arena_str(b, d->meta[i].key, strlen(d->meta[i].key), &ko);
        rc = rc ? rc : arena_str(b, d->meta[i].val, d->meta[i].val_len, &vo);
        if (rc == 0) {
            b->kv[2 * b->nkv] = ko;
            b->kv[2 * b->nkv + 1] = vo;
            b->nkv++;
        }
    }
    x->nkv = (uint32_t)(b->nkv - x->kv0);
    b->ndocs++;
    return rc;
}

static void *reader_main(void *arg)
{
    pthread_setname_np(pthread_self(), "tdx-reader");
    run *p = arg;
    const tdx_pipeline_opts *o = p->o;
    tdx_err err = {0};
    double t = tdx_now();
    int rc = new_batch(p);
    while (rc == 0) {
        if ((o->stop && *o->stop) || atomic_load(&p->failed))
            break;
        tdx_doc d;
        double r0 = tdx_now();
        int got = tdx_reader_next(p->reader, &d, &err);
        p->read_time += tdx_now() - r0;
        if (got < 0) {
            rc = got;
            break;
        }
        if (got == 0)
            break;
        atomic_fetch_add(&p->docs_read, 1);
        if (d.text_len > UINT32_MAX / 2) {
            tdx_reject rj = {d.source, d.line, d.offset, "document too large to index", 0,
                             d.record + 1};
            on_reject(p, &rj);
            continue;
        }
        rc = add_doc(p, &d);
        p->file_records = d.record + 1;
        p->st->invalid += d.invalid;
        p->st->bytes_read += d.text_len;
        if (rc == 0 && (p->cur->arena.len >= p->batch_bytes || p->cur->ndocs >= (1u << 20))) {
            rc = add_input_progress(p, 0);
            rc = rc ? rc : dispatch(p);
            rc = rc ? rc : new_batch(p);
        }
        if ((atomic_load(&p->docs_read) & 255) == 0)
            snapshot_reader(p);
        double nw = tdx_now();
        if (nw - p->last_progress > 0.2) {
            p->last_progress = nw;
            snapshot_reader(p);
            report_progress(p, 0);
        }
    }
    if (rc == 0 && p->cur) {
        int interrupted = (o->stop && *o->stop) || atomic_load(&p->failed);
        /* At the end of all inputs the file in hand is complete. */
        rc = add_input_progress(p, !interrupted);
        if (rc == 0 && (p->cur->ndocs || p->cur->ninputs || p->cur->rejects))
            rc = dispatch(p);
    }
    if (p->cur) {
        tdx_budget_release(&p->budget, p->cur->budget);
        batch_free(p->cur);
        p->cur = NULL;
    }
    if (rc && rc != TDX_ECANCELED)
        fail(p, err.code ? &err : NULL, rc);
    tdx_queue_close(p->work_q);
    p->read_time = p->read_time > 0 ? p->read_time : tdx_now() - t;
    return NULL;
}

/* ---- workers ---- */

static int add_field_terms(worker *w, uint32_t doc, const char *name, const char *val,
                           size_t vlen)
{
    run *p = w->p;
    if (vlen == 0 || strlen(name) > TDX_FIELD_NAME_MAX)
        return 0;
    tdx_err e = {0};
    int rc = tdx_norm_run(p->norm, w->nctx, (const uint8_t *)val, vlen, &w->fout, &e);
    if (rc)
        return rc;
    uint8_t term[TDX_FIELD_TERM_MAX + 8];
    size_t n = tdx_field_term(name, w->fout.text.p, w->fout.text.len, term);
    return n ? tdx_gram_add_term(w->gb, doc, term, n) : 0;
}

static int process_batch(worker *w, batch *b, tdx_err *err)
{
    run *p = w->p;
    tdx_gram_builder_reset(w->gb);
    if (p->grams && tdx_gram_builder_reserve(w->gb, b->arena.len))
        return tdx_err_set(err, TDX_ENOMEM, "out of memory");
    tdx_buf_reset(&b->z);
    b->nhits = 0;
    int rc = 0;
    for (size_t i = 0; rc == 0 && i < b->ndocs; i++) {
        bdoc *x = &b->docs[i];
        const uint8_t *text = (const uint8_t *)astr(b, x->text);
        double t0 = tdx_now();
        rc = tdx_norm_run(p->norm, w->nctx, text, x->text_len, &w->nout, err);
        if (rc)
            break;
        double t1 = tdx_now();
        tdx_hash128(w->nout.text.p, w->nout.text.len, x->hash);
        rc = tdx_match_scan(p->matcher, w->scratch, w->nout.text.p, w->nout.text.len, &w->hits,
                            err);
        if (rc)
            break;
        double t2 = tdx_now();
        rc = tdx_grow((void **)&b->hits, &b->cap_hits, b->nhits + w->hits.n, sizeof *b->hits, 64);
        if (rc)
            break;
        x->hit0 = (uint32_t)b->nhits;
        x->nhits = (uint32_t)w->hits.n;
        for (size_t h = 0; h < w->hits.n; h++) {
            const tdx_hit *hit = &w->hits.v[h];
            tdx_store_hit *sh = &b->hits[b->nhits++];
            sh->pattern = hit->pattern;
            sh->nstart = hit->start;
            sh->nend = hit->end;
            sh->ostart = (uint32_t)tdx_norm_map_start(&w->nout, hit->start);
            sh->oend = (uint32_t)tdx_norm_map_end(&w->nout, hit->end);
        }
        uint32_t doc = (uint32_t)i;
        if (p->grams)
            rc = tdx_gram_add_text(w->gb, doc, w->nout.text.p, w->nout.text.len);
        for (size_t h = 0; rc == 0 && h < w->hits.n; h++) {
            const tdx_pattern *pat = tdx_watchlist_pattern(p->wl, w->hits.v[h].pattern);
            uint8_t term[5];
            term[0] = TDX_TERM_PATTERN;
            tdx_be32_put(term + 1, pat->id);
            rc = tdx_gram_add_term(w->gb, doc, term, 5);
            term[0] = TDX_TERM_ENTITY;
            tdx_be32_put(term + 1, pat->entity);
            rc = rc ? rc : tdx_gram_add_term(w->gb, doc, term, 5);
            term[0] = TDX_TERM_CATEGORY;
            tdx_be32_put(term + 1, pat->category);
            rc = rc ? rc : tdx_gram_add_term(w->gb, doc, term, 5);
        }
        for (uint32_t k = 0; rc == 0 && k < x->nkv; k++) {
            const char *name = astr(b, b->kv[2 * (x->kv0 + k)]);
            const char *val = astr(b, b->kv[2 * (x->kv0 + k) + 1]);
            rc = add_field_terms(w, doc, name, val, strlen(val));
        }
        if (rc == 0)
            rc = add_field_terms(w, doc, "format", astr(b, x->format), strlen(astr(b, x->format)));
        if (rc == 0)
            rc = add_field_terms(w, doc, "encoding", astr(b, x->encoding),
                                 strlen(astr(b, x->encoding)));
        if (rc) {
            rc = tdx_err_set(err, rc, "out of memory collecting terms");
            break;
        }
        double t3 = tdx_now();
        if (w->z == NULL && tdx_store_zctx_create(p->dict, &w->z) != 0) {
            rc = tdx_err_set(err, TDX_ENOMEM, "out of memory");
            break;
        }
        rc = tdx_store_compress(w->z, text, x->text_len, &w->zbuf, err);
        if (rc)
            break;
        if (b->z.len + w->zbuf.len > UINT32_MAX) {
            rc = tdx_err_set(err, TDX_ELIMIT, "batch too large");
            break;
        }
        x->z0 = (uint32_t)b->z.len;
        x->zlen = (uint32_t)w->zbuf.len;
        rc = tdx_buf_append(&b->z, w->zbuf.p, w->zbuf.len);
        if (rc) {
            rc = tdx_err_set(err, rc, "out of memory");
            break;
        }
        double t4 = tdx_now();
        b->t.normalize += t1 - t0;
        b->t.match += t2 - t1;
        b->t.terms += t3 - t2;
        b->t.compress += t4 - t3;
    }
    if (rc == 0) {
        double t0 = tdx_now();
        rc = tdx_gram_emit(w->gb, &b->post, err);
        b->t.terms += tdx_now() - t0;
    }
    return rc;
}

/* Bytes a processed batch holds: its text, records and results. */
static size_t batch_used(const batch *b)
{
    return b->arena.len + b->ndocs * sizeof *b->docs + b->nkv * 2 * sizeof *b->kv +
           b->ninputs * sizeof *b->inputs + b->nhits * sizeof *b->hits + b->z.len +
           tdx_postings_bytes(&b->post);
}

/*
 * Make the estimates the budget was given good, now that the batch and
 * the builder have their real sizes: varied text (many distinct words,
 * long ASCII runs) makes postings several times the BATCH_MEM and
 * WORKER_MEM factors measured on notices, and the reader then waits for
 * the difference instead of reading on.  Measured on 196 MB of random
 * words with --memory 512M: peak RSS 1015 MB before, see engine/README.
 */
static void settle_memory(worker *w, batch *b)
{
    run *p = w->p;
    size_t used = batch_used(b);
    if (used > b->budget) {
        tdx_budget_take(&p->budget, used - b->budget);
        b->budget = used;
        b->outgrew = 1;
    }
    size_t gb = tdx_gram_builder_bytes(w->gb), share = WORKER_MEM * p->batch_bytes;
    if (gb > share + w->held) {
        tdx_budget_hold(&p->budget, gb - share - w->held);
        w->held = gb - share;
    }
}

static void *worker_main(void *arg)
{
    worker *w = arg;
    run *p = w->p;
    pthread_setname_np(pthread_self(), "tdx-worker");
    void *item;
    while (tdx_queue_pop(p->work_q, &item)) {
        batch *b = item;
        if (!atomic_load(&p->failed)) {
            tdx_err err = {0};
            int rc = process_batch(w, b, &err);
            if (rc)
                fail(p, &err, rc);
            else
                settle_memory(w, b);
        }
        if (tdx_queue_push(p->done_q, b) != 0) {
            tdx_budget_release(&p->budget, b->budget);
            batch_free(b);
        }
    }
    if (atomic_fetch_sub(&p->live_workers, 1) == 1)
        tdx_queue_close(p->done_q);
    return NULL;
}

static void worker_free(worker *w)
{
    tdx_norm_ctx_free(w->nctx);
    tdx_norm_out_free(&w->nout);
    tdx_norm_out_free(&w->fout);
    tdx_match_scratch_free(w->scratch);
    tdx_hits_free(&w->hits);
    tdx_gram_builder_free(w->gb);
    tdx_store_zctx_free(w->z);
    tdx_buf_free(&w->zbuf);
    tdx_buf_free(&w->term);
}

static int worker_init(run *p, worker *w, tdx_err *err)
{
    memset(w, 0, sizeof *w);
    w->p = p;
    tdx_norm_out_init(&w->nout);
    tdx_norm_out_init(&w->fout);
    int rc = tdx_norm_ctx_create(p->norm, &w->nctx, err);
    rc = rc ? rc : tdx_match_scratch_create(p->matcher, &w->scratch, err);
    rc = rc ? rc : tdx_gram_builder_create(&w->gb, err);
    if (rc == 0)
        /* Half a pair a byte: notices take a tenth of that, random
         * Latin text (base64) twice (engine/README, "Trigrams"). */
        tdx_gram_builder_set_trigrams(w->gb, p->trigrams, p->batch_bytes / 2);
    /* The compression context waits for the first batch: the dictionary of a
     * new index is only known then. */
    return rc;
}

/* ---- writer (calling thread) ---- */

static int write_batch(run *p, batch *b, tdx_err *err)
{
    tdx_store_doc *docs = tdx_calloc(b->ndocs + 1, sizeof *docs);
    tdx_store_kv *kv = tdx_calloc(b->nkv + 1, sizeof *kv);
    tdx_store_input *ins = tdx_calloc(b->ninputs + 1, sizeof *ins);
    if (!docs || !kv || !ins) {
        tdx_free(docs);
        tdx_free(kv);
        tdx_free(ins);
        return tdx_err_set(err, TDX_ENOMEM, "out of memory");
    }
    for (size_t i = 0; i < b->nkv; i++) {
        kv[i].key = astr(b, b->kv[2 * i]);
        kv[i].val = astr(b, b->kv[2 * i + 1]);
    }
    for (size_t i = 0; i < b->ndocs; i++) {
        const bdoc *x = &b->docs[i];
        tdx_store_doc *d = &docs[i];
        d->key = astr(b, x->key);
        d->source = astr(b, x->source);
        d->title = astr(b, x->title);
        d->date = astr(b, x->date);
        d->url = astr(b, x->url);
        d->format = astr(b, x->format);
        d->encoding = astr(b, x->encoding);
        d->line = x->line;
        d->offset = x->offset;
        d->date_ymd = x->date_ymd;
        d->text_len = x->text_len;
        d->invalid = x->invalid;
        d->hash[0] = x->hash[0];
        d->hash[1] = x->hash[1];
        d->meta = kv + x->kv0;
        d->nmeta = x->nkv;
        d->hits = b->hits + x->hit0;
        d->nhits = x->nhits;
        d->ztext = b->z.p + x->z0;
        d->ztext_len = x->zlen;
    }
    for (size_t i = 0; i < b->ninputs; i++) {
        ins[i].path = astr(b, b->inputs[i].path);
        ins[i].size = b->inputs[i].size;
        ins[i].mtime = b->inputs[i].mtime;
        ins[i].records = b->inputs[i].records;
        ins[i].complete = b->inputs[i].complete;
    }
    tdx_store_batch sb = {docs, b->ndocs, &b->post, ins, b->ninputs, b->rejects, b->dict};
    tdx_store_batch_stats bs;
    double t0 = tdx_now();
    int rc = tdx_store_write_batch(p->store, &sb, p->o->replace, &bs, err);
    p->st->stages.write += tdx_now() - t0;
    if (rc == 0) {
        tdx_run_stats *st = p->st;
        st->added += bs.added;
        st->existing += bs.existing;
        st->duplicates += bs.duplicates;
        st->changed += bs.changed;
        st->replaced += bs.replaced;
        st->hits += bs.hits;
        st->bytes += bs.bytes;
        st->batches++;
        atomic_fetch_add(&p->docs_added, bs.added);
        atomic_fetch_add(&p->bytes_indexed, bs.bytes);
        if (!tdx_store_uncommitted(p->store))
            st->committed = st->added;
        report_progress(p, 0);
    }
    p->st->stages.normalize += b->t.normalize;
    p->st->stages.match += b->t.match;
    p->st->stages.terms += b->t.terms;
    p->st->stages.compress += b->t.compress;
    tdx_free(docs);
    tdx_free(kv);
    tdx_free(ins);
    return rc;
}

/* Free the batches left in the work queue (closed) when no worker ran. */
static void drain_work(run *p)
{
    void *item;
    while (tdx_queue_pop(p->work_q, &item)) {
        batch *b = item;
        tdx_budget_release(&p->budget, b->budget);
        batch_free(b);
    }
}

static void writer_loop(run *p)
{
    batch *pending = NULL; /* sorted by seq */
    uint64_t next = 0;
    void *item;
    while (tdx_queue_pop(p->done_q, &item)) {
        batch *b = item;
        batch **pp = &pending;
        while (*pp && (*pp)->seq < b->seq)
            pp = &(*pp)->next;
        b->next = *pp;
        *pp = b;
        while (pending && pending->seq == next) {
            batch *w = pending;
            pending = w->next;
            next++;
            if (!atomic_load(&p->failed)) {
                tdx_err err = {0};
                int rc = write_batch(p, w, &err);
                if (rc)
                    fail(p, &err, rc);
            }
            size_t held = w->budget;
            batch_recycle(p, w);
            tdx_budget_release(&p->budget, held);
        }
    }
    while (pending) {
        batch *w = pending;
        pending = w->next;
        tdx_budget_release(&p->budget, w->budget);
        batch_free(w);
    }
}

/*
 * Whether the segments pending at the end of a run are worth a merge now.
 * A merge rewrites the whole main postings tree, so merging a small run
 * into a large index costs what indexing the index did (seconds per
 * million documents); queries read pending segments as well (a lookup per
 * segment and term).  Segments stay until they hold a sixteenth of the main
 * tree's bytes or number more than MERGE_MAX_SEGMENTS: each byte of
 * postings is then rewritten about sixteen times over the index's life
 * instead of once per later run.
 */
#define MERGE_FRACTION     16
#define MERGE_MAX_SEGMENTS 64

static int merge_due(tdx_store *s, int *out, tdx_err *err)
{
    uint64_t main_bytes, seg_bytes;
    size_t nsegs;
    int rc = tdx_store_postings_bytes(s, &main_bytes, &seg_bytes, &nsegs, err);
    if (rc == 0)
        *out = nsegs > MERGE_MAX_SEGMENTS || seg_bytes * MERGE_FRACTION >= main_bytes;
    return rc;
}

/* ---- setup and run ---- */

static int setup_schema(run *p, tdx_err *err)
{
    const tdx_watchlist *wl = p->wl;
    size_t np = tdx_watchlist_npatterns(wl), ne = tdx_watchlist_nentities(wl),
           nc = tdx_watchlist_ncategories(wl);
    tdx_store_pattern *pats = tdx_calloc(np + 1, sizeof *pats);
    const char **ents = tdx_calloc(ne + 1, sizeof *ents);
    uint32_t *ecat = tdx_calloc(ne + 1, sizeof *ecat);
    const char **cats = tdx_calloc(nc + 1, sizeof *cats);
    int rc = 0;
    if (!pats || !ents || !ecat || !cats) {
        rc = tdx_err_set(err, TDX_ENOMEM, "out of memory");
        goto done;
    }
    for (size_t i = 0; i < np; i++) {
        const tdx_pattern *q = tdx_watchlist_pattern(wl, (uint32_t)i);
        pats[i].entity = q->entity;
        pats[i].category = q->category;
        pats[i].flags = q->flags;
        pats[i].line = q->line;
        pats[i].text = q->text;
        pats[i].norm = q->norm;
    }
    for (size_t i = 0; i < ne; i++) {
        ents[i] = tdx_watchlist_entity(wl, (uint32_t)i);
        ecat[i] = tdx_watchlist_entity_category(wl, (uint32_t)i);
    }
    for (size_t i = 0; i < nc; i++)
        cats[i] = tdx_watchlist_category(wl, (uint32_t)i);
    tdx_store_schema sc = {
        tdx_norm_identity(p->norm),
        tdx_norm_steps(p->norm),
        p->grams,
        tdx_watchlist_hash(wl),
        p->o->watchlist_path,
        pats,
        np,
        ents,
        ecat,
        ne,
        cats,
        nc,
    };
    rc = tdx_store_setup(p->store, &sc, err);
done:
    tdx_free(pats);
    tdx_free(ents);
    tdx_free(ecat);
    tdx_free(cats);
    return rc;
}

/* An existing index fixes the normalizer and profile; a new one takes the options. */
static int choose_settings(run *p, unsigned *steps, tdx_err *err)
{
    const tdx_pipeline_opts *o = p->o;
    int rc = tdx_norm_parse_steps(o->normalize, steps, err);
    if (rc)
        return rc;
    p->grams = !o->no_grams;
    p->trigrams = p->grams;
    tdx_rtxn *t;
    rc = tdx_store_read_begin(p->store, &t, err);
    if (rc)
        return rc;
    tdx_store_info info;
    rc = tdx_store_get_info(t, &info, err);
    tdx_store_read_end(t);
    if (rc)
        return rc;
    if (info.normalizer[0] == 0)
        return 0; /* new index */
    snprintf(p->norm_expect, sizeof p->norm_expect, "%s", info.normalizer);
    if (o->normalize && *steps != info.norm_steps)
        return tdx_err_set(err, TDX_EFORMAT,
                           "index '%s' normalizes with '%s'; --normalize %s would differ (build "
                           "a new index to change it)",
                           o->index_path, tdx_norm_steps_name(info.norm_steps), o->normalize);
    if (o->no_grams && info.grams)
        return tdx_err_set(err, TDX_EFORMAT,
                           "index '%s' has the gram index; --no-grams applies only to a new "
                           "index",
                           o->index_path);
    *steps = info.norm_steps;
    p->grams = info.grams;
    p->trigrams = info.trigrams; /* an index from before trigrams gets none */
    return 0;
}

/*
 * Fold the pending segments in, one bounded step (a transaction) at a time,
 * reporting progress after each.  With may_stop, a stop request (Ctrl-C)
 * ends it between steps: the index stays valid, and the next run finishes
 * the merge before anything else.
 */
static int merge_steps(run *p, int may_stop, tdx_err *err)
{
    uint64_t total = 0, left = 0;
    int done = 0;
    int rc = tdx_store_merge_left(p->store, &total, err);
    while (rc == 0 && !done) {
        if (may_stop && p->o->stop && *p->o->stop)
            break;
        rc = tdx_store_merge_step(p->store, &done, err);
        if (rc == 0 && !done)
            rc = tdx_store_merge_left(p->store, &left, err);
        if (rc == 0) {
            pthread_mutex_lock(&p->prog_mu);
            p->merge_total = total;
            p->merge_done = done ? total : total > left ? total - left : 0;
            pthread_mutex_unlock(&p->prog_mu);
            report_progress(p, 0);
        }
    }
    return rc;
}

static void run_start(run *p, const tdx_pipeline_opts *o, tdx_run_stats *st)
{
    memset(p, 0, sizeof *p);
    memset(st, 0, sizeof *st);
    p->o = o;
    p->st = st;
    p->t0 = tdx_now();
    pthread_mutex_init(&p->err_mu, NULL);
    pthread_mutex_init(&p->prog_mu, NULL);
    pthread_mutex_init(&p->pool_mu, NULL);
    pthread_mutex_init(&p->map_mu, NULL);
}

static void run_end(run *p)
{
    pthread_mutex_destroy(&p->err_mu);
    pthread_mutex_destroy(&p->prog_mu);
    pthread_mutex_destroy(&p->pool_mu);
    pthread_mutex_destroy(&p->map_mu);
}

int tdx_pipeline_merge(const tdx_pipeline_opts *o, tdx_run_stats *st, tdx_err *err)
{
    run P;
    run *p = &P;
    run_start(p, o, st);
    tdx_store_opts so = {0, 0, 0, 0, 0};
    size_t before = 0;
    int pending = 0;
    int rc = tdx_store_open(o->index_path, &so, &p->store, err);
    if (rc == 0)
        rc = tdx_store_pending_segments(p->store, &before, err);
    if (rc == 0)
        rc = tdx_store_merge_pending(p->store, &pending, err);
    if (rc == 0 && (before || pending))
        rc = merge_steps(p, 1, err);
    if (rc == 0)
        rc = tdx_store_pending_segments(p->store, &st->segments_left, err);
    if (rc == 0)
        rc = tdx_store_sync(p->store, err);
    st->segments_merged = before > st->segments_left ? before - st->segments_left : 0;
    st->interrupted = o->stop && *o->stop && st->segments_left;
    st->stages.merge = st->seconds = tdx_now() - p->t0;
    report_progress(p, 1);
    tdx_store_close(p->store);
    run_end(p);
    return rc;
}

int tdx_pipeline_run(const tdx_pipeline_opts *o, tdx_run_stats *st, tdx_err *err)
{
    run P;
    run *p = &P;
    run_start(p, o, st);
    int rc = 0, budget_ok = 0, started_workers = 0, reader_started = 0;
    if (o->index_path == NULL || o->watchlist_path == NULL)
        return tdx_err_set(err, TDX_EINVAL, "index and watch list are required");

    /* Default: one worker per core but one, which the reader and the
     * single writer share (measured on 2 cores: a second worker made ingest
     * 9-16% slower, bench/RESULTS.md). */
    p->nworkers = o->threads > 0 ? o->threads : (int)sysconf(_SC_NPROCESSORS_ONLN) - 1;
    if (p->nworkers < 1)
        p->nworkers = 1;
    if (p->nworkers > 256)
        p->nworkers = 256;
    st->threads = p->nworkers;
    size_t mem = o->memory_limit ? o->memory_limit : ((size_t)512 << 20);
    /* Batches that can be in flight: one per worker, one the reader fills,
     * one the writer writes, one waiting.  Counting two a worker made the
     * batches smaller for the same memory, and slower (engine/README,
     * "Memory"). */
    size_t slots = (size_t)p->nworkers + 3;
    /* Batches share a commit (tdx_store_set_group), whose pages stay in
     * memory until it is made: the stored text and postings its batches
     * put, and the key and hash pages they dirty.  An eighth of the limit
     * is set aside for them, a sixteenth for the
     * keys and content hashes of new documents (tdx_store_set_deferred); batches
     * and workers share the rest. */
    size_t group_mem = mem / 8, hash_mem = mem / 16;
    p->batch_bytes = o->batch_bytes ? o->batch_bytes
                                    : (mem - group_mem - hash_mem) /
                                          (BATCH_MEM * slots + WORKER_MEM * (size_t)p->nworkers);
    if (p->batch_bytes > ((size_t)64 << 20))
        p->batch_bytes = (size_t)64 << 20;
    if (p->batch_bytes < ((size_t)64 << 10))
        p->batch_bytes = (size_t)64 << 10;
    /* Recycled batches are counted in the budget like the ones in flight
     * (a pooled batch's memory is what its successor will use). */
    p->max_pool = slots;

    tdx_store_opts so = {0, 1, 0, 0, o->store_format};
    rc = tdx_store_open(o->index_path, &so, &p->store, err);
    /* A commit once the batches have put half of group_mem (the other
     * half: the tree pages around what they put, and the key and hash
     * pages; the deferred keys' flush dirties as much), every 8 batches at
     * most, and every 2 s: readers and a resumed run are at most that far
     * behind. */
    if (rc == 0) {
        size_t group = group_mem / 2 < 8 * p->batch_bytes ? group_mem / 2 : 8 * p->batch_bytes;
        tdx_store_set_group(p->store, group, 2.0);
        tdx_store_set_deferred(p->store, hash_mem);
        tdx_store_set_map_lock(p->store, &p->map_mu);
    }
    unsigned steps = TDX_NORM_ALL;
    if (rc == 0)
        rc = choose_settings(p, &steps, err);
    if (rc == 0)
        rc = tdx_norm_create_cached(steps, o->cache_dir, p->norm_expect[0] ? p->norm_expect : NULL,
                                    &p->norm, err);
    if (rc == 0)
        st->norm_from_cache = tdx_norm_from_cache(p->norm);
    if (rc == 0)
        rc = tdx_watchlist_load(o->watchlist_path, p->norm, &p->wl, err);
    if (rc == 0) {
        st->npatterns = tdx_watchlist_npatterns(p->wl);
        st->nentities = tdx_watchlist_nentities(p->wl);
        rc = setup_schema(p, err); /* and an index built with another list is refused */
    }
    if (rc == 0) {
        /* The reader's first batch trains a new index's dictionary. */
        rc = tdx_store_dict_load(p->store, &p->dict, err);
        if (rc == TDX_ENOTFOUND)
            rc = 0;
        p->dict_tried = p->dict != NULL;
    }
    if (rc)
        goto done;
    /* What the workers' builders hold is set aside; the rest is for batches. */
    size_t worker_part = WORKER_MEM * p->batch_bytes * (size_t)p->nworkers;
    size_t batch_part = mem - group_mem;
    rc = tdx_budget_init(&p->budget, batch_part > worker_part + p->batch_bytes * BATCH_MEM
                                         ? batch_part - worker_part
                                         : p->batch_bytes * BATCH_MEM);
    if (rc)
        goto done;
    budget_ok = 1;
    rc = tdx_queue_create((size_t)p->nworkers * 2, &p->work_q);
    if (rc == 0)
        rc = tdx_queue_create((size_t)p->nworkers * 2 + 4, &p->done_q);
    if (rc) {
        rc = tdx_err_set(err, rc, "out of memory");
        goto done;
    }
    tdx_reader_opts ro = o->reader;
    ro.on_file = on_file;
    ro.on_file_done = on_file_done;
    ro.on_reject = on_reject;
    ro.ctx = p;
    rc = tdx_reader_open(o->inputs, o->ninputs, &ro, &p->reader, err);
    if (rc)
        goto done;
    /* The reader starts now: its first batch (and a new index's dictionary,
     * trained on it) is made while this thread compiles the watch list or
     * loads it from the cache, instead of after.  What can refuse the run
     * for its arguments (the settings, the watch list) is checked before. */
    if (pthread_create(&p->reader_th, NULL, reader_main, p) != 0)
        rc = tdx_err_set(err, TDX_EINTERNAL, "cannot start reader thread");
    else
        reader_started = 1;
    if (rc == 0) {
        tdx_match_opts mo = {o->cache_dir};
        rc = tdx_match_compile(p->wl, &mo, &p->matcher, err);
    }
    if (rc == 0) {
        tdx_match_info mi;
        tdx_match_get_info(p->matcher, &mi);
        st->compile_ms = mi.compile_ms;
        st->from_cache = mi.from_cache;
    }
    if (rc == 0) {
        /* A merge cut short (a crash, Ctrl-C) is finished before anything
         * else is written. */
        int pending = 0;
        rc = tdx_store_merge_pending(p->store, &pending, err);
        if (rc == 0 && pending)
            rc = merge_steps(p, 0, err);
    }
    if (rc == 0) {
        p->workers = tdx_calloc((size_t)p->nworkers, sizeof *p->workers);
        if (p->workers == NULL)
            rc = tdx_err_set(err, TDX_ENOMEM, "out of memory");
    }
    for (int i = 0; rc == 0 && i < p->nworkers; i++)
        rc = worker_init(p, &p->workers[i], err); /* it says why */
    atomic_store(&p->live_workers, p->nworkers);
    for (int i = 0; rc == 0 && i < p->nworkers; i++) {
        if (pthread_create(&p->workers[i].th, NULL, worker_main, &p->workers[i]) != 0) {
            rc = tdx_err_set(err, TDX_EINTERNAL, "cannot start worker thread");
            break;
        }
        started_workers++;
    }
    if (rc) {
        fail(p, err, rc);
        tdx_queue_close(p->work_q);
    }
    if (started_workers < p->nworkers) {
        /* Workers that never started cannot close done_q for us. */
        atomic_fetch_sub(&p->live_workers, p->nworkers - started_workers);
        if (started_workers == 0)
            tdx_queue_close(p->done_q);
    }
    writer_loop(p);
    /* Whether the run ends with a merge is decided once its batches are
     * committed (merge_due reads what they hold), here: the merge below
     * runs when nothing failed or stopped the run since. */
    int merge = 0, merge_rc = 0;
    tdx_err merr = {0};
    /* What the group holds is kept even after a failure: only the failed
     * batch's own transaction was dropped. */
    if (p->store && started_workers) { /* none: setup failed, nothing was written */
        tdx_err cerr = {0};
        int open = tdx_store_uncommitted(p->store);
        double t0 = tdx_now();
        int crc = tdx_store_commit_batches(p->store, &cerr);
        if (crc == 0 && !o->no_merge && !atomic_load(&p->failed) && !(o->stop && *o->stop)) {
            merge = o->merge;
            if (!merge)
                merge_rc = merge_due(p->store, &merge, &merr);
            /* Its first step is made while the writer writes the keys and
             * hashes in memory (one core each, not one after the other).
             * A hint: the first step starts it again if this failed. */
            if (merge_rc == 0 && merge)
                tdx_store_merge_prepare(p->store, NULL);
        }
        if (crc == 0)
            crc = tdx_store_commit(p->store, &cerr); /* the keys and hashes in memory */
        st->stages.write += tdx_now() - t0;
        if (crc)
            fail(p, &cerr, crc);
        else if (open)
            st->committed = st->added;
    }
    if (reader_started)
        pthread_join(p->reader_th, NULL);
    for (int i = 0; i < started_workers; i++)
        pthread_join(p->workers[i].th, NULL);
    if (started_workers == 0)
        drain_work(p); /* what the reader made before setup failed */
    st->stages.read = p->read_time;
    if (p->reader) {
        tdx_read_progress rp;
        tdx_reader_progress(p->reader, &rp);
        st->dates_unparsed = rp.dates_unparsed;
        st->skipped_records = rp.skipped_records;
    }
    st->docs_read = atomic_load(&p->docs_read);
    st->rejects = atomic_load(&p->rejects);
    st->interrupted = o->stop && *o->stop;
    if (atomic_load(&p->failed)) {
        rc = tdx_err_set(err, p->err.code ? p->err.code : TDX_EINTERNAL, "%s", p->err.msg);
        goto done;
    }
    if (!st->interrupted && !o->no_merge) {
        double t0 = tdx_now();
        if (merge_rc)
            rc = tdx_err_set(err, merr.code, "%s", merr.msg);
        else if (merge)
            rc = merge_steps(p, 1, err);
        st->stages.merge = tdx_now() - t0;
        st->interrupted = o->stop && *o->stop;
    }
    if (rc == 0)
        rc = tdx_store_pending_segments(p->store, &st->segments_left, err);
    if (rc == 0)
        rc = tdx_store_sync(p->store, err);
done:
    st->peak_inflight = budget_ok ? tdx_budget_peak(&p->budget) : 0;
    snapshot_reader(p);
    report_progress(p, 1);
    for (int i = 0; p->workers && i < p->nworkers; i++)
        worker_free(&p->workers[i]);
    tdx_free(p->workers);
    tdx_queue_free(p->work_q);
    tdx_queue_free(p->done_q);
    if (budget_ok)
        tdx_budget_destroy(&p->budget);
    tdx_reader_free(p->reader);
    tdx_match_free(p->matcher);
    tdx_watchlist_free(p->wl);
    tdx_norm_free(p->norm);
    tdx_store_close(p->store);
    tdx_store_dict_free(p->dict);
    tdx_free(p->file_path);
    pool_free(p);
    run_end(p);
    st->seconds = tdx_now() - p->t0;
    st->peak_rss = tdx_peak_rss();
    return rc;
}
