/*
 * match.h - watch lists and the Hyperscan matcher.
 *
 * A watch list is a UTF-8 TSV file, one alias per row:
 *     entity<TAB>category<TAB>pattern[<TAB>flags]
 * '#' starts a comment line, blank lines are ignored.  A pattern written
 * /.../ is a regular expression (Hyperscan syntax) run on normalized text;
 * anything else is a literal, normalized with the same tdx_norm as
 * documents.  Several rows with the same entity are its aliases.
 *
 * Boundary rule: a literal whose first (last) character is an ASCII letter
 * or digit only matches where the character before (after) it in the
 * normalized text is not an ASCII letter or digit; the flag "substring"
 * turns the rule off for that row.  A regex hit is held to the same rule,
 * judged on the first and last character of the text it matched (Hyperscan
 * has no look-behind, so a regex could not say it by itself).
 *
 * Regexes are compiled with HS_FLAG_UTF8 | HS_FLAG_UCP | HS_FLAG_CASELESS
 * (normalized text is case-folded, so /H100/ must find "h100") and report
 * the leftmost start of each match.  They are not normalized: write them in
 * Simplified characters and half-width ASCII, as normalized text is.
 *
 * Cells: a line ending in CRLF is read as LF, a UTF-8 BOM at the start of
 * the file is skipped, ASCII white space around a cell is not part of it,
 * and a literal's leading/trailing white space is dropped after
 * normalization.  A line whose first non-blank character is '#' is a
 * comment.  Columns in diagnostics are 1-based byte offsets in the line.
 *
 * Lifecycle: tdx_watchlist_load/parse -> tdx_match_compile -> per thread
 * tdx_match_scratch_create -> tdx_match_scan per document.
 *
 * Threading: a tdx_watchlist and a tdx_matcher are immutable after creation
 * and shared; a tdx_match_scratch belongs to one thread.
 */
#ifndef TDX_MATCH_H
#define TDX_MATCH_H

#include <stddef.h>
#include <stdint.h>

#include "../common/err.h"
#include "../normalize/normalize.h"

enum tdx_pattern_flag {
    TDX_PAT_REGEX = 1u << 0,     /* written /.../ */
    TDX_PAT_SUBSTRING = 1u << 1, /* "substring": no boundary rule */
};

/** One watch-list row after parsing.  All strings borrowed from the watch list. */
typedef struct tdx_pattern {
    uint32_t id;       /* 0-based, in file order */
    uint32_t entity;   /* index into the entity table */
    uint32_t category; /* index into the category table */
    unsigned flags;    /* tdx_pattern_flag bits */
    uint32_t line;     /* 1-based line in the file */
    const char *text;  /* the pattern as written (without slashes for regexes) */
    const char *norm;  /* normalized literal, or the regex as compiled */
    size_t norm_len;
    uint32_t col;    /* 1-based byte column of the pattern cell */
    uint32_t dup_of; /* first pattern of the same kind with the same norm (own id if none) */
    uint32_t min_width, max_width; /* bytes a match can span (regex: from Hyperscan,
                                      UINT32_MAX = unbounded; literal: norm_len) */
} tdx_pattern;

/* Limits; exceeding one is an error with code TDX_ELIMIT. */
#define TDX_MATCH_MAX_PATTERNS      (1u << 22) /* rows with a pattern */
#define TDX_MATCH_MAX_PATTERN_BYTES 1024u      /* normalized literal or regex body */
#define TDX_MATCH_MAX_FILE_BYTES    (1u << 30)

/** A problem found in a watch list: file, line, column (1-based, in bytes). */
typedef struct tdx_diag {
    char *file;
    uint32_t line, col;
    int is_error; /* 1: error (nothing indexed), 0: warning */
    char *msg;
} tdx_diag;

typedef struct tdx_watchlist tdx_watchlist;

/**
 * Read and parse a watch-list file.  Any error (invalid regex, empty pattern,
 * pattern that normalizes to nothing, unknown flag, missing column) fails
 * the whole load with TDX_EPATTERN and err->msg = "FILE:LINE:COL: reason"
 * for the first one.  Warnings (duplicate alias, one-character CJK literal)
 * do not fail; they are listed by tdx_watchlist_diag().  Errors: TDX_EIO,
 * TDX_EPATTERN, TDX_ELIMIT, TDX_ENOMEM.  Owned: free with tdx_watchlist_free().
 */
int tdx_watchlist_load(const char *path, const tdx_norm *norm, tdx_watchlist **out_wl,
                       tdx_err *err);
/** Same from memory; name is used in messages. */
int tdx_watchlist_parse(const char *name, const char *data, size_t len, const tdx_norm *norm,
                        tdx_watchlist **out_wl, tdx_err *err);
void tdx_watchlist_free(tdx_watchlist *wl);

/** Diagnostics (errors then warnings, in line order) of the last parse. Borrowed. */
size_t tdx_watchlist_ndiags(const tdx_watchlist *wl);
const tdx_diag *tdx_watchlist_diag(const tdx_watchlist *wl, size_t i);
/**
 * Parse for validation only: always returns the list with all diagnostics
 * (errors included) unless reading fails or memory runs out.
 */
int tdx_watchlist_check(const char *path, const tdx_norm *norm, tdx_watchlist **out_wl,
                        tdx_err *err);

/** Number of errors (is_error diagnostics); non-zero only after tdx_watchlist_check(). */
size_t tdx_watchlist_nerrors(const tdx_watchlist *wl);
/** The name given to load/parse (used in messages).  Borrowed. */
const char *tdx_watchlist_name(const tdx_watchlist *wl);
/** tdx_norm_identity() of the normalizer the literals went through.  Borrowed. */
const char *tdx_watchlist_norm_identity(const tdx_watchlist *wl);

size_t tdx_watchlist_npatterns(const tdx_watchlist *wl);
const tdx_pattern *tdx_watchlist_pattern(const tdx_watchlist *wl, uint32_t id);
size_t tdx_watchlist_nentities(const tdx_watchlist *wl);
const char *tdx_watchlist_entity(const tdx_watchlist *wl, uint32_t entity);
size_t tdx_watchlist_ncategories(const tdx_watchlist *wl);
const char *tdx_watchlist_category(const tdx_watchlist *wl, uint32_t category);
/** Category of an entity (an entity has exactly one; the first row decides). */
uint32_t tdx_watchlist_entity_category(const tdx_watchlist *wl, uint32_t entity);
/** Hash of the parsed content (rows, flags, normalized forms): cache key part. */
uint64_t tdx_watchlist_hash(const tdx_watchlist *wl);

typedef struct tdx_match_opts {
    const char *cache_dir; /* NULL: $TENDERIDX_CACHE_DIR, else $XDG_CACHE_HOME/tenderidx, else
                              ~/.cache/tenderidx; "" disables the cache */
} tdx_match_opts;

typedef struct tdx_matcher tdx_matcher;

/**
 * Compile the watch list into Hyperscan databases (literals through the
 * literal API, regexes grouped by flag set) or load them from the cache.
 * wl must outlive the matcher.  Errors: TDX_EPATTERN (message names file,
 * line, column and Hyperscan's reason; also for a list from
 * tdx_watchlist_check() that has errors), TDX_ENOMEM, TDX_EINTERNAL,
 * TDX_EINVAL (NULL wl or out_m).  opts may be NULL (= all defaults).
 * Compiles the literal database on one helper thread, joined before it
 * returns.  A cache that cannot be read or written only costs time.
 */
int tdx_match_compile(const tdx_watchlist *wl, const tdx_match_opts *opts, tdx_matcher **out_m,
                      tdx_err *err);
void tdx_match_free(tdx_matcher *m);

typedef struct tdx_match_info {
    double compile_ms; /* time to compile or load */
    int from_cache;    /* 1 when loaded from the cache */
    size_t db_bytes;   /* total size of the compiled databases */
    size_t nliterals, nregexes, ndatabases;
} tdx_match_info;
void tdx_match_get_info(const tdx_matcher *m, tdx_match_info *out);

typedef struct tdx_match_scratch tdx_match_scratch;
int tdx_match_scratch_create(const tdx_matcher *m, tdx_match_scratch **out_s, tdx_err *err);
void tdx_match_scratch_free(tdx_match_scratch *s);

/** A hit in normalized text: bytes [start, end) matched pattern `pattern`. */
typedef struct tdx_hit {
    uint32_t pattern;
    uint32_t start, end;
} tdx_hit;

typedef struct tdx_hits {
    tdx_hit *v;
    size_t n, cap;
} tdx_hits;

void tdx_hits_free(tdx_hits *h);

/**
 * Original byte range [*out_start, *out_end) of hit h in the source text
 * whose normalization o is (the tdx_norm_out that produced the scanned
 * text), through the normalizer's offset map.
 */
static inline void tdx_hit_source(const tdx_hit *h, const tdx_norm_out *o, size_t *out_start,
                                  size_t *out_end)
{
    *out_start = tdx_norm_map_start(o, h->start);
    *out_end = tdx_norm_map_end(o, h->end);
}

/**
 * Scan normalized text; replace out's contents with every hit (overlapping
 * and nested ones included) that satisfies the boundary rule, sorted by
 * (start, end, pattern).  out is reused across calls (its memory is kept);
 * free it with tdx_hits_free().  Errors: TDX_ENOMEM, TDX_EINTERNAL
 * (Hyperscan), TDX_EINVAL (NULL arguments, len > UINT32_MAX).
 */
int tdx_match_scan(const tdx_matcher *m, tdx_match_scratch *s, const uint8_t *text, size_t len,
                   tdx_hits *out, tdx_err *err);

/**
 * Run only the Hyperscan scans of tdx_match_scan over text, with a callback
 * that counts matches, and store the count (raw matches, before the
 * boundary rule and before shared literals are expanded to their rows).
 * This is the cost floor of tdx_match_scan; bench_match measures one
 * against the other.  Errors: TDX_EINVAL, TDX_EINTERNAL.
 */
int tdx_match_count_raw(const tdx_matcher *m, tdx_match_scratch *s, const uint8_t *text, size_t len,
                        size_t *out_count, tdx_err *err);

#endif
