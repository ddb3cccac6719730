/*
 * cmd_hits.c - `tenderidx hits`: stream every watch-list hit of an index,
 * optionally for one entity or category, as a table, JSON Lines or CSV.
 */
#include "cli.h"

#include "../common/alloc.h"
#include "../common/buf.h"
#include "../query/query.h"

#include <getopt.h>
#include <inttypes.h>
#include <string.h>
#include <strings.h>

static void help(void)
{
    printf(
        "usage: tenderidx hits -i INDEX [--entity NAME] [--category C] [--json|--csv]\n\n"
        "Export every watch-list hit: document id, entity, category, the pattern that\n"
        "matched, its original byte range, the matched text as it stands in the\n"
        "original document, and some context on each side.  Hits stream in document\n"
        "order, then position; there is no cap on their number.\n\n"
        "Options:\n"
        "  -i, --index DIR        the index\n"
        "  -e, --entity NAME      only hits of this entity (any spelling the query\n"
        "                         language accepts after entity:)\n"
        "  -c, --category C       only hits of this category\n"
        "      --context N        characters of context on each side (default 30)\n"
        "      --json             one JSON object per hit\n"
        "      --csv              RFC 4180 CSV with a header row\n"
        "  -h, --help             show this help\n\n"
        "Columns: id (document key), doc (doc id), entity, category, pattern, start, end\n"
        "(byte offsets in the original text), text, before, after.\n\n"
        "Exit codes: 0 ok, 2 usage error or unknown entity/category, 3 the index cannot\n"
        "be read.\n\n"
        "Example:\n"
        "  tenderidx hits -i t.tdx --category chip --csv > chip-hits.csv\n");
}

static size_t back_chars(const uint8_t *t, size_t i, size_t n)
{
    while (n-- && i > 0) {
        i--;
        while (i > 0 && (t[i] & 0xC0) == 0x80)
            i--;
    }
    return i;
}

static size_t fwd_chars(const uint8_t *t, size_t len, size_t i, size_t n)
{
    while (n-- && i < len) {
        i++;
        while (i < len && (t[i] & 0xC0) == 0x80)
            i++;
    }
    return i;
}

/* Copy with line breaks and tabs flattened to spaces. */
static void flat(tdx_buf *b, const uint8_t *p, size_t n)
{
    tdx_buf_reset(b);
    for (size_t i = 0; i < n; i++)
        tdx_buf_putc(b, p[i] == '\n' || p[i] == '\r' || p[i] == '\t' ? ' ' : p[i]);
    tdx_buf_append(b, "", 0);
}

int cmd_hits(int argc, char **argv)
{
    enum { O_JSON = 256, O_CSV, O_CONTEXT };
    static const struct option opts[] = {
        {"index", required_argument, NULL, 'i'},
        {"entity", required_argument, NULL, 'e'},
        {"category", required_argument, NULL, 'c'},
        {"context", required_argument, NULL, O_CONTEXT},
        {"json", no_argument, NULL, O_JSON},
        {"csv", no_argument, NULL, O_CSV},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *index = NULL, *entity = NULL, *category = NULL;
    int out = 0; /* 0 table, 1 json, 2 csv */
    uint64_t ctxn = 30;
    int c;
    while ((c = getopt_long(argc, argv, "i:e:c:h", opts, NULL)) != -1) {
        switch (c) {
        case 'i':
            index = optarg;
            break;
        case 'e':
            entity = optarg;
            break;
        case 'c':
            category = optarg;
            break;
        case O_CONTEXT:
            if (cli_parse_uint(optarg, 10000, &ctxn))
                return cli_usage_error("hits", "--context wants a number up to 10000");
            break;
        case O_JSON:
            out = 1;
            break;
        case O_CSV:
            out = 2;
            break;
        case 'h':
            help();
            return TDX_EXIT_OK;
        default:
            return cli_usage_error("hits", "invalid option");
        }
    }
    if (index == NULL)
        return cli_usage_error("hits", "no index given (-i INDEX)");
    if (optind != argc)
        return cli_usage_error("hits", "unexpected argument '%s'", argv[optind]);
    tdx_err err = {0};
    tdx_qctx *q;
    int rc = tdx_qctx_open(index, &q, &err);
    if (rc)
        return cli_fail("hits", rc, &err);
    /* The filter is a query (entity:X cat:Y), so names resolve as in `query`. */
    tdx_buf qt = TDX_BUF_INIT;
    if (entity) {
        tdx_buf_puts(&qt, "entity:");
        cli_json_buf(&qt, entity, strlen(entity));
    }
    if (category) {
        tdx_buf_puts(&qt, qt.len ? " cat:" : "cat:");
        cli_json_buf(&qt, category, strlen(category));
    }
    tdx_query *query = NULL;
    int want_ent = -1, want_cat = -1;
    if (qt.len) {
        size_t col;
        rc = tdx_query_parse(q, (const char *)qt.p, &query, &col, &err);
        if (rc) {
            cli_error("hits", "%s", err.msg);
            tdx_buf_free(&qt);
            tdx_qctx_close(q);
            return rc == TDX_ENOMEM ? TDX_EXIT_FATAL : TDX_EXIT_USAGE;
        }
        for (size_t i = 0; entity && i < tdx_qctx_nentities(q); i++)
            if (strcmp(tdx_qctx_entity_name(q, (uint32_t)i), entity) == 0)
                want_ent = (int)i;
        for (size_t i = 0; category && i < tdx_qctx_ncategories(q); i++)
            if (strcasecmp(tdx_qctx_category_name(q, (uint32_t)i), category) == 0)
                want_cat = (int)i;
    }
    tdx_docset docs = {0};
    if (query) {
        rc = tdx_query_run(q, query, 0, &docs, NULL, &err);
    } else {
        /* Every document with hits: the union of all category postings. */
        size_t col;
        tdx_buf all = TDX_BUF_INIT;
        for (size_t i = 0; i < tdx_qctx_ncategories(q); i++) {
            tdx_buf_puts(&all, i ? " OR cat:" : "cat:");
            const char *cn = tdx_qctx_category_name(q, (uint32_t)i);
            cli_json_buf(&all, cn, strlen(cn));
        }
        if (all.len) {
            rc = tdx_query_parse(q, (const char *)all.p, &query, &col, &err);
            if (rc == 0)
                rc = tdx_query_run(q, query, 0, &docs, NULL, &err);
        }
        tdx_buf_free(&all);
    }
    tdx_qhit *hits = NULL;
    size_t nh = 0, caph = 0;
    tdx_buf text = TDX_BUF_INIT, a = TDX_BUF_INIT, b = TDX_BUF_INIT, m = TDX_BUF_INIT,
            line = TDX_BUF_INIT;
    if (rc == 0 && out == 2)
        printf("id,doc,entity,category,pattern,start,end,text,before,after\r\n");
    if (rc == 0 && out == 0)
        printf("%-20s  %-20s  %-12s  %10s  %s\n", "ID", "ENTITY", "CATEGORY", "OFFSET",
               "CONTEXT");
    uint64_t total = 0;
    for (size_t i = 0; rc == 0 && i < docs.n; i++) {
        uint32_t id = docs.v[i];
        tdx_qdoc d;
        rc = tdx_qctx_hits(q, id, &hits, &nh, &caph, &err);
        if (rc == 0)
            rc = tdx_qctx_text(q, id, &text, &err);
        if (rc == 0)
            rc = tdx_qctx_doc(q, id, &d, &err);
        if (rc)
            break;
        for (size_t h = 0; h < nh; h++) {
            const tdx_qhit *x = &hits[h];
            if ((want_ent >= 0 && x->entity != (uint32_t)want_ent) ||
                (want_cat >= 0 && x->category != (uint32_t)want_cat))
                continue;
            if (x->oend > text.len || x->ostart > x->oend)
                continue;
            size_t s0 = back_chars(text.p, x->ostart, (size_t)ctxn);
            size_t e1 = fwd_chars(text.p, text.len, x->oend, (size_t)ctxn);
            flat(&m, text.p + x->ostart, x->oend - x->ostart);
            flat(&b, text.p + s0, x->ostart - s0);
            flat(&a, text.p + x->oend, e1 - x->oend);
            const char *en = tdx_qctx_entity_name(q, x->entity);
            const char *cn = tdx_qctx_category_name(q, x->category);
            const char *pn = tdx_qctx_pattern_text(q, x->pattern);
            total++;
            if (out == 1) {
                tdx_buf_reset(&line);
                tdx_buf_puts(&line, "{\"id\":");
                cli_json_buf(&line, d.key, d.key_len);
                tdx_buf_printf(&line, ",\"doc\":%u,\"entity\":", id);
                cli_json_buf(&line, en, strlen(en));
                tdx_buf_puts(&line, ",\"category\":");
                cli_json_buf(&line, cn, strlen(cn));
                tdx_buf_puts(&line, ",\"pattern\":");
                cli_json_buf(&line, pn, strlen(pn));
                tdx_buf_printf(&line, ",\"start\":%u,\"end\":%u,\"text\":", x->ostart, x->oend);
                cli_json_buf(&line, (const char *)m.p, m.len);
                tdx_buf_puts(&line, ",\"before\":");
                cli_json_buf(&line, (const char *)b.p, b.len);
                tdx_buf_puts(&line, ",\"after\":");
                cli_json_buf(&line, (const char *)a.p, a.len);
                tdx_buf_puts(&line, "}\n");
                fwrite(line.p, 1, line.len, stdout);
            } else if (out == 2) {
                cli_csv_field(stdout, d.key, d.key_len);
                printf(",%u,", id);
                cli_csv_field(stdout, en, strlen(en));
                putchar(',');
                cli_csv_field(stdout, cn, strlen(cn));
                putchar(',');
                cli_csv_field(stdout, pn, strlen(pn));
                printf(",%u,%u,", x->ostart, x->oend);
                cli_csv_field(stdout, (const char *)m.p, m.len);
                putchar(',');
                cli_csv_field(stdout, (const char *)b.p, b.len);
                putchar(',');
                cli_csv_field(stdout, (const char *)a.p, a.len);
                printf("\r\n");
            } else {
                cli_put_cell(d.key, d.key_len, 20);
                printf("  ");
                cli_put_cell(en, strlen(en), 20);
                printf("  ");
                cli_put_cell(cn, strlen(cn), 12);
                printf("  %10u  %s[%s]%s\n", x->ostart, (const char *)b.p, (const char *)m.p,
                       (const char *)a.p);
            }
        }
    }
    if (rc == 0 && out == 0)
        printf("(%s hits in %s documents)\n", cli_num(total), cli_num(docs.n));
    tdx_free(hits);
    tdx_buf_free(&text);
    tdx_buf_free(&a);
    tdx_buf_free(&b);
    tdx_buf_free(&m);
    tdx_buf_free(&line);
    tdx_buf_free(&qt);
    tdx_docset_free(&docs);
    tdx_query_free(query);
    tdx_qctx_close(q);
    return rc ? cli_fail("hits", rc, &err) : TDX_EXIT_OK;
}
