/*
 * out.c - the output sinks of corpus/gen.
 *
 *   jsonl   one object per notice (id, title, date, url, notice_type,
 *           province, city, purchaser, agency, project_no, budget, text) to
 *           a file or stdout; --compress gz|zst makes one compressed stream,
 *           tar|tar.gz|tar.zst|zip packs parts of 10000 notices
 *           (part-00000.jsonl ...) into one archive.
 *   text    one file per notice, DIR/BUCKET/ID.txt (BUCKET = notice
 *           number / 1000), holding exactly the notice text;
 *   html    the same as ID.html: a page whose visible text (block elements
 *           ending lines, as an HTML-to-text walk reads it) is exactly the
 *           notice text: navigation line, <h1> title, one <p> per line,
 *           footer.
 *   Files of text/html are UTF-8, or GB18030 / Big5 for the shares asked
 *   (Big5 only for Traditional notices; a notice with a character Big5
 *   lacks stays UTF-8), each file compressed (gz, zst) or all packed into
 *   one archive (tar, tar.gz, tar.zst, zip) through libarchive; zst
 *   streams through libzstd.
 *
 * Encodings change bytes, not text: the truth's offsets are into the UTF-8
 * notice text a reader recovers from any of these forms.
 *
 * Single-threaded; one sink per run.
 */
#include "out.h"

#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unicode/ucnv.h>
#include <unicode/ustring.h>
#include <zstd.h>

#include "common/alloc.h"
#include "common/buf.h"
#include "gen.h"

#define PART_DOCS 10000

enum { ENC_UTF8, ENC_GB18030, ENC_BIG5 };

struct out_sink {
    out_opts o;
    const char *path;
    FILE *f; /* jsonl plain or zst stream */
    int own;
    struct archive *a; /* gz stream, or the archive of tar/zip */
    ZSTD_CCtx *z;
    tdx_buf zout;
    tdx_buf line, part, page, conv;
    uint64_t part_docs;
    unsigned part_no;
    UConverter *cnv[3];
    UChar *u;
    size_t ucap;
    uint64_t bytes, enc_files[3], enc_fallback;
    char made_bucket[4096];
};

void out_opts_init(out_opts *o)
{
    memset(o, 0, sizeof *o);
}

static int parse_enc(out_opts *o, const char *val)
{
    char buf[256];
    snprintf(buf, sizeof buf, "%s", val);
    char *save = NULL;
    for (char *tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        char *eq = strchr(tok, '=');
        if (eq == NULL)
            return -1;
        *eq = 0;
        char *e;
        double v = strtod(eq + 1, &e);
        if (*e || e == eq + 1 || v < 0 || v > 1)
            return -1;
        if (strcmp(tok, "gb18030") == 0)
            o->gb18030 = v;
        else if (strcmp(tok, "big5") == 0)
            o->big5 = v;
        else
            return -1;
    }
    return 0;
}

int out_opts_parse(out_opts *o, const char *name, const char *val)
{
    static const char *const formats[] = {"jsonl", "text", "html"};
    static const char *const comps[] = {"none", "gz", "zst", "tar", "zip", "tar.gz", "tar.zst"};
    if (strcmp(name, "format") == 0) {
        for (int i = 0; i < 3; i++)
            if (strcmp(val, formats[i]) == 0) {
                o->format = i;
                return 0;
            }
    } else if (strcmp(name, "compress") == 0) {
        for (int i = 0; i < 7; i++)
            if (strcmp(val, comps[i]) == 0) {
                o->compress = i;
                return 0;
            }
    } else if (strcmp(name, "encoding-share") == 0) {
        if (parse_enc(o, val) == 0)
            return 0;
    }
    fprintf(stderr, "gen: invalid value '%s' for --%s\n", val, name);
    return -1;
}

static int is_archive(int c)
{
    return c == COMP_TAR || c == COMP_ZIP || c == COMP_TAR_GZ || c == COMP_TAR_ZST;
}

int out_opts_check(const out_opts *o, const char *path)
{
    int to_stdout = path == NULL || strcmp(path, "-") == 0;
    if (o->format != OUT_JSONL && !is_archive(o->compress) && to_stdout) {
        fprintf(stderr, "gen: --format %s writes one file per notice: give a directory with -o\n",
                o->format == OUT_TEXT ? "text" : "html");
        return -1;
    }
    if (is_archive(o->compress) && to_stdout) {
        fprintf(stderr, "gen: an archive needs a file name: give one with -o\n");
        return -1;
    }
    if (o->format == OUT_JSONL && (o->gb18030 > 0 || o->big5 > 0)) {
        fprintf(stderr, "gen: --encoding-share applies to --format text or html (JSON Lines "
                        "are UTF-8)\n");
        return -1;
    }
    return 0;
}

static void die_archive(struct archive *a, const char *what)
{
    gen_die("%s: %s", what, archive_error_string(a) ? archive_error_string(a) : "libarchive error");
}

static void mkdirs(const char *path)
{
    char buf[4096];
    snprintf(buf, sizeof buf, "%s", path);
    for (char *p = buf + 1; *p; p++) {
        if (*p != '/')
            continue;
        *p = 0;
        if (mkdir(buf, 0777) != 0 && errno != EEXIST)
            gen_die("cannot create directory '%s': %s", buf, strerror(errno));
        *p = '/';
    }
    if (mkdir(buf, 0777) != 0 && errno != EEXIST)
        gen_die("cannot create directory '%s': %s", buf, strerror(errno));
}

out_sink *out_open(const out_opts *o, const char *path)
{
    out_sink *s = gen_alloc(sizeof *s);
    s->o = *o;
    s->path = path;
    int to_stdout = path == NULL || strcmp(path, "-") == 0;
    if (is_archive(o->compress)) {
        s->a = archive_write_new();
        if (o->compress == COMP_ZIP)
            archive_write_set_format_zip(s->a);
        else
            archive_write_set_format_pax_restricted(s->a);
        if (o->compress == COMP_TAR_GZ)
            archive_write_add_filter_gzip(s->a);
        if (o->compress == COMP_TAR_ZST && archive_write_add_filter_zstd(s->a) != ARCHIVE_OK)
            die_archive(s->a, "zstd");
        if (archive_write_open_filename(s->a, path) != ARCHIVE_OK)
            die_archive(s->a, path);
    } else if (o->format == OUT_JSONL) {
        if (to_stdout) {
            s->f = stdout;
        } else {
            s->f = fopen(path, "wb");
            if (s->f == NULL)
                gen_die("cannot write '%s': %s", path, strerror(errno));
            s->own = 1;
        }
        setvbuf(s->f, NULL, _IOFBF, 1 << 22);
        if (o->compress == COMP_GZ) {
            s->a = archive_write_new();
            archive_write_set_format_raw(s->a);
            archive_write_add_filter_gzip(s->a);
            archive_write_set_bytes_in_last_block(s->a, 1);
            if (archive_write_open_FILE(s->a, s->f) != ARCHIVE_OK)
                die_archive(s->a, path ? path : "stdout");
            struct archive_entry *e = archive_entry_new();
            archive_entry_set_pathname(e, "notices.jsonl");
            archive_entry_set_filetype(e, AE_IFREG);
            archive_entry_set_perm(e, 0644);
            if (archive_write_header(s->a, e) != ARCHIVE_OK)
                die_archive(s->a, "gzip");
            archive_entry_free(e);
        } else if (o->compress == COMP_ZST) {
            s->z = ZSTD_createCCtx();
            if (s->z == NULL)
                gen_die("out of memory");
            ZSTD_CCtx_setParameter(s->z, ZSTD_c_compressionLevel, 3);
        }
    } else {
        mkdirs(path);
    }
    if (o->format != OUT_JSONL) {
        UErrorCode st = U_ZERO_ERROR;
        s->cnv[ENC_GB18030] = ucnv_open("GB18030", &st);
        s->cnv[ENC_BIG5] = ucnv_open("Big5", &st);
        if (U_FAILURE(st))
            gen_die("ICU converters: %s", u_errorName(st));
        for (int i = 1; i < 3; i++)
            ucnv_setFromUCallBack(s->cnv[i], UCNV_FROM_U_CALLBACK_STOP, NULL, NULL, NULL, &st);
    }
    return s;
}

/* ---- JSON ------------------------------------------------------------------- */

/* Bytes that need an escape in a JSON string. */
static const uint8_t json_special[256] = {
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 1, ['\\'] = 1,
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

static void json_line(tdx_buf *b, const out_doc *d)
{
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
    if (d->dup_of)
        json_field(b, "dup_of", d->dup_of, strlen(d->dup_of), 0);
    json_field(b, "text", d->text, d->text_len, 0);
    gen_put(b, "}\n", 2);
}

/* ---- raw writes -------------------------------------------------------------- */

static void file_write(FILE *f, const void *p, size_t n)
{
    if (n && fwrite(p, 1, n, f) != n)
        gen_die("write error: %s", strerror(errno));
}

static void zst_write(out_sink *s, const void *p, size_t n, int end)
{
    ZSTD_inBuffer in = {p, n, 0};
    size_t cap = ZSTD_CStreamOutSize();
    if (tdx_buf_grow(&s->zout, cap) != 0)
        gen_die("out of memory");
    for (;;) {
        ZSTD_outBuffer ob = {s->zout.p, cap, 0};
        size_t left = ZSTD_compressStream2(s->z, &ob, &in, end ? ZSTD_e_end : ZSTD_e_continue);
        if (ZSTD_isError(left))
            gen_die("zstd: %s", ZSTD_getErrorName(left));
        file_write(s->f, s->zout.p, ob.pos);
        if (end ? left == 0 : in.pos == in.size)
            break;
    }
}

static void archive_member(out_sink *s, const char *name, const void *p, size_t n)
{
    struct archive_entry *e = archive_entry_new();
    archive_entry_set_pathname(e, name);
    archive_entry_set_size(e, (la_int64_t)n);
    archive_entry_set_filetype(e, AE_IFREG);
    archive_entry_set_perm(e, 0644);
    archive_entry_set_mtime(e, 1700000000, 0); /* fixed: archives are reproducible */
    if (archive_write_header(s->a, e) != ARCHIVE_OK ||
        archive_write_data(s->a, p, n) != (la_ssize_t)n)
        die_archive(s->a, name);
    archive_entry_free(e);
}

static void flush_part(out_sink *s)
{
    if (s->part_docs == 0)
        return;
    char name[64];
    snprintf(name, sizeof name, "part-%05u.jsonl", s->part_no++);
    archive_member(s, name, s->part.p, s->part.len);
    tdx_buf_reset(&s->part);
    s->part_docs = 0;
}

/* ---- per-notice files ----------------------------------------------------------- */

static void gen_puts_s(tdx_buf *b, const char *s)
{
    gen_put(b, s, strlen(s));
}

static void html_escape(tdx_buf *b, const char *s, size_t n)
{
    size_t run = 0;
    for (size_t i = 0; i < n; i++) {
        const char *rep = s[i] == '&'   ? "&amp;"
                          : s[i] == '<' ? "&lt;"
                          : s[i] == '>' ? "&gt;"
                                        : NULL;
        if (!rep)
            continue;
        gen_put(b, s + run, i - run);
        gen_put(b, rep, strlen(rep));
        run = i + 1;
    }
    gen_put(b, s + run, n - run);
}

/* Append the lines of text[from, to) as <p> elements (empty lines skipped). */
static void html_lines(tdx_buf *b, const char *text, size_t from, size_t to)
{
    while (from < to) {
        const char *nl = memchr(text + from, '\n', to - from);
        size_t end = nl ? (size_t)(nl - text) : to;
        if (end > from) {
            gen_put(b, "<p>", 3);
            html_escape(b, text + from, end - from);
            gen_put(b, "</p>\n", 5);
        }
        from = end + 1;
    }
}

static const char *const ENC_NAMES[] = {"utf-8", "gb18030", "big5"};

static void html_page(tdx_buf *b, const out_doc *d, int enc)
{
    tdx_buf_reset(b);
    gen_put(b, "<!DOCTYPE html>\n<html lang=\"", 28);
    gen_puts_s(b, d->trad ? "zh-TW" : "zh-CN");
    gen_puts_s(b, "\">\n<head>\n<meta charset=\"");
    gen_puts_s(b, ENC_NAMES[enc]);
    gen_puts_s(b, "\">\n<title>");
    html_escape(b, d->title, d->title_len);
    gen_puts_s(b, "</title>\n<meta name=\"PubDate\" content=\"");
    gen_puts_s(b, d->date);
    gen_puts_s(b, "\">\n<meta name=\"ContentSource\" content=\"");
    html_escape(b, d->agency, strlen(d->agency));
    gen_puts_s(b, "\">\n<link rel=\"stylesheet\" href=\"/static/css/detail.css\">\n"
                  "<style>.content p{text-indent:2em;line-height:1.8}</style>\n"
                  "<script src=\"/static/js/jquery.min.js\"></script>\n"
                  "<script>var noticeId=\"");
    gen_puts_s(b, d->id);
    gen_puts_s(b, "\";</script>\n</head>\n<body>\n<div class=\"nav\">");
    html_escape(b, d->text, d->title_off > 0 ? d->title_off - 1 : 0);
    gen_puts_s(b, "</div>\n<div class=\"main\">\n<h1 class=\"title\">");
    html_escape(b, d->text + d->title_off, d->title_len);
    gen_puts_s(b, "</h1>\n<div class=\"content\">\n");
    html_lines(b, d->text, d->title_off + d->title_len, d->footer_off);
    gen_puts_s(b, "</div>\n</div>\n<div class=\"footer\">\n");
    html_lines(b, d->text, d->footer_off, d->text_len);
    gen_puts_s(b, "</div>\n</body>\n</html>\n");
}

/* UTF-8 -> enc into s->conv; 0 when some character has no mapping. */
static int convert(out_sink *s, int enc, const uint8_t *p, size_t n)
{
    UErrorCode st = U_ZERO_ERROR;
    int32_t ulen = 0;
    if (s->ucap < n + 1) {
        s->ucap = (n + 1) * 2;
        tdx_free(s->u);
        s->u = gen_alloc(s->ucap * sizeof *s->u);
    }
    u_strFromUTF8(s->u, (int32_t)s->ucap, &ulen, (const char *)p, (int32_t)n, &st);
    if (U_FAILURE(st))
        return 0;
    size_t cap = (size_t)ulen * 4 + 16;
    tdx_buf_reset(&s->conv);
    if (tdx_buf_grow(&s->conv, cap) != 0)
        gen_die("out of memory");
    ucnv_resetFromUnicode(s->cnv[enc]);
    int32_t m = ucnv_fromUChars(s->cnv[enc], (char *)s->conv.p, (int32_t)cap, s->u, ulen, &st);
    if (U_FAILURE(st))
        return 0;
    s->conv.len = (size_t)m;
    return 1;
}

static void file_doc(out_sink *s, const out_doc *d)
{
    const char *ext = s->o.format == OUT_HTML ? "html" : "txt";
    /* encoding from its own stream: the same notice gets the same bytes */
    rng r = rng_for(d->seed, 4, d->index);
    double u = rng_unit(&r);
    int enc = ENC_UTF8;
    if (d->trad && rng_unit(&r) < s->o.big5)
        enc = ENC_BIG5;
    else if (u < s->o.gb18030)
        enc = ENC_GB18030;
    const tdx_buf *body;
    for (;;) {
        if (s->o.format == OUT_HTML) {
            html_page(&s->page, d, enc);
        } else {
            tdx_buf_reset(&s->page);
            gen_put(&s->page, d->text, d->text_len);
        }
        if (enc == ENC_UTF8) {
            body = &s->page;
            break;
        }
        if (convert(s, enc, s->page.p, s->page.len)) {
            body = &s->conv;
            break;
        }
        s->enc_fallback++;
        enc = ENC_UTF8;
    }
    s->enc_files[enc]++;
    s->bytes += body->len;
    char name[512];
    snprintf(name, sizeof name, "%05" PRIu64 "/%s.%s", d->index / 1000, d->id, ext);
    if (is_archive(s->o.compress)) {
        archive_member(s, name, body->p, body->len);
        return;
    }
    char dir[4096], path[4608];
    snprintf(dir, sizeof dir, "%s/%05" PRIu64, s->path, d->index / 1000);
    if (strcmp(dir, s->made_bucket) != 0) {
        mkdirs(dir);
        snprintf(s->made_bucket, sizeof s->made_bucket, "%s", dir);
    }
    snprintf(path, sizeof path, "%s/%s%s", s->path, name,
             s->o.compress == COMP_GZ    ? ".gz"
             : s->o.compress == COMP_ZST ? ".zst"
                                         : "");
    if (s->o.compress == COMP_GZ) {
        struct archive *a = archive_write_new();
        archive_write_set_format_raw(a);
        archive_write_add_filter_gzip(a);
        archive_write_set_bytes_in_last_block(a, 1);
        if (archive_write_open_filename(a, path) != ARCHIVE_OK)
            die_archive(a, path);
        struct archive_entry *e = archive_entry_new();
        archive_entry_set_pathname(e, name);
        archive_entry_set_filetype(e, AE_IFREG);
        archive_entry_set_perm(e, 0644);
        if (archive_write_header(a, e) != ARCHIVE_OK ||
            archive_write_data(a, body->p, body->len) != (la_ssize_t)body->len ||
            archive_write_close(a) != ARCHIVE_OK)
            die_archive(a, path);
        archive_entry_free(e);
        archive_write_free(a);
        return;
    }
    FILE *f = fopen(path, "wb");
    if (f == NULL)
        gen_die("cannot write '%s': %s", path, strerror(errno));
    if (s->o.compress == COMP_ZST) {
        size_t cap = ZSTD_compressBound(body->len);
        tdx_buf_reset(&s->zout);
        if (tdx_buf_grow(&s->zout, cap) != 0)
            gen_die("out of memory");
        size_t m = ZSTD_compress(s->zout.p, cap, body->p, body->len, 3);
        if (ZSTD_isError(m))
            gen_die("zstd: %s", ZSTD_getErrorName(m));
        file_write(f, s->zout.p, m);
    } else {
        file_write(f, body->p, body->len);
    }
    if (fclose(f) != 0)
        gen_die("cannot write '%s': %s", path, strerror(errno));
}

void out_write(out_sink *s, const out_doc *d)
{
    if (s->o.format != OUT_JSONL) {
        file_doc(s, d);
        return;
    }
    json_line(&s->line, d);
    s->bytes += s->line.len;
    if (is_archive(s->o.compress)) {
        gen_put(&s->part, s->line.p, s->line.len);
        if (++s->part_docs == PART_DOCS)
            flush_part(s);
    } else if (s->o.compress == COMP_GZ) {
        if (archive_write_data(s->a, s->line.p, s->line.len) != (la_ssize_t)s->line.len)
            die_archive(s->a, "gzip");
    } else if (s->o.compress == COMP_ZST) {
        zst_write(s, s->line.p, s->line.len, 0);
    } else {
        file_write(s->f, s->line.p, s->line.len);
    }
}

uint64_t out_bytes(const out_sink *s)
{
    return s->bytes;
}

void out_close(out_sink *s, int quiet)
{
    if (s->o.format == OUT_JSONL && is_archive(s->o.compress))
        flush_part(s);
    if (s->z)
        zst_write(s, "", 0, 1);
    if (s->a) {
        if (archive_write_close(s->a) != ARCHIVE_OK)
            die_archive(s->a, s->path ? s->path : "stdout");
        archive_write_free(s->a);
    }
    if (s->f && (fflush(s->f) != 0 || ferror(s->f)))
        gen_die("write error: %s", strerror(errno));
    if (s->own && fclose(s->f) != 0)
        gen_die("write error: %s", strerror(errno));
    if (!quiet && s->o.format != OUT_JSONL && (s->o.gb18030 > 0 || s->o.big5 > 0))
        fprintf(stderr,
                "gen: files: %" PRIu64 " UTF-8, %" PRIu64 " GB18030, %" PRIu64 " Big5 (%" PRIu64
                " kept in UTF-8: a character has no Big5 or GB18030 form)\n",
                s->enc_files[ENC_UTF8], s->enc_files[ENC_GB18030], s->enc_files[ENC_BIG5],
                s->enc_fallback);
    for (int i = 1; i < 3; i++)
        if (s->cnv[i])
            ucnv_close(s->cnv[i]);
    ZSTD_freeCCtx(s->z);
    tdx_free(s->u);
    tdx_buf_free(&s->zout);
    tdx_buf_free(&s->line);
    tdx_buf_free(&s->part);
    tdx_buf_free(&s->page);
    tdx_buf_free(&s->conv);
    tdx_free(s);
}
