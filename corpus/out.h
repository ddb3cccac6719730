/*
 * out.h - where corpus/gen writes notices: JSON Lines, or one text / HTML
 * file per notice (optionally GB18030 / Big5), optionally compressed or
 * packed into an archive.
 */
#ifndef TDX_CORPUS_OUT_H
#define TDX_CORPUS_OUT_H

#include <stddef.h>
#include <stdint.h>

enum { OUT_JSONL, OUT_TEXT, OUT_HTML };
enum { COMP_NONE, COMP_GZ, COMP_ZST, COMP_TAR, COMP_ZIP, COMP_TAR_GZ, COMP_TAR_ZST };

typedef struct out_opts {
    int format, compress;
    double gb18030, big5; /* shares of text/html files in those encodings */
} out_opts;

void out_opts_init(out_opts *o);
/** Parse one option (name without dashes); prints the reason and returns -1 when bad. */
int out_opts_parse(out_opts *o, const char *name, const char *val);
/** Check the combination against the output path; prints the reason, -1 when bad. */
int out_opts_check(const out_opts *o, const char *path);

/**
 * One notice as the sinks see it.  All strings borrowed for the call.
 * text holds, for html, a navigation line before title_off and footer lines
 * from footer_off; title is text + title_off.
 */
typedef struct out_doc {
    const char *id, *title, *date, *url, *text;
    size_t title_len, text_len, title_off, footer_off;
    const char *purchaser, *agency, *project_no, *budget, *province, *city, *notice_type;
    const char *dup_of; /* id of the notice this one re-publishes, NULL for an original */
    int trad;           /* written in Traditional script (Big5 goes to those) */
    uint64_t index;     /* notice number: picks the file encoding deterministically */
    uint64_t seed;
} out_doc;

typedef struct out_sink out_sink;

/** Open the sink (dies on failure).  path NULL: stdout (jsonl only). */
out_sink *out_open(const out_opts *o, const char *path);
void out_write(out_sink *s, const out_doc *d);
/** Bytes written so far (uncompressed, as produced). */
uint64_t out_bytes(const out_sink *s);
/** Flush and close (dies on a write error); unless quiet, report encodings used. */
void out_close(out_sink *s, int quiet);

#endif
