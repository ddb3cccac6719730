/*
 * util.c - messages, number parsing and clocks shared by the subcommands.
 */
#include "cli.h"

#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void vmsg(const char *kind, const char *cmd, const char *fmt, va_list ap)
{
    fflush(stdout);
    fprintf(stderr, "tenderidx%s%s: %s", cmd ? " " : "", cmd ? cmd : "", kind);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
}

void cli_error(const char *cmd, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vmsg("", cmd, fmt, ap);
    va_end(ap);
}

void cli_warn(const char *cmd, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vmsg("warning: ", cmd, fmt, ap);
    va_end(ap);
}

int cli_fail(const char *cmd, int code, const tdx_err *err)
{
    if (err && err->code && err->msg[0])
        cli_error(cmd, "%s", err->msg);
    else
        cli_error(cmd, "%s", tdx_strerror(code));
    return TDX_EXIT_FATAL;
}

int cli_usage_error(const char *cmd, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vmsg("", cmd, fmt, ap);
    va_end(ap);
    fprintf(stderr, "Try 'tenderidx %s --help'.\n", cmd ? cmd : "");
    return TDX_EXIT_USAGE;
}

int cli_parse_uint(const char *s, uint64_t max, uint64_t *out)
{
    if (s == NULL || *s < '0' || *s > '9')
        return -1;
    errno = 0;
    char *end;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || *end || v > max)
        return -1;
    *out = v;
    return 0;
}

int cli_parse_size(const char *s, size_t *out)
{
    if (s == NULL || *s < '0' || *s > '9')
        return -1;
    errno = 0;
    char *end;
    double v = strtod(s, &end);
    if (errno || v < 0)
        return -1;
    double mul = 1;
    switch (*end) {
    case 'k':
    case 'K':
        mul = 1024.0;
        end++;
        break;
    case 'm':
    case 'M':
        mul = 1024.0 * 1024;
        end++;
        break;
    case 'g':
    case 'G':
        mul = 1024.0 * 1024 * 1024;
        end++;
        break;
    case 't':
    case 'T':
        mul = 1024.0 * 1024 * 1024 * 1024;
        end++;
        break;
    }
    if (*end == 'i' || *end == 'I')
        end++;
    if (*end == 'b' || *end == 'B')
        end++;
    if (*end)
        return -1;
    v *= mul;
    if (v >= (double)SIZE_MAX)
        return -1;
    *out = (size_t)v;
    return 0;
}

int cli_stdout_is_tty(void)
{
    return isatty(STDOUT_FILENO);
}

#include "../common/buf.h"
#include "../normalize/normalize.h"

void cli_json_buf(tdx_buf *b, const char *s, size_t len)
{
    tdx_buf_putc(b, '"');
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        switch (c) {
        case '"':
            tdx_buf_puts(b, "\\\"");
            break;
        case '\\':
            tdx_buf_puts(b, "\\\\");
            break;
        case '\n':
            tdx_buf_puts(b, "\\n");
            break;
        case '\r':
            tdx_buf_puts(b, "\\r");
            break;
        case '\t':
            tdx_buf_puts(b, "\\t");
            break;
        default:
            if (c < 0x20 || c == 0x7f)
                tdx_buf_printf(b, "\\u%04x", c);
            else
                tdx_buf_putc(b, c);
        }
    }
    tdx_buf_putc(b, '"');
}

void cli_json_str(FILE *f, const char *s, size_t len)
{
    tdx_buf b = TDX_BUF_INIT;
    cli_json_buf(&b, s, len);
    fwrite(b.p, 1, b.len, f);
    tdx_buf_free(&b);
}

const char *cli_num(uint64_t n)
{
    static char bufs[8][32];
    static int next;
    char *out = bufs[next++ & 7];
    char tmp[32];
    int len = snprintf(tmp, sizeof tmp, "%llu", (unsigned long long)n);
    int o = 0;
    for (int i = 0; i < len; i++) {
        if (i && (len - i) % 3 == 0)
            out[o++] = ',';
        out[o++] = tmp[i];
    }
    out[o] = 0;
    return out;
}

const char *cli_bytes(uint64_t n)
{
    static char bufs[8][32];
    static int next;
    char *out = bufs[next++ & 7];
    const char *units[] = {"B", "KB", "MB", "GB", "TB"};
    double v = (double)n;
    int u = 0;
    while (v >= 1000 && u < 4) {
        v /= 1000;
        u++;
    }
    snprintf(out, 32, u ? "%.1f %s" : "%.0f %s", v, units[u]);
    return out;
}

void cli_csv_field(FILE *f, const char *s, size_t len)
{
    int quote = 0;
    for (size_t i = 0; i < len; i++)
        if (s[i] == ',' || s[i] == '"' || s[i] == '\n' || s[i] == '\r')
            quote = 1;
    if (!quote) {
        fwrite(s, 1, len, f);
        return;
    }
    fputc('"', f);
    for (size_t i = 0; i < len; i++) {
        if (s[i] == '"')
            fputc('"', f);
        fputc(s[i], f);
    }
    fputc('"', f);
}

/* Print s cut to `width` display columns, padded to exactly width. */
void cli_put_cell(const char *s, size_t len, size_t width)
{
    size_t w = 0, i = 0;
    while (i < len) {
        size_t l = 1;
        while (i + l < len && (s[i + l] & 0xC0) == 0x80)
            l++;
        size_t cw = s[i] == '\n' || s[i] == '\t' ? 1 : tdx_text_width(s + i, l);
        if (w + cw > width - (i + l < len ? 1 : 0) && w + cw > width - 1 && i + l < len) {
            fputs("…", stdout);
            w++;
            i = len;
            break;
        }
        if (s[i] == '\n' || s[i] == '\t' || s[i] == '\r')
            fputc(' ', stdout);
        else
            fwrite(s + i, 1, l, stdout);
        w += cw;
        i += l;
    }
    while (w++ < width)
        fputc(' ', stdout);
}

