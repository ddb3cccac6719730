/*
 * cachefile.h - files in tenderidx's cache directory: compiled watch lists
 * (match/match.c) and normalizer tables (normalize/norm_cache.c).
 *
 * A cache file is something tenderidx can always make again; it only saves
 * time.  So every failure to load or store is a miss, never an error: a
 * file that cannot be read, is cut short, comes from another format or
 * key, or fails its checksum is ignored (and rewritten by the caller); a
 * file that cannot be written costs the next run the time it would have
 * saved.
 *
 * Layout shared by every cache file (integers big-endian):
 *     8 bytes   magic (a name, NUL-padded)
 *     u32       format version of the body
 *     16 bytes  key: XXH3-128 of everything the body was made from
 *     ...       body
 *     8 bytes   XXH3-64 of everything before
 * Files are written to a temporary name (.cache-XXXXXX in the same
 * directory) and renamed, so a reader never sees half a file; a writer
 * killed in between leaves the temporary file behind.
 *
 * A file's mtime is when it was last written or used: every hit of
 * tdx_cache_load sets it to now.  tdx_cache_prune removes by that age, so
 * a file that runs still read is kept, however long ago it was written.
 *
 * Threading: no shared state; concurrent writers of one path are safe
 * (the last rename wins, and both wrote the same content).  Pruning may
 * run beside writers: it leaves temporary files younger than an hour
 * alone, unless told to remove everything.
 */
#ifndef TDX_COMMON_CACHEFILE_H
#define TDX_COMMON_CACHEFILE_H

#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "err.h"

/**
 * The cache directory into out[0..cap): opt when given (opt "" means
 * caching is off and gives ""), else $TENDERIDX_CACHE_DIR, else
 * $XDG_CACHE_HOME/tenderidx, else $HOME/.cache/tenderidx; "" when none
 * applies or the path does not fit.
 */
void tdx_cache_dir(const char *opt, char *out, size_t cap);

/* The kinds of sealed file tenderidx writes, by magic (and file name:
 * match-<key>.hsdb, norm-<key>.tab); tdx_cache_list knows them by both. */
#define TDX_CACHE_MAGIC_WATCHLIST  "TDXHSDB" /* match/match.c: a compiled watch list */
#define TDX_CACHE_MAGIC_NORMALIZER "TDXNORM" /* normalize/norm_cache.c: tables */

/** Start a cache file in b (reset first): magic, format, key. 0 or ENOMEM. */
int tdx_cache_begin(tdx_buf *b, const char magic[8], uint32_t format, const uint64_t key[2]);

/**
 * Seal the file in b with its checksum and write it to path (creating dir
 * and its parents as needed) through a temporary file in dir.  Best
 * effort: 0 when written, -1 otherwise (nothing left behind).
 */
int tdx_cache_store(tdx_buf *b, const char *dir, const char *path);

/**
 * Read path whole and check its magic, format, key and checksum.  On
 * success (0) *out_file is the whole file (free with tdx_free) and
 * [*out_body, *out_body + *out_body_len) its body, and the file's mtime
 * and atime are set to now (best effort: a read-only directory keeps the
 * old ones); -1 on any miss, which leaves the file's times alone.
 */
int tdx_cache_load(const char *path, const char magic[8], uint32_t format, const uint64_t key[2],
                   uint8_t **out_file, const uint8_t **out_body, size_t *out_body_len);

/* ---- looking after the directory ------------------------------------------ */

/** What a file of the cache directory is. */
typedef enum tdx_cache_kind {
    TDX_CACHE_WATCHLIST = 1, /* match-*.hsdb, magic "TDXHSDB": a compiled watch list */
    TDX_CACHE_NORMALIZER,    /* norm-*.tab, magic "TDXNORM": a normalizer's tables */
    TDX_CACHE_PARTIAL,       /* .cache-XXXXXX: a write under way, or one cut short */
} tdx_cache_kind;

/**
 * The path of the sealed file of `kind` (TDX_CACHE_WATCHLIST or
 * TDX_CACHE_NORMALIZER) with this key in dir, into out[0..cap): its
 * name is the kind's prefix, the key in hex and the kind's suffix
 * (match-<key>.hsdb, norm-<key>.tab), as tdx_cache_list knows them.  0, or
 * -1 when the kind has no such file or the path does not fit.
 */
int tdx_cache_path(const char *dir, tdx_cache_kind kind, const uint64_t key[2], char *out,
                   size_t cap);

/** Temporary files this old (seconds) belong to no live writer. */
#define TDX_CACHE_PARTIAL_MAX_AGE_S 3600

/** One file of the cache directory that tenderidx wrote. */
typedef struct tdx_cache_entry {
    char name[256]; /* file name within the directory */
    tdx_cache_kind kind;
    uint64_t bytes;
    int64_t mtime_s; /* seconds since the epoch: last written or used */
} tdx_cache_entry;

/**
 * List the files of dir that tenderidx wrote, sorted by name.  A file is
 * ours when it is a regular file (not a link) and either its name is
 * match-*.hsdb or norm-*.tab and its first 8 bytes are that kind's magic,
 * or its name is .cache- and six letters or digits (a temporary file,
 * whatever its content).  Anything else, a right name with the wrong
 * magic, or a file that cannot be opened to read its magic, is not
 * listed.
 *
 * dir   the cache directory (see tdx_cache_dir); one that does not exist
 *       is empty, not an error
 * out_entries, out_n  on success an owned array (free with tdx_free; NULL
 *       when empty) of *out_n entries
 *
 * Errors: TDX_EINVAL (NULL argument), TDX_ENOMEM, or the errno's code
 * (usually TDX_EIO) when dir cannot be read, err naming dir and the
 * reason.  Thread-safe; the listing is a snapshot that writers and other
 * processes may change at once.
 */
int tdx_cache_list(const char *dir, tdx_cache_entry **out_entries, size_t *out_n, tdx_err *err);

enum {
    TDX_CACHE_PRUNE_ALL = 1u << 0,     /* remove every file of ours, whatever its age */
    TDX_CACHE_PRUNE_DRY_RUN = 1u << 1, /* decide and report, remove nothing */
};

/** What tdx_cache_prune did (in a dry run: would do). */
typedef struct tdx_cache_prune_result {
    size_t removed, kept, failed; /* failed: to be removed, but unlink refused */
    uint64_t removed_bytes, kept_bytes, failed_bytes;
} tdx_cache_prune_result;

/**
 * Called by tdx_cache_prune for each file it removes (errnum 0; in a dry
 * run, each file it would remove) and each it cannot remove (errnum is
 * unlink's errno).  Kept files are not reported one by one.
 */
typedef void (*tdx_cache_prune_fn)(void *ctx, const tdx_cache_entry *e, int errnum);

/**
 * Remove the files of dir that tdx_cache_list lists and that are no longer
 * worth keeping: watch lists and normalizer tables last written or used
 * more than older_than_s seconds ago, temporary files older than
 * TDX_CACHE_PARTIAL_MAX_AGE_S (younger ones may be a live writer's, so
 * older_than_s does not apply to them); with TDX_CACHE_PRUNE_ALL, every
 * one.  Files that are not ours are never touched.
 *
 * A file that cannot be removed is reported through on_file (may be NULL)
 * and counted as failed, and pruning goes on; one that is gone already
 * (another prune, or a writer's rename) counts as removed.  A file used
 * between the listing and its removal is removed all the same: it only
 * costs its next user the time to make it again.
 *
 * out_result  counts and bytes removed, kept and failed; written on success
 *
 * Errors: those of tdx_cache_list (a failed unlink is not an error).
 */
int tdx_cache_prune(const char *dir, uint64_t older_than_s, unsigned flags,
                    tdx_cache_prune_fn on_file, void *ctx, tdx_cache_prune_result *out_result,
                    tdx_err *err);

#endif
