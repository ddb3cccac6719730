/*
 * test_reader.c - the reader stage: inputs, formats, encodings, archives,
 * dates and bad input.  Every fixture is generated here, in the test's own
 * temp dir; archives and legacy encodings come from the system tools
 * (zip, tar, gzip, bzip2, xz, zstd, iconv) or libarchive's writer, so the
 * reader is checked against independent producers.
 */
#include "tassert.h"

#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../engine/common/alloc.h"
#include "../engine/common/utf8.h"
#include "../engine/reader/reader.h"
#include "../engine/reader/reader_int.h"
#include "testutil.h"

/* ---------------------------------------------------------------------- */
/* harness: read everything, keep owned copies of docs and rejects         */

typedef struct got_doc {
    char *key, *source, *title, *date, *url, *format, *encoding, *text, *meta;
    uint64_t file_index, record, line, offset;
    size_t text_len, invalid;
    int date_parsed;
} got_doc;

typedef struct got_rej {
    char *source, *reason;
    uint64_t line, offset;
    int kept;
} got_rej;

typedef struct got {
    got_doc *d;
    size_t nd, capd;
    got_rej *j;
    size_t nj, capj;
    tdx_read_progress prog;
    /* on_file control */
    const char *skip_path;
    uint64_t skip_records_for;
    const char *skip_records_path;
    char files_seen[4096];
} got;

static char *dup0(const char *s)
{
    return strdup(s ? s : "(null)");
}

static void on_reject(void *ctx, const tdx_reject *r)
{
    got *g = ctx;
    if (g->nj == g->capj) {
        g->capj = g->capj ? g->capj * 2 : 16;
        g->j = realloc(g->j, g->capj * sizeof *g->j);
    }
    got_rej *j = &g->j[g->nj++];
    j->source = dup0(r->source);
    j->reason = dup0(r->reason);
    j->line = r->line;
    j->offset = r->offset;
    j->kept = r->kept;
}

static int on_file(void *ctx, const char *path, uint64_t idx, uint64_t size, int64_t mtime,
                   uint64_t *skip)
{
    got *g = ctx;
    (void)size;
    (void)mtime;
    size_t l = strlen(g->files_seen);
    snprintf(g->files_seen + l, sizeof g->files_seen - l, "%llu:%s\n", (unsigned long long)idx,
             path);
    if (g->skip_path && strcmp(path, g->skip_path) == 0)
        return 1;
    if (g->skip_records_path && strcmp(path, g->skip_records_path) == 0)
        *skip = g->skip_records_for;
    return 0;
}

/* A copy of every got filled in a test, freed by teardown (valgrind runs stay quiet). */
static got filled[64];
static size_t nfilled;

static void got_free(got *g)
{
    for (size_t i = 0; i < g->nd; i++) {
        got_doc *x = &g->d[i];
        char *fields[] = {x->key,    x->source,   x->title, x->date, x->url,
                          x->format, x->encoding, x->text,  x->meta};
        for (size_t k = 0; k < sizeof fields / sizeof fields[0]; k++)
            free(fields[k]);
    }
    for (size_t i = 0; i < g->nj; i++) {
        free(g->j[i].source);
        free(g->j[i].reason);
    }
    free(g->d);
    free(g->j);
}

static void read_all_opts(const char *const *inputs, size_t n, tdx_reader_opts *o, got *g)
{
    tdx_reader *r = NULL;
    tdx_err err = {0};
    o->on_reject = on_reject;
    o->on_file = on_file;
    o->ctx = g;
    int rc = tdx_reader_open(inputs, n, o, &r, &err);
    cr_assert(eq(int, rc, 0), "open: %s", err.msg);
    tdx_doc d;
    while ((rc = tdx_reader_next(r, &d, &err)) == 1) {
        cr_assert(d.text[d.text_len] == 0, "text not NUL-terminated");
        cr_assert(eq(sz, tdx_reader_utf8_check(d.text, d.text_len), d.text_len),
                  "text is not well-formed UTF-8 (%s)", d.key);
        cr_assert(eq(sz, strlen((const char *)d.text), d.text_len), "NUL inside text");
        if (g->nd == g->capd) {
            g->capd = g->capd ? g->capd * 2 : 16;
            g->d = realloc(g->d, g->capd * sizeof *g->d);
        }
        got_doc *x = &g->d[g->nd++];
        x->key = dup0(d.key);
        x->source = dup0(d.source);
        x->title = dup0(d.title);
        x->date = dup0(d.date);
        x->url = dup0(d.url);
        x->format = dup0(d.format);
        x->encoding = dup0(d.encoding);
        x->text = dup0((const char *)d.text);
        x->text_len = d.text_len;
        x->file_index = d.file_index;
        x->record = d.record;
        x->line = d.line;
        x->offset = d.offset;
        x->invalid = d.invalid;
        x->date_parsed = d.date_parsed;
        char meta[4096] = "";
        for (size_t i = 0; i < d.nmeta; i++) {
            size_t l = strlen(meta);
            snprintf(meta + l, sizeof meta - l, "%s%s=%s", i ? ";" : "", d.meta[i].key,
                     d.meta[i].val);
        }
        x->meta = strdup(meta);
    }
    cr_assert(eq(int, rc, 0), "next: %s", err.msg);
    tdx_reader_progress(r, &g->prog);
    tdx_reader_free(r);
    if (nfilled < sizeof filled / sizeof filled[0])
        filled[nfilled++] = *g;
}

static void read_all(const char *const *inputs, size_t n, got *g)
{
    tdx_reader_opts o = {0};
    read_all_opts(inputs, n, &o, g);
}

static void read_one(const char *path, got *g)
{
    read_all(&path, 1, g);
}

static void setup(void)
{
    tu_tmpdir();
    mkdir(tu_path("in"), 0755);
}

static void teardown(void)
{
    for (size_t i = 0; i < nfilled; i++)
        got_free(&filled[i]);
    nfilled = 0;
    tu_tmpdir_remove();
}

static void dump(const got *g)
{
    for (size_t i = 0; i < g->nd; i++)
        fprintf(stderr, "doc %zu key=%s src=%s line=%llu off=%llu enc=%s text=[%s]\n", i,
                g->d[i].key, g->d[i].source, (unsigned long long)g->d[i].line,
                (unsigned long long)g->d[i].offset, g->d[i].encoding, g->d[i].text);
    for (size_t i = 0; i < g->nj; i++)
        fprintf(stderr, "rej %zu src=%s line=%llu off=%llu kept=%d: %s\n", i, g->j[i].source,
                (unsigned long long)g->j[i].line, (unsigned long long)g->j[i].offset, g->j[i].kept,
                g->j[i].reason);
}

#define expect_reject(g, i, src, ln, off, substr)                                                  \
    do {                                                                                           \
        cr_assert(lt(sz, (size_t)(i), (g)->nj), "missing reject %d", (int)(i));                    \
        cr_expect(eq(str, (g)->j[i].source, (char *)(src)));                                       \
        cr_expect(eq(u64, (g)->j[i].line, (uint64_t)(ln)));                                        \
        cr_expect(eq(u64, (g)->j[i].offset, (uint64_t)(off)));                                     \
        cr_expect(strstr((g)->j[i].reason, substr) != NULL, "reason '%s' lacks '%s'",              \
                  (g)->j[i].reason, substr);                                                       \
    } while (0)

/* ---------------------------------------------------------------------- */
/* JSON Lines                                                             */

Test(reader, jsonl_fields_metadata_and_keys, .init = setup, .fini = teardown)
{
    const char *path = tu_path("in/a.jsonl");
    tu_write_str(
        path,
        "{\"id\":\"N-1\",\"title\":\"深圳大学采购\",\"date\":\"2023-03-15\","
        "\"url\":\"http://x/1\",\"text\":\"第一行\\n第二行 \\\"引号\\\" \\u00e9\\ud83d\\ude00\","
        "\"budget\":1.5e6,\"open\":true,\"region\":\"广东\",\"none\":null,"
        "\"tags\":[1,{\"a\":[]}]}\n"
        "{\"text\":\"no id here\",\"id\":\"\"}\n"
        "{\"id\":42,\"text\":\"numeric id\"}\n");
    got g = {0};
    read_one(path, &g);
    dump(&g);
    cr_assert(eq(sz, g.nd, 3));
    cr_assert(eq(sz, g.nj, 0));
    cr_expect(eq(str, g.d[0].key, "N-1"));
    cr_expect(eq(str, g.d[0].title, "深圳大学采购"));
    cr_expect(eq(str, g.d[0].date, "2023-03-15"));
    cr_expect(eq(int, g.d[0].date_parsed, 1));
    cr_expect(eq(str, g.d[0].url, "http://x/1"));
    cr_expect(eq(str, g.d[0].text, "第一行\n第二行 \"引号\" é😀"));
    cr_expect(eq(str, g.d[0].meta, "budget=1.5e6;open=true;region=广东"));
    cr_expect(eq(str, g.d[0].format, "jsonl"));
    cr_expect(eq(str, g.d[0].encoding, "UTF-8"));
    cr_expect(eq(u64, g.d[0].line, 1));
    cr_expect(eq(u64, g.d[0].offset, 0));
    cr_expect(eq(u64, g.d[0].record, 0));
    cr_expect(eq(str, g.d[1].key, (char *)tu_path("in/a.jsonl:2")));
    cr_expect(eq(str, g.d[1].source, (char *)path));
    cr_expect(eq(str, g.d[1].title, ""));
    cr_expect(eq(u64, g.d[1].record, 1));
    cr_expect(eq(str, g.d[2].key, "42"));
    cr_expect(eq(u64, g.prog.docs, 3));
    cr_expect(eq(u64, g.prog.files, 1));
}

Test(reader, jsonl_splits_on_newline_only, .init = setup, .fini = teardown)
{
    /* U+0085 and U+2028 are content; CRLF, blank lines and a missing final newline are fine. */
    const char *path = tu_path("in/b.jsonl");
    tu_write_str(path, "{\"text\":\"a\xC2\x85"
                       "b\xE2\x80\xA8"
                       "c\"}\r\n"
                       "\n   \r\n"
                       "{\"text\":\"last\"}");
    got g = {0};
    read_one(path, &g);
    cr_assert(eq(sz, g.nd, 2));
    cr_assert(eq(sz, g.nj, 0));
    cr_expect(eq(str, g.d[0].text,
                 "a\xC2\x85"
                 "b\xE2\x80\xA8"
                 "c"));
    cr_expect(eq(u64, g.d[1].line, 4));
    cr_expect(eq(u64, g.d[1].record, 1));
    cr_expect(eq(u64, g.d[1].offset,
                 strlen("{\"text\":\"a\xC2\x85"
                        "b\xE2\x80\xA8"
                        "c\"}\r\n"
                        "\n   \r\n")));
}

Test(reader, jsonl_field_mapping, .init = setup, .fini = teardown)
{
    const char *path = tu_path("in/c.jsonl");
    tu_write_str(path,
                 "{\"notice_id\":\"Z9\",\"content\":\"正文\",\"publish_time\":\"2023年3月15日\","
                 "\"text\":\"kept as metadata\",\"name\":\"标题\"}\n");
    got g = {0};
    tdx_reader_opts o = {.fields = "text=content,id=notice_id,date=publish_time,title=name"};
    read_all_opts(&path, 1, &o, &g);
    cr_assert(eq(sz, g.nd, 1));
    cr_expect(eq(str, g.d[0].key, "Z9"));
    cr_expect(eq(str, g.d[0].text, "正文"));
    cr_expect(eq(str, g.d[0].title, "标题"));
    cr_expect(eq(str, g.d[0].date, "2023-03-15"));
    cr_expect(eq(str, g.d[0].meta, "text=kept as metadata"));
}

Test(reader, bad_field_map_and_options_are_einval)
{
    const char *in[] = {"x"};
    tdx_reader *r = NULL;
    tdx_err err = {0};
    tdx_reader_opts o = {.fields = "body=content"};
    cr_expect(eq(int, tdx_reader_open(in, 1, &o, &r, &err), TDX_EINVAL));
    cr_expect(strstr(err.msg, "body") != NULL);
    tdx_reader_opts o2 = {.fields = "text="};
    cr_expect(eq(int, tdx_reader_open(in, 1, &o2, &r, NULL), TDX_EINVAL));
    tdx_reader_opts o3 = {.format = "pdf"};
    cr_expect(eq(int, tdx_reader_open(in, 1, &o3, &r, NULL), TDX_EINVAL));
    tdx_reader_opts o4 = {.encoding = "no-such-charset"};
    cr_expect(eq(int, tdx_reader_open(in, 1, &o4, &r, NULL), TDX_EINVAL));
    cr_expect(eq(int, tdx_reader_open(in, 1, NULL, NULL, NULL), TDX_EINVAL));
    cr_expect(r == NULL);
    cr_expect(eq(int, tdx_reader_next(NULL, NULL, NULL), TDX_EINVAL));
    tdx_reader_free(NULL);
}

Test(reader, jsonl_malformed_lines_are_rejected_precisely, .init = setup, .fini = teardown)
{
    const char *lines[] = {
        "{\"text\":\"ok1\"}",
        "{\"text\":\"a\",}", /* trailing comma */
        "{\"text\":\"unterminated}",
        "[1,2]", /* not an object */
        "{\"text\":\"bad \\x escape\"}",
        "{\"text\":\"x\"} trailing",
        "{\"text\":\"lone \\ud800 surrogate\"}",
        "{\"text\":\"nul \\u0000\"}",
        "{\"text\":01}",
        "{\"text\":\"ok2\",\"n\":-0.5e+3}",
        "{\"text\":\"raw\ttab\"}",
        "{\"text\":tru}",
        "{\"text\":\"deep\",\"x\":[[[[{\"a\":[1,2,}]]]]]}",
        "{\"text\":\"ok3\"}",
    };
    /* Where each bad line stops making sense (byte offset in the line). */
    const struct {
        int line;
        const char *at; /* the error is at the first occurrence of this in the line */
        const char *why;
    } bad[] = {
        {2, "}", "expected a string key"},
        {3, NULL, "unterminated string"},
        {4, "[", "expected '{'"},
        {5, "\\x", "invalid escape"},
        {6, "trailing", "after the object"},
        {7, "\\ud800", "unpaired high surrogate"},
        {8, "\\u0000", "NUL"},
        {9, "1}", "expected ',' or '}'"},
        {11, "\t", "control character"},
        {12, "tru", "where a value was expected"},
        {13, "}]", "where a value was expected"},
    };
    char all[4096] = "";
    size_t starts[32];
    for (size_t i = 0; i < sizeof lines / sizeof lines[0]; i++) {
        starts[i + 1] = strlen(all);
        strcat(all, lines[i]);
        strcat(all, "\n");
    }
    const char *path = tu_path("in/bad.jsonl");
    tu_write_str(path, all);
    got g = {0};
    read_one(path, &g);
    dump(&g);
    cr_assert(eq(sz, g.nd, 3));
    cr_expect(eq(str, g.d[0].text, "ok1"));
    cr_expect(eq(str, g.d[1].text, "ok2"));
    cr_expect(eq(str, g.d[1].meta, "n=-0.5e+3"));
    cr_expect(eq(str, g.d[2].text, "ok3"));
    cr_expect(eq(u64, g.d[2].line, 14));
    cr_expect(eq(u64, g.d[2].record, 13));
    cr_assert(eq(sz, g.nj, sizeof bad / sizeof bad[0]));
    for (size_t i = 0; i < g.nj; i++) {
        const char *l = lines[bad[i].line - 1];
        size_t col = bad[i].at ? (size_t)(strstr(l, bad[i].at) - l) : strlen(l);
        expect_reject(&g, i, path, bad[i].line, starts[bad[i].line] + col, bad[i].why);
        cr_expect(eq(int, g.j[i].kept, 0));
    }
    cr_expect(eq(u64, g.prog.rejects, g.nj));
}

Test(reader, jsonl_invalid_utf8_is_repaired_with_a_warning, .init = setup, .fini = teardown)
{
    const char *path = tu_path("in/u.jsonl");
    /* A UTF-8 file with one stray byte and one truncated sequence in line 2. */
    tu_write_str(path, "{\"text\":\"深圳大学\"}\n"
                       "{\"text\":\"深圳\xFF大学\xE5\xA4\"}\n");
    got g = {0};
    read_one(path, &g);
    dump(&g);
    cr_assert(eq(sz, g.nd, 2));
    cr_expect(eq(str, g.d[1].text, "深圳\xEF\xBF\xBD大学\xEF\xBF\xBD"));
    cr_expect(eq(sz, g.d[1].invalid, 2));
    cr_expect(eq(str, g.d[1].encoding, "UTF-8"));
    cr_assert(eq(sz, g.nj, 1));
    size_t l1 = strlen("{\"text\":\"深圳大学\"}\n");
    expect_reject(&g, 0, path, 2, l1 + strlen("{\"text\":\"深圳"), "2 invalid UTF-8");
    cr_expect(eq(int, g.j[0].kept, 1));
    cr_expect(eq(u64, g.prog.warnings, 1));
    cr_expect(eq(u64, g.prog.rejects, 0));
}

Test(reader, jsonl_no_text_and_nul_byte_lines, .init = setup, .fini = teardown)
{
    const char *path = tu_path("in/n.jsonl");
    const char data[] = "{\"title\":\"only a title\"}\n{\"text\":\"a\0b\"}\n{\"text\":\"fine\"}\n";
    tu_write_file(path, data, sizeof data - 1);
    got g = {0};
    read_one(path, &g);
    dump(&g);
    cr_assert(eq(sz, g.nd, 1));
    cr_expect(eq(str, g.d[0].text, "fine"));
    cr_assert(eq(sz, g.nj, 2));
    expect_reject(&g, 0, path, 1, 0, "no text");
    size_t l1 = strlen("{\"title\":\"only a title\"}\n");
    expect_reject(&g, 1, path, 2, l1 + strlen("{\"text\":\"a"), "NUL byte");
}

Test(reader, jsonl_html_field_is_the_text_source, .init = setup, .fini = teardown)
{
    const char *path = tu_path("in/h.jsonl");
    tu_write_str(path, "{\"id\":\"h1\",\"html\":\"<html><head><title>公告</title>"
                       "<script>var x=1;</script></head><body><p>深圳<span>大学</span></p>"
                       "<p>采购&amp;招标</p></body></html>\"}\n");
    got g = {0};
    read_one(path, &g);
    cr_assert(eq(sz, g.nd, 1));
    cr_expect(eq(str, g.d[0].text, "深圳大学\n采购&招标"));
    cr_expect(eq(str, g.d[0].title, "公告"));
}

Test(reader, max_doc_bytes_limits_records_and_documents, .init = setup, .fini = teardown)
{
    char big[300];
    memset(big, 'x', sizeof big);
    big[sizeof big - 1] = 0;
    char data[1024];
    snprintf(data, sizeof data, "{\"text\":\"small\"}\n{\"text\":\"%s\"}\n{\"text\":\"after\"}\n",
             big);
    const char *path = tu_path("in/m.jsonl");
    tu_write_str(path, data);
    const char *tpath = tu_path("in/big.txt");
    tu_write_str(tpath, big);
    const char *tsmall = tu_path("in/small.txt");
    tu_write_str(tsmall, "tiny");
    const char *in[] = {path, tpath, tsmall};
    got g = {0};
    tdx_reader_opts o = {.max_doc_bytes = 100};
    read_all_opts(in, 3, &o, &g);
    dump(&g);
    cr_assert(eq(sz, g.nd, 3));
    cr_expect(eq(str, g.d[0].text, "small"));
    cr_expect(eq(str, g.d[1].text, "after"));
    cr_expect(eq(u64, g.d[1].record, 2));
    cr_expect(eq(str, g.d[2].text, "tiny"));
    cr_assert(eq(sz, g.nj, 2));
    expect_reject(&g, 0, path, 2, strlen("{\"text\":\"small\"}\n"), "max-doc-bytes");
    expect_reject(&g, 1, tpath, 0, 0, "max-doc-bytes");
}

Test(reader, long_lines_across_reads, .init = setup, .fini = teardown)
{
    /* Lines larger than a read chunk, and one over the limit in the middle. */
    size_t n = 3u << 20;
    char *t = malloc(n + 1);
    for (size_t i = 0; i < n; i++)
        t[i] = (char)('a' + i % 26);
    t[n] = 0;
    const char *path = tu_path("in/long.jsonl");
    FILE *f = fopen(path, "wb");
    fprintf(f, "{\"text\":\"%s\"}\n{\"text\":\"%.*s\"}\n{\"text\":\"%s\"}\n", t, (int)(n / 3), t,
            t);
    fclose(f);
    got g = {0};
    tdx_reader_opts o = {.max_doc_bytes = 2u << 20};
    read_all_opts(&path, 1, &o, &g);
    cr_assert(eq(sz, g.nd, 1));
    cr_expect(eq(sz, g.d[0].text_len, n / 3));
    cr_expect(eq(u64, g.d[0].line, 2));
    cr_assert(eq(sz, g.nj, 2));
    expect_reject(&g, 0, path, 1, 0, "max-doc-bytes");
    /* Each line is {"text":"…"} plus '\n': 12 bytes around the text. */
    expect_reject(&g, 1, path, 3, (n + 12) + (n / 3 + 12), "max-doc-bytes");
    free(t);
}

/* ---------------------------------------------------------------------- */
/* plain text, files and directories                                      */

Test(reader, text_file_is_one_document, .init = setup, .fini = teardown)
{
    const char *path = tu_path("in/notice.txt");
    tu_write_str(path, "\xEF\xBB\xBF招标公告\n深圳大学\n");
    got g = {0};
    read_one(path, &g);
    cr_assert(eq(sz, g.nd, 1));
    cr_expect(eq(str, g.d[0].key, (char *)path));
    cr_expect(eq(str, g.d[0].text, "招标公告\n深圳大学\n"));
    cr_expect(eq(str, g.d[0].format, "text"));
    cr_expect(eq(str, g.d[0].encoding, "UTF-8"));
    cr_expect(eq(u64, g.d[0].line, 0));
}

Test(reader, directories_walk_in_sorted_byte_order, .init = setup, .fini = teardown)
{
    const char *dirs[] = {"in/d", "in/d/a", "in/d/a/z", "in/d/B", "in/d/empty"};
    for (size_t i = 0; i < sizeof dirs / sizeof dirs[0]; i++)
        mkdir(tu_path(dirs[i]), 0755);
    const char *files[] = {"in/d/a.txt",   "in/d/a/b.txt", "in/d/a/z/y.txt", "in/d/B/c.txt",
                           "in/d/a-b.txt", "in/d/é.txt",   "in/d/Z.txt",     "in/d/a0.txt"};
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++)
        tu_write_str(tu_path(files[i]), files[i]);
    char *want = NULL;
    char cmd[2048];
    snprintf(cmd, sizeof cmd, "find '%s' -type f | LC_ALL=C sort", tu_path("in/d"));
    cr_assert(eq(int, tu_run(cmd, &want, NULL), 0));
    for (int pass = 0; pass < 2; pass++) {
        got g = {0};
        const char *in = tu_path(pass ? "in/d/" : "in/d");
        read_one(in, &g);
        char have[4096] = "";
        for (size_t i = 0; i < g.nd; i++) {
            /* "in/d/" and "in/d" must give the same paths. */
            strcat(have, g.d[i].source);
            strcat(have, "\n");
            cr_expect(eq(u64, g.d[i].file_index, i));
            cr_expect(eq(str, g.d[i].text, strstr(g.d[i].source, "in/d/")));
        }
        cr_expect(eq(str, have, want));
        cr_expect(eq(u64, g.prog.total_files, sizeof files / sizeof files[0]));
        cr_expect(eq(u64, g.prog.files, sizeof files / sizeof files[0]));
    }
    free(want);
}

Test(reader, stdin_is_an_input, .init = setup, .fini = teardown)
{
    const char *path = tu_path("in/stdin.jsonl");
    tu_write_str(path, "{\"text\":\"from stdin\"}\n");
    int fd = open(path, O_RDONLY);
    cr_assert(fd >= 0);
    dup2(fd, 0);
    close(fd);
    const char *in[] = {"-"};
    got g = {0};
    read_all(in, 1, &g);
    cr_assert(eq(sz, g.nd, 1));
    cr_expect(eq(str, g.d[0].text, "from stdin"));
    cr_expect(eq(str, g.d[0].source, "-"));
    cr_expect(eq(str, g.d[0].key, "-:1"));
    cr_expect(eq(u64, g.prog.total_bytes, 0));
}

Test(reader, on_file_skips_files_and_leading_records, .init = setup, .fini = teardown)
{
    const char *a = tu_path("in/a.jsonl"), *b = tu_path("in/b.jsonl"), *c = tu_path("in/c.txt");
    tu_write_str(a, "{\"text\":\"a1\"}\n{\"text\":\"a2\"}\n");
    tu_write_str(b, "{\"text\":\"b1\"}\nnot json\n\n{\"text\":\"b3\"}\n{\"text\":\"b4\"}\n");
    tu_write_str(c, "c");
    const char *in[] = {a, b, c};
    got g = {0};
    g.skip_path = a;
    g.skip_records_path = b;
    g.skip_records_for = 2; /* b1 and the malformed line were read by an earlier run */
    read_all(in, 3, &g);
    dump(&g);
    cr_assert(eq(sz, g.nd, 3));
    cr_expect(eq(str, g.d[0].text, "b3"));
    cr_expect(eq(u64, g.d[0].record, 2));
    cr_expect(eq(u64, g.d[0].file_index, 1));
    cr_expect(eq(u64, g.d[0].line, 4));
    cr_expect(eq(str, g.d[1].text, "b4"));
    cr_expect(eq(str, g.d[2].text, "c"));
    cr_expect(eq(u64, g.d[2].file_index, 2));
    cr_expect(eq(sz, g.nj, 0));
    cr_expect(eq(u64, g.prog.skipped_files, 1));
    cr_expect(eq(u64, g.prog.skipped_records, 2));
    char want[2048];
    snprintf(want, sizeof want, "0:%s\n1:%s\n2:%s\n", a, b, c);
    cr_expect(eq(str, g.files_seen, want));
}

Test(reader, unreadable_empty_binary_and_missing_inputs, .init = setup, .fini = teardown)
{
    const char *empty = tu_path("in/empty.jsonl");
    tu_write_str(empty, "");
    const char *bin = tu_path("in/blob.dat");
    tu_write_file(bin, "\x01\x02\x00\x03xyz", 7);
    const char *missing = tu_path("in/missing.jsonl");
    const char *ok = tu_path("in/ok.txt");
    tu_write_str(ok, "fine");
    const char *unk = tu_path("in/page.xml");
    tu_write_str(unk, "<?xml version=\"1.0\"?><root/>");
    const char *in[] = {empty, bin, missing, unk, ok};
    got g = {0};
    read_all(in, 5, &g);
    dump(&g);
    cr_assert(eq(sz, g.nd, 1));
    cr_expect(eq(str, g.d[0].text, "fine"));
    cr_expect(eq(u64, g.d[0].file_index, 4));
    cr_assert(eq(sz, g.nj, 4));
    expect_reject(&g, 0, empty, 0, 0, "empty file");
    expect_reject(&g, 1, bin, 0, 0, "unknown format");
    expect_reject(&g, 2, missing, 0, 0, "No such file");
    expect_reject(&g, 3, unk, 0, 0, "unknown format");
    if (geteuid() != 0) {
        const char *locked = tu_path("in/locked.txt");
        tu_write_str(locked, "secret");
        chmod(locked, 0);
        got h = {0};
        read_one(locked, &h);
        cr_expect(eq(sz, h.nd, 0));
        cr_assert(eq(sz, h.nj, 1));
        expect_reject(&h, 0, locked, 0, 0, "Permission denied");
    }
}

Test(reader, text_with_nul_bytes_is_rejected, .init = setup, .fini = teardown)
{
    /* Beyond the sniffed prefix, so the format is text and the NUL is found later. */
    size_t n = 100000;
    char *t = malloc(n);
    memset(t, 'a', n);
    t[90000] = 0;
    const char *path = tu_path("in/nul.txt");
    tu_write_file(path, t, n);
    got g = {0};
    read_one(path, &g);
    cr_assert(eq(sz, g.nd, 0));
    cr_assert(eq(sz, g.nj, 1));
    expect_reject(&g, 0, path, 0, 90000, "NUL byte");
    free(t);
}

/* ---------------------------------------------------------------------- */
/* archives and compressed streams                                        */

static void sh(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Run a shell command in the temp dir; the test fails if it fails. */
static void sh(const char *fmt, ...)
{
    char cmd[4096], full[8192];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(cmd, sizeof cmd, fmt, ap);
    va_end(ap);
    snprintf(full, sizeof full, "cd '%s' && %s", tu_path(""), cmd);
    char *err = NULL;
    int st = tu_run(full, NULL, &err);
    cr_assert(eq(int, st, 0), "command failed: %s\n%s", cmd, err ? err : "");
    free(err);
}

/* The tree every archive test packs: JSON Lines, text and HTML. */
static void make_tree(void)
{
    mkdir(tu_path("t"), 0755);
    mkdir(tu_path("t/d"), 0755);
    mkdir(tu_path("t/d/sub"), 0755);
    tu_write_str(tu_path("t/d/x.jsonl"), "{\"id\":\"a1\",\"text\":\"甲\"}\n{\"text\":\"乙\"}\n");
    tu_write_str(tu_path("t/d/sub/n.txt"), "深圳大学");
    tu_write_str(tu_path("t/d/sub/p.html"), "<title>T</title><p>深圳<b>大学</b></p>");
}

/* What reading the tree packed under `prefix` must give, in archive order. */
static void expect_tree(const got *g, size_t first, const char *prefix, const char *jsonl_member)
{
    char src[1024], key[1100];
    cr_assert(ge(sz, g->nd, first + 4));
    snprintf(src, sizeof src, "%s!%s", prefix, jsonl_member);
    cr_expect(eq(str, g->d[first].key, "a1"));
    cr_expect(eq(str, g->d[first].source, src));
    cr_expect(eq(str, g->d[first].text, "甲"));
    snprintf(key, sizeof key, "%s:2", src);
    cr_expect(eq(str, g->d[first + 1].key, key));
    cr_expect(eq(u64, g->d[first + 1].offset, strlen("{\"id\":\"a1\",\"text\":\"甲\"}\n")));
    snprintf(src, sizeof src, "%s!d/sub/n.txt", prefix);
    cr_expect(eq(str, g->d[first + 2].key, src));
    cr_expect(eq(str, g->d[first + 2].text, "深圳大学"));
    snprintf(src, sizeof src, "%s!d/sub/p.html", prefix);
    cr_expect(eq(str, g->d[first + 3].key, src));
    cr_expect(eq(str, g->d[first + 3].text, "深圳大学"));
    cr_expect(eq(str, g->d[first + 3].title, "T"));
    for (size_t i = first; i < first + 4; i++)
        cr_expect(eq(u64, g->d[i].record, i - first));
}

Test(reader, tar_zip_and_compressed_tars, .init = setup, .fini = teardown)
{
    make_tree();
    /* Explicit member order, so the expected order does not depend on readdir. */
    const char *members = "d/x.jsonl d/sub/n.txt d/sub/p.html";
    sh("cd t && tar cf ../a.tar %s && zip -q ../a.zip %s", members, members);
    sh("gzip -kc a.tar > a.tar.gz && bzip2 -kc a.tar > a.tar.bz2 && xz -kc a.tar > a.txz && "
       "zstd -qc a.tar > a.tar.zst");
    const char *names[] = {"a.tar", "a.zip", "a.tar.gz", "a.tar.bz2", "a.txz", "a.tar.zst"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        got g = {0};
        read_one(tu_path(names[i]), &g);
        dump(&g);
        cr_expect(eq(sz, g.nj, 0), "%s", names[i]);
        cr_expect(eq(sz, g.nd, 4), "%s", names[i]);
        expect_tree(&g, 0, tu_path(names[i]), "d/x.jsonl");
        cr_expect(eq(u64, g.prog.bytes, g.prog.total_bytes), "%s", names[i]);
    }
}

Test(reader, compressed_streams, .init = setup, .fini = teardown)
{
    make_tree();
    sh("cp t/d/x.jsonl x.jsonl && gzip -k x.jsonl && bzip2 -k x.jsonl && xz -k x.jsonl && "
       "zstd -q x.jsonl && cp t/d/sub/p.html p.html && gzip p.html");
    const char *names[] = {"x.jsonl.gz", "x.jsonl.bz2", "x.jsonl.xz", "x.jsonl.zst"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        got g = {0};
        read_one(tu_path(names[i]), &g);
        cr_assert(eq(sz, g.nd, 2), "%s", names[i]);
        cr_expect(eq(sz, g.nj, 0));
        /* A compressed stream is one source: no "!member". */
        cr_expect(eq(str, g.d[0].source, (char *)tu_path(names[i])));
        cr_expect(eq(str, g.d[1].text, "乙"));
        char key[1100];
        snprintf(key, sizeof key, "%s:2", tu_path(names[i]));
        cr_expect(eq(str, g.d[1].key, key));
    }
    got g = {0};
    read_one(tu_path("p.html.gz"), &g);
    cr_assert(eq(sz, g.nd, 1));
    cr_expect(eq(str, g.d[0].format, "html"));
    cr_expect(eq(str, g.d[0].text, "深圳大学"));
}

Test(reader, zip_of_compressed_jsonl_and_archive_in_archive, .init = setup, .fini = teardown)
{
    make_tree();
    sh("cd t && gzip -k d/x.jsonl && zip -q ../n.zip d/x.jsonl.gz d/sub/n.txt d/sub/p.html");
    got g = {0};
    read_one(tu_path("n.zip"), &g);
    dump(&g);
    cr_expect(eq(sz, g.nj, 0));
    cr_assert(eq(sz, g.nd, 4));
    expect_tree(&g, 0, tu_path("n.zip"), "d/x.jsonl.gz");
    /* A zip inside a tar.gz, and the limit on nesting depth. */
    sh("cd t && zip -q ../inner.zip d/x.jsonl.gz d/sub/n.txt d/sub/p.html && cd .. && "
       "tar czf outer.tgz inner.zip && zip -q deep.zip outer.tgz && gzip -k deep.zip");
    got h = {0};
    read_one(tu_path("outer.tgz"), &h);
    cr_expect(eq(sz, h.nj, 0));
    char prefix[1100];
    snprintf(prefix, sizeof prefix, "%s!inner.zip", tu_path("outer.tgz"));
    expect_tree(&h, 0, prefix, "d/x.jsonl.gz");
    got k = {0};
    read_one(tu_path("deep.zip.gz"), &k);
    dump(&k);
    /*
     * Three containers deep at most: deep.zip.gz (gzip and zip are one
     * libarchive reader), outer.tgz, inner.zip; the .gz inside is refused,
     * its siblings are read.
     */
    cr_assert(eq(sz, k.nd, 2));
    cr_expect(eq(str, k.d[0].text, "深圳大学"));
    cr_assert(eq(sz, k.nj, 1));
    snprintf(prefix, sizeof prefix, "%s!outer.tgz!inner.zip!d/x.jsonl.gz", tu_path("deep.zip.gz"));
    expect_reject(&k, 0, prefix, 0, 0, "nested more than");
}

#include <archive.h>
#include <archive_entry.h>

/* Write an archive with libarchive's writer (the only 7z producer we can count on). */
static void write_archive(const char *path, int (*set_format)(struct archive *),
                          const char *const *names, const char *const *datas, size_t n)
{
    struct archive *a = archive_write_new();
    cr_assert(eq(int, set_format(a), ARCHIVE_OK));
    cr_assert(eq(int, archive_write_open_filename(a, path), ARCHIVE_OK), "%s",
              archive_error_string(a));
    for (size_t i = 0; i < n; i++) {
        struct archive_entry *e = archive_entry_new();
        archive_entry_set_pathname(e, names[i]);
        archive_entry_set_size(e, (la_int64_t)strlen(datas[i]));
        archive_entry_set_filetype(e, AE_IFREG);
        archive_entry_set_perm(e, 0644);
        cr_assert(eq(int, archive_write_header(a, e), ARCHIVE_OK));
        cr_assert(eq(long, (long)archive_write_data(a, datas[i], strlen(datas[i])),
                     (long)strlen(datas[i])));
        archive_entry_free(e);
    }
    archive_write_close(a);
    archive_write_free(a);
}

Test(reader, seven_zip_through_libarchive, .init = setup, .fini = teardown)
{
    const char *names[] = {"d/x.jsonl", "d/sub/n.txt", "d/sub/p.html", "d/empty.txt"};
    const char *datas[] = {"{\"id\":\"a1\",\"text\":\"甲\"}\n{\"text\":\"乙\"}\n", "深圳大学",
                           "<title>T</title><p>深圳<b>大学</b></p>", ""};
    const char *path = tu_path("a.7z");
    write_archive(path, archive_write_set_format_7zip, names, datas, 4);
    got g = {0};
    read_one(path, &g);
    dump(&g);
    cr_assert(eq(sz, g.nd, 4));
    expect_tree(&g, 0, path, "d/x.jsonl");
    cr_assert(eq(sz, g.nj, 1));
    char src[1100];
    snprintf(src, sizeof src, "%s!d/empty.txt", path);
    expect_reject(&g, 0, src, 0, 0, "empty file");
}

Test(reader, chinese_member_names_in_a_legacy_charset, .init = setup, .fini = teardown)
{
    /* Windows zip tools store GBK names without the UTF-8 flag. */
    char gbk[64];
    FILE *p = popen("printf '公告.txt' | iconv -f UTF-8 -t GBK", "r");
    size_t n = fread(gbk, 1, sizeof gbk - 1, p);
    pclose(p);
    gbk[n] = 0;
    const char *names[] = {gbk};
    const char *datas[] = {"正文"};
    const char *path = tu_path("gbk.zip");
    write_archive(path, archive_write_set_format_zip, names, datas, 1);
    got g = {0};
    read_one(path, &g);
    cr_assert(eq(sz, g.nd, 1));
    char want[1100];
    snprintf(want, sizeof want, "%s!公告.txt", path);
    cr_expect(eq(str, g.d[0].source, want));
}

/* Lines of the generated big JSON Lines file. */
static void make_big_jsonl(const char *path, int n)
{
    FILE *f = fopen(path, "wb");
    for (int i = 0; i < n; i++)
        fprintf(f, "{\"id\":\"k%d\",\"text\":\"深圳大学 %d 采购项目 %d\"}\n", i, i, i * 7);
    fclose(f);
}

Test(reader, truncated_and_corrupt_compressed_data, .init = setup, .fini = teardown)
{
    make_big_jsonl(tu_path("big.jsonl"), 40000);
    sh("gzip -k big.jsonl && n=$(stat -c %%s big.jsonl.gz) && head -c $((n / 2)) big.jsonl.gz "
       "> cut.jsonl.gz && zstd -q big.jsonl && n=$(stat -c %%s big.jsonl.zst) && "
       "head -c $((n / 2)) big.jsonl.zst > cut.jsonl.zst && zip -q big.zip big.jsonl && "
       "n=$(stat -c %%s big.zip) && head -c $((n / 2)) big.zip > cut.zip && "
       "tar cf t.tar big.jsonl.gz && head -c 20000 t.tar > cut.tar");
    const char *names[] = {"cut.jsonl.gz", "cut.jsonl.zst", "cut.zip", "cut.tar"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        const char *after = tu_path("after.txt");
        tu_write_str(after, "after");
        const char *in[] = {tu_path(names[i]), after};
        got g = {0};
        read_all(in, 2, &g);
        /* Every document returned is one of the originals, in order, then the next file. */
        cr_assert(ge(sz, g.nd, 1), "%s", names[i]);
        for (size_t k = 0; k + 1 < g.nd; k++) {
            char key[32];
            snprintf(key, sizeof key, "k%zu", k);
            cr_assert(eq(str, g.d[k].key, key), "%s", names[i]);
        }
        cr_expect(eq(str, g.d[g.nd - 1].text, "after"), "%s", names[i]);
        cr_assert(eq(sz, g.nj, 1), "%s", names[i]);
        cr_expect(strstr(g.j[0].source, names[i]) != NULL);
        cr_expect(strstr(g.j[0].reason, "truncated") != NULL ||
                      strstr(g.j[0].reason, "corrupt") != NULL ||
                      strstr(g.j[0].reason, "Truncated") != NULL,
                  "%s: %s", names[i], g.j[0].reason);
        fprintf(stderr, "%s: %zu docs, reject at %llu: %s\n", names[i], g.nd - 1,
                (unsigned long long)g.j[0].offset, g.j[0].reason);
        if (strstr(names[i], "jsonl")) {
            /* A stream cut in half yields about half the lines, and the offset says where. */
            cr_expect(gt(sz, g.nd - 1, 10000), "%s", names[i]);
            cr_expect(gt(u64, g.j[0].offset, 0));
        }
    }
    /* Garbage in the middle of a zip member. */
    size_t zn = 0;
    char *z = tu_read_file(tu_path("big.zip"), &zn);
    for (size_t i = zn / 2; i < zn / 2 + 64; i++)
        z[i] ^= 0x5A;
    tu_write_file(tu_path("bad.zip"), z, zn);
    free(z);
    got g = {0};
    read_one(tu_path("bad.zip"), &g);
    /*
     * Deflate may turn the damage into garbage rather than an error: lines
     * up to the damage come out intact, garbage lines are rejected one by
     * one, and the end of the member reports the data as corrupt.
     */
    size_t intact = 0;
    while (intact < g.nd) {
        char key[32];
        snprintf(key, sizeof key, "k%zu", intact);
        if (strcmp(g.d[intact].key, key) != 0)
            break;
        intact++;
    }
    cr_expect(gt(sz, intact, 10000));
    cr_expect(lt(sz, g.nd, 40000));
    int corrupt = 0;
    for (size_t k = 0; k < g.nj; k++)
        corrupt += g.j[k].kept == 0 && strstr(g.j[k].reason, "corrupt data") != NULL;
    cr_expect(eq(int, corrupt, 1));
}

Test(reader, compressed_stdin, .init = setup, .fini = teardown)
{
    make_big_jsonl(tu_path("s.jsonl"), 100);
    sh("gzip s.jsonl");
    int fd = open(tu_path("s.jsonl.gz"), O_RDONLY);
    dup2(fd, 0);
    close(fd);
    const char *in[] = {"-"};
    got g = {0};
    read_all(in, 1, &g);
    cr_assert(eq(sz, g.nd, 100));
    cr_expect(eq(str, g.d[99].key, "k99"));
    cr_expect(eq(str, g.d[99].source, "-"));
}

Test(reader, office_files_are_not_opened_as_archives, .init = setup, .fini = teardown)
{
    make_tree();
    sh("cd t && zip -q ../report.docx d/x.jsonl");
    got g = {0};
    read_one(tu_path("report.docx"), &g);
    cr_expect(eq(sz, g.nd, 0));
    cr_assert(eq(sz, g.nj, 1));
    expect_reject(&g, 0, tu_path("report.docx"), 0, 0, "unknown format");
}

/* ---------------------------------------------------------------------- */
/* encodings                                                              */

static const char simp[] =
    "深圳大学关于采购高性能计算服务器的招标公告。根据《中华人民共和国政府采购法》等有关规定，"
    "现就本项目进行公开招标，欢迎符合条件的供应商参加投标。项目编号：SZU2023-0315。采购内容："
    "图形处理器服务器十台，须配备英伟达A100或同等性能的加速卡，含三年原厂质保及现场技术支持。"
    "投标人须具有独立承担民事责任的能力，具有良好的商业信誉和健全的财务会计制度。投标截止时间"
    "为四月十日上午九时三十分，逾期送达的投标文件将被拒收。联系人：王老师，联系电话见采购文件。";
static const char trad[] =
    "香港科技大學關於採購高效能運算伺服器的招標公告。根據有關規定，現就本項目進行公開招標，"
    "歡迎符合條件的供應商參加投標。採購內容：圖形處理器伺服器十台，須配備輝達加速卡，含三年原廠"
    "保固及現場技術支援。投標人須具有獨立承擔民事責任的能力，具有良好的商業信譽和健全的財務會計"
    "制度。投標截止時間為四月十日上午九時三十分，逾期送達的投標文件將被拒收。聯絡人：陳先生。"
    "許功蓋";
static const char hk[] = "呢個項目嘅招標文件喺網站度下載，佢哋話啲伺服器要喺三個月內交貨，"
                         "冇問題嘅話請聯絡我哋。";

/* Write `utf8` converted to `charset` by iconv (an independent converter). */
static void write_in(const char *name, const char *charset, const char *utf8)
{
    tu_write_str(tu_path("src.utf8"), utf8);
    sh("iconv -f UTF-8 -t %s src.utf8 > 'in/%s'", charset, name);
}

Test(reader, legacy_encodings_are_detected, .init = setup, .fini = teardown)
{
    char both[4096];
    snprintf(both, sizeof both, "%s%s", hk, trad);
    const struct {
        const char *name, *charset, *text, *want_enc;
    } cases[] = {
        {"gb18030.txt", "GB18030", simp, "GB18030"},     {"gbk.txt", "GBK", simp, "GB18030"},
        {"gb2312.txt", "GB2312", simp, "GB18030"},       {"big5.txt", "BIG5", trad, "Big5"},
        {"hkscs.txt", "BIG5-HKSCS", both, "Big5-HKSCS"}, {"utf16.txt", "UTF-16", simp, "UTF-16LE"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        write_in(cases[i].name, cases[i].charset, cases[i].text);
        char path[256];
        snprintf(path, sizeof path, "in/%s", cases[i].name);
        got g = {0};
        read_one(tu_path(path), &g);
        cr_assert(eq(sz, g.nd, 1), "%s", cases[i].name);
        cr_expect(eq(str, g.d[0].encoding, (char *)cases[i].want_enc), "%s", cases[i].name);
        cr_expect(eq(str, g.d[0].text, (char *)cases[i].text), "%s", cases[i].name);
        cr_expect(eq(sz, g.d[0].invalid, 0));
        cr_expect(eq(sz, g.nj, 0), "%s", cases[i].name);
    }
}

Test(reader, legacy_encoded_json_lines, .init = setup, .fini = teardown)
{
    /* Big5 trail bytes include '\\' (許 = B3 5C): lines must be decoded before parsing. */
    char lines[8192];
    snprintf(lines, sizeof lines,
             "{\"id\":\"t1\",\"title\":\"許功蓋\",\"text\":\"%s\"}\n"
             "{\"id\":\"t2\",\"text\":\"%s\",\"機關\":\"香港\"}\n",
             trad, trad);
    write_in("big5.jsonl", "BIG5", lines);
    snprintf(lines, sizeof lines,
             "{\"id\":\"s1\",\"text\":\"%s\"}\n{\"id\":\"s2\",\"text\":\"%s\"}\n", simp, simp);
    write_in("gb.jsonl", "GB18030", lines);
    got g = {0};
    const char *in[] = {tu_path("in/big5.jsonl"), tu_path("in/gb.jsonl")};
    read_all(in, 2, &g);
    dump(&g);
    cr_assert(eq(sz, g.nd, 4));
    cr_expect(eq(sz, g.nj, 0));
    cr_expect(eq(str, g.d[0].title, "許功蓋"));
    cr_expect(eq(str, g.d[0].text, (char *)trad));
    cr_expect(eq(str, g.d[0].encoding, "Big5"));
    cr_expect(eq(str, g.d[1].meta, "機關=香港"));
    cr_expect(eq(str, g.d[2].text, (char *)simp));
    cr_expect(eq(str, g.d[3].encoding, "GB18030"));
    /* Offsets are in the source bytes, not in the decoded text. */
    size_t line1 = 0;
    char *raw = tu_read_file(tu_path("in/big5.jsonl"), NULL);
    line1 = (size_t)(strchr(raw, '\n') - raw) + 1;
    free(raw);
    cr_expect(eq(u64, g.d[1].offset, line1));
}

Test(reader, legacy_lines_after_an_ascii_start, .init = setup, .fini = teardown)
{
    /* 1.3 MB of ASCII lines, more than the sniffed prefix, then GB18030. */
    FILE *f = fopen(tu_path("src.utf8"), "wb");
    for (int i = 0; i < 20000; i++)
        fprintf(f, "{\"id\":\"a%05d\",\"text\":\"plain ascii line number %05d, more\"}\n", i, i);
    fprintf(f, "{\"id\":\"gb\",\"text\":\"%s\"}\n{\"id\":\"gb2\",\"text\":\"%s\"}\n", simp, simp);
    fclose(f);
    sh("iconv -f UTF-8 -t GB18030 src.utf8 > in/late.jsonl");
    got g = {0};
    read_one(tu_path("in/late.jsonl"), &g);
    cr_assert(eq(sz, g.nd, 20002));
    cr_expect(eq(sz, g.nj, 0));
    cr_expect(eq(str, g.d[20000].text, (char *)simp));
    cr_expect(eq(str, g.d[20000].encoding, "GB18030"));
    cr_expect(eq(str, g.d[20001].encoding, "GB18030"));
    cr_expect(eq(str, g.d[0].encoding, "UTF-8"));
}

Test(reader, forced_and_declared_encodings, .init = setup, .fini = teardown)
{
    /* Too short for detection: only the declaration or the option can tell. */
    write_in("short.txt", "GB18030", "深圳大学");
    char html[1024];
    snprintf(html, sizeof html,
             "<html><head><meta charset=\"gb2312\"><title>公告</title></head>"
             "<body><p>深圳大学</p></body></html>");
    write_in("meta.html", "GB18030", html);
    snprintf(html, sizeof html,
             "<html><head><META HTTP-EQUIV=\"Content-Type\" "
             "CONTENT=\"text/html; charset=big5\"></head><body>香港大學</body>"
             "</html>");
    write_in("equiv.html", "BIG5", html);
    /* Declared UTF-8, actually GB18030: the bytes win. */
    snprintf(html, sizeof html,
             "<html><head><meta charset=\"utf-8\"></head><body><p>%s</p>"
             "</body></html>",
             simp);
    write_in("liar.html", "GB18030", html);
    got g = {0};
    tdx_reader_opts o = {.encoding = "gbk"};
    const char *in1 = tu_path("in/short.txt");
    read_all_opts(&in1, 1, &o, &g);
    cr_assert(eq(sz, g.nd, 1));
    cr_expect(eq(str, g.d[0].text, "深圳大学"));
    cr_expect(eq(str, g.d[0].encoding, "GB18030"));
    got h = {0};
    const char *in2[] = {tu_path("in/meta.html"), tu_path("in/equiv.html"),
                         tu_path("in/liar.html")};
    read_all(in2, 3, &h);
    dump(&h);
    cr_assert(eq(sz, h.nd, 3));
    cr_expect(eq(str, h.d[0].text, "深圳大学"));
    cr_expect(eq(str, h.d[0].title, "公告"));
    cr_expect(eq(str, h.d[0].encoding, "GB18030"));
    cr_expect(eq(str, h.d[1].text, "香港大學"));
    cr_expect(eq(str, h.d[1].encoding, "Big5"));
    cr_expect(eq(str, h.d[2].text, (char *)simp));
    cr_expect(eq(str, h.d[2].encoding, "GB18030"));
    cr_expect(eq(sz, h.nj, 0));
}

Test(reader, invalid_bytes_in_a_declared_encoding, .init = setup, .fini = teardown)
{
    /* 0x81 0x20 is no GB18030 sequence. */
    write_in("bad.txt", "GB18030", "深圳");
    char *raw = tu_read_file(tu_path("in/bad.txt"), NULL);
    char data[64];
    snprintf(data, sizeof data, "%s\x81 %s", raw, raw);
    free(raw);
    tu_write_str(tu_path("in/bad.txt"), data);
    got g = {0};
    tdx_reader_opts o = {.encoding = "GB18030"};
    const char *in = tu_path("in/bad.txt");
    read_all_opts(&in, 1, &o, &g);
    dump(&g);
    cr_assert(eq(sz, g.nd, 1));
    cr_expect(eq(str, g.d[0].text, "深圳\xEF\xBF\xBD 深圳"));
    cr_expect(eq(sz, g.d[0].invalid, 1));
    cr_assert(eq(sz, g.nj, 1));
    expect_reject(&g, 0, in, 0, 4, "1 invalid GB18030 byte sequence");
    cr_expect(eq(int, g.j[0].kept, 1));
}

Test(reader, utf16_json_lines_are_refused, .init = setup, .fini = teardown)
{
    write_in("w.jsonl", "UTF-16", "{\"text\":\"x\"}\n");
    tu_write_str(tu_path("in/ok.jsonl"), "\xEF\xBB\xBF{\"text\":\"bom\"}\n");
    /* No extension: a UTF-16 page is sniffed by its first character, not taken for binary. */
    write_in("page16", "UTF-16BE", "\xEF\xBB\xBF<p>深圳<b>大学</b></p>");
    got g = {0};
    const char *in[] = {tu_path("in/w.jsonl"), tu_path("in/ok.jsonl"), tu_path("in/page16")};
    read_all(in, 3, &g);
    cr_assert(eq(sz, g.nd, 2));
    cr_expect(eq(str, g.d[0].text, "bom"));
    cr_expect(eq(u64, g.d[0].offset, 3));
    cr_expect(eq(str, g.d[1].text, "深圳大学"));
    cr_expect(eq(str, g.d[1].format, "html"));
    cr_expect(eq(str, g.d[1].encoding, "UTF-16BE"));
    cr_assert(eq(sz, g.nj, 1));
    expect_reject(&g, 0, in[0], 0, 0, "UTF-16LE JSON Lines are not supported");
}

/* ---------------------------------------------------------------------- */
/* HTML                                                                   */

Test(reader, html_visible_text, .init = setup, .fini = teardown)
{
    const char *page =
        "<!DOCTYPE html><HTML><head><title>\n  招标  公告 </title>"
        "<meta name=\"PubDate\" content=\"2023年03月15日\">"
        "<style>p{color:red}</style><script>document.write('深圳大学')</script></head>\n"
        "<body><div>深圳<span>大学</span><b>采购</b></div>\n"
        "<p>第一段&amp;&lt;&#x6DF1;&#22323;&nbsp;&nbsp;大学</p>"
        "<template><p>模板</p></template><noscript>请启用脚本</noscript>"
        "<p hidden>隐藏</p><!-- 注释 -->"
        "<ul><li>甲</li><li>乙</li></ul>行一<br>行二<br/>"
        "<table><tr><td>单位</td><td>金额</td></tr><tr><td>A</td><td>1</td></tr></table>"
        "<pre>  保留\n  空白</pre>"
        "<p>Unclosed <i>inline";
    tu_write_str(tu_path("in/p.html"), page);
    got g = {0};
    read_one(tu_path("in/p.html"), &g);
    cr_assert(eq(sz, g.nd, 1));
    cr_expect(eq(str, g.d[0].format, "html"));
    cr_expect(eq(str, g.d[0].title, "招标 公告"));
    cr_expect(eq(str, g.d[0].date, "2023-03-15"));
    cr_expect(eq(int, g.d[0].date_parsed, 1));
    cr_expect(eq(str, g.d[0].text,
                 "深圳大学采购\n"
                 "第一段&<深圳 大学\n"
                 "甲\n乙\n"
                 "行一\n行二\n"
                 "单位\t金额\nA\t1\n"
                 "  保留\n  空白\n"
                 "Unclosed inline"));
}

Test(reader, html_sniffed_by_content_and_forced_format, .init = setup, .fini = teardown)
{
    tu_write_str(tu_path("in/page"), "  <div>正文<br>第二行</div>");
    tu_write_str(tu_path("in/raw.html"), "<p>tags kept as text</p>");
    got g = {0};
    read_one(tu_path("in/page"), &g);
    cr_assert(eq(sz, g.nd, 1));
    cr_expect(eq(str, g.d[0].format, "html"));
    cr_expect(eq(str, g.d[0].text, "正文\n第二行"));
    got h = {0};
    tdx_reader_opts o = {.format = "text"};
    const char *in = tu_path("in/raw.html");
    read_all_opts(&in, 1, &o, &h);
    cr_assert(eq(sz, h.nd, 1));
    cr_expect(eq(str, h.d[0].text, "<p>tags kept as text</p>"));
    cr_expect(eq(str, h.d[0].format, "text"));
}

/* ---------------------------------------------------------------------- */
/* dates                                                                  */

Test(reader, dates_to_iso8601)
{
    const struct {
        const char *in, *out; /* out NULL: not a date */
    } cases[] = {
        {"2023-03-15", "2023-03-15"},
        {"2023/03/15", "2023-03-15"},
        {"2023/3/5", "2023-03-05"},
        {"2023.03.15", "2023-03-15"},
        {"2023年3月15日", "2023-03-15"},
        {"2023年03月15号", "2023-03-15"},
        {"2023 年 3 月 15 日", "2023-03-15"},
        {"２０２３年３月１５日", "2023-03-15"},
        {"二〇二三年三月十五日", "2023-03-15"},
        {"二〇二三年十二月三十一日", "2023-12-31"},
        {"二〇二〇年二月二十九日", "2020-02-29"},
        {"20230315", "2023-03-15"},
        {"2023-03-15 10:00:00", "2023-03-15T10:00:00"},
        {"2023-03-15 10:00", "2023-03-15T10:00:00"},
        {"2023-03-15T10:00:00Z", "2023-03-15T10:00:00"},
        {"2023-03-15T10:00:00.123+08:00", "2023-03-15T10:00:00"},
        {"2023年3月15日 9时30分", "2023-03-15T09:30:00"},
        {"2023年3月15日9点", "2023-03-15T09:00:00"},
        {" 2023-03-15 ", "2023-03-15"},
        {"1678838400", "2023-03-15T08:00:00"},
        {"1678838400000", "2023-03-15T08:00:00"},
        {"2023-02-29", NULL},
        {"2023-13-01", NULL},
        {"2023-03-15 25:00", NULL},
        {"2023-03", NULL},
        {"2023/03-15", NULL},
        {"15/03/2023", NULL},
        {"三月十五日", NULL},
        {"yesterday", NULL},
        {"", NULL},
        {"2023-03-15 10:00 extra", NULL},
        {"202303150", NULL},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char out[TDX_DATE_MAX] = "";
        int ok = tdx_reader_date_parse(cases[i].in, strlen(cases[i].in), out);
        if (cases[i].out) {
            cr_expect(eq(int, ok, 1), "'%s' should parse", cases[i].in);
            cr_expect(eq(str, out, (char *)cases[i].out), "'%s'", cases[i].in);
        } else {
            cr_expect(eq(int, ok, 0), "'%s' should not parse (got %s)", cases[i].in, out);
        }
    }
}

Test(reader, unparsed_dates_are_kept_and_counted, .init = setup, .fini = teardown)
{
    tu_write_str(tu_path("in/d.jsonl"), "{\"text\":\"a\",\"date\":\"2023年3月15日\"}\n"
                                        "{\"text\":\"b\",\"date\":\"上周三\"}\n"
                                        "{\"text\":\"c\",\"date\":20230316}\n"
                                        "{\"text\":\"d\"}\n");
    got g = {0};
    read_one(tu_path("in/d.jsonl"), &g);
    cr_assert(eq(sz, g.nd, 4));
    cr_expect(eq(str, g.d[0].date, "2023-03-15"));
    cr_expect(eq(str, g.d[1].date, "上周三"));
    cr_expect(eq(int, g.d[1].date_parsed, 0));
    cr_expect(eq(str, g.d[2].date, "2023-03-16"));
    cr_expect(eq(str, g.d[3].date, ""));
    cr_expect(eq(u64, g.prog.dates_unparsed, 1));
}

/* ---------------------------------------------------------------------- */
/* the JSON parser against jansson, on seeded random lines                */

#include <dlfcn.h>
#include <jansson.h>

/*
 * jansson is loaded at run time: it is the reference for this test only
 * and is not a dependency of the engine.
 */
typedef struct jansson_api {
    json_t *(*loadb)(const char *, size_t, size_t, json_error_t *);
    void *(*iter)(json_t *);
    void *(*iter_next)(json_t *, void *);
    const char *(*iter_key)(void *);
    size_t (*iter_key_len)(void *);
    json_t *(*iter_value)(void *);
    const char *(*string_value)(const json_t *);
    size_t (*string_length)(const json_t *);
    json_int_t (*integer_value)(const json_t *);
    double (*real_value)(const json_t *);
    void (*del)(json_t *);
} jansson_api;

static void load_jansson(jansson_api *j)
{
    void *h = dlopen("libjansson.so.4", RTLD_NOW);
    cr_assert(h != NULL, "libjansson.so.4 not found (scripts/setup.sh installs it): %s", dlerror());
#define SYM(field, name)                                                                           \
    do {                                                                                           \
        *(void **)&j->field = dlsym(h, name);                                                      \
        cr_assert(j->field != NULL, "jansson lacks %s", name);                                     \
    } while (0)
    SYM(loadb, "json_loadb");
    SYM(iter, "json_object_iter");
    SYM(iter_next, "json_object_iter_next");
    SYM(iter_key, "json_object_iter_key");
    SYM(iter_key_len, "json_object_iter_key_len");
    SYM(iter_value, "json_object_iter_value");
    SYM(string_value, "json_string_value");
    SYM(string_length, "json_string_length");
    SYM(integer_value, "json_integer_value");
    SYM(real_value, "json_real_value");
    SYM(del, "json_delete");
#undef SYM
}

typedef struct gen {
    uint64_t rng;
    char *p;
    size_t n, cap;
} gen;

static void gput(gen *g, const char *s, size_t n)
{
    if (g->n + n + 1 > g->cap) {
        g->cap = (g->n + n + 1) * 2;
        g->p = realloc(g->p, g->cap);
    }
    memcpy(g->p + g->n, s, n);
    g->n += n;
    g->p[g->n] = 0;
}

static void gputs(gen *g, const char *s)
{
    gput(g, s, strlen(s));
}

static unsigned rnd(gen *g, unsigned n)
{
    return (unsigned)(tu_rand(&g->rng) % n);
}

static void gen_ws(gen *g)
{
    static const char *const ws[] = {"", "", "", " ", "\t", " \r ", "  "};
    gputs(g, ws[rnd(g, 7)]);
}

static void gen_string(gen *g)
{
    static const char *const pieces[] = {
        "a",
        "深圳",
        "大学",
        " ",
        "\\n",
        "\\\"",
        "\\\\",
        "\\/",
        "\\b",
        "\\f",
        "\\r",
        "\\t",
        "\\u00e9",
        "\\u6DF1",
        "\\uD83D\\uDE00",
        "\xE2\x80\xA8",
        "\xC2\x85",
        "😀",
        "'",
        "{}[]:,",
        "é",
    };
    gputs(g, "\"");
    unsigned n = rnd(g, 8);
    for (unsigned i = 0; i < n; i++)
        gputs(g, pieces[rnd(g, sizeof pieces / sizeof pieces[0])]);
    gputs(g, "\"");
}

static void gen_value(gen *g, int depth)
{
    char b[64];
    switch (rnd(g, depth < 3 ? 9 : 7)) {
    case 0:
    case 1:
        gen_string(g);
        break;
    case 2:
        snprintf(b, sizeof b, "%lld",
                 (long long)(tu_rand(&g->rng) % 2000000000000ULL) - 1000000000000LL);
        gputs(g, b);
        break;
    case 3:
        snprintf(b, sizeof b, "%s%u.%u%s", rnd(g, 2) ? "-" : "", rnd(g, 1000), rnd(g, 1000),
                 rnd(g, 2)   ? "e-3"
                 : rnd(g, 2) ? "E+2"
                             : "");
        gputs(g, b);
        break;
    case 4:
        gputs(g, "true");
        break;
    case 5:
        gputs(g, rnd(g, 2) ? "false" : "null");
        break;
    case 6:
        gputs(g, rnd(g, 2) ? "0" : "-0");
        break;
    case 7: {
        gputs(g, "[");
        unsigned n = rnd(g, 4);
        for (unsigned i = 0; i < n; i++) {
            if (i)
                gputs(g, ",");
            gen_ws(g);
            gen_value(g, depth + 1);
            gen_ws(g);
        }
        gputs(g, "]");
        break;
    }
    default: {
        gputs(g, "{");
        unsigned n = rnd(g, 4);
        for (unsigned i = 0; i < n; i++) {
            if (i)
                gputs(g, ",");
            gen_ws(g);
            gen_string(g);
            gen_ws(g);
            gputs(g, ":");
            gen_value(g, depth + 1);
        }
        gputs(g, "}");
        break;
    }
    }
}

static void gen_line(gen *g)
{
    static const char *const keys[] = {"\"id\"", "\"text\"", "\"title\"", "\"date\"", "\"k\""};
    g->n = 0;
    gen_ws(g);
    gputs(g, "{");
    unsigned n = rnd(g, 7);
    for (unsigned i = 0; i < n; i++) {
        if (i)
            gputs(g, ",");
        gen_ws(g);
        if (rnd(g, 3))
            gputs(g, keys[rnd(g, 5)]); /* repeated keys: the last one wins */
        else
            gen_string(g);
        gen_ws(g);
        gputs(g, ":");
        gen_ws(g);
        gen_value(g, 1);
        gen_ws(g);
    }
    gputs(g, "}");
    gen_ws(g);
}

static void mutate(gen *g)
{
    static const char bytes[] = "\"\\{}[],:0123456789eE+-.tfnu \t\x01\x1f/ab";
    if (g->n == 0)
        return;
    size_t at = rnd(g, (unsigned)g->n);
    char c = bytes[rnd(g, sizeof bytes - 1)];
    switch (rnd(g, 4)) {
    case 0: /* delete */
        memmove(g->p + at, g->p + at + 1, g->n - at);
        g->n--;
        break;
    case 1: /* insert */
        gput(g, "x", 1);
        memmove(g->p + at + 1, g->p + at, g->n - at - 1);
        g->p[at] = c;
        break;
    case 2: /* replace */
        g->p[at] = c;
        break;
    default: /* truncate */
        g->n = at;
        g->p[at] = 0;
        break;
    }
}

/*
 * Compare one line; returns 1 when both accept, 2 when both reject, 0 when
 * jansson's own limits (integer range) make it moot.
 */
static int compare_line(const jansson_api *j, tdx_jparser *jp, const char *line, size_t n,
                        uint64_t seed)
{
    uint8_t *copy = malloc(n + 1 + TDX_READER_SLACK);
    memcpy(copy, line, n);
    memset(copy + n, 0, 1 + TDX_READER_SLACK);
    int mine = tdx_reader_json_parse(jp, copy, n);
    cr_assert(mine == 0 || mine == 1);
    json_error_t e;
    json_t *ref = j->loadb(line, n, 0, &e);
    if (ref == NULL && (strstr(e.text, "too big") || strstr(e.text, "overflow"))) {
        free(copy);
        return 0;
    }
    int ref_ok = ref != NULL && json_is_object(ref);
    cr_assert(eq(int, mine == 0, ref_ok), "seed %llu: accept differs on [%s]: ours %s, jansson %s",
              (unsigned long long)seed, line, mine == 0 ? "ok" : jp->err,
              ref ? "ok (not an object?)" : e.text);
    if (ref_ok) {
        /* Ours lists repeats; jansson keeps the first position with the last value. */
        size_t k = 0;
        for (void *it = j->iter(ref); it; it = j->iter_next(ref, it), k++) {
            const char *key = j->iter_key(it);
            size_t klen = j->iter_key_len(it);
            const tdx_jmember *m = NULL;
            for (size_t i = 0; i < jp->n; i++)
                if (jp->m[i].key_len == klen && memcmp(jp->m[i].key, key, klen) == 0)
                    m = &jp->m[i];
            cr_assert(m != NULL, "seed %llu: key '%s' missing in [%s]", (unsigned long long)seed,
                      key, line);
            json_t *v = j->iter_value(it);
            switch (json_typeof(v)) {
            case JSON_STRING:
                cr_assert(eq(int, m->type, TDX_JSTRING));
                cr_assert(eq(sz, m->val_len, j->string_length(v)), "[%s]", line);
                cr_assert(memcmp(m->val, j->string_value(v), m->val_len) == 0, "[%s]", line);
                break;
            case JSON_INTEGER:
                cr_assert(eq(int, m->type, TDX_JNUMBER));
                cr_assert(eq(i64, strtoll(m->val, NULL, 10), (int64_t)j->integer_value(v)));
                break;
            case JSON_REAL:
                cr_assert(eq(int, m->type, TDX_JNUMBER));
                cr_assert(strtod(m->val, NULL) == j->real_value(v), "[%s]", line);
                break;
            case JSON_TRUE:
                cr_assert(eq(int, m->type, TDX_JTRUE));
                break;
            case JSON_FALSE:
                cr_assert(eq(int, m->type, TDX_JFALSE));
                break;
            case JSON_NULL:
                cr_assert(eq(int, m->type, TDX_JNULL));
                break;
            case JSON_OBJECT:
                cr_assert(eq(int, m->type, TDX_JOBJECT));
                break;
            case JSON_ARRAY:
                cr_assert(eq(int, m->type, TDX_JARRAY));
                break;
            }
        }
        size_t distinct = 0;
        for (size_t i = 0; i < jp->n; i++) {
            size_t d = 0;
            while (d < i && !(jp->m[d].key_len == jp->m[i].key_len &&
                              memcmp(jp->m[d].key, jp->m[i].key, jp->m[i].key_len) == 0))
                d++;
            distinct += d == i;
        }
        cr_assert(eq(sz, k, distinct), "[%s]", line);
    }
    if (ref)
        j->del(ref);
    free(copy);
    return ref_ok ? 1 : 2;
}

Test(reader, json_parser_agrees_with_jansson)
{
    jansson_api j;
    load_jansson(&j);
    uint64_t seed = tu_seed("json_parser_agrees_with_jansson");
    gen g = {seed, NULL, 0, 0};
    tdx_jparser jp = {0};
    size_t outcome[3] = {0, 0, 0};
    for (int i = 0; i < 20000; i++) {
        gen_line(&g);
        cr_assert(eq(int, compare_line(&j, &jp, g.p, g.n, seed), 1), "[%s]", g.p);
        for (int m = 0; m < 4; m++) {
            gen_line(&g);
            unsigned muts = 1 + rnd(&g, 3);
            for (unsigned k = 0; k < muts; k++)
                mutate(&g);
            if (memchr(g.p, '\n', g.n) || !tdx_utf8_valid((const uint8_t *)g.p, g.n))
                continue;
            outcome[compare_line(&j, &jp, g.p, g.n, seed)]++;
        }
    }
    fprintf(stderr, "corrupted lines: %zu accepted, %zu rejected, %zu out of jansson's range\n",
            outcome[1], outcome[2], outcome[0]);
    /* Both paths are exercised in bulk. */
    cr_expect(gt(sz, outcome[1], 5000));
    cr_expect(gt(sz, outcome[2], 40000));
    tdx_reader_json_free(&jp);
    free(g.p);
}

Test(reader, json_error_positions_and_depth_limit)
{
    tdx_jparser jp = {0};
    const struct {
        const char *line;
        size_t pos;
        const char *why;
    } cases[] = {
        {"", 0, "expected '{'"},
        {"{", 1, "expected a string key"},
        {"{\"a\"", 4, "expected ':'"},
        {"{\"a\":", 5, "where a value was expected"},
        {"{\"a\":1", 6, "expected ',' or '}'"},
        {"{\"a\":\"\\u12\"}", 6, "4 hex digits"},
        {"{\"a\":\"\\udc00\"}", 6, "unpaired low surrogate"},
        {"{\"a\":1.}", 7, "digit after '.'"},
        {"{\"a\":1e}", 7, "exponent"},
        {"{\"a\":-}", 6, "expected a digit"},
        {"{\"a\":[1 2]}", 8, "expected ',' or ']'"},
        {"{} {}", 3, "after the object"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        size_t n = strlen(cases[i].line);
        uint8_t *c = calloc(1, n + 1 + TDX_READER_SLACK);
        memcpy(c, cases[i].line, n);
        cr_expect(eq(int, tdx_reader_json_parse(&jp, c, n), 1), "%s", cases[i].line);
        cr_expect(eq(sz, jp.err_pos, cases[i].pos), "%s: %s", cases[i].line, jp.err);
        cr_expect(strstr(jp.err, cases[i].why) != NULL, "%s: %s", cases[i].line, jp.err);
        free(c);
    }
    /* Nesting: 511 levels below the top object are fine, 512 are not. */
    for (int depth = 511; depth <= 512; depth++) {
        size_t n = 6 + 2 * (size_t)depth + 1;
        uint8_t *c = calloc(1, n + 1 + TDX_READER_SLACK);
        memcpy(c, "{\"a\":", 5);
        memset(c + 5, '[', (size_t)depth);
        memset(c + 5 + depth, ']', (size_t)depth);
        c[5 + 2 * depth] = '}';
        n = 6 + 2 * (size_t)depth;
        int rc = tdx_reader_json_parse(&jp, c, n);
        cr_expect(eq(int, rc, depth == 511 ? 0 : 1), "depth %d: %s", depth, jp.err);
        free(c);
    }
    tdx_reader_json_free(&jp);
}

/* ---------------------------------------------------------------------- */
/* UTF-8 checks against the common decoder                                */

Test(reader, utf8_check_agrees_with_the_scalar_decoder)
{
    uint64_t seed = tu_seed("utf8_check_agrees_with_the_scalar_decoder"), st = seed;
    static const char *const pieces[] = {
        "a", "abcdefgh", "é", "深", "😀", "\xEF\xBF\xBD", "\xED\x9F\xBF", "\xF4\x8F\xBF\xBF"};
    static const uint8_t bad[] = {0x80, 0xBF, 0xC0, 0xC1, 0xE0, 0xED, 0xF0, 0xF4, 0xF5, 0xFF};
    uint8_t *buf = malloc(4096 + TDX_READER_SLACK);
    for (int iter = 0; iter < 20000; iter++) {
        size_t n = 0, want_len = tu_rand(&st) % 3000;
        while (n < want_len) {
            const char *pc = pieces[tu_rand(&st) % 8];
            memcpy(buf + n, pc, strlen(pc));
            n += strlen(pc);
        }
        if (tu_rand(&st) % 4 != 0 && n > 0) {
            size_t at = tu_rand(&st) % n;
            buf[at] = bad[tu_rand(&st) % sizeof bad];
            if (tu_rand(&st) % 2)
                n = at + 1 + tu_rand(&st) % 3 < n ? at + 1 + tu_rand(&st) % 3 : n;
        }
        memset(buf + n, 0, TDX_READER_SLACK);
        cr_assert(eq(sz, tdx_reader_utf8_check(buf, n), tdx_utf8_first_invalid(buf, n)),
                  "seed %llu iteration %d", (unsigned long long)seed, iter);
    }
    free(buf);
}

/* ---------------------------------------------------------------------- */
/* resume, limits and odd files inside archives                            */

Test(reader, skip_records_counts_across_archive_members, .init = setup, .fini = teardown)
{
    mkdir(tu_path("z"), 0755);
    tu_write_str(tu_path("z/1.jsonl"), "{\"text\":\"r0\"}\n{\"text\":\"r1\"}\nbroken\n");
    tu_write_str(tu_path("z/2.txt"), "r3");
    tu_write_str(tu_path("z/3.jsonl"), "{\"text\":\"r4\"}\n{\"text\":\"r5\"}\n");
    sh("cd z && zip -q ../r.zip 1.jsonl 2.txt 3.jsonl");
    const char *path = tu_path("r.zip");
    /* The full read numbers records 0..5 (the malformed line is record 2). */
    got all = {0};
    read_one(path, &all);
    cr_assert(eq(sz, all.nd, 5));
    cr_assert(eq(sz, all.nj, 1));
    for (uint64_t skip = 0; skip <= 6; skip++) {
        got g = {0};
        g.skip_records_path = path;
        g.skip_records_for = skip;
        read_one(path, &g);
        /* Exactly the records at or after `skip`, with the same numbers. */
        size_t k = 0;
        for (size_t i = 0; i < all.nd; i++)
            if (all.d[i].record >= skip) {
                cr_assert(lt(sz, k, g.nd));
                cr_expect(eq(str, g.d[k].text, all.d[i].text));
                cr_expect(eq(u64, g.d[k].record, all.d[i].record));
                k++;
            }
        cr_expect(eq(sz, g.nd, k), "skip %llu", (unsigned long long)skip);
        cr_expect(eq(sz, g.nj, skip <= 2 ? 1 : 0), "skip %llu", (unsigned long long)skip);
        cr_expect(eq(u64, g.prog.skipped_records, skip < 6 ? skip : 6));
    }
}

Test(reader, max_doc_bytes_inside_archives, .init = setup, .fini = teardown)
{
    mkdir(tu_path("z"), 0755);
    char big[200];
    memset(big, 'y', sizeof big - 1);
    big[sizeof big - 1] = 0;
    tu_write_str(tu_path("z/a.txt"), big);
    tu_write_str(tu_path("z/b.txt"), "small");
    char line[400];
    snprintf(line, sizeof line, "{\"text\":\"%s\"}\n{\"text\":\"ok\"}\n", big);
    tu_write_str(tu_path("z/c.jsonl"), line);
    sh("cd z && tar cf ../m.tar a.txt b.txt c.jsonl && gzip -k ../m.tar");
    got g = {0};
    tdx_reader_opts o = {.max_doc_bytes = 100};
    const char *in = tu_path("m.tar.gz");
    read_all_opts(&in, 1, &o, &g);
    dump(&g);
    cr_assert(eq(sz, g.nd, 2));
    cr_expect(eq(str, g.d[0].text, "small"));
    cr_expect(eq(str, g.d[1].text, "ok"));
    cr_expect(eq(u64, g.d[1].line, 2));
    cr_assert(eq(sz, g.nj, 2));
    char src[1100];
    snprintf(src, sizeof src, "%s!a.txt", in);
    expect_reject(&g, 0, src, 0, 0, "max-doc-bytes");
    snprintf(src, sizeof src, "%s!c.jsonl", in);
    expect_reject(&g, 1, src, 1, 0, "max-doc-bytes");
}

Test(reader, special_files_and_loops_in_directories, .init = setup, .fini = teardown)
{
    mkdir(tu_path("in/w"), 0755);
    mkdir(tu_path("in/w/sub"), 0755);
    tu_write_str(tu_path("in/w/sub/ok.txt"), "ok");
    cr_assert(eq(int, mkfifo(tu_path("in/w/pipe"), 0644), 0));
    cr_assert(eq(int, symlink("..", tu_path("in/w/sub/up")), 0));
    cr_assert(eq(int, symlink("nowhere", tu_path("in/w/dangling.txt")), 0));
    got g = {0};
    read_one(tu_path("in/w"), &g);
    dump(&g);
    /* The loop is refused, the pipe is not opened (it would block), nothing hangs. */
    cr_assert(eq(sz, g.nd, 1));
    cr_expect(eq(str, g.d[0].text, "ok"));
    cr_assert(eq(sz, g.nj, 3));
    expect_reject(&g, 0, tu_path("in/w/dangling.txt"), 0, 0, "No such file");
    expect_reject(&g, 1, tu_path("in/w/pipe"), 0, 0, "not a regular file");
    expect_reject(&g, 2, tu_path("in/w/sub/up"), 0, 0, "directory loop");
}

Test(reader, progress_counts, .init = setup, .fini = teardown)
{
    tu_write_str(tu_path("in/a.jsonl"),
                 "{\"text\":\"a\"}\nbad\n{\"text\":\"\\u00e9\",\"date\":\"?\"}\n");
    tu_write_str(tu_path("in/b.txt"), "b");
    make_tree();
    sh("cd t && tar czf ../in/c.tgz d");
    got g = {0};
    read_one(tu_path("in"), &g);
    struct stat a, b, c;
    stat(tu_path("in/a.jsonl"), &a);
    stat(tu_path("in/b.txt"), &b);
    stat(tu_path("in/c.tgz"), &c);
    uint64_t total = (uint64_t)(a.st_size + b.st_size + c.st_size);
    cr_expect(eq(u64, g.prog.total_bytes, total));
    cr_expect(eq(u64, g.prog.bytes, total));
    cr_expect(eq(u64, g.prog.total_files, 3));
    cr_expect(eq(u64, g.prog.files, 3));
    cr_expect(eq(u64, g.prog.docs, 3 + 4));
    cr_expect(eq(u64, g.prog.rejects, 1));
    cr_expect(eq(u64, g.prog.warnings, 0));
    cr_expect(eq(u64, g.prog.dates_unparsed, 1));
}

Test(reader, out_of_memory_is_returned_not_fatal, .init = setup, .fini = teardown)
{
    tu_write_str(tu_path("in/a.jsonl"),
                 "{\"id\":\"x\",\"text\":\"a\",\"m\":1}\n{\"text\":\"b\xFF\"}\n"
                 "{\"html\":\"<p>c</p>\"}\nbad\n");
    tu_write_str(tu_path("in/b.txt"), "plain");
    tu_write_str(tu_path("in/c.html"), "<title>t</title><p>d</p>");
    make_tree();
    sh("cd t && zip -qr ../in/d.zip d");
    const char *in = tu_path("in");
    long n;
    for (n = 0; n < 100000; n++) {
        tdx_reader *r = NULL;
        tdx_err err = {0};
        tdx_reader_opts o = {.fields = "title=t"};
        tdx_alloc_fail_after(n);
        int rc = tdx_reader_open(&in, 1, &o, &r, &err);
        if (rc == 0) {
            tdx_doc d;
            while ((rc = tdx_reader_next(r, &d, &err)) == 1)
                ;
        }
        tdx_alloc_fail_after(-1);
        tdx_reader_free(r);
        if (rc == 0)
            break;
        cr_assert(eq(int, rc, TDX_ENOMEM), "allocation %ld: %s", n, err.msg);
        cr_assert(eq(int, err.code, TDX_ENOMEM));
    }
    cr_expect(gt(long, n, 20), "the loop reached the end after %ld allocations", n);
    cr_expect(lt(long, n, 100000));
}

Test(reader, html_deep_nesting_is_capped_not_quadratic, .init = setup, .fini = teardown,
     .timeout = 120)
{
    /*
     * 200,000 unclosed <div>s: the HTML5 tree builder is quadratic in the
     * depth (minutes uncapped); capped like a browser it takes well under a
     * second, and the text, nested inline runs included, is kept.
     */
    size_t n = 200000;
    char *page = malloc(n * 5 + n * 6 + n * 7 + 256);
    char *p = page;
    for (size_t i = 0; i < n; i++)
        p += sprintf(p, "<div>");
    for (size_t i = 0; i < n; i++)
        p += sprintf(p, "<span>");
    p += sprintf(p, "深圳<b>大学</b>");
    for (size_t i = 0; i < n; i++)
        p += sprintf(p, "</span>");
    sprintf(p, "<p>after</p><p>end");
    tu_write_str(tu_path("in/deep.html"), page);
    free(page);
    got g = {0};
    read_one(tu_path("in/deep.html"), &g);
    cr_assert(eq(sz, g.nd, 1));
    cr_expect(eq(str, g.d[0].text, "深圳大学\nafter\nend"));
}

Test(reader, many_metadata_fields_and_repeated_keys, .init = setup, .fini = teardown,
     .timeout = 120)
{
    /* 200,000 distinct keys, then repeats of two of them: linear, last value wins. */
    size_t n = 200000;
    char *line = malloc(n * 24 + 256);
    char *p = line + sprintf(line, "{\"text\":\"t\"");
    for (size_t i = 0; i < n; i++)
        p += sprintf(p, ",\"k%zu\":%zu", i, i);
    p += sprintf(p, ",\"k7\":\"seven\",\"k150000\":true,\"text\":\"last\"}\n");
    tu_write_str(tu_path("in/wide.jsonl"), line);
    free(line);
    tdx_reader *r;
    const char *in = tu_path("in/wide.jsonl");
    cr_assert(eq(int, tdx_reader_open(&in, 1, NULL, &r, NULL), 0));
    tdx_doc d;
    cr_assert(eq(int, tdx_reader_next(r, &d, NULL), 1));
    cr_expect(eq(str, (char *)d.text, "last"));
    cr_assert(eq(sz, d.nmeta, n));
    for (size_t i = 0; i < n; i++) {
        char k[32], v[32];
        snprintf(k, sizeof k, "k%zu", i);
        snprintf(v, sizeof v, "%zu", i);
        cr_assert(eq(str, (char *)d.meta[i].key, k));
        if (i != 7 && i != 150000)
            cr_assert(eq(str, (char *)d.meta[i].val, v));
    }
    cr_expect(eq(str, (char *)d.meta[7].val, "seven"));
    cr_expect(eq(str, (char *)d.meta[150000].val, "true"));
    cr_expect(eq(int, tdx_reader_next(r, &d, NULL), 0));
    tdx_reader_free(r);
}

/* ---- file completion ---------------------------------------------------------- */

typedef struct done_log {
    char paths[8][256];
    uint64_t records[8];
    uint64_t docs_seen[8]; /* documents returned before the callback */
    uint64_t rejects_seen[8];
    int n;
    uint64_t docs, rejects;
} done_log;

static void log_done(void *ctx, const char *path, uint64_t records)
{
    done_log *l = ctx;
    if (l->n < 8) {
        snprintf(l->paths[l->n], sizeof l->paths[0], "%s", path);
        l->records[l->n] = records;
        l->docs_seen[l->n] = l->docs;
        l->rejects_seen[l->n] = l->rejects;
    }
    l->n++;
}

static void log_reject(void *ctx, const tdx_reject *r)
{
    done_log *l = ctx;
    l->rejects++;
    /* A reject's record count never runs past the file's. */
    cr_assert(le(u64, r->records, 4));
}

Test(reader, file_done_comes_after_every_record_and_reject_of_the_file, .init = setup,
     .fini = teardown)
{
    /* a: 3 good lines and a bad one last (its reject is the last event of
     * the file); b: 2 good lines. */
    tu_write_str(tu_path("in/a.jsonl"), "{\"id\":\"1\",\"text\":\"x\"}\n{\"id\":\"2\",\"text\":\"y\"}\n"
                                        "{\"id\":\"3\",\"text\":\"z\"}\n{\"id\":\n");
    tu_write_str(tu_path("in/b.jsonl"), "{\"id\":\"4\",\"text\":\"u\"}\n{\"id\":\"5\",\"text\":\"v\"}\n");
    done_log l;
    memset(&l, 0, sizeof l);
    tdx_reader_opts o = {0};
    o.on_file_done = log_done;
    o.on_reject = log_reject;
    o.ctx = &l;
    const char *in = tu_path("in");
    tdx_reader *r;
    tdx_err err = {0};
    cr_assert(eq(int, tdx_reader_open(&in, 1, &o, &r, &err), 0), "%s", err.msg);
    tdx_doc d;
    while (tdx_reader_next(r, &d, &err) == 1)
        l.docs++;
    tdx_reader_free(r);
    cr_assert(eq(int, l.n, 2));
    cr_assert(strstr(l.paths[0], "in/a.jsonl") != NULL, "%s", l.paths[0]);
    cr_assert(eq(u64, l.records[0], 4));
    cr_assert(eq(u64, l.docs_seen[0], 3));
    cr_assert(eq(u64, l.rejects_seen[0], 1), "the bad last line is reported before a is done");
    cr_assert(strstr(l.paths[1], "in/b.jsonl") != NULL, "%s", l.paths[1]);
    cr_assert(eq(u64, l.records[1], 2));
    cr_assert(eq(u64, l.docs_seen[1], 5));
}
