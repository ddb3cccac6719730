/*
 * query.h - the query language and its evaluation over an index.
 *
 * Language (see `tenderidx query --help`):
 *   深圳大学            substring of the normalized text, any length >= 1
 *   "Amazon Web"        phrase (a substring with spaces)
 *   entity:NAME         any alias of a watch-list entity ("..." for spaces)
 *   cat:CATEGORY        any entity of a category
 *   pattern:ALIAS       one watch-list alias
 *   FIELD:value         a metadata field equal to value (after normalization)
 *   date:2023-01..2023-06   ISO dates or prefixes (2023, 2023-01), open ends ok
 *   /regex/             Hyperscan regex over the normalized text
 *   NEAR(a, b, N)       a and b within N characters, any order
 *   a AND b, a OR b, NOT a, ( ), and a b (implicit AND)
 * Precedence: NOT > AND (explicit or implicit) > OR.
 *
 * Evaluation: every node yields two sorted doc sets, S (surely matches) and
 * P (possibly matches), S ⊆ answer ⊆ P: postings give exact sets for
 * entities, categories, patterns, fields, dates and short substrings;
 * longer substrings, NEAR and regexes give candidates (P) only.  AND and OR
 * combine both sets, NOT swaps them.  The answer is S plus every doc of
 * P − S for which the whole expression holds on its normalized text.
 *
 * Threading: a tdx_qctx (and the queries parsed against it) belongs to one
 * thread.
 */
#ifndef TDX_QUERY_H
#define TDX_QUERY_H

#include <stddef.h>
#include <stdint.h>

#include "../common/buf.h"
#include "../common/docset.h"
#include "../common/err.h"

typedef struct tdx_qctx tdx_qctx;

/**
 * Open an index for queries: a read snapshot, its watch-list tables and a
 * normalizer identical to the one the index was built with (TDX_EFORMAT
 * when this build cannot reproduce it).  Owned: tdx_qctx_close().
 */
int tdx_qctx_open(const char *index_path, tdx_qctx **out_q, tdx_err *err);
void tdx_qctx_close(tdx_qctx *q);

typedef struct tdx_query tdx_query;

/**
 * Parse text against the opened index (entity and category names are
 * resolved here).  Errors: TDX_ESYNTAX (err->msg says what was expected;
 * *out_col is the 1-based column in characters), TDX_ENOTFOUND (unknown
 * entity/category/pattern, with suggestions), TDX_EPATTERN (bad regex),
 * TDX_ELIMIT (query too long or too deep).
 */
int tdx_query_parse(tdx_qctx *q, const char *text, tdx_query **out_query, size_t *out_col,
                    tdx_err *err);
void tdx_query_free(tdx_query *query);

/**
 * 1 when the index has no gram index (built with --no-grams) and the query
 * has substring or regex terms, which are then checked against the stored
 * text of every document; 0 otherwise.  For telling the user why it is slow.
 */
int tdx_query_scans_all(const tdx_qctx *q, const tdx_query *query);

typedef struct tdx_qstats {
    uint64_t candidates; /* docs of P − S */
    uint64_t verified;   /* of those, checked against their text */
    uint64_t sure;       /* |S| of the root */
    int streamed;        /* the docs came from a walk of term cursors */
    int scanned;         /* the docs came from reading the first documents (limit set) */
    int filters_dropped; /* bigram filters a walk stopped asking (they never narrowed it) */
    uint64_t text_checked; /* docs a walk checked a fragment operand in by their text */
    int text_gave_up;      /* ... until there were too many: the fragments' sets took over */
    uint64_t trigram_frags; /* word fragments answered from trigrams (their list, or the
                               text of their candidates) instead of the word list */
    uint64_t near_positions; /* docs a NEAR was decided in by positions, not the text */
} tdx_qstats;

/**
 * Evaluate: out = matching live doc ids, ascending.  limit > 0 stops once
 * that many docs are known (the first `limit` in doc order).  st may be NULL.
 */
int tdx_query_run(tdx_qctx *q, tdx_query *query, size_t limit, tdx_docset *out,
                  tdx_qstats *st, tdx_err *err);

/** For "no result" explanations: each leaf as written, with its doc count. */
typedef void (*tdx_leaf_fn)(void *ctx, const char *leaf, uint64_t docs, int exact);
int tdx_query_leaves(tdx_qctx *q, tdx_query *query, tdx_leaf_fn fn, void *ctx, tdx_err *err);

/**
 * For `--explain`: each regex of the query as written, with the text its
 * candidates must hold ("h100 | h800", "nvidia + (a100 | h100)": | either,
 * + both), or NULL when the regex is run over every document.  0 or
 * TDX_ENOMEM.
 */
typedef void (*tdx_regex_fn)(void *ctx, const char *regex, const char *needs);
int tdx_query_regexes(const tdx_query *query, tdx_regex_fn fn, void *ctx);

/* ---- reading results ---- */

typedef struct tdx_qdoc {
    uint32_t id;
    const char *key, *title, *date, *url, *source;
    size_t key_len, title_len, date_len, url_len, source_len;
    uint32_t date_ymd;
} tdx_qdoc;

/** Record of a doc; strings borrowed until the next call or tdx_qctx_close. */
int tdx_qctx_doc(tdx_qctx *q, uint32_t id, tdx_qdoc *out, tdx_err *err);

/**
 * Doc id for an external key.  A key recorded as a duplicate (same content
 * as an earlier document) gives that earlier document's id.  TDX_ENOTFOUND.
 */
int tdx_qctx_find_key(tdx_qctx *q, const char *key, size_t len, uint32_t *out_id, tdx_err *err);

/** A hit of a document with names resolved. */
typedef struct tdx_qhit {
    uint32_t pattern, entity, category;
    uint32_t ostart, oend; /* original byte offsets */
    uint32_t nstart, nend; /* normalized byte offsets */
} tdx_qhit;

int tdx_qctx_hits(tdx_qctx *q, uint32_t id, tdx_qhit **hits, size_t *n, size_t *cap,
                  tdx_err *err);
const char *tdx_qctx_entity_name(tdx_qctx *q, uint32_t entity);
const char *tdx_qctx_category_name(tdx_qctx *q, uint32_t category);
const char *tdx_qctx_pattern_text(tdx_qctx *q, uint32_t pattern);
size_t tdx_qctx_nentities(tdx_qctx *q);
size_t tdx_qctx_ncategories(tdx_qctx *q);

/** Original text of a doc into out. */
int tdx_qctx_text(tdx_qctx *q, uint32_t id, tdx_buf *out, tdx_err *err);

/** A highlight range in original bytes. */
typedef struct tdx_span32 {
    uint32_t start, end;
} tdx_span32;

/**
 * Where the query's positive terms (substrings, entities, categories,
 * patterns, regexes) match in doc id, as original byte ranges, sorted and
 * merged.  For snippets and highlighting.
 */
int tdx_query_highlights(tdx_qctx *q, tdx_query *query, uint32_t id, tdx_span32 **spans,
                         size_t *n, size_t *cap, tdx_err *err);

/* ---- facets and sorting ---- */

typedef struct tdx_facet {
    char *value; /* owned */
    uint64_t count;
} tdx_facet;

/**
 * Count the docs of `docs` by entity, cat, year, month, day, or a metadata
 * field name.  *out is an owned array sorted by count (descending) then
 * value, except year/month/day, which come in time order (unknown last);
 * free with tdx_facets_free.
 */
int tdx_query_facet(tdx_qctx *q, const tdx_docset *docs, const char *by, tdx_facet **out,
                    size_t *n, tdx_err *err);
void tdx_facets_free(tdx_facet *f, size_t n);

/** Dates (yyyymmdd, 0 unknown) of docs; ids index the array from 1. */
int tdx_qctx_dates(tdx_qctx *q, const uint32_t **out_dates, size_t *out_n, tdx_err *err);

#endif
