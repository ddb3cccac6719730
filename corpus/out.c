/*
 * out.c - the output sinks of corpus/gen.
 *
 * JSON Lines: one object per notice (id, title, date, url, notice_type,
 * province, city, purchaser, agency, project_no, budget, text), written
 * through one large buffer to a file or stdout.
 *
 * Single-threaded; one sink per run.
 */
#include "out.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/alloc.h"
#include "common/buf.h"
#include "gen.h"

struct out_sink {
    out_opts o;
    FILE *f;
    int own;
    tdx_buf line;
    uint64_t bytes;
};

void out_opts_init(out_opts *o)
{
    memset(o, 0, sizeof *o);
}

int out_opts_parse(out_opts *o, const char *name, const char *val)
{
    if (strcmp(name, "format") == 0) {
        if (strcmp(val, "jsonl") == 0) {
            o->format = OUT_JSONL;
            return 0;
        }
    } else if (strcmp(name, "compress") == 0) {
        if (strcmp(val, "none") == 0) {
            o->compress = COMP_NONE;
            return 0;
        }
    }
    fprintf(stderr, "gen: --%s %s is not supported\n", name, val);
    return -1;
}

int out_opts_check(const out_opts *o, const char *path)
{
    (void)o;
    (void)path;
    return 0;
}

out_sink *out_open(const out_opts *o, const char *path)
{
    out_sink *s = gen_alloc(sizeof *s);
    s->o = *o;
    if (path == NULL || strcmp(path, "-") == 0) {
        s->f = stdout;
    } else {
        s->f = fopen(path, "wb");
        if (s->f == NULL)
            gen_die("cannot write '%s': %s", path, strerror(errno));
        s->own = 1;
    }
    setvbuf(s->f, NULL, _IOFBF, 1 << 22);
    return s;
}

/* Bytes that need an escape in a JSON string. */
static const uint8_t json_special[256] = {
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 1, ['\\'] = 1,
};

/* JSON string body: escape quote, backslash and control characters. */
static void json_str(tdx_buf *b, const char *s, size_t len)
{
    static const char hex[] = "0123456789abcdef";
    /* worst case: every byte becomes \u00XX */
    if (tdx_buf_grow(b, len * 6 + 2) != 0)
        gen_die("out of memory");
    uint8_t *o = b->p + b->len;
    const uint8_t *p = (const uint8_t *)s, *end = p + len;
    *o++ = '"';
    while (p < end) {
        const uint8_t *q = p;
        while (q < end && !json_special[*q])
            q++;
        memcpy(o, p, (size_t)(q - p));
        o += q - p;
        if (q == end)
            break;
        uint8_t c = *q;
        p = q + 1;
        *o++ = '\\';
        switch (c) {
        case '"':
        case '\\':
            *o++ = c;
            break;
        case '\n':
            *o++ = 'n';
            break;
        case '\t':
            *o++ = 't';
            break;
        case '\r':
            *o++ = 'r';
            break;
        default:
            *o++ = 'u';
            *o++ = '0';
            *o++ = '0';
            *o++ = (uint8_t)hex[c >> 4];
            *o++ = (uint8_t)hex[c & 15];
            break;
        }
    }
    *o++ = '"';
    b->len = (size_t)(o - b->p);
    b->p[b->len] = 0;
}

static void json_field(tdx_buf *b, const char *key, const char *val, size_t len, int first)
{
    if (!first)
        gen_put(b, ",", 1);
    gen_put(b, "\"", 1);
    gen_put(b, key, strlen(key));
    gen_put(b, "\":", 2);
    json_str(b, val, len);
}

static void jsonl_write(out_sink *s, const out_doc *d)
{
    tdx_buf *b = &s->line;
    tdx_buf_reset(b);
    gen_put(b, "{", 1);
    json_field(b, "id", d->id, strlen(d->id), 1);
    json_field(b, "title", d->title, d->title_len, 0);
    json_field(b, "date", d->date, strlen(d->date), 0);
    json_field(b, "url", d->url, strlen(d->url), 0);
    json_field(b, "notice_type", d->notice_type, strlen(d->notice_type), 0);
    json_field(b, "province", d->province, strlen(d->province), 0);
    json_field(b, "city", d->city, strlen(d->city), 0);
    json_field(b, "purchaser", d->purchaser, strlen(d->purchaser), 0);
    json_field(b, "agency", d->agency, strlen(d->agency), 0);
    json_field(b, "project_no", d->project_no, strlen(d->project_no), 0);
    json_field(b, "budget", d->budget, strlen(d->budget), 0);
    json_field(b, "text", d->text, d->text_len, 0);
    gen_put(b, "}\n", 2);
    if (fwrite(b->p, 1, b->len, s->f) != b->len)
        gen_die("write error: %s", strerror(errno));
    s->bytes += b->len;
}

void out_write(out_sink *s, const out_doc *d)
{
    jsonl_write(s, d);
}

uint64_t out_bytes(const out_sink *s)
{
    return s->bytes;
}

void out_close(out_sink *s)
{
    if (fflush(s->f) != 0 || ferror(s->f))
        gen_die("write error: %s", strerror(errno));
    if (s->own && fclose(s->f) != 0)
        gen_die("write error: %s", strerror(errno));
    tdx_buf_free(&s->line);
    tdx_free(s);
}
