/*
 * reader_int.h - declarations shared by the files of the reader stage
 * (json.c, charset.c, html.c, date.c, utf8x.c, reader.c).  Not a public
 * header: nothing outside engine/reader includes it, except the reader's
 * own tests and benchmark.
 */
#ifndef TDX_READER_INT_H
#define TDX_READER_INT_H

#include <stddef.h>
#include <stdint.h>

#include "../common/buf.h"
#include "../common/err.h"

/*
 * Every line handed to the JSON parser is followed by a sentinel byte below
 * 0x20 and at least this many readable bytes, so the string scan may read
 * whole vectors past the end without bounds checks.
 */
#define TDX_READER_SLACK 64

/* ---- json.c: strict parser for one JSON Lines record ---- */

enum tdx_jtype {
    TDX_JSTRING,
    TDX_JNUMBER,
    TDX_JTRUE,
    TDX_JFALSE,
    TDX_JNULL,
    TDX_JOBJECT, /* nested: validated, value not kept */
    TDX_JARRAY,
};

/** One top-level member of a record.  key and val point into the line. */
typedef struct tdx_jmember {
    const char *key; /* decoded, NUL-terminated */
    size_t key_len;
    const char *val; /* decoded string or number text, NUL-terminated; NULL for nested */
    size_t val_len;
    int type; /* enum tdx_jtype */
} tdx_jmember;

typedef struct tdx_jparser {
    tdx_jmember *m; /* members of the last parsed record, in order */
    size_t n, cap;
    size_t err_pos; /* byte offset of the error in the line */
    char err[160];  /* reason, when tdx_reader_json_parse returned 1 */
    unsigned max_depth;
} tdx_jparser;

/**
 * Parse line[0, len) as one JSON object (RFC 8259, strict; \u0000 and
 * unpaired surrogate escapes are refused).  line must be valid UTF-8 and be
 * followed by a byte below 0x20 and TDX_READER_SLACK readable bytes.  Strings
 * and keys are decoded in place and NUL-terminated, so the line is modified.
 * Returns 0 (jp->m filled), 1 when the line is malformed (jp->err_pos,
 * jp->err), or TDX_ENOMEM.
 */
int tdx_reader_json_parse(tdx_jparser *jp, uint8_t *line, size_t len);
void tdx_reader_json_free(tdx_jparser *jp);

/* ---- utf8x.c: fast UTF-8 checks ---- */

/**
 * Offset of the first byte of the first ill-formed sequence in [p, p+n), or
 * n when the range is well-formed.  Same answer as tdx_utf8_first_invalid(),
 * with an AVX2 path; reads nothing outside the range.
 */
size_t tdx_reader_utf8_check(const uint8_t *p, size_t n);

/**
 * Append [p, p+n) to out with every maximal ill-formed subpart replaced by
 * U+FFFD.  Returns the number of replacements, or TDX_ENOMEM (negative).
 */
long tdx_reader_utf8_repair(const uint8_t *p, size_t n, tdx_buf *out);

/* ---- date.c ---- */

#define TDX_DATE_MAX 32

/**
 * Normalize a date as found in metadata to ISO 8601: "YYYY-MM-DD" or
 * "YYYY-MM-DDTHH:MM:SS".  Accepts the common forms of Chinese notices
 * (2023年3月15日, 2023/03/15, 2023-03-15 10:00:00, 20230315, full-width
 * digits, 二〇二三年三月十五日, epoch seconds or milliseconds).  Returns 1 and
 * fills out (NUL-terminated) when the date parsed, 0 otherwise.
 */
int tdx_reader_date_parse(const char *s, size_t len, char out[TDX_DATE_MAX]);

/* ---- charset.c: encoding names, detection and conversion (ICU) ---- */

typedef struct tdx_charset tdx_charset;

/**
 * Canonical name of an encoding label ("gbk" -> "GB18030", "big5hkscs" ->
 * "Big5-HKSCS", "utf8" -> "UTF-8"); labels ICU knows otherwise keep ICU's
 * IANA name.  Returns NULL when no converter exists for the label.  The
 * returned string is static or owned by cs.
 */
const char *tdx_reader_charset_canon(tdx_charset *cs, const char *label, size_t len);

/** Length of a byte-order mark at p (0 if none); *out_name gets its encoding. */
size_t tdx_reader_charset_bom(const uint8_t *p, size_t n, const char **out_name);

/**
 * Guess the encoding of bytes that are not UTF-8: ICU charset detection,
 * restricted to answers whose decoding of the sample is clean or nearly so
 * (Big5 is upgraded to Big5-HKSCS when only the latter decodes cleanly).
 * html enables ICU's markup filter.  Returns a canonical name or NULL.
 */
const char *tdx_reader_charset_detect(tdx_charset *cs, const uint8_t *p, size_t n, int html);

/**
 * Classify a sample: 1 when it is UTF-8 (possibly with a few damaged bytes),
 * 0 when it is some other encoding.  A truncated sequence at the very end of
 * a sample that ends mid-stream (partial = 1) does not count against it.
 * *out_valid (may be NULL) gets the number of well-formed multi-byte
 * sequences seen: the evidence that the sample is UTF-8 at all.
 */
int tdx_reader_charset_looks_utf8(const uint8_t *p, size_t n, int partial, size_t *out_valid);

/**
 * Convert [p, p+n) from encoding `name` (a canonical name, as returned by
 * the functions above) to UTF-8, appending to out.
 * Unmappable or invalid bytes become U+FFFD; their number is returned in
 * *out_invalid and the source offset of the first in *out_first_bad.
 * Returns 0, TDX_ENOMEM, or TDX_EENCODING when no converter exists.
 */
int tdx_reader_charset_convert(tdx_charset *cs, const char *name, const uint8_t *p, size_t n,
                               tdx_buf *out, size_t *out_invalid, size_t *out_first_bad);

/**
 * tdx_reader_charset_convert(), and for Big5 the upgrade to Big5-HKSCS when
 * that decodes with fewer invalid or Private Use characters; *out_used
 * gets the encoding actually used.
 */
int tdx_reader_charset_decode(tdx_charset *cs, const char *name, const uint8_t *p, size_t n,
                              tdx_buf *out, size_t *out_invalid, size_t *out_first_bad,
                              const char **out_used);

int tdx_reader_charset_open(tdx_charset **out_cs);
void tdx_reader_charset_free(tdx_charset *cs);

/**
 * The <meta charset> (or http-equiv Content-Type) label declared in the
 * first bytes of an HTML document, as raw bytes in [*out_p, *out_p + len).
 * Returns the label length, 0 when none is declared.
 */
size_t tdx_reader_html_meta_charset(const uint8_t *p, size_t n, const uint8_t **out_p);

/* ---- html.c: visible text of an HTML page (gumbo) ---- */

/**
 * Parse UTF-8 HTML and append its visible text to text: script, style and
 * template dropped, block elements and <br> break lines, inline elements
 * join, whitespace runs collapsed, entities decoded by the parser.  The
 * first <title> goes to title, a publication date from <meta> to date.
 * Returns 0 or TDX_ENOMEM.
 */
int tdx_reader_html_extract(const uint8_t *html, size_t len, tdx_buf *text, tdx_buf *title,
                            tdx_buf *date);

#endif
