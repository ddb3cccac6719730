/*
 * store.h - the LMDB index: layout, the single writer, read transactions.
 *
 * An index is one LMDB environment (a directory).  The on-disk grammar and
 * its format version are written down at the top of store.c.  The writer
 * takes whole batches of processed documents: it drops documents whose key
 * or content is already indexed, gives the rest consecutive doc ids, and
 * appends their records, stored text, hit lists and postings in one write
 * transaction that also records how far ingest got.  Postings of a batch
 * are first appended as a segment; tdx_store_merge() folds segments into
 * the term-ordered main postings (see store.c for why).
 *
 * Threading: one tdx_store per process; tdx_store_write_batch() and
 * tdx_store_merge() from one thread at a time; read transactions may be
 * used from any thread, one per thread at a time (LMDB's rule).  A merge
 * starts a thread of the store's own, which reads the chunk after the one
 * being written; it ends when the merge does, or at the next batch written
 * or tdx_store_close().
 */
#ifndef TDX_STORE_H
#define TDX_STORE_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#include "../common/buf.h"
#include "../common/docset.h"
#include "../common/err.h"
#include "../common/postings.h"

#define TDX_STORE_FORMAT 4

typedef struct tdx_store tdx_store;

/** A trained text dictionary, shared read-only by all compressing threads. */
typedef struct tdx_store_dict tdx_store_dict;

typedef struct tdx_store_opts {
    int readonly;    /* open for reading only (queries) */
    int create;      /* create the index directory if it does not exist */
    size_t map_size; /* initial map size in bytes; 0: default (grows on demand) */
    size_t merge_chunk; /* postings bytes per merge transaction; 0: default (8 MiB) */
    int format;         /* format of an index created now: 0 = TDX_STORE_FORMAT; 2 = the
                           format without position checkpoints, which an older tenderidx
                           reads (an existing index keeps the format it has) */
} tdx_store_opts;

/**
 * Open (or create) the index at path.  Errors: TDX_ENOTFOUND (no index
 * there and !create), TDX_EFORMAT (made by an incompatible version),
 * TDX_ECORRUPT, TDX_EIO.  Owned: close with tdx_store_close().
 */
int tdx_store_open(const char *path, const tdx_store_opts *opts, tdx_store **out_store,
                   tdx_err *err);
void tdx_store_close(tdx_store *s);

/* ---- schema: what the index was built with ---- */

typedef struct tdx_store_pattern {
    uint32_t entity, category;
    unsigned flags;
    uint32_t line;
    const char *text; /* as written in the watch list */
    const char *norm; /* normalized literal / regex as compiled */
} tdx_store_pattern;

typedef struct tdx_store_schema {
    const char *normalizer; /* tdx_norm_identity() */
    unsigned norm_steps;
    int grams;              /* 1: full profile with the gram index */
    uint64_t wl_hash;       /* tdx_watchlist_hash() */
    const char *wl_source;  /* path the watch list was read from */
    const tdx_store_pattern *patterns;
    size_t npatterns;
    const char *const *entities;
    const uint32_t *entity_category;
    size_t nentities;
    const char *const *categories;
    size_t ncategories;
} tdx_store_schema;

/**
 * Record the schema in a new (empty) index, or check it against the one an
 * existing index was built with.  Errors: TDX_EFORMAT with a message that
 * says what differs (normalizer, watch list, profile).
 */
int tdx_store_setup(tdx_store *s, const tdx_store_schema *schema, tdx_err *err);

/* ---- writing ---- */

typedef struct tdx_store_kv {
    const char *key, *val;
} tdx_store_kv;

/** One hit of a document: pattern, normalized and original byte ranges. */
typedef struct tdx_store_hit {
    uint32_t pattern;
    uint32_t nstart, nend;
    uint32_t ostart, oend;
} tdx_store_hit;

/** A processed document, as the writer takes it.  All borrowed. */
typedef struct tdx_store_doc {
    const char *key, *source, *title, *date, *url, *format, *encoding;
    uint64_t line, offset;
    uint32_t date_ymd;     /* yyyymmdd, 0 when unknown */
    uint64_t text_len;     /* bytes of original UTF-8 text */
    uint64_t invalid;      /* replaced invalid sequences */
    uint64_t hash[2];      /* content hash of the normalized text */
    const tdx_store_kv *meta;
    size_t nmeta;
    const tdx_store_hit *hits; /* sorted by (nstart, nend, pattern) */
    size_t nhits;
    const uint8_t *ztext;  /* stored text, from tdx_store_compress() */
    size_t ztext_len;
} tdx_store_doc;

/** Ingest progress of one input file, recorded with the batch. */
typedef struct tdx_store_input {
    const char *path;
    uint64_t size;
    int64_t mtime;
    uint64_t records;   /* records of this file consumed so far */
    int complete;       /* 1 once the whole file is in */
} tdx_store_input;

typedef struct tdx_store_batch {
    const tdx_store_doc *docs;
    size_t ndocs;
    const tdx_postings *post; /* terms for batch-local doc numbers 0..ndocs-1 */
    const tdx_store_input *inputs;
    size_t ninputs;
    uint64_t rejects; /* rejected records read while filling this batch */
    const tdx_store_dict *dict; /* record this dictionary (first batch of an index) */
} tdx_store_batch;

typedef struct tdx_store_batch_stats {
    size_t added;      /* new documents */
    size_t existing;   /* key already indexed with the same content */
    size_t duplicates; /* same content as an indexed document under a new key */
    size_t replaced;   /* key indexed with other content, re-indexed (replace mode) */
    size_t changed;    /* key indexed with other content, kept (not replace mode) */
    uint64_t hits;
    uint64_t bytes;
} tdx_store_batch_stats;

/**
 * Write one batch in one transaction, or nested in the open group (see
 * tdx_store_set_group); retried after growing the map when LMDB reports
 * MDB_MAP_FULL.  replace: a key already indexed with other
 * content is re-indexed (the old document becomes a tombstone).  stats may
 * be NULL.  Errors: TDX_ENOSPC (disk full: the index stays valid at its
 * last commit), TDX_EIO, TDX_ECORRUPT, TDX_ENOMEM, TDX_EINVAL (read-only
 * store; a document without a key or with one over 511 bytes; postings
 * naming a document outside the batch).
 */
int tdx_store_write_batch(tdx_store *s, const tdx_store_batch *b, int replace,
                          tdx_store_batch_stats *stats, tdx_err *err);

/**
 * A mutex the writer holds while the map grows.  LMDB unmaps and maps the
 * file again to grow it, so a read transaction that another thread of this
 * process has open at that moment reads an address being moved; a thread
 * that reads while this store writes (the pipeline's reader looking up its
 * inputs) holds the same mutex from tdx_store_read_begin to
 * tdx_store_read_end.  The merge thread is stopped before the map grows.
 */
void tdx_store_set_map_lock(tdx_store *s, pthread_mutex_t *mu);

/**
 * Let consecutive batches share one commit.  tdx_store_write_batch then
 * writes each batch in a transaction nested in an open group and commits
 * the group once its batches have put max_bytes (stored text and
 * postings, the bulk of the pages a group dirties and holds in memory until
 * it commits) or max_seconds have passed since it began (checked after
 * each batch).  Every
 * commit writes the pages its batches dirtied and syncs: fewer commits,
 * fewer pages written twice and fewer syncs.  Other writes (setup, merge)
 * and tdx_store_commit commit the group first; tdx_store_close drops
 * batches not yet committed, like a crash.  max_bytes 0 (the default):
 * each batch is a commit.
 */
void tdx_store_set_group(tdx_store *s, size_t max_bytes, double max_seconds);

/**
 * Memory for the keys and content hashes of new documents (default 32 MB,
 * 131,072 documents; TDX_STORE_DEFERRED_BYTES_PER_DOC each).  They
 * are kept in memory and written into the index's keys and hashes tables
 * in key order when this fills and at tdx_store_commit: inserting them one
 * document at a time lands each on another page of a large tree (random
 * keys), which was the writer's largest cost.  Readers find a key not yet
 * in its table in the documents' records; an index left by a killed run
 * gets its sets rebuilt from those records by the next writer (meta
 * "deferred").
 */
void tdx_store_set_deferred(tdx_store *s, size_t bytes);

/** Bytes of deferred keys and content hashes held now (entries and key
 * bytes; 0 right after tdx_store_commit). */
size_t tdx_store_deferred_bytes(const tdx_store *s);

/** Memory a document's key and content hash take while deferred, at most
 * (two set entries, then their sorted copies when written, and the key). */
#define TDX_STORE_DEFERRED_BYTES_PER_DOC 256

/** Commit the batches written since the last commit, and write the keys
 * and content hashes kept in memory into their tables. */
int tdx_store_commit(tdx_store *s, tdx_err *err);

/** Commit the open group only; the keys and hashes in memory stay there. */
int tdx_store_commit_batches(tdx_store *s, tdx_err *err);

/** 1 when batches written are waiting for their group's commit. */
int tdx_store_uncommitted(const tdx_store *s);

/** Number of postings segments not yet merged. */
int tdx_store_pending_segments(tdx_store *s, size_t *out_n, tdx_err *err);

/**
 * Sizes in bytes (LMDB pages) of the main postings and of the segments not
 * yet merged, and the number of segments: what a merge would read and
 * rewrite against what it would fold in.
 */
int tdx_store_postings_bytes(tdx_store *s, uint64_t *out_main, uint64_t *out_segs,
                             size_t *out_nsegs, tdx_err *err);
/**
 * Bytes (LMDB pages) of postings a merge has still to read: the main tree
 * and the segments before it starts, shrinking as its steps consume them
 * (its progress); the whole postings again once it is done.
 */
int tdx_store_merge_left(tdx_store *s, uint64_t *out, tdx_err *err);

/**
 * Fold all pending segments into the main postings.  Runs as a series of
 * transactions of bounded size; between them the index records how far the
 * merge got, readers see consistent answers throughout (they read the
 * segments and both trees as needed), and a merge interrupted by a crash
 * resumes on the next call.  The pipeline runs the same steps one by one
 * (tdx_store_merge_step, for progress and Ctrl-C) at the end of an index
 * run when the pending segments are worth a rewrite of the tree (merge_due).
 */
int tdx_store_merge(tdx_store *s, tdx_err *err);

/**
 * One bounded transaction of a merge (the unit tdx_store_merge repeats);
 * *out_done = 1 once nothing is left to merge.  Between two steps the
 * store's merge thread is preparing the next one; stopping there (Ctrl-C)
 * and closing the store is safe.
 */
int tdx_store_merge_step(tdx_store *s, int *out_done, tdx_err *err);

/**
 * Commit the open group and start the store's merge thread on the first
 * step of a merge of what the index now holds (the merge in progress, or
 * every pending segment), so that it is made while the writer does other
 * work: a run ends by writing its keys and content hashes (tdx_store_commit),
 * which touch no postings.  The next tdx_store_merge_step takes it; a
 * store closed without merging stops the thread.  Nothing to merge: does
 * nothing.
 */
int tdx_store_merge_prepare(tdx_store *s, tdx_err *err);

/** *out_pending = 1 when an interrupted merge must be finished first. */
int tdx_store_merge_pending(tdx_store *s, int *out_pending, tdx_err *err);

/** Flush to disk (the writer commits without forcing the meta page). */
int tdx_store_sync(tdx_store *s, tdx_err *err);

/*
 * Stored text is compressed one document at a time with a zstd dictionary
 * trained on the first documents of the index: tender notices share most of
 * their boilerplate, and a dictionary is what makes documents of a few KB
 * compress well (measured here on generated notices: ratio 1.6 without,
 * 5 to 6 with).  The dictionary is recorded in the index with the first
 * batch and used by every later run.
 */


/**
 * Train a dictionary from sample texts (concatenated in samples, sizes[i]
 * bytes each).  TDX_ENOTFOUND when the samples are too few or too small to
 * train from (the index then stores text without a dictionary).
 */
int tdx_store_dict_train(const uint8_t *samples, const size_t *sizes, unsigned n,
                         tdx_store_dict **out_d, tdx_err *err);
/** The dictionary recorded in the index, TDX_ENOTFOUND when there is none. */
int tdx_store_dict_load(tdx_store *s, tdx_store_dict **out_d, tdx_err *err);
void tdx_store_dict_free(tdx_store_dict *d);

/** Per-thread compression context; d may be NULL (no dictionary). */
typedef struct tdx_store_zctx tdx_store_zctx;
int tdx_store_zctx_create(const tdx_store_dict *d, tdx_store_zctx **out_z);
void tdx_store_zctx_free(tdx_store_zctx *z);
/** Compress text for tdx_store_doc.ztext; out is replaced. */
int tdx_store_compress(tdx_store_zctx *z, const uint8_t *text, size_t len, tdx_buf *out,
                       tdx_err *err);

/* ---- reading ---- */

typedef struct tdx_rtxn tdx_rtxn;

/** Begin a read transaction: a consistent snapshot of the last commit. */
int tdx_store_read_begin(tdx_store *s, tdx_rtxn **out_txn, tdx_err *err);
/** End it; every pointer borrowed from it becomes invalid. */
void tdx_store_read_end(tdx_rtxn *t);

typedef struct tdx_store_info {
    uint32_t format;
    char normalizer[256];
    unsigned norm_steps;
    int grams;
    int trigrams; /* every document has its 't' terms (index/index.h) */
    uint64_t wl_hash;
    char wl_source[1024];
    uint64_t docs;       /* live documents */
    uint64_t next_doc;   /* doc ids in use: 1 .. next_doc-1 */
    uint64_t deleted;    /* tombstones */
    uint64_t duplicates; /* keys recorded as duplicates of another document */
    uint64_t bytes;      /* original text bytes of live documents */
    uint64_t hits;
    uint64_t rejects;    /* records rejected over all runs */
    uint64_t npatterns, nentities, ncategories;
    uint64_t segments;   /* pending postings segments */
    int merging;         /* a merge stopped part-way (the next run finishes it) */
    uint64_t deferred;   /* doc ids whose keys and content hashes are not all in their
                          * tables yet (an interrupted run; the next writer files them) */
    uint64_t file_bytes; /* size of the LMDB data file */
} tdx_store_info;

int tdx_store_get_info(tdx_rtxn *t, tdx_store_info *out, tdx_err *err);

/** Schema as recorded; strings borrowed from the transaction. */
typedef struct tdx_store_schema_view {
    tdx_store_pattern *patterns;
    size_t npatterns;
    const char **entities;
    uint32_t *entity_category;
    size_t nentities;
    const char **categories;
    size_t ncategories;
    char *arena; /* every name above, NUL-terminated, in one allocation */
} tdx_store_schema_view;
int tdx_store_get_schema(tdx_rtxn *t, tdx_store_schema_view *out, tdx_err *err);
void tdx_store_schema_view_free(tdx_store_schema_view *v);

/** A document record; strings borrowed from the transaction. */
typedef struct tdx_store_docinfo {
    uint32_t id;
    const char *key, *source, *title, *date, *url, *format, *encoding;
    size_t key_len, source_len, title_len, date_len, url_len, format_len, encoding_len;
    uint64_t line, offset, text_len, invalid, hash[2];
    uint32_t date_ymd;
    uint32_t nhits;
    size_t nmeta;
    const uint8_t *meta; /* encoded; walk with tdx_store_meta_next */
    const uint8_t *meta_end;
    int deleted;
} tdx_store_docinfo;

/** TDX_ENOTFOUND when id is not a document. */
int tdx_store_get_doc(tdx_rtxn *t, uint32_t id, tdx_store_docinfo *out, tdx_err *err);
/** Next metadata pair from *pos (start at info->meta); 0 at the end, 1 with k/v set. */
int tdx_store_meta_next(const tdx_store_docinfo *d, const uint8_t **pos, tdx_span *out_k,
                        tdx_span *out_v);
/** Original text of a document (decompressed into out). */
int tdx_store_get_text(tdx_rtxn *t, uint32_t id, tdx_buf *out, tdx_err *err);
/** Hits of a document, in (nstart, nend, pattern) order, into a growable array. */
int tdx_store_get_hits(tdx_rtxn *t, uint32_t id, tdx_store_hit **hits, size_t *n, size_t *cap,
                       tdx_err *err);
/** Doc id for an external key; TDX_ENOTFOUND. */
int tdx_store_find_key(tdx_rtxn *t, const char *key, size_t len, uint32_t *out_id, tdx_err *err);

/**
 * All documents whose postings list for `term` (class byte + bytes) holds,
 * ascending, tombstones included (the caller filters with the deleted set).
 * An unknown term gives an empty set.
 */
int tdx_store_postings(tdx_rtxn *t, const uint8_t *term, size_t len, tdx_docset *out,
                       tdx_err *err);
/**
 * The documents up to `upto` of a term's postings, as tdx_store_postings:
 * blocks that start after it are not read (a list's first docs, for the
 * first answers of a query with a limit).
 */
int tdx_store_postings_upto(tdx_rtxn *t, const uint8_t *term, size_t len, uint32_t upto,
                            tdx_docset *out, tdx_err *err);
/** Number of documents in a term's postings (reads block headers only). */
int tdx_store_postings_count(tdx_rtxn *t, const uint8_t *term, size_t len, uint64_t *out_n,
                             tdx_err *err);

/**
 * Positions of a positional term (bigram, word) document by document.  A
 * cursor belongs to one read transaction and moves forward only: the docs
 * asked for must not decrease.  Owned: tdx_store_poscur_close().
 */
typedef struct tdx_poscur tdx_poscur;
int tdx_store_poscur_open(tdx_rtxn *t, const uint8_t *term, size_t len, tdx_poscur **out_c,
                          tdx_err *err);
/**
 * 1 with *out_pos (ascending character offsets, borrowed until the next
 * call) and *out_n set when the term occurs in doc, 0 when it does not,
 * TDX_ECORRUPT / TDX_ENOMEM / TDX_EINVAL (doc smaller than the last asked).
 */
int tdx_store_poscur_get(tdx_poscur *c, uint32_t doc, const uint32_t **out_pos, size_t *out_n,
                         tdx_err *err);
/**
 * The term's first doc >= doc: 1 with *out set, 0 when there is none.  The
 * same forward-only rule; tdx_store_poscur_get(c, *out) may follow.  The
 * term's main-tree blocks are stepped through, then its blocks in the
 * pending segments (one lookup per segment from the one holding doc on).
 */
int tdx_store_poscur_next(tdx_poscur *c, uint32_t doc, uint32_t *out, tdx_err *err);
/**
 * After a first tdx_store_poscur_next: an estimate, from the block in hand,
 * of the share of the `ndocs` documents that hold the term (0 when it is in
 * none).  Cheap; for ordering lookups, not for answers.
 */
double tdx_store_poscur_density(const tdx_poscur *c, uint64_t ndocs);
#define TDX_PHRASE_TERMS_MAX 64
/** A phrase: term j (positions cursor pc[j]) at start + off[j] for one start. */
typedef struct tdx_phrase {
    tdx_poscur *const *pc;
    const uint32_t *off;
    size_t k; /* 1 .. TDX_PHRASE_TERMS_MAX */
} tdx_phrase;
/* A walk takes at most this many cursors; every TDX_WALK_FILTER_CHECK
 * docs all of them hold, a filter cursor that moved the walk on in fewer
 * than 1 / TDX_WALK_FILTER_KEEP of its lookups leaves it. */
#define TDX_WALK_CURSORS_MAX  512
#define TDX_WALK_FILTER_CHECK 1024
#define TDX_WALK_FILTER_KEEP  16
/* Does a filter cursor that moved the walk on `moved` times in `asked`
 * lookups still narrow it? */
static inline int tdx_walk_filter_narrows(uint64_t moved, uint64_t asked)
{
    return moved * TDX_WALK_FILTER_KEEP >= asked;
}
typedef struct tdx_walk_stats {
    uint64_t checks;          /* phrase checks made */
    uint64_t filters_dropped; /* filter cursors that left the walk */
} tdx_walk_stats;
/**
 * The docs, ascending, in which every cursor of c[0..nc) has an entry (they
 * lead the walk in that order: the rarest first) and every phrase of
 * ph[0..nph) holds, each checked in turn until one fails (nph 0: the docs
 * all cursors share).  A phrase's cursors are among c, or share one of them.
 * Cursors flagged in filter (NULL: none) only narrow the walk, and leave it
 * when they do not.  Docs in skip (ascending) are left out; at most limit
 * (0: all) are appended to out; ws counts the checks and the filters that
 * left.  The cursors are consumed (asked in order from doc 1).  0 or a
 * TDX_E* code.
 */
int tdx_store_phrase_walk(tdx_poscur *const *c, const unsigned char *filter, size_t nc,
                          const tdx_phrase *ph, size_t nph, const tdx_docset *skip, size_t limit,
                          tdx_docset *out, tdx_walk_stats *ws, tdx_err *err);
/** The term of a cursor (borrowed while the cursor is open). */
const uint8_t *tdx_store_poscur_term(const tdx_poscur *c, size_t *out_len);
void tdx_store_poscur_close(tdx_poscur *c);

/**
 * Visit every distinct term of class `cls` whose bytes (after the class
 * byte) start with `prefix`, in byte order.  fn returns nonzero to stop.
 */
typedef int (*tdx_term_fn)(void *ctx, const uint8_t *term, size_t len);
int tdx_store_terms(tdx_rtxn *t, uint8_t cls, const uint8_t *prefix, size_t plen,
                    tdx_term_fn fn, void *ctx, tdx_err *err);

/**
 * Visit every distinct word term ('w' and the word, as tdx_store_terms
 * gives it) holding frag[0..len): starting with it when at_start, ending
 * with it when at_end, anywhere when neither (both: the word itself).
 * Scans the words table when it lists the main postings (after a merge;
 * a few ms per million notices), else walks the dictionary.  In byte
 * order when segments are pending, in the list's order (also byte order)
 * otherwise.  fn returns nonzero to stop.
 */
#define TDX_WORDS_TERM_MAX 520
int tdx_store_words(tdx_rtxn *t, const uint8_t *frag, size_t len, int at_start, int at_end,
                    tdx_term_fn fn, void *ctx, tdx_err *err);

/** Tombstoned doc ids, ascending. */
int tdx_store_deleted(tdx_rtxn *t, tdx_docset *out, tdx_err *err);
/** Dates (yyyymmdd, 0 unknown) of docs 1..next_doc-1 into out[0..next_doc-2]. */
int tdx_store_dates(tdx_rtxn *t, uint32_t *out, size_t n, tdx_err *err);

/** Recorded progress of an input file; TDX_ENOTFOUND when never seen. */
int tdx_store_get_input(tdx_rtxn *t, const char *path, tdx_store_input *out, tdx_err *err);

/* ---- whole-index walks ---- */

/** Sink for dump and check output: one line per call, no trailing newline. */
typedef int (*tdx_line_fn)(void *ctx, const char *line, size_t len);

/** Logical content in a stable text form (independent of batch boundaries). */
int tdx_store_dump(tdx_rtxn *t, tdx_line_fn fn, void *ctx, tdx_err *err);
/**
 * Verify every structure; each problem is reported through fn.  Returns 0
 * and *out_problems = count; an error only when the walk itself fails.
 */
int tdx_store_check(tdx_rtxn *t, tdx_line_fn fn, void *ctx, uint64_t *out_problems,
                    tdx_err *err);

#endif
