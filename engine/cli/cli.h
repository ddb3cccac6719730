/*
 * cli.h - shared pieces of the tenderidx command: exit codes, messages,
 * subcommand entry points.  cli/ is the only code that parses argv, prints
 * or exits.
 */
#ifndef TDX_CLI_H
#define TDX_CLI_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "../common/err.h"

/* Exit codes, documented in `tenderidx --help` and README. */
enum {
    TDX_EXIT_OK = 0,      /* success */
    TDX_EXIT_PARTIAL = 1, /* finished, but some inputs were rejected */
    TDX_EXIT_USAGE = 2,   /* bad command line */
    TDX_EXIT_FATAL = 3,   /* could not do the job (I/O, corrupt index, ...) */
};

/** "tenderidx CMD: message" on stderr. */
void cli_error(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void cli_warn(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/** Print err (or tdx_strerror(code)) as an error and return TDX_EXIT_FATAL. */
int cli_fail(const char *cmd, int code, const tdx_err *err);
/** Usage error: message plus "try 'tenderidx CMD --help'", returns TDX_EXIT_USAGE. */
int cli_usage_error(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/** Parse "512M", "2G", "65536" (binary units).  0 on success, -1 on error. */
int cli_parse_size(const char *s, size_t *out);
/** Parse a non-negative integer no larger than max.  0 on success, -1 on error. */
int cli_parse_uint(const char *s, uint64_t max, uint64_t *out);

/** 1 when stdout is a terminal (tables, colours). */
int cli_stdout_is_tty(void);

/* Subcommands: argv[0] is the subcommand name. */
int cmd_index(int argc, char **argv);
int cmd_query(int argc, char **argv);
int cmd_stats(int argc, char **argv);
int cmd_normalize(int argc, char **argv);
int cmd_watchlist(int argc, char **argv);
int cmd_hits(int argc, char **argv);
int cmd_dump(int argc, char **argv);
int cmd_check(int argc, char **argv);
int cmd_cache(int argc, char **argv);

/** Write s[0..len) as a JSON string literal (quotes included). */
void cli_json_str(FILE *f, const char *s, size_t len);
/** Same into a growable buffer. */
struct tdx_buf;
void cli_json_buf(struct tdx_buf *b, const char *s, size_t len);
/** Format n with thousands separators into buf (static rotating buffer if buf NULL). */
const char *cli_num(uint64_t n);
/** Write one RFC 4180 CSV field (quoted when needed). */
void cli_csv_field(FILE *f, const char *s, size_t len);
/** Print s cut to `width` terminal columns (CJK counts two), padded to width. */
void cli_put_cell(const char *s, size_t len, size_t width);
/** Human-readable byte size ("12.3 MB"). */
const char *cli_bytes(uint64_t n);

#endif
