/*
 * cmd_query.c - `tenderidx query`: ask a question, print the answer as a
 * table, JSON Lines, CSV, a count or facets, with snippets on request.
 */
#include "cli.h"

#include "../common/alloc.h"
#include "../common/buf.h"
#include "../normalize/normalize.h"
#include "../query/query.h"

#include <getopt.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

static void help(void)
{
    printf("usage: tenderidx query -i INDEX [OPTIONS] EXPR... [OPTIONS]\n\n"
           "Find the documents of INDEX that satisfy EXPR (several arguments are joined\n"
           "with spaces; after \"--\" every argument is EXPR, even one starting with\n"
           "'-').  Matching is exact after normalization: Traditional and Simplified,\n"
           "full-width and half-width, upper and lower case are the same.\n\n"
           "Expressions:\n"
           "  深圳大学                 documents containing this text (any length >= 1)\n"
           "  \"Amazon Web Services\"    a phrase, spaces included\n"
           "  entity:深圳大学          any alias of a watch-list entity (quote names with\n"
           "                           spaces: entity:\"NVIDIA H100\")\n"
           "  cat:chip                 any entity of a watch-list category\n"
           "  pattern:H100             one watch-list alias\n"
           "  buyer:深圳大学           a metadata field equal to a value (JSON fields)\n"
           "  date:2023  date:2023-01..2023-06  date:2024-03-01..  date:..2022\n"
           "  /h[18]00/                a Hyperscan regex over the normalized (lower-case,\n"
           "                           Simplified) text; fast when each | branch holds\n"
           "                           plain text (h100 or h800 here), else every\n"
           "                           document is read\n"
           "  NEAR(a, b, 50)           a and b within 50 characters, either order\n"
           "  a AND b   a b            both (AND is implied between terms)\n"
           "  a OR b                   either\n"
           "  NOT a                    not a\n"
           "  ( ... )                  grouping; NOT binds tighter than AND, AND than OR\n\n"
           "Output (default: a table; at most 50 rows on a terminal):\n"
           "      --json              one JSON object per line: id, doc, date, title, url,\n"
           "                          entities with original byte offsets\n"
           "      --csv               RFC 4180 CSV with a header row\n"
           "      --count             only the number of matching documents\n"
           "      --facet BY          counts over the whole answer by entity, cat, year,\n"
           "                          month, day or a metadata field (repeatable)\n"
           "      --snippets          the passages around each match in the original text,\n"
           "                          matches in bold on a terminal, **marked** otherwise\n"
           "      --sort ORDER        id (input order, default), date, -date\n"
           "  -n, --limit N           print at most N documents (0: all); never changes\n"
           "                          counts or facets\n"
           "      --explain           print how many documents each term matches and how\n"
           "                          many candidates were verified (by positions or text)\n"
           "  -i, --index DIR         the index\n"
           "  -h, --help              show this help\n\n"
           "Examples:\n"
           "  tenderidx query -i t.tdx 'entity:\"NVIDIA H100\" AND cat:cloud date:2023..2024'\n"
           "  tenderidx query -i t.tdx --snippets 'NEAR(entity:深圳大学, cat:chip, 100)'\n"
           "  tenderidx query -i t.tdx --facet month --count cat:chip\n"
           "  tenderidx query -i t.tdx --json 'A100 OR A800 NOT 租赁' | jq .title\n\n"
           "The normalizer's tables are kept in the cache directory ($TENDERIDX_CACHE_DIR,\n"
           "else $XDG_CACHE_HOME/tenderidx, else ~/.cache/tenderidx; TENDERIDX_CACHE_DIR=\n"
           "turns it off): after the first command, a query starts in milliseconds\n"
           "instead of a tenth of a second.\n\n"
           "Exit codes: 0 ok (also when nothing matches), 2 usage or query syntax\n"
           "error, 3 the index cannot be read.\n");
}

enum { OUT_TABLE, OUT_JSON, OUT_CSV, OUT_COUNT };

typedef struct qopts {
    int out;
    int snippets;
    int explain;
    int tty;
    long limit; /* -1: default */
    int sort;   /* 0 id, 1 date, -1 -date */
    const char *facets[16];
    int nfacets;
} qopts;

static void print_caret(const char *q, size_t col)
{
    fprintf(stderr, "  %s\n  ", q);
    /* The caret goes under the character at col; CJK characters are two wide. */
    const char *p = q;
    size_t c = 1;
    while (*p && c < col) {
        size_t l = 1;
        while ((p[l] & 0xC0) == 0x80)
            l++;
        size_t w = tdx_text_width(p, l);
        for (size_t i = 0; i < w; i++)
            fputc(p[0] == '\t' ? '\t' : ' ', stderr);
        p += l;
        c++;
    }
    fputs("^\n", stderr);
}

/* Distinct entity names of a doc's hits, in first-seen order. */
static size_t entity_names(tdx_qctx *q, const tdx_qhit *h, size_t n, tdx_buf *out)
{
    tdx_buf_reset(out);
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        int seen = 0;
        for (size_t j = 0; j < i; j++)
            if (h[j].entity == h[i].entity)
                seen = 1;
        if (seen)
            continue;
        if (k++)
            tdx_buf_puts(out, "; ");
        tdx_buf_puts(out, tdx_qctx_entity_name(q, h[i].entity));
    }
    tdx_buf_append(out, "", 0); /* NUL-terminated even when empty */
    return k;
}

typedef struct snip_state {
    tdx_buf text;
    tdx_span32 *spans;
    size_t nspans, cap;
} snip_state;

/* Back up to a UTF-8 character start. */
static size_t char_start(const uint8_t *t, size_t i)
{
    while (i > 0 && (t[i] & 0xC0) == 0x80)
        i--;
    return i;
}

static size_t move_chars(const uint8_t *t, size_t len, size_t i, long n)
{
    while (n < 0 && i > 0) {
        i = char_start(t, i - 1);
        n++;
    }
    while (n > 0 && i < len) {
        i++;
        while (i < len && (t[i] & 0xC0) == 0x80)
            i++;
        n--;
    }
    return i;
}

/* Passages of ±40 characters around the highlights, merged when close. */
static void build_snippets(const snip_state *s, int bold, tdx_buf *out, int json)
{
    const uint8_t *t = s->text.p;
    size_t len = s->text.len;
    tdx_buf_reset(out);
    size_t i = 0;
    int first = 1;
    while (i < s->nspans) {
        size_t from = move_chars(t, len, s->spans[i].start, -40);
        size_t to = move_chars(t, len, s->spans[i].end, 40);
        size_t j = i + 1;
        while (j < s->nspans && s->spans[j].start <= to) {
            to = move_chars(t, len, s->spans[j].end, 40);
            j++;
        }
        tdx_buf piece = TDX_BUF_INIT;
        if (from > 0)
            tdx_buf_puts(&piece, "…");
        size_t pos = from;
        for (size_t k = i; k < j; k++) {
            const tdx_span32 *sp = &s->spans[k];
            for (size_t b = pos; b < sp->start; b++)
                tdx_buf_putc(&piece, t[b] == '\n' || t[b] == '\r' || t[b] == '\t' ? ' ' : t[b]);
            tdx_buf_puts(&piece, bold ? "\033[1;31m" : "**");
            tdx_buf_append(&piece, t + sp->start, sp->end - sp->start);
            tdx_buf_puts(&piece, bold ? "\033[0m" : "**");
            pos = sp->end;
        }
        for (size_t b = pos; b < to; b++)
            tdx_buf_putc(&piece, t[b] == '\n' || t[b] == '\r' || t[b] == '\t' ? ' ' : t[b]);
        if (to < len)
            tdx_buf_puts(&piece, "…");
        if (json) {
            if (!first)
                tdx_buf_putc(out, ',');
            cli_json_buf(out, (const char *)piece.p, piece.len);
        } else {
            tdx_buf_puts(out, "    ");
            tdx_buf_append(out, piece.p, piece.len);
            tdx_buf_putc(out, '\n');
        }
        tdx_buf_free(&piece);
        first = 0;
        i = j;
    }
}

static void explain_leaf(void *ctx, const char *leaf, uint64_t docs, int exact)
{
    (void)ctx;
    /* Padded by display columns: a Chinese character takes two. */
    size_t w = tdx_text_width(leaf, strlen(leaf));
    fprintf(stderr, "  %s%*s %s documents%s\n", leaf, w < 40 ? (int)(40 - w) : 0, "", cli_num(docs),
            exact ? "" : " (after verification)");
}

static void explain_regex(void *ctx, const char *regex, const char *needs)
{
    (void)ctx;
    if (needs)
        fprintf(stderr, "  %s is run over the documents holding %s\n", regex, needs);
    else
        fprintf(stderr,
                "  %s is run over every document: some branch of it holds no text the index "
                "has\n",
                regex);
}

static int cmp_date_asc(const void *a, const void *b, void *ctx)
{
    const uint32_t *d = ctx;
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    /* Unknown dates (0) sort last either way; ties in doc order. */
    uint32_t dx = d[x] ? d[x] : UINT32_MAX, dy = d[y] ? d[y] : UINT32_MAX;
    if (dx != dy)
        return dx < dy ? -1 : 1;
    return x < y ? -1 : x > y;
}

static int cmp_date_desc(const void *a, const void *b, void *ctx)
{
    const uint32_t *d = ctx;
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    if (d[x] != d[y])
        return d[x] > d[y] ? -1 : 1;
    return x < y ? -1 : x > y;
}

static int run(tdx_qctx *q, tdx_query *query, const char *qtext, const qopts *o)
{
    tdx_err err = {0};
    tdx_docset docs = {0};
    tdx_qstats st;
    int need_all = o->out == OUT_COUNT || o->nfacets || o->sort != 0 || o->explain;
    size_t limit = o->limit < 0 ? 0 : (size_t)o->limit;
    int rc = tdx_query_run(q, query, need_all || limit == 0 ? 0 : limit + 1, &docs, &st, &err);
    if (rc) {
        tdx_docset_free(&docs);
        return cli_fail("query", rc, &err);
    }
    int more = !need_all && limit && docs.n > limit;
    if (o->explain) {
        fprintf(stderr, "query: %s\n", qtext);
        if (tdx_query_leaves(q, query, explain_leaf, NULL, &err))
            fprintf(stderr, "tenderidx query: cannot count the terms: %s\n", err.msg);
        if (!tdx_query_scans_all(q, query))
            tdx_query_regexes(query, explain_regex, NULL);
        fprintf(stderr, "  %s sure from postings, %s candidates verified (by positions or text)\n",
                cli_num(st.sure), cli_num(st.verified));
        if (st.text_checked)
            fprintf(stderr,
                    "  %s documents checked for a Latin or digit fragment in their text%s\n",
                    cli_num(st.text_checked),
                    st.text_gave_up ? " (then its words' postings, being cheaper)" : "");
        if (st.near_positions)
            fprintf(stderr, "  %s documents' NEAR decided by positions, without their text\n",
                    cli_num(st.near_positions));
        if (st.trigram_frags)
            fprintf(stderr,
                    "  %s Latin or digit fragment%s found through %s 3-character lists, "
                    "not the word list\n",
                    cli_num(st.trigram_frags), st.trigram_frags > 1 ? "s" : "",
                    st.trigram_frags > 1 ? "their" : "its");
    }
    if (o->sort) {
        const uint32_t *dates;
        size_t nd;
        if (tdx_qctx_dates(q, &dates, &nd, &err) == 0)
            qsort_r(docs.v, docs.n, sizeof *docs.v, o->sort > 0 ? cmp_date_asc : cmp_date_desc,
                    (void *)dates);
    }
    for (int f = 0; f < o->nfacets; f++) {
        tdx_facet *fv;
        size_t nf;
        tdx_docset sorted = {0};
        const tdx_docset *use = &docs;
        if (o->sort) { /* facets want ascending ids */
            tdx_docset_copy(&sorted, &docs);
            tdx_docset_normalize(&sorted);
            use = &sorted;
        }
        rc = tdx_query_facet(q, use, o->facets[f], &fv, &nf, &err);
        tdx_docset_free(&sorted);
        if (rc) {
            tdx_docset_free(&docs);
            return cli_fail("query", rc, &err);
        }
        if (o->out == OUT_JSON) {
            printf("{\"facet\":");
            cli_json_str(stdout, o->facets[f], strlen(o->facets[f]));
            printf(",\"counts\":{");
            for (size_t i = 0; i < nf; i++) {
                printf(i ? "," : "");
                cli_json_str(stdout, fv[i].value, strlen(fv[i].value));
                printf(":%" PRIu64, fv[i].count);
            }
            printf("}}\n");
        } else if (o->out == OUT_CSV) {
            printf("facet,value,count\r\n");
            for (size_t i = 0; i < nf; i++) {
                cli_csv_field(stdout, o->facets[f], strlen(o->facets[f]));
                putchar(',');
                cli_csv_field(stdout, fv[i].value, strlen(fv[i].value));
                printf(",%" PRIu64 "\r\n", fv[i].count);
            }
        } else {
            printf("%s:\n", o->facets[f]);
            size_t wmax = 0;
            for (size_t i = 0; i < nf; i++) {
                size_t w = tdx_text_width(fv[i].value, strlen(fv[i].value));
                wmax = w > wmax ? w : wmax;
            }
            if (wmax > 40)
                wmax = 40;
            for (size_t i = 0; i < nf; i++) {
                printf("  ");
                cli_put_cell(fv[i].value, strlen(fv[i].value), wmax);
                printf("  %10s\n", cli_num(fv[i].count));
            }
        }
        tdx_facets_free(fv, nf);
    }
    if (o->out == OUT_COUNT) {
        printf("%zu\n", docs.n);
        tdx_docset_free(&docs);
        return TDX_EXIT_OK;
    }
    if (o->nfacets && o->limit < 0) {
        /* Facets alone: no document list unless asked for with --limit. */
        tdx_docset_free(&docs);
        return TDX_EXIT_OK;
    }
    if (docs.n == 0) {
        fprintf(stderr, "tenderidx query: no document matches %s\n", qtext);
        if (!o->explain && tdx_query_leaves(q, query, explain_leaf, NULL, &err))
            fprintf(stderr, "tenderidx query: cannot count the terms: %s\n", err.msg);
        tdx_docset_free(&docs);
        return TDX_EXIT_OK;
    }
    size_t show = docs.n;
    if (limit && show > limit)
        show = limit;
    tdx_qhit *hits = NULL;
    size_t nh = 0, caph = 0;
    tdx_buf ents = TDX_BUF_INIT, line = TDX_BUF_INIT, sn = TDX_BUF_INIT;
    snip_state ss = {TDX_BUF_INIT, NULL, 0, 0};
    if (o->out == OUT_CSV)
        printf("id,doc,date,title,url,entities%s\r\n", o->snippets ? ",snippets" : "");
    if (o->out == OUT_TABLE)
        printf("%-20s  %-10s  %-44s  %s\n", "ID", "DATE", "TITLE", "ENTITIES");
    for (size_t i = 0; i < show && rc == 0; i++) {
        uint32_t id = docs.v[i];
        tdx_qdoc d;
        rc = tdx_qctx_doc(q, id, &d, &err);
        if (rc)
            break;
        /* d's strings live until the next record read: copy what we print later. */
        char *key = tdx_strndup(d.key, d.key_len), *title = tdx_strndup(d.title, d.title_len),
             *date = tdx_strndup(d.date, d.date_len), *url = tdx_strndup(d.url, d.url_len);
        rc = tdx_qctx_hits(q, id, &hits, &nh, &caph, &err);
        if (rc == TDX_ENOTFOUND) {
            nh = 0;
            rc = 0;
        }
        if (rc == 0 && o->snippets) {
            rc = tdx_qctx_text(q, id, &ss.text, &err);
            if (rc == 0)
                rc = tdx_query_highlights(q, query, id, &ss.spans, &ss.nspans, &ss.cap, &err);
            if (rc == 0)
                build_snippets(&ss, o->tty && o->out == OUT_TABLE, &sn, o->out == OUT_JSON);
        }
        if (rc || !key || !title || !date || !url) {
            tdx_free(key);
            tdx_free(title);
            tdx_free(date);
            tdx_free(url);
            if (rc == 0)
                rc = tdx_err_set(&err, TDX_ENOMEM, "out of memory");
            break;
        }
        if (o->out == OUT_JSON) {
            tdx_buf_reset(&line);
            tdx_buf_puts(&line, "{\"id\":");
            cli_json_buf(&line, key, strlen(key));
            tdx_buf_printf(&line, ",\"doc\":%u,\"date\":", id);
            cli_json_buf(&line, date, strlen(date));
            tdx_buf_puts(&line, ",\"title\":");
            cli_json_buf(&line, title, strlen(title));
            tdx_buf_puts(&line, ",\"url\":");
            cli_json_buf(&line, url, strlen(url));
            tdx_buf_puts(&line, ",\"entities\":[");
            for (size_t h = 0; h < nh; h++) {
                const char *en = tdx_qctx_entity_name(q, hits[h].entity);
                const char *cn = tdx_qctx_category_name(q, hits[h].category);
                const char *pn = tdx_qctx_pattern_text(q, hits[h].pattern);
                tdx_buf_puts(&line, h ? ",{\"entity\":" : "{\"entity\":");
                cli_json_buf(&line, en, strlen(en));
                tdx_buf_puts(&line, ",\"category\":");
                cli_json_buf(&line, cn, strlen(cn));
                tdx_buf_puts(&line, ",\"pattern\":");
                cli_json_buf(&line, pn, strlen(pn));
                tdx_buf_printf(&line, ",\"start\":%u,\"end\":%u}", hits[h].ostart, hits[h].oend);
            }
            tdx_buf_putc(&line, ']');
            if (o->snippets) {
                tdx_buf_puts(&line, ",\"snippets\":[");
                tdx_buf_append(&line, sn.p, sn.len);
                tdx_buf_putc(&line, ']');
            }
            tdx_buf_puts(&line, "}\n");
            fwrite(line.p, 1, line.len, stdout);
        } else if (o->out == OUT_CSV) {
            entity_names(q, hits, nh, &ents);
            cli_csv_field(stdout, key, strlen(key));
            printf(",%u,", id);
            cli_csv_field(stdout, date, strlen(date));
            putchar(',');
            cli_csv_field(stdout, title, strlen(title));
            putchar(',');
            cli_csv_field(stdout, url, strlen(url));
            putchar(',');
            cli_csv_field(stdout, (const char *)ents.p, ents.len);
            if (o->snippets) {
                /* One field: passages separated by " | ". */
                tdx_buf flat = TDX_BUF_INIT;
                for (size_t b = 0; b < sn.len; b++) {
                    if (sn.p[b] == '\n') {
                        if (b + 1 < sn.len)
                            tdx_buf_puts(&flat, " | ");
                    } else if (!(flat.len == 0 && sn.p[b] == ' ')) {
                        tdx_buf_putc(&flat, sn.p[b]);
                    }
                }
                putchar(',');
                cli_csv_field(stdout, flat.p ? (const char *)flat.p : "", flat.len);
                tdx_buf_free(&flat);
            }
            printf("\r\n");
        } else {
            entity_names(q, hits, nh, &ents);
            cli_put_cell(key, strlen(key), 20);
            printf("  ");
            cli_put_cell(date, strlen(date), 10);
            printf("  ");
            cli_put_cell(title, strlen(title), 44);
            printf("  %s\n", ents.p ? (const char *)ents.p : "");
            if (o->snippets && sn.len)
                fwrite(sn.p, 1, sn.len, stdout);
        }
        tdx_free(key);
        tdx_free(title);
        tdx_free(date);
        tdx_free(url);
    }
    if (rc == 0 && o->out == OUT_TABLE) {
        if (more)
            printf("(first %zu documents shown; more match: --limit 0 shows all, --count "
                   "counts them)\n",
                   show);
        else if (show < docs.n)
            printf("(%zu of %zu documents shown; --limit 0 shows all)\n", show, docs.n);
        else
            printf("(%zu document%s)\n", docs.n, docs.n == 1 ? "" : "s");
    }
    tdx_free(hits);
    tdx_buf_free(&ents);
    tdx_buf_free(&line);
    tdx_buf_free(&sn);
    tdx_buf_free(&ss.text);
    tdx_free(ss.spans);
    tdx_docset_free(&docs);
    return rc ? cli_fail("query", rc, &err) : TDX_EXIT_OK;
}

int cmd_query(int argc, char **argv)
{
    enum { O_JSON = 256, O_CSV, O_COUNT, O_FACET, O_SNIPPETS, O_SORT, O_EXPLAIN };
    static const struct option opts[] = {
        {"index", required_argument, NULL, 'i'},
        {"json", no_argument, NULL, O_JSON},
        {"csv", no_argument, NULL, O_CSV},
        {"count", no_argument, NULL, O_COUNT},
        {"facet", required_argument, NULL, O_FACET},
        {"snippets", no_argument, NULL, O_SNIPPETS},
        {"sort", required_argument, NULL, O_SORT},
        {"limit", required_argument, NULL, 'n'},
        {"explain", no_argument, NULL, O_EXPLAIN},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *index = NULL;
    qopts o;
    memset(&o, 0, sizeof o);
    o.limit = -1;
    int c;
    uint64_t u;
    /* Options may follow the query (`query -i t.tdx H100 --count`); after
     * "--" everything is query text, for words that start with '-'. */
    while ((c = getopt_long(argc, argv, "i:n:h", opts, NULL)) != -1) {
        switch (c) {
        case 'i':
            index = optarg;
            break;
        case O_JSON:
            o.out = OUT_JSON;
            break;
        case O_CSV:
            o.out = OUT_CSV;
            break;
        case O_COUNT:
            o.out = OUT_COUNT;
            break;
        case O_FACET:
            if (o.nfacets == 16)
                return cli_usage_error("query", "at most 16 --facet options");
            o.facets[o.nfacets++] = optarg;
            break;
        case O_SNIPPETS:
            o.snippets = 1;
            break;
        case O_SORT:
            if (strcmp(optarg, "id") == 0)
                o.sort = 0;
            else if (strcmp(optarg, "date") == 0)
                o.sort = 1;
            else if (strcmp(optarg, "-date") == 0)
                o.sort = -1;
            else
                return cli_usage_error("query", "--sort wants id, date or -date, not '%s'",
                                       optarg);
            break;
        case 'n':
            if (cli_parse_uint(optarg, UINT32_MAX, &u))
                return cli_usage_error("query", "--limit wants a number, not '%s'", optarg);
            o.limit = (long)u;
            break;
        case O_EXPLAIN:
            o.explain = 1;
            break;
        case 'h':
            help();
            return TDX_EXIT_OK;
        default:
            return cli_usage_error("query", "invalid option");
        }
    }
    if (index == NULL)
        return cli_usage_error("query", "no index given (-i INDEX)");
    if (optind == argc)
        return cli_usage_error("query", "no query given");
    o.tty = cli_stdout_is_tty();
    if (o.limit < 0 && o.out == OUT_TABLE && o.tty && !o.nfacets)
        o.limit = 50;
    tdx_buf qb = TDX_BUF_INIT;
    for (int i = optind; i < argc; i++) {
        if (i > optind)
            tdx_buf_putc(&qb, ' ');
        tdx_buf_puts(&qb, argv[i]);
    }
    if (qb.p == NULL)
        return cli_fail("query", TDX_ENOMEM, NULL);
    const char *qtext = (const char *)qb.p;
    tdx_err err = {0};
    tdx_qctx *q;
    int rc = tdx_qctx_open(index, &q, &err);
    if (rc) {
        tdx_buf_free(&qb);
        return cli_fail("query", rc, &err);
    }
    tdx_query *query;
    size_t col = 0;
    rc = tdx_query_parse(q, qtext, &query, &col, &err);
    int status;
    if (rc) {
        cli_error("query", "%s", err.msg);
        if (col)
            print_caret(qtext, col);
        status = rc == TDX_ENOMEM ? TDX_EXIT_FATAL : TDX_EXIT_USAGE;
    } else {
        if (tdx_query_scans_all(q, query))
            cli_warn("query",
                     "'%s' is an entity-only index (built with --no-grams): text terms are "
                     "answered by reading every document, which is exact but slow; entity:, "
                     "cat:, pattern:, field and date terms stay fast",
                     index);
        status = run(q, query, qtext, &o);
        tdx_query_free(query);
    }
    tdx_qctx_close(q);
    tdx_buf_free(&qb);
    return status;
}
