/*
 * store.c - the LMDB index: on-disk format, the single writer, readers.
 *
 * Where it sits: the pipeline's writer thread calls tdx_store_write_batch()
 * once per batch, in input order; `tenderidx query` and friends open the
 * same environment read-only and read through tdx_rtxn snapshots, which
 * never block the writer (LMDB MVCC).
 *
 * ON-DISK FORMAT, version 4 (meta "format" = "4").  One LMDB environment
 * (a directory holding data.mdb and lock.mdb) with these named databases.
 * be32 = 4-byte big-endian unsigned; vint = unsigned LEB128 varint;
 * lbytes = vint length followed by that many bytes; doc ids start at 1.
 *
 *   meta        key: ASCII name
 *     "format"      "4"; "3" differs only in having no shared values in its
 *                   segments (read as it is; marked 4 when opened to write);
 *                   "2" has neither shared values nor checkpoints in its
 *                   positional blocks (an index keeps its format: format 2 is
 *                   read and written as such; format 1 differed only in
 *                   postseg's layout, and one without pending segments is
 *                   marked 2 when opened to write, and read as 2)
 *     "normalizer"  tdx_norm_identity() of the normalizer the index uses
 *     "norm_steps"  vint step bits
 *     "grams"       "1" full profile (gram index), "0" entity-only
 *     "trigrams"    "1": every document of the full profile has its 't'
 *                   terms (written when the index is created; an index
 *                   from before them has none, and gets none: a reader
 *                   could not tell which documents a list covers.  An
 *                   older tenderidx ignores the record, so adding to such
 *                   an index with one would leave its new documents out
 *                   of the trigram lists)
 *     "wl_hash"     16 lower-case hex digits of the watch-list hash
 *     "wl_source"   path of the watch list the index was created with
 *     "post"        "a" or "b": which of post.a / post.b is the main postings
 *     "words"       "a" or "b": the tree the words table lists in full
 *     "zdict"       the zstd dictionary of stored text (absent: none)
 *     "merge"       present while segments are being merged: u8 'a'|'b' (the
 *                   tree being built), be32 last segment id included, then
 *                   the term from which the old tree and the segments still
 *                   hold the postings (terms before it are complete in the
 *                   new tree); u8 'A'|'B' instead when the merge stopped
 *                   inside a term's postings, and then the key
 *                   term 0x00 be32(doc): that term's docs below doc are in
 *                   the new tree, the others still in the old tree and the
 *                   segments (a term's postings may be larger than a merge
 *                   step; an older tenderidx refuses this state)
 *     "counts"      vint next_doc, docs, deleted, duplicates, bytes, hits, rejects
 *   "deferred"    vint doc id: the keys and content hashes of live documents
 *                 from this id on may be missing from "keys" and "hashes" (the
 *                 writer keeps them in memory and writes them in key order);
 *                 both are in the documents' records: a writer opening the
 *                 index reads them from there, readers look a missing key up
 *                 there.  Entries that are in the tables are always current.
 *                 Absent: both tables are complete.  An older tenderidx
 *                 ignores it (it would miss those documents' keys and
 *                 duplicates, and its check reports them)
 *   docs        be32 id -> doc record:
 *                 vint 1 (record version)
 *                 lbytes key, source, title, date, url, format, encoding
 *                 vint line, offset, text_len, invalid, date_ymd, nhits
 *                 be64 hash_hi, be64 hash_lo    (XXH3-128 of normalized text)
 *                 vint nmeta, then nmeta x (lbytes name, lbytes value)
 *   text        be32 id -> one zstd frame of the original UTF-8 text, compressed with
 *                 the dictionary of meta "zdict" when the frame names a dictionary
 *   hits        be32 id -> vint n, then n x (vint pattern, vint nstart - prev nstart,
 *                 vint nend - nstart, vint ostart - prev ostart, vint oend - ostart)
 *                 hits sorted by (nstart, nend, pattern); n = ostart/oend are byte
 *                 offsets in the original text, nstart/nend in the normalized text
 *   keys        external key -> be32 id, u8 kind (0: the document's key,
 *                 1: a later document with the same content, recorded as duplicate)
 *   hashes      be64 hash_hi, be64 hash_lo -> be32 id of the live document
 *                 (complete below meta "deferred"; so are the documents'
 *                 own keys in "keys")
 *   dups        be32 id, key -> "" for every key recorded as a duplicate of doc id
 *                 (when the document's own key is replaced with other content,
 *                 its first duplicate key takes the document over)
 *   deleted     be32 id -> "" (tombstones: replaced documents)
 *   dates       be32 (id / 1024) -> 1024 x be32 yyyymmdd (0: unknown) for ids
 *                 block*1024 .. block*1024+1023
 *   inputs      path -> vint size, vint zigzag(mtime), vint records, u8 complete
 *   patterns    be32 pattern id -> vint entity, vint category, vint flags, vint line,
 *                 lbytes text, lbytes norm
 *   entities    be32 entity id -> vint category, name bytes
 *   categories  be32 category id -> name bytes
 *   post.a / post.b   main postings, term-major:
 *               term 0x00 be32(first doc id) -> block:
 *                 vint n, n-1 x vint (doc[i] - doc[i-1]), then for bigram and word
 *                 terms ('b', 'w'):
 *                   (n-1)/16 x vint checkpoint: the bytes of the payloads of
 *                   entries 16j .. 16j+15, for j = 0 .. (n-1)/16 - 1 (format 3)
 *                   n positions payloads back to back, one per doc
 *                   (format in common/postings.h)
 *                 columnar, so reading doc lists never touches positions, and
 *                 a positions lookup starts at its entry's group of 16
 *               blocks of one term are consecutive and ascending; at most
 *               POST_BLOCK_MAX docs and POST_BLOCK_BYTES bytes per block (a
 *               block may exceed the byte limit only with a single entry)
 *   words       u8 tree ('a'|'b'), be32 chunk number -> words of that postings tree's
 *               'w' terms in byte order, each followed by '\n' (about 64 KB a chunk);
 *               valid when meta "words" names the main tree and no merge is under way.
 *               Fragment queries (`a100` inside `xa1000`) scan it instead of walking
 *               every word's postings keys
 *   postseg     postings segments, one per written batch, batch-major, each laid
 *               out as the main tree with its keys prefixed by its id:
 *               be32(seg) term 0x00 be32(first doc id) -> block as in post.a/b,
 *               cut by the same limits; seg = first doc id the batch added.
 *               Format 4: the terms whose list is one block of at most
 *               GROUP_DOCS docs and GROUP_ENTRY_BYTES bytes share values,
 *               in term order, up to POST_BLOCK_BYTES each:
 *               be32(seg) term 0x00 be32(0) -> shared value (doc 0 is no doc):
 *                 n entries, one per term, the first being the key's term:
 *                 vint shared (bytes of the term before: the key's for
 *                 the first entry; 0 for entries 16, 32, ...: the
 *                 restarts), lbytes rest of the term,
 *                 vint (first doc - seg), lbytes block
 *                 then ceil(n / 16) x be16 offset of each restart's entry,
 *                 be16 their number
 *               the key after a shared value is past its last term, so a
 *               term is found at the key at or before it (segit_seek): a
 *               binary search of the restarts, then at most 16 entries
 *
 * Terms are a class byte followed by bytes (see index/index.h): 'u' 'b' 't'
 * 'w' 'f' never contain 0x00; 'e' 'c' 'p' are fixed length (class + be32),
 * so "term 0x00" never makes one term's keys interleave with another's.
 * 't' followed by nothing is a term too: the documents whose trigrams a
 * batch's bound cut short (index/index.h), which readers check in the text.
 *
 * Why segments: inserting each batch's blocks into the term-major tree
 * lands them in the middle of every term's key range, and LMDB splits pages
 * half-and-half for such inserts: measured here, 200k such inserts per batch
 * left pages about a quarter full.  Appending a batch as a segment
 * (MDB_APPEND, full pages) and folding segments into a fresh term-major
 * tree with MDB_APPEND at the end of a run (tdx_store_merge) keeps both the
 * writes sequential and the pages full.  Readers consult main + segments.
 * Segments are cut into blocks when written (the writer knows each entry's
 * payload length), so the merge copies their full blocks with a new key and
 * decodes only the short ones it joins; with one value per term and
 * segment (format 1) it walked every position of every common term to find
 * where to cut.
 * Why shared values (format 4): most of a batch's distinct terms are in a
 * few of its documents, and each was a key of its own: an LMDB put, a node,
 * and a key for the merge to read again.  On 268 MB of prose they made 9.1M
 * segment keys; shared values make them 1.05M, and the write and merge
 * stages a third and a quarter faster.  The merge opens them as it reads
 * (segit); one that straddles a merge step's end stays until a step
 * passes its last term (delete_seg_range).
 * The merge runs as a series of transactions of bounded size (so memory
 * does not grow with the index); between them meta "merge" says which
 * terms are already in the new tree, readers follow it, and a run that was
 * killed mid-merge finishes it before writing anything else.
 *
 * Threading: the environment is shared; the write transaction belongs to
 * the caller of tdx_store_write_batch/merge; a tdx_rtxn belongs to one
 * thread.  The cached segment list of a tdx_rtxn is per transaction.  While
 * a merge runs, the store has a producer thread of its own (tdx_mprod: it
 * reads through its own snapshot); it ends with the merge, before the map
 * grows, before a batch is written, and at tdx_store_close.
 */
#include "store.h"

#include "hashset.h"
#include "../common/alloc.h"
#include "../common/clock.h"
#include "../common/hash.h"
#include "../common/memfind.h"
#include "../common/varint.h"

#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <lmdb.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/sysmacros.h>
#define ZDICT_STATIC_LINKING_ONLY
#include <zdict.h>
#include <unistd.h>
#include <zstd.h>

#define POST_BLOCK_MAX 1024
#define WORD_CLASS 'w' /* TDX_TERM_WORD (index/index.h): words, listed in the words table */
/* Values up to about 2 KB sit inside LMDB's 4 KB leaf pages; larger ones
 * take whole overflow pages each, and positions made many blocks land just
 * above a page boundary.  Blocks stay under this size (past one entry). */
#define POST_BLOCK_BYTES 1900
/* Format 3: a positional block of more than POST_CK entries holds, between
 * its doc deltas and its payloads, one checkpoint per POST_CK entries past
 * the first group: the bytes of each group's payloads, so that a positions
 * cursor asked for entry e starts at e's group instead of stepping over
 * every payload before it. */
#define POST_CK          16
#define POST_NCK         ((POST_BLOCK_MAX - 1) / POST_CK)
#define DATES_PER_BLOCK 1024
#define DEFAULT_MAP_SIZE ((size_t)16 << 30)
/* Bytes of postings one merge transaction writes at most.  It bounds the
 * dirty pages LMDB holds in memory until commit, and the space the merge
 * needs on top of the data: LMDB reuses the pages a transaction frees two
 * transactions later, so about two chunks of freed pages are in flight. */
#define MERGE_CHUNK_BYTES ((size_t)8 << 20)
/* Memory for the keys and content hashes not yet in their tables, by
 * default (tdx_store_set_deferred). */
#define DEFERRED_BYTES ((size_t)32 << 20)

typedef struct tdx_mprod tdx_mprod;
static void mprod_stop(tdx_store *s);

enum {
    DB_META,
    DB_DOCS,
    DB_TEXT,
    DB_HITS,
    DB_KEYS,
    DB_HASHES,
    DB_DELETED,
    DB_DATES,
    DB_INPUTS,
    DB_PATTERNS,
    DB_ENTITIES,
    DB_CATEGORIES,
    DB_POST_A,
    DB_POST_B,
    DB_POSTSEG,
    DB_DUPS,
    DB_WORDS,
    NDBS
};

static const char *const db_names[NDBS] = {
    "meta",     "docs",     "text",     "hits",     "keys",       "hashes", "deleted", "dates",
    "inputs",   "patterns", "entities", "categories", "post.a", "post.b", "postseg",
    "dups",     "words",
};

struct tdx_store {
    MDB_env *env;
    MDB_dbi dbi[NDBS];
    int readonly;
    int no_words; /* no "words" table (read-only open of an older index) */
    int ckpt;     /* format 3 on: positional blocks hold payload checkpoints */
    int groups;   /* format 4: a segment's short lists share values (written so) */
    int format;   /* the index's format: 2, 3 (read only: 3 opened to write becomes 4) or 4 */
    size_t map_size;
    size_t merge_chunk;
    struct tdx_mprod *mprod; /* the merge's producer thread, while a merge runs */
    pthread_mutex_t *map_lock; /* held while the map moves (tdx_store_set_map_lock) */
    /* Batches sharing one commit (tdx_store_set_group): the open parent
     * transaction, what it holds, and when to commit it. */
    MDB_txn *group;
    size_t group_max, group_in;
    double group_secs, group_t0;
    /* Content hashes (hp) and own keys (kp: XXH3-128 of the key) of the
     * live documents from pend_mark on, not all in their tables yet (meta
     * "deferred"); pend_stale: the sets may not match the index (a dropped
     * transaction, a fresh open) and are rebuilt from the documents before
     * they are used. */
    tdx_hashset hp, kp;
    tdx_buf karena; /* the keys of kp's documents in id order: be32 id, u16 len, bytes */
    uint64_t pend_mark;
    size_t pend_max;
    int pend_stale;
    char path[4096];
};

static int write_begin(tdx_store *s, MDB_txn **txn);
static int grow_map(tdx_store *s, tdx_err *err);

typedef struct counts {
    uint64_t next_doc, docs, deleted, duplicates, bytes, hits, rejects;
} counts;

struct tdx_rtxn {
    tdx_store *s;
    MDB_txn *txn;
    MDB_dbi post; /* current main postings */
    /* a merge in progress: terms < split are complete in `dst` (plus
     * segments newer than seg_max); the rest in `post` plus all segments.
     * split is a key: a term, or (split_doc != 0) term 0x00 be32(split_doc)
     * when the merge stopped inside the term's postings: its docs below
     * split_doc are in `dst`, the others in `post` and the segments */
    int merging;
    MDB_dbi dst;
    uint32_t seg_max;
    uint8_t split[512 + 5];
    size_t split_len, split_tlen; /* the key; its term */
    uint32_t split_doc;
    uint32_t *segs; /* pending segment ids, loaded on first use */
    size_t nsegs;
    int segs_loaded;
    ZSTD_DCtx *dctx;
    ZSTD_DDict *ddict;
    int ddict_loaded;
    /* A cursor kept over the main postings for lookups in key order (the
     * words holding a fragment): the next term is often a few keys on. */
    MDB_cursor *seq;
    MDB_dbi seq_dbi;
    int seq_at;     /* seq stands on a key */
    int seq_budget; /* steps tried before a search (see walk_blocks); 0: not set */
    /* The same for each pending segment (segs[i]: sseq[i]), and the last
     * term they were asked for (walk_blocks). */
    struct segseq *sseq;
    uint8_t sseq_last[512];
    size_t sseq_last_len; /* 0: none yet */
};

static void segseq_free(tdx_rtxn *t);

struct tdx_store_dict {
    void *bytes;
    size_t len;
    ZSTD_CDict *cdict; /* thread-safe for reading: shared by all workers */
};

struct tdx_store_zctx {
    ZSTD_CCtx *cctx;
};

/* ---- small helpers ---- */

static int lmdb_err(tdx_err *err, int rc, const char *what)
{
    int code = TDX_EIO;
    if (rc == ENOMEM)
        code = TDX_ENOMEM;
    else if (rc == ENOSPC || rc == EDQUOT)
        code = TDX_ENOSPC;
    else if (rc == MDB_CORRUPTED || rc == MDB_PAGE_NOTFOUND || rc == MDB_INVALID ||
             rc == MDB_BAD_VALSIZE)
        code = TDX_ECORRUPT;
    else if (rc == MDB_VERSION_MISMATCH)
        code = TDX_EFORMAT;
    if (code == TDX_ENOSPC)
        return tdx_err_set(err, code, "%s: no space left on device (the index is intact at its "
                                      "last commit)", what);
    return tdx_err_set(err, code, "%s: %s", what, mdb_strerror(rc));
}

/*
 * LMDB reports a write that the disk cut short as EIO, not ENOSPC: when the
 * index's file system is (almost) full, that EIO is a full disk, and the
 * user should hear so.
 */
static int disk_full_rc(const char *path, int rc)
{
    struct statvfs vs;
    if (rc == EIO && statvfs(path, &vs) == 0 &&
        (uint64_t)vs.f_bavail * vs.f_frsize < ((uint64_t)16 << 20))
        return ENOSPC;
    return rc;
}

static inline MDB_val mval(const void *p, size_t n)
{
    MDB_val v = {n, (void *)p};
    return v;
}

static int put_lbytes_str(tdx_buf *b, const char *s)
{
    return tdx_buf_put_lenbytes(b, s ? s : "", s ? strlen(s) : 0);
}

typedef struct rd {
    const uint8_t *p, *end;
    int bad;
} rd;

static inline uint64_t rd_vint(rd *r)
{
    uint64_t v = 0;
    size_t n = r->bad ? 0 : tdx_varint_get(r->p, r->end, &v);
    if (n == 0) {
        r->bad = 1;
        return 0;
    }
    r->p += n;
    return v;
}

static const uint8_t *rd_bytes(rd *r, size_t *out_len)
{
    uint64_t n = rd_vint(r);
    if (r->bad || n > (uint64_t)(r->end - r->p)) {
        r->bad = 1;
        *out_len = 0;
        return (const uint8_t *)"";
    }
    const uint8_t *p = r->p;
    r->p += n;
    *out_len = (size_t)n;
    return p;
}

static uint64_t rd_be64(rd *r)
{
    if (r->bad || r->end - r->p < 8) {
        r->bad = 1;
        return 0;
    }
    uint64_t v = tdx_be64_get(r->p);
    r->p += 8;
    return v;
}

/* ---- open / close ---- */

static int is_dir(const char *p)
{
    struct stat st;
    return stat(p, &st) == 0 && S_ISDIR(st.st_mode);
}

static int open_dbis(tdx_store *s, MDB_txn *txn, unsigned flags, tdx_err *err)
{
    for (int i = 0; i < NDBS; i++) {
        int rc = mdb_dbi_open(txn, db_names[i], i == DB_WORDS ? 0 : flags, &s->dbi[i]);
        if (rc == MDB_NOTFOUND && i == DB_WORDS) {
            /* An index from before the words table: read as it is, the
             * word dictionary walked instead.  A writer creates the table,
             * and it lists nothing until the next merge fills it. */
            s->no_words = !(flags & MDB_CREATE);
            if (s->no_words)
                continue;
            rc = mdb_dbi_open(txn, db_names[i], flags, &s->dbi[i]);
            MDB_val k = mval("words", 5);
            int drc = rc ? 0 : mdb_del(txn, s->dbi[DB_META], &k, NULL);
            if (drc && drc != MDB_NOTFOUND)
                rc = drc;
        }
        if (rc == MDB_NOTFOUND)
            return tdx_err_set(err, TDX_EFORMAT,
                               "'%s' is not a tenderidx index (no '%s' table)", s->path,
                               db_names[i]);
        if (rc)
            return lmdb_err(err, rc, "cannot open index table");
    }
    return 0;
}

/* Data but no "meta" table: another program's environment, which a
 * read-write open must not turn into an index by creating our tables. */
static int foreign_env(MDB_txn *txn)
{
    MDB_dbi dbi;
    MDB_stat ms;
    if (mdb_dbi_open(txn, "meta", 0, &dbi) != MDB_NOTFOUND)
        return 0;
    return mdb_dbi_open(txn, NULL, 0, &dbi) == 0 && mdb_stat(txn, dbi, &ms) == 0 &&
           ms.ms_entries > 0;
}

static int read_counts(MDB_txn *txn, tdx_store *s, counts *c)
{
    memset(c, 0, sizeof *c);
    c->next_doc = 1;
    MDB_val k = mval("counts", 6), v;
    int rc = mdb_get(txn, s->dbi[DB_META], &k, &v);
    if (rc == MDB_NOTFOUND)
        return 0;
    if (rc)
        return rc;
    rd r = {v.mv_data, (const uint8_t *)v.mv_data + v.mv_size, 0};
    c->next_doc = rd_vint(&r);
    c->docs = rd_vint(&r);
    c->deleted = rd_vint(&r);
    c->duplicates = rd_vint(&r);
    c->bytes = rd_vint(&r);
    c->hits = rd_vint(&r);
    c->rejects = rd_vint(&r);
    return r.bad ? MDB_CORRUPTED : 0;
}

static int write_counts(MDB_txn *txn, tdx_store *s, const counts *c)
{
    uint8_t b[7 * TDX_VARINT_MAX];
    size_t n = 0;
    n += tdx_varint_put(b + n, c->next_doc);
    n += tdx_varint_put(b + n, c->docs);
    n += tdx_varint_put(b + n, c->deleted);
    n += tdx_varint_put(b + n, c->duplicates);
    n += tdx_varint_put(b + n, c->bytes);
    n += tdx_varint_put(b + n, c->hits);
    n += tdx_varint_put(b + n, c->rejects);
    MDB_val k = mval("counts", 6), v = mval(b, n);
    return mdb_put(txn, s->dbi[DB_META], &k, &v, 0);
}

static int meta_put_str(MDB_txn *txn, tdx_store *s, const char *name, const char *val)
{
    MDB_val k = mval(name, strlen(name)), v = mval(val, strlen(val));
    return mdb_put(txn, s->dbi[DB_META], &k, &v, 0);
}

/* Current main postings table: "a" unless meta says "b". */
static MDB_dbi main_post(MDB_txn *txn, tdx_store *s)
{
    MDB_val k = mval("post", 4), v;
    if (mdb_get(txn, s->dbi[DB_META], &k, &v) == 0 && v.mv_size == 1 &&
        *(const char *)v.mv_data == 'b')
        return s->dbi[DB_POST_B];
    return s->dbi[DB_POST_A];
}

/* Merge state from meta "merge" into t; 0 when none. */
static int read_merge_state(MDB_txn *txn, tdx_store *s, tdx_rtxn *t)
{
    MDB_val k = mval("merge", 5), v;
    t->merging = 0;
    int rc = mdb_get(txn, s->dbi[DB_META], &k, &v);
    if (rc == MDB_NOTFOUND)
        return 0;
    if (rc)
        return rc;
    const uint8_t *p = v.mv_data;
    if (v.mv_size < 5 || v.mv_size - 5 > sizeof t->split)
        return MDB_CORRUPTED;
    int in_term = p[0] == 'A' || p[0] == 'B'; /* the split names a doc too */
    if (p[0] != 'a' && p[0] != 'b' && !in_term)
        return MDB_CORRUPTED;
    t->merging = 1;
    t->dst = s->dbi[p[0] == 'a' || p[0] == 'A' ? DB_POST_A : DB_POST_B];
    t->seg_max = tdx_be32_get(p + 1);
    t->split_len = v.mv_size - 5;
    memcpy(t->split, p + 5, t->split_len);
    t->split_tlen = t->split_len;
    t->split_doc = 0;
    if (in_term) {
        if (t->split_len < 6 || t->split[t->split_len - 5] != 0)
            return MDB_CORRUPTED;
        t->split_tlen = t->split_len - 5;
        t->split_doc = tdx_be32_get(t->split + t->split_tlen + 1);
        if (t->split_doc == 0)
            return MDB_CORRUPTED;
    }
    return 0;
}

int tdx_store_open(const char *path, const tdx_store_opts *opts, tdx_store **out_store,
                   tdx_err *err)
{
    tdx_store_opts defaults = {0};
    if (opts == NULL)
        opts = &defaults;
    if (path == NULL || *path == 0)
        return tdx_err_set(err, TDX_EINVAL, "no index path given");
    int exists = is_dir(path), made = 0;
    if (!exists) {
        if (!opts->create || opts->readonly)
            return tdx_err_set(err, TDX_ENOTFOUND, "no index at '%s'", path);
        if (mkdir(path, 0777) != 0 && errno != EEXIST)
            return tdx_err_set(err, tdx_err_from_errno(errno), "cannot create index '%s': %s",
                               path, strerror(errno));
        made = 1;
    } else {
        char data[4200];
        snprintf(data, sizeof data, "%s/data.mdb", path);
        struct stat st;
        if (stat(data, &st) != 0) {
            if (!opts->create || opts->readonly)
                return tdx_err_set(err, TDX_ENOTFOUND, "no index at '%s' (no data.mdb)", path);
            /* Creating an index inside a directory full of other things is
             * almost always a mistyped path (an input directory, say). */
            DIR *dir = opendir(path);
            struct dirent *de;
            int other = 0;
            while (dir && (de = readdir(dir)) != NULL)
                if (strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0 &&
                    strcmp(de->d_name, "lock.mdb") != 0)
                    other = 1;
            if (dir)
                closedir(dir);
            if (other)
                return tdx_err_set(err, TDX_EINVAL,
                                   "'%s' is a directory that holds other files, not an index; "
                                   "give a new or empty directory for the index",
                                   path);
        }
    }
    tdx_store *s = tdx_calloc(1, sizeof *s);
    if (s == NULL) {
        if (made)
            rmdir(path); /* a failed open leaves no empty "index" behind */
        return tdx_err_set(err, TDX_ENOMEM, "out of memory");
    }
    snprintf(s->path, sizeof s->path, "%s", path);
    s->readonly = opts->readonly;
    s->map_size = opts->map_size ? opts->map_size : DEFAULT_MAP_SIZE;
    s->merge_chunk = opts->merge_chunk ? opts->merge_chunk : MERGE_CHUNK_BYTES;
    s->pend_max = DEFERRED_BYTES / TDX_STORE_DEFERRED_BYTES_PER_DOC;
    s->pend_stale = 1;
    const char *env_map = getenv("TENDERIDX_MAP_SIZE");
    if (env_map && *env_map && opts->map_size == 0)
        s->map_size = (size_t)strtoull(env_map, NULL, 10);
    /* Tests make merges take many steps on small indexes. */
    const char *env_chunk = getenv("TENDERIDX_MERGE_CHUNK");
    if (env_chunk && *env_chunk && opts->merge_chunk == 0 && strtoull(env_chunk, NULL, 10))
        s->merge_chunk = (size_t)strtoull(env_chunk, NULL, 10);
    int rc = mdb_env_create(&s->env);
    if (rc) {
        tdx_free(s);
        if (made)
            rmdir(path);
        return lmdb_err(err, rc, "cannot create LMDB environment");
    }
    mdb_env_set_maxdbs(s->env, NDBS + 2);
    mdb_env_set_maxreaders(s->env, 256);
    /* A reader opening an index that a writer has grown uses the larger size. */
    struct stat st;
    char data[4200];
    snprintf(data, sizeof data, "%s/data.mdb", path);
    if (stat(data, &st) == 0 && (size_t)st.st_size > s->map_size)
        s->map_size = (size_t)st.st_size;
    mdb_env_set_mapsize(s->env, s->map_size);
    /* MDB_NOMEMINIT: LMDB would zero every page it allocates before filling
     * it (3.5% of a run's CPU, measured); the bytes it leaves unzeroed are
     * this process's own freed heap, which holds the index's own data. */
    unsigned flags =
        MDB_NOTLS | MDB_NOMETASYNC | MDB_NOMEMINIT | (s->readonly ? MDB_RDONLY : 0);
    rc = mdb_env_open(s->env, path, flags, 0666);
    if (rc) {
        int code = lmdb_err(err, rc, "cannot open index");
        if (rc == MDB_INVALID || rc == MDB_VERSION_MISMATCH) {
            tdx_err_clear(err);
            code = tdx_err_set(err, TDX_EFORMAT, "'%s' is not a tenderidx index: %s", path,
                               mdb_strerror(rc));
        }
        mdb_env_close(s->env);
        tdx_free(s);
        return code;
    }
    MDB_envinfo ei;
    mdb_env_info(s->env, &ei);
    s->map_size = ei.me_mapsize;

    MDB_txn *txn;
    rc = mdb_txn_begin(s->env, NULL, s->readonly ? MDB_RDONLY : 0, &txn);
    if (rc) {
        lmdb_err(err, rc, "cannot open index");
        goto fail;
    }
    if (!s->readonly && foreign_env(txn)) {
        mdb_txn_abort(txn);
        tdx_err_set(err, TDX_EFORMAT,
                    "'%s' is not a tenderidx index (an LMDB environment with other data)", path);
        goto fail;
    }
    rc = open_dbis(s, txn, s->readonly ? 0 : MDB_CREATE, err);
    if (rc) {
        mdb_txn_abort(txn);
        goto fail;
    }
    MDB_val k = mval("format", 6), v;
    int grc = mdb_get(txn, s->dbi[DB_META], &k, &v);
    if (grc == MDB_NOTFOUND && !s->readonly) {
        int fmt = opts->format ? opts->format : TDX_STORE_FORMAT;
        if (fmt != 2 && fmt != TDX_STORE_FORMAT) {
            mdb_txn_abort(txn);
            tdx_err_set(err, TDX_EINVAL, "cannot create an index of format %d", fmt);
            goto fail;
        }
        char f[16];
        snprintf(f, sizeof f, "%d", fmt);
        s->ckpt = s->groups = fmt >= 3;
        s->format = fmt;
        grc = meta_put_str(txn, s, "format", f);
        if (grc == 0)
            grc = meta_put_str(txn, s, "post", "a");
        if (grc) {
            mdb_txn_abort(txn);
            lmdb_err(err, grc, "cannot initialize index");
            goto fail;
        }
    } else if (grc) {
        mdb_txn_abort(txn);
        tdx_err_set(err, TDX_EFORMAT, "'%s' is not a tenderidx index (no format record)", path);
        goto fail;
    } else if (v.mv_size == 1 && *(const char *)v.mv_data == '1') {
        /* Format 1 differs only in its segments' layout: without pending
         * segments it is format 2, and is marked so when opened to write. */
        MDB_stat ss;
        grc = mdb_stat(txn, s->dbi[DB_POSTSEG], &ss);
        if (grc == 0 && ss.ms_entries == 0 && !s->readonly)
            grc = meta_put_str(txn, s, "format", "2");
        if (grc || ss.ms_entries) {
            mdb_txn_abort(txn);
            if (grc)
                lmdb_err(err, grc, "cannot open index");
            else
                tdx_err_set(err, TDX_EFORMAT,
                            "index '%s' has format 1 with postings segments not yet merged, "
                            "which this tenderidx cannot read: merge them with the tenderidx "
                            "that wrote it ('tenderidx index -i %s --merge'), or rebuild it",
                            path, path);
            goto fail;
        }
        s->format = 2;
    } else if (v.mv_size == 1 && *(const char *)v.mv_data == '2') {
        s->format = 2; /* read and written as it is: blocks without checkpoints */
    } else if (v.mv_size == 1 && *(const char *)v.mv_data == '3') {
        /* Format 3 is format 4 without shared values in its segments: it is
         * read as it is, and marked 4 when opened to write (the next batch
         * may write them, which a tenderidx of format 3 cannot read). */
        s->ckpt = 1;
        s->format = 3;
        if (!s->readonly) {
            grc = meta_put_str(txn, s, "format", "4");
            if (grc) {
                mdb_txn_abort(txn);
                lmdb_err(err, grc, "cannot open index");
                goto fail;
            }
            s->groups = 1;
            s->format = 4;
        }
    } else if (v.mv_size != 1 || *(const char *)v.mv_data != '0' + TDX_STORE_FORMAT) {
        mdb_txn_abort(txn);
        tdx_err_set(err, TDX_EFORMAT,
                    "index '%s' has format '%.*s'; this tenderidx reads formats 2 to %d", path,
                    (int)v.mv_size, (const char *)v.mv_data, TDX_STORE_FORMAT);
        goto fail;
    } else {
        s->ckpt = s->groups = 1;
        s->format = TDX_STORE_FORMAT;
    }
    rc = mdb_txn_commit(txn);
    if (rc) {
        lmdb_err(err, rc, "cannot open index");
        goto fail;
    }
    *out_store = s;
    return 0;
fail:
    mdb_env_close(s->env);
    tdx_free(s);
    return err && err->code ? err->code : TDX_EIO;
}

void tdx_store_close(tdx_store *s)
{
    if (s == NULL)
        return;
    mprod_stop(s);
    if (s->group)
        mdb_txn_abort(s->group);
    mdb_env_close(s->env);
    tdx_hashset_free(&s->hp);
    tdx_hashset_free(&s->kp);
    tdx_buf_free(&s->karena);
    tdx_free(s);
}

int tdx_store_sync(tdx_store *s, tdx_err *err)
{
    int rc = mdb_env_sync(s->env, 1);
    return rc ? lmdb_err(err, disk_full_rc(s->path, rc), "cannot flush index") : 0;
}

/* ---- schema ---- */

static void hex64(uint64_t v, char out[17])
{
    snprintf(out, 17, "%016" PRIx64, v);
}

static int meta_eq(MDB_txn *txn, tdx_store *s, const char *name, const char *want, char *got,
                   size_t cap)
{
    MDB_val k = mval(name, strlen(name)), v;
    if (mdb_get(txn, s->dbi[DB_META], &k, &v) != 0) {
        snprintf(got, cap, "(none)");
        return 0;
    }
    snprintf(got, cap, "%.*s", (int)v.mv_size, (const char *)v.mv_data);
    return strlen(want) == v.mv_size && memcmp(want, v.mv_data, v.mv_size) == 0;
}

static int write_schema(MDB_txn *txn, tdx_store *s, const tdx_store_schema *sc)
{
    char h[17];
    hex64(sc->wl_hash, h);
    uint8_t steps[TDX_VARINT_MAX];
    MDB_val k = mval("norm_steps", 10), v = mval(steps, tdx_varint_put(steps, sc->norm_steps));
    int rc = mdb_put(txn, s->dbi[DB_META], &k, &v, 0);
    if (rc == 0)
        rc = meta_put_str(txn, s, "normalizer", sc->normalizer);
    if (rc == 0)
        rc = meta_put_str(txn, s, "grams", sc->grams ? "1" : "0");
    if (rc == 0 && sc->grams)
        rc = meta_put_str(txn, s, "trigrams", "1");
    if (rc == 0)
        rc = meta_put_str(txn, s, "wl_hash", h);
    if (rc == 0)
        rc = meta_put_str(txn, s, "wl_source", sc->wl_source ? sc->wl_source : "");
    tdx_buf b = TDX_BUF_INIT;
    for (size_t i = 0; rc == 0 && i < sc->npatterns; i++) {
        const tdx_store_pattern *p = &sc->patterns[i];
        tdx_buf_reset(&b);
        int e = tdx_buf_put_varint(&b, p->entity) | tdx_buf_put_varint(&b, p->category) |
                tdx_buf_put_varint(&b, p->flags) | tdx_buf_put_varint(&b, p->line) |
                put_lbytes_str(&b, p->text) | put_lbytes_str(&b, p->norm);
        if (e) {
            rc = ENOMEM;
            break;
        }
        uint8_t kb[4];
        tdx_be32_put(kb, (uint32_t)i);
        k = mval(kb, 4);
        v = mval(b.p, b.len);
        rc = mdb_put(txn, s->dbi[DB_PATTERNS], &k, &v, MDB_APPEND);
    }
    for (size_t i = 0; rc == 0 && i < sc->nentities; i++) {
        tdx_buf_reset(&b);
        if (tdx_buf_put_varint(&b, sc->entity_category[i]) ||
            tdx_buf_puts(&b, sc->entities[i])) {
            rc = ENOMEM;
            break;
        }
        uint8_t kb[4];
        tdx_be32_put(kb, (uint32_t)i);
        k = mval(kb, 4);
        v = mval(b.p, b.len);
        rc = mdb_put(txn, s->dbi[DB_ENTITIES], &k, &v, MDB_APPEND);
    }
    for (size_t i = 0; rc == 0 && i < sc->ncategories; i++) {
        uint8_t kb[4];
        tdx_be32_put(kb, (uint32_t)i);
        k = mval(kb, 4);
        v = mval(sc->categories[i], strlen(sc->categories[i]));
        rc = mdb_put(txn, s->dbi[DB_CATEGORIES], &k, &v, MDB_APPEND);
    }
    tdx_buf_free(&b);
    return rc;
}

int tdx_store_setup(tdx_store *s, const tdx_store_schema *sc, tdx_err *err)
{
    if (s->readonly)
        return tdx_err_set(err, TDX_EINVAL, "index opened read-only");
    MDB_txn *txn;
    int rc = write_begin(s, &txn);
    if (rc)
        return lmdb_err(err, rc, "cannot begin write");
    MDB_val k = mval("normalizer", 10), v;
    if (mdb_get(txn, s->dbi[DB_META], &k, &v) == MDB_NOTFOUND) {
        rc = write_schema(txn, s, sc);
        if (rc == 0)
            rc = mdb_txn_commit(txn);
        else
            mdb_txn_abort(txn);
        return rc ? lmdb_err(err, rc, "cannot record the index settings") : 0;
    }
    char got[512], h[17];
    int code = 0;
    if (!meta_eq(txn, s, "normalizer", sc->normalizer, got, sizeof got)) {
        code = tdx_err_set(err, TDX_EFORMAT,
                           "index '%s' was built with normalizer '%s'; this run uses '%s' "
                           "(a different --normalize setting or ICU version); use the same "
                           "setting or build a new index",
                           s->path, got, sc->normalizer);
    } else if (!meta_eq(txn, s, "grams", sc->grams ? "1" : "0", got, sizeof got)) {
        code = tdx_err_set(err, TDX_EFORMAT,
                           "index '%s' was built %s; this run asks for %s", s->path,
                           got[0] == '1' ? "with the gram index" : "entity-only (--no-grams)",
                           sc->grams ? "the gram index" : "entity-only (--no-grams)");
    } else {
        hex64(sc->wl_hash, h);
        if (!meta_eq(txn, s, "wl_hash", h, got, sizeof got)) {
            char src[1024];
            meta_eq(txn, s, "wl_source", "", src, sizeof src);
            code = tdx_err_set(err, TDX_EFORMAT,
                               "index '%s' was built with a different watch list ('%s', hash "
                               "%s; this one hashes to %s): documents already indexed would "
                               "not be matched against the new names; build a new index with "
                               "the new watch list",
                               s->path, src, got, h);
        }
    }
    mdb_txn_abort(txn);
    return code;
}

/* ---- compression ---- */

#define TEXT_LEVEL 3
#define DICT_BYTES (112 * 1024)

static int make_dict(const void *bytes, size_t len, tdx_store_dict **out_d)
{
    tdx_store_dict *d = tdx_calloc(1, sizeof *d);
    if (d == NULL)
        return TDX_ENOMEM;
    d->bytes = tdx_malloc(len);
    if (d->bytes == NULL) {
        tdx_free(d);
        return TDX_ENOMEM;
    }
    memcpy(d->bytes, bytes, len);
    d->len = len;
    d->cdict = ZSTD_createCDict(d->bytes, d->len, TEXT_LEVEL);
    if (d->cdict == NULL) {
        tdx_store_dict_free(d);
        return TDX_ENOMEM;
    }
    *out_d = d;
    return 0;
}

void tdx_store_dict_free(tdx_store_dict *d)
{
    if (d == NULL)
        return;
    ZSTD_freeCDict(d->cdict);
    tdx_free(d->bytes);
    tdx_free(d);
}

int tdx_store_dict_train(const uint8_t *samples, const size_t *sizes, unsigned n,
                         tdx_store_dict **out_d, tdx_err *err)
{
    size_t total = 0;
    for (unsigned i = 0; i < n; i++)
        total += sizes[i];
    /* zstd wants many samples and about 100x the dictionary size in all. */
    if (n < 16 || total < 8 * DICT_BYTES)
        return tdx_err_set(err, TDX_ENOTFOUND, "too little text to train a dictionary");
    void *buf = tdx_malloc(DICT_BYTES);
    if (buf == NULL)
        return tdx_err_set(err, TDX_ENOMEM, "out of memory");
    ZDICT_fastCover_params_t p;
    memset(&p, 0, sizeof p);
    p.d = 8;
    p.k = 200;
    p.steps = 4;
    p.zParams.compressionLevel = TEXT_LEVEL;
    size_t r = ZDICT_optimizeTrainFromBuffer_fastCover(buf, DICT_BYTES, samples, sizes, n, &p);
    int rc;
    if (ZDICT_isError(r))
        rc = tdx_err_set(err, TDX_ENOTFOUND, "cannot train a dictionary: %s",
                         ZDICT_getErrorName(r));
    else if ((rc = make_dict(buf, r, out_d)) != 0)
        tdx_err_set(err, rc, "out of memory");
    tdx_free(buf);
    return rc;
}

int tdx_store_dict_load(tdx_store *s, tdx_store_dict **out_d, tdx_err *err)
{
    MDB_txn *txn;
    int rc = mdb_txn_begin(s->env, NULL, MDB_RDONLY, &txn);
    if (rc)
        return lmdb_err(err, rc, "cannot read index");
    MDB_val k = mval("zdict", 5), v;
    rc = mdb_get(txn, s->dbi[DB_META], &k, &v);
    if (rc == MDB_NOTFOUND) {
        mdb_txn_abort(txn);
        return TDX_ENOTFOUND;
    }
    if (rc) {
        mdb_txn_abort(txn);
        return lmdb_err(err, rc, "cannot read the text dictionary");
    }
    rc = make_dict(v.mv_data, v.mv_size, out_d);
    mdb_txn_abort(txn);
    return rc ? tdx_err_set(err, rc, "out of memory") : 0;
}

int tdx_store_zctx_create(const tdx_store_dict *d, tdx_store_zctx **out_z)
{
    tdx_store_zctx *z = tdx_calloc(1, sizeof *z);
    if (z == NULL)
        return TDX_ENOMEM;
    z->cctx = ZSTD_createCCtx();
    if (z->cctx == NULL) {
        tdx_free(z);
        return TDX_ENOMEM;
    }
    ZSTD_CCtx_setParameter(z->cctx, ZSTD_c_compressionLevel, TEXT_LEVEL);
    ZSTD_CCtx_setParameter(z->cctx, ZSTD_c_checksumFlag, 1);
    if (d)
        ZSTD_CCtx_refCDict(z->cctx, d->cdict);
    *out_z = z;
    return 0;
}

void tdx_store_zctx_free(tdx_store_zctx *z)
{
    if (z == NULL)
        return;
    ZSTD_freeCCtx(z->cctx);
    tdx_free(z);
}

int tdx_store_compress(tdx_store_zctx *z, const uint8_t *text, size_t len, tdx_buf *out,
                       tdx_err *err)
{
    tdx_buf_reset(out);
    size_t bound = ZSTD_compressBound(len);
    if (tdx_buf_grow(out, bound))
        return tdx_err_set(err, TDX_ENOMEM, "out of memory");
    size_t n = ZSTD_compress2(z->cctx, out->p, bound, text, len);
    if (ZSTD_isError(n))
        return tdx_err_set(err, TDX_EINTERNAL, "zstd: %s", ZSTD_getErrorName(n));
    out->len = n;
    return 0;
}

/* ---- writing a batch ---- */

static int encode_doc(tdx_buf *b, const tdx_store_doc *d)
{
    int e = tdx_buf_put_varint(b, 1);
    e |= put_lbytes_str(b, d->key);
    e |= put_lbytes_str(b, d->source);
    e |= put_lbytes_str(b, d->title);
    e |= put_lbytes_str(b, d->date);
    e |= put_lbytes_str(b, d->url);
    e |= put_lbytes_str(b, d->format);
    e |= put_lbytes_str(b, d->encoding);
    e |= tdx_buf_put_varint(b, d->line);
    e |= tdx_buf_put_varint(b, d->offset);
    e |= tdx_buf_put_varint(b, d->text_len);
    e |= tdx_buf_put_varint(b, d->invalid);
    e |= tdx_buf_put_varint(b, d->date_ymd);
    e |= tdx_buf_put_varint(b, d->nhits);
    uint8_t h[16];
    tdx_be64_put(h, d->hash[0]);
    tdx_be64_put(h + 8, d->hash[1]);
    e |= tdx_buf_append(b, h, 16);
    e |= tdx_buf_put_varint(b, d->nmeta);
    for (size_t i = 0; i < d->nmeta; i++) {
        e |= put_lbytes_str(b, d->meta[i].key);
        e |= put_lbytes_str(b, d->meta[i].val);
    }
    return e ? TDX_ENOMEM : 0;
}

static int encode_hits(tdx_buf *b, const tdx_store_hit *h, size_t n)
{
    int e = tdx_buf_put_varint(b, n);
    uint32_t pn = 0, po = 0;
    for (size_t i = 0; i < n; i++) {
        e |= tdx_buf_put_varint(b, h[i].pattern);
        e |= tdx_buf_put_varint(b, h[i].nstart - pn);
        e |= tdx_buf_put_varint(b, h[i].nend - h[i].nstart);
        e |= tdx_buf_put_varint(b, h[i].ostart - po);
        e |= tdx_buf_put_varint(b, h[i].oend - h[i].ostart);
        pn = h[i].nstart;
        po = h[i].ostart;
    }
    return e ? TDX_ENOMEM : 0;
}

static int decode_doc(const MDB_val *v, uint32_t id, tdx_store_docinfo *d)
{
    rd r = {v->mv_data, (const uint8_t *)v->mv_data + v->mv_size, 0};
    memset(d, 0, sizeof *d);
    d->id = id;
    if (rd_vint(&r) != 1)
        return TDX_ECORRUPT;
    d->key = (const char *)rd_bytes(&r, &d->key_len);
    d->source = (const char *)rd_bytes(&r, &d->source_len);
    d->title = (const char *)rd_bytes(&r, &d->title_len);
    d->date = (const char *)rd_bytes(&r, &d->date_len);
    d->url = (const char *)rd_bytes(&r, &d->url_len);
    d->format = (const char *)rd_bytes(&r, &d->format_len);
    d->encoding = (const char *)rd_bytes(&r, &d->encoding_len);
    d->line = rd_vint(&r);
    d->offset = rd_vint(&r);
    d->text_len = rd_vint(&r);
    d->invalid = rd_vint(&r);
    d->date_ymd = (uint32_t)rd_vint(&r);
    d->nhits = (uint32_t)rd_vint(&r);
    d->hash[0] = rd_be64(&r);
    d->hash[1] = rd_be64(&r);
    d->nmeta = (size_t)rd_vint(&r);
    d->meta = r.p;
    d->meta_end = r.end;
    if (r.bad)
        return TDX_ECORRUPT;
    /* Validate the metadata list now so walkers cannot run off the end. */
    for (size_t i = 0; i < d->nmeta && !r.bad; i++) {
        size_t l;
        rd_bytes(&r, &l);
        rd_bytes(&r, &l);
    }
    return r.bad || r.p != r.end ? TDX_ECORRUPT : 0;
}

int tdx_store_meta_next(const tdx_store_docinfo *d, const uint8_t **pos, tdx_span *out_k,
                        tdx_span *out_v)
{
    if (*pos >= d->meta_end)
        return 0;
    rd r = {*pos, d->meta_end, 0};
    out_k->p = rd_bytes(&r, &out_k->len);
    out_v->p = rd_bytes(&r, &out_v->len);
    if (r.bad)
        return 0;
    *pos = r.p;
    return 1;
}

/* The record of document id; only its numbers may be used, its strings
 * point into the transaction and die with the next write. */
static int get_doc_record(MDB_txn *txn, tdx_store *s, uint32_t id, tdx_store_docinfo *out)
{
    uint8_t kb[4];
    tdx_be32_put(kb, id);
    MDB_val k = mval(kb, 4), v;
    int rc = mdb_get(txn, s->dbi[DB_DOCS], &k, &v);
    if (rc)
        return rc;
    return decode_doc(&v, id, out) ? MDB_CORRUPTED : 0;
}

/* Date block blk (1,024 ids) into block: zeros when it is not written yet. */
static int dates_get(MDB_txn *txn, tdx_store *s, uint32_t blk, uint8_t *block)
{
    uint8_t kb[4];
    tdx_be32_put(kb, blk);
    MDB_val k = mval(kb, 4), v;
    int rc = mdb_get(txn, s->dbi[DB_DATES], &k, &v);
    if (rc == MDB_NOTFOUND) {
        memset(block, 0, DATES_PER_BLOCK * 4);
        return 0;
    }
    if (rc == 0 && v.mv_size != DATES_PER_BLOCK * 4)
        return MDB_CORRUPTED;
    if (rc == 0)
        memcpy(block, v.mv_data, DATES_PER_BLOCK * 4);
    return rc;
}

static int dates_put(MDB_txn *txn, tdx_store *s, uint32_t blk, const uint8_t *block)
{
    uint8_t kb[4];
    tdx_be32_put(kb, blk);
    MDB_val k = mval(kb, 4), v = mval(block, DATES_PER_BLOCK * 4);
    return mdb_put(txn, s->dbi[DB_DATES], &k, &v, 0);
}

/* The dates of a batch's new documents (ids ascending; remap[i] = 0 for a
 * document not added): one read and one write per block of ids. */
static int set_dates(MDB_txn *txn, tdx_store *s, const tdx_store_batch *b,
                     const uint32_t *remap)
{
    uint8_t block[DATES_PER_BLOCK * 4];
    uint32_t cur = UINT32_MAX; /* block number in hand */
    int rc = 0;
    for (size_t i = 0; rc == 0 && i < b->ndocs; i++) {
        uint32_t id = remap[i];
        if (id == 0 || b->docs[i].date_ymd == 0)
            continue;
        uint32_t blk = id / DATES_PER_BLOCK;
        if (blk != cur) {
            if (cur != UINT32_MAX)
                rc = dates_put(txn, s, cur, block);
            if (rc == 0)
                rc = dates_get(txn, s, blk, block);
            cur = blk;
        }
        tdx_be32_put(block + (id % DATES_PER_BLOCK) * 4, b->docs[i].date_ymd);
    }
    if (rc == 0 && cur != UINT32_MAX)
        rc = dates_put(txn, s, cur, block);
    return rc;
}

typedef struct writer_state {
    tdx_buf rec, key;
    size_t written; /* bytes of stored text and postings the batch put */
    uint32_t *remap;
    /* one term's kept entries: ids, and payload ends when some were dropped */
    uint32_t *ids, *ends;
    size_t cap_ids, cap_ends;
    tdx_buf pay;
} writer_state;

/* Where blocks go: appended to an LMDB tree, or (the merge's producer) to
 * a buffer the writer applies later.  `ref` set: the value lies in a read
 * snapshot that outlives the buffer's use, and only its place is kept. */
typedef struct block_sink {
    int (*put)(struct block_sink *k, const MDB_val *key, const MDB_val *val, int ref);
    MDB_txn *txn;
    MDB_dbi dbi;
    tdx_buf *buf;
    size_t written; /* bytes of keys and values put */
    int ckpt;       /* positional blocks get checkpoints (format 3) */
    size_t nput;    /* blocks put */
} block_sink;

static int sink_lmdb(block_sink *k, const MDB_val *key, const MDB_val *val, int ref)
{
    (void)ref;
    return mdb_put(k->txn, k->dbi, (MDB_val *)key, (MDB_val *)val, MDB_APPEND);
}

/* Records: vint key length, key, vint (value length << 1 | ref), then the
 * value's bytes, or (ref) its address. */
static int sink_buf(block_sink *k, const MDB_val *key, const MDB_val *val, int ref)
{
    tdx_buf *b = k->buf;
    const void *at = val->mv_data;
    if (tdx_buf_put_varint(b, key->mv_size) || tdx_buf_append(b, key->mv_data, key->mv_size) ||
        tdx_buf_put_varint(b, (uint64_t)val->mv_size << 1 | (ref != 0)) ||
        (ref ? tdx_buf_append(b, &at, sizeof at) : tdx_buf_append(b, at, val->mv_size)))
        return ENOMEM;
    return 0;
}

static int sink_put(block_sink *k, const MDB_val *key, const MDB_val *val, int ref)
{
    int rc = k->put(k, key, val, ref);
    if (rc == 0) {
        k->written += key->mv_size + val->mv_size;
        k->nput++;
    }
    return rc;
}

/* A sink that only counts: put_blocks leaves the last block in its buffer. */
static int sink_count(block_sink *k, const MDB_val *key, const MDB_val *val, int ref)
{
    (void)k, (void)key, (void)val, (void)ref;
    return 0;
}

/*
 * Put one term's entries into the sink as postings blocks, in key order: key
 * prefix (the segment id, or nothing) term 0x00 be32(first doc), value a
 * block (vint n, n-1 doc deltas, in format 3 the checkpoints of a positional
 * block, the entries' positions back to back).
 * Entry i's payload is pay[(i ? ends[i-1] : begin) .. ends[i]).  A block
 * takes at most POST_BLOCK_MAX docs and, past its first entry, at most
 * POST_BLOCK_BYTES of value; the cut is made from the payload lengths, so
 * positions are copied, never read.  Both the segments a batch writes and
 * the main tree the merge writes are cut here, so the merge can copy a
 * segment's full blocks as they are.  An LMDB code, or ENOMEM.
 */
static int put_blocks(block_sink *sink, const uint8_t *prefix, size_t plen, const uint8_t *term,
                      size_t tlen, const uint32_t *docs, size_t ndocs, const uint8_t *pay,
                      uint32_t begin, const uint32_t *ends, tdx_buf *val)
{
    uint8_t kb[4 + 512 + 5];
    if (plen + tlen > 4 + 512)
        return MDB_BAD_VALSIZE;
    if (plen)
        memcpy(kb, prefix, plen);
    memcpy(kb + plen, term, tlen);
    kb[plen + tlen] = 0;
    size_t kl = plen + tlen + 5;
    int ck = sink->ckpt && tdx_term_positional(term[0]);
    size_t i = 0;
    while (i < ndocs) {
        /* Count what fits, then encode.  group: the payload bytes of the
         * entries since the last multiple of POST_CK, whose checkpoint the
         * next entry adds. */
        size_t n = 0, bytes = TDX_VARINT_MAX, group = 0;
        uint32_t at = i ? ends[i - 1] : begin;
        while (i + n < ndocs && n < POST_BLOCK_MAX) {
            size_t e = i + n;
            size_t pl = ends[e] - (e ? ends[e - 1] : begin);
            int opens = n % POST_CK == 0;
            size_t add = (n ? tdx_varint_len(docs[e] - docs[e - 1]) : 0) + pl;
            if (ck && n && opens)
                add += tdx_varint_len(group);
            if (n && bytes + add > POST_BLOCK_BYTES)
                break;
            bytes += add;
            group = opens ? pl : group + pl;
            n++;
        }
        uint32_t pend = ends[i + n - 1];
        size_t nck = ck ? (n - 1) / POST_CK : 0;
        tdx_buf_reset(val);
        if (tdx_buf_grow(val, (n + nck) * TDX_VARINT_MAX + (pend - at)))
            return ENOMEM;
        uint8_t *w = val->p;
        w += tdx_varint_put(w, n);
        for (size_t j = 1; j < n; j++)
            w += tdx_varint_put(w, docs[i + j] - docs[i + j - 1]);
        for (size_t j = 0; j < nck; j++) {
            size_t g0 = i + j * POST_CK, g1 = g0 + POST_CK - 1;
            w += tdx_varint_put(w, ends[g1] - (g0 ? ends[g0 - 1] : begin));
        }
        /* The block's positions are contiguous: one copy. */
        if (pend > at)
            memcpy(w, pay + at, pend - at);
        val->len = (size_t)(w - val->p) + (pend - at);
        tdx_be32_put(kb + plen + tlen + 1, docs[i]);
        MDB_val k = mval(kb, kl), v = mval(val->p, val->len);
        int rc = sink_put(sink, &k, &v, 0);
        if (rc)
            return rc;
        i += n;
    }
    return 0;
}

/*
 * A segment's shared values as they are written (format 4): the terms
 * whose list is one block of at most GROUP_DOCS docs and GROUP_ENTRY_BYTES
 * bytes, in term order, packed into values of up to POST_BLOCK_BYTES.
 * Measured on 268 MB of prose, one key a term made the segments 9.1M
 * keys, and LMDB's work per put a third of the write stage; shared values
 * made them 1.05M (engine/README, "A segment's short lists share values").
 */
#define GROUP_DOCS        16
#define GROUP_ENTRY_BYTES 512
/* Every GROUP_RESTART-th entry of a shared value names its term in full,
 * and the value ends with their offsets: a lookup searches them, then
 * reads at most GROUP_RESTART entries (a lookup that misses the term,
 * which is most of them with many segments pending, read half the value
 * on average, and fragment queries make thousands). */
#define GROUP_RESTART      16
#define GROUP_MAX_RESTARTS (POST_BLOCK_BYTES / GROUP_RESTART)

typedef struct seg_group {
    block_sink *out;
    uint32_t seg;
    tdx_buf val;              /* the entries so far */
    uint8_t key[4 + 512 + 5]; /* the value's key: seg, its first term, 0x00, be32(0) */
    size_t klen;
    uint8_t last[512]; /* the last entry's term */
    size_t last_len;
    size_t n;                                 /* entries */
    uint16_t restart[GROUP_MAX_RESTARTS + 1]; /* offsets of entries 0, 16, 32, ... */
} seg_group;

/* Put the value being filled, if any: 0 or an LMDB code. */
static int group_flush(seg_group *g)
{
    if (g->val.len == 0)
        return 0;
    /* The restarts' offsets and their number close the value. */
    size_t nr = (g->n + GROUP_RESTART - 1) / GROUP_RESTART;
    if (tdx_buf_grow(&g->val, 2 * nr + 2))
        return ENOMEM;
    uint8_t *w = g->val.p + g->val.len;
    for (size_t i = 0; i < nr; i++, w += 2)
        tdx_be16_put(w, g->restart[i]);
    tdx_be16_put(w, (uint16_t)nr);
    g->val.len += 2 * nr + 2;
    g->n = 0;
    MDB_val k = mval(g->key, g->klen), v = mval(g->val.p, g->val.len);
    int rc = sink_put(g->out, &k, &v, 0);
    tdx_buf_reset(&g->val);
    return rc;
}

/* Add a term's one block (first doc `first`) as an entry: 0, ENOMEM or an
 * LMDB code. */
static int group_add(seg_group *g, const uint8_t *term, size_t tlen, uint32_t first,
                     const tdx_buf *blk)
{
    /* The entry, and the restart's offset it may add and the count. */
    size_t shared = 0, add = 4 * TDX_VARINT_MAX + tlen + blk->len + 4;
    size_t tail = 2 * ((g->n + GROUP_RESTART - 1) / GROUP_RESTART);
    if (g->val.len && g->val.len + tail + add > POST_BLOCK_BYTES) {
        int rc = group_flush(g);
        if (rc)
            return rc;
    }
    if (g->val.len == 0) {
        tdx_be32_put(g->key, g->seg);
        memcpy(g->key + 4, term, tlen);
        g->key[4 + tlen] = 0;
        tdx_be32_put(g->key + 5 + tlen, 0);
        g->klen = tlen + 9;
        shared = tlen; /* the first entry's term is the key's */
    } else if (g->n % GROUP_RESTART) {
        while (shared < tlen && shared < g->last_len && term[shared] == g->last[shared])
            shared++;
    }
    if (g->n % GROUP_RESTART == 0)
        g->restart[g->n / GROUP_RESTART] = (uint16_t)g->val.len;
    g->n++;
    if (tdx_buf_grow(&g->val, add))
        return ENOMEM;
    uint8_t *w = g->val.p + g->val.len;
    w += tdx_varint_put(w, shared);
    w += tdx_varint_put(w, tlen - shared);
    memcpy(w, term + shared, tlen - shared);
    w += tlen - shared;
    w += tdx_varint_put(w, first - g->seg);
    w += tdx_varint_put(w, blk->len);
    memcpy(w, blk->p, blk->len);
    w += blk->len;
    g->val.len = (size_t)(w - g->val.p);
    memcpy(g->last, term, tlen);
    g->last_len = tlen;
    return 0;
}

/* A term's entries into the segment: an entry of the shared value when
 * short (g->out NULL: never), else blocks of their own.  put_blocks's
 * arguments; 0, ENOMEM or an LMDB code. */
static int put_seg_term(seg_group *g, block_sink *sink, const uint8_t *segkey, const uint8_t *term,
                        size_t tlen, const uint32_t *docs, size_t ndocs, const uint8_t *pay,
                        uint32_t begin, const uint32_t *ends, tdx_buf *val)
{
    int rc;
    if (g->out && ndocs <= GROUP_DOCS) {
        block_sink one = {sink_count, NULL, 0, NULL, 0, sink->ckpt, 0};
        rc = put_blocks(&one, segkey, 4, term, tlen, docs, ndocs, pay, begin, ends, val);
        if (rc == 0 && one.nput == 1 && val->len <= GROUP_ENTRY_BYTES)
            return group_add(g, term, tlen, docs[0], val);
        if (rc)
            return rc;
    }
    if ((rc = group_flush(g)) != 0)
        return rc;
    return put_blocks(sink, segkey, 4, term, tlen, docs, ndocs, pay, begin, ends, val);
}

static int put_input(MDB_txn *txn, tdx_store *s, const tdx_store_input *in)
{
    uint8_t b[4 * TDX_VARINT_MAX + 1];
    size_t n = 0;
    n += tdx_varint_put(b + n, in->size);
    uint64_t zz = ((uint64_t)in->mtime << 1) ^ (uint64_t)(in->mtime >> 63);
    n += tdx_varint_put(b + n, zz);
    n += tdx_varint_put(b + n, in->records);
    b[n++] = in->complete ? 1 : 0;
    MDB_val k = mval(in->path, strlen(in->path)), v = mval(b, n);
    if (k.mv_size == 0 || k.mv_size > 511)
        return 0; /* LMDB key limit: such inputs are simply re-read next time */
    return mdb_put(txn, s->dbi[DB_INPUTS], &k, &v, 0);
}

static int dups_key(tdx_buf *b, uint32_t id, const void *key, size_t klen)
{
    tdx_buf_reset(b);
    int e = tdx_buf_put_be32(b, id);
    return e ? e : tdx_buf_append(b, key, klen);
}

/*
 * Doc `id` loses its own key (replaced with other content).  If other keys
 * were recorded as duplicates of it, the first of them takes the document
 * over: same text, its key now; otherwise the document becomes a
 * tombstone.  *out_kept is 1 when the document stays live.
 */
static int hand_over_or_tombstone(MDB_txn *txn, tdx_store *s, uint32_t id, writer_state *w,
                                  int *out_kept)
{
    *out_kept = 0;
    MDB_cursor *c;
    int rc = mdb_cursor_open(txn, s->dbi[DB_DUPS], &c);
    if (rc)
        return rc;
    uint8_t pk[4];
    tdx_be32_put(pk, id);
    MDB_val k = mval(pk, 4), v;
    rc = mdb_cursor_get(c, &k, &v, MDB_SET_RANGE);
    if (rc == 0 && k.mv_size > 4 && memcmp(k.mv_data, pk, 4) == 0) {
        /* Rewrite the record with the new key: version, then the key field. */
        tdx_buf_reset(&w->key);
        if (tdx_buf_append(&w->key, (const uint8_t *)k.mv_data + 4, k.mv_size - 4)) {
            mdb_cursor_close(c);
            return ENOMEM;
        }
        rc = mdb_cursor_del(c, 0);
        mdb_cursor_close(c);
        MDB_val dk = mval(pk, 4), dv;
        if (rc == 0)
            rc = mdb_get(txn, s->dbi[DB_DOCS], &dk, &dv);
        if (rc)
            return rc == MDB_NOTFOUND ? MDB_CORRUPTED : rc;
        rd r = {dv.mv_data, (const uint8_t *)dv.mv_data + dv.mv_size, 0};
        size_t ol;
        if (rd_vint(&r) != 1)
            return MDB_CORRUPTED;
        rd_bytes(&r, &ol);
        if (r.bad)
            return MDB_CORRUPTED;
        tdx_buf_reset(&w->rec);
        if (tdx_buf_put_varint(&w->rec, 1) ||
            tdx_buf_put_lenbytes(&w->rec, w->key.p, w->key.len) ||
            tdx_buf_append(&w->rec, r.p, (size_t)(r.end - r.p)))
            return ENOMEM;
        MDB_val nv = mval(w->rec.p, w->rec.len);
        rc = mdb_put(txn, s->dbi[DB_DOCS], &dk, &nv, 0);
        uint8_t kv[5];
        memcpy(kv, pk, 4);
        kv[4] = 0;
        MDB_val kk = mval(w->key.p, w->key.len), kvv = mval(kv, 5);
        if (rc == 0)
            rc = mdb_put(txn, s->dbi[DB_KEYS], &kk, &kvv, 0);
        *out_kept = rc == 0;
        return rc;
    }
    mdb_cursor_close(c);
    if (rc && rc != MDB_NOTFOUND)
        return rc;
    MDB_val okv = mval(pk, 4), empty = mval("", 0);
    return mdb_put(txn, s->dbi[DB_DELETED], &okv, &empty, 0);
}

/* ---- keys and content hashes not yet in their tables ---- */

/* The mark in this transaction: meta "deferred", or next_doc when absent
 * (then every live document's key and hash are in their tables). */
static int read_pend_mark(MDB_txn *txn, tdx_store *s, uint64_t next_doc, uint64_t *out)
{
    MDB_val k = mval("deferred", 8), v;
    int rc = mdb_get(txn, s->dbi[DB_META], &k, &v);
    *out = next_doc;
    if (rc)
        return rc == MDB_NOTFOUND ? 0 : rc;
    rd r = {v.mv_data, (const uint8_t *)v.mv_data + v.mv_size, 0};
    *out = rd_vint(&r);
    return r.bad || r.p != r.end || *out == 0 || *out > next_doc ? MDB_CORRUPTED : 0;
}

static int write_pend_mark(MDB_txn *txn, tdx_store *s)
{
    uint8_t b[TDX_VARINT_MAX];
    MDB_val k = mval("deferred", 8), v = mval(b, tdx_varint_put(b, s->pend_mark));
    return mdb_put(txn, s->dbi[DB_META], &k, &v, 0);
}

/* A new document's key into the set and the arena; 0 or ENOMEM. */
static int kp_add(tdx_store *s, const uint64_t kh[2], uint32_t id, const void *key, size_t klen)
{
    uint8_t h[6];
    tdx_be32_put(h, id);
    h[4] = (uint8_t)(klen >> 8);
    h[5] = (uint8_t)klen;
    if (tdx_hashset_add(&s->kp, kh, id) || tdx_buf_append(&s->karena, h, 6) ||
        tdx_buf_append(&s->karena, key, klen))
        return ENOMEM;
    return 0;
}

typedef int (*live_fn)(void *ctx, uint32_t id, const tdx_store_docinfo *d);

/* The live documents from doc id `from` on, in id order, their records
 * decoded (the documents whose keys and hashes may wait in the writer's
 * sets, from the mark on).  fn's nonzero code stops the walk and is
 * returned; else 0 or an LMDB code. */
static int walk_live_from(MDB_txn *txn, tdx_store *s, uint64_t from, live_fn fn, void *ctx)
{
    MDB_cursor *cur;
    int rc = mdb_cursor_open(txn, s->dbi[DB_DOCS], &cur);
    if (rc)
        return rc;
    uint8_t kb[4];
    tdx_be32_put(kb, (uint32_t)from);
    MDB_val k = mval(kb, 4), v;
    for (rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE); rc == 0;
         rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
        if (k.mv_size != 4) {
            rc = MDB_CORRUPTED;
            break;
        }
        uint32_t id = tdx_be32_get(k.mv_data);
        MDB_val dk = k, dv;
        rc = mdb_get(txn, s->dbi[DB_DELETED], &dk, &dv);
        if (rc == 0)
            continue;
        tdx_store_docinfo d;
        if (rc != MDB_NOTFOUND)
            break;
        if (decode_doc(&v, id, &d)) {
            rc = MDB_CORRUPTED;
            break;
        }
        rc = fn(ctx, id, &d);
        if (rc)
            break;
    }
    mdb_cursor_close(cur);
    return rc == MDB_NOTFOUND ? 0 : rc;
}

static int rebuild_one(void *ctx, uint32_t id, const tdx_store_docinfo *d)
{
    tdx_store *s = ctx;
    uint64_t kh[2];
    tdx_hash128(d->key, d->key_len, kh);
    if (tdx_hashset_add(&s->hp, d->hash, id) || kp_add(s, kh, id, d->key, d->key_len))
        return ENOMEM;
    return 0;
}

/* The sets as the transaction sees them: the live documents from the mark
 * on.  Their number is bounded by the sets' size plus one batch (the sets
 * are flushed once full). */
static int pend_rebuild(MDB_txn *txn, tdx_store *s)
{
    counts c;
    tdx_hashset_clear(&s->hp);
    tdx_hashset_clear(&s->kp);
    tdx_buf_reset(&s->karena);
    int rc = read_counts(txn, s, &c);
    if (rc == 0)
        rc = read_pend_mark(txn, s, c.next_doc, &s->pend_mark);
    if (rc == 0)
        rc = walk_live_from(txn, s, s->pend_mark, rebuild_one, s);
    s->pend_stale = rc != 0;
    return rc;
}

/* A content hash as its key in the "hashes" table. */
static MDB_val hash_key(uint8_t out[16], const uint64_t h[2])
{
    tdx_be64_put(out, h[0]);
    tdx_be64_put(out + 8, h[1]);
    return mval(out, 16);
}

/* The live document holding this content, 0 if none: the set, then the
 * table. */
static int hash_owner(MDB_txn *txn, tdx_store *s, const uint64_t h[2], uint32_t *out)
{
    *out = tdx_hashset_find(&s->hp, h);
    if (*out)
        return 0;
    uint8_t hk[16];
    MDB_val k = hash_key(hk, h), v;
    int rc = mdb_get(txn, s->dbi[DB_HASHES], &k, &v);
    if (rc)
        return rc == MDB_NOTFOUND ? 0 : rc;
    if (v.mv_size != 4)
        return MDB_CORRUPTED;
    *out = tdx_be32_get(v.mv_data);
    return 0;
}

/* Document id (a tombstone now) no longer owns its content: out of the set
 * and out of the table (a flush cut short may have put it there too). */
static int hash_forget(MDB_txn *txn, tdx_store *s, const uint64_t h[2], uint32_t id)
{
    tdx_hashset_del(&s->hp, h, id);
    uint8_t hk[16];
    MDB_val k = hash_key(hk, h);
    int rc = mdb_del(txn, s->dbi[DB_HASHES], &k, NULL);
    return rc == MDB_NOTFOUND ? 0 : rc;
}

/* One attempt at writing the batch, in a transaction of its own or nested
 * in the open group; returns an LMDB code (MDB_MAP_FULL retried).  Any
 * failure leaves the key and hash sets stale: the transaction's changes to
 * them are rebuilt away before the next use. */
static int write_batch_txn(tdx_store *s, const tdx_store_batch *b, int replace,
                           tdx_store_batch_stats *st, writer_state *w, tdx_err *err)
{
    MDB_txn *txn;
    int rc = mdb_txn_begin(s->env, s->group, 0, &txn);
    if (rc)
        return rc;
    counts c;
    w->written = 0;
    rc = read_counts(txn, s, &c);
    if (rc == 0 && s->pend_stale)
        rc = pend_rebuild(txn, s);
    memset(st, 0, sizeof *st);
    uint32_t seg = 0;
    for (size_t i = 0; rc == 0 && i < b->ndocs; i++) {
        const tdx_store_doc *d = &b->docs[i];
        w->remap[i] = 0;
        size_t klen = strlen(d->key);
        if (klen == 0 || klen > 511) {
            /* The pipeline rejects such keys before they get here. */
            rc = MDB_BAD_VALSIZE;
            break;
        }
        MDB_val k = mval(d->key, klen), v;
        uint32_t old = 0;
        if (c.next_doc >= UINT32_MAX) {
            rc = MDB_MAP_FULL + 1000; /* sentinel: out of doc ids */
            break;
        }
        /* The key: in the set of new documents' keys (then a document's
         * own), else in the table, else new. */
        uint8_t idk[4], kv[5];
        tdx_be32_put(idk, (uint32_t)c.next_doc);
        memcpy(kv, idk, 4);
        kv[4] = 0;
        uint64_t kh[2];
        tdx_hash128(d->key, klen, kh);
        int kind = 0; /* of an existing key: 0 own, 1 duplicate */
        old = tdx_hashset_find(&s->kp, kh);
        if (old == 0) {
            rc = mdb_get(txn, s->dbi[DB_KEYS], &k, &v);
            if (rc == MDB_NOTFOUND) {
                rc = 0;
            } else if (rc == 0 && v.mv_size != 5) {
                rc = MDB_CORRUPTED;
            } else if (rc == 0) {
                old = tdx_be32_get(v.mv_data);
                kind = ((const uint8_t *)v.mv_data)[4] != 0;
                if (old == 0)
                    rc = MDB_CORRUPTED;
            }
            if (rc)
                break;
        }
        if (old) {
            tdx_store_docinfo od;
            rc = get_doc_record(txn, s, old, &od);
            if (rc == MDB_NOTFOUND)
                rc = MDB_CORRUPTED; /* a key naming no document */
            if (rc)
                break;
            const uint64_t *oh = od.hash;
            if (oh[0] == d->hash[0] && oh[1] == d->hash[1]) {
                st->existing++;
                continue;
            }
            if (!replace) {
                st->changed++;
                continue;
            }
            /* Replace.  A duplicate key just stops pointing at its document.
             * A document's own key: the document goes to its first duplicate
             * key if it has one, else it becomes a tombstone and its content
             * hash is forgotten. */
            if (kind == 0) {
                int kept = 0;
                rc = hand_over_or_tombstone(txn, s, old, w, &kept);
                if (rc)
                    break;
                if (kept) {
                    c.duplicates--;
                } else {
                    rc = hash_forget(txn, s, oh, old);
                    if (rc)
                        break;
                    c.deleted++;
                    c.docs--;
                    c.bytes -= od.text_len;
                    c.hits -= od.nhits;
                }
            } else {
                if (dups_key(&w->key, old, d->key, klen)) {
                    rc = ENOMEM;
                    break;
                }
                MDB_val dk = mval(w->key.p, w->key.len);
                rc = mdb_del(txn, s->dbi[DB_DUPS], &dk, NULL);
                if (rc == MDB_NOTFOUND)
                    rc = 0;
                if (rc)
                    break;
                c.duplicates--;
            }
            st->replaced++;
        }
        /* A known content hash makes this document a duplicate of the one
         * it names; a new one goes into the set (pend_flush writes it). */
        MDB_val idv = mval(idk, 4);
        uint32_t owner;
        rc = hash_owner(txn, s, d->hash, &owner);
        if (rc)
            break;
        if (owner) {
            /* Duplicate keys go straight into the table (they are rare,
             * and a rebuild of the key set would not find them). */
            tdx_be32_put(kv, owner);
            kv[4] = 1;
            MDB_val val = mval(kv, 5);
            if (old)
                tdx_hashset_del(&s->kp, kh, old);
            rc = mdb_put(txn, s->dbi[DB_KEYS], &k, &val, 0);
            if (rc == 0 && dups_key(&w->key, tdx_be32_get(kv), d->key, klen))
                rc = ENOMEM;
            if (rc == 0) {
                MDB_val dk = mval(w->key.p, w->key.len), empty = mval("", 0);
                rc = mdb_put(txn, s->dbi[DB_DUPS], &dk, &empty, 0);
            }
            if (rc)
                break;
            st->duplicates++;
            c.duplicates++;
            continue;
        }
        if (tdx_hashset_add(&s->hp, d->hash, (uint32_t)c.next_doc)) {
            rc = ENOMEM;
            break;
        }
        uint32_t id = (uint32_t)c.next_doc++;
        if (seg == 0)
            seg = id;
        w->remap[i] = id;
        MDB_val val = mval(kv, 5);
        /* A new key waits in the set like the content hash.  A replaced
         * document's key names the new one in the table at once, so the
         * table never holds a stale entry for it (readers trust it). */
        if (old == 0) {
            rc = kp_add(s, kh, id, d->key, klen);
        } else {
            tdx_hashset_del(&s->kp, kh, old);
            kv[4] = 0;
            rc = mdb_put(txn, s->dbi[DB_KEYS], &k, &val, 0);
        }
        tdx_buf_reset(&w->rec);
        if (rc == 0 && encode_doc(&w->rec, d) != 0)
            rc = ENOMEM;
        if (rc == 0) {
            val = mval(w->rec.p, w->rec.len);
            rc = mdb_put(txn, s->dbi[DB_DOCS], &idv, &val, MDB_APPEND);
        }
        if (rc == 0) {
            val = mval(d->ztext, d->ztext_len);
            rc = mdb_put(txn, s->dbi[DB_TEXT], &idv, &val, MDB_APPEND);
            w->written += d->ztext_len;
        }
        tdx_buf_reset(&w->rec);
        if (rc == 0 && encode_hits(&w->rec, d->hits, d->nhits) != 0)
            rc = ENOMEM;
        if (rc == 0) {
            val = mval(w->rec.p, w->rec.len);
            rc = mdb_put(txn, s->dbi[DB_HITS], &idv, &val, MDB_APPEND);
        }
        c.docs++;
        c.bytes += d->text_len;
        c.hits += d->nhits;
        st->added++;
        st->hits += d->nhits;
        st->bytes += d->text_len;
    }
    if (rc == 0)
        rc = set_dates(txn, s, b, w->remap);
    /* Postings of the kept documents, as one segment appended at the end:
     * each term's entries cut into blocks as the main tree's are. */
    const tdx_postings *p = b->post;
    uint8_t segkey[4];
    tdx_be32_put(segkey, seg);
    block_sink sink = {sink_lmdb, txn, s->dbi[DB_POSTSEG], NULL, 0, s->ckpt, 0};
    seg_group grp = {s->groups ? &sink : NULL, seg, TDX_BUF_INIT, {0}, 0, {0}, 0, 0, {0}};
    if (rc == 0 && seg && p &&
        tdx_grow((void **)&w->ids, &w->cap_ids, p->nentries + 1, sizeof *w->ids, 1024))
        rc = ENOMEM;
    for (size_t t = 0; rc == 0 && seg && p && t < p->nterms; t++) {
        size_t e0 = tdx_postings_ent_begin(p, t), e1 = p->ent_end[t];
        size_t n = 0;
        for (size_t e = e0; e < e1; e++) {
            uint32_t id = w->remap[p->docs[e]];
            w->ids[n] = id;
            n += id != 0;
        }
        if (n == 0)
            continue;
        tdx_span term = tdx_postings_term(p, t);
        if (n == e1 - e0) {
            rc = put_seg_term(&grp, &sink, segkey, term.p, term.len, w->ids, n, p->payload.p,
                              e0 ? p->pay_end[e0 - 1] : 0, p->pay_end + e0, &w->rec);
            continue;
        }
        /* Some entries were dropped (documents already indexed): their
         * payloads are left out of a copy. */
        tdx_buf_reset(&w->pay);
        if (tdx_grow((void **)&w->ends, &w->cap_ends, n + 1, sizeof *w->ends, 1024)) {
            rc = ENOMEM;
            break;
        }
        size_t k = 0;
        for (size_t e = e0; e < e1 && rc == 0; e++) {
            if (w->remap[p->docs[e]] == 0)
                continue;
            tdx_span pay = tdx_postings_payload(p, e);
            if (tdx_buf_append(&w->pay, pay.p, pay.len))
                rc = ENOMEM;
            w->ends[k++] = (uint32_t)w->pay.len;
        }
        if (rc == 0)
            rc = put_seg_term(&grp, &sink, segkey, term.p, term.len, w->ids, n, w->pay.p, 0,
                              w->ends, &w->rec);
    }
    if (rc == 0)
        rc = group_flush(&grp);
    w->written += sink.written;
    tdx_buf_free(&grp.val);
    for (size_t i = 0; rc == 0 && i < b->ninputs; i++)
        rc = put_input(txn, s, &b->inputs[i]);
    if (rc == 0 && b->dict) {
        MDB_val k = mval("zdict", 5), v = mval(b->dict->bytes, b->dict->len);
        rc = mdb_put(txn, s->dbi[DB_META], &k, &v, MDB_NOOVERWRITE);
        if (rc == MDB_KEYEXIST)
            rc = MDB_CORRUPTED; /* the pipeline only sends it to an index without one */
    }
    c.rejects += b->rejects;
    if (rc == 0)
        rc = write_counts(txn, s, &c);
    if (rc == 0 && (s->hp.n || s->kp.n))
        rc = write_pend_mark(txn, s);
    if (rc == 0) {
        rc = mdb_txn_commit(txn);
        if (rc) {
            st->added = 0;
            s->pend_stale = 1;
        }
        return rc;
    }
    mdb_txn_abort(txn);
    s->pend_stale = 1;
    (void)err;
    return rc;
}

/* Commit the open group, if any: an LMDB code. */
static int group_end(tdx_store *s)
{
    if (s->group == NULL)
        return 0;
    int rc = mdb_txn_commit(s->group);
    s->group = NULL;
    if (rc)
        s->pend_stale = 1; /* the group's batches are gone */
    return rc;
}

/* A write transaction outside batches: an open group is committed first
 * (LMDB has one writer; a second begin in this thread would wait forever). */
static int write_begin(tdx_store *s, MDB_txn **txn)
{
    int rc = group_end(s);
    return rc ? rc : mdb_txn_begin(s->env, NULL, 0, txn);
}

void tdx_store_set_deferred(tdx_store *s, size_t bytes)
{
    s->pend_max = bytes / TDX_STORE_DEFERRED_BYTES_PER_DOC;
    if (s->pend_max == 0)
        s->pend_max = 1;
}

size_t tdx_store_deferred_bytes(const tdx_store *s)
{
    return (s->hp.n + s->kp.n) * sizeof(tdx_hs_ent) + s->karena.len;
}

/* One entry the flush writes: a key and a 4-byte (hashes: id) or 5-byte
 * (keys: id, own) value. */
typedef struct flush_ent {
    const uint8_t *k;
    size_t klen;
    uint8_t v[5], vlen;
} flush_ent;
_Static_assert(TDX_STORE_DEFERRED_BYTES_PER_DOC >=
                   2 * TDX_HASHSET_BYTES_PER_ENTRY + 2 * sizeof(flush_ent) + 16 + 40,
               "a document's two set entries, two flush entries, hash key and a typical key");

/* LMDB's default order: bytes, then the shorter key first. */
static int cmp_flush_ent(const void *a, const void *b)
{
    const flush_ent *x = a, *y = b;
    int c = memcmp(x->k, y->k, x->klen < y->klen ? x->klen : y->klen);
    return c ? c : (x->klen > y->klen) - (x->klen < y->klen);
}

/* Entries whose keys were appended to kb and recorded as offsets (kb may
 * move while it grows) get their pointers, then table order. */
static void ents_place(flush_ent *e, size_t n, const tdx_buf *kb)
{
    for (size_t i = 0; i < n; i++)
        e[i].k = kb->p + (uintptr_t)e[i].k;
    if (n) /* e may be NULL then */
        qsort(e, n, sizeof *e, cmp_flush_ent);
}

/* The sets as entries, each table's sorted: hashes [0, *nh), keys after
 * (their bytes in the arena, which also holds keys that have left the set
 * since: those whose hash the set no longer gives with their id). */
static int pend_collect(tdx_store *s, tdx_buf *kb, flush_ent **out, size_t *nh, size_t *n)
{
    size_t cap = s->hp.n + s->kp.n;
    flush_ent *e = tdx_malloc((cap ? cap : 1) * sizeof *e);
    if (e == NULL)
        return ENOMEM;
    size_t m = 0;
    int rc = 0;
    for (size_t i = 0; s->hp.n && i <= s->hp.mask && rc == 0; i++) {
        const tdx_hs_ent *h = &s->hp.slot[i];
        if (h->id == 0)
            continue;
        flush_ent *f = &e[m++];
        f->k = (const uint8_t *)(uintptr_t)kb->len; /* an offset until kb stops moving */
        f->klen = 16;
        tdx_be32_put(f->v, h->id);
        f->vlen = 4;
        uint8_t hk[16];
        hash_key(hk, h->h);
        if (tdx_buf_append(kb, hk, 16))
            rc = ENOMEM;
    }
    *nh = m;
    const uint8_t *p = s->karena.p, *pe = p + s->karena.len;
    while (rc == 0 && p < pe) {
        uint32_t id = tdx_be32_get(p);
        size_t klen = (size_t)p[4] << 8 | p[5];
        uint64_t kh[2];
        tdx_hash128(p + 6, klen, kh);
        if (tdx_hashset_find(&s->kp, kh) == id) {
            flush_ent *f = &e[m++];
            f->k = p + 6; /* the arena does not move during the flush */
            f->klen = klen;
            memcpy(f->v, p, 4);
            f->v[4] = 0;
            f->vlen = 5;
        }
        p += 6 + klen;
    }
    if (rc) {
        tdx_free(e);
        return rc;
    }
    ents_place(e, *nh, kb);
    qsort(e + *nh, m - *nh, sizeof *e, cmp_flush_ent);
    *out = e;
    *n = m;
    return 0;
}

/* Entries one transaction writes into a table: about a group's worth of
 * its leaves (each entry lands on another leaf, and a transaction holds the
 * pages it dirties in memory until its commit). */
static size_t flush_step(tdx_store *s, MDB_txn *txn, MDB_dbi dbi, size_t n)
{
    MDB_stat ms;
    if (mdb_stat(txn, dbi, &ms) != 0)
        return 1024;
    size_t budget = (s->group_max > MERGE_CHUNK_BYTES ? s->group_max : MERGE_CHUNK_BYTES) /
                    (ms.ms_psize ? ms.ms_psize : 4096);
    return ms.ms_leaf_pages <= budget ? n + 1 : n / (ms.ms_leaf_pages / budget + 1) + 1;
}

/*
 * Write the sets into the "hashes" and "keys" tables in key order, then
 * drop meta "deferred".  Sorted, the inserts touch each leaf once per flush
 * instead of once per document.  The writes are cut into transactions of
 * bounded size (flush_step).  A run killed part-way keeps the mark: the
 * next one rebuilds the sets from the documents after it and writes them
 * again (entries already in the tables are found with the same value).
 */
static int pend_flush(tdx_store *s, tdx_err *err)
{
    int rc = group_end(s);
    MDB_txn *txn;
    tdx_buf kb = TDX_BUF_INIT;
    flush_ent *e = NULL;
    size_t at = 0, n = 0, nh = 0, per[2] = {0, 0};
    uint64_t next_doc = 0;
    while (rc == 0) {
        rc = mdb_txn_begin(s->env, NULL, 0, &txn);
        if (rc)
            break;
        counts c;
        rc = read_counts(txn, s, &c);
        next_doc = c.next_doc;
        if (rc == 0 && s->pend_stale)
            rc = pend_rebuild(txn, s);
        if (rc == 0 && e == NULL) {
            rc = pend_collect(s, &kb, &e, &nh, &n);
            per[0] = flush_step(s, txn, s->dbi[DB_HASHES], nh);
            per[1] = flush_step(s, txn, s->dbi[DB_KEYS], n - nh);
        }
        /* This transaction: entries of one table. */
        int t = at >= nh;
        size_t lim = t ? n : nh, end = lim - at < per[t] ? lim : at + per[t];
        MDB_cursor *cur = NULL;
        if (rc == 0 && end > at)
            rc = mdb_cursor_open(txn, s->dbi[t ? DB_KEYS : DB_HASHES], &cur);
        for (size_t i = at; rc == 0 && i < end; i++) {
            MDB_val k = mval(e[i].k, e[i].klen), v = mval(e[i].v, e[i].vlen);
            rc = mdb_cursor_put(cur, &k, &v, MDB_NOOVERWRITE);
            if (rc == MDB_KEYEXIST)
                rc = v.mv_size == e[i].vlen && memcmp(v.mv_data, e[i].v, e[i].vlen) == 0
                         ? 0
                         : MDB_CORRUPTED;
        }
        if (cur)
            mdb_cursor_close(cur);
        if (rc == 0 && end == n) {
            MDB_val k = mval("deferred", 8);
            rc = mdb_del(txn, s->dbi[DB_META], &k, NULL);
            if (rc == MDB_NOTFOUND)
                rc = 0;
        }
        if (rc == 0) {
            rc = mdb_txn_commit(txn);
        } else {
            mdb_txn_abort(txn);
        }
        if (rc == MDB_MAP_FULL) {
            int grc = grow_map(s, err); /* then the same entries again */
            if (grc) {
                tdx_free(e);
                tdx_buf_free(&kb);
                s->pend_stale = 1;
                return grc;
            }
            rc = 0;
            continue;
        }
        if (rc)
            break;
        at = end;
        if (at == n) {
            tdx_hashset_clear(&s->hp);
            tdx_hashset_clear(&s->kp);
            tdx_buf_reset(&s->karena);
            s->pend_mark = next_doc;
            tdx_free(e);
            tdx_buf_free(&kb);
            return 0;
        }
    }
    tdx_free(e);
    tdx_buf_free(&kb);
    s->pend_stale = 1; /* half-written: rebuilt from the index when next used */
    if (rc == ENOMEM)
        return tdx_err_set(err, TDX_ENOMEM, "out of memory");
    return lmdb_err(err, disk_full_rc(s->path, rc), "cannot write keys and content hashes");
}

void tdx_store_set_map_lock(tdx_store *s, pthread_mutex_t *mu)
{
    s->map_lock = mu;
}

void tdx_store_set_group(tdx_store *s, size_t max_bytes, double max_seconds)
{
    s->group_max = max_bytes;
    s->group_secs = max_seconds;
}

int tdx_store_uncommitted(const tdx_store *s)
{
    return s->group != NULL;
}

int tdx_store_commit_batches(tdx_store *s, tdx_err *err)
{
    if (s->readonly)
        return 0;
    int rc = group_end(s);
    return rc ? lmdb_err(err, disk_full_rc(s->path, rc), "cannot commit the index") : 0;
}

int tdx_store_commit(tdx_store *s, tdx_err *err)
{
    int rc = tdx_store_commit_batches(s, err);
    return rc || s->readonly ? rc : pend_flush(s, err);
}

/* Open a group for the next batch when grouping is on and none is open.
 * The map is first grown when the room left in it is under twice what a
 * group may write: a group's commit must not run out of room (its batches
 * would be lost with it); a batch that does is retried after the group's
 * commit and a larger map. */
static int group_open(tdx_store *s, tdx_err *err)
{
    if (s->group_max == 0 || s->group)
        return 0;
    MDB_envinfo ei;
    MDB_stat es;
    mdb_env_info(s->env, &ei);
    mdb_env_stat(s->env, &es);
    size_t used = ((size_t)ei.me_last_pgno + 1) * es.ms_psize;
    if (s->map_size < used + 2 * s->group_max) {
        int rc = grow_map(s, err);
        if (rc)
            return rc;
    }
    int rc = mdb_txn_begin(s->env, NULL, 0, &s->group);
    if (rc) {
        s->group = NULL;
        return rc;
    }
    s->group_in = 0;
    s->group_t0 = tdx_now();
    return 0;
}

static int grow_map(tdx_store *s, tdx_err *err)
{
    size_t want = s->map_size < ((size_t)1 << 30) ? ((size_t)1 << 30) : s->map_size * 2;
    /* The merge thread reads from snapshots of its own: it goes first (a
     * step prepared ahead is made again by the step that takes it). */
    mprod_stop(s);
    if (s->map_lock)
        pthread_mutex_lock(s->map_lock);
    int rc = mdb_env_set_mapsize(s->env, want);
    if (s->map_lock)
        pthread_mutex_unlock(s->map_lock);
    if (rc)
        return lmdb_err(err, rc, "cannot grow the index map");
    MDB_envinfo ei;
    mdb_env_info(s->env, &ei);
    s->map_size = ei.me_mapsize;
    return 0;
}

/*
 * Drop this process's mappings of the index file's pages.  LMDB reads pages
 * through a shared read-only map, so every page a writer has touched (keys
 * and hashes are inserted all over their trees) stays in the process's
 * resident set and RSS would grow with the index.  The pages stay in the
 * page cache; the next access maps them again.  Safe under LMDB: nothing is
 * lost, pointers stay valid, at worst a page is faulted in again.
 *
 * LMDB only reports the map address for MDB_FIXEDMAP environments, so the
 * mapping of data.mdb is looked up in /proc/self/maps (by device and inode).
 * Shared (file-backed) resident pages are read from /proc/self/statm.
 */
/* Trimming costs page faults when the pages are touched again, so it only
 * happens once the process holds this much of the file. */
#define TRIM_ABOVE_BYTES ((size_t)64 << 20)

static void trim_map(tdx_store *s)
{
    FILE *sf = fopen("/proc/self/statm", "r");
    unsigned long size = 0, resident = 0, shared = 0;
    int got = sf ? fscanf(sf, "%lu %lu %lu", &size, &resident, &shared) : 0;
    if (sf)
        fclose(sf);
    if (got == 3 && (size_t)shared * (size_t)sysconf(_SC_PAGESIZE) < TRIM_ABOVE_BYTES)
        return;
    char data[4200];
    snprintf(data, sizeof data, "%s/data.mdb", s->path);
    struct stat st;
    if (stat(data, &st) != 0)
        return;
    FILE *f = fopen("/proc/self/maps", "r");
    if (f == NULL)
        return;
    char line[4608];
    while (fgets(line, sizeof line, f)) {
        unsigned long lo, hi, off, ino;
        unsigned maj, mnr;
        char perm[8];
        if (sscanf(line, "%lx-%lx %7s %lx %x:%x %lu", &lo, &hi, perm, &off, &maj, &mnr,
                   &ino) != 7)
            continue;
        if (ino == st.st_ino && makedev(maj, mnr) == st.st_dev && perm[3] == 's')
            madvise((void *)lo, hi - lo, MADV_DONTNEED);
    }
    fclose(f);
}

/* What the writer cannot store is refused before the index is touched; the
 * postings check also keeps the doc-number remap inside its array. */
static int check_batch(const tdx_store_batch *b, tdx_err *err)
{
    for (size_t i = 0; i < b->ndocs; i++) {
        size_t klen = b->docs[i].key ? strlen(b->docs[i].key) : 0;
        if (klen == 0 || klen > 511)
            return tdx_err_set(err, TDX_EINVAL, "document %zu of the batch has %s", i,
                               klen ? "a key longer than 511 bytes" : "no key");
    }
    const tdx_postings *p = b->post;
    for (size_t e = 0; p && e < p->nentries; e++)
        if (p->docs[e] >= b->ndocs)
            return tdx_err_set(err, TDX_EINVAL, "batch postings name document %u of a batch of %zu",
                               p->docs[e], b->ndocs);
    return 0;
}

int tdx_store_write_batch(tdx_store *s, const tdx_store_batch *b, int replace,
                          tdx_store_batch_stats *stats, tdx_err *err)
{
    if (s->readonly)
        return tdx_err_set(err, TDX_EINVAL, "index opened read-only");
    int vrc = check_batch(b, err);
    if (vrc)
        return vrc;
    mprod_stop(s); /* a merge left part-way: its reader goes before the map may grow */
    tdx_store_batch_stats local;
    if (stats == NULL)
        stats = &local;
    writer_state w;
    memset(&w, 0, sizeof w);
    w.remap = tdx_calloc(b->ndocs + 1, sizeof *w.remap);
    if (w.remap == NULL)
        return tdx_err_set(err, TDX_ENOMEM, "out of memory");
    int rc;
    for (;;) {
        rc = group_open(s, err);
        if (rc)
            break;
        rc = write_batch_txn(s, b, replace, stats, &w, err);
        if (rc != MDB_MAP_FULL)
            break;
        /* The batch's own transaction is gone; the group's earlier
         * batches are committed before the map grows (it cannot while a
         * write transaction is open), then the batch is written again. */
        rc = group_end(s);
        if (rc == 0)
            rc = grow_map(s, err);
        if (rc)
            break;
    }
    if (rc == 0 && s->group) {
        /* The pages a group dirties stay in memory until it commits: they
         * are counted by what the batches put, since postings per byte of
         * text vary several times over with the text. */
        s->group_in += w.written;
        if (s->group_in >= s->group_max || tdx_now() - s->group_t0 >= s->group_secs)
            rc = group_end(s);
    }
    tdx_free(w.remap);
    tdx_free(w.ids);
    tdx_free(w.ends);
    tdx_buf_free(&w.rec);
    tdx_buf_free(&w.key);
    tdx_buf_free(&w.pay);
    trim_map(s);
    if (rc == MDB_MAP_FULL + 1000)
        return tdx_err_set(err, TDX_ELIMIT, "index is full: 2^32-1 documents");
    if (rc > 0 || rc == MDB_MAP_FULL || (rc < 0 && rc > -30999))
        return lmdb_err(err, disk_full_rc(s->path, rc), "cannot write batch");
    if (rc == 0 && (s->hp.n >= s->pend_max || s->kp.n >= s->pend_max))
        rc = pend_flush(s, err);
    return rc;
}

/* ---- reading ---- */

int tdx_store_read_begin(tdx_store *s, tdx_rtxn **out_txn, tdx_err *err)
{
    tdx_rtxn *t = tdx_calloc(1, sizeof *t);
    if (t == NULL)
        return tdx_err_set(err, TDX_ENOMEM, "out of memory");
    t->s = s;
    int rc = mdb_txn_begin(s->env, NULL, MDB_RDONLY, &t->txn);
    if (rc == MDB_MAP_RESIZED) {
        /* A writer grew the map since we opened: adopt its size and retry. */
        mdb_env_set_mapsize(s->env, 0);
        rc = mdb_txn_begin(s->env, NULL, MDB_RDONLY, &t->txn);
    }
    if (rc) {
        tdx_free(t);
        return lmdb_err(err, rc, "cannot read index");
    }
    t->post = main_post(t->txn, s);
    rc = read_merge_state(t->txn, s, t);
    if (rc) {
        mdb_txn_abort(t->txn);
        tdx_free(t);
        return lmdb_err(err, rc, "cannot read merge state");
    }
    *out_txn = t;
    return 0;
}

void tdx_store_read_end(tdx_rtxn *t)
{
    if (t == NULL)
        return;
    if (t->seq)
        mdb_cursor_close(t->seq);
    segseq_free(t);
    mdb_txn_abort(t->txn);
    tdx_free(t->segs);
    if (t->dctx)
        ZSTD_freeDCtx(t->dctx);
    ZSTD_freeDDict(t->ddict);
    tdx_free(t);
}

static uint64_t meta_u64(MDB_txn *txn, tdx_store *s, const char *name)
{
    MDB_val k = mval(name, strlen(name)), v;
    if (mdb_get(txn, s->dbi[DB_META], &k, &v))
        return 0;
    uint64_t x = 0;
    tdx_varint_get(v.mv_data, (const uint8_t *)v.mv_data + v.mv_size, &x);
    return x;
}

static int load_segments(tdx_rtxn *t, tdx_err *err)
{
    if (t->segs_loaded)
        return 0;
    MDB_cursor *cur;
    int rc = mdb_cursor_open(t->txn, t->s->dbi[DB_POSTSEG], &cur);
    if (rc)
        return lmdb_err(err, rc, "cannot read postings");
    size_t cap = 0;
    MDB_val k, v;
    rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST);
    while (rc == 0) {
        if (k.mv_size < 4) {
            mdb_cursor_close(cur);
            return tdx_err_set(err, TDX_ECORRUPT, "postings segment key too short");
        }
        uint32_t seg = tdx_be32_get(k.mv_data);
        if (t->nsegs == cap) {
            cap = cap ? cap * 2 : 16;
            uint32_t *ns = tdx_reallocarray(t->segs, cap, sizeof *ns);
            if (ns == NULL) {
                mdb_cursor_close(cur);
                return tdx_err_set(err, TDX_ENOMEM, "out of memory");
            }
            t->segs = ns;
        }
        t->segs[t->nsegs++] = seg;
        if (seg == UINT32_MAX)
            break;
        uint8_t next[4];
        tdx_be32_put(next, seg + 1);
        k = mval(next, 4);
        rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE);
    }
    mdb_cursor_close(cur);
    if (rc && rc != MDB_NOTFOUND)
        return lmdb_err(err, rc, "cannot read postings");
    t->segs_loaded = 1;
    return 0;
}

int tdx_store_get_info(tdx_rtxn *t, tdx_store_info *out, tdx_err *err)
{
    memset(out, 0, sizeof *out);
    tdx_store *s = t->s;
    out->format = (uint32_t)s->format;
    MDB_val k = mval("normalizer", 10), v;
    if (mdb_get(t->txn, s->dbi[DB_META], &k, &v) == 0)
        snprintf(out->normalizer, sizeof out->normalizer, "%.*s", (int)v.mv_size,
                 (const char *)v.mv_data);
    out->norm_steps = (unsigned)meta_u64(t->txn, s, "norm_steps");
    k = mval("grams", 5);
    out->grams = mdb_get(t->txn, s->dbi[DB_META], &k, &v) == 0 && v.mv_size == 1 &&
                 *(const char *)v.mv_data == '1';
    k = mval("trigrams", 8);
    out->trigrams = out->grams && mdb_get(t->txn, s->dbi[DB_META], &k, &v) == 0 && v.mv_size == 1 &&
                    *(const char *)v.mv_data == '1';
    k = mval("wl_hash", 7);
    if (mdb_get(t->txn, s->dbi[DB_META], &k, &v) == 0 && v.mv_size == 16) {
        char h[17];
        memcpy(h, v.mv_data, 16);
        h[16] = 0;
        out->wl_hash = strtoull(h, NULL, 16);
    }
    k = mval("wl_source", 9);
    if (mdb_get(t->txn, s->dbi[DB_META], &k, &v) == 0)
        snprintf(out->wl_source, sizeof out->wl_source, "%.*s", (int)v.mv_size,
                 (const char *)v.mv_data);
    counts c;
    int rc = read_counts(t->txn, s, &c);
    if (rc)
        return lmdb_err(err, rc, "cannot read index counts");
    out->docs = c.docs;
    out->next_doc = c.next_doc;
    out->deleted = c.deleted;
    out->duplicates = c.duplicates;
    out->bytes = c.bytes;
    out->hits = c.hits;
    out->rejects = c.rejects;
    MDB_stat ms;
    if (mdb_stat(t->txn, s->dbi[DB_PATTERNS], &ms) == 0)
        out->npatterns = ms.ms_entries;
    if (mdb_stat(t->txn, s->dbi[DB_ENTITIES], &ms) == 0)
        out->nentities = ms.ms_entries;
    if (mdb_stat(t->txn, s->dbi[DB_CATEGORIES], &ms) == 0)
        out->ncategories = ms.ms_entries;
    rc = load_segments(t, err);
    if (rc)
        return rc;
    out->segments = t->nsegs;
    out->merging = t->merging;
    uint64_t mark;
    rc = read_pend_mark(t->txn, s, c.next_doc, &mark);
    if (rc)
        return lmdb_err(err, rc, "cannot read meta deferred");
    out->deferred = c.next_doc - mark;
    char data[4200];
    snprintf(data, sizeof data, "%s/data.mdb", s->path);
    struct stat st;
    if (stat(data, &st) == 0)
        out->file_bytes = (uint64_t)st.st_blocks * 512;
    return 0;
}

/* A NUL-terminated copy of s[0..n) at *at, or NULL when it would pass end. */
static const char *arena_str(char **at, const char *end, const void *s, size_t n)
{
    if ((size_t)(end - *at) < n + 1)
        return NULL;
    char *r = *at;
    memcpy(r, s, n);
    r[n] = '\0';
    *at += n + 1;
    return r;
}

int tdx_store_get_schema(tdx_rtxn *t, tdx_store_schema_view *out, tdx_err *err)
{
    memset(out, 0, sizeof *out);
    tdx_store *s = t->s;
    /* Names are returned NUL-terminated, so they are copied into one arena
     * (one allocation instead of two per pattern: 29,000 patterns took a
     * fifth of a query's start).  Its size: the tables' pages hold every
     * record, so their bytes and two terminators a record bound it. */
    size_t count[3], arena_bytes = 1;
    static const int tables[3] = {DB_PATTERNS, DB_ENTITIES, DB_CATEGORIES};
    for (int i = 0; i < 3; i++) {
        MDB_stat ms;
        mdb_stat(t->txn, s->dbi[tables[i]], &ms);
        count[i] = ms.ms_entries;
        arena_bytes +=
            (ms.ms_leaf_pages + ms.ms_overflow_pages) * (size_t)ms.ms_psize + 2 * ms.ms_entries;
    }
    size_t np = count[0], ne = count[1], nc = count[2];
    out->patterns = tdx_calloc(np + 1, sizeof *out->patterns);
    out->entities = tdx_calloc(ne + 1, sizeof *out->entities);
    out->entity_category = tdx_calloc(ne + 1, sizeof *out->entity_category);
    out->categories = tdx_calloc(nc + 1, sizeof *out->categories);
    out->arena = tdx_malloc(arena_bytes);
    if (!out->patterns || !out->entities || !out->entity_category || !out->categories ||
        !out->arena) {
        tdx_store_schema_view_free(out);
        return tdx_err_set(err, TDX_ENOMEM, "out of memory");
    }
    char *at = out->arena, *arena_end = out->arena + arena_bytes;
    MDB_cursor *cur = NULL;
    MDB_val k, v;
    int rc = 0;
    int bad = 0;
    for (int table = 0; table < 3 && !bad && rc == 0; table++) {
        size_t limit = count[table];
        rc = mdb_cursor_open(t->txn, s->dbi[tables[table]], &cur);
        if (rc)
            break;
        size_t i = 0;
        int g = mdb_cursor_get(cur, &k, &v, MDB_FIRST);
        while (g == 0 && i < limit) {
            if (k.mv_size != 4 || tdx_be32_get(k.mv_data) != i) {
                bad = 1;
                break;
            }
            rd r = {v.mv_data, (const uint8_t *)v.mv_data + v.mv_size, 0};
            if (table == 0) {
                tdx_store_pattern *p = &out->patterns[i];
                p->entity = (uint32_t)rd_vint(&r);
                p->category = (uint32_t)rd_vint(&r);
                p->flags = (unsigned)rd_vint(&r);
                p->line = (uint32_t)rd_vint(&r);
                size_t l1, l2;
                const uint8_t *a = rd_bytes(&r, &l1);
                const uint8_t *b2 = rd_bytes(&r, &l2);
                if (r.bad || p->entity >= ne || p->category >= nc) {
                    bad = 1;
                    break;
                }
                p->text = arena_str(&at, arena_end, a, l1);
                p->norm = arena_str(&at, arena_end, b2, l2);
                if (!p->text || !p->norm) {
                    bad = 1; /* the table changed under the read transaction */
                    break;
                }
            } else if (table == 1) {
                out->entity_category[i] = (uint32_t)rd_vint(&r);
                if (r.bad || out->entity_category[i] >= nc) {
                    bad = 1;
                    break;
                }
                out->entities[i] = arena_str(&at, arena_end, r.p, (size_t)(r.end - r.p));
                if (!out->entities[i]) {
                    bad = 1;
                    break;
                }
            } else {
                out->categories[i] = arena_str(&at, arena_end, v.mv_data, v.mv_size);
                if (!out->categories[i]) {
                    bad = 1;
                    break;
                }
            }
            i++;
            g = mdb_cursor_get(cur, &k, &v, MDB_NEXT);
        }
        mdb_cursor_close(cur);
        if (table == 0)
            out->npatterns = i;
        else if (table == 1)
            out->nentities = i;
        else
            out->ncategories = i;
    }
    if (bad || rc) {
        tdx_store_schema_view_free(out);
        if (rc)
            return lmdb_err(err, rc, "cannot read watch-list tables");
        return tdx_err_set(err, TDX_ECORRUPT, "watch-list tables of the index are corrupt");
    }
    return 0;
}

void tdx_store_schema_view_free(tdx_store_schema_view *v)
{
    tdx_free(v->arena);
    tdx_free(v->patterns);
    tdx_free(v->entities);
    tdx_free(v->entity_category);
    tdx_free(v->categories);
    memset(v, 0, sizeof *v);
}

int tdx_store_get_doc(tdx_rtxn *t, uint32_t id, tdx_store_docinfo *out, tdx_err *err)
{
    uint8_t kb[4];
    tdx_be32_put(kb, id);
    MDB_val k = mval(kb, 4), v;
    int rc = mdb_get(t->txn, t->s->dbi[DB_DOCS], &k, &v);
    if (rc == MDB_NOTFOUND)
        return tdx_err_set(err, TDX_ENOTFOUND, "no document %u", id);
    if (rc)
        return lmdb_err(err, rc, "cannot read document");
    if (decode_doc(&v, id, out))
        return tdx_err_set(err, TDX_ECORRUPT, "record of document %u is corrupt", id);
    MDB_val dv;
    out->deleted = mdb_get(t->txn, t->s->dbi[DB_DELETED], &k, &dv) == 0;
    return 0;
}

int tdx_store_get_text(tdx_rtxn *t, uint32_t id, tdx_buf *out, tdx_err *err)
{
    uint8_t kb[4];
    tdx_be32_put(kb, id);
    MDB_val k = mval(kb, 4), v;
    int rc = mdb_get(t->txn, t->s->dbi[DB_TEXT], &k, &v);
    if (rc == MDB_NOTFOUND)
        return tdx_err_set(err, TDX_ENOTFOUND, "no stored text for document %u", id);
    if (rc)
        return lmdb_err(err, rc, "cannot read stored text");
    unsigned long long n = ZSTD_getFrameContentSize(v.mv_data, v.mv_size);
    if (n == ZSTD_CONTENTSIZE_ERROR || n == ZSTD_CONTENTSIZE_UNKNOWN || n > ((size_t)1 << 34))
        return tdx_err_set(err, TDX_ECORRUPT, "stored text of document %u is corrupt", id);
    if (t->dctx == NULL && (t->dctx = ZSTD_createDCtx()) == NULL)
        return tdx_err_set(err, TDX_ENOMEM, "out of memory");
    if (ZSTD_getDictID_fromFrame(v.mv_data, v.mv_size) != 0 && !t->ddict_loaded) {
        MDB_val dk = mval("zdict", 5), dv;
        if (mdb_get(t->txn, t->s->dbi[DB_META], &dk, &dv) != 0)
            return tdx_err_set(err, TDX_ECORRUPT,
                               "stored text of document %u needs the text dictionary, which "
                               "the index does not have",
                               id);
        t->ddict = ZSTD_createDDict(dv.mv_data, dv.mv_size);
        if (t->ddict == NULL)
            return tdx_err_set(err, TDX_ENOMEM, "out of memory");
        t->ddict_loaded = 1;
        ZSTD_DCtx_refDDict(t->dctx, t->ddict);
    }
    tdx_buf_reset(out);
    if (tdx_buf_grow(out, (size_t)n))
        return tdx_err_set(err, TDX_ENOMEM, "out of memory");
    size_t got = ZSTD_decompressDCtx(t->dctx, out->p, (size_t)n, v.mv_data, v.mv_size);
    if (ZSTD_isError(got) || got != n)
        return tdx_err_set(err, TDX_ECORRUPT, "stored text of document %u is corrupt: %s", id,
                           ZSTD_isError(got) ? ZSTD_getErrorName(got) : "length mismatch");
    out->len = got;
    out->p[got] = 0;
    return 0;
}

static int decode_hits(const MDB_val *v, tdx_store_hit **hits, size_t *n, size_t *cap)
{
    rd r = {v->mv_data, (const uint8_t *)v->mv_data + v->mv_size, 0};
    uint64_t cnt = rd_vint(&r);
    if (r.bad || cnt > v->mv_size)
        return TDX_ECORRUPT;
    if (cnt > *cap) {
        tdx_store_hit *h = tdx_reallocarray(*hits, (size_t)cnt, sizeof *h);
        if (h == NULL)
            return TDX_ENOMEM;
        *hits = h;
        *cap = (size_t)cnt;
    }
    uint64_t pn = 0, po = 0;
    for (uint64_t i = 0; i < cnt; i++) {
        tdx_store_hit *h = &(*hits)[i];
        uint64_t pat = rd_vint(&r), dn = rd_vint(&r), ln = rd_vint(&r), dO = rd_vint(&r),
                 lo = rd_vint(&r);
        pn += dn;
        po += dO;
        if (r.bad || pat > UINT32_MAX || pn + ln > UINT32_MAX || po + lo > UINT32_MAX)
            return TDX_ECORRUPT;
        h->pattern = (uint32_t)pat;
        h->nstart = (uint32_t)pn;
        h->nend = (uint32_t)(pn + ln);
        h->ostart = (uint32_t)po;
        h->oend = (uint32_t)(po + lo);
    }
    if (r.p != r.end)
        return TDX_ECORRUPT;
    *n = (size_t)cnt;
    return 0;
}

int tdx_store_get_hits(tdx_rtxn *t, uint32_t id, tdx_store_hit **hits, size_t *n, size_t *cap,
                       tdx_err *err)
{
    uint8_t kb[4];
    tdx_be32_put(kb, id);
    MDB_val k = mval(kb, 4), v;
    int rc = mdb_get(t->txn, t->s->dbi[DB_HITS], &k, &v);
    if (rc == MDB_NOTFOUND) {
        *n = 0;
        return tdx_err_set(err, TDX_ENOTFOUND, "no hit list for document %u", id);
    }
    if (rc)
        return lmdb_err(err, rc, "cannot read hits");
    rc = decode_hits(&v, hits, n, cap);
    if (rc == TDX_ENOMEM)
        return tdx_err_set(err, rc, "out of memory");
    if (rc)
        return tdx_err_set(err, rc, "hit list of document %u is corrupt", id);
    return 0;
}

typedef struct deferred_walk {
    MDB_txn *txn;
    tdx_store *s;
    const void *key; /* the one key looked for, or NULL: all */
    size_t klen;
    tdx_buf *kb;
    flush_ent *e;
    size_t n, cap;
} deferred_walk;

static int deferred_one(void *ctx, uint32_t id, const tdx_store_docinfo *d)
{
    deferred_walk *w = ctx;
    if (w->key && (d->key_len != w->klen || memcmp(d->key, w->key, w->klen) != 0))
        return 0;
    if (w->key == NULL) {
        MDB_val kk = mval(d->key, d->key_len), dv;
        int rc = mdb_get(w->txn, w->s->dbi[DB_KEYS], &kk, &dv);
        if (rc != MDB_NOTFOUND)
            return rc; /* 0: in the table already */
    }
    if (tdx_grow((void **)&w->e, &w->cap, w->n + 1, sizeof *w->e, 64))
        return ENOMEM;
    flush_ent *f = &w->e[w->n++];
    f->k = (const uint8_t *)(uintptr_t)w->kb->len; /* an offset until kb stops moving */
    f->klen = d->key_len;
    tdx_be32_put(f->v, id);
    f->v[4] = 0;
    f->vlen = 5;
    return tdx_buf_append(w->kb, d->key, d->key_len) ? ENOMEM : 0;
}

/*
 * Own keys of the live documents from meta "deferred" on that are not in
 * the keys table yet, sorted as the table (a writer keeps them in memory;
 * a killed run leaves them so).  With key != NULL, only the document of
 * that key is looked for.  Bounded by the writer's key set (plus a batch).
 */
static int deferred_keys(MDB_txn *txn, tdx_store *s, const void *key, size_t klen, tdx_buf *kb,
                         flush_ent **out, size_t *n)
{
    *out = NULL;
    *n = 0;
    counts c;
    uint64_t mark;
    int rc = read_counts(txn, s, &c);
    if (rc == 0)
        rc = read_pend_mark(txn, s, c.next_doc, &mark);
    if (rc || mark >= c.next_doc)
        return rc;
    deferred_walk w = {txn, s, key, klen, kb, NULL, 0, 0};
    rc = walk_live_from(txn, s, mark, deferred_one, &w);
    if (rc) {
        tdx_free(w.e);
        return rc;
    }
    ents_place(w.e, w.n, kb);
    *out = w.e;
    *n = w.n;
    return 0;
}

int tdx_store_find_key(tdx_rtxn *t, const char *key, size_t len, uint32_t *out_id, tdx_err *err)
{
    if (len == 0 || len > 511)
        return tdx_err_set(err, TDX_ENOTFOUND, "no document with that key");
    MDB_val k = mval(key, len), v;
    int rc = mdb_get(t->txn, t->s->dbi[DB_KEYS], &k, &v);
    if (rc == MDB_NOTFOUND) {
        tdx_buf kb = TDX_BUF_INIT;
        flush_ent *e;
        size_t n;
        rc = deferred_keys(t->txn, t->s, key, len, &kb, &e, &n);
        if (rc == 0 && n)
            *out_id = tdx_be32_get(e[0].v);
        else if (rc == 0)
            rc = MDB_NOTFOUND;
        tdx_free(e);
        tdx_buf_free(&kb);
        if (rc == 0)
            return 0;
    }
    if (rc == MDB_NOTFOUND)
        return tdx_err_set(err, TDX_ENOTFOUND, "no document with key '%.*s'", (int)len, key);
    if (rc)
        return lmdb_err(err, rc, "cannot read keys");
    if (v.mv_size != 5)
        return tdx_err_set(err, TDX_ECORRUPT, "key record is corrupt");
    *out_id = tdx_be32_get(v.mv_data);
    return 0;
}

/* Where an entry's payload lies in a block value (offsets from its start). */
typedef struct pay_span {
    uint32_t off, len;
} pay_span;

typedef struct pay_vec {
    pay_span *v;
    size_t n, cap;
} pay_vec;

/* Skip one positions payload (postings.h); 0 if malformed. */
static size_t skip_positions(rd *r)
{
    const uint8_t *start = r->p;
    uint64_t h = rd_vint(r);
    if (!r->bad && (h & 1)) {
        uint64_t m = rd_vint(r);
        if (r->bad || m == 0 || m > (uint64_t)(r->end - r->p))
            return 0;
        size_t n = tdx_varint_skip(r->p, r->end, m);
        if (n == 0)
            return 0;
        r->p += n;
    }
    return r->bad ? 0 : (size_t)(r->p - start);
}

/* How a block's payloads are laid out (decode_block). */
enum { BLK_DOCS = 0, BLK_POS = 1, BLK_POS_CK = 2 };

static int blk_mode(const tdx_store *s, int positional)
{
    return positional ? (s->ckpt ? BLK_POS_CK : BLK_POS) : BLK_DOCS;
}

/* Where a block's payloads start and, in format 3, where each group of
 * POST_CK entries' payloads starts: group j at ck[j] (ck[0] = off). */
typedef struct blk_pay {
    size_t off;
    size_t nck; /* checkpoints: groups 1 .. nck */
    uint32_t ck[POST_NCK + 1];
} blk_pay;

/*
 * Append the docs of one postings block to out.  A block is columnar: the
 * count, the doc deltas, in mode BLK_POS_CK the checkpoints of a block of
 * more than POST_CK entries, then (positional modes only) every entry's
 * positions back to back.  The first doc is `base` (from the key) and n-1
 * deltas follow.  When `pays` is given the positions are walked, each
 * entry's place recorded and the checkpoints checked against them;
 * otherwise they are not read.  bp, when given, gets where they start.
 */
static int decode_block(const MDB_val *v, uint32_t base, int mode, tdx_docset *out, pay_vec *pays,
                        blk_pay *bp)
{
    rd r = {v->mv_data, (const uint8_t *)v->mv_data + v->mv_size, 0};
    uint64_t n = rd_vint(&r);
    if (r.bad || n == 0 || n > v->mv_size)
        return TDX_ECORRUPT;
    if (tdx_docset_reserve(out, (size_t)n))
        return TDX_ENOMEM;
    uint64_t cur = base;
    uint32_t last = out->n ? out->v[out->n - 1] : 0;
    uint32_t *dst = out->v + out->n;
    for (uint64_t i = 0; i < n; i++) {
        /* A common term's deltas are mostly one byte each: eight at a time
         * when none has its high bit set and none is 0.  Each adds at most
         * 127, so the run's last doc is the only one to bound. */
        while (i > 0 && n - i >= 8 && r.end - r.p >= 8) {
            uint64_t w;
            memcpy(&w, r.p, 8);
            const uint64_t hi = 0x8080808080808080ULL, lo = 0x0101010101010101ULL;
            if ((w & hi) || ((w - lo) & ~w & hi))
                break;
            for (int k = 0; k < 8; k++)
                dst[i + k] = (uint32_t)(cur += r.p[k]);
            if (cur > UINT32_MAX)
                return TDX_ECORRUPT;
            r.p += 8;
            i += 8;
            last = dst[i - 1];
        }
        if (i == n)
            break;
        if (i > 0) {
            uint64_t d = rd_vint(&r);
            if (d == 0)
                return TDX_ECORRUPT;
            cur += d;
        }
        if (r.bad || cur > UINT32_MAX || cur == 0 || (uint32_t)cur <= last)
            return TDX_ECORRUPT;
        last = (uint32_t)cur;
        dst[i] = last;
    }
    out->n += (size_t)n;
    blk_pay local;
    if (bp == NULL)
        bp = &local;
    bp->nck = mode == BLK_POS_CK && n <= POST_BLOCK_MAX ? (size_t)(n - 1) / POST_CK : 0;
    uint64_t glen[POST_NCK];
    for (size_t j = 0; j < bp->nck; j++)
        glen[j] = rd_vint(&r);
    const uint8_t *base_p = v->mv_data;
    bp->off = (size_t)(r.p - base_p);
    bp->ck[0] = (uint32_t)bp->off;
    for (size_t j = 0; j < bp->nck; j++) {
        if (r.bad || glen[j] == 0 || glen[j] > v->mv_size - bp->ck[j])
            return TDX_ECORRUPT;
        bp->ck[j + 1] = bp->ck[j] + (uint32_t)glen[j];
    }
    if (mode == BLK_DOCS && r.p != r.end)
        return TDX_ECORRUPT;
    if (pays == NULL)
        return mode != BLK_DOCS && r.p >= r.end ? TDX_ECORRUPT : 0;
    if (tdx_grow((void **)&pays->v, &pays->cap, pays->n + n, sizeof *pays->v, 64))
        return TDX_ENOMEM;
    for (uint64_t i = 0; i < n; i++) {
        size_t at = (size_t)(r.p - base_p);
        if (i && i % POST_CK == 0 && i / POST_CK <= bp->nck && at != bp->ck[i / POST_CK])
            return TDX_ECORRUPT; /* a checkpoint that is not where its group starts */
        size_t plen = mode != BLK_DOCS ? skip_positions(&r) : 0;
        if (mode != BLK_DOCS && plen == 0)
            return TDX_ECORRUPT;
        pays->v[pays->n].off = (uint32_t)at;
        pays->v[pays->n].len = (uint32_t)plen;
        pays->n++;
    }
    return r.p == r.end ? 0 : TDX_ECORRUPT;
}

static int term_key_main(const uint8_t *term, size_t len, uint32_t first, uint8_t *out)
{
    memcpy(out, term, len);
    out[len] = 0;
    tdx_be32_put(out + len + 1, first);
    return (int)len + 5;
}

static int cmp_bytes(const uint8_t *a, size_t la, const uint8_t *b, size_t lb)
{
    int c = memcmp(a, b, la < lb ? la : lb);
    return c ? c : (la < lb ? -1 : la > lb);
}

/* ---- a segment's shared values (format 4) ---- */

/* Is k a block key of the term whose keys start with kp[0..pl)? */
static int is_block_of(const MDB_val *k, const uint8_t *kp, size_t pl)
{
    return k->mv_size == pl + 4 && memcmp(k->mv_data, kp, pl) == 0;
}

/*
 * Reading a shared value's entries: each names its term by the bytes it
 * shares with the entry before (the first: with the value's key) and the
 * rest, then its block's first doc (less the segment id) and the block.
 * term points at a buffer of 512 bytes holding the term before.
 */
typedef struct grp_rd {
    const uint8_t *p, *end; /* the next entry; where the entries end */
    const uint8_t *base;    /* the value */
    const uint8_t *rst;     /* its restarts' offsets (be16 each) */
    size_t nr;              /* their number */
    size_t i;               /* the next entry's number */
    uint32_t seg;
    int first_entry;
    uint8_t *term;
    size_t tlen;
    uint32_t first; /* the entry's block's first doc */
    MDB_val blk;
} grp_rd;

/* Start reading shared value v (its key's term in term[0..tlen)) at its
 * first entry.  0 or MDB_CORRUPTED (its restarts do not fit it). */
static int grp_open(grp_rd *r, const MDB_val *v, uint32_t seg, uint8_t *term, size_t tlen)
{
    const uint8_t *p = v->mv_data;
    size_t nr = v->mv_size >= 4 ? tdx_be16_get(p + v->mv_size - 2) : 0;
    if (nr == 0 || 2 * nr + 2 > v->mv_size)
        return MDB_CORRUPTED;
    size_t end = v->mv_size - 2 - 2 * nr;
    *r = (grp_rd){p, p + end, p, p + end, nr, 0, seg, 1, term, tlen, 0, {0, NULL}};
    return 0;
}

/* The next entry: 1, 0 at the value's end, or MDB_CORRUPTED.  The
 * restarts are checked as they are passed: entry i * GROUP_RESTART
 * starts at restart i and names its term in full, and there are as many
 * restarts as that. */
static int grp_next(grp_rd *r)
{
    if (r->p == r->end) {
        /* a shared value holds an entry, and a restart per GROUP_RESTART */
        int ok = !r->first_entry && r->nr == (r->i + GROUP_RESTART - 1) / GROUP_RESTART;
        return ok ? 0 : MDB_CORRUPTED;
    }
    int restart = r->i % GROUP_RESTART == 0;
    if (restart && (r->i / GROUP_RESTART >= r->nr ||
                    tdx_be16_get(r->rst + 2 * (r->i / GROUP_RESTART)) != r->p - r->base))
        return MDB_CORRUPTED;
    uint64_t shared, slen, fd, blen;
    size_t k = tdx_varint_get(r->p, r->end, &shared);
    if (k == 0)
        return MDB_CORRUPTED;
    r->p += k;
    if ((k = tdx_varint_get(r->p, r->end, &slen)) == 0)
        return MDB_CORRUPTED;
    r->p += k;
    if (shared > r->tlen || slen > 512 - shared || slen > (size_t)(r->end - r->p) ||
        shared + slen == 0 || (r->first_entry && (shared != r->tlen || slen != 0)) ||
        (restart && !r->first_entry && shared != 0))
        return MDB_CORRUPTED;
    memcpy(r->term + shared, r->p, slen);
    r->tlen = shared + slen;
    r->p += slen;
    if ((k = tdx_varint_get(r->p, r->end, &fd)) == 0 || fd > UINT32_MAX - r->seg)
        return MDB_CORRUPTED;
    r->p += k;
    if ((k = tdx_varint_get(r->p, r->end, &blen)) == 0 || blen == 0 ||
        blen > (size_t)(r->end - r->p - k))
        return MDB_CORRUPTED;
    r->p += k;
    r->first = r->seg + (uint32_t)fd;
    r->blk = mval(r->p, (size_t)blen);
    r->p += blen;
    r->first_entry = 0;
    r->i++;
    return 1;
}

/* Is k a segment key naming a shared value: [be32 seg] term 0x00 be32(0)?
 * (Doc ids start at 1: no block is keyed by doc 0.) */
static int is_group_key(const MDB_val *k)
{
    const uint8_t *p = k->mv_data;
    return k->mv_size >= 10 && p[k->mv_size - 5] == 0 && tdx_be32_get(p + k->mv_size - 4) == 0;
}

static int seg_group_key(const MDB_val *k, uint32_t seg)
{
    return is_group_key(k) && tdx_be32_get(k->mv_data) == seg;
}

/*
 * One segment in key order with its shared values opened: each entry is a
 * term's block under the key it would have alone ([be32 seg] term 0x00
 * be32(first doc): in kb for an entry of a shared value).  The cursor
 * stays on a shared value's key while its entries are read.
 */
typedef struct segit {
    MDB_cursor *cur;
    uint32_t seg;
    int valid;   /* an entry is in hand (0: past the segment's end) */
    int grouped; /* it is an entry of a shared value */
    MDB_val k, v;
    grp_rd g;
    uint8_t kb[4 + 512 + 5];
} segit;

/* The entry g read, as the one in hand. */
static void segit_fill(segit *it)
{
    size_t tl = it->g.tlen;
    it->kb[4 + tl] = 0;
    tdx_be32_put(it->kb + 5 + tl, it->g.first);
    it->k = mval(it->kb, tl + 9);
    it->v = it->g.blk;
    it->valid = it->grouped = 1;
}

/* Open the shared value under key k and take its first entry at or after
 * target[0..tl) (all of them: tl == 0); valid stays 0 when none is.  0 or
 * MDB_CORRUPTED. */
static int segit_group(segit *it, const MDB_val *k, const MDB_val *v, const uint8_t *target,
                       size_t tl)
{
    size_t tlen = k->mv_size - 9;
    if (tlen > 512)
        return MDB_CORRUPTED;
    it->valid = it->grouped = 0;
    grp_rd r;
    int rc = grp_open(&r, v, it->seg, it->kb + 4, 0);
    if (rc)
        return rc;
    memcpy(it->kb, k->mv_data, 4);
    size_t start = 0;
    if (tl && r.nr > 1) {
        /* The last restart past the first whose entry is below target:
         * the entries before it are too.  A restart's entry reads alone
         * (tlen 0: it shares nothing). */
        size_t lo = 1, hi = r.nr;
        while (lo < hi) {
            size_t mid = lo + (hi - lo) / 2;
            it->g = r;
            it->g.first_entry = 0;
            it->g.i = mid * GROUP_RESTART;
            it->g.p = r.base + tdx_be16_get(r.rst + 2 * mid);
            if (it->g.p >= r.end || (rc = grp_next(&it->g)) != 1)
                return MDB_CORRUPTED;
            segit_fill(it);
            if (cmp_bytes(it->k.mv_data, it->k.mv_size, target, tl) < 0)
                lo = mid + 1;
            else
                hi = mid;
        }
        start = lo - 1;
    }
    it->g = r;
    it->valid = it->grouped = 0;
    if (start) {
        it->g.first_entry = 0;
        it->g.i = start * GROUP_RESTART;
        it->g.p = r.base + tdx_be16_get(r.rst + 2 * start);
    } else {
        memcpy(it->kb + 4, (const uint8_t *)k->mv_data + 4, tlen); /* the first entry's term */
        it->g.tlen = tlen;
    }
    for (;;) {
        rc = grp_next(&it->g);
        if (rc != 1)
            return rc;
        segit_fill(it);
        if (tl == 0 || cmp_bytes(it->k.mv_data, it->k.mv_size, target, tl) >= 0)
            return 0;
        it->valid = 0;
    }
}

/* Take the key the cursor is on (g: the get's code). */
static int segit_take(segit *it, int g, const MDB_val *k, const MDB_val *v)
{
    it->valid = it->grouped = 0;
    if (g)
        return g == MDB_NOTFOUND ? 0 : g;
    if (k->mv_size < 4 || tdx_be32_get(k->mv_data) != it->seg)
        return 0;
    if (k->mv_size < 10)
        return MDB_CORRUPTED;
    if (is_group_key(k))
        return segit_group(it, k, v, NULL, 0);
    it->k = *k;
    it->v = *v;
    it->valid = 1;
    return 0;
}

/* The segment's next entry.  0 or an LMDB code. */
static int segit_next(segit *it)
{
    if (it->grouped) {
        int rc = grp_next(&it->g);
        if (rc == 1) {
            segit_fill(it);
            return 0;
        }
        it->valid = 0;
        if (rc)
            return rc;
    }
    MDB_val k, v;
    int g = mdb_cursor_get(it->cur, &k, &v, MDB_NEXT);
    return segit_take(it, g, &k, &v);
}

/* The segment's first entry whose key is at or after target[0..tl) (which
 * starts with the segment id).  When the target is a whole term's
 * ([seg] term 0x00) and the key found is a block of that term, no shared
 * value before it can hold entries from the target on (a term has blocks
 * of its own or an entry, not both), so none is read.  0 or an LMDB code. */
static int segit_seek_at(segit *it, const uint8_t *target, size_t tl, int whole_term)
{
    it->valid = it->grouped = 0;
    MDB_val k = mval(target, tl), v;
    int g = mdb_cursor_get(it->cur, &k, &v, MDB_SET_RANGE);
    if (g && g != MDB_NOTFOUND)
        return g;
    if (g == 0 && ((k.mv_size == tl && memcmp(k.mv_data, target, tl) == 0) ||
                   (whole_term && is_block_of(&k, target, tl))))
        return segit_take(it, g, &k, &v); /* a shared value starting there opens */
    /* The shared value before the key found may hold entries from target on. */
    MDB_val pk, pv;
    int pg = mdb_cursor_get(it->cur, &pk, &pv, g ? MDB_LAST : MDB_PREV);
    if (pg && pg != MDB_NOTFOUND)
        return pg;
    if (pg == 0 && seg_group_key(&pk, it->seg)) {
        int rc = segit_group(it, &pk, &pv, target, tl);
        if (rc || it->valid)
            return rc;
    }
    if (g)
        return 0;
    if (pg == 0) {
        g = mdb_cursor_get(it->cur, &k, &v, MDB_NEXT);
    } else {
        k = mval(target, tl);
        g = mdb_cursor_get(it->cur, &k, &v, MDB_SET_RANGE);
    }
    return segit_take(it, g, &k, &v);
}

static int segit_seek(segit *it, const uint8_t *target, size_t tl)
{
    return segit_seek_at(it, target, tl, 0);
}

/* Where a term's postings are: the main tree to read, and the segments
 * (those with ids above *seg_floor) that still hold some of them.  For the
 * term a merge stopped inside, *below is its docs' start in the main tree
 * returned (the docs before it are in the tree being built); else 0. */
static MDB_dbi route(const tdx_rtxn *t, const uint8_t *term, size_t len, uint32_t *seg_floor,
                     uint32_t *below)
{
    *below = 0;
    if (t->merging) {
        int c = cmp_bytes(term, len, t->split, t->split_tlen);
        if (c < 0) {
            *seg_floor = t->seg_max;
            return t->dst;
        }
        if (c == 0)
            *below = t->split_doc;
    }
    *seg_floor = 0;
    return t->post;
}

/*
 * Visit every block of a term in doc order: its blocks in the main tree,
 * then its blocks in each segment that may hold it.  fn gets the value and
 * the block's first doc; a nonzero return stops the walk: a TDX_E* code
 * is returned, WALK_STOP (the walk has what it needs) gives 0.
 */
typedef int (*block_fn)(void *ctx, const MDB_val *v, uint32_t first);

/* A reader's TDX_E* code as an error: ENOMEM, EIO, or corrupt postings. */
static int postings_err(tdx_err *err, int rc)
{
    if (rc == TDX_ENOMEM)
        return tdx_err_set(err, rc, "out of memory");
    if (rc == TDX_EIO)
        return tdx_err_set(err, rc, "cannot read postings");
    return tdx_err_set(err, TDX_ECORRUPT, "postings of a term are corrupt");
}

/* The blocks of dbi whose keys are pre (pl bytes: [segment id] term 0x00)
 * and a first doc, through cur: fn's code, or an LMDB code (MDB_NOTFOUND
 * at the end is 0). */
static int walk_keys(MDB_cursor *cur, const uint8_t *pre, size_t pl, block_fn fn, void *ctx,
                     int *out_fn_rc)
{
    MDB_val k = mval(pre, pl), v;
    int g = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE);
    *out_fn_rc = 0;
    while (g == 0 && k.mv_size == pl + 4 && memcmp(k.mv_data, pre, pl) == 0) {
        *out_fn_rc = fn(ctx, &v, tdx_be32_get((const uint8_t *)k.mv_data + pl));
        if (*out_fn_rc)
            return 0;
        g = mdb_cursor_get(cur, &k, &v, MDB_NEXT);
    }
    return g == MDB_NOTFOUND ? 0 : g;
}

/* Keys stepped over at most before a lookup in key order searches instead. */
#define SEQ_STEPS 16
/* A block_fn's code to end a walk early, without error. */
#define WALK_STOP 1

/* The next step budget: doubled after stepping reached the term asked,
 * halved after it did not. */
static int seq_adapt(int budget, int reached)
{
    return reached ? (budget < SEQ_STEPS ? budget * 2 : SEQ_STEPS) : (budget > 1 ? budget / 2 : 1);
}

/* A pending segment's iterator kept for lookups in key order. */
typedef struct segseq {
    segit it;
    int ok;     /* it stands at the first entry at or after the last term
                 * asked, or on an entry of that term (past the segment's
                 * end: it.valid 0): every entry before is of a term at most
                 * that one */
    int budget; /* as seq_budget */
} segseq;

static void segseq_free(tdx_rtxn *t)
{
    for (size_t i = 0; t->sseq && i < t->nsegs; i++)
        if (t->sseq[i].it.cur)
            mdb_cursor_close(t->sseq[i].it.cur);
    tdx_free(t->sseq);
    t->sseq = NULL;
}

/*
 * Segment i's first entry of the term whose keys start with sk[0..pl)
 * ([seg] term 0x00): 0 with *found set (the entry in hand), or an LMDB
 * code.  A term asked after the last one (in_order) is stepped to from
 * where that one left the iterator, within a budget, before any search:
 * the words holding a fragment are asked in order, thousands of them, and
 * most are not in a given segment at all.
 */
static int seg_lookup(tdx_rtxn *t, size_t i, const uint8_t *sk, size_t pl, int in_order, int *found)
{
    segseq *q = &t->sseq[i];
    segit *it = &q->it;
    *found = 0;
    if (it->cur == NULL) {
        int g = mdb_cursor_open(t->txn, t->s->dbi[DB_POSTSEG], &it->cur);
        if (g)
            return g;
        it->seg = t->segs[i];
        q->ok = 0;
    }
    int reached = 0;
    if (in_order && q->ok) {
        int budget = q->budget ? q->budget : SEQ_STEPS;
        for (int step = 0;; step++) {
            if (!it->valid || cmp_bytes(it->k.mv_data, it->k.mv_size, sk, pl) >= 0) {
                reached = 1;
                break;
            }
            if (step == budget)
                break;
            int g = segit_next(it);
            if (g) {
                q->ok = 0;
                return g;
            }
        }
        q->budget = seq_adapt(budget, reached);
    }
    if (!reached) {
        int g = segit_seek_at(it, sk, pl, 1);
        q->ok = g == 0;
        if (g)
            return g;
    }
    *found = it->valid && is_block_of(&it->k, sk, pl);
    return 0;
}

/*
 * walk_blocks in the pending segments above floor (kb: the term and a 0
 * byte).  Each segment is laid out as the main tree, its keys prefixed by
 * its id; a term there whose list is short may be an entry of a shared
 * value, its only block in the segment.  0, or a TDX_E* code said in err.
 */
static int walk_segments(tdx_rtxn *t, const uint8_t *kb, size_t len, uint32_t floor,
                         block_fn fn, void *ctx, tdx_err *err)
{
    int rc = 0, g;
    if (t->sseq == NULL && (t->sseq = tdx_calloc(t->nsegs, sizeof *t->sseq)) == NULL)
        return tdx_err_set(err, TDX_ENOMEM, "out of memory");
    /* A segment skipped for the last term (below the floor, or after a
     * walk that stopped early) still stands where an earlier one left it:
     * behind a term asked in order, so it steps on; a term out of order
     * sends every segment to a search. */
    int in_order = t->sseq_last_len && cmp_bytes(t->sseq_last, t->sseq_last_len, kb, len + 1) < 0;
    for (size_t i = 0; !in_order && i < t->nsegs; i++)
        t->sseq[i].ok = 0;
    memcpy(t->sseq_last, kb, len + 1);
    t->sseq_last_len = len + 1;
    for (size_t i = 0; rc == 0 && i < t->nsegs; i++) {
        if (t->segs[i] <= floor)
            continue;
        uint8_t sk[4 + 512 + 5];
        tdx_be32_put(sk, t->segs[i]);
        memcpy(sk + 4, kb, len + 1);
        segit *it = &t->sseq[i].it;
        int found;
        g = seg_lookup(t, i, sk, len + 5, in_order, &found);
        while (g == 0 && found && it->valid && is_block_of(&it->k, sk, len + 5)) {
            rc = fn(ctx, &it->v, tdx_be32_get((const uint8_t *)it->k.mv_data + len + 5));
            if (rc || it->grouped)
                break;
            g = segit_next(it);
        }
        if (g) {
            t->sseq[i].ok = 0;
            return lmdb_err(err, g, "cannot read postings");
        }
    }
    return rc == WALK_STOP ? 0 : rc ? postings_err(err, rc) : 0;
}

static int walk_blocks(tdx_rtxn *t, const uint8_t *term, size_t len, block_fn fn, void *ctx,
                       tdx_err *err)
{
    int rc = load_segments(t, err);
    if (rc)
        return rc;
    uint8_t kb[512];
    int kl = term_key_main(term, len, 0, kb);
    uint32_t floor, below;
    MDB_dbi main = route(t, term, len, &floor, &below);
    if (below) {
        /* A merge stopped inside this term: its first docs are in the
         * tree being built. */
        MDB_cursor *dc;
        int g = mdb_cursor_open(t->txn, t->dst, &dc);
        if (g == 0) {
            g = walk_keys(dc, kb, len + 1, fn, ctx, &rc);
            mdb_cursor_close(dc);
        }
        if (g)
            return lmdb_err(err, g, "cannot read postings");
        if (rc)
            return rc == WALK_STOP ? 0 : postings_err(err, rc);
    }
    MDB_cursor *cur;
    int kept = t->seq != NULL && t->seq_dbi == main;
    if (kept) {
        cur = t->seq;
    } else {
        rc = mdb_cursor_open(t->txn, main, &cur);
        if (rc)
            return lmdb_err(err, rc, "cannot read postings");
        if (t->seq == NULL) {
            t->seq = cur;
            t->seq_dbi = main;
            t->seq_at = 0;
            kept = 1;
        }
    }
    MDB_val k = mval(kb, (size_t)kl), v;
    int g = MDB_NOTFOUND;
    if (kept && t->seq_at) {
        /* Terms asked in key order: a few steps on from the last one
         * usually reach this one, without a search from the root. */
        g = mdb_cursor_get(cur, &k, &v, MDB_GET_CURRENT);
        if (g == 0 && cmp_bytes(k.mv_data, k.mv_size, kb, (size_t)kl) < 0) {
            /* The budget adapts to how far apart the terms asked are:
             * halved after stepping failed, doubled after it reached the
             * term, so sparse lookups (a fragment found in one word of
             * ten) stop paying for steps that end in a search anyway. */
            int budget = t->seq_budget ? t->seq_budget : SEQ_STEPS;
            for (int step = 0; g == 0 && step < budget; step++) {
                g = mdb_cursor_get(cur, &k, &v, MDB_NEXT);
                if (g == 0 && cmp_bytes(k.mv_data, k.mv_size, kb, (size_t)kl) >= 0)
                    break;
            }
            int reached = g == 0 && cmp_bytes(k.mv_data, k.mv_size, kb, (size_t)kl) >= 0;
            t->seq_budget = seq_adapt(budget, reached);
            if (g == 0 && !reached)
                g = MDB_NOTFOUND; /* not there yet: search */
        } else {
            g = MDB_NOTFOUND; /* behind the last term: search */
        }
    }
    if (g != 0) {
        k = mval(kb, (size_t)kl);
        g = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE);
    }
    while (g == 0 && k.mv_size == (size_t)kl && memcmp(k.mv_data, kb, len + 1) == 0) {
        rc = fn(ctx, &v, tdx_be32_get((const uint8_t *)k.mv_data + len + 1));
        if (rc)
            break;
        g = mdb_cursor_get(cur, &k, &v, MDB_NEXT);
    }
    if (kept)
        t->seq_at = g == 0;
    else
        mdb_cursor_close(cur);
    if (rc == 0 && g && g != MDB_NOTFOUND)
        return lmdb_err(err, g, "cannot read postings");
    if (rc == 0 && t->nsegs)
        return walk_segments(t, kb, len, floor, fn, ctx, err);
    return rc == WALK_STOP ? 0 : rc ? postings_err(err, rc) : 0;
}

typedef struct docs_walk {
    tdx_docset *out;
    int mode; /* blk_mode */
    uint32_t upto;
} docs_walk;

static int docs_block(void *ctx, const MDB_val *v, uint32_t first)
{
    docs_walk *w = ctx;
    if (first > w->upto)
        return WALK_STOP; /* blocks come in doc order: the rest are later */
    return decode_block(v, first, w->mode, w->out, NULL, NULL);
}

int tdx_store_postings_upto(tdx_rtxn *t, const uint8_t *term, size_t len, uint32_t upto,
                            tdx_docset *out, tdx_err *err)
{
    out->n = 0;
    if (len == 0 || len > 500)
        return 0;
    docs_walk w = {out, blk_mode(t->s, tdx_term_positional(term[0])), upto};
    int rc = walk_blocks(t, term, len, docs_block, &w, err);
    while (rc == 0 && out->n && out->v[out->n - 1] > upto)
        out->n--;
    return rc;
}

int tdx_store_postings(tdx_rtxn *t, const uint8_t *term, size_t len, tdx_docset *out, tdx_err *err)
{
    return tdx_store_postings_upto(t, term, len, UINT32_MAX, out, err);
}

static int count_block(void *ctx, const MDB_val *v, uint32_t first)
{
    (void)first;
    uint64_t n;
    if (tdx_varint_get(v->mv_data, (const uint8_t *)v->mv_data + v->mv_size, &n) == 0)
        return TDX_ECORRUPT;
    *(uint64_t *)ctx += n;
    return 0;
}

int tdx_store_postings_count(tdx_rtxn *t, const uint8_t *term, size_t len, uint64_t *out_n,
                             tdx_err *err)
{
    *out_n = 0;
    if (len == 0 || len > 500)
        return 0;
    uint64_t total = 0;
    int rc = walk_blocks(t, term, len, count_block, &total, err);
    if (rc == 0)
        *out_n = total;
    return rc;
}

/* ---- positions ---- */

/*
 * A positions cursor reads a term's blocks from its sources in doc order:
 * source 0 is the main tree (or the tree a merge is building, for terms it
 * has reached), source s >= nmain the pending segment live[s - nmain].  For
 * the term a merge stopped inside, source 0 is the tree being built (docs
 * below `below`) and source 1 the main tree (nmain = 2).  A source holds
 * docs from its start (0; `below`; the segment's id) up to the next
 * source's start, and every source is laid out alike (keys: the segment id
 * for a segment, then term 0x00 be32(first doc)), so one seek and one step
 * serve them all.
 */
struct tdx_poscur {
    tdx_rtxn *t;
    /* kb + 4: the term and a 0 byte; kb: a segment id before them */
    uint8_t kb[4 + 512 + 1];
    size_t len;
    const uint32_t *live; /* the segments above the route's floor */
    size_t nsrc;          /* nmain + their number */
    size_t nmain;         /* sources that are main trees: 1, or 2 (below) */
    uint32_t below;       /* the term a merge stopped inside: docs from here on
                           * are in the main tree (source 1) */
    MDB_cursor *cur;      /* over source 0 */
    MDB_cursor *mcur;     /* over the main tree when nmain is 2 */
    MDB_cursor *scur;     /* over the segments (opened on first use) */
    /* the block in hand */
    MDB_val val;
    tdx_docset docs;
    int loaded;
    size_t src;       /* its source */
    int src_end;      /* it is the term's last block in its source */
    int done;         /* no doc at or after the last one asked for */
    size_t at;        /* where the last lookup in the block ended */
    uint32_t last_asked;
    /* The positions of entry ndec - 1, the last asked for: the block's
     * first ndec entries have been read. */
    size_t ndec;
    size_t pay_next; /* where the payload of entry ndec starts */
    blk_pay bp;      /* where the block's payloads and their groups start */
    uint32_t *pos;
    size_t npos, cap_pos;
};

int tdx_store_poscur_open(tdx_rtxn *t, const uint8_t *term, size_t len, tdx_poscur **out_c,
                          tdx_err *err)
{
    if (len == 0 || len > 500 || !tdx_term_positional(term[0]))
        return tdx_err_set(err, TDX_EINVAL, "not a positional term");
    int rc = load_segments(t, err);
    if (rc)
        return rc;
    tdx_poscur *c = tdx_calloc(1, sizeof *c);
    if (c == NULL)
        return tdx_err_set(err, TDX_ENOMEM, "out of memory");
    c->t = t;
    memcpy(c->kb + 4, term, len);
    c->kb[4 + len] = 0;
    c->len = len;
    uint32_t floor;
    MDB_dbi main = route(t, term, len, &floor, &c->below);
    size_t first = 0;
    while (first < t->nsegs && t->segs[first] <= floor)
        first++;
    c->live = t->segs + first;
    c->nmain = c->below ? 2 : 1;
    c->nsrc = c->nmain + t->nsegs - first;
    rc = mdb_cursor_open(t->txn, c->below ? t->dst : main, &c->cur);
    if (rc == 0 && c->below && (rc = mdb_cursor_open(t->txn, main, &c->mcur)) != 0)
        mdb_cursor_close(c->cur);
    if (rc) {
        tdx_free(c);
        return lmdb_err(err, rc, "cannot read postings");
    }
    *out_c = c;
    return 0;
}

void tdx_store_poscur_close(tdx_poscur *c)
{
    if (c == NULL)
        return;
    mdb_cursor_close(c->cur);
    if (c->mcur)
        mdb_cursor_close(c->mcur);
    if (c->scur)
        mdb_cursor_close(c->scur);
    tdx_docset_free(&c->docs);
    tdx_free(c->pos);
    tdx_free(c);
}

static int poscur_load(tdx_poscur *c, const MDB_val *v, uint32_t first)
{
    c->docs.n = 0;
    c->val = *v;
    c->loaded = 0;
    c->at = 0;
    c->src_end = 0;
    c->ndec = 0;
    c->npos = 0;
    /* Positions are decoded when a doc is asked for (poscur_decode). */
    int rc = decode_block(v, first, blk_mode(c->t->s, 1), &c->docs, NULL, &c->bp);
    c->pay_next = c->bp.off;
    c->loaded = rc == 0;
    return rc;
}

/*
 * Decode the positions of entry `upto` (>= ndec) into pos[0 .. npos),
 * stepping over the entries before it without decoding them: a lookup asks
 * for few of the docs its cursor passes (measured on a two-phrase AND over
 * 1M notices: 314k of 3.5M entries, 2.2M of 20.7M positions), and stepping
 * over a varint is a bit count, eight bytes at a time.  0, TDX_ENOMEM or
 * TDX_ECORRUPT.
 */
static int poscur_decode(tdx_poscur *c, size_t upto)
{
    size_t g = upto / POST_CK;
    if (g && g <= c->bp.nck && g * POST_CK > c->ndec) {
        /* Start at the group of entry upto (format 3's checkpoints). */
        c->ndec = g * POST_CK;
        c->pay_next = c->bp.ck[g];
    }
    const uint8_t *base = c->val.mv_data, *end = base + c->val.mv_size;
    const uint8_t *p = base + c->pay_next;
    uint64_t h, m = 0;
    for (;; c->ndec++) {
        size_t k = tdx_varint_get(p, end, &h);
        if (k == 0)
            return TDX_ECORRUPT;
        p += k;
        m = 0;
        if (h & 1) {
            k = tdx_varint_get(p, end, &m);
            /* Each further position takes at least a byte. */
            if (k == 0 || m == 0 || m > (uint64_t)(end - p - k))
                return TDX_ECORRUPT;
            p += k;
        }
        if (c->ndec == upto)
            break;
        if (m) {
            k = tdx_varint_skip(p, end, m);
            if (k == 0)
                return TDX_ECORRUPT;
            p += k;
        }
    }
    if (tdx_grow((void **)&c->pos, &c->cap_pos, (size_t)m + 1, sizeof *c->pos, 256))
        return TDX_ENOMEM;
    uint64_t v = h >> 1;
    uint32_t *w = c->pos;
    *w++ = (uint32_t)v;
    uint64_t i = 0;
    /* Deltas of one or two bytes (all but the rarest) without a branch on
     * their length, which varies from one to the next; a longer one, or
     * the block's last byte, takes the checked loop below.  Each delta is
     * below 2^14, so v is checked once, at the end. */
    for (; i < m && end - p >= 2; i++) {
        uint32_t b0 = p[0], b1 = p[1];
        if (b0 & b1 & 0x80)
            break;
        uint32_t two = b0 >> 7;
        uint32_t d = (b0 & 0x7f) | ((b1 << 7) & (0u - two));
        if (d == 0)
            return TDX_ECORRUPT;
        p += 1 + two;
        v += d;
        *w++ = (uint32_t)v;
    }
    if (v > UINT32_MAX)
        return TDX_ECORRUPT;
    for (; i < m; i++) {
        uint64_t d;
        size_t k = tdx_varint_get(p, end, &d);
        if (k == 0 || d == 0)
            return TDX_ECORRUPT;
        p += k;
        v += d;
        if (v > UINT32_MAX)
            return TDX_ECORRUPT;
        *w++ = (uint32_t)v;
    }
    c->npos = (size_t)(w - c->pos);
    c->ndec = upto + 1;
    /* The last entry's positions end the block. */
    if (c->ndec == c->docs.n && p != end)
        return TDX_ECORRUPT;
    c->pay_next = (size_t)(p - base);
    return 0;
}

/* Source s's keys start with *kp[0 .. returned length): the segment id (for
 * a segment), the term, 0x00. */
static size_t src_key(tdx_poscur *c, size_t s, const uint8_t **kp)
{
    if (s < c->nmain) {
        *kp = c->kb + 4;
        return c->len + 1;
    }
    tdx_be32_put(c->kb, c->live[s - c->nmain]);
    *kp = c->kb;
    return c->len + 5;
}

static MDB_cursor *src_cursor(tdx_poscur *c, size_t s)
{
    if (s < c->nmain)
        return s ? c->mcur : c->cur;
    if (c->scur == NULL && mdb_cursor_open(c->t->txn, c->t->s->dbi[DB_POSTSEG], &c->scur))
        c->scur = NULL;
    return c->scur;
}

/* Where source s starts.  The segment a merge stopped inside starts at
 * `below` (its docs before it are in the tree being built), and the
 * segments before it hold none of the term's docs any more: starts stay
 * ascending. */
static uint32_t src_start(const tdx_poscur *c, size_t s)
{
    if (s == 0)
        return 0;
    if (s < c->nmain)
        return c->below;
    uint32_t id = c->live[s - c->nmain];
    return id > c->below ? id : c->below;
}

/* The source that holds doc: the last one starting at or before it. */
static size_t source_of(const tdx_poscur *c, uint32_t doc)
{
    size_t lo = 0, hi = c->nsrc - 1; /* src_start(lo) <= doc (source 0 starts at 0) */
    while (lo < hi) {
        size_t mid = lo + (hi - lo + 1) / 2;
        if (src_start(c, mid) <= doc)
            lo = mid;
        else
            hi = mid - 1;
    }
    return lo;
}

/* Load the term's next block in the source of the block in hand: 1, or 0
 * when the block in hand is its last there (src_end set), or a TDX_E* code. */
static int src_step(tdx_poscur *c)
{
    const uint8_t *kp;
    size_t pl = src_key(c, c->src, &kp);
    MDB_cursor *cu = src_cursor(c, c->src);
    if (cu == NULL)
        return TDX_EIO;
    MDB_val k, v;
    int g = mdb_cursor_get(cu, &k, &v, MDB_NEXT);
    if (g != 0 && g != MDB_NOTFOUND)
        return TDX_EIO;
    if (g == 0 && is_block_of(&k, kp, pl)) {
        int rc = poscur_load(c, &v, tdx_be32_get((const uint8_t *)k.mv_data + pl));
        return rc ? rc : 1;
    }
    c->src_end = 1;
    return 0;
}

/* The shared value (key gk, value gv) of segment source s may hold the
 * term: its entry is then the term's one block in the source (src_end
 * set).  1 when it holds the term's first doc >= doc, else 0, or a TDX_E*
 * code. */
static int src_group(tdx_poscur *c, size_t s, const MDB_val *gk, const MDB_val *gv,
                     const uint8_t *kp, size_t pl, uint32_t doc)
{
    if (s < c->nmain)
        return TDX_ECORRUPT; /* the main tree has no shared values */
    segit it = {.seg = c->live[s - c->nmain]};
    if (segit_group(&it, gk, gv, kp, pl))
        return TDX_ECORRUPT;
    if (!it.valid || !is_block_of(&it.k, kp, pl))
        return 0;
    int rc = poscur_load(c, &it.v, it.g.first);
    if (rc)
        return rc;
    c->src_end = 1;
    return c->docs.v[c->docs.n - 1] >= doc;
}

/* Load source s's block holding the term's first doc >= doc: 1, or 0 when
 * the source has no such doc, or a TDX_E* code. */
static int src_seek_ge(tdx_poscur *c, size_t s, uint32_t doc)
{
    c->loaded = 0;
    c->src = s;
    const uint8_t *kp;
    size_t pl = src_key(c, s, &kp);
    MDB_cursor *cu = src_cursor(c, s);
    if (cu == NULL)
        return TDX_EIO;
    uint8_t kb[4 + 512 + 5];
    memcpy(kb, kp, pl);
    tdx_be32_put(kb + pl, doc);
    MDB_val k = mval(kb, pl + 4), v;
    int g = mdb_cursor_get(cu, &k, &v, MDB_SET_RANGE);
    if (g != 0 && g != MDB_NOTFOUND)
        return TDX_EIO;
    int here = g == 0 && is_block_of(&k, kp, pl);
    uint32_t first = here ? tdx_be32_get((const uint8_t *)k.mv_data + pl) : 0;
    if (here && first == 0)
        return src_group(c, s, &k, &v, kp, pl, doc); /* doc 0: the key of its shared value */
    if (here && first == doc) {
        int rc = poscur_load(c, &v, doc);
        return rc ? rc : 1;
    }
    /* The block before, when it is this term's, starts below doc. */
    MDB_val pk, pv;
    int pg = mdb_cursor_get(cu, &pk, &pv, g == MDB_NOTFOUND ? MDB_LAST : MDB_PREV);
    if (pg != 0 && pg != MDB_NOTFOUND)
        return TDX_EIO;
    if (pg == 0 && is_block_of(&pk, kp, pl)) {
        uint32_t pfirst = tdx_be32_get((const uint8_t *)pk.mv_data + pl);
        if (pfirst == 0)
            return src_group(c, s, &pk, &pv, kp, pl, doc);
        int rc = poscur_load(c, &pv, pfirst);
        if (rc)
            return rc;
        return c->docs.v[c->docs.n - 1] >= doc ? 1 : src_step(c);
    }
    if (!here) {
        /* No block of its own: in a segment it may be an entry of the
         * shared value before the key found. */
        if (pg == 0 && s >= c->nmain && seg_group_key(&pk, c->live[s - c->nmain]))
            return src_group(c, s, &pk, &pv, kp, pl, doc);
        return 0;
    }
    /* No block before: the one found starts past doc. */
    k = mval(kb, pl + 4);
    g = mdb_cursor_get(cu, &k, &v, MDB_SET_RANGE);
    if (g != 0)
        return TDX_EIO;
    int rc = poscur_load(c, &v, tdx_be32_get((const uint8_t *)k.mv_data + pl));
    return rc ? rc : 1;
}

/* Keys src_skip reads past before it searches the source instead. */
#define SKIP_KEYS 8

/*
 * Load the block of the source in hand holding its first doc >= doc, from
 * the block in hand (whose docs are all below doc): 1, 0 when the source
 * has none, or a TDX_E* code.  The next keys' first docs say which block
 * that is, so the blocks stepped over are not decoded; past SKIP_KEYS keys
 * the source is searched.  The cursor is left on the block loaded (or past
 * the term's last block, with src_end set).
 */
static int src_skip(tdx_poscur *c, uint32_t doc)
{
    const uint8_t *kp;
    size_t pl = src_key(c, c->src, &kp);
    MDB_cursor *cu = src_cursor(c, c->src);
    if (cu == NULL)
        return TDX_EIO;
    MDB_val k, v, bv = {0, NULL}; /* bv: the last block seen starting below doc */
    uint32_t bfirst = 0;
    for (int n = 0;; n++) {
        int g = mdb_cursor_get(cu, &k, &v, MDB_NEXT);
        if (g != 0 && g != MDB_NOTFOUND)
            return TDX_EIO;
        if (g != 0 || !is_block_of(&k, kp, pl)) {
            /* Past the term's last block here: it is bv, if any. */
            if (bv.mv_data == NULL) {
                c->src_end = 1;
                return 0;
            }
            int rc = poscur_load(c, &bv, bfirst);
            c->src_end = 1;
            return rc ? rc : c->docs.v[c->docs.n - 1] >= doc;
        }
        uint32_t first = tdx_be32_get((const uint8_t *)k.mv_data + pl);
        if (first > doc && bv.mv_data != NULL) {
            /* doc is in bv, or this block starts the answer. */
            int rc = poscur_load(c, &bv, bfirst);
            if (rc)
                return rc;
            if (c->docs.v[c->docs.n - 1] >= doc)
                return mdb_cursor_get(cu, &k, &v, MDB_PREV) == 0 ? 1 : TDX_EIO;
        }
        if (first >= doc) {
            int rc = poscur_load(c, &v, first);
            return rc ? rc : 1;
        }
        bv = v;
        bfirst = first;
        if (n == SKIP_KEYS)
            return src_seek_ge(c, c->src, doc); /* far ahead: search the source */
    }
}

/*
 * Make the block in hand the term's block holding its first doc >= doc:
 * 1, 0 when the term has none, or a TDX_E* code.  Docs are asked in order,
 * so the next block of the source in hand is the likely one: it is
 * stepped to before any search.
 */
static int poscur_to(tdx_poscur *c, uint32_t doc)
{
    if (c->done)
        return 0;
    if (c->loaded && c->docs.n && doc <= c->docs.v[c->docs.n - 1])
        return 1;
    size_t s = source_of(c, doc);
    int rc;
    if (c->loaded && c->src >= s) {
        s = c->src;
        if (!c->src_end && (rc = src_skip(c, doc)) != 0)
            return rc;
        s++;
    }
    for (; s < c->nsrc; s++)
        if ((rc = src_seek_ge(c, s, doc)) != 0)
            return rc;
    c->done = 1;
    return 0;
}

/* First index >= c->at in the block in hand with docs[i] >= doc. */
static size_t poscur_gallop(tdx_poscur *c, uint32_t doc)
{
    c->at = tdx_u32_gallop(c->docs.v, c->docs.n, c->at, doc);
    return c->at;
}

/* tdx_store_poscur_next without the words: 1, 0, TDX_EINVAL (asked out of
 * order) or poscur_to's code. */
static inline int poscur_next(tdx_poscur *c, uint32_t doc, uint32_t *out)
{
    if (doc < c->last_asked)
        return TDX_EINVAL;
    c->last_asked = doc;
    /* Most lookups of a walk land in the block in hand (poscur_to's first
     * test, without the call). */
    if (!c->loaded || c->docs.n == 0 || doc > c->docs.v[c->docs.n - 1]) {
        int rc = poscur_to(c, doc);
        if (rc <= 0)
            return rc;
    }
    *out = c->docs.v[poscur_gallop(c, doc)];
    return 1;
}

static int poscur_next_err(tdx_err *err, int rc)
{
    return rc == TDX_EINVAL ? tdx_err_set(err, rc, "positions asked out of order")
                            : postings_err(err, rc);
}

int tdx_store_poscur_next(tdx_poscur *c, uint32_t doc, uint32_t *out, tdx_err *err)
{
    int rc = poscur_next(c, doc, out);
    return rc < 0 ? poscur_next_err(err, rc) : rc;
}

/* Positions of the entry in hand (c->at, the doc the cursor was moved to):
 * 0, or a TDX_E* code said in err. */
static int poscur_here(tdx_poscur *c, const uint32_t **out_pos, size_t *out_n, tdx_err *err)
{
    size_t lo = c->at;
    if (lo + 1 < c->ndec)
        return tdx_err_set(err, TDX_EINVAL, "positions asked out of order");
    if (lo == c->ndec && c->cap_pos) {
        /* The entry right after the last one read, holding one position
         * (most entries; a dense walk asks for them in a row): its header
         * is all of it. */
        const uint8_t *base = c->val.mv_data, *end = base + c->val.mv_size;
        const uint8_t *p = base + c->pay_next;
        uint64_t h;
        size_t k = tdx_varint_get(p, end, &h);
        if (k && !(h & 1) && (h >> 1) <= UINT32_MAX && (lo + 1 < c->docs.n || p + k == end)) {
            c->pos[0] = (uint32_t)(h >> 1);
            c->npos = 1;
            c->ndec = lo + 1;
            c->pay_next += k;
            *out_pos = c->pos;
            *out_n = 1;
            return 0;
        }
    }
    if (lo >= c->ndec) {
        int rc = poscur_decode(c, lo);
        if (rc == TDX_ENOMEM)
            return tdx_err_set(err, rc, "out of memory");
        if (rc)
            return tdx_err_set(err, TDX_ECORRUPT, "positions of a term are corrupt");
    }
    *out_pos = c->pos;
    *out_n = c->npos;
    return 0;
}

int tdx_store_poscur_get(tdx_poscur *c, uint32_t doc, const uint32_t **out_pos, size_t *out_n,
                         tdx_err *err)
{
    /* Gallops from where the last lookup ended: docs come in order. */
    uint32_t d;
    int rc = poscur_next(c, doc, &d);
    if (rc <= 0)
        return rc ? poscur_next_err(err, rc) : 0;
    if (d != doc)
        return 0;
    rc = poscur_here(c, out_pos, out_n, err);
    return rc ? rc : 1;
}

/* Does phrase ph hold at the doc its cursors are at?  1, 0, or a TDX_E*
 * code said in err. */
static int phrase_here(const tdx_phrase *ph, tdx_err *err)
{
    const uint32_t *pos[TDX_PHRASE_TERMS_MAX];
    size_t np[TDX_PHRASE_TERMS_MAX], at[TDX_PHRASE_TERMS_MAX];
    size_t anchor = 0, many = 0;
    for (size_t j = 0; j < ph->k; j++) {
        int rc = poscur_here(ph->pc[j], &pos[j], &np[j], err);
        if (rc)
            return rc;
        at[j] = 0;
        many |= np[j] - 1;
        if (np[j] < np[anchor])
            anchor = j;
    }
    if (many == 0 && ph->k > 0) {
        /* One position each (the usual case): one start to try. */
        if (pos[0][0] < ph->off[0])
            return 0;
        uint32_t s = pos[0][0] - ph->off[0];
        for (size_t j = 1; j < ph->k; j++)
            if (pos[j][0] != s + ph->off[j])
                return 0;
        return 1;
    }
    size_t a = 0;
    uint32_t start;
    return tdx_phrase_next(pos, np, ph->off, ph->k, anchor, &a, at, &start);
}

int tdx_store_phrase_walk(tdx_poscur *const *cin, const unsigned char *filter, size_t nc,
                          const tdx_phrase *ph, size_t nph, const tdx_docset *skip, size_t limit,
                          tdx_docset *out, tdx_walk_stats *ws, tdx_err *err)
{
    if (nc == 0 || nc > TDX_WALK_CURSORS_MAX)
        return tdx_err_set(err, TDX_EINVAL, "no cursor to walk, or too many");
    tdx_poscur *c[TDX_WALK_CURSORS_MAX];
    unsigned char filt[TDX_WALK_CURSORS_MAX];
    uint64_t asked[TDX_WALK_CURSORS_MAX], moved[TDX_WALK_CURSORS_MAX], agreed = 0;
    int nfilters = 0;
    for (size_t j = 0; j < nc; j++) {
        c[j] = cin[j];
        filt[j] = filter && filter[j];
        nfilters += filt[j];
        asked[j] = moved[j] = 0;
    }
    for (size_t p = 0; p < nph; p++)
        if (ph[p].k == 0 || ph[p].k > TDX_PHRASE_TERMS_MAX)
            return tdx_err_set(err, TDX_EINVAL, "a phrase of no terms or too many");
    uint32_t doc = 1;
    size_t del_at = 0;
    uint64_t nchecks = 0;
    int rc = 0;
    /* The rarest cursor leads: each of its docs is asked of the others in
     * turn, and one that passes it moves the lead on from there. */
    while (!limit || out->n < limit) {
        int got = poscur_next(c[0], doc, &doc);
        size_t j = 1;
        while (got > 0 && j < nc) {
            uint32_t d;
            got = poscur_next(c[j], doc, &d);
            asked[j]++;
            if (got > 0 && d != doc) {
                moved[j]++;
                got = poscur_next(c[0], d, &doc), j = 0;
            }
            j++;
        }
        if (got <= 0) {
            rc = got ? poscur_next_err(err, got) : 0;
            break;
        }
        /* A filter that almost never moves the walk only costs a lookup
         * per doc: it leaves (the lead stays, being the rarest). */
        if (nfilters && ++agreed % TDX_WALK_FILTER_CHECK == 0) {
            size_t kept = 1;
            for (size_t f = 1; f < nc; f++)
                if (!filt[f] || tdx_walk_filter_narrows(moved[f], asked[f])) {
                    c[kept] = c[f];
                    filt[kept] = filt[f];
                    asked[kept] = moved[kept] = 0;
                    kept++;
                }
            ws->filters_dropped += nc - kept;
            nfilters -= (int)(nc - kept);
            nc = kept;
        }
        /* Every cursor is at doc: each phrase in turn, until one fails. */
        if (!tdx_docset_has_from(skip, &del_at, doc)) {
            int hit = 1;
            for (size_t p = 0; hit == 1 && p < nph; p++) {
                nchecks++;
                hit = phrase_here(&ph[p], err);
            }
            if (hit < 0) {
                rc = hit;
                break;
            }
            if (hit && tdx_docset_push(out, doc)) {
                rc = tdx_err_set(err, TDX_ENOMEM, "out of memory");
                break;
            }
        }
        if (doc == UINT32_MAX)
            break;
        doc++;
    }
    ws->checks += nchecks;
    return rc;
}

const uint8_t *tdx_store_poscur_term(const tdx_poscur *c, size_t *out_len)
{
    *out_len = c->len;
    return c->kb + 4;
}

double tdx_store_poscur_density(const tdx_poscur *c, uint64_t ndocs)
{
    if (!c->loaded || c->docs.n == 0)
        return c->done ? 0.0 : 1.0;
    /* A block cut for size spans a typical stretch of the term's docs; a
     * shorter one is usually its only block (or its source's last). */
    if (c->val.mv_size >= POST_BLOCK_BYTES / 2 || c->docs.n == POST_BLOCK_MAX) {
        uint32_t span = c->docs.v[c->docs.n - 1] - c->docs.v[0] + 1;
        return (double)c->docs.n / span;
    }
    return ndocs ? (double)c->docs.n / (double)ndocs : 1.0;
}

typedef struct termvec {
    tdx_buf bytes;
    uint32_t *end;
    size_t n, cap;
    int nomem; /* termvec_push_fn ran out of memory */
} termvec;

static int termvec_push(termvec *tv, const uint8_t *p, size_t len)
{
    if (tv->n == tv->cap) {
        size_t cap = tv->cap ? tv->cap * 2 : 256;
        uint32_t *e = tdx_reallocarray(tv->end, cap, sizeof *e);
        if (e == NULL)
            return TDX_ENOMEM;
        tv->end = e;
        tv->cap = cap;
    }
    if (tdx_buf_append(&tv->bytes, p, len))
        return TDX_ENOMEM;
    tv->end[tv->n++] = (uint32_t)tv->bytes.len;
    return 0;
}

static int cmp_tv(const void *a, const void *b, void *ctx)
{
    const termvec *tv = ctx;
    uint32_t i = *(const uint32_t *)a, j = *(const uint32_t *)b;
    uint32_t si = i ? tv->end[i - 1] : 0, sj = j ? tv->end[j - 1] : 0;
    size_t li = tv->end[i] - si, lj = tv->end[j] - sj;
    int c = memcmp(tv->bytes.p + si, tv->bytes.p + sj, li < lj ? li : lj);
    return c ? c : (li < lj ? -1 : li > lj);
}

/* Is term (class byte, word) a word holding frag as asked (tdx_store_words)? */
typedef struct word_filter {
    const uint8_t *frag;
    size_t len;
    int at_start, at_end;
    tdx_term_fn fn;
    void *ctx;
} word_filter;

static int word_holds(const word_filter *f, const uint8_t *w, size_t wl)
{
    if (wl < f->len)
        return 0;
    if (f->at_start && memcmp(w, f->frag, f->len) != 0)
        return 0;
    if (f->at_end && memcmp(w + wl - f->len, f->frag, f->len) != 0)
        return 0;
    if (f->at_start || f->at_end || f->len == 0)
        return !(f->at_start && f->at_end) || wl == f->len;
    for (size_t i = 0; i + f->len <= wl; i++)
        if (w[i] == f->frag[0] && memcmp(w + i + 1, f->frag + 1, f->len - 1) == 0)
            return 1;
    return 0;
}

/* The terms of every pending segment whose keys start with kb[0..kl) (and
 * that `keep` accepts, when given), appended to tv. */
static int seg_terms(tdx_rtxn *t, const uint8_t *kb, size_t kl, const word_filter *keep,
                     termvec *tv)
{
    int rc = 0;
    segit it = {0};
    if (t->nsegs && mdb_cursor_open(t->txn, t->s->dbi[DB_POSTSEG], &it.cur))
        return TDX_EIO;
    uint8_t last[512];
    for (size_t i = 0; rc == 0 && i < t->nsegs; i++) {
        uint8_t sk[512];
        tdx_be32_put(sk, t->segs[i]);
        memcpy(sk + 4, kb, kl);
        it.seg = t->segs[i];
        int g = segit_seek(&it, sk, kl + 4);
        /* A term's blocks are consecutive keys: each term once. */
        size_t last_len = 0;
        while (g == 0 && rc == 0 && it.valid && it.k.mv_size >= kl + 9 &&
               memcmp(it.k.mv_data, sk, kl + 4) == 0) {
            const uint8_t *term = (const uint8_t *)it.k.mv_data + 4;
            size_t tl = it.k.mv_size - 9;
            if (tl == 0 || tl > sizeof last) {
                rc = TDX_ECORRUPT;
                break;
            }
            if (!(last_len == tl && memcmp(last, term, tl) == 0)) {
                if (keep == NULL || word_holds(keep, term + 1, tl - 1))
                    rc = termvec_push(tv, term, tl);
                memcpy(last, term, tl);
                last_len = tl;
            }
            g = segit_next(&it);
        }
        if (rc == 0 && g)
            rc = g == MDB_CORRUPTED ? TDX_ECORRUPT : TDX_EIO;
    }
    if (it.cur)
        mdb_cursor_close(it.cur);
    return rc;
}

/* termvec_push as a tdx_term_fn: stops the walk when out of memory. */
static int termvec_push_fn(void *ctx, const uint8_t *term, size_t len)
{
    termvec *tv = ctx;
    tv->nomem = termvec_push(tv, term, len) != 0;
    return tv->nomem;
}

/* Visit each distinct term of tree dbi whose keys start with kb[0..kl), in
 * order (a term's blocks are consecutive keys); fn returns nonzero to stop. */
static int tree_terms(tdx_rtxn *t, MDB_dbi dbi, const uint8_t *kb, size_t kl, tdx_term_fn fn,
                      void *ctx)
{
    MDB_cursor *cur;
    if (mdb_cursor_open(t->txn, dbi, &cur))
        return TDX_EIO;
    MDB_val k = mval(kb, kl), v;
    int g = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE), rc = 0;
    uint8_t last[520];
    size_t last_len = 0;
    while (g == 0 && k.mv_size >= kl + 5 && memcmp(k.mv_data, kb, kl) == 0) {
        size_t tl = k.mv_size - 5;
        if (!(last_len == tl && memcmp(last, k.mv_data, tl) == 0)) {
            if (tl > sizeof last) {
                rc = TDX_ECORRUPT;
                break;
            }
            memcpy(last, k.mv_data, tl);
            last_len = tl;
            if (fn(ctx, last, tl))
                break;
        }
        g = mdb_cursor_get(cur, &k, &v, MDB_NEXT);
    }
    mdb_cursor_close(cur);
    if (rc == 0 && g != 0 && g != MDB_NOTFOUND)
        rc = TDX_EIO;
    return rc;
}

/* Free tv; rc as the error a term walk reports. */
static int terms_done(termvec *tv, int rc, tdx_err *err)
{
    tdx_free(tv->end);
    tdx_buf_free(&tv->bytes);
    if (rc == TDX_ENOMEM)
        return tdx_err_set(err, rc, "out of memory");
    if (rc == TDX_ECORRUPT)
        return tdx_err_set(err, rc, "postings or the word list are corrupt");
    if (rc)
        return tdx_err_set(err, TDX_EIO, "cannot read postings");
    return 0;
}

/* Visit the terms of tv in byte order, each once; frees tv. */
static int termvec_visit(termvec *tv, tdx_term_fn fn, void *ctx)
{
    uint32_t *order = NULL;
    int rc = 0;
    if (tv->n) {
        order = tdx_reallocarray(NULL, tv->n, sizeof *order);
        if (order == NULL)
            rc = TDX_ENOMEM;
    }
    if (rc == 0 && tv->n) {
        for (size_t i = 0; i < tv->n; i++)
            order[i] = (uint32_t)i;
        qsort_r(order, tv->n, sizeof *order, cmp_tv, tv);
        for (size_t i = 0; i < tv->n; i++) {
            if (i && cmp_tv(&order[i - 1], &order[i], tv) == 0)
                continue;
            uint32_t s0 = order[i] ? tv->end[order[i] - 1] : 0;
            if (fn(ctx, tv->bytes.p + s0, tv->end[order[i]] - s0))
                break;
        }
    }
    tdx_free(order);
    tdx_free(tv->end);
    tdx_buf_free(&tv->bytes);
    tv->end = NULL;
    tv->n = tv->cap = 0;
    return rc;
}

int tdx_store_terms(tdx_rtxn *t, uint8_t cls, const uint8_t *prefix, size_t plen,
                    tdx_term_fn fn, void *ctx, tdx_err *err)
{
    if (plen > 400)
        return 0;
    int rc = load_segments(t, err);
    if (rc)
        return rc;
    termvec tv = {TDX_BUF_INIT, NULL, 0, 0, 0};
    uint8_t kb[512];
    kb[0] = cls;
    if (plen) /* prefix may be NULL when plen is 0 */
        memcpy(kb + 1, prefix, plen);
    size_t kl = plen + 1;
    /* The usual case after a run: one main tree, whose keys are already in
     * term order.  Stream it; no collecting and sorting. */
    if (!t->merging && t->nsegs == 0)
        return terms_done(&tv, tree_terms(t, t->post, kb, kl, fn, ctx), err);
    /* Main trees (both while a merge is half done), then the segments;
     * repeats are dropped after sorting. */
    for (int tree = 0; tree < (t->merging ? 2 : 1) && rc == 0; tree++) {
        rc = tree_terms(t, tree ? t->dst : t->post, kb, kl, termvec_push_fn, &tv);
        if (rc == 0 && tv.nomem)
            rc = TDX_ENOMEM;
    }
    if (rc == 0)
        rc = seg_terms(t, kb, kl, NULL, &tv);
    if (rc == 0)
        rc = termvec_visit(&tv, fn, ctx);
    return terms_done(&tv, rc, err);
}

/* Does the words table list the main tree in full, for this snapshot? */
static int words_listed(tdx_rtxn *t)
{
    if (t->s->no_words || t->merging)
        return 0;
    MDB_val k = mval("words", 5), v;
    char tree = t->post == t->s->dbi[DB_POST_A] ? 'a' : 'b';
    return mdb_get(t->txn, t->s->dbi[DB_META], &k, &v) == 0 && v.mv_size == 1 &&
           *(const char *)v.mv_data == tree;
}

static int word_filter_fn(void *ctx, const uint8_t *term, size_t len)
{
    const word_filter *f = ctx;
    return word_holds(f, term + 1, len - 1) ? f->fn(f->ctx, term, len) : 0;
}

int tdx_store_words(tdx_rtxn *t, const uint8_t *frag, size_t len, int at_start, int at_end,
                    tdx_term_fn fn, void *ctx, tdx_err *err)
{
    word_filter f = {frag, len, at_start, at_end, fn, ctx};
    if (len == 0 || len > 400 || memchr(frag, '\n', len))
        return 0; /* no word holds a line break */
    int rc = load_segments(t, err);
    if (rc)
        return rc;
    if (!words_listed(t))
        return tdx_store_terms(t, WORD_CLASS, at_start ? frag : NULL, at_start ? len : 0,
                               word_filter_fn, &f, err);
    /* Scan the listed words for the fragment; with segments pending, their
     * words join the answer and all of it is visited in order. */
    termvec tv = {TDX_BUF_INIT, NULL, 0, 0, 0};
    MDB_cursor *cur;
    rc = mdb_cursor_open(t->txn, t->s->dbi[DB_WORDS], &cur);
    if (rc)
        return lmdb_err(err, rc, "cannot read the word list");
    uint8_t kb[5] = {t->post == t->s->dbi[DB_POST_A] ? 'a' : 'b', 0, 0, 0, 0};
    MDB_val k = mval(kb, 5), v;
    uint8_t term[TDX_WORDS_TERM_MAX];
    int g = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE), stop = 0;
    while (g == 0 && rc == 0 && !stop && k.mv_size == 5 && *(const uint8_t *)k.mv_data == kb[0]) {
        const uint8_t *c = v.mv_data, *end = c + v.mv_size, *p = c, *hit;
        while (rc == 0 && !stop && (hit = tdx_memfind(p, (size_t)(end - p), frag, len)) != NULL) {
            const uint8_t *ws = hit, *we = hit + len;
            while (ws > p && ws[-1] != '\n')
                ws--;
            while (we < end && *we != '\n')
                we++;
            size_t wl = (size_t)(we - ws);
            if (wl + 1 > sizeof term) {
                rc = TDX_ECORRUPT;
                break;
            }
            if (word_holds(&f, ws, wl)) {
                term[0] = WORD_CLASS;
                memcpy(term + 1, ws, wl);
                if (t->nsegs)
                    rc = termvec_push(&tv, term, wl + 1);
                else
                    stop = fn(ctx, term, wl + 1);
            }
            p = we < end ? we + 1 : end;
        }
        g = mdb_cursor_get(cur, &k, &v, MDB_NEXT);
    }
    mdb_cursor_close(cur);
    if (rc == 0 && g != 0 && g != MDB_NOTFOUND)
        rc = TDX_EIO;
    if (rc == 0 && t->nsegs) {
        uint8_t sk[1] = {WORD_CLASS};
        uint8_t pk[402];
        pk[0] = WORD_CLASS;
        if (at_start)
            memcpy(pk + 1, frag, len);
        rc = at_start ? seg_terms(t, pk, len + 1, &f, &tv) : seg_terms(t, sk, 1, &f, &tv);
        if (rc == 0)
            rc = termvec_visit(&tv, fn, ctx);
    }
    return terms_done(&tv, rc, err);
}

int tdx_store_deleted(tdx_rtxn *t, tdx_docset *out, tdx_err *err)
{
    out->n = 0;
    MDB_cursor *cur;
    int rc = mdb_cursor_open(t->txn, t->s->dbi[DB_DELETED], &cur);
    if (rc)
        return lmdb_err(err, rc, "cannot read tombstones");
    MDB_val k, v;
    int g = mdb_cursor_get(cur, &k, &v, MDB_FIRST);
    while (g == 0) {
        if (k.mv_size != 4 || tdx_docset_push(out, tdx_be32_get(k.mv_data))) {
            mdb_cursor_close(cur);
            return tdx_err_set(err, k.mv_size != 4 ? TDX_ECORRUPT : TDX_ENOMEM,
                               "cannot read tombstones");
        }
        g = mdb_cursor_get(cur, &k, &v, MDB_NEXT);
    }
    mdb_cursor_close(cur);
    return 0;
}

int tdx_store_dates(tdx_rtxn *t, uint32_t *out, size_t n, tdx_err *err)
{
    memset(out, 0, n * sizeof *out);
    MDB_cursor *cur;
    int rc = mdb_cursor_open(t->txn, t->s->dbi[DB_DATES], &cur);
    if (rc)
        return lmdb_err(err, rc, "cannot read dates");
    MDB_val k, v;
    int g = mdb_cursor_get(cur, &k, &v, MDB_FIRST);
    while (g == 0) {
        if (k.mv_size != 4 || v.mv_size != DATES_PER_BLOCK * 4) {
            mdb_cursor_close(cur);
            return tdx_err_set(err, TDX_ECORRUPT, "date table is corrupt");
        }
        uint64_t base = (uint64_t)tdx_be32_get(k.mv_data) * DATES_PER_BLOCK;
        const uint8_t *p = v.mv_data;
        for (size_t i = 0; i < DATES_PER_BLOCK; i++) {
            uint64_t id = base + i;
            if (id >= 1 && id - 1 < n)
                out[id - 1] = tdx_be32_get(p + 4 * i);
        }
        g = mdb_cursor_get(cur, &k, &v, MDB_NEXT);
    }
    mdb_cursor_close(cur);
    return 0;
}

int tdx_store_get_input(tdx_rtxn *t, const char *path, tdx_store_input *out, tdx_err *err)
{
    size_t len = strlen(path);
    if (len == 0 || len > 511)
        return TDX_ENOTFOUND;
    MDB_val k = mval(path, len), v;
    int rc = mdb_get(t->txn, t->s->dbi[DB_INPUTS], &k, &v);
    if (rc == MDB_NOTFOUND)
        return TDX_ENOTFOUND;
    if (rc)
        return lmdb_err(err, rc, "cannot read input records");
    rd r = {v.mv_data, (const uint8_t *)v.mv_data + v.mv_size, 0};
    out->path = path;
    out->size = rd_vint(&r);
    uint64_t zz = rd_vint(&r);
    out->mtime = (int64_t)(zz >> 1) ^ -(int64_t)(zz & 1);
    out->records = rd_vint(&r);
    if (r.bad || r.p + 1 != r.end)
        return tdx_err_set(err, TDX_ECORRUPT, "input record of '%s' is corrupt", path);
    out->complete = *r.p != 0;
    return 0;
}

static uint64_t tree_bytes(MDB_txn *txn, MDB_dbi dbi)
{
    MDB_stat st;
    if (mdb_stat(txn, dbi, &st))
        return 0;
    return ((uint64_t)st.ms_branch_pages + st.ms_leaf_pages + st.ms_overflow_pages) * st.ms_psize;
}

/* The postings' sizes in one read transaction (the three calls below). */
typedef struct post_sizes {
    size_t nsegs;
    uint64_t main; /* while merging, the tree read and the tree written */
    uint64_t segs;
    uint64_t left; /* while merging, the tree read and the segments: what is left */
} post_sizes;

static int post_sizes_get(tdx_store *s, post_sizes *z, tdx_err *err)
{
    tdx_rtxn *t;
    int rc = tdx_store_read_begin(s, &t, err);
    if (rc)
        return rc;
    rc = load_segments(t, err);
    if (rc == 0) {
        z->nsegs = t->nsegs;
        uint64_t post = tree_bytes(t->txn, t->post);
        z->segs = tree_bytes(t->txn, s->dbi[DB_POSTSEG]);
        z->left = post + z->segs;
        z->main = post + (t->merging ? tree_bytes(t->txn, t->dst) : 0);
    }
    tdx_store_read_end(t);
    return rc;
}

int tdx_store_pending_segments(tdx_store *s, size_t *out_n, tdx_err *err)
{
    post_sizes z;
    int rc = post_sizes_get(s, &z, err);
    if (rc == 0)
        *out_n = z.nsegs;
    return rc;
}

int tdx_store_postings_bytes(tdx_store *s, uint64_t *out_main, uint64_t *out_segs,
                             size_t *out_nsegs, tdx_err *err)
{
    post_sizes z;
    int rc = post_sizes_get(s, &z, err);
    if (rc == 0) {
        *out_nsegs = z.nsegs;
        *out_main = z.main;
        *out_segs = z.segs;
    }
    return rc;
}

int tdx_store_merge_left(tdx_store *s, uint64_t *out, tdx_err *err)
{
    post_sizes z;
    int rc = post_sizes_get(s, &z, err);
    if (rc == 0)
        *out = z.left;
    return rc;
}

/* ---- merging segments into the main postings ---- */


typedef struct mstream {
    MDB_cursor *cur;
    uint32_t seg; /* 0 for the main stream */
    size_t pre;   /* key prefix: 4 (the segment id) or 0 */
    MDB_val k, v;
    int valid;
    segit it; /* a segment's entries, shared values opened (it.cur == cur) */
} mstream;

/* The term of the stream's current key (prefix term 0x00 be32 first). */
static void mstream_term(const mstream *m, const uint8_t **term, size_t *len)
{
    *term = (const uint8_t *)m->k.mv_data + m->pre;
    *len = m->k.mv_size - m->pre - 5;
}

/* Move to the next key (MDB_NEXT), or the first at or after m->k
 * (MDB_SET_RANGE; MDB_FIRST for the main stream). */
static int mstream_step(mstream *m, MDB_cursor_op op)
{
    if (m->seg) {
        int g =
            op == MDB_NEXT ? segit_next(&m->it) : segit_seek(&m->it, m->k.mv_data, m->k.mv_size);
        m->valid = g == 0 && m->it.valid;
        m->k = m->it.k;
        m->v = m->it.v;
        return g;
    }
    int g = mdb_cursor_get(m->cur, &m->k, &m->v, op);
    if (g == MDB_NOTFOUND) {
        m->valid = 0;
        return 0;
    }
    if (g)
        return g;
    if (m->seg && (m->k.mv_size < 4 || tdx_be32_get(m->k.mv_data) != m->seg)) {
        m->valid = 0;
        return 0;
    }
    m->valid = 1;
    return m->k.mv_size >= m->pre + 6 ? 0 : MDB_CORRUPTED;
}

/*
 * Delete the keys of one stream from `from` up to (not including) `to`
 * (to == NULL: to the end of the stream).  The merge deletes what each
 * chunk consumed, so its pages are freed chunk by chunk and reused by the
 * chunks after it: the file never holds the old and the new copies whole.
 * Done with one cursor at a time, after the chunk's reading is over.
 */
static int delete_range(MDB_txn *txn, MDB_dbi dbi, const uint8_t *from, size_t flen,
                        const uint8_t *to, size_t tlen, size_t prefix)
{
    MDB_cursor *c;
    int rc = mdb_cursor_open(txn, dbi, &c);
    if (rc)
        return rc;
    MDB_val k = mval(from, flen), v;
    int g = flen ? mdb_cursor_get(c, &k, &v, MDB_SET_RANGE) : mdb_cursor_get(c, &k, &v, MDB_FIRST);
    while (rc == 0 && g == 0) {
        if (k.mv_size < prefix || memcmp(k.mv_data, from, prefix) != 0)
            break;
        if (to && cmp_bytes(k.mv_data, k.mv_size, to, tlen) >= 0)
            break;
        rc = mdb_cursor_del(c, 0);
        if (rc == 0)
            g = mdb_cursor_get(c, &k, &v, MDB_NEXT);
    }
    if (rc == 0 && g && g != MDB_NOTFOUND)
        rc = g;
    mdb_cursor_close(c);
    return rc;
}

/*
 * delete_range for segment seg's keys from `from` up to `to` (both start
 * with the segment id): a shared value is an entry of the range as a
 * whole.  One holding entries at or after `to` stays (the next chunk reads
 * them), so the one before `from` may be left from the chunk before: it
 * goes with this range when its entries end below `to`.
 */
static int delete_seg_range(MDB_txn *txn, MDB_dbi dbi, uint32_t seg, const uint8_t *from,
                            size_t flen, const uint8_t *to, size_t tlen)
{
    segit it = {.seg = seg};
    int rc = mdb_cursor_open(txn, dbi, &it.cur);
    if (rc)
        return rc;
    /* The first entry from `from` on, and the key the cursor is on for it:
     * its block's, or its shared value's (one left by the chunk before). */
    MDB_val k, v;
    int g = segit_seek(&it, from, flen);
    if (g == 0)
        g = it.valid ? mdb_cursor_get(it.cur, &k, &v, MDB_GET_CURRENT) : MDB_NOTFOUND;
    while (rc == 0 && g == 0) {
        if (k.mv_size < 4 || tdx_be32_get(k.mv_data) != seg ||
            cmp_bytes(k.mv_data, k.mv_size, to, tlen) >= 0)
            break;
        if (is_group_key(&k)) {
            rc = segit_group(&it, &k, &v, to, tlen);
            if (rc || it.valid)
                break; /* it holds entries from `to` on */
        }
        rc = mdb_cursor_del(it.cur, 0);
        if (rc == 0)
            g = mdb_cursor_get(it.cur, &k, &v, MDB_NEXT);
    }
    if (rc == 0 && g && g != MDB_NOTFOUND)
        rc = g;
    mdb_cursor_close(it.cur);
    return rc;
}

/* A term's entries collected while merging: docs and raw payloads. */
typedef struct pending {
    tdx_docset docs;
    tdx_buf pay;
    uint32_t *pay_end; /* [docs.n] */
    size_t cap_end;
    pay_vec spans;     /* decode scratch */
} pending;

static void pending_free(pending *pe)
{
    tdx_docset_free(&pe->docs);
    tdx_buf_free(&pe->pay);
    tdx_free(pe->pay_end);
    tdx_free(pe->spans.v);
}

/* Decode a block into pe, keeping each entry's payload bytes. */
static int pending_add_block(pending *pe, const MDB_val *v, uint32_t first_doc, int mode)
{
    int positional = mode != BLK_DOCS;
    size_t n0 = pe->docs.n;
    pe->spans.n = 0;
    int rc = decode_block(v, first_doc, mode, &pe->docs, positional ? &pe->spans : NULL, NULL);
    if (rc)
        return rc;
    if (tdx_grow((void **)&pe->pay_end, &pe->cap_end, pe->docs.n, sizeof *pe->pay_end, 256))
        return TDX_ENOMEM;
    size_t at = pe->pay.len;
    if (!positional) {
        for (size_t i = n0; i < pe->docs.n; i++)
            pe->pay_end[i] = (uint32_t)at;
        return 0;
    }
    /* The block's positions are back to back up to its end: one copy, and
     * each entry's end from where decode_block found it. */
    uint32_t first = pe->spans.v[0].off;
    if (at + (v->mv_size - first) > UINT32_MAX)
        return TDX_ELIMIT;
    if (tdx_buf_append(&pe->pay, (const uint8_t *)v->mv_data + first, v->mv_size - first))
        return TDX_ENOMEM;
    for (size_t i = 0; i < pe->spans.n; i++) {
        const pay_span *sp = &pe->spans.v[i];
        pe->pay_end[n0 + i] = (uint32_t)(at + sp->off + sp->len - first);
    }
    return 0;
}

/* Write the entries collected as main blocks (put_blocks). */
static int flush_blocks(block_sink *sink, const uint8_t *term, size_t tlen, const pending *pe,
                        tdx_buf *val)
{
    return put_blocks(sink, NULL, 0, term, tlen, pe->docs.v, pe->docs.n, pe->pay.p, 0, pe->pay_end,
                      val);
}

/* split: a term, or term 0x00 be32(doc) when in_term. */
static int put_merge_state(MDB_txn *txn, tdx_store *s, char dst, uint32_t seg_max,
                           const uint8_t *split, size_t split_len, int in_term)
{
    uint8_t b[5 + 512 + 5];
    b[0] = (uint8_t)(in_term ? dst - 'a' + 'A' : dst);
    tdx_be32_put(b + 1, seg_max);
    memcpy(b + 5, split, split_len);
    MDB_val k = mval("merge", 5), v = mval(b, 5 + split_len);
    return mdb_put(txn, s->dbi[DB_META], &k, &v, 0);
}

/* ---- the words table: the word terms of a postings tree, as text ---- */

#define WORDS_CHUNK ((size_t)64 << 10)

/* Number of the next chunk of tree's words: one past its last, 0 if none. */
static int words_next_chunk(MDB_txn *txn, tdx_store *s, uint8_t tree, uint32_t *out)
{
    *out = 0;
    MDB_cursor *c;
    int rc = mdb_cursor_open(txn, s->dbi[DB_WORDS], &c);
    if (rc)
        return rc;
    uint8_t after = (uint8_t)(tree + 1);
    MDB_val k = mval(&after, 1), v;
    int g = mdb_cursor_get(c, &k, &v, MDB_SET_RANGE);
    g = g == 0 ? mdb_cursor_get(c, &k, &v, MDB_PREV)
        : g == MDB_NOTFOUND ? mdb_cursor_get(c, &k, &v, MDB_LAST)
                            : g;
    if (g == 0 && k.mv_size == 5 && *(const uint8_t *)k.mv_data == tree)
        *out = tdx_be32_get((const uint8_t *)k.mv_data + 1) + 1;
    else if (g && g != MDB_NOTFOUND)
        rc = g;
    mdb_cursor_close(c);
    return rc;
}

/* Stream order for the merge's tournament: current term, then stream
 * index; a stream that has ended comes after all. */
static int mstream_before(const mstream *st, size_t a, size_t b)
{
    if (!st[a].valid || !st[b].valid)
        return st[a].valid && !st[b].valid;
    const uint8_t *ta, *tb;
    size_t la, lb;
    mstream_term(&st[a], &ta, &la);
    mstream_term(&st[b], &tb, &lb);
    int c = cmp_bytes(ta, la, tb, lb);
    return c < 0 || (c == 0 && a < b);
}

/* The main tree's key of the stream's block k (first doc first): a
 * segment's key rewritten into buf, the main tree's own as it is (it stays
 * in the chunk's snapshot). */
static MDB_val main_key(const mstream *m, const MDB_val *k, const uint8_t *term, size_t tlen,
                        uint32_t first, uint8_t *buf)
{
    return m->pre ? mval(buf, (size_t)term_key_main(term, tlen, first, buf)) : *k;
}

/* A loser tree over n streams: stream i is leaf n + i (not stored), node j
 * of [1, n) holds the loser of its match and t[0] the winner.  Built by
 * letting each stream in turn play up from its leaf: the first to reach a
 * node waits there, the second plays it, the loser stays and the winner
 * goes on (every node has two children, so each sees two). */
static void lt_build(const mstream *st, size_t *t, size_t n)
{
    for (size_t j = 0; j < n; j++)
        t[j] = SIZE_MAX;
    t[0] = 0;
    for (size_t i = 0; i < n; i++) {
        size_t x = i;
        for (size_t node = (n + i) / 2; node >= 1 && x != SIZE_MAX; node /= 2) {
            if (t[node] == SIZE_MAX) {
                t[node] = x; /* waits for its match */
                x = SIZE_MAX;
            } else if (mstream_before(st, t[node], x)) {
                size_t y = t[node];
                t[node] = x;
                x = y;
            }
        }
        if (x != SIZE_MAX)
            t[0] = x;
    }
}

/* Stream i moved on (or ended): its way up to the top again. */
static void lt_replay(const mstream *st, size_t *t, size_t n, size_t i)
{
    size_t x = i;
    for (size_t node = (n + i) / 2; node >= 1; node /= 2)
        if (mstream_before(st, t[node], x)) {
            size_t y = t[node];
            t[node] = x;
            x = y;
        }
    t[0] = x;
}

/* What a merge folds together, fixed when it begins: the old main tree and
 * the segments up to seg_max. */
typedef struct mplan {
    MDB_dbi post;
    uint32_t seg_max;
} mplan;

/* One chunk of the new tree, made from a read snapshot: its blocks in key
 * order (sink_buf records; the blocks copied as they are stay in the
 * snapshot, which lives until the writer has applied the chunk), its words
 * ('\n' after each), the keys it covers ([from, to); finished: from `from`
 * to the end; each a term, or term 0x00 be32(doc) inside a term's postings:
 * *_tlen < *_len), and the code it failed with. */
typedef struct mchunk {
    MDB_txn *rtxn; /* the snapshot: reset and renewed for each use */
    tdx_buf kv, words;
    uint8_t from[512 + 5], to[512 + 5];
    size_t from_len, to_len, from_tlen, to_tlen;
    int finished;
    int rc;
} mchunk;

/*
 * Make the chunk of the new tree that starts at c->from, reading the old
 * tree and the segments through txn (a read snapshot): about merge_chunk
 * bytes of blocks (one block more at most), ending at a term boundary, or
 * inside a term at a block's first doc when the term alone goes past the
 * size: a transaction holds a chunk, whatever a term's size.  Each term's
 * blocks come stream by stream (the main tree, then the segments by id:
 * doc order; the streams' docs do not interleave, so a block's first doc
 * splits every stream's blocks of the term alike).
 * Full blocks are copied as they are, only the key rewritten; short ones
 * (the last of a term in each stream, usually) are decoded and joined, so
 * a term found in many segments a few docs at a time still fills its
 * blocks.  A short block that finds nothing collected waits: it is copied
 * as it is when a full block or the term's end comes next, and joined when
 * another short one does.  0, ENOMEM, MDB_CORRUPTED or an LMDB code.
 */
static int produce_chunk(tdx_store *s, MDB_txn *txn, const mplan *pl, mchunk *c)
{
    tdx_buf_reset(&c->kv);
    tdx_buf_reset(&c->words);
    c->finished = 0;
    c->to_len = 0;
    tdx_rtxn rt;
    memset(&rt, 0, sizeof rt);
    rt.s = s;
    rt.txn = txn;
    int rc = load_segments(&rt, NULL);
    if (rc) {
        tdx_free(rt.segs);
        return rc == TDX_ENOMEM ? ENOMEM : MDB_CORRUPTED;
    }
    block_sink sink = {sink_buf, NULL, 0, &c->kv, 0, s->ckpt, 0};
    size_t nst = rt.nsegs + 1;
    mstream *st = tdx_calloc(nst, sizeof *st);
    pending pend;
    memset(&pend, 0, sizeof pend);
    tdx_buf val = TDX_BUF_INIT;
    uint8_t *cur_term = tdx_malloc(520);
    if (st == NULL || cur_term == NULL)
        rc = ENOMEM;
    for (size_t i = 0; rc == 0 && i < nst; i++) {
        st[i].seg = i == 0 ? 0 : rt.segs[i - 1];
        st[i].pre = i == 0 ? 0 : 4;
        if (i > 0 && st[i].seg > pl->seg_max)
            continue; /* written after this merge began: stays a segment */
        rc = mdb_cursor_open(txn, i == 0 ? pl->post : s->dbi[DB_POSTSEG], &st[i].cur);
        if (rc)
            break;
        st[i].it.cur = st[i].cur;
        st[i].it.seg = st[i].seg;
        uint8_t kb[4 + 512 + 5];
        size_t kl = 0;
        if (i > 0) {
            tdx_be32_put(kb, st[i].seg);
            kl = 4;
        }
        memcpy(kb + kl, c->from, c->from_len);
        kl += c->from_len;
        st[i].k = mval(kb, kl);
        rc = kl ? mstream_step(&st[i], MDB_SET_RANGE) : mstream_step(&st[i], MDB_FIRST);
    }
    /* The streams in a tournament tree by current term: with one segment
     * per batch a long run has a hundred streams or more, and each block
     * taken asks for the smallest again.  A stream that moved on plays its
     * way back up against the losers on its path: one comparison a level
     * (a binary heap's pop and push took about 18 per block, half of the
     * merge thread's instructions). */
    size_t *tree = rc == 0 ? tdx_calloc(nst, sizeof *tree) : NULL;
    if (rc == 0 && tree == NULL)
        rc = ENOMEM;
    if (rc == 0)
        lt_build(st, tree, nst);
    while (rc == 0) {
        mstream *m = &st[tree[0]];
        if (!m->valid) {
            c->finished = 1;
            break;
        }
        /* The smallest current term; its streams come in stream order
         * (ties go by stream). */
        const uint8_t *tmin;
        size_t lmin;
        mstream_term(m, &tmin, &lmin);
        if (lmin > 512) {
            rc = MDB_CORRUPTED;
            break;
        }
        memcpy(cur_term, tmin, lmin);
        size_t tlen = lmin;
        if (sink.written >= s->merge_chunk) {
            /* Enough for this chunk: the next starts at this term. */
            memcpy(c->to, cur_term, tlen);
            c->to_len = c->to_tlen = tlen;
            break;
        }
        /* A word goes into the list once: not again in the chunk that goes
         * on with its postings. */
        int went_on = c->from_tlen < c->from_len && tlen == c->from_tlen &&
                      memcmp(cur_term, c->from, tlen) == 0;
        if (cur_term[0] == WORD_CLASS && tlen > 1 && !went_on &&
            (tdx_buf_append(&c->words, cur_term + 1, tlen - 1) || tdx_buf_putc(&c->words, '\n'))) {
            rc = ENOMEM;
            break;
        }
        pend.docs.n = 0;
        tdx_buf_reset(&pend.pay);
        int mode = blk_mode(s, tdx_term_positional(cur_term[0]));
        int cut = 0;
        /* A short block met while nothing is collected waits here: if it
         * turns out to be the term's only one it is copied as it is, else
         * it is decoded and joined with what follows. */
        MDB_val dv = {0, NULL}, dk = {0, NULL};
        uint8_t dkb[520];
        uint32_t dfirst = 0;
        while (rc == 0 && !cut) {
            m = &st[tree[0]];
            const uint8_t *tt;
            size_t tl;
            if (!m->valid)
                break;
            mstream_term(m, &tt, &tl);
            if (cmp_bytes(tt, tl, cur_term, tlen) != 0)
                break;
            while (rc == 0 && m->valid) {
                mstream_term(m, &tt, &tl);
                if (cmp_bytes(tt, tl, cur_term, tlen) != 0)
                    break;
                MDB_val k = m->k, v = m->v;
                uint32_t first = tdx_be32_get((const uint8_t *)k.mv_data + k.mv_size - 4);
                if (sink.written >= s->merge_chunk) {
                    /* Enough for this chunk, inside a term: the next starts
                     * at this block.  Nothing is collected here (short
                     * blocks add no bytes, and a write flushes them first);
                     * what waits is written after the loop. */
                    c->to_tlen = (size_t)term_key_main(cur_term, tlen, first, c->to) - 5;
                    c->to_len = c->to_tlen + 5;
                    cut = 1;
                    break;
                }
                rc = mstream_step(m, MDB_NEXT);
                if (rc)
                    break;
                uint64_t n = 0;
                if (tdx_varint_get(v.mv_data, (const uint8_t *)v.mv_data + v.mv_size, &n) == 0) {
                    rc = MDB_CORRUPTED;
                    break;
                }
                int full = v.mv_size >= POST_BLOCK_BYTES / 2 || n >= POST_BLOCK_MAX / 2;
                if (!full) {
                    if (pend.docs.n == 0 && dv.mv_data == NULL) {
                        dv = v;
                        dfirst = first;
                        dk = main_key(m, &k, cur_term, tlen, first, dkb);
                        continue;
                    }
                    int drc = 0;
                    if (dv.mv_data) {
                        drc = pending_add_block(&pend, &dv, dfirst, mode);
                        dv.mv_data = NULL;
                    }
                    if (drc == 0)
                        drc = pending_add_block(&pend, &v, first, mode);
                    if (drc)
                        rc = drc == TDX_ENOMEM ? ENOMEM : MDB_CORRUPTED;
                    continue;
                }
                if (dv.mv_data) {
                    rc = sink_put(&sink, &dk, &dv, 1); /* c->rtxn keeps it */
                    dv.mv_data = NULL;
                } else if (pend.docs.n) {
                    rc = flush_blocks(&sink, cur_term, tlen, &pend, &val);
                    pend.docs.n = 0;
                    tdx_buf_reset(&pend.pay);
                }
                if (rc)
                    break;
                uint8_t kb[520];
                MDB_val nk = main_key(m, &k, cur_term, tlen, first, kb);
                rc = sink_put(&sink, &nk, &v, 1); /* c->rtxn keeps it */
            }
            if (rc == 0 && !cut)
                lt_replay(st, tree, nst, tree[0]);
        }
        if (rc == 0 && dv.mv_data) {
            rc = sink_put(&sink, &dk, &dv, 1);
        } else if (rc == 0 && pend.docs.n) {
            rc = flush_blocks(&sink, cur_term, tlen, &pend, &val);
        }
        if (cut)
            break;
    }
    tdx_free(tree);
    for (size_t i = 0; st && i < nst; i++)
        if (st[i].cur)
            mdb_cursor_close(st[i].cur);
    tdx_free(st);
    tdx_free(cur_term);
    pending_free(&pend);
    tdx_buf_free(&val);
    tdx_free(rt.segs);
    return rc;
}

/*
 * The merge's producer: a thread that makes the chunks of the new tree
 * (decoding, joining, re-keying: produce_chunk) one ahead of the writer,
 * which only applies them (puts, deletes what they consumed, commits).
 * The writer's half is the larger (LMDB's puts and deletes, about 60%),
 * so the merge that ends a run takes about 0.8 of its time on a second
 * core.  Each chunk is read from a fresh snapshot, so the pages the writer
 * frees are reused as before.  Blocks copied as they are are not copied
 * into the chunk: it keeps their place in its snapshot, which it holds
 * until the writer has applied it (a chunk's memory is its joined blocks
 * and keys, not a common term's whole postings).  When no thread can be
 * started, the writer makes each chunk itself.
 */
struct tdx_mprod {
    tdx_store *s;
    mplan plan;
    pthread_t th;
    int threaded;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    mchunk c[2];
    size_t nmade, ntaken; /* chunks made; chunks applied and given back */
    int stop;             /* the writer asks the thread to end */
    int ended;            /* the last chunk (finished, or failed) is made */
    uint8_t at[512 + 5];  /* where the next chunk starts (mchunk.from) */
    size_t at_len, at_tlen;
};

static void mprod_make(tdx_mprod *mp, mchunk *c)
{
    memcpy(c->from, mp->at, mp->at_len);
    c->from_len = mp->at_len;
    c->from_tlen = mp->at_tlen;
    /* The chunk's last snapshot goes (the writer is done with it), and a
     * fresh one is taken: the pages freed since are reused as before. */
    int rc;
    if (c->rtxn) {
        mdb_txn_reset(c->rtxn);
        rc = mdb_txn_renew(c->rtxn);
    } else {
        rc = mdb_txn_begin(mp->s->env, NULL, MDB_RDONLY, &c->rtxn);
    }
    if (rc == 0)
        rc = produce_chunk(mp->s, c->rtxn, &mp->plan, c);
    c->rc = rc;
    if (rc == 0 && !c->finished) {
        memcpy(mp->at, c->to, c->to_len);
        mp->at_len = c->to_len;
        mp->at_tlen = c->to_tlen;
    }
}

static void *mprod_main(void *arg)
{
    tdx_mprod *mp = arg;
    pthread_setname_np(pthread_self(), "tdx-merge");
    pthread_mutex_lock(&mp->mu);
    for (;;) {
        while (!mp->stop && !mp->ended && mp->nmade - mp->ntaken == 2)
            pthread_cond_wait(&mp->cv, &mp->mu);
        if (mp->stop || mp->ended)
            break;
        mchunk *c = &mp->c[mp->nmade % 2];
        pthread_mutex_unlock(&mp->mu);
        mprod_make(mp, c);
        pthread_mutex_lock(&mp->mu);
        mp->nmade++;
        mp->ended = c->rc != 0 || c->finished;
        pthread_cond_broadcast(&mp->cv);
    }
    pthread_mutex_unlock(&mp->mu);
    return NULL;
}

static void mprod_stop(tdx_store *s)
{
    tdx_mprod *mp = s->mprod;
    if (mp == NULL)
        return;
    if (mp->threaded) {
        pthread_mutex_lock(&mp->mu);
        mp->stop = 1;
        pthread_cond_broadcast(&mp->cv);
        pthread_mutex_unlock(&mp->mu);
        pthread_join(mp->th, NULL);
    }
    pthread_mutex_destroy(&mp->mu);
    pthread_cond_destroy(&mp->cv);
    for (int i = 0; i < 2; i++) {
        if (mp->c[i].rtxn)
            mdb_txn_abort(mp->c[i].rtxn);
        tdx_buf_free(&mp->c[i].kv);
        tdx_buf_free(&mp->c[i].words);
    }
    tdx_free(mp);
    s->mprod = NULL;
}

/* A producer for plan whose next chunk starts at from (the merge's split;
 * its term is from_tlen bytes): the one running, unless it works for
 * another plan, or a new one: 0 or ENOMEM. */
static int mprod_start(tdx_store *s, const mplan *pl, const uint8_t *from, size_t from_len,
                       size_t from_tlen)
{
    tdx_mprod *mp = s->mprod;
    if (mp && (mp->plan.post != pl->post || mp->plan.seg_max != pl->seg_max))
        mprod_stop(s); /* another merge: cannot happen while one is open, but cheap */
    if (s->mprod)
        return 0;
    mp = tdx_calloc(1, sizeof *mp);
    if (mp == NULL)
        return ENOMEM;
    mp->s = s;
    mp->plan = *pl;
    memcpy(mp->at, from, from_len);
    mp->at_len = from_len;
    mp->at_tlen = from_tlen;
    pthread_mutex_init(&mp->mu, NULL);
    pthread_cond_init(&mp->cv, NULL);
    s->mprod = mp;
    mp->threaded = pthread_create(&mp->th, NULL, mprod_main, mp) == 0;
    return 0;
}

/* The chunk that starts at from, made by the producer (mprod_start): 0 or
 * ENOMEM. */
static int mprod_take(tdx_store *s, const mplan *pl, const uint8_t *from, size_t from_len,
                      size_t from_tlen, mchunk **out)
{
    int rc = mprod_start(s, pl, from, from_len, from_tlen);
    if (rc)
        return rc;
    tdx_mprod *mp = s->mprod;
    mchunk *c = &mp->c[mp->ntaken % 2];
    if (mp->threaded) {
        pthread_mutex_lock(&mp->mu);
        while (mp->nmade == mp->ntaken)
            pthread_cond_wait(&mp->cv, &mp->mu);
        pthread_mutex_unlock(&mp->mu);
    } else if (mp->nmade == mp->ntaken) {
        mprod_make(mp, c);
        mp->nmade++;
    }
    /* The chunk must start where the index says the merge stands. */
    if (c->rc == 0 && cmp_bytes(c->from, c->from_len, from, from_len) != 0)
        c->rc = MDB_CORRUPTED;
    *out = c;
    return 0;
}

/* The chunk taken was applied and committed: its buffer goes back. */
static void mprod_give_back(tdx_store *s)
{
    tdx_mprod *mp = s->mprod;
    pthread_mutex_lock(&mp->mu);
    mp->ntaken++;
    pthread_cond_broadcast(&mp->cv);
    pthread_mutex_unlock(&mp->mu);
}

/* A chunk's words into the words table, cut after a word once a piece
 * reaches WORDS_CHUNK. */
static int words_put(MDB_txn *txn, tdx_store *s, uint8_t tree, uint32_t *seq, const tdx_buf *w)
{
    size_t at = 0;
    while (at < w->len) {
        size_t end = at + WORDS_CHUNK < w->len ? at + WORDS_CHUNK : w->len;
        const uint8_t *nl = memchr(w->p + end - 1, '\n', w->len - (end - 1));
        end = nl ? (size_t)(nl - w->p) + 1 : w->len;
        uint8_t kb[5];
        kb[0] = tree;
        tdx_be32_put(kb + 1, *seq);
        MDB_val k = mval(kb, 5), v = mval(w->p + at, end - at);
        int rc = mdb_put(txn, s->dbi[DB_WORDS], &k, &v, 0);
        if (rc)
            return rc;
        (*seq)++;
        at = end;
    }
    return 0;
}

/*
 * One step of the merge, one transaction: the next chunk of the new tree
 * (from the producer) put into it, the merge state moved on to where the
 * chunk ends, and what the chunk consumed deleted from the old tree and
 * the segments; at the end the new tree becomes the main postings.
 */
static int merge_txn(tdx_store *s, int *out_done, tdx_err *err)
{
    *out_done = 0;
    MDB_txn *txn;
    int rc = write_begin(s, &txn);
    if (rc)
        return rc;
    tdx_rtxn rt;
    memset(&rt, 0, sizeof rt);
    rt.s = s;
    rt.txn = txn;
    rt.post = main_post(txn, s);
    rc = read_merge_state(txn, s, &rt);
    if (rc == 0) {
        int lrc = load_segments(&rt, err);
        if (lrc)
            rc = lrc == TDX_ENOMEM ? ENOMEM : MDB_CORRUPTED;
    }
    if (rc) {
        mdb_txn_abort(txn);
        tdx_free(rt.segs);
        return rc;
    }
    if (!rt.merging) {
        if (rt.nsegs == 0) {
            mdb_txn_abort(txn);
            tdx_free(rt.segs);
            *out_done = 1;
            return 0;
        }
        /* A new merge: into the other tree, emptied first. */
        rt.dst = rt.post == s->dbi[DB_POST_A] ? s->dbi[DB_POST_B] : s->dbi[DB_POST_A];
        rt.seg_max = rt.segs[rt.nsegs - 1];
        rt.split_len = rt.split_tlen = 0;
        rc = mdb_drop(txn, rt.dst, 0);
        uint8_t tree = rt.dst == s->dbi[DB_POST_A] ? 'a' : 'b';
        if (rc == 0)
            rc = delete_range(txn, s->dbi[DB_WORDS], &tree, 1, NULL, 0, 1);
    }
    char dst_name = rt.dst == s->dbi[DB_POST_A] ? 'a' : 'b';
    mplan plan = {rt.post, rt.seg_max};
    mchunk *c = NULL;
    if (rc == 0)
        rc = mprod_take(s, &plan, rt.split, rt.split_len, rt.split_tlen, &c);
    if (rc == 0)
        rc = c->rc;
    /* Its blocks, in key order. */
    rd r = {c ? c->kv.p : NULL, c ? c->kv.p + c->kv.len : NULL, 0};
    while (rc == 0 && r.p < r.end) {
        size_t kl;
        const uint8_t *kp = rd_bytes(&r, &kl);
        uint64_t tag = rd_vint(&r);
        const void *vp = r.p;
        size_t take = tag & 1 ? sizeof vp : (size_t)(tag >> 1);
        if (r.bad || take > (size_t)(r.end - r.p)) {
            rc = MDB_CORRUPTED;
            break;
        }
        if (tag & 1)
            memcpy(&vp, r.p, sizeof vp); /* a block in the chunk's snapshot */
        r.p += take;
        MDB_val k = mval(kp, kl), v = mval(vp, (size_t)(tag >> 1));
        rc = mdb_put(txn, rt.dst, &k, &v, MDB_APPEND);
    }
    uint32_t words_seq = 0;
    if (rc == 0)
        rc = words_next_chunk(txn, s, (uint8_t)dst_name, &words_seq);
    if (rc == 0)
        rc = words_put(txn, s, (uint8_t)dst_name, &words_seq, &c->words);
    int finished = rc == 0 && c->finished;
    if (rc == 0 && !finished)
        rc =
            put_merge_state(txn, s, dst_name, rt.seg_max, c->to, c->to_len, c->to_tlen < c->to_len);
    /* Free what this chunk consumed: keys from the old split up to the new
     * one (everything when finished), in the old tree and each segment. */
    for (size_t i = 0; rc == 0 && !finished && i <= rt.nsegs; i++) {
        uint32_t seg = i == 0 ? 0 : rt.segs[i - 1];
        if (i > 0 && seg > rt.seg_max)
            continue;
        uint8_t fk[4 + 512 + 5], tk[4 + 512 + 5];
        size_t fl = 0, tl = 0;
        if (i > 0) {
            tdx_be32_put(fk, seg);
            tdx_be32_put(tk, seg);
            fl = tl = 4;
        }
        memcpy(fk + fl, rt.split, rt.split_len);
        fl += rt.split_len;
        memcpy(tk + tl, c->to, c->to_len);
        tl += c->to_len;
        rc = i == 0 ? delete_range(txn, rt.post, fk, fl, tk, tl, 0)
                    : delete_seg_range(txn, s->dbi[DB_POSTSEG], seg, fk, fl, tk, tl);
    }
    if (rc == 0 && finished) {
        /* Everything is in the new tree: it becomes the main postings, and
         * the old tree and the merged segments go. */
        rc = mdb_drop(txn, rt.post, 0);
        if (rc == 0 && (rt.nsegs == 0 || rt.segs[rt.nsegs - 1] <= rt.seg_max)) {
            /* Dropping frees the pages without touching every leaf. */
            rc = mdb_drop(txn, s->dbi[DB_POSTSEG], 0);
        } else if (rc == 0) {
            /* Segments written after the merge began stay. */
            MDB_cursor *sc = NULL;
            MDB_val k, v;
            rc = mdb_cursor_open(txn, s->dbi[DB_POSTSEG], &sc);
            int g = rc ? rc : mdb_cursor_get(sc, &k, &v, MDB_FIRST);
            while (rc == 0 && g == 0 && k.mv_size >= 4 && tdx_be32_get(k.mv_data) <= rt.seg_max) {
                rc = mdb_cursor_del(sc, 0);
                g = rc ? rc : mdb_cursor_get(sc, &k, &v, MDB_GET_CURRENT);
            }
            if (rc == 0 && g && g != MDB_NOTFOUND && g != EINVAL)
                rc = g;
            if (sc)
                mdb_cursor_close(sc);
        }
        if (rc == 0)
            rc = meta_put_str(txn, s, "post", dst_name == 'a' ? "a" : "b");
        /* The old tree's words go; the new tree's are complete. */
        uint8_t old = dst_name == 'a' ? 'b' : 'a';
        if (rc == 0)
            rc = delete_range(txn, s->dbi[DB_WORDS], &old, 1, NULL, 0, 1);
        if (rc == 0)
            rc = meta_put_str(txn, s, "words", dst_name == 'a' ? "a" : "b");
        if (rc == 0) {
            MDB_val k = mval("merge", 5);
            rc = mdb_del(txn, s->dbi[DB_META], &k, NULL);
            if (rc == MDB_NOTFOUND)
                rc = 0;
        }
    }
    tdx_free(rt.segs);
    if (rc == 0) {
        rc = mdb_txn_commit(txn);
        if (rc == 0) {
            mprod_give_back(s);
            if (finished)
                mprod_stop(s);
            *out_done = finished;
        }
        return rc;
    }
    mdb_txn_abort(txn);
    return rc;
}

int tdx_store_merge_step(tdx_store *s, int *out_done, tdx_err *err)
{
    *out_done = 0;
    if (s->readonly)
        return tdx_err_set(err, TDX_EINVAL, "index opened read-only");
    for (;;) {
        int rc = merge_txn(s, out_done, err);
        if (rc == 0) {
            trim_map(s);
            return 0;
        }
        /* The producer goes (the map cannot grow while it reads); the
         * step after this one starts it again where the index stands. */
        mprod_stop(s);
        if (rc == MDB_MAP_FULL) {
            rc = grow_map(s, err);
            if (rc)
                return rc;
            continue;
        }
        if (rc == ENOMEM)
            return tdx_err_set(err, TDX_ENOMEM, "out of memory merging postings");
        if (err && err->code)
            return err->code;
        return lmdb_err(err, disk_full_rc(s->path, rc), "cannot merge postings");
    }
}

int tdx_store_merge(tdx_store *s, tdx_err *err)
{
    int done = 0;
    while (!done) {
        int rc = tdx_store_merge_step(s, &done, err);
        if (rc)
            return rc;
    }
    return 0;
}

int tdx_store_merge_prepare(tdx_store *s, tdx_err *err)
{
    if (s->readonly)
        return 0;
    int rc = tdx_store_commit_batches(s, err);
    if (rc)
        return rc;
    /* What merge_txn will find, from the state just committed: the merge in
     * progress, or a new one of every segment (the tree it drops first is
     * not one the producer reads). */
    tdx_rtxn *t;
    rc = tdx_store_read_begin(s, &t, err);
    if (rc)
        return rc;
    rc = load_segments(t, err);
    if (rc == 0 && (t->merging || t->nsegs)) {
        mplan plan = {t->post, t->merging ? t->seg_max : t->segs[t->nsegs - 1]};
        size_t len = t->merging ? t->split_len : 0;
        if (mprod_start(s, &plan, t->split, len, t->merging ? t->split_tlen : 0))
            rc = tdx_err_set(err, TDX_ENOMEM, "out of memory");
    }
    tdx_store_read_end(t);
    return rc;
}

int tdx_store_merge_pending(tdx_store *s, int *out_pending, tdx_err *err)
{
    tdx_rtxn *t;
    int rc = tdx_store_read_begin(s, &t, err);
    if (rc)
        return rc;
    *out_pending = t->merging;
    tdx_store_read_end(t);
    return 0;
}

/* ---- dump and check ---- */

typedef struct out_line {
    tdx_buf b;
    tdx_line_fn fn;
    void *ctx;
} out_line;

static void esc(tdx_buf *b, const uint8_t *p, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        uint8_t c = p[i];
        if (c == '\\')
            tdx_buf_puts(b, "\\\\");
        else if (c == '\n')
            tdx_buf_puts(b, "\\n");
        else if (c == '\t')
            tdx_buf_puts(b, "\\t");
        else if (c < 0x20 || c == 0x7f)
            tdx_buf_printf(b, "\\x%02x", c);
        else
            tdx_buf_putc(b, c);
    }
}

static int emit(out_line *o)
{
    int rc = o->fn(o->ctx, (const char *)o->b.p, o->b.len);
    tdx_buf_reset(&o->b);
    return rc;
}

static void term_text(tdx_buf *b, const uint8_t *t, size_t n)
{
    tdx_buf_putc(b, t[0]);
    tdx_buf_putc(b, ':');
    if ((t[0] == 'e' || t[0] == 'c' || t[0] == 'p') && n == 5)
        tdx_buf_printf(b, "%u", tdx_be32_get(t + 1));
    else
        esc(b, t + 1, n - 1);
}

static const uint8_t term_classes[] = {'b', 'c', 'e', 'f', 'p', 't', 'u', 'w'};

typedef struct term_walk {
    tdx_rtxn *t;
    tdx_docset docs;
    int (*visit)(struct term_walk *w, const uint8_t *term, size_t len);
    void *ctx;
    tdx_err *err;
    int rc;
} term_walk;

static int term_walk_fn(void *ctx, const uint8_t *term, size_t len)
{
    term_walk *w = ctx;
    w->rc = tdx_store_postings(w->t, term, len, &w->docs, w->err);
    if (w->rc == 0)
        w->rc = w->visit(w, term, len);
    return w->rc != 0;
}

static int walk_all_terms(term_walk *w)
{
    for (size_t i = 0; i < sizeof term_classes && w->rc == 0; i++) {
        int rc = tdx_store_terms(w->t, term_classes[i], NULL, 0, term_walk_fn, w, w->err);
        if (rc)
            return rc;
    }
    return w->rc;
}

static int dump_term(term_walk *w, const uint8_t *term, size_t len)
{
    out_line *o = w->ctx;
    tdx_buf_puts(&o->b, "term ");
    term_text(&o->b, term, len);
    tdx_poscur *pc = NULL;
    if (tdx_term_positional(term[0])) {
        int rc = tdx_store_poscur_open(w->t, term, len, &pc, w->err);
        if (rc)
            return rc;
    }
    for (size_t i = 0; i < w->docs.n; i++) {
        tdx_buf_printf(&o->b, " %u", w->docs.v[i]);
        if (pc == NULL)
            continue;
        /* Positional terms: doc@p1,p2,... */
        const uint32_t *pos;
        size_t np;
        int got = tdx_store_poscur_get(pc, w->docs.v[i], &pos, &np, w->err);
        if (got < 0) {
            tdx_store_poscur_close(pc);
            return got;
        }
        for (size_t k = 0; got && k < np; k++)
            tdx_buf_printf(&o->b, "%c%u", k ? ',' : '@', pos[k]);
    }
    tdx_store_poscur_close(pc);
    return emit(o) ? TDX_ECANCELED : 0;
}

int tdx_store_dump(tdx_rtxn *t, tdx_line_fn fn, void *ctx, tdx_err *err)
{
    out_line o = {TDX_BUF_INIT, fn, ctx};
    tdx_store *s = t->s;
    tdx_store_info info;
    int rc = tdx_store_get_info(t, &info, err);
    if (rc)
        return rc;
    tdx_buf_printf(&o.b, "format %u", info.format);
    emit(&o);
    tdx_buf_printf(&o.b, "normalizer %s", info.normalizer);
    emit(&o);
    tdx_buf_printf(&o.b, "profile %s", info.grams ? "full" : "entity-only");
    emit(&o);
    tdx_buf_printf(&o.b,
                   "counts docs=%" PRIu64 " next=%" PRIu64 " deleted=%" PRIu64
                   " duplicates=%" PRIu64 " bytes=%" PRIu64 " hits=%" PRIu64
                   " rejects=%" PRIu64,
                   info.docs, info.next_doc, info.deleted, info.duplicates, info.bytes,
                   info.hits, info.rejects);
    emit(&o);
    tdx_store_schema_view sv;
    rc = tdx_store_get_schema(t, &sv, err);
    if (rc)
        goto done;
    for (size_t i = 0; i < sv.ncategories; i++) {
        tdx_buf_printf(&o.b, "category %zu ", i);
        esc(&o.b, (const uint8_t *)sv.categories[i], strlen(sv.categories[i]));
        emit(&o);
    }
    for (size_t i = 0; i < sv.nentities; i++) {
        tdx_buf_printf(&o.b, "entity %zu category=%u name=", i, sv.entity_category[i]);
        esc(&o.b, (const uint8_t *)sv.entities[i], strlen(sv.entities[i]));
        emit(&o);
    }
    for (size_t i = 0; i < sv.npatterns; i++) {
        const tdx_store_pattern *p = &sv.patterns[i];
        tdx_buf_printf(&o.b, "pattern %zu entity=%u category=%u flags=%u line=%u text=", i,
                       p->entity, p->category, p->flags, p->line);
        esc(&o.b, (const uint8_t *)p->text, strlen(p->text));
        tdx_buf_puts(&o.b, " norm=");
        esc(&o.b, (const uint8_t *)p->norm, strlen(p->norm));
        emit(&o);
    }
    tdx_store_schema_view_free(&sv);

    tdx_buf text = TDX_BUF_INIT;
    tdx_store_hit *hits = NULL;
    size_t nh = 0, caph = 0;
    for (uint64_t id = 1; rc == 0 && id < info.next_doc; id++) {
        tdx_store_docinfo d;
        rc = tdx_store_get_doc(t, (uint32_t)id, &d, err);
        if (rc)
            break;
        tdx_buf_printf(&o.b, "doc %u key=", d.id);
        esc(&o.b, (const uint8_t *)d.key, d.key_len);
        tdx_buf_puts(&o.b, " source=");
        esc(&o.b, (const uint8_t *)d.source, d.source_len);
        tdx_buf_printf(&o.b, " line=%" PRIu64 " offset=%" PRIu64 " title=", d.line, d.offset);
        esc(&o.b, (const uint8_t *)d.title, d.title_len);
        tdx_buf_puts(&o.b, " date=");
        esc(&o.b, (const uint8_t *)d.date, d.date_len);
        tdx_buf_printf(&o.b, " ymd=%u url=", d.date_ymd);
        esc(&o.b, (const uint8_t *)d.url, d.url_len);
        tdx_buf_puts(&o.b, " format=");
        esc(&o.b, (const uint8_t *)d.format, d.format_len);
        tdx_buf_puts(&o.b, " encoding=");
        esc(&o.b, (const uint8_t *)d.encoding, d.encoding_len);
        tdx_buf_printf(&o.b,
                       " len=%" PRIu64 " invalid=%" PRIu64 " hash=%016" PRIx64 "%016" PRIx64
                       " hits=%u deleted=%d",
                       d.text_len, d.invalid, d.hash[0], d.hash[1], d.nhits, d.deleted);
        const uint8_t *pos = d.meta;
        tdx_span mk, mv;
        while (tdx_store_meta_next(&d, &pos, &mk, &mv)) {
            tdx_buf_puts(&o.b, " meta:");
            esc(&o.b, mk.p, mk.len);
            tdx_buf_putc(&o.b, '=');
            esc(&o.b, mv.p, mv.len);
        }
        emit(&o);
        rc = tdx_store_get_text(t, (uint32_t)id, &text, err);
        if (rc)
            break;
        tdx_buf_printf(&o.b, "text %u ", d.id);
        esc(&o.b, text.p, text.len);
        emit(&o);
        rc = tdx_store_get_hits(t, (uint32_t)id, &hits, &nh, &caph, err);
        for (size_t i = 0; rc == 0 && i < nh; i++) {
            tdx_buf_printf(&o.b, "hit %u pattern=%u norm=%u-%u orig=%u-%u", d.id,
                           hits[i].pattern, hits[i].nstart, hits[i].nend, hits[i].ostart,
                           hits[i].oend);
            emit(&o);
        }
    }
    tdx_free(hits);
    tdx_buf_free(&text);
    if (rc)
        goto done;

    /* Keys and inputs, in key order; keys a writer has not put in their
     * table yet are merged in. */
    MDB_cursor *cur;
    tdx_buf kb = TDX_BUF_INIT;
    flush_ent *dk = NULL;
    size_t ndk = 0, at = 0;
    rc = deferred_keys(t->txn, s, NULL, 0, &kb, &dk, &ndk);
    if (rc)
        rc = lmdb_err(err, rc, "cannot read keys");
    for (int table = 0; table < 2 && rc == 0; table++) {
        rc = mdb_cursor_open(t->txn, s->dbi[table == 0 ? DB_KEYS : DB_INPUTS], &cur);
        if (rc) {
            rc = lmdb_err(err, rc, "cannot read index");
            break;
        }
        MDB_val ck, cv; /* the cursor's */
        int g = mdb_cursor_get(cur, &ck, &cv, MDB_FIRST);
        while (g == 0 || (table == 0 && at < ndk)) {
            int own = 0; /* the next key is a deferred one */
            if (table == 0 && at < ndk) {
                flush_ent tk = {ck.mv_data, ck.mv_size, {0}, 0};
                own = g != 0 || cmp_flush_ent(&dk[at], &tk) < 0;
            }
            MDB_val k = ck, v = cv;
            if (own) {
                k = mval(dk[at].k, dk[at].klen);
                v = mval(dk[at].v, 5);
                at++;
            }
            tdx_buf_puts(&o.b, table == 0 ? "key " : "input ");
            esc(&o.b, k.mv_data, k.mv_size);
            if (table == 0 && v.mv_size == 5) {
                tdx_buf_printf(&o.b, " doc=%u %s", tdx_be32_get(v.mv_data),
                               ((const uint8_t *)v.mv_data)[4] ? "duplicate" : "own");
            } else if (table == 1) {
                tdx_store_input in;
                char pbuf[520];
                snprintf(pbuf, sizeof pbuf, "%.*s", (int)k.mv_size, (const char *)k.mv_data);
                if (tdx_store_get_input(t, pbuf, &in, NULL) == 0)
                    tdx_buf_printf(&o.b, " size=%" PRIu64 " records=%" PRIu64 " complete=%d",
                                   in.size, in.records, in.complete);
            }
            emit(&o);
            if (!own)
                g = mdb_cursor_get(cur, &ck, &cv, MDB_NEXT);
        }
        mdb_cursor_close(cur);
    }
    tdx_free(dk);
    tdx_buf_free(&kb);
    if (rc == 0) {
        term_walk w = {t, {0}, dump_term, &o, err, 0};
        rc = walk_all_terms(&w);
        tdx_docset_free(&w.docs);
    }
done:
    tdx_buf_free(&o.b);
    return rc;
}

/* Check state: expected doc sets of 'p', 'e' and 'c' terms from the hit lists. */
typedef struct check_ctx {
    out_line o;
    uint64_t problems;
    tdx_docset *per_pattern, *per_entity, *per_category;
    size_t np, ne, nc;
    uint64_t next_doc;
    const uint8_t *deleted; /* bitmap by id */
    /* trigrams against a sample of the words (check_word_trigrams) */
    int trigrams;
    tdx_docset cut, tri_docs;
    uint64_t tri_taken;
    unsigned tri_shift;
} check_ctx;

static int problem(check_ctx *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int problem(check_ctx *c, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char msg[600];
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    c->problems++;
    tdx_buf_puts(&c->o.b, msg);
    return emit(&c->o);
}

/*
 * A sample of the words against the trigram lists: each trigram of a word
 * lists every doc of the word, unless the doc is listed as cut short (the
 * term 't' alone, walked before the words).  The sample thins as it grows:
 * a word is taken when the hash of its bytes has `tri_shift` low zero
 * bits, one more every 64 words taken, so millions of words cost a few
 * hundred.  The lists are read up to the word's last doc.
 */
static int check_word_trigrams(term_walk *w, check_ctx *c, const uint8_t *word, size_t wl)
{
    const tdx_docset *d = &w->docs;
    if (d->n == 0 || (tdx_hash64(word, wl) & ((UINT64_C(1) << c->tri_shift) - 1)) != 0)
        return 0;
    if (++c->tri_taken % 64 == 0 && c->tri_shift < 63)
        c->tri_shift++;
    for (size_t i = 0; i + 3 <= wl; i++) {
        uint8_t tt[4] = {'t', word[i], word[i + 1], word[i + 2]};
        int rc = tdx_store_postings_upto(w->t, tt, 4, d->v[d->n - 1], &c->tri_docs, w->err);
        if (rc)
            return rc;
        size_t a = 0, b = 0;
        for (size_t k = 0; k < d->n; k++) {
            uint32_t doc = d->v[k];
            if (tdx_docset_has_from(&c->tri_docs, &a, doc) || tdx_docset_has_from(&c->cut, &b, doc))
                continue;
            problem(c, "trigrams: '%.3s' of the word '%.*s' does not list doc %u",
                    (const char *)word + i, (int)(wl < 80 ? wl : 80), (const char *)word, doc);
            return 0; /* one problem a word */
        }
    }
    return 0;
}

static int check_term(term_walk *w, const uint8_t *term, size_t len)
{
    check_ctx *c = w->ctx;
    const tdx_docset *d = &w->docs;
    if (c->trigrams && len == 1 && term[0] == 't' && tdx_docset_copy(&c->cut, d))
        return tdx_err_set(w->err, TDX_ENOMEM, "out of memory");
    if (c->trigrams && len >= 4 && term[0] == WORD_CLASS) {
        int rc = check_word_trigrams(w, c, term + 1, len - 1);
        if (rc)
            return rc;
    }
    if (d->n && d->v[d->n - 1] >= c->next_doc)
        problem(c, "term %c: postings name doc %u beyond the last doc %" PRIu64, term[0],
                d->v[d->n - 1], c->next_doc - 1);
    if (tdx_term_positional(term[0])) {
        /* Every listed doc has positions, and they decode in order. */
        tdx_poscur *pc = NULL;
        tdx_err e2 = {0};
        if (tdx_store_poscur_open(w->t, term, len, &pc, &e2) != 0)
            return e2.code == TDX_ENOMEM ? tdx_err_set(w->err, TDX_ENOMEM, "out of memory") : 0;
        for (size_t i = 0; i < d->n; i++) {
            const uint32_t *pos;
            size_t np;
            int got = tdx_store_poscur_get(pc, d->v[i], &pos, &np, &e2);
            if (got == TDX_ENOMEM) {
                tdx_store_poscur_close(pc);
                return tdx_err_set(w->err, TDX_ENOMEM, "out of memory");
            }
            if (got != 1) {
                problem(c, "term %c: doc %u has no readable positions%s%s", term[0], d->v[i],
                        got < 0 ? ": " : "", got < 0 ? e2.msg : "");
                break;
            }
        }
        tdx_store_poscur_close(pc);
    }
    tdx_docset *want = NULL;
    if (len == 5 && (term[0] == 'p' || term[0] == 'e' || term[0] == 'c')) {
        uint32_t id = tdx_be32_get(term + 1);
        if (term[0] == 'p' && id < c->np)
            want = &c->per_pattern[id];
        else if (term[0] == 'e' && id < c->ne)
            want = &c->per_entity[id];
        else if (term[0] == 'c' && id < c->nc)
            want = &c->per_category[id];
        if (want == NULL) {
            problem(c, "postings for unknown %s id %u",
                    term[0] == 'p' ? "pattern" : term[0] == 'e' ? "entity" : "category", id);
            return 0;
        }
        /* Tombstoned docs stay in postings; compare live docs only. */
        size_t i = 0, j = 0;
        int same = 1;
        while (i < d->n || j < want->n) {
            while (i < d->n && c->deleted[d->v[i]])
                i++;
            if (i == d->n && j == want->n)
                break;
            if (i == d->n || j == want->n || d->v[i] != want->v[j]) {
                same = 0;
                break;
            }
            i++;
            j++;
        }
        if (!same)
            problem(c, "postings of %s %u disagree with the documents' hit lists",
                    term[0] == 'p' ? "pattern" : term[0] == 'e' ? "entity" : "category", id);
        want->cap = SIZE_MAX; /* mark seen */
    }
    return 0;
}

/* The words table against the main tree's word terms, one by one. */
static int check_words(tdx_rtxn *t, check_ctx *c)
{
    MDB_cursor *pc, *wc;
    if (mdb_cursor_open(t->txn, t->post, &pc))
        return TDX_EIO;
    if (mdb_cursor_open(t->txn, t->s->dbi[DB_WORDS], &wc)) {
        mdb_cursor_close(pc);
        return TDX_EIO;
    }
    uint8_t cls = WORD_CLASS, tree = t->post == t->s->dbi[DB_POST_A] ? 'a' : 'b';
    uint8_t wkb[5] = {tree, 0, 0, 0, 0};
    MDB_val pk = mval(&cls, 1), pv, wk = mval(wkb, 5), wv;
    int pg = mdb_cursor_get(pc, &pk, &pv, MDB_SET_RANGE);
    int wg = mdb_cursor_get(wc, &wk, &wv, MDB_SET_RANGE);
    const uint8_t *wp = NULL, *we = NULL;
    uint8_t last[520];
    size_t last_len = 0, n = 0;
    for (;;) {
        const uint8_t *term = NULL;
        size_t tl = 0;
        while (pg == 0 && pk.mv_size >= 6 && *(const uint8_t *)pk.mv_data == WORD_CLASS) {
            tl = pk.mv_size - 5;
            if (!(tl == last_len && memcmp(last, pk.mv_data, tl) == 0)) {
                term = pk.mv_data;
                break;
            }
            pg = mdb_cursor_get(pc, &pk, &pv, MDB_NEXT);
        }
        while (wp == we && wg == 0) {
            if (wk.mv_size != 5 || *(const uint8_t *)wk.mv_data != tree) {
                wg = MDB_NOTFOUND;
                break;
            }
            wp = wv.mv_data;
            we = wp + wv.mv_size;
            wg = mdb_cursor_get(wc, &wk, &wv, MDB_NEXT);
        }
        const uint8_t *w = NULL;
        size_t wl = 0;
        if (wp != we) {
            const uint8_t *nl = memchr(wp, '\n', (size_t)(we - wp));
            if (nl == NULL) {
                problem(c, "word list: a chunk does not end with a line break");
                break;
            }
            w = wp;
            wl = (size_t)(nl - wp);
            wp = nl + 1;
        }
        if (term == NULL && w == NULL)
            break;
        if (term == NULL || w == NULL || tl - 1 != wl || tl > sizeof last ||
            memcmp(term + 1, w, wl) != 0) {
            problem(c, "word list: entry %zu is '%.*s', the postings' word is '%.*s'", n,
                    w ? (int)wl : 6, w ? (const char *)w : "(none)", term ? (int)tl - 1 : 6,
                    term ? (const char *)term + 1 : "(none)");
            break;
        }
        memcpy(last, term, tl);
        last_len = tl;
        n++;
        pg = mdb_cursor_get(pc, &pk, &pv, MDB_NEXT);
    }
    mdb_cursor_close(pc);
    mdb_cursor_close(wc);
    return 0;
}

/* What check_blocks carries from block to block. */
typedef struct blk_check {
    check_ctx *c;
    uint64_t bad;
    tdx_docset docs;
    pay_vec pays;
} blk_check;

/* One block (key k: pre bytes, term 0x00 be32(first doc)), where said in
 * `where`: 0, or TDX_ENOMEM. */
static int check_block(tdx_rtxn *t, blk_check *b, const MDB_val *k, const MDB_val *v, size_t pre,
                       const char *where)
{
    const uint8_t *kp = k->mv_data;
    uint64_t n = 0;
    const char *what = NULL;
    if (k->mv_size < pre + 6 || kp[k->mv_size - 5] != 0 || tdx_be32_get(kp + k->mv_size - 4) == 0)
        what = "a malformed key";
    else if (tdx_varint_get(v->mv_data, (const uint8_t *)v->mv_data + v->mv_size, &n) == 0 ||
             n == 0 || n > POST_BLOCK_MAX)
        what = "a doc count out of range";
    else if (n > 1 && v->mv_size > POST_BLOCK_BYTES)
        what = "more bytes than a block may hold";
    else if (tdx_term_positional(kp[pre])) {
        /* Its positions parse, one per doc, and end the block; its
         * checkpoints (format 3) fall where their groups start. */
        b->docs.n = 0;
        b->pays.n = 0;
        int drc = decode_block(v, tdx_be32_get(kp + k->mv_size - 4), blk_mode(t->s, 1), &b->docs,
                               &b->pays, NULL);
        if (drc == TDX_ENOMEM)
            return drc;
        if (drc)
            what = "positions or checkpoints that do not fit its docs";
    }
    if (what != NULL && ++b->bad <= 10)
        problem(b->c, "postings block %zu of %s (%zu bytes, %" PRIu64 " docs): %s", (size_t)b->bad,
                where, v->mv_size, n, what);
    return 0;
}

/* Segment seg's blocks, its shared values opened: each entry checked as a
 * block, and the entries in key order.  0, TDX_ENOMEM or TDX_EIO. */
static int check_segment(tdx_rtxn *t, blk_check *b, MDB_cursor *cur, uint32_t seg)
{
    segit it = {.cur = cur, .seg = seg};
    uint8_t sk[4], last[4 + 512 + 5];
    size_t last_len = 0;
    tdx_be32_put(sk, seg);
    int g = segit_seek(&it, sk, 4), rc = 0;
    for (; g == 0 && it.valid; g = segit_next(&it)) {
        if (last_len && cmp_bytes(last, last_len, it.k.mv_data, it.k.mv_size) >= 0 &&
            ++b->bad <= 10)
            problem(b->c, "postings block %zu of segment %u: its key is not after the one before",
                    (size_t)b->bad, seg);
        memcpy(last, it.k.mv_data, it.k.mv_size);
        last_len = it.k.mv_size;
        if ((rc = check_block(t, b, &it.k, &it.v, 4, "a segment")) != 0)
            return rc;
    }
    if (g == MDB_CORRUPTED) {
        if (++b->bad <= 10)
            problem(b->c,
                    "postings segment %u: a shared value that does not parse (after %zu "
                    "bytes of key)",
                    seg, last_len);
        return 0;
    }
    return g ? TDX_EIO : 0;
}

/*
 * Every postings block's key and size, read raw from the main tree (both
 * trees during a merge) and the segments (their shared values opened): key
 * [be32 segment] term 0x00 be32(first doc), first doc >= 1, 1 to
 * POST_BLOCK_MAX docs, at most POST_BLOCK_BYTES unless it holds one doc.
 * The writer and the merge cut blocks so; a block past the limits still
 * reads, so only this finds one.  The first ten problems are named, the
 * rest counted.
 */
static int check_blocks(tdx_rtxn *t, check_ctx *c)
{
    MDB_dbi trees[2] = {t->post, t->dst};
    blk_check b = {c, 0, {0}, {0}};
    int rc = load_segments(t, NULL);
    for (int i = 0; rc == 0 && i < 3; i++) {
        if (i == 1 && !t->merging)
            continue;
        MDB_cursor *cur;
        if (mdb_cursor_open(t->txn, i == 2 ? t->s->dbi[DB_POSTSEG] : trees[i], &cur)) {
            rc = TDX_EIO;
            break;
        }
        if (i == 2) {
            for (size_t j = 0; rc == 0 && j < t->nsegs; j++)
                rc = check_segment(t, &b, cur, t->segs[j]);
            mdb_cursor_close(cur);
            break;
        }
        MDB_val k, v;
        int g = mdb_cursor_get(cur, &k, &v, MDB_FIRST);
        for (; rc == 0 && g == 0; g = mdb_cursor_get(cur, &k, &v, MDB_NEXT))
            rc = check_block(t, &b, &k, &v, 0, "the main tree");
        mdb_cursor_close(cur);
        if (rc == 0 && g != MDB_NOTFOUND)
            rc = TDX_EIO;
    }
    tdx_docset_free(&b.docs);
    tdx_free(b.pays.v);
    if (rc)
        return rc;
    if (b.bad > 10)
        problem(c, "%" PRIu64 " more postings blocks like these", b.bad - 10);
    return 0;
}

int tdx_store_check(tdx_rtxn *t, tdx_line_fn fn, void *ctx, uint64_t *out_problems,
                    tdx_err *err)
{
    tdx_store *s = t->s;
    check_ctx c;
    memset(&c, 0, sizeof c);
    c.o.fn = fn;
    c.o.ctx = ctx;
    tdx_store_info info;
    int rc = tdx_store_get_info(t, &info, err);
    if (rc)
        return rc;
    c.next_doc = info.next_doc;
    c.trigrams = info.trigrams;
    tdx_store_schema_view sv;
    rc = tdx_store_get_schema(t, &sv, err);
    if (rc) {
        problem(&c, "watch-list tables: %s", err ? err->msg : "unreadable");
        if (err)
            tdx_err_clear(err);
        memset(&sv, 0, sizeof sv);
        rc = 0;
    }
    c.np = sv.npatterns;
    c.ne = sv.nentities;
    c.nc = sv.ncategories;
    c.per_pattern = tdx_calloc(c.np + 1, sizeof(tdx_docset));
    c.per_entity = tdx_calloc(c.ne + 1, sizeof(tdx_docset));
    c.per_category = tdx_calloc(c.nc + 1, sizeof(tdx_docset));
    tdx_docset *sets[3] = {c.per_pattern, c.per_entity, c.per_category};
    size_t ns[3] = {c.np, c.ne, c.nc};
    uint8_t *deleted = tdx_calloc(info.next_doc + 1, 1);
    tdx_docset dl = {0};
    tdx_hashset marked = {0}; /* contents of the live docs from meta "deferred" on */
    tdx_buf text = TDX_BUF_INIT;
    tdx_store_hit *hits = NULL;
    size_t nh = 0, caph = 0;
    if (!c.per_pattern || !c.per_entity || !c.per_category || !deleted) {
        rc = tdx_err_set(err, TDX_ENOMEM, "out of memory");
        goto done;
    }
    c.deleted = deleted;
    rc = tdx_store_deleted(t, &dl, err);
    if (rc)
        goto done;
    for (size_t i = 0; i < dl.n; i++) {
        if (dl.v[i] == 0 || dl.v[i] >= info.next_doc)
            problem(&c, "tombstone for doc %u, which does not exist", dl.v[i]);
        else
            deleted[dl.v[i]] = 1;
    }
    uint64_t mark_id;
    if (read_pend_mark(t->txn, s, info.next_doc, &mark_id)) {
        problem(&c, "meta deferred is not a doc id up to %" PRIu64, info.next_doc);
        mark_id = info.next_doc;
    }
    MDB_stat ms;
    mdb_stat(t->txn, s->dbi[DB_DOCS], &ms);
    if (ms.ms_entries != info.next_doc - 1)
        problem(&c, "%zu document records, but doc ids 1..%" PRIu64 " are in use",
                (size_t)ms.ms_entries, info.next_doc - 1);
    uint64_t live = 0, bytes = 0, nhits = 0;
    for (uint64_t id = 1; id < info.next_doc; id++) {
        tdx_store_docinfo d;
        tdx_err e2 = {0};
        if (tdx_store_get_doc(t, (uint32_t)id, &d, &e2)) {
            problem(&c, "doc %" PRIu64 ": %s", id, e2.msg);
            continue;
        }
        if (!deleted[id]) {
            live++;
            bytes += d.text_len;
            nhits += d.nhits;
        }
        tdx_err_clear(&e2);
        if (tdx_store_get_text(t, (uint32_t)id, &text, &e2))
            problem(&c, "doc %" PRIu64 ": %s", id, e2.msg);
        else if (text.len != d.text_len)
            problem(&c, "doc %" PRIu64 ": stored text has %zu bytes, record says %" PRIu64, id,
                    text.len, d.text_len);
        tdx_err_clear(&e2);
        if (tdx_store_get_hits(t, (uint32_t)id, &hits, &nh, &caph, &e2)) {
            problem(&c, "doc %" PRIu64 ": %s", id, e2.msg);
            continue;
        }
        if (nh != d.nhits)
            problem(&c, "doc %" PRIu64 ": %zu hits stored, record says %u", id, nh, d.nhits);
        for (size_t i = 0; i < nh; i++) {
            const tdx_store_hit *h = &hits[i];
            if (h->pattern >= c.np) {
                problem(&c, "doc %" PRIu64 ": hit of unknown pattern %u", id, h->pattern);
                continue;
            }
            if (h->nstart > h->nend || h->ostart > h->oend || h->oend > d.text_len)
                problem(&c, "doc %" PRIu64 ": hit %zu has bad offsets", id, i);
            if (i && (hits[i - 1].nstart > h->nstart ||
                      (hits[i - 1].nstart == h->nstart && hits[i - 1].nend > h->nend)))
                problem(&c, "doc %" PRIu64 ": hits out of order", id);
            if (deleted[id])
                continue;
            const tdx_store_pattern *p = &sv.patterns[h->pattern];
            /* Hits come in text order, not pattern order: collect, dedupe later. */
            if (tdx_docset_push(&c.per_pattern[h->pattern], (uint32_t)id) ||
                tdx_docset_push(&c.per_entity[p->entity], (uint32_t)id) ||
                tdx_docset_push(&c.per_category[p->category], (uint32_t)id)) {
                rc = tdx_err_set(err, TDX_ENOMEM, "out of memory");
                goto done;
            }
        }
        if (!deleted[id]) {
            /* Below the mark the table names the document; from it on the
             * table may not have it yet, but names no other, and no other
             * live document there has the same content. */
            uint8_t hk[16];
            MDB_val k = hash_key(hk, d.hash), v;
            int g = mdb_get(t->txn, s->dbi[DB_HASHES], &k, &v);
            uint32_t owner = g == 0 && v.mv_size == 4 ? tdx_be32_get(v.mv_data) : 0;
            if (id < mark_id ? owner != id : g == 0 && owner != id)
                problem(&c, "doc %" PRIu64 ": content hash not recorded for it", id);
            k = mval(d.key, d.key_len);
            g = mdb_get(t->txn, s->dbi[DB_KEYS], &k, &v);
            int mine = g == 0 && v.mv_size == 5 && tdx_be32_get(v.mv_data) == id &&
                       ((const uint8_t *)v.mv_data)[4] == 0;
            if (id < mark_id ? !mine : g == 0 && !mine)
                problem(&c, "doc %" PRIu64 ": its key does not name it", id);
            if (id >= mark_id) {
                uint32_t same = tdx_hashset_find(&marked, d.hash);
                if (same)
                    problem(&c, "doc %" PRIu64 ": same content as live doc %u", id, same);
                else if (tdx_hashset_add(&marked, d.hash, (uint32_t)id)) {
                    rc = tdx_err_set(err, TDX_ENOMEM, "out of memory");
                    goto done;
                }
            }
        }
    }
    /* Per-doc pushes are in doc order, with repeats within a doc: squeeze. */
    for (int k = 0; k < 3; k++)
        for (size_t i = 0; i < ns[k]; i++) {
            tdx_docset *d = &sets[k][i];
            size_t w = 0;
            for (size_t r = 0; r < d->n; r++)
                if (w == 0 || d->v[w - 1] != d->v[r])
                    d->v[w++] = d->v[r];
            d->n = w;
        }
    if (live != info.docs)
        problem(&c, "%" PRIu64 " live documents, counts say %" PRIu64, live, info.docs);
    if (bytes != info.bytes)
        problem(&c, "%" PRIu64 " bytes of live text, counts say %" PRIu64, bytes, info.bytes);
    if (nhits != info.hits)
        problem(&c, "%" PRIu64 " hits in live documents, counts say %" PRIu64, nhits, info.hits);
    /* Keys point at existing documents. */
    MDB_cursor *cur;
    rc = mdb_cursor_open(t->txn, s->dbi[DB_KEYS], &cur);
    if (rc) {
        rc = lmdb_err(err, rc, "cannot read keys");
        goto done;
    }
    MDB_val k, v;
    uint64_t dups = 0;
    int g = mdb_cursor_get(cur, &k, &v, MDB_FIRST);
    tdx_buf dk = TDX_BUF_INIT;
    while (g == 0) {
        int kl = (int)(k.mv_size > 80 ? 80 : k.mv_size);
        uint32_t id = v.mv_size == 5 ? tdx_be32_get(v.mv_data) : 0;
        if (id == 0 || id >= info.next_doc) {
            problem(&c, "key '%.*s' points at no document", kl, (const char *)k.mv_data);
        } else if (((const uint8_t *)v.mv_data)[4]) {
            dups++;
            /* A duplicate points at a live document and is listed under it. */
            MDB_val dv, dkv;
            if (deleted[id])
                problem(&c, "duplicate key '%.*s' points at replaced doc %u", kl,
                        (const char *)k.mv_data, id);
            if (dups_key(&dk, id, k.mv_data, k.mv_size) == 0) {
                dkv = mval(dk.p, dk.len);
                if (mdb_get(t->txn, s->dbi[DB_DUPS], &dkv, &dv) != 0)
                    problem(&c, "duplicate key '%.*s' is missing from the duplicates of doc %u",
                            kl, (const char *)k.mv_data, id);
            }
        } else {
            /* A document's own key is the key in its record, and the
             * document is live (a replaced one's key names its successor). */
            tdx_store_docinfo d;
            tdx_err e2 = {0};
            if (tdx_store_get_doc(t, id, &d, &e2) == 0 &&
                (d.key_len != k.mv_size || memcmp(d.key, k.mv_data, k.mv_size) != 0))
                problem(&c, "key '%.*s' names doc %u, whose record has another key", kl,
                        (const char *)k.mv_data, id);
            else if (deleted[id])
                problem(&c, "key '%.*s' names replaced doc %u", kl, (const char *)k.mv_data, id);
        }
        g = mdb_cursor_get(cur, &k, &v, MDB_NEXT);
    }
    mdb_cursor_close(cur);
    if (dups != info.duplicates)
        problem(&c, "%" PRIu64 " duplicate keys, counts say %" PRIu64, dups, info.duplicates);
    /* Every listed duplicate is a duplicate key of that document. */
    MDB_stat dst;
    if (mdb_stat(t->txn, s->dbi[DB_DUPS], &dst) == 0 && dst.ms_entries != dups)
        problem(&c, "%zu entries in the duplicates table, %" PRIu64 " duplicate keys",
                (size_t)dst.ms_entries, dups);
    tdx_buf_free(&dk);
    /* Every content hash in the table names a live document of that content. */
    rc = mdb_cursor_open(t->txn, s->dbi[DB_HASHES], &cur);
    if (rc) {
        rc = lmdb_err(err, rc, "cannot read content hashes");
        goto done;
    }
    for (g = mdb_cursor_get(cur, &k, &v, MDB_FIRST); g == 0;
         g = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
        uint32_t id = v.mv_size == 4 ? tdx_be32_get(v.mv_data) : 0;
        tdx_store_docinfo d;
        if (k.mv_size != 16 || id == 0 || id >= info.next_doc) {
            problem(&c, "a content hash names no document");
        } else if (deleted[id]) {
            problem(&c, "a content hash names replaced doc %u", id);
        } else if (tdx_store_get_doc(t, id, &d, NULL) == 0 &&
                   (tdx_be64_get(k.mv_data) != d.hash[0] ||
                    tdx_be64_get((const uint8_t *)k.mv_data + 8) != d.hash[1])) {
            problem(&c, "a content hash names doc %u, whose content differs", id);
        }
    }
    mdb_cursor_close(cur);
    /* Dates: the date table agrees with every record. */
    if (info.next_doc > 1) {
        uint32_t *dates = tdx_calloc(info.next_doc, sizeof *dates);
        tdx_err e2 = {0};
        if (dates == NULL) {
            rc = tdx_err_set(err, TDX_ENOMEM, "out of memory");
            goto done;
        }
        if (tdx_store_dates(t, dates, info.next_doc - 1, &e2) != 0) {
            problem(&c, "dates: %s", e2.msg);
        } else {
            for (uint64_t id = 1; id < info.next_doc; id++) {
                tdx_store_docinfo d;
                if (tdx_store_get_doc(t, (uint32_t)id, &d, NULL) == 0 &&
                    d.date_ymd != dates[id - 1])
                    problem(&c, "doc %" PRIu64 ": date table says %u, record says %u", id,
                            dates[id - 1], d.date_ymd);
            }
        }
        tdx_free(dates);
    }
    /* Input records decode. */
    rc = mdb_cursor_open(t->txn, s->dbi[DB_INPUTS], &cur);
    if (rc) {
        rc = lmdb_err(err, rc, "cannot read inputs");
        goto done;
    }
    g = mdb_cursor_get(cur, &k, &v, MDB_FIRST);
    while (g == 0) {
        char path[520];
        snprintf(path, sizeof path, "%.*s", (int)(k.mv_size < 512 ? k.mv_size : 512),
                 (const char *)k.mv_data);
        tdx_store_input in;
        if (tdx_store_get_input(t, path, &in, NULL) != 0)
            problem(&c, "input record of '%s' is corrupt", path);
        g = mdb_cursor_get(cur, &k, &v, MDB_NEXT);
    }
    mdb_cursor_close(cur);
    {
        term_walk w = {t, {0}, check_term, &c, err, 0};
        rc = walk_all_terms(&w);
        tdx_docset_free(&w.docs);
        if (rc == TDX_ECORRUPT) {
            problem(&c, "postings: %s", err ? err->msg : "corrupt");
            if (err)
                tdx_err_clear(err);
            rc = 0;
        }
    }
    if (rc == 0) {
        int brc = check_blocks(t, &c);
        if (brc == TDX_ENOMEM)
            rc = tdx_err_set(err, brc, "out of memory");
        else if (brc)
            problem(&c, "postings: unreadable");
    }
    if (rc == 0 && words_listed(t) && check_words(t, &c))
        problem(&c, "word list: unreadable");
    for (int kk = 0; kk < 3 && rc == 0; kk++)
        for (size_t i = 0; i < ns[kk]; i++)
            if (sets[kk][i].n && sets[kk][i].cap != SIZE_MAX)
                problem(&c, "%s %zu has hits but no postings",
                        kk == 0 ? "pattern" : kk == 1 ? "entity" : "category", i);
done:
    for (int kk = 0; kk < 3; kk++)
        for (size_t i = 0; sets[kk] && i < ns[kk]; i++) {
            sets[kk][i].cap = 0;
            tdx_docset_free(&sets[kk][i]);
        }
    tdx_docset_free(&c.cut);
    tdx_docset_free(&c.tri_docs);
    tdx_free(c.per_pattern);
    tdx_free(c.per_entity);
    tdx_free(c.per_category);
    tdx_free(deleted);
    tdx_docset_free(&dl);
    tdx_hashset_free(&marked);
    tdx_buf_free(&text);
    tdx_free(hits);
    tdx_store_schema_view_free(&sv);
    tdx_buf_free(&c.o.b);
    if (rc == 0)
        *out_problems = c.problems;
    return rc;
}
