/*
 * normalize.h - the text normalizer: one function for documents, literal
 * watch-list patterns and query strings.
 *
 * Steps (each can be switched off when an index is created):
 *   nfkc_cf  ICU NFKC_Casefold: compatibility decomposition + composition,
 *            case folding, removal of default-ignorable code points;
 *            full-width Latin, digits and punctuation become ASCII.
 *   t2s      ICU "Traditional-Simplified" transliteration, applied to the
 *            output of nfkc_cf (context rules such as 甚麼 -> 什么 included).
 *   space    A run of Unicode White_Space between two CJK characters is
 *            removed; any other run becomes one ASCII space.
 * The reference is the direct ICU call chain (unorm2_normalize with the
 * nfkc_cf instance, then utrans_transUChars, then the whitespace rule); the
 * fast path is a code-point table built from ICU's own answers when the
 * normalizer is created, with ICU itself used only where a table cannot be
 * exact.  Invalid UTF-8 becomes U+FFFD (one per maximal ill-formed subpart).
 *
 * Offsets: every run also records which source bytes each output byte came
 * from, as a sparse list of "units" (see tdx_norm_out): stretches not listed
 * map byte-for-byte.
 *
 * Threading: a tdx_norm is immutable after creation and shared by all
 * threads; each thread passes its own tdx_norm_out and its own
 * tdx_norm_ctx (scratch space for the general path and the ICU state it
 * may need; tdx_norm_run requires one, tdx_norm_str makes a temporary one).
 *
 * Design, exactness argument and measured speed: engine/normalize/README.md.
 */
#ifndef TDX_NORMALIZE_H
#define TDX_NORMALIZE_H

#include <stddef.h>
#include <stdint.h>

#include "../common/buf.h"
#include "../common/err.h"

enum tdx_norm_step {
    TDX_NORM_NFKC_CF = 1u << 0,
    TDX_NORM_T2S = 1u << 1,
    TDX_NORM_SPACE = 1u << 2,
    TDX_NORM_ALL = TDX_NORM_NFKC_CF | TDX_NORM_T2S | TDX_NORM_SPACE,
};

/**
 * Parse "nfkc_cf,t2s,space" (any subset, any order), "all" or "none".
 * TDX_EINVAL with a message naming the unknown step.
 */
int tdx_norm_parse_steps(const char *list, unsigned *out_steps, tdx_err *err);

/** Canonical spelling of a step set ("nfkc_cf,t2s,space" or "none"); static. */
const char *tdx_norm_steps_name(unsigned steps);

typedef struct tdx_norm tdx_norm;

/**
 * Build a normalizer for the given steps.  Asks ICU about every code point
 * once (tens of milliseconds).  Owned: free with tdx_norm_free().
 * Errors: TDX_ENOMEM, TDX_EINTERNAL (ICU data missing; message has ICU's).
 */
int tdx_norm_create(unsigned steps, tdx_norm **out_norm, tdx_err *err);
void tdx_norm_free(tdx_norm *n);

/**
 * tdx_norm_create with the tables kept in a cache directory: loaded from
 * the file a build of tenderidx with the same normalizer code and the same
 * ICU made, else built (as tdx_norm_create) and saved there, best effort.
 * The result is the same normalizer either way (same identity, same
 * output).  cache_dir: NULL for the default ($TENDERIDX_CACHE_DIR, else
 * $XDG_CACHE_HOME/tenderidx, else ~/.cache/tenderidx), "" to build without
 * a cache.  expect: the identity the caller will require (an index's
 * record), or NULL; cached tables of another identity are not used, so
 * that a cache can never fail a check that building would pass.  Errors:
 * as tdx_norm_create (a bad or missing file is a miss).
 */
int tdx_norm_create_cached(unsigned steps, const char *cache_dir, const char *expect,
                           tdx_norm **out_norm, tdx_err *err);

/** 1 when n's tables were loaded from the cache directory. */
int tdx_norm_from_cache(const tdx_norm *n);

unsigned tdx_norm_steps(const tdx_norm *n);

/**
 * Identity of this normalizer: "steps=<names>;icu=<version>;unicode=<v>;table=<16 hex>",
 * where table is a hash over the complete mapping.  Two normalizers with
 * the same identity produce the same output for every input.  Borrowed,
 * valid until tdx_norm_free().
 */
const char *tdx_norm_identity(const tdx_norm *n);

/** ICU version string, e.g. "72.1". Static. */
const char *tdx_norm_icu_version(void);

/**
 * One stretch of output whose bytes do not map one-to-one onto the source:
 * output [out_off, out_off+out_len) came from source [src_off, src_off+src_len).
 * out_len may be 0 (source deleted, e.g. whitespace between CJK characters).
 * A unit is as small as the steps allow: one character (Ａ -> a), one
 * nfkc_cf segment (e + U+0301 -> é), one t2s rule match (甚麼 -> 什么), one
 * white-space run, one ill-formed sequence.  A character replaced by one of
 * the same UTF-8 length (most Traditional -> Simplified) needs no unit.
 */
typedef struct tdx_norm_unit {
    uint32_t out_off, out_len;
    uint32_t src_off, src_len;
} tdx_norm_unit;

/**
 * Result of one run; reusable across runs (init once, reset implicitly by
 * tdx_norm_run, free at the end).  Owned by the caller.
 *   text     normalized UTF-8 (always well-formed), NUL-terminated
 *   units    non-identity units in increasing out_off (and src_off) order;
 *            every output byte outside a unit at output offset o maps to
 *            source byte o + delta, delta fixed between units
 *   invalid  number of ill-formed UTF-8 sequences replaced by U+FFFD
 */
typedef struct tdx_norm_out {
    tdx_buf text;
    tdx_norm_unit *units;
    size_t nunits, cap_units;
    size_t invalid;
    size_t src_len;
} tdx_norm_out;

void tdx_norm_out_init(tdx_norm_out *o);
void tdx_norm_out_free(tdx_norm_out *o);

/**
 * Per-thread state: scratch buffers of the general path (reused, so a warm
 * context does not allocate per document) and, when needed, an ICU
 * transliterator (utrans objects are not thread-safe).  Owned: free with
 * tdx_norm_ctx_free (NULL is a no-op).  One context serves any normalizer,
 * but only one thread at a time.  Errors: TDX_EINVAL, TDX_ENOMEM,
 * TDX_EINTERNAL (ICU).
 */
typedef struct tdx_norm_ctx tdx_norm_ctx;
int tdx_norm_ctx_create(const tdx_norm *n, tdx_norm_ctx **out_ctx, tdx_err *err);
void tdx_norm_ctx_free(tdx_norm_ctx *c);

/**
 * Normalize src[0..len) into out (previous contents replaced).  Never fails
 * on bad input: invalid UTF-8 is replaced and counted.  ctx is required
 * (TDX_EINVAL without one).  Errors: TDX_EINVAL, TDX_ENOMEM, TDX_ELIMIT
 * (len or the normalized text >= 4 GiB), TDX_EINTERNAL (ICU failure in the
 * general path).  After an error out is empty (text "", no units).
 */
int tdx_norm_run(const tdx_norm *n, tdx_norm_ctx *ctx, const uint8_t *src, size_t len,
                 tdx_norm_out *out, tdx_err *err);

/**
 * The reference: the direct ICU call chain on the whole text (unorm2_normalize
 * with nfkc_cf, utrans_transUChars with Traditional-Simplified, then the
 * whitespace rule), which defines the semantics tdx_norm_run must match.
 * Slow (ICU's transliterator runs at tens of MB/s); for tests, benchmarks
 * and `tenderidx normalize --reference`.  Offsets are coarse: one unit over
 * the whole text when it changed.  Same errors as tdx_norm_run, plus
 * TDX_ELIMIT for texts of 512 MiB or more.
 */
int tdx_norm_run_reference(const tdx_norm *n, tdx_norm_ctx *ctx, const uint8_t *src, size_t len,
                           tdx_norm_out *out, tdx_err *err);

/**
 * Convenience for short strings (patterns, queries): normalize s[0..len)
 * into an owned, NUL-terminated copy (free with tdx_free), using a
 * temporary context.  out_len may be NULL.  Thread-safe.
 */
int tdx_norm_str(const tdx_norm *n, const char *s, size_t len, char **out_str, size_t *out_len,
                 tdx_err *err);

/**
 * Source offset of the first source byte that produced output byte out_off
 * (out_off == text.len maps to the end of the mapped source).  Monotone in
 * out_off; offsets past the text clamp.  O(log units).
 */
size_t tdx_norm_map_start(const tdx_norm_out *o, size_t out_off);
/**
 * Source offset just past the source bytes that produced output bytes
 * before out_end.  Monotone; [map_start(a), map_end(b)) is the source of
 * output [a, b).  Source that produced no output after the last output byte
 * is not included.
 */
size_t tdx_norm_map_end(const tdx_norm_out *o, size_t out_end);

/**
 * Character class of a normalized code point, for tokenizers and the
 * whitespace rule: TDX_CC_CJK (Han, kana, hangul, bopomofo, CJK symbols and
 * punctuation), TDX_CC_SPACE (White_Space), TDX_CC_WORD (ASCII letter or
 * digit), TDX_CC_OTHER.
 */
enum { TDX_CC_OTHER = 0, TDX_CC_CJK = 1, TDX_CC_SPACE = 2, TDX_CC_WORD = 3 };
int tdx_norm_char_class(uint32_t cp);

/** Terminal display width of UTF-8 text (East Asian Wide/Fullwidth = 2). */
size_t tdx_text_width(const char *s, size_t len);

#endif
