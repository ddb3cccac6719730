/*
 * reader.h - turns inputs (files, directories, stdin, archives) into a
 * stream of UTF-8 documents in a stable input order.
 *
 * The reader runs on one thread (the pipeline's reader thread).  It walks
 * directories in sorted order, reads archives and compressed streams through
 * libarchive without unpacking to disk, sniffs the format (JSON Lines,
 * HTML, plain text), converts legacy charsets to UTF-8 with ICU, splits
 * inputs into documents, and reports what it cannot take as rejects: one
 * tdx_reject per bad record or file, after which it carries on.
 *
 * Ownership: everything a tdx_doc points to is borrowed from the reader and
 * valid until the next tdx_reader_next() or tdx_reader_free().
 */
#ifndef TDX_READER_H
#define TDX_READER_H

#include <stddef.h>
#include <stdint.h>

#include "../common/err.h"

/** A metadata field kept from the source (JSON scalar fields not mapped). */
typedef struct tdx_kv {
    const char *key;
    const char *val; /* UTF-8, NUL-terminated */
    size_t val_len;
} tdx_kv;

typedef struct tdx_doc {
    const char *key;      /* stable key: JSON id, else source (+ ":" line for JSONL) */
    const char *source;   /* path as given/walked; archive members as "a.zip!dir/x.jsonl.gz" */
    uint64_t file_index;  /* 0-based ordinal of the top-level input file in input order */
    uint64_t record;      /* 0-based ordinal of this record within that file */
    uint64_t line;        /* 1-based line for JSON Lines, 0 otherwise */
    uint64_t offset;      /* byte offset of the record in the (decompressed) source */
    const char *title;    /* "" when absent */
    const char *date;     /* YYYY-MM-DD[THH:MM:SS] when parsed, else as found; "" if absent */
    int date_parsed;      /* 1 when date is ISO 8601 */
    const char *url;      /* "" when absent */
    const char *format;   /* "jsonl", "html" or "text" */
    const char *encoding; /* "UTF-8", "GB18030", "Big5", "Big5-HKSCS", ... */
    const uint8_t *text;  /* UTF-8 body (well-formed), NUL-terminated */
    size_t text_len;
    size_t invalid; /* sequences replaced by U+FFFD while decoding */
    const tdx_kv *meta;
    size_t nmeta;
} tdx_doc;

/** A record or file the reader could not take. */
typedef struct tdx_reject {
    const char *source; /* file or archive member */
    uint64_t line;      /* 1-based line, 0 when not line-based */
    uint64_t offset;    /* byte offset in the (decompressed) source */
    const char *reason; /* one line, no trailing newline */
    int kept;           /* 1: a warning; the record was still returned, repaired
                           (invalid bytes replaced by U+FFFD, see doc->invalid) */
    uint64_t records;   /* records of the current top-level file consumed so far,
                           this one included: where a resumed run must start */
} tdx_reject;

/** Called for every reject, on the reader's thread. */
typedef void (*tdx_reject_fn)(void *ctx, const tdx_reject *r);

/**
 * Called when the reader is about to read a top-level input file.  Return 1
 * to skip the whole file (already indexed), 0 to read it; set *skip_records
 * to skip that many leading records (resume after a crash): records with
 * record < *skip_records are counted, not parsed, and rejects inside that
 * prefix are not reported again.  size is 0 for pipes; mtime in seconds.
 */
typedef int (*tdx_file_fn)(void *ctx, const char *path, uint64_t file_index, uint64_t size,
                           int64_t mtime, uint64_t *skip_records);

/**
 * Called when the reader has finished a top-level file it opened: every
 * record and every reject of it has been delivered.  records is the number
 * of records it held.
 */
typedef void (*tdx_file_done_fn)(void *ctx, const char *path, uint64_t records);

typedef struct tdx_reader_opts {
    const char *format;   /* NULL or "auto": sniff; "jsonl", "html", "text" */
    const char *encoding; /* NULL or "auto": BOM, <meta charset>, detection */
    const char *fields;   /* JSON field map, e.g. "text=content,id=notice_id"; NULL: defaults */
    size_t max_doc_bytes; /* 0: default 64 MiB */
    tdx_reject_fn on_reject;
    tdx_file_fn on_file;
    tdx_file_done_fn on_file_done; /* may be NULL */
    void *ctx; /* passed to the callbacks */
} tdx_reader_opts;

typedef struct tdx_read_progress {
    uint64_t files;       /* top-level input files started */
    uint64_t bytes;       /* bytes read from disk (compressed size for archives), at most
                             each file's size */
    uint64_t total_bytes; /* sum of input sizes when known, else 0 */
    uint64_t docs;        /* documents returned */
    uint64_t rejects;     /* rejects with kept == 0: records or files not returned */
    uint64_t warnings;    /* rejects with kept == 1: returned with repairs */
    uint64_t total_files; /* regular files among the inputs, counted at open */
    uint64_t dates_unparsed;
    uint64_t skipped_files;
    uint64_t skipped_records;
} tdx_read_progress;

typedef struct tdx_reader tdx_reader;

/**
 * Open a reader over inputs (paths; "-" is stdin).  Paths are validated
 * lazily: a missing file is a reject, not a failure.  Errors: TDX_EINVAL
 * (bad options, e.g. an unknown format or field map), TDX_ENOMEM.
 */
int tdx_reader_open(const char *const *inputs, size_t ninputs, const tdx_reader_opts *opts,
                    tdx_reader **out_r, tdx_err *err);

/**
 * Next document.  Returns 1 with *out filled, 0 at the end of all inputs,
 * or a negative TDX_E* code for a fatal error (TDX_ENOMEM); bad input is
 * never fatal, it is reported through on_reject and skipped.
 */
int tdx_reader_next(tdx_reader *r, tdx_doc *out, tdx_err *err);

void tdx_reader_progress(const tdx_reader *r, tdx_read_progress *out);
void tdx_reader_free(tdx_reader *r);

#endif
