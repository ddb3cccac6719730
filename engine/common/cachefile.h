/*
 * cachefile.h - files in tenderidx's cache directory: compiled watch lists
 * (match/match.c) and normalizer tables (normalize/norm_cache.c).
 *
 * A cache file is something tenderidx can always make again; it only saves
 * time.  So every failure here is a miss, never an error: a file that
 * cannot be read, is cut short, comes from another format or key, or fails
 * its checksum is ignored (and rewritten by the caller); a file that cannot
 * be written costs the next run the time it would have saved.
 *
 * Layout shared by every cache file (integers big-endian):
 *     8 bytes   magic (a name, NUL-padded)
 *     u32       format version of the body
 *     16 bytes  key: XXH3-128 of everything the body was made from
 *     ...       body
 *     8 bytes   XXH3-64 of everything before
 * Files are written to a temporary name and renamed, so a reader never
 * sees half a file.
 *
 * Threading: no shared state; concurrent writers of one path are safe
 * (the last rename wins, and both wrote the same content).
 */
#ifndef TDX_COMMON_CACHEFILE_H
#define TDX_COMMON_CACHEFILE_H

#include <stddef.h>
#include <stdint.h>

#include "buf.h"

/**
 * The cache directory into out[0..cap): opt when given (opt "" means
 * caching is off and gives ""), else $TENDERIDX_CACHE_DIR, else
 * $XDG_CACHE_HOME/tenderidx, else $HOME/.cache/tenderidx; "" when none
 * applies or the path does not fit.
 */
void tdx_cache_dir(const char *opt, char *out, size_t cap);

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
 * [*out_body, *out_body + *out_body_len) its body; -1 on any miss.
 */
int tdx_cache_load(const char *path, const char magic[8], uint32_t format, const uint64_t key[2],
                   uint8_t **out_file, const uint8_t **out_body, size_t *out_body_len);

#endif
