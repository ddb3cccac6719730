/*
 * test_match.c - watch-list parsing, diagnostics, the boundary rule, the
 * matcher against a naive matcher, the database cache, error paths.
 */
#include "tassert.h"
#include <jemalloc/jemalloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <xxhash.h>

#include "common/alloc.h"
#include "match/match.h"
#include "normalize/normalize.h"
#include "testutil.h"

static tdx_norm *norm;

static void setup(void)
{
    tu_tmpdir();
    tdx_err err = {0};
    cr_assert(eq(int, tdx_norm_create(TDX_NORM_ALL, &norm, &err), 0), "%s", err.msg);
}

static void teardown(void)
{
    tdx_norm_free(norm);
    norm = NULL;
    tu_tmpdir_remove();
}

TestSuite(match, .init = setup, .fini = teardown);

/* ---- helpers ---------------------------------------------------------------- */

static tdx_watchlist *parse_ok(const char *text)
{
    tdx_watchlist *wl = NULL;
    tdx_err err = {0};
    int rc = tdx_watchlist_parse("t.tsv", text, strlen(text), norm, &wl, &err);
    cr_assert(eq(int, rc, 0), "parse failed: %s", err.msg);
    return wl;
}

/* Parse for validation: every diagnostic, errors included. */
static tdx_watchlist *check_str(const char *text)
{
    const char *path = tu_path("check.tsv");
    tu_write_str(path, text);
    tdx_watchlist *wl = NULL;
    tdx_err err = {0};
    cr_assert(eq(int, tdx_watchlist_check(path, norm, &wl, &err), 0), "%s", err.msg);
    return wl;
}

/* The one error of a bad row: parse fails with code and "t.tsv:LINE:COL: ..." */
static void expect_error(const char *text, int code, const char *where, const char *reason)
{
    tdx_watchlist *wl = NULL;
    tdx_err err = {0};
    int rc = tdx_watchlist_parse("t.tsv", text, strlen(text), norm, &wl, &err);
    cr_assert(eq(int, rc, code), "input %s: got %d (%s)", text, rc, err.msg);
    cr_assert(eq(ptr, wl, NULL));
    cr_assert(eq(int, err.code, code));
    cr_assert(eq(int, strncmp(err.msg, where, strlen(where)), 0), "want '%s...', got '%s'", where,
              err.msg);
    cr_assert(strstr(err.msg, reason) != NULL, "want '%s' in '%s'", reason, err.msg);
}

static tdx_matcher *compile_ok(const tdx_watchlist *wl, const char *cache_dir)
{
    tdx_match_opts opts = {.cache_dir = cache_dir ? cache_dir : ""};
    tdx_matcher *m = NULL;
    tdx_err err = {0};
    cr_assert(eq(int, tdx_match_compile(wl, &opts, &m, &err), 0), "compile: %s", err.msg);
    return m;
}

static void scan_all(const tdx_matcher *m, const char *text, size_t len, tdx_hits *out)
{
    tdx_match_scratch *s = NULL;
    tdx_err err = {0};
    cr_assert(eq(int, tdx_match_scratch_create(m, &s, &err), 0), "%s", err.msg);
    cr_assert(eq(int, tdx_match_scan(m, s, (const uint8_t *)text, len, out, &err), 0), "%s",
              err.msg);
    tdx_match_scratch_free(s);
}

/* Normalize a document and scan it, as the pipeline does. */
static void scan_doc(const tdx_matcher *m, const char *doc, tdx_hits *out, tdx_norm_out *no)
{
    tdx_err err = {0};
    tdx_norm_ctx *ctx = NULL;
    cr_assert(eq(int, tdx_norm_ctx_create(norm, &ctx, &err), 0));
    cr_assert(eq(int, tdx_norm_run(norm, ctx, (const uint8_t *)doc, strlen(doc), no, &err), 0));
    tdx_norm_ctx_free(ctx);
    scan_all(m, (const char *)no->text.p, no->text.len, out);
}

/* Does some hit of pattern `id` cover normalized bytes [start, end)? */
static int has_hit(const tdx_hits *h, uint32_t id, uint32_t start, uint32_t end)
{
    for (size_t i = 0; i < h->n; i++)
        if (h->v[i].pattern == id && h->v[i].start == start && h->v[i].end == end)
            return 1;
    return 0;
}

static size_t hits_of(const tdx_hits *h, uint32_t id)
{
    size_t n = 0;
    for (size_t i = 0; i < h->n; i++)
        n += h->v[i].pattern == id;
    return n;
}

/* ---- parsing ------------------------------------------------------------------ */

Test(match, rows_comments_blank_lines_crlf_and_bom)
{
    const char *text = "\xEF\xBB\xBF# watch list\r\n"
                       "\r\n"
                       "深圳大学\tuniversity\t深圳大学\r\n"
                       "  # indented comment\n"
                       "深圳大学\tuniversity\t深圳大學\n"
                       "NVIDIA A100\tchip\tＡ１００ \t substring \n"
                       "   \t\n"
                       "NVIDIA A100\tchip\t/a100[-\\s]?(pcie|sxm)/";
    tdx_watchlist *wl = parse_ok(text);
    cr_assert(eq(sz, tdx_watchlist_npatterns(wl), 4));
    cr_assert(eq(sz, tdx_watchlist_nentities(wl), 2));
    cr_assert(eq(sz, tdx_watchlist_ncategories(wl), 2));
    /* The Traditional spelling normalizes like line 3: redundant, so a warning. */
    cr_assert(eq(sz, tdx_watchlist_ndiags(wl), 1));
    const tdx_diag *d = tdx_watchlist_diag(wl, 0);
    cr_assert(eq(int, d->is_error, 0));
    cr_assert(eq(u32, d->line, 5));
    cr_assert(eq(u32, d->col, 25));
    cr_assert(strstr(d->msg, "already on line 3") != NULL, "%s", d->msg);
    cr_assert(eq(str, d->file, "t.tsv"));
    cr_assert(eq(str, (char *)tdx_watchlist_entity(wl, 0), "深圳大学"));
    cr_assert(eq(str, (char *)tdx_watchlist_entity(wl, 1), "NVIDIA A100"));
    cr_assert(eq(str, (char *)tdx_watchlist_category(wl, 0), "university"));
    cr_assert(eq(str, (char *)tdx_watchlist_category(wl, 1), "chip"));
    cr_assert(eq(u32, tdx_watchlist_entity_category(wl, 1), 1));

    const tdx_pattern *p = tdx_watchlist_pattern(wl, 0);
    cr_assert(eq(u32, p->line, 3));
    cr_assert(eq(u32, p->col, 25));
    cr_assert(eq(str, (char *)p->text, "深圳大学"));
    p = tdx_watchlist_pattern(wl, 1);
    cr_assert(eq(u32, p->line, 5));
    cr_assert(eq(str, (char *)p->text, "深圳大學"));
    cr_assert(eq(str, (char *)p->norm, "深圳大学"));
    cr_assert(eq(u32, p->entity, 0));
    p = tdx_watchlist_pattern(wl, 2);
    cr_assert(eq(str, (char *)p->text, "Ａ１００"), "cell trimmed");
    cr_assert(eq(str, (char *)p->norm, "a100"));
    cr_assert(eq(sz, p->norm_len, 4));
    cr_assert(eq(u32, p->flags, TDX_PAT_SUBSTRING));
    cr_assert(eq(u32, p->category, 1));
    p = tdx_watchlist_pattern(wl, 3);
    cr_assert(eq(u32, p->flags, TDX_PAT_REGEX));
    cr_assert(eq(str, (char *)p->text, "a100[-\\s]?(pcie|sxm)"));
    cr_assert(eq(str, (char *)p->norm, "a100[-\\s]?(pcie|sxm)"));
    cr_assert(eq(u32, p->line, 8));
    cr_assert(eq(u32, p->col, 18));
    cr_assert(eq(u32, p->min_width, 7), "a100sxm");
    cr_assert(eq(u32, p->max_width, 11), "a100, U+3000 (3 bytes), pcie");
    cr_assert(eq(u32, tdx_watchlist_pattern(wl, 2)->min_width, 4));
    cr_assert(eq(u32, tdx_watchlist_pattern(wl, 2)->max_width, 4));
    cr_assert(eq(ptr, (void *)tdx_watchlist_pattern(wl, 4), NULL));
    cr_assert(eq(ptr, (void *)tdx_watchlist_entity(wl, 2), NULL));
    tdx_watchlist_free(wl);
}

Test(match, literals_are_normalized_like_documents)
{
    const char *raw[] = {"ＮＶＩＤＩＡ　Ａ１００", "深 圳 大 學", "Amazon  Web\u3000Services",
                         "华为 昇腾910B"};
    char text[512] = "";
    for (size_t i = 0; i < 4; i++) {
        strcat(text, "e\tc\t");
        strcat(text, raw[i]);
        strcat(text, "\n");
    }
    tdx_watchlist *wl = parse_ok(text);
    for (uint32_t i = 0; i < 4; i++) {
        char *want = NULL;
        size_t wlen = 0;
        cr_assert(eq(int, tdx_norm_str(norm, raw[i], strlen(raw[i]), &want, &wlen, NULL), 0));
        const tdx_pattern *p = tdx_watchlist_pattern(wl, i);
        cr_assert(eq(sz, p->norm_len, wlen));
        cr_assert(eq(str, (char *)p->norm, want));
        tdx_free(want);
    }
    tdx_watchlist_free(wl);
}

Test(match, each_error_names_file_line_column_and_reason)
{
    expect_error("a\tb\n", TDX_EPATTERN, "t.tsv:1:4: ", "missing column");
    expect_error("# c\nabc def ghi\n", TDX_EPATTERN,
                 "t.tsv:2:12: ", "columns are separated by TAB");
    expect_error("a\tb\tc\td\te\n", TDX_EPATTERN, "t.tsv:1:8: ", "too many columns");
    expect_error("\tb\tc\n", TDX_EPATTERN, "t.tsv:1:1: ", "empty entity name");
    expect_error("a\t \tc\n", TDX_EPATTERN, "t.tsv:1:3: ", "empty category");
    expect_error("a\tb\t  \n", TDX_EPATTERN, "t.tsv:1:5: ", "empty pattern");
    expect_error("a\tb\t//\n", TDX_EPATTERN, "t.tsv:1:5: ", "empty regex");
    expect_error("a\tb\t\u200B\n", TDX_EPATTERN, "t.tsv:1:5: ", "normalizes to nothing");
    expect_error("a\tb\tc\tsubstring, exact\n", TDX_EPATTERN,
                 "t.tsv:1:18: ", "unknown flag 'exact'");
    /* Hyperscan's own message; the column points at the offending character. */
    expect_error("x\ty\tok\nab\tcd\t/abc(/\n", TDX_EPATTERN,
                 "t.tsv:2:11: ", "Missing close parenthesis for group started at index 3");
    expect_error("a\tb\t/x*/\n", TDX_EPATTERN, "t.tsv:1:5: ", "can match empty text");
    expect_error("a\tb\tok\n\xff\tb\tc\n", TDX_EPATTERN, "t.tsv:2:1: ", "invalid UTF-8");
    expect_error("a\tb\tc\xe4\xb8\n", TDX_EPATTERN, "t.tsv:1:6: ", "invalid UTF-8");

    char big[TDX_MATCH_MAX_PATTERN_BYTES + 32];
    memset(big, 'x', sizeof big);
    memcpy(big, "a\tb\t", 4);
    big[sizeof big - 1] = 0;
    expect_error(big, TDX_ELIMIT, "t.tsv:1:5: ", "longer than the limit");

    tdx_watchlist *wl = NULL;
    tdx_err err = {0};
    cr_assert(
        eq(int, tdx_watchlist_parse("t.tsv", "a\tb\tc\0d\n", 8, norm, &wl, &err), TDX_EPATTERN));
    cr_assert(strstr(err.msg, "t.tsv:1:6: NUL byte") != NULL, "%s", err.msg);
}

Test(match, check_collects_every_error_then_warnings_in_line_order)
{
    const char *text = "u\tc\t院\n"         /* 1: warning, one-character CJK */
                       "x\tc\t/a(/\n"       /* 2: error */
                       "y\tc\tfoo\n"        /* 3 */
                       "z\tc\tFOO\n"        /* 4: warning, duplicate of line 3 */
                       "y\tother\tbar\n"    /* 5: warning, second category */
                       "w\tc\tq\tsubstr\n"  /* 6: error */
                       "only one column\n"; /* 7: error */
    tdx_watchlist *wl = check_str(text);
    cr_assert(eq(sz, tdx_watchlist_nerrors(wl), 3));
    cr_assert(eq(sz, tdx_watchlist_ndiags(wl), 6));
    const struct {
        uint32_t line, col;
        int is_error;
        const char *part;
    } want[] = {
        {2, 7, 1, "invalid regex /a(/: Missing close parenthesis"},
        {6, 7, 1, "unknown flag 'substr'"},
        {7, 16, 1, "missing column"},
        {1, 5, 0, "one-character literal '院'"},
        {4, 5, 0, "duplicate alias 'FOO' (normalized 'foo'): already on line 3 (entity 'y')"},
        {5, 3, 0, "entity 'y' already has category 'c' (line 3)"},
    };
    for (size_t i = 0; i < 6; i++) {
        const tdx_diag *d = tdx_watchlist_diag(wl, i);
        cr_assert(eq(u32, d->line, want[i].line), "diag %zu: %s", i, d->msg);
        cr_assert(eq(u32, d->col, want[i].col), "diag %zu: %s", i, d->msg);
        cr_assert(eq(int, d->is_error, want[i].is_error), "diag %zu", i);
        cr_assert(strstr(d->msg, want[i].part) != NULL, "diag %zu: '%s'", i, d->msg);
        cr_assert(strstr(d->file, "check.tsv") != NULL);
    }
    cr_assert(eq(ptr, (void *)tdx_watchlist_diag(wl, 6), NULL));
    /* A list with errors never compiles. */
    tdx_matcher *m = NULL;
    tdx_err err = {0};
    tdx_match_opts opts = {.cache_dir = ""};
    cr_assert(eq(int, tdx_match_compile(wl, &opts, &m, &err), TDX_EPATTERN));
    cr_assert(strstr(err.msg, ":2:7: invalid regex") != NULL, "%s", err.msg);
    tdx_watchlist_free(wl);
}

Test(match, regex_that_only_the_compiler_rejects_names_its_row)
{
    /* Hyperscan's parser accepts it; its compiler finds it too large. */
    tdx_watchlist *wl = parse_ok("a\tb\tfoo\nwide\tx\t/a.{1000}b/\n");
    tdx_matcher *m = NULL;
    tdx_err err = {0};
    tdx_match_opts opts = {.cache_dir = ""};
    cr_assert(eq(int, tdx_match_compile(wl, &opts, &m, &err), TDX_EPATTERN));
    cr_assert(eq(ptr, m, NULL));
    cr_assert(strstr(err.msg,
                     "t.tsv:2:8: cannot compile regex /a.{1000}b/: Pattern is too large") != NULL,
              "%s", err.msg);
    tdx_watchlist_free(wl);
}

Test(match, regex_with_characters_normalization_removes_gets_a_warning)
{
    tdx_watchlist *wl = parse_ok("a\tb\t/深圳大學\\d+/\nc\td\t/ＮＶ\\d/\ne\tf\t/深圳.大学/\n");
    cr_assert(eq(sz, tdx_watchlist_ndiags(wl), 2));
    const tdx_diag *d = tdx_watchlist_diag(wl, 0);
    cr_assert(eq(u32, d->line, 1));
    cr_assert(eq(u32, d->col, 15), "the column of 學");
    cr_assert(strstr(d->msg, "contains '學'") != NULL && strstr(d->msg, "becomes '学'") != NULL,
              "%s", d->msg);
    d = tdx_watchlist_diag(wl, 1);
    cr_assert(eq(u32, d->col, 6));
    cr_assert(strstr(d->msg, "becomes 'n'") != NULL, "%s", d->msg);
    tdx_watchlist_free(wl);
}

Test(match, warnings_do_not_fail_a_load)
{
    tdx_watchlist *wl = parse_ok("a\tc\t华\nb\tc\tx1\nb\tc\tX1\n");
    cr_assert(eq(sz, tdx_watchlist_ndiags(wl), 2));
    cr_assert(eq(sz, tdx_watchlist_nerrors(wl), 0));
    cr_assert(eq(u32, tdx_watchlist_pattern(wl, 2)->dup_of, 1));
    cr_assert(eq(u32, tdx_watchlist_pattern(wl, 1)->dup_of, 1));
    tdx_watchlist_free(wl);
}

Test(match, hash_follows_content_not_layout)
{
    tdx_watchlist *a = parse_ok("e\tc\tfoo\n# comment\ne\tc\tbar\n");
    tdx_watchlist *b = parse_ok("e\tc\tfoo\r\n\r\ne\tc\t bar \r\n");
    tdx_watchlist *c = parse_ok("e\tc\tfoo\ne\tc\tbar\tsubstring\n");
    tdx_watchlist *d = parse_ok("e\tc\tfoo\nf\tc\tbar\n");
    cr_assert(eq(u64, tdx_watchlist_hash(a), tdx_watchlist_hash(b)));
    cr_assert(ne(u64, tdx_watchlist_hash(a), tdx_watchlist_hash(c)));
    cr_assert(ne(u64, tdx_watchlist_hash(a), tdx_watchlist_hash(d)));
    tdx_watchlist_free(a);
    tdx_watchlist_free(b);
    tdx_watchlist_free(c);
    tdx_watchlist_free(d);
}

/* ---- the boundary rule ---------------------------------------------------------- */

Test(match, boundary_rule_on_ascii_ends)
{
    tdx_watchlist *wl = parse_ok("NVIDIA H20\tchip\tH20\n"            /* 0 */
                                 "NVIDIA A100\tchip\tA100\n"          /* 1 */
                                 "AWS\tcloud\tAWS\n"                  /* 2 */
                                 "NVIDIA H100\tchip\tH100\n"          /* 3 */
                                 "NVIDIA H20\tchip\tH20\tsubstring\n" /* 4 */
                                 "英伟达\tcompany\t英伟达\n");        /* 5 */
    tdx_matcher *m = compile_ok(wl, NULL);
    tdx_hits h = {0};
    tdx_norm_out no;
    tdx_norm_out_init(&no);

    scan_doc(m, "采购H200服务器", &h, &no);
    cr_assert(eq(sz, hits_of(&h, 0), 0), "H20 is not in H200");
    cr_assert(eq(sz, hits_of(&h, 4), 1), "substring finds H20 in H200");
    scan_doc(m, "A1000 and A100", &h, &no);
    cr_assert(eq(sz, hits_of(&h, 1), 1));
    cr_assert(has_hit(&h, 1, 10, 14), "only the free-standing a100");
    scan_doc(m, "LAWS, AWS.", &h, &no);
    cr_assert(eq(sz, h.n, 1));
    cr_assert(has_hit(&h, 2, 6, 9));
    scan_doc(m, "英伟达H100显卡", &h, &no);
    cr_assert(eq(sz, h.n, 2));
    cr_assert(has_hit(&h, 5, 0, 9));
    cr_assert(has_hit(&h, 3, 9, 13), "CJK neighbours do not glue");
    scan_doc(m, "h100", &h, &no);
    cr_assert(has_hit(&h, 3, 0, 4), "text edges are boundaries");
    scan_doc(m, "xh100 h1001 _h100_", &h, &no);
    cr_assert(eq(sz, h.n, 1));
    cr_assert(has_hit(&h, 3, 13, 17), "punctuation is a boundary");
    tdx_hits_free(&h);
    tdx_norm_out_free(&no);
    tdx_match_free(m);
    tdx_watchlist_free(wl);
}

Test(match, hits_map_back_to_the_original_spelling)
{
    tdx_watchlist *wl = parse_ok("NVIDIA H100\tchip\tH100\n深圳大学\tu\t深圳大学\n");
    tdx_matcher *m = compile_ok(wl, NULL);
    tdx_hits h = {0};
    tdx_norm_out no;
    tdx_norm_out_init(&no);
    const char *doc = "采购：深 圳 大 學 ＮＶＩＤＩＡ　Ｈ１００ 显卡";
    scan_doc(m, doc, &h, &no);
    cr_assert(eq(sz, h.n, 2));
    /* Wherever the normalizer's map is exact or coarse, the source range
     * covers the original spelling and stays inside the document. */
    const char *orig[] = {"深 圳 大 學", "Ｈ１００"};
    uint32_t want_pat[] = {1, 0};
    for (size_t i = 0; i < 2; i++) {
        size_t s0, s1;
        tdx_hit_source(&h.v[i], &no, &s0, &s1);
        size_t o0 = (size_t)(strstr(doc, orig[i]) - doc), o1 = o0 + strlen(orig[i]);
        cr_assert(eq(u32, h.v[i].pattern, want_pat[i]));
        cr_assert(s0 <= o0 && s1 >= o1 && s1 <= strlen(doc), "hit %zu maps to [%zu, %zu)", i, s0,
                  s1);
    }
    tdx_hits_free(&h);
    tdx_norm_out_free(&no);
    tdx_match_free(m);
    tdx_watchlist_free(wl);
}

Test(match, regex_hits_keep_the_boundary_rule_unless_substring)
{
    tdx_watchlist *wl = parse_ok("model\tchip\t/H\\d{2,3}/\n"
                                 "model\tchip\t/H\\d{2,3}/\tsubstring\n"
                                 "pair\tx\t/深圳.{0,3}大学/\n");
    tdx_matcher *m = compile_ok(wl, NULL);
    tdx_hits h = {0};
    tdx_norm_out no;
    tdx_norm_out_init(&no);
    scan_doc(m, "H20 H2000 XH100", &h, &no);
    cr_assert(eq(sz, hits_of(&h, 0), 1));
    cr_assert(has_hit(&h, 0, 0, 3));
    /* Without the rule every end counts: h20, h200 (in h2000), h10, h100 (in xh100). */
    cr_assert(eq(sz, hits_of(&h, 1), 5));
    cr_assert(has_hit(&h, 1, 4, 8));
    cr_assert(has_hit(&h, 1, 11, 15));
    scan_doc(m, "深圳深圳市大学", &h, &no);
    cr_assert(eq(sz, h.n, 1));
    cr_assert(has_hit(&h, 2, 0, 21), "leftmost start");
    tdx_hits_free(&h);
    tdx_norm_out_free(&no);
    tdx_match_free(m);
    tdx_watchlist_free(wl);
}

Test(match, overlapping_and_nested_hits_are_all_reported_in_order)
{
    tdx_watchlist *wl = parse_ok("深大\tu\t深圳大学\n"
                                 "深圳\tp\t深圳\n"
                                 "深大\tu\t大学\n"
                                 "圳大\tx\t圳大\n"
                                 "深大\tu\t深圳大学城\n"
                                 "dup\tu\t深圳大学\n");
    tdx_matcher *m = compile_ok(wl, NULL);
    tdx_hits h = {0};
    const char *t = "在深圳大学城";
    scan_all(m, t, strlen(t), &h);
    const tdx_hit want[] = {{1, 3, 9}, {0, 3, 15}, {5, 3, 15}, {4, 3, 18}, {3, 6, 12}, {2, 9, 15}};
    cr_assert(eq(sz, h.n, 6));
    for (size_t i = 0; i < 6; i++) {
        cr_assert(eq(u32, h.v[i].pattern, want[i].pattern), "hit %zu", i);
        cr_assert(eq(u32, h.v[i].start, want[i].start), "hit %zu", i);
        cr_assert(eq(u32, h.v[i].end, want[i].end), "hit %zu", i);
    }
    tdx_match_info info;
    tdx_match_get_info(m, &info);
    cr_assert(eq(sz, info.nliterals, 5), "aliases that normalize alike share a literal");
    cr_assert(eq(sz, info.nregexes, 0));
    cr_assert(eq(sz, info.ndatabases, 1));
    cr_assert(gt(sz, info.db_bytes, 0));
    tdx_hits_free(&h);
    tdx_match_free(m);
    tdx_watchlist_free(wl);
}

Test(match, empty_watch_list_and_empty_text)
{
    tdx_watchlist *wl = parse_ok("# nothing\n");
    tdx_matcher *m = compile_ok(wl, NULL);
    tdx_hits h = {0};
    scan_all(m, "abc", 3, &h);
    cr_assert(eq(sz, h.n, 0));
    tdx_match_free(m);
    tdx_watchlist_free(wl);
    wl = parse_ok("a\tb\tabc\n");
    m = compile_ok(wl, NULL);
    scan_all(m, "", 0, &h);
    cr_assert(eq(sz, h.n, 0));
    tdx_hits_free(&h);
    tdx_match_free(m);
    tdx_watchlist_free(wl);
}

Test(match, count_raw_counts_hyperscan_matches_before_the_rules)
{
    tdx_watchlist *wl = parse_ok("a\tb\t深圳大学\nc\td\th20\n");
    tdx_matcher *m = compile_ok(wl, NULL);
    tdx_match_scratch *s = NULL;
    cr_assert(eq(int, tdx_match_scratch_create(m, &s, NULL), 0));
    const char *t = "深圳大学和深圳大学的h200";
    size_t n = 99;
    cr_assert(eq(int, tdx_match_count_raw(m, s, (const uint8_t *)t, strlen(t), &n, NULL), 0));
    cr_assert(eq(sz, n, 3), "two names and h20 inside h200, before the boundary rule");
    tdx_hits h = {0};
    cr_assert(eq(int, tdx_match_scan(m, s, (const uint8_t *)t, strlen(t), &h, NULL), 0));
    cr_assert(eq(sz, h.n, 2));
    cr_assert(eq(int, tdx_match_count_raw(NULL, s, (const uint8_t *)t, 1, &n, NULL), TDX_EINVAL));
    cr_assert(eq(int, tdx_match_count_raw(m, NULL, (const uint8_t *)t, 1, &n, NULL), TDX_EINVAL));
    cr_assert(eq(int, tdx_match_count_raw(m, s, NULL, 1, &n, NULL), TDX_EINVAL));
    cr_assert(eq(int, tdx_match_count_raw(m, s, (const uint8_t *)t, 1, NULL, NULL), TDX_EINVAL));
    tdx_hits_free(&h);
    tdx_match_scratch_free(s);
    tdx_match_free(m);
    tdx_watchlist_free(wl);
}

/* ---- differential test against a naive matcher -------------------------------- */

/* Tokens of the generated text and patterns: CJK, ASCII words, separators. */
static const char *const tok[] = {"深", "圳", "大", "学", "华", "为", "云", "研", "究", "院",
                                  "a",  "b",  "h",  "x",  "1",  "0",  "2",  "9",  "-",  " "};
#define NTOK (sizeof tok / sizeof tok[0])

/* Random tokens; patterns get no space at an end or two in a row (normalized form). */
static void gen_tokens(uint64_t *st, tdx_buf *b, size_t ntok, int is_pattern)
{
    for (size_t i = 0; i < ntok; i++) {
        const char *t;
        do
            t = tok[tu_rand(st) % NTOK];
        while (t[0] == ' ' && (i == 0 || i + 1 == ntok || b->p[b->len - 1] == ' ') && is_pattern);
        tdx_buf_puts(b, t);
    }
}

typedef struct naive_rx {
    uint32_t id;
    char letter; /* letter\d{lo,hi} */
    int lo, hi;
    int cjk; /* 深.{0,hi}圳 instead */
} naive_rx;

static int is_w(uint8_t c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static void push_hit(tdx_hits *h, uint32_t id, size_t s, size_t e)
{
    if (h->n == h->cap) {
        h->cap = h->cap ? h->cap * 2 : 1024;
        h->v = realloc(h->v, h->cap * sizeof *h->v);
    }
    h->v[h->n++] = (tdx_hit){id, (uint32_t)s, (uint32_t)e};
}

static int boundary_ok(const uint8_t *t, size_t len, size_t s, size_t e)
{
    if (is_w(t[s]) && s > 0 && is_w(t[s - 1]))
        return 0;
    if (is_w(t[e - 1]) && e < len && is_w(t[e]))
        return 0;
    return 1;
}

static size_t utf8_prev(const uint8_t *t, size_t i)
{
    do
        i--;
    while (i > 0 && (t[i] & 0xC0) == 0x80);
    return i;
}

static int hit_order(const void *a, const void *b)
{
    const tdx_hit *x = a, *y = b;
    if (x->start != y->start)
        return x->start < y->start ? -1 : 1;
    if (x->end != y->end)
        return x->end < y->end ? -1 : 1;
    return x->pattern < y->pattern ? -1 : x->pattern > y->pattern;
}

static void naive_scan(const tdx_watchlist *wl, const naive_rx *rx, size_t nrx, const uint8_t *t,
                       size_t len, tdx_hits *out)
{
    out->n = 0;
    for (uint32_t id = 0; id < tdx_watchlist_npatterns(wl); id++) {
        const tdx_pattern *p = tdx_watchlist_pattern(wl, id);
        if (p->flags & TDX_PAT_REGEX)
            continue;
        for (size_t s = 0; s + p->norm_len <= len; s++) {
            const uint8_t *f = memmem(t + s, len - s, p->norm, p->norm_len);
            if (f == NULL)
                break;
            s = (size_t)(f - t);
            size_t e = s + p->norm_len;
            if ((p->flags & TDX_PAT_SUBSTRING) || boundary_ok(t, len, s, e))
                push_hit(out, id, s, e);
        }
    }
    for (size_t r = 0; r < nrx; r++) {
        const naive_rx *x = &rx[r];
        const tdx_pattern *p = tdx_watchlist_pattern(wl, x->id);
        int rule = !(p->flags & TDX_PAT_SUBSTRING);
        if (!x->cjk) {
            for (size_t s = 0; s < len; s++) {
                if (t[s] != (uint8_t)x->letter)
                    continue;
                for (int k = 1; k <= x->hi && s + k < len && t[s + k] >= '0' && t[s + k] <= '9';
                     k++)
                    if (k >= x->lo && (!rule || boundary_ok(t, len, s, s + 1 + (size_t)k)))
                        push_hit(out, x->id, s, s + 1 + (size_t)k);
            }
            continue;
        }
        /* 深.{0,hi}圳: for each end, the leftmost 深 at most hi characters before 圳. */
        for (size_t e0 = 0; e0 + 3 <= len; e0++) {
            if (memcmp(t + e0, "圳", 3) != 0)
                continue;
            size_t best = SIZE_MAX, c = e0;
            for (int k = 0; k <= x->hi && c > 0; k++) {
                c = utf8_prev(t, c); /* k characters lie between c and the 圳 */
                if (memcmp(t + c, "深", 3) == 0)
                    best = c;
            }
            if (best != SIZE_MAX)
                push_hit(out, x->id, best, e0 + 3);
        }
    }
    qsort(out->v, out->n, sizeof *out->v, hit_order);
}

static void differential_round(uint64_t seed, size_t npat, size_t text_tokens)
{
    uint64_t st = seed;
    tdx_buf wlt = TDX_BUF_INIT, pat = TDX_BUF_INIT, text = TDX_BUF_INIT;
    naive_rx rx[4];
    size_t nrx = 0;
    uint32_t id = 0;
    for (size_t i = 0; i < npat; i++, id++) {
        tdx_buf_reset(&pat);
        gen_tokens(&st, &pat, 1 + tu_rand(&st) % (i % 4 ? 5 : 14), 1);
        tdx_buf_printf(&wlt, "E%zu\tcat%d\t%s%s\n", i / 3, (int)(i / 3 % 4), (char *)pat.p,
                       tu_rand(&st) % 8 == 0 ? "\tsubstring" : "");
    }
    static const naive_rx forms[] = {
        {0, 'h', 1, 3, 0}, {0, 'x', 2, 2, 0}, {0, 0, 0, 2, 1}, {0, 'a', 1, 1, 0}};
    for (size_t r = 0; r < 4; r++, id++) {
        rx[nrx] = forms[r];
        rx[nrx].id = id;
        const int sub = r == 3;
        if (forms[r].cjk)
            tdx_buf_printf(&wlt, "R%zu\tmodel\t/深.{0,%d}圳/\n", r, forms[r].hi);
        else
            /* [0-9] has one byte width, \d (Unicode digits) does not: both
             * kinds of regex database get used. */
            tdx_buf_printf(&wlt, "R%zu\tmodel\t/%c%s{%d,%d}/%s\n", r, forms[r].letter,
                           r % 2 ? "[0-9]" : "\\d", forms[r].lo, forms[r].hi,
                           sub ? "\tsubstring" : "");
        nrx++;
    }
    /* Text: random tokens with patterns planted, so long ones occur too. */
    tdx_watchlist *wl = parse_ok((char *)wlt.p);
    for (size_t i = 0; i < text_tokens; i++) {
        if (tu_rand(&st) % 16 == 0) {
            const tdx_pattern *p =
                tdx_watchlist_pattern(wl, (uint32_t)(tu_rand(&st) % tdx_watchlist_npatterns(wl)));
            if (!(p->flags & TDX_PAT_REGEX))
                tdx_buf_append(&text, p->norm, p->norm_len);
        }
        gen_tokens(&st, &text, 1, 0);
    }
    tdx_matcher *m = compile_ok(wl, NULL);
    tdx_match_scratch *s = NULL;
    cr_assert(eq(int, tdx_match_scratch_create(m, &s, NULL), 0));
    tdx_hits got = {0}, want = {0};
    /* The whole text, then windows, so text edges fall in many places; one
     * scratch reused throughout. */
    for (int w = 0; w < 8; w++) {
        size_t off = w ? tu_rand(&st) % text.len : 0;
        size_t len = w ? 1 + tu_rand(&st) % (text.len - off) : text.len;
        if (w && len > 4096 && w % 2)
            len = 1 + len % 4096;
        cr_assert(eq(int, tdx_match_scan(m, s, text.p + off, len, &got, NULL), 0));
        naive_scan(wl, rx, nrx, text.p + off, len, &want);
        cr_assert(eq(sz, got.n, want.n), "seed %llu offset %zu: %zu hits, naive %zu",
                  (unsigned long long)seed, off, got.n, want.n);
        for (size_t i = 0; i < got.n; i++)
            cr_assert(got.v[i].pattern == want.v[i].pattern && got.v[i].start == want.v[i].start &&
                          got.v[i].end == want.v[i].end,
                      "seed %llu offset %zu hit %zu: got (%u,%u,%u) want (%u,%u,%u)",
                      (unsigned long long)seed, off, i, got.v[i].pattern, got.v[i].start,
                      got.v[i].end, want.v[i].pattern, want.v[i].start, want.v[i].end);
    }
    tdx_hits_free(&got);
    free(want.v);
    tdx_match_scratch_free(s);
    tdx_match_free(m);
    tdx_watchlist_free(wl);
    tdx_buf_free(&wlt);
    tdx_buf_free(&pat);
    tdx_buf_free(&text);
}

Test(match, matcher_equals_naive_matcher_on_generated_corpora, .timeout = 120)
{
    uint64_t seed = tu_seed("match differential");
    uint64_t st = seed;
    for (int round = 0; round < 4; round++)
        differential_round(tu_rand(&st), 500 + 1000 * (size_t)round, 40000);
}

/* ---- the cache ---------------------------------------------------------------------- */

static const char cache_list[] = "深圳大学\tuniversity\t深圳大学\n"
                                 "深圳大学\tuniversity\tSZU\n"
                                 "NVIDIA H100\tchip\tH100\n"
                                 "NVIDIA H100\tchip\t/h100[-\\s]?(pcie|sxm5?)/\n"
                                 "model\tchip\t/a[0-9]{3}/\n"
                                 "pair\tx\t/深圳.{0,3}大学/\n";
static const char cache_doc[] = "深圳大学采购H100 SXM5服务器与A800、深圳某大学 szu a100";

/* The only file in dir (the cache file); aborts when there is not exactly one. */
static const char *cache_file(const char *dir)
{
    static char path[4096];
    char cmd[4200], *out = NULL;
    snprintf(cmd, sizeof cmd, "ls -A '%s'", dir);
    cr_assert(eq(int, tu_run(cmd, &out, NULL), 0));
    char *nl = strchr(out, '\n');
    cr_assert(nl != NULL && nl[1] == '\0', "cache dir holds: %s", out);
    *nl = '\0';
    snprintf(path, sizeof path, "%s/%s", dir, out);
    free(out);
    return path;
}

static void expect_same_hits(const tdx_hits *a, const tdx_hits *b)
{
    cr_assert(eq(sz, a->n, b->n));
    cr_assert(eq(int, memcmp(a->v, b->v, a->n * sizeof *a->v), 0));
}

static tdx_matcher *compile_info(const tdx_watchlist *wl, const char *dir, tdx_match_info *info)
{
    tdx_matcher *m = compile_ok(wl, dir);
    tdx_match_get_info(m, info);
    return m;
}

Test(match, second_compile_loads_from_cache_with_identical_hits)
{
    const char *dir = tu_path("cache/sub");
    tdx_watchlist *wl = parse_ok(cache_list);
    tdx_match_info i1, i2;
    tdx_matcher *m1 = compile_info(wl, dir, &i1);
    cr_assert(eq(int, i1.from_cache, 0));
    cr_assert(eq(sz, i1.ndatabases, 3), "literals, SOM regexes, fixed-width regexes");
    const char *file = cache_file(dir);
    cr_assert(strstr(file, "/match-") != NULL);
    tdx_matcher *m2 = compile_info(wl, dir, &i2);
    cr_assert(eq(int, i2.from_cache, 1));
    cr_assert(eq(sz, i2.db_bytes, i1.db_bytes));
    cr_assert(eq(sz, i2.ndatabases, i1.ndatabases));
    cr_assert(eq(sz, i2.nliterals, i1.nliterals));
    cr_assert(eq(sz, i2.nregexes, i1.nregexes));
    tdx_hits h1 = {0}, h2 = {0};
    tdx_norm_out no;
    tdx_norm_out_init(&no);
    scan_doc(m1, cache_doc, &h1, &no);
    scan_doc(m2, cache_doc, &h2, &no);
    cr_assert(gt(sz, h1.n, 5));
    expect_same_hits(&h1, &h2);

    /* Another watch list gets its own file. */
    tdx_watchlist *wl2 = parse_ok("a\tb\tc\n");
    tdx_match_info i3;
    tdx_match_free(compile_info(wl2, dir, &i3));
    cr_assert(eq(int, i3.from_cache, 0));
    tdx_watchlist_free(wl2);

    tdx_hits_free(&h1);
    tdx_hits_free(&h2);
    tdx_norm_out_free(&no);
    tdx_match_free(m1);
    tdx_match_free(m2);
    tdx_watchlist_free(wl);
}

/* Damage the cache file, then check it is rebuilt and the hits stay right. */
static void damage_and_rebuild(void (*damage)(uint8_t *, size_t *), const char *what)
{
    const char *dir = tu_path("cache");
    tdx_watchlist *wl = parse_ok(cache_list);
    tdx_match_info info;
    tdx_matcher *m = compile_info(wl, dir, &info);
    tdx_hits want = {0}, got = {0};
    tdx_norm_out no;
    tdx_norm_out_init(&no);
    scan_doc(m, cache_doc, &want, &no);
    tdx_match_free(m);

    char file[4096];
    snprintf(file, sizeof file, "%s", cache_file(dir));
    size_t len;
    uint8_t *bytes = (uint8_t *)tu_read_file(file, &len);
    damage(bytes, &len);
    tu_write_file(file, bytes, len);
    free(bytes);

    m = compile_info(wl, dir, &info);
    cr_assert(eq(int, info.from_cache, 0), "%s: damaged cache was used", what);
    scan_doc(m, cache_doc, &got, &no);
    expect_same_hits(&want, &got);
    tdx_match_free(m);
    m = compile_info(wl, dir, &info);
    cr_assert(eq(int, info.from_cache, 1), "%s: cache file was not rewritten", what);
    scan_doc(m, cache_doc, &got, &no);
    expect_same_hits(&want, &got);
    tdx_match_free(m);
    tdx_hits_free(&want);
    tdx_hits_free(&got);
    tdx_norm_out_free(&no);
    tdx_watchlist_free(wl);
}

static void flip_middle(uint8_t *b, size_t *len)
{
    b[*len / 2] ^= 0x55;
}

static void truncate_half(uint8_t *b, size_t *len)
{
    (void)b;
    *len /= 2;
}

/* A consistent file whose database bytes are damaged: Hyperscan must refuse it. */
static void flip_and_fix_checksum(uint8_t *b, size_t *len)
{
    b[*len / 2] ^= 0x55;
    uint64_t sum = XXH3_64bits(b, *len - 8);
    for (int i = 0; i < 8; i++)
        b[*len - 8 + i] = (uint8_t)(sum >> (56 - 8 * i));
}

static void empty_file(uint8_t *b, size_t *len)
{
    (void)b;
    *len = 0;
}

Test(match, corrupt_cache_file_is_rebuilt)
{
    damage_and_rebuild(flip_middle, "flipped byte");
}

Test(match, truncated_cache_file_is_rebuilt)
{
    damage_and_rebuild(truncate_half, "truncated");
}

Test(match, empty_cache_file_is_rebuilt)
{
    damage_and_rebuild(empty_file, "empty");
}

Test(match, cache_file_with_bad_database_and_good_checksum_is_rebuilt)
{
    damage_and_rebuild(flip_and_fix_checksum, "database bytes");
}

Test(match, cache_dir_comes_from_environment_when_not_given)
{
    const char *dir = tu_path("envcache");
    setenv("TENDERIDX_CACHE_DIR", dir, 1);
    tdx_watchlist *wl = parse_ok(cache_list);
    tdx_matcher *m = NULL;
    tdx_match_info info;
    cr_assert(eq(int, tdx_match_compile(wl, NULL, &m, NULL), 0));
    tdx_match_free(m);
    cr_assert(eq(int, tdx_match_compile(wl, NULL, &m, NULL), 0));
    tdx_match_get_info(m, &info);
    cr_assert(eq(int, info.from_cache, 1));
    cache_file(dir);
    tdx_match_free(m);

    /* XDG_CACHE_HOME, then HOME, when TENDERIDX_CACHE_DIR is unset. */
    unsetenv("TENDERIDX_CACHE_DIR");
    setenv("XDG_CACHE_HOME", tu_path("xdg"), 1);
    cr_assert(eq(int, tdx_match_compile(wl, NULL, &m, NULL), 0));
    tdx_match_free(m);
    cache_file(tu_path("xdg/tenderidx"));
    unsetenv("XDG_CACHE_HOME");
    setenv("HOME", tu_path("home"), 1);
    cr_assert(eq(int, tdx_match_compile(wl, NULL, &m, NULL), 0));
    tdx_match_free(m);
    cache_file(tu_path("home/.cache/tenderidx"));

    /* An unwritable cache directory only costs time. */
    tu_write_str(tu_path("file"), "x");
    tdx_match_opts opts = {.cache_dir = tu_path("file/sub")};
    cr_assert(eq(int, tdx_match_compile(wl, &opts, &m, NULL), 0));
    tdx_match_free(m);
    tdx_watchlist_free(wl);
}

/* ---- error paths ----------------------------------------------------------------- */

Test(match, null_and_invalid_arguments)
{
    tdx_watchlist *wl = NULL;
    tdx_err err = {0};
    cr_assert(eq(int, tdx_watchlist_parse(NULL, "", 0, norm, &wl, &err), TDX_EINVAL));
    cr_assert(eq(int, tdx_watchlist_parse("x", NULL, 3, norm, &wl, NULL), TDX_EINVAL));
    cr_assert(eq(int, tdx_watchlist_parse("x", "", 0, NULL, &wl, NULL), TDX_EINVAL));
    cr_assert(eq(int, tdx_watchlist_parse("x", "", 0, norm, NULL, NULL), TDX_EINVAL));
    cr_assert(eq(int, tdx_watchlist_load(NULL, norm, &wl, NULL), TDX_EINVAL));
    cr_assert(eq(int, tdx_watchlist_check(tu_path("x"), NULL, &wl, NULL), TDX_EINVAL));
    tdx_err_clear(&err);
    cr_assert(eq(int, tdx_watchlist_load(tu_path("missing.tsv"), norm, &wl, &err), TDX_EIO));
    cr_assert(strstr(err.msg, "missing.tsv") != NULL, "%s", err.msg);
    cr_assert(eq(ptr, wl, NULL));
    tdx_watchlist_free(NULL);

    wl = parse_ok("a\tb\tc\n");
    tdx_matcher *m = NULL;
    cr_assert(eq(int, tdx_match_compile(NULL, NULL, &m, NULL), TDX_EINVAL));
    cr_assert(eq(int, tdx_match_compile(wl, NULL, NULL, NULL), TDX_EINVAL));
    m = compile_ok(wl, NULL);
    tdx_match_scratch *s = NULL;
    cr_assert(eq(int, tdx_match_scratch_create(NULL, &s, NULL), TDX_EINVAL));
    cr_assert(eq(int, tdx_match_scratch_create(m, NULL, NULL), TDX_EINVAL));
    cr_assert(eq(int, tdx_match_scratch_create(m, &s, NULL), 0));
    tdx_hits h = {0};
    cr_assert(eq(int, tdx_match_scan(NULL, s, (const uint8_t *)"c", 1, &h, NULL), TDX_EINVAL));
    cr_assert(eq(int, tdx_match_scan(m, NULL, (const uint8_t *)"c", 1, &h, NULL), TDX_EINVAL));
    cr_assert(eq(int, tdx_match_scan(m, s, NULL, 1, &h, NULL), TDX_EINVAL));
    cr_assert(eq(int, tdx_match_scan(m, s, (const uint8_t *)"c", 1, NULL, NULL), TDX_EINVAL));
    cr_assert(eq(int, tdx_match_scan(m, s, NULL, 0, &h, NULL), 0));
    tdx_match_scratch_free(s);
    tdx_match_scratch_free(NULL);
    tdx_match_free(m);
    tdx_match_free(NULL);
    tdx_hits_free(&h);
    tdx_hits_free(NULL);
    tdx_watchlist_free(wl);
}

/*
 * Bytes the program holds.  jemalloc counts objects sitting in a thread's
 * cache as allocated, so the cache is flushed first to make the count exact.
 */
static size_t live_bytes(void)
{
    mallctl("thread.tcache.flush", NULL, NULL, NULL, 0);
    tdx_mem_stats ms;
    tdx_alloc_stats(&ms);
    return ms.allocated;
}

Test(match, parse_out_of_memory_at_every_allocation)
{
    /* Every row kind, every warning and an error-free finish. */
    const char *text = "\xEF\xBB\xBF# list\n"
                       "深圳大学\tuniversity\t深圳大学\n"
                       "深圳大学\tuniversity\t深圳大學\n"
                       "深圳大学\tlab\t深大\n"
                       "NVIDIA A100\tchip\tＡ１００\tsubstring\n"
                       "NVIDIA A100\tchip\t/a100[-\\s]?(pcie|sxm)/\n"
                       "院\tx\t院\n"
                       "pair\tx\t/深圳.{0,3}大學/\n";
    tdx_watchlist *wl = NULL;
    /* Warm up: ICU and jemalloc set up their caches once. */
    cr_assert(eq(int, tdx_watchlist_parse("t.tsv", text, strlen(text), norm, &wl, NULL), 0));
    tdx_watchlist_free(wl);
    wl = NULL;
    size_t before = live_bytes();
    int rc = TDX_ENOMEM;
    long n;
    for (n = 0; n < 10000 && rc == TDX_ENOMEM; n++) {
        tdx_err err = {0};
        tdx_alloc_fail_after(n);
        rc = tdx_watchlist_parse("t.tsv", text, strlen(text), norm, &wl, &err);
        tdx_alloc_fail_after(-1);
        if (rc) {
            cr_assert(eq(int, rc, TDX_ENOMEM), "allocation %ld: %s", n, err.msg);
            cr_assert(eq(int, err.code, TDX_ENOMEM));
            cr_assert(eq(ptr, wl, NULL));
            cr_assert(eq(sz, live_bytes(), before), "allocation %ld leaks", n);
        }
    }
    cr_assert(eq(int, rc, 0));
    cr_assert(gt(long, n, 10), "the loop reached the allocations");
    cr_assert(eq(sz, tdx_watchlist_npatterns(wl), 7));
    cr_assert(eq(sz, tdx_watchlist_ndiags(wl), 4));
    tdx_watchlist_free(wl);
    cr_assert(eq(sz, live_bytes(), before));
}

Test(match, compile_and_scan_out_of_memory_at_every_allocation)
{
    tdx_watchlist *wl = parse_ok("深圳大学\tuniversity\t深圳大学\n"
                                 "深圳大学\tuniversity\tSZU\n"
                                 "x\ty\tszu\n"
                                 "NVIDIA H100\tchip\t/h100[-\\s]?(pcie|sxm5?)/\n"
                                 "model\tchip\t/a[0-9]{3}/\n");
    const char *t = "深圳大学(szu)采购h100 sxm5和a800";
    tdx_hits want = {0};
    tdx_matcher *m = compile_ok(wl, NULL); /* warm-up, and the expected hits */
    scan_all(m, t, strlen(t), &want);
    tdx_match_free(m);
    cr_assert(eq(sz, want.n, 5));
    size_t before = live_bytes();
    int rc = TDX_ENOMEM;
    long n;
    for (n = 0; n < 10000 && rc == TDX_ENOMEM; n++) {
        tdx_err err = {0};
        tdx_match_opts opts = {.cache_dir = ""};
        tdx_match_scratch *s = NULL;
        tdx_hits h = {0};
        m = NULL;
        tdx_alloc_fail_after(n);
        rc = tdx_match_compile(wl, &opts, &m, &err);
        if (rc == 0)
            rc = tdx_match_scratch_create(m, &s, &err);
        if (rc == 0)
            rc = tdx_match_scan(m, s, (const uint8_t *)t, strlen(t), &h, &err);
        tdx_alloc_fail_after(-1);
        if (rc == 0) {
            cr_assert(eq(sz, h.n, want.n));
            cr_assert(eq(int, memcmp(h.v, want.v, h.n * sizeof *h.v), 0));
        } else {
            cr_assert(eq(int, rc, TDX_ENOMEM), "allocation %ld: %s", n, err.msg);
            cr_assert(eq(int, err.code, TDX_ENOMEM));
            cr_assert(eq(sz, h.n, 0), "no partial results");
        }
        tdx_hits_free(&h);
        tdx_match_scratch_free(s);
        tdx_match_free(m);
        cr_assert(eq(sz, live_bytes(), before), "allocation %ld leaks", n);
    }
    cr_assert(eq(int, rc, 0));
    cr_assert(gt(long, n, 5));
    tdx_hits_free(&want);
    tdx_watchlist_free(wl);
}

Test(match, leak_check_sees_a_leak)
{
    /* The out-of-memory tests rely on jemalloc's live byte count. */
    size_t before = live_bytes();
    void *p = tdx_malloc(24);
    size_t during = live_bytes();
    tdx_free(p);
    if (during == before)
        cr_skip_test("malloc is not jemalloc's here (a sanitizer build): LeakSanitizer checks "
                     "leaks instead");
    cr_assert(eq(sz, live_bytes(), before));
}
