/*
 * gen.c - corpus/gen: a deterministic, streaming generator of Chinese
 * public-procurement notices (招标公告, 中标公告, 合同公告, 询价, 竞争性磋商 ...)
 * that plants watch-list names and writes the exact ground truth of what
 * tenderidx must find.  `gen watchlist` makes large watch lists (wlgen.c).
 *
 * Where: outside the engine; feeds tests, scripts/demo.sh and bench/.
 *
 * How a notice is made: the phrase grammar (grammar.h) is compiled once at
 * start-up into rules whose text pieces are pre-rendered four ways
 * (Simplified / Traditional via ICU, each plain or with full-width Latin)
 * and pre-normalized with the tdx normalizer; pieces that contain a
 * watch-list alias are dropped.  Per notice, a private RNG stream (seed,
 * notice number) picks the notice type, the script, the variables
 * (purchaser, agency, project, dates, budget ...) and the names to plant,
 * expands the grammar into a list of units, then emits the units: copying
 * pre-rendered bytes, and at every junction between two units checking
 * that no alias can form across it (when one could, a separator such as
 * '，' goes in between).  So the filler never contains an alias, and the
 * truth -- the planted renderings' own hits, computed once per rendering
 * by the reference matcher in watch.c -- is exactly what a correct matcher
 * reports.  --verify re-checks that claim on every notice it writes.
 *
 * Notice i depends only on (--seed, i) and the options, not on how many
 * notices come before or after it.
 *
 * Threading: single-threaded.
 */
#include "gen.h"
#include "grammar.h"

#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/alloc.h"
#include "out.h"

int wlgen_main(int argc, char **argv);
int textgen_main(int argc, char **argv);

#ifndef TDX_CORPUS_DIR
#define TDX_CORPUS_DIR "corpus"
#endif

/* ---- notice types ------------------------------------------------------------ */

typedef struct ntype {
    const char *key, *name;
    unsigned weight;
    int has_supplier, has_agency;
} ntype;

static const ntype TYPES[] = {
    {"tender", "招标公告", 30, 0, 1},         {"consult", "竞争性磋商公告", 10, 0, 1},
    {"negotiate", "竞争性谈判公告", 4, 0, 1}, {"inquiry", "询价公告", 10, 0, 1},
    {"single", "单一来源采购公示", 5, 1, 1},  {"award", "中标（成交）结果公告", 20, 1, 1},
    {"contract", "合同公告", 10, 1, 0},       {"correct", "更正公告", 5, 0, 1},
    {"terminate", "终止公告", 3, 0, 1},       {"intent", "采购意向公开", 3, 0, 0},
};
#define NTYPES (sizeof TYPES / sizeof TYPES[0])

/* ---- compiled grammar ------------------------------------------------------------ */

typedef struct piece {
    const char *r[4]; /* rendering: [trad * 2 + fullwidth] */
    uint32_t rlen[4];
    const char *n[2]; /* normalized (stripped), per script */
    uint32_t nlen[2];
    uint32_t first[2], last[2];
    uint8_t first_cjk[2], last_cjk[2];
    uint8_t lead_ws, trail_ws, bad;
} piece;

enum gen_kind {
    G_INT,
    G_DATE,
    G_DATETIME,
    G_MONEY,
    G_CAPMONEY,
    G_PNO,
    G_PHONE,
    G_MOBILE,
    G_N,
    G_YEAR,
    G_REQS,
    G_MENTIONS,
    G_PLANT,
};

static const char *const GEN_NAMES[] = {"int",  "date",     "datetime", "money", "capmoney",
                                        "pno",  "phone",    "mobile",   "n",     "year",
                                        "reqs", "mentions", "plant"};

enum { D_PUB, D_DEADLINE, D_SALE_END, D_FIRST, D_SIGN, ND };
static const char *const DATE_KEYS[] = {"pub", "deadline", "sale_end", "first", "sign"};
enum { M_BUDGET, M_LIMIT, M_BID, M_FEE, NM };
static const char *const MONEY_KEYS[] = {"budget", "limit", "bid", "fee"};

enum var_id {
    V_PURCHASER,
    V_AGENCY,
    V_SUPPLIER,
    V_PROJECT,
    V_PROV,
    V_PROV_SFX,
    V_CITY,
    V_PNO,
    V_ADDR1,
    V_ADDR2,
    V_ADDR3,
    V_PERSON1,
    V_PHONE1,
    V_PERSON2,
    V_PHONE2,
    NVARS
};
static const char *const VAR_NAMES[] = {"purchaser", "agency",  "supplier", "project", "prov",
                                        "prov_sfx",  "city",    "pno",      "addr1",   "addr2",
                                        "addr3",     "person1", "phone1",   "person2", "phone2"};

enum item_kind { IT_TEXT, IT_RULE, IT_VAR, IT_GEN };

typedef struct item {
    uint8_t kind, gen;
    uint32_t idx; /* piece, rule or variable */
    int32_t a, b;
} item;

typedef struct alt {
    item *items;
    uint32_t nitems, weight;
} alt;

typedef struct rule {
    char *name;
    alt *alts;
    uint32_t nalts, total;
    uint32_t dropped;
} rule;

typedef struct city {
    uint32_t piece, prov;
} city;

typedef struct grammar {
    piece *pieces;
    size_t npieces, cap_pieces;
    rule *rules;
    size_t nrules;
    uint32_t prov_piece[sizeof GRAM_PROVS / sizeof GRAM_PROVS[0]];
    uint32_t prov_sfx_piece[sizeof GRAM_PROVS / sizeof GRAM_PROVS[0]];
    city *cities;
    size_t ncities;
    uint32_t sep_pieces[6];
    size_t dropped_pieces;
} grammar;

/* ---- options --------------------------------------------------------------------- */

typedef struct opts {
    uint64_t docs, bytes, seed, first;
    double trad, fullwidth, plant, variants, dup;
    const char *watchlist, *output, *truth;
    int verify, quiet, date_mix;
    out_opts out;
} opts;

/* ---- the generator ----------------------------------------------------------------- */

enum unit_kind { U_PIECE, U_GEN, U_PLANT };

typedef struct unit {
    uint8_t kind;
    uint32_t a, b, c, d; /* U_PIECE: a = piece; U_GEN: simp a+b, trad c+d, then the
                            normalized form (b bytes) at e; U_PLANT: a */
    uint32_t e;
} unit;

typedef struct units {
    unit *v;
    size_t n, cap;
} units;

enum role { R_MENTION, R_REQ, R_PURCHASER, R_AGENCY, R_SUPPLIER };

typedef struct plant {
    uint32_t entity, row;
    const variant *v;
    int role;
} plant;

typedef struct trow {
    uint32_t entity, start, end;
} trow;

#define MAX_PLANTS 8

typedef struct doc {
    uint64_t index;
    rng r;
    int trad, fw, type, datestyle, moneystyle;
    uint32_t city, prov;
    units u, vu;
    uint32_t var_lo[NVARS], var_hi[NVARS];
    tdx_buf gen;
    plant plants[MAX_PLANTS];
    int nplants, cur_plant, item_n, req_rule, depth;
    int64_t money[NM]; /* cents */
    int32_t day[ND];
    int minute[ND];

    tdx_buf text, tail, tsave, tmp, tmp2;
    size_t title_off, title_len, footer_off;
    uint32_t last_cp;
    int last_cjk, pending_ws, prev_plant;
    trow *tr;
    size_t ntr, ctr;
    size_t seps, unsafe;
} doc;

typedef struct gen {
    opts o;
    gen_norm gn;
    watch *w;
    grammar g;
    uint32_t *plantable; /* entities with at least one literal alias */
    size_t nplantable;
    int rule_html_nav, rule_html_footer;
    int rule_req, rule_mention, rule_purchaser, rule_agency, rule_supplier, rule_person, rule_addr,
        rule_proj[3];
    int *rule_plant_req, *rule_plant_mention; /* per category, -1 when none */
    ghits vh;
    tdx_buf vtmp;
    uint64_t verified, mismatched;
    int fault_nosep; /* TDX_GEN_FAULT=nosep: no separators (proves --verify can fail) */
    int debug;       /* TDX_GEN_DEBUG: say which phrases and junctions were changed */
} gen;

/* ---- grammar compilation ---------------------------------------------------------- */

static int find_rule(const grammar *g, const char *name, size_t len)
{
    for (size_t i = 0; i < g->nrules; i++)
        if (strlen(g->rules[i].name) == len && memcmp(g->rules[i].name, name, len) == 0)
            return (int)i;
    return -1;
}

static int rule_by_name(const grammar *g, const char *name)
{
    return find_rule(g, name, strlen(name));
}

/*
 * Forms Taiwan writes (and Big5 has) where ICU's transliterator picks
 * another: 啟 for 啓, ≧ for ≥.  Same byte length, replaced in place.
 */
static void taiwan_forms(tdx_buf *t)
{
    static const char *const from[] = {"啓", "≥"}, *const to[] = {"啟", "≧"};
    for (size_t k = 0; k < 2; k++)
        for (uint8_t *p = t->p; (p = (uint8_t *)strstr((char *)p, from[k])) != NULL; p += 3)
            memcpy(p, to[k], 3);
}

static uint32_t make_piece(gen *G, const char *s, size_t len)
{
    grammar *g = &G->g;
    if (g->npieces == g->cap_pieces) {
        g->cap_pieces = g->cap_pieces ? g->cap_pieces * 2 : 512;
        g->pieces = gen_realloc(g->pieces, g->cap_pieces * sizeof *g->pieces);
    }
    piece *p = &g->pieces[g->npieces];
    memset(p, 0, sizeof *p);
    tdx_buf t = TDX_BUF_INIT, f = TDX_BUF_INIT, n = TDX_BUF_INIT;
    gen_to_trad(&G->gn, s, len, &t);
    taiwan_forms(&t);
    const char *src[2] = {s, (const char *)t.p};
    size_t slen[2] = {len, t.len};
    for (int sc = 0; sc < 2; sc++) {
        p->r[sc * 2] = gen_strndup(src[sc], slen[sc]);
        p->rlen[sc * 2] = (uint32_t)slen[sc];
        gen_to_fullwidth(src[sc], slen[sc], &f);
        p->r[sc * 2 + 1] = gen_strndup((const char *)f.p, f.len);
        p->rlen[sc * 2 + 1] = (uint32_t)f.len;
        int lw, tw;
        gen_normalize(&G->gn, src[sc], slen[sc], &n, &lw, &tw);
        p->lead_ws = (uint8_t)lw;
        p->trail_ws = (uint8_t)tw;
        p->n[sc] = gen_strndup((const char *)n.p, n.len);
        p->nlen[sc] = (uint32_t)n.len;
        if (n.len) {
            size_t l;
            p->first[sc] = gen_cp(n.p, n.p + n.len, &l);
            p->last[sc] = gen_last_cp(n.p, n.p + n.len);
            p->first_cjk[sc] = (uint8_t)gen_is_cjk(p->first[sc]);
            p->last_cjk[sc] = (uint8_t)gen_is_cjk(p->last[sc]);
        }
        watch_scan(G->w, n.p, n.len, &G->vh);
        if (G->vh.n)
            p->bad = 1;
    }
    tdx_buf_free(&t);
    tdx_buf_free(&f);
    tdx_buf_free(&n);
    if (p->bad) {
        g->dropped_pieces++;
        if (G->debug)
            gen_warn("phrase \"%.*s\" contains a watch-list alias", (int)len, s);
    }
    return (uint32_t)g->npieces++;
}

static int parse_gen(const char *s, size_t len, item *it)
{
    char buf[64];
    if (len >= sizeof buf)
        return -1;
    memcpy(buf, s, len);
    buf[len] = 0;
    char *save = NULL, *name = strtok_r(buf, " ", &save);
    char *a1 = strtok_r(NULL, " ", &save), *a2 = strtok_r(NULL, " ", &save);
    if (name == NULL)
        return -1;
    for (size_t k = 0; k < sizeof GEN_NAMES / sizeof GEN_NAMES[0]; k++) {
        if (strcmp(name, GEN_NAMES[k]) != 0)
            continue;
        it->kind = IT_GEN;
        it->gen = (uint8_t)k;
        if (k == G_INT) {
            if (!a1 || !a2)
                return -1;
            it->a = atoi(a1);
            it->b = atoi(a2);
        } else if (k == G_DATE || k == G_DATETIME) {
            it->a = -1;
            for (int d = 0; d < ND; d++)
                if (a1 && strcmp(a1, DATE_KEYS[d]) == 0)
                    it->a = d;
            if (it->a < 0)
                return -1;
        } else if (k == G_MONEY) {
            it->a = -1;
            for (int m = 0; m < NM; m++)
                if (a1 && strcmp(a1, MONEY_KEYS[m]) == 0)
                    it->a = m;
            if (it->a < 0)
                return -1;
        }
        return 0;
    }
    return -1;
}

/* Parse one alternative; 0 when one of its pieces contains an alias. */
static int compile_alt(gen *G, const char *rname, const char *s, alt *out)
{
    grammar *g = &G->g;
    unsigned weight = 1;
    if (s[0] == '%') {
        char *e;
        weight = (unsigned)strtoul(s + 1, &e, 10);
        s = e + (*e == ' ');
    }
    item *items = NULL;
    size_t n = 0;
    int ok = 1;
    const char *p = s;
    while (*p) {
        const char *brace = strchr(p, '{');
        size_t tlen = brace ? (size_t)(brace - p) : strlen(p);
        if (tlen) {
            items = gen_realloc(items, (n + 1) * sizeof *items);
            uint32_t pc = make_piece(G, p, tlen);
            items[n++] = (item){IT_TEXT, 0, pc, 0, 0};
            if (g->pieces[pc].bad)
                ok = 0;
        }
        if (!brace)
            break;
        const char *close = strchr(brace, '}');
        if (!close)
            gen_die("grammar rule '%s': unclosed '{' in \"%s\"", rname, s);
        const char *ref = brace + 1;
        size_t rlen = (size_t)(close - ref);
        item it = {0};
        if (*ref == '$') {
            it.kind = IT_VAR;
            it.idx = NVARS;
            for (uint32_t v = 0; v < NVARS; v++)
                if (strlen(VAR_NAMES[v]) == rlen - 1 &&
                    memcmp(VAR_NAMES[v], ref + 1, rlen - 1) == 0)
                    it.idx = v;
            if (it.idx == NVARS)
                gen_die("grammar rule '%s': unknown variable '%.*s'", rname, (int)rlen, ref);
        } else if (*ref == '#') {
            if (parse_gen(ref + 1, rlen - 1, &it) != 0)
                gen_die("grammar rule '%s': bad generator '%.*s'", rname, (int)rlen, ref);
        } else {
            it.kind = IT_RULE;
            int r = find_rule(g, ref, rlen);
            if (r < 0)
                gen_die("grammar rule '%s': unknown rule '%.*s'", rname, (int)rlen, ref);
            it.idx = (uint32_t)r;
        }
        items = gen_realloc(items, (n + 1) * sizeof *items);
        items[n++] = it;
        p = close + 1;
    }
    out->items = items;
    out->nitems = (uint32_t)n;
    out->weight = weight;
    return ok;
}

static void add_alt(gen *G, rule *r, const char *s)
{
    alt a;
    if (compile_alt(G, r->name, s, &a)) {
        r->alts = gen_realloc(r->alts, (r->nalts + 1) * sizeof *r->alts);
        r->alts[r->nalts++] = a;
        r->total += a.weight;
    } else {
        tdx_free(a.items);
        r->dropped++;
    }
}

static void compile_grammar(gen *G)
{
    grammar *g = &G->g;
    size_t nrows = sizeof GRAMMAR / sizeof GRAMMAR[0];
    /* Rule names first, so references resolve in any order. */
    for (size_t i = 0; i < nrows; i++) {
        if (rule_by_name(g, GRAMMAR[i].rule) >= 0)
            continue;
        g->rules = gen_realloc(g->rules, (g->nrules + 1) * sizeof *g->rules);
        memset(&g->rules[g->nrules], 0, sizeof *g->rules);
        g->rules[g->nrules++].name = gen_strndup(GRAMMAR[i].rule, strlen(GRAMMAR[i].rule));
    }
    for (size_t i = 0; i < nrows; i++) {
        rule *r = &g->rules[rule_by_name(g, GRAMMAR[i].rule)];
        const char *s = GRAMMAR[i].alt;
        if (s[0] != '|') {
            add_alt(G, r, s);
            continue;
        }
        for (const char *p = s + 1;;) {
            const char *bar = strchr(p, '|');
            size_t l = bar ? (size_t)(bar - p) : strlen(p);
            char *one = gen_strndup(p, l);
            add_alt(G, r, one);
            tdx_free(one);
            if (!bar)
                break;
            p = bar + 1;
        }
    }
    for (size_t i = 0; i < g->nrules; i++)
        if (g->rules[i].nalts == 0)
            gen_die("every alternative of grammar rule '%s' contains an alias of the watch "
                    "list; the filler text cannot be kept free of it (remove very generic "
                    "aliases, or use the substring-free literal form)",
                    g->rules[i].name);
    /* Provinces and cities. */
    size_t nprov = sizeof GRAM_PROVS / sizeof GRAM_PROVS[0];
    for (size_t i = 0; i < nprov; i++) {
        g->prov_piece[i] = make_piece(G, GRAM_PROVS[i].name, strlen(GRAM_PROVS[i].name));
        g->prov_sfx_piece[i] = make_piece(G, GRAM_PROVS[i].suffix, strlen(GRAM_PROVS[i].suffix));
        if (g->pieces[g->prov_piece[i]].bad || g->pieces[g->prov_sfx_piece[i]].bad)
            continue;
        const char *c = GRAM_PROVS[i].cities;
        while (*c) {
            size_t l = strcspn(c, " ");
            uint32_t pc = make_piece(G, c, l);
            if (!g->pieces[pc].bad) {
                g->cities = gen_realloc(g->cities, (g->ncities + 1) * sizeof *g->cities);
                g->cities[g->ncities++] = (city){pc, (uint32_t)i};
            }
            c += l + (c[l] == ' ');
        }
    }
    if (g->ncities == 0)
        gen_die("every city name of the grammar is an alias of the watch list");
    static const char *const seps[] = {"，", "；", "、", "。", " ", "——"};
    for (size_t i = 0; i < sizeof seps / sizeof seps[0]; i++)
        g->sep_pieces[i] = make_piece(G, seps[i], strlen(seps[i]));
}

/* ---- units and expansion --------------------------------------------------------- */

static void units_push(units *u, unit x)
{
    if (u->n == u->cap) {
        u->cap = u->cap ? u->cap * 2 : 256;
        u->v = gen_realloc(u->v, u->cap * sizeof *u->v);
    }
    u->v[u->n++] = x;
}

/* A value made by code: ASCII (and CJK that is the same in both scripts
 * unless trad is given).  Regenerated by the caller when it holds an alias. */
static unit gen_unit(doc *d, const char *simp, size_t slen, const char *trad, size_t tlen)
{
    unit x = {U_GEN, (uint32_t)d->gen.len, (uint32_t)slen, 0, 0, 0};
    gen_put(&d->gen, simp, slen);
    if (trad) {
        x.c = (uint32_t)d->gen.len;
        x.d = (uint32_t)tlen;
        gen_put(&d->gen, trad, tlen);
    } else {
        x.c = x.a;
        x.d = x.b;
    }
    /* normalized: ASCII lower-cased; the CJK that generators write
     * (年 月 日 时 分 元 万 and the capital numerals) normalizes to the
     * Simplified form given here */
    x.e = (uint32_t)d->gen.len;
    gen_put(&d->gen, simp, slen);
    for (size_t i = 0; i < slen; i++)
        if (d->gen.p[x.e + i] >= 'A' && d->gen.p[x.e + i] <= 'Z')
            d->gen.p[x.e + i] = (uint8_t)(d->gen.p[x.e + i] + 32);
    return x;
}

/* Lower-cased copy: the normalized form of generated ASCII text. */
static void gen_norm_ascii(const char *s, size_t len, tdx_buf *out)
{
    tdx_buf_reset(out);
    gen_put(out, s, len);
    for (size_t i = 0; i < len; i++)
        if (out->p[i] >= 'A' && out->p[i] <= 'Z')
            out->p[i] = (uint8_t)(out->p[i] + 32);
}

static int holds_alias(gen *G, doc *d, const char *s, size_t len)
{
    gen_norm_ascii(s, len, &d->tmp2);
    if (!watch_may_hold(G->w, d->tmp2.p, d->tmp2.len))
        return 0;
    watch_scan(G->w, d->tmp2.p, d->tmp2.len, &G->vh);
    return G->vh.n > 0;
}

static size_t fmt_date(char *b, size_t cap, int style, int32_t day)
{
    int y, m, dd;
    gen_ymd(day, &y, &m, &dd);
    switch (style) {
    case 1:
        return (size_t)snprintf(b, cap, "%d年%02d月%02d日", y, m, dd);
    case 2:
        return (size_t)snprintf(b, cap, "%d-%02d-%02d", y, m, dd);
    case 3:
        return (size_t)snprintf(b, cap, "%d/%02d/%02d", y, m, dd);
    case 4:
        return (size_t)snprintf(b, cap, "%d%02d%02d", y, m, dd);
    default:
        return (size_t)snprintf(b, cap, "%d年%d月%d日", y, m, dd);
    }
}

static size_t fmt_datetime(char *b, size_t cap, int style, int32_t day, int minute)
{
    size_t n = fmt_date(b, cap, style, day);
    int h = minute / 60, mi = minute % 60;
    if (style == 2 || style == 3 || style == 4)
        n += (size_t)snprintf(b + n, cap - n, " %02d:%02d:00", h, mi);
    else if (style == 1)
        n += (size_t)snprintf(b + n, cap - n, "%02d时%02d分", h, mi);
    else
        n += (size_t)snprintf(b + n, cap - n, " %02d:%02d", h, mi);
    return n;
}

static size_t fmt_grouped(char *b, size_t cap, int64_t v)
{
    char t[32];
    int n = snprintf(t, sizeof t, "%" PRId64, v);
    size_t o = 0;
    for (int i = 0; i < n && o + 1 < cap; i++) {
        if (i > 0 && (n - i) % 3 == 0)
            b[o++] = ',';
        b[o++] = t[i];
    }
    b[o] = 0;
    return o;
}

static void push_money(doc *d, units *out, int64_t cents)
{
    char s[96], t[96], g[48];
    size_t sn, tn;
    int64_t yuan = cents / 100, c = cents % 100;
    switch (d->moneystyle) {
    case 1: {
        /* 万元 with six decimals, as most platforms print it */
        int64_t wan = cents / 1000000, frac = (cents % 1000000);
        sn = (size_t)snprintf(s, sizeof s, "%" PRId64 ".%06" PRId64 "万元", wan, frac);
        tn = (size_t)snprintf(t, sizeof t, "%" PRId64 ".%06" PRId64 "萬元", wan, frac);
        break;
    }
    case 2:
        fmt_grouped(g, sizeof g, yuan);
        sn = tn = (size_t)snprintf(s, sizeof s, "¥%s.%02" PRId64, g, c);
        memcpy(t, s, sn);
        break;
    case 3:
        sn = (size_t)snprintf(s, sizeof s, "人民币%" PRId64 ".%02" PRId64 "元", yuan, c);
        tn = (size_t)snprintf(t, sizeof t, "人民幣%" PRId64 ".%02" PRId64 "元", yuan, c);
        break;
    default:
        fmt_grouped(g, sizeof g, yuan);
        sn = tn = (size_t)snprintf(s, sizeof s, "%s.%02" PRId64 "元", g, c);
        memcpy(t, s, sn);
        break;
    }
    units_push(out, gen_unit(d, s, sn, t, tn));
}

/* 1250000 -> 壹佰贰拾伍万元整 (the amount in words on contracts). */
static void push_capmoney(doc *d, units *out, int64_t yuan)
{
    static const char *const dig_s[] = {"零", "壹", "贰", "叁", "肆", "伍", "陆", "柒", "捌", "玖"};
    static const char *const dig_t[] = {"零", "壹", "貳", "叁", "肆", "伍", "陸", "柒", "捌", "玖"};
    static const char *const small[] = {"", "拾", "佰", "仟"};
    static const char *const big_s[] = {"", "万", "亿"};
    static const char *const big_t[] = {"", "萬", "億"};
    char s[256] = "人民币", t[256] = "人民幣";
    if (yuan <= 0 || yuan >= 1000000000000LL)
        yuan = 1;
    int groups[3] = {(int)(yuan % 10000), (int)(yuan / 10000 % 10000), (int)(yuan / 100000000)};
    int zero = 0, started = 0;
    for (int gi = 2; gi >= 0; gi--) {
        int v = groups[gi];
        if (v == 0) {
            zero = started;
            continue;
        }
        for (int k = 3; k >= 0; k--) {
            int dgt = v / (int)pow(10, k) % 10;
            if (dgt == 0) {
                zero = started;
                continue;
            }
            if (zero) {
                strcat(s, dig_s[0]);
                strcat(t, dig_t[0]);
                zero = 0;
            }
            strcat(s, dig_s[dgt]);
            strcat(t, dig_t[dgt]);
            strcat(s, small[k]);
            strcat(t, small[k]);
            started = 1;
        }
        strcat(s, big_s[gi]);
        strcat(t, big_t[gi]);
    }
    strcat(s, "元整");
    strcat(t, "元整");
    units_push(out, gen_unit(d, s, strlen(s), t, strlen(t)));
}

static void expand(gen *G, doc *d, int rule_idx, units *out);

static void expand_items(gen *G, doc *d, const alt *a, units *out);

static void push_ascii_checked(gen *G, doc *d, units *out, int kind, int32_t a, int32_t b)
{
    char s[64];
    size_t n = 0;
    for (int tries = 0; tries < 16; tries++) {
        switch (kind) {
        case G_INT:
            n = (size_t)snprintf(s, sizeof s, "%" PRId64, rng_range(&d->r, a, b));
            break;
        case G_PNO: {
            static const char *const codes[] = {"ZB", "CG", "ZC", "GK", "HW", "FW",
                                                "JC", "XJ", "CS", "TP", "DY", "GZ"};
            const char *py = GRAM_PROVS[d->prov].pinyin;
            int y, m, dd;
            gen_ymd(d->day[D_PUB], &y, &m, &dd);
            const char *c = codes[rng_below(&d->r, sizeof codes / sizeof codes[0])];
            switch (rng_below(&d->r, 4)) {
            case 0:
                n = (size_t)snprintf(s, sizeof s, "%c%c%s%d-%04u", py[0] - 32, py[1] - 32, c, y,
                                     rng_below(&d->r, 10000));
                break;
            case 1:
                n = (size_t)snprintf(s, sizeof s, "%c%c-%s-%d%06u", py[0] - 32, py[1] - 32, c, y,
                                     rng_below(&d->r, 1000000));
                break;
            case 2:
                n = (size_t)snprintf(s, sizeof s, "%d%02d%c%c%s%05u", y, m, py[0] - 32, py[1] - 32,
                                     c, rng_below(&d->r, 100000));
                break;
            default:
                n = (size_t)snprintf(s, sizeof s, "%s[%d]%03u", c, y, rng_below(&d->r, 1000));
                break;
            }
            break;
        }
        case G_PHONE: {
            static const char *const area[] = {"010",  "021",  "022",  "023", "020", "0755", "0571",
                                               "025",  "0512", "0531", "028", "027", "0731", "029",
                                               "0551", "0591", "0451", "024", "0871"};
            n = (size_t)snprintf(s, sizeof s, "%s-%08u",
                                 area[rng_below(&d->r, sizeof area / sizeof area[0])],
                                 20000000 + rng_below(&d->r, 70000000));
            break;
        }
        case G_MOBILE:
            n = (size_t)snprintf(s, sizeof s, "1%u%09u", 3 + rng_below(&d->r, 7),
                                 rng_below(&d->r, 1000000000));
            break;
        default:
            n = (size_t)snprintf(s, sizeof s, "%d", a);
            break;
        }
        if (!holds_alias(G, d, s, n))
            break;
    }
    units_push(out, gen_unit(d, s, n, NULL, 0));
}

static int plant_rule(gen *G, const plant *p, int mention)
{
    uint32_t cat = watch_entity(G->w, p->entity)->category;
    int r = mention ? G->rule_plant_mention[cat] : G->rule_plant_req[cat];
    return r >= 0 ? r : G->rule_mention;
}

static void expand_gen(gen *G, doc *d, const item *it, units *out)
{
    char s[96];
    size_t n;
    switch (it->gen) {
    case G_INT:
    case G_PNO:
    case G_PHONE:
    case G_MOBILE:
        push_ascii_checked(G, d, out, it->gen, it->a, it->b);
        break;
    case G_N:
        n = (size_t)snprintf(s, sizeof s, "%d", d->item_n);
        units_push(out, gen_unit(d, s, n, NULL, 0));
        break;
    case G_YEAR: {
        int y, m, dd;
        gen_ymd(d->day[D_PUB], &y, &m, &dd);
        n = (size_t)snprintf(s, sizeof s, "%d", y);
        units_push(out, gen_unit(d, s, n, NULL, 0));
        break;
    }
    case G_DATE:
        n = fmt_date(s, sizeof s, d->datestyle, d->day[it->a]);
        units_push(out, gen_unit(d, s, n, NULL, 0));
        break;
    case G_DATETIME: {
        n = fmt_datetime(s, sizeof s, d->datestyle, d->day[it->a], d->minute[it->a]);
        /* 时 is the one character of a date that Traditional writes otherwise */
        char t[96];
        const char *shi = strstr(s, "时");
        size_t tn = n;
        memcpy(t, s, n);
        if (shi)
            memcpy(t + (shi - s), "時", 3);
        units_push(out, gen_unit(d, s, n, t, tn));
        break;
    }
    case G_MONEY:
        push_money(d, out, d->money[it->a]);
        break;
    case G_CAPMONEY:
        push_capmoney(d, out, d->money[M_BID] / 100);
        break;
    case G_REQS: {
        int nfill = 2 + (int)rng_below(&d->r, 6), nreq = 0, idx[MAX_PLANTS];
        for (int i = 0; i < d->nplants; i++)
            if (d->plants[i].role == R_REQ)
                idx[nreq++] = i;
        int total = nfill + nreq, placed = 0;
        d->item_n = 0;
        for (int k = 0; k < total; k++) {
            d->item_n++;
            /* each remaining plant line takes this slot with a fair chance */
            int left = total - k, want = nreq - placed;
            if (want > 0 && (int)rng_below(&d->r, (uint32_t)left) < want) {
                d->cur_plant = idx[placed++];
                expand(G, d, plant_rule(G, &d->plants[d->cur_plant], 0), out);
            } else {
                expand(G, d, G->rule_req, out);
            }
        }
        break;
    }
    case G_MENTIONS:
        for (int i = 0; i < d->nplants; i++) {
            if (d->plants[i].role != R_MENTION)
                continue;
            d->cur_plant = i;
            expand(G, d, plant_rule(G, &d->plants[i], 1), out);
        }
        break;
    case G_PLANT:
        units_push(out, (unit){U_PLANT, (uint32_t)d->cur_plant, 0, 0, 0, 0});
        break;
    default:
        break;
    }
}

static void expand_items(gen *G, doc *d, const alt *a, units *out)
{
    for (uint32_t i = 0; i < a->nitems; i++) {
        const item *it = &a->items[i];
        switch (it->kind) {
        case IT_TEXT:
            units_push(out, (unit){U_PIECE, it->idx, 0, 0, 0, 0});
            break;
        case IT_RULE:
            expand(G, d, (int)it->idx, out);
            break;
        case IT_VAR:
            for (uint32_t k = d->var_lo[it->idx]; k < d->var_hi[it->idx]; k++)
                units_push(out, d->vu.v[k]);
            break;
        default:
            expand_gen(G, d, it, out);
            break;
        }
    }
}

static void expand(gen *G, doc *d, int rule_idx, units *out)
{
    const rule *r = &G->g.rules[rule_idx];
    if (++d->depth > 32)
        gen_die("grammar rule '%s' recurses too deeply", r->name);
    uint32_t pick = rng_below(&d->r, r->total);
    const alt *a = r->alts;
    while (pick >= a->weight) {
        pick -= a->weight;
        a++;
    }
    expand_items(G, d, a, out);
    d->depth--;
}

/* ---- emission: units -> text, junction checks, truth ---------------------------- */

typedef struct uview {
    const char *r; /* rendering */
    size_t rlen;
    const char *n; /* normalized (stripped) */
    size_t nlen;
    uint32_t first, last;
    int first_cjk, last_cjk, lead_ws, trail_ws, fw_convert, plant;
} uview;

static void trow_push(doc *d, uint32_t entity, uint32_t s, uint32_t e)
{
    if (d->ntr == d->ctr) {
        d->ctr = d->ctr ? d->ctr * 2 : 16;
        d->tr = gen_realloc(d->tr, d->ctr * sizeof *d->tr);
    }
    d->tr[d->ntr++] = (trow){entity, s, e};
}

static void view_piece(const doc *d, const piece *p, uview *v)
{
    int sc = d->trad, ri = d->trad * 2 + d->fw;
    *v = (uview){p->r[ri],
                 p->rlen[ri],
                 p->n[sc],
                 p->nlen[sc],
                 p->first[sc],
                 p->last[sc],
                 p->first_cjk[sc],
                 p->last_cjk[sc],
                 p->lead_ws,
                 p->trail_ws,
                 0,
                 0};
}

/*
 * Would appending v (after optional white space) let an alias form across
 * the junction?  First a cheap test on the two code points that meet, then
 * a real search of the normalized tail + head window.
 */
static int junction_risky(gen *G, doc *d, const uview *v, int space)
{
    if (space) {
        if (!watch_pair(G->w, d->last_cp, ' ') || !watch_pair(G->w, ' ', v->first))
            return 0;
    } else if (!watch_pair(G->w, d->last_cp, v->first)) {
        return 0;
    }
    tdx_buf *win = &d->tmp;
    tdx_buf_reset(win);
    gen_put(win, d->tail.p, d->tail.len);
    if (space)
        gen_put(win, " ", 1);
    /* an alias crossing the junction ends within maxlen bytes of it */
    size_t head = v->nlen < watch_maxlen(G->w) ? v->nlen : watch_maxlen(G->w);
    gen_put(win, v->n, head);
    return watch_crosses(G->w, win->p, win->len, d->tail.len, d->tail.len + (size_t)space);
}

static void tail_append(gen *G, doc *d, const char *n, size_t len, int space)
{
    if (space)
        gen_put(&d->tail, " ", 1);
    gen_put(&d->tail, n, len);
    size_t keep = watch_maxlen(G->w) + 4;
    if (d->tail.len > 4 * keep) {
        size_t cut = d->tail.len - keep;
        while (cut < d->tail.len && (d->tail.p[cut] & 0xC0) == 0x80)
            cut++;
        memmove(d->tail.p, d->tail.p + cut, d->tail.len - cut);
        d->tail.len -= cut;
    }
}

static void emit_view(gen *G, doc *d, const uview *v);

static int sep_fits(gen *G, doc *d, const uview *sep, const uview *v, int ws)
{
    /* the separator itself must be safe after the tail ... */
    int sp1 = ws && !(d->last_cjk && sep->first_cjk);
    if (sep->nlen == 0) {
        /* a space: the head then follows white space */
        int sp = !(d->last_cjk && v->first_cjk);
        if (!sp && gen_is_alnum(d->last_cp) && gen_is_alnum(v->first))
            return 0;
        return !junction_risky(G, d, v, sp);
    }
    if (junction_risky(G, d, sep, sp1))
        return 0;
    /* ... and the head safe after the separator */
    tdx_buf_reset(&d->tsave);
    gen_put(&d->tsave, d->tail.p, d->tail.len);
    uint32_t saved_cp = d->last_cp;
    int saved_cjk = d->last_cjk;
    tail_append(G, d, sep->n, sep->nlen, sp1);
    d->last_cp = sep->last;
    d->last_cjk = sep->last_cjk;
    int sp2 = v->lead_ws && !(d->last_cjk && v->first_cjk);
    int ok = !junction_risky(G, d, v, sp2) &&
             !(!sp2 && gen_is_alnum(d->last_cp) && gen_is_alnum(v->first));
    tdx_buf_reset(&d->tail);
    gen_put(&d->tail, d->tsave.p, d->tsave.len);
    d->last_cp = saved_cp;
    d->last_cjk = saved_cjk;
    return ok;
}

static void emit_raw(doc *d, const uview *v)
{
    if (v->fw_convert) {
        gen_to_fullwidth(v->r, v->rlen, &d->tmp);
        gen_put(&d->text, d->tmp.p, d->tmp.len);
    } else {
        gen_put(&d->text, v->r, v->rlen);
    }
}

static void emit_view(gen *G, doc *d, const uview *v)
{
    if (v->nlen == 0) {
        emit_raw(d, v);
        d->pending_ws = 1;
        return;
    }
    int ws = d->pending_ws || v->lead_ws;
    if (d->tail.len > 0) {
        int space = ws && !(d->last_cjk && v->first_cjk);
        int guard = (v->plant || d->prev_plant) && !space && gen_is_alnum(d->last_cp) &&
                    gen_is_alnum(v->first);
        if (!G->fault_nosep && (guard || junction_risky(G, d, v, space))) {
            const grammar *g = &G->g;
            int done = 0;
            /* a space is the natural break between a Latin name and what
             * follows; between CJK it would vanish in normalization */
            static const int order[2][6] = {{0, 1, 2, 3, 5, 4}, {4, 0, 1, 2, 3, 5}};
            for (size_t k = 0; k < 6; k++) {
                uview sv;
                view_piece(d, &g->pieces[g->sep_pieces[order[guard][k]]], &sv);
                if (!sep_fits(G, d, &sv, v, ws))
                    continue;
                emit_raw(d, &sv);
                if (sv.nlen == 0) {
                    d->pending_ws = 1;
                } else {
                    tail_append(G, d, sv.n, sv.nlen, ws && !(d->last_cjk && sv.first_cjk));
                    d->last_cp = sv.last;
                    d->last_cjk = sv.last_cjk;
                    d->pending_ws = 0;
                }
                d->seps++;
                if (G->debug)
                    gen_warn("separator '%.*s' between \"%.*s\" and \"%.*s\"", (int)sv.rlen, sv.r,
                             (int)(d->tail.len < 24 ? d->tail.len : 24),
                             d->tail.p + d->tail.len - (d->tail.len < 24 ? d->tail.len : 24),
                             (int)v->nlen, v->n);
                done = 1;
                break;
            }
            if (!done)
                d->unsafe++;
            ws = d->pending_ws || v->lead_ws;
        }
    }
    int space = d->tail.len > 0 && ws && !(d->last_cjk && v->first_cjk);
    size_t at = d->text.len;
    if (v->plant) {
        /* the rendering's bytes are copied verbatim, so its hits move by `at` */
        const variant *pv = d->plants[v->plant - 1].v;
        for (uint32_t k = 0; k < pv->nsub; k++)
            trow_push(d, pv->sub[k].entity, (uint32_t)at + pv->sub[k].start,
                      (uint32_t)at + pv->sub[k].end);
    }
    emit_raw(d, v);
    tail_append(G, d, v->n, v->nlen, space);
    d->last_cp = v->last;
    d->last_cjk = v->last_cjk;
    d->pending_ws = v->trail_ws;
    d->prev_plant = v->plant != 0;
}

static void emit_units(gen *G, doc *d, const units *u, size_t from, size_t to)
{
    for (size_t i = from; i < to; i++) {
        const unit *x = &u->v[i];
        uview v;
        if (x->kind == U_PIECE) {
            view_piece(d, &G->g.pieces[x->a], &v);
        } else if (x->kind == U_GEN) {
            const uint8_t *nb = d->gen.p + x->e;
            size_t l;
            v = (uview){(const char *)d->gen.p + (d->trad ? x->c : x->a),
                        d->trad ? x->d : x->b,
                        (const char *)nb,
                        x->b,
                        gen_cp(nb, nb + x->b, &l),
                        gen_last_cp(nb, nb + x->b),
                        0,
                        0,
                        0,
                        0,
                        d->fw,
                        0};
            v.first_cjk = v.first >= 0x80 && gen_is_cjk(v.first);
            v.last_cjk = v.last >= 0x80 && gen_is_cjk(v.last);
        } else {
            const plant *p = &d->plants[x->a];
            const variant *pv = p->v;
            v = (uview){pv->text,
                        pv->len,
                        pv->norm,
                        pv->nlen,
                        pv->first,
                        pv->last,
                        gen_is_cjk(pv->first),
                        gen_is_cjk(pv->last),
                        0,
                        0,
                        0,
                        (int)x->a + 1};
        }
        emit_view(G, d, &v);
    }
}

/* Render a variable's units to plain bytes (metadata fields). */
static void render_var(gen *G, doc *d, int var, tdx_buf *out)
{
    tdx_buf_reset(out);
    for (uint32_t k = d->var_lo[var]; k < d->var_hi[var]; k++) {
        const unit *x = &d->vu.v[k];
        if (x->kind == U_PIECE) {
            const piece *p = &G->g.pieces[x->a];
            int ri = d->trad * 2 + d->fw;
            gen_put(out, p->r[ri], p->rlen[ri]);
        } else if (x->kind == U_GEN) {
            const char *s = (const char *)d->gen.p + (d->trad ? x->c : x->a);
            size_t n = d->trad ? x->d : x->b;
            if (d->fw) {
                gen_to_fullwidth(s, n, &d->tmp);
                gen_put(out, d->tmp.p, d->tmp.len);
            } else {
                gen_put(out, s, n);
            }
        } else {
            const variant *pv = d->plants[x->a].v;
            gen_put(out, pv->text, pv->len);
        }
    }
}

/* ---- one notice ---------------------------------------------------------------- */

static void bind_rule(gen *G, doc *d, int var, int rule_idx)
{
    d->var_lo[var] = (uint32_t)d->vu.n;
    expand(G, d, rule_idx, &d->vu);
    d->var_hi[var] = (uint32_t)d->vu.n;
}

static void bind_unit(doc *d, int var, unit x)
{
    d->var_lo[var] = (uint32_t)d->vu.n;
    units_push(&d->vu, x);
    d->var_hi[var] = (uint32_t)d->vu.n;
}

static void bind_gen(gen *G, doc *d, int var, int kind)
{
    d->var_lo[var] = (uint32_t)d->vu.n;
    push_ascii_checked(G, d, &d->vu, kind, 0, 0);
    d->var_hi[var] = (uint32_t)d->vu.n;
}

static int plant_role(gen *G, doc *d, const plant *p, int *taken)
{
    const char *cat = watch_category(G->w, watch_entity(G->w, p->entity)->category);
    const ntype *t = &TYPES[d->type];
    double u = rng_unit(&d->r);
    if (G->rule_plant_req[watch_entity(G->w, p->entity)->category] >= 0)
        return u < 0.75 ? R_REQ : R_MENTION;
    if ((strcmp(cat, "university") == 0 || strcmp(cat, "lab") == 0) && !taken[R_PURCHASER] &&
        u < 0.6)
        return R_PURCHASER;
    if (strcmp(cat, "company") == 0 && t->has_supplier && !taken[R_SUPPLIER] && u < 0.6)
        return R_SUPPLIER;
    if (strcmp(cat, "intermediary") == 0 && t->has_agency && !taken[R_AGENCY] && u < 0.6)
        return R_AGENCY;
    if (strcmp(cat, "intermediary") == 0 && t->has_supplier && !taken[R_SUPPLIER] && u < 0.3)
        return R_SUPPLIER;
    return R_MENTION;
}

static void choose_plants(gen *G, doc *d)
{
    d->nplants = 0;
    if (G->nplantable == 0 || rng_unit(&d->r) >= G->o.plant)
        return;
    double u = rng_unit(&d->r);
    int k = u < 0.6 ? 1 : u < 0.85 ? 2 : u < 0.95 ? 3 : 4 + (int)rng_below(&d->r, 2);
    int taken[5] = {0};
    for (int i = 0; i < k; i++) {
        plant p = {0};
        int found = 0;
        for (int tries = 0; tries < 8 && !found; tries++) {
            p.entity = G->plantable[rng_below(&d->r, (uint32_t)G->nplantable)];
            int again = 0;
            for (int j = 0; j < d->nplants; j++)
                again |= d->plants[j].entity == p.entity;
            if (again)
                continue;
            const wentity *e = watch_entity(G->w, p.entity);
            p.row = e->lits[rng_below(&d->r, e->nlits)];
            unsigned base = (d->trad ? VAR_TRAD : 0) | (d->fw ? VAR_FW : 0), combo = base;
            if (rng_unit(&d->r) < G->o.variants) {
                static const unsigned extra[] = {VAR_TRAD, VAR_FW, VAR_SPACED, VAR_SPACED,
                                                 VAR_CASE};
                combo ^= extra[rng_below(&d->r, sizeof extra / sizeof extra[0])];
            }
            const unsigned tryc[3] = {combo, base, 0};
            for (int c = 0; c < 3 && !found; c++) {
                p.v = watch_variant(G->w, &G->gn, p.row, tryc[c]);
                found = p.v->ok && p.v->nlen > 0;
            }
        }
        if (!found)
            continue;
        p.role = plant_role(G, d, &p, taken);
        taken[p.role] = 1;
        d->plants[d->nplants++] = p;
    }
}

static const char *const DOC_RULE_PREFIX[] = {"doc.", "title."};

static void make_doc(gen *G, doc *d, uint64_t index)
{
    const opts *o = &G->o;
    d->index = index;
    d->r = rng_for(o->seed, 1, index);
    d->u.n = d->vu.n = 0;
    tdx_buf_reset(&d->gen);
    tdx_buf_reset(&d->text);
    tdx_buf_reset(&d->tail);
    d->ntr = 0;
    d->last_cp = 0;
    d->last_cjk = d->pending_ws = d->prev_plant = 0;
    d->depth = 0;

    unsigned tw = 0;
    for (size_t i = 0; i < NTYPES; i++)
        tw += TYPES[i].weight;
    uint32_t pick = rng_below(&d->r, tw);
    d->type = 0;
    while (pick >= TYPES[d->type].weight)
        pick -= TYPES[d->type++].weight;
    d->trad = rng_unit(&d->r) < o->trad;
    d->fw = rng_unit(&d->r) < o->fullwidth;
    d->datestyle = o->date_mix ? (int)rng_below(&d->r, 5) : (int)rng_below(&d->r, 2);
    d->moneystyle = (int)rng_below(&d->r, 4);

    /* dates: publication in 2019..2025, the others around it */
    int32_t d0 = gen_days_from_civil(2019, 1, 1), d1 = gen_days_from_civil(2025, 12, 31);
    d->day[D_PUB] = (int32_t)rng_range(&d->r, d0, d1);
    d->day[D_DEADLINE] = d->day[D_PUB] + (int32_t)rng_range(&d->r, 20, 35);
    d->day[D_SALE_END] = d->day[D_PUB] + (int32_t)rng_range(&d->r, 5, 7);
    d->day[D_FIRST] = d->day[D_PUB] - (int32_t)rng_range(&d->r, 3, 25);
    d->day[D_SIGN] = d->day[D_PUB] - (int32_t)rng_range(&d->r, 1, 10);
    static const int minutes[] = {540, 570, 600, 630, 870, 900, 930};
    for (int i = 0; i < ND; i++)
        d->minute[i] = minutes[rng_below(&d->r, sizeof minutes / sizeof minutes[0])];

    /* money: budgets log-uniform from 50 thousand to 30 million yuan */
    double lb = log(5e4) + rng_unit(&d->r) * (log(3e7) - log(5e4));
    int64_t budget = (int64_t)exp(lb) / 100 * 100;
    d->money[M_BUDGET] = budget * 100;
    d->money[M_LIMIT] = budget * 100;
    d->money[M_BID] = (int64_t)((double)budget * (0.82 + 0.17 * rng_unit(&d->r))) * 100;
    d->money[M_FEE] = d->money[M_BID] / 100 * (50 + (int64_t)rng_below(&d->r, 100)) / 10000 * 100;

    const city *c = &G->g.cities[rng_below(&d->r, (uint32_t)G->g.ncities)];
    d->city = c->piece;
    d->prov = c->prov;

    choose_plants(G, d);

    bind_unit(d, V_PROV, (unit){U_PIECE, G->g.prov_piece[d->prov], 0, 0, 0, 0});
    bind_unit(d, V_PROV_SFX, (unit){U_PIECE, G->g.prov_sfx_piece[d->prov], 0, 0, 0, 0});
    bind_unit(d, V_CITY, (unit){U_PIECE, d->city, 0, 0, 0, 0});
    int role_plant[5] = {-1, -1, -1, -1, -1};
    int has_chip = 0, has_cloud = 0;
    for (int i = 0; i < d->nplants; i++) {
        role_plant[d->plants[i].role] = i;
        const char *cat = watch_category(G->w, watch_entity(G->w, d->plants[i].entity)->category);
        has_chip |= strcmp(cat, "chip") == 0;
        has_cloud |= strcmp(cat, "cloud") == 0;
    }
    if (role_plant[R_PURCHASER] >= 0)
        bind_unit(d, V_PURCHASER, (unit){U_PLANT, (uint32_t)role_plant[R_PURCHASER], 0, 0, 0, 0});
    else
        bind_rule(G, d, V_PURCHASER, G->rule_purchaser);
    if (role_plant[R_AGENCY] >= 0)
        bind_unit(d, V_AGENCY, (unit){U_PLANT, (uint32_t)role_plant[R_AGENCY], 0, 0, 0, 0});
    else
        bind_rule(G, d, V_AGENCY, G->rule_agency);
    if (role_plant[R_SUPPLIER] >= 0)
        bind_unit(d, V_SUPPLIER, (unit){U_PLANT, (uint32_t)role_plant[R_SUPPLIER], 0, 0, 0, 0});
    else
        bind_rule(G, d, V_SUPPLIER, G->rule_supplier);
    int pk = has_chip ? 0 : has_cloud ? 1 : (int)rng_below(&d->r, 3);
    bind_rule(G, d, V_PROJECT, G->rule_proj[pk]);
    bind_gen(G, d, V_PNO, G_PNO);
    bind_rule(G, d, V_ADDR1, G->rule_addr);
    bind_rule(G, d, V_ADDR2, G->rule_addr);
    bind_rule(G, d, V_ADDR3, G->rule_addr);
    bind_rule(G, d, V_PERSON1, G->rule_person);
    bind_rule(G, d, V_PERSON2, G->rule_person);
    bind_gen(G, d, V_PHONE1, G_PHONE);
    bind_gen(G, d, V_PHONE2, rng_below(&d->r, 3) ? G_PHONE : G_MOBILE);

    char name[64];
    snprintf(name, sizeof name, "%s%s", DOC_RULE_PREFIX[1], TYPES[d->type].key);
    expand(G, d, rule_by_name(&G->g, name), &d->u);
    size_t title_units = d->u.n;
    snprintf(name, sizeof name, "%s%s", DOC_RULE_PREFIX[0], TYPES[d->type].key);
    expand(G, d, rule_by_name(&G->g, name), &d->u);

    size_t body_units = d->u.n;
    int html = G->o.out.format == OUT_HTML;
    if (html) {
        /* the page around the notice is text a reader sees too */
        expand(G, d, G->rule_html_nav, &d->u);
        size_t nav_units = d->u.n;
        expand(G, d, G->rule_html_footer, &d->u);
        emit_units(G, d, &d->u, body_units, nav_units);
        gen_put(&d->text, "\n", 1);
        d->pending_ws = 1;
        d->title_off = d->text.len;
        emit_units(G, d, &d->u, 0, title_units);
        d->title_len = d->text.len - d->title_off;
        gen_put(&d->text, "\n", 1);
        d->pending_ws = 1;
        emit_units(G, d, &d->u, title_units, body_units);
        d->footer_off = d->text.len;
        emit_units(G, d, &d->u, nav_units, d->u.n);
        gen_put(&d->text, "\n", 1);
        return;
    }
    d->title_off = 0;
    emit_units(G, d, &d->u, 0, title_units);
    d->title_len = d->text.len;
    gen_put(&d->text, "\n", 1);
    d->pending_ws = 1;
    emit_units(G, d, &d->u, title_units, body_units);
    d->footer_off = d->text.len;
}

/* ---- verification: the reference matcher over the whole normalized notice ------ */

static int cmp_trow(const void *a, const void *b)
{
    const trow *x = a, *y = b;
    if (x->start != y->start)
        return x->start < y->start ? -1 : 1;
    if (x->end != y->end)
        return x->end < y->end ? -1 : 1;
    return (x->entity > y->entity) - (x->entity < y->entity);
}

/*
 * Does the truth slice normalize to the hit's text?  Alone, or -- since
 * ICU's Traditional-Simplified rules look at neighbours (西嶽 -> 西岳, but
 * 嶽 alone stays) -- with a few characters of left context, whose
 * normalization must then end with the hit.
 */
static int slice_is_hit(gen_norm *gn, const tdx_buf *text, const trow *t, const uint8_t *hit,
                        size_t hlen, tdx_buf *tmp)
{
    gen_normalize(gn, (const char *)text->p + t->start, t->end - t->start, tmp, NULL, NULL);
    if (tmp->len == hlen && memcmp(tmp->p, hit, hlen) == 0)
        return 1;
    size_t s = t->start;
    for (int k = 0; k < 8 && s > 0; k++) {
        s--;
        while (s > 0 && (text->p[s] & 0xC0) == 0x80)
            s--;
    }
    gen_normalize(gn, (const char *)text->p + s, t->end - s, tmp, NULL, NULL);
    return tmp->len >= hlen && memcmp(tmp->p + tmp->len - hlen, hit, hlen) == 0;
}

/*
 * Normalize the notice, find every alias with the reference matcher, and
 * compare with the truth rows: same count, same entities in the same order
 * (normalization keeps order), and each truth slice normalizes to the text
 * of the hit it stands for.
 */
static int verify_doc(gen *G, doc *d, const char *id)
{
    gen_norm *gn = &G->gn;
    tdx_err err = {0};
    if (tdx_norm_run(gn->norm, gn->ctx, d->text.p, d->text.len, &gn->out, &err) != 0)
        gen_die("normalize: %s", err.msg);
    ghits *h = &G->vh;
    watch_scan(G->w, gn->out.text.p, gn->out.text.len, h);
    /* one hit per (entity, span), as the truth has */
    trow *got = gen_alloc((h->n + 1) * sizeof *got);
    size_t ng = 0;
    for (size_t i = 0; i < h->n; i++) {
        trow t = {watch_row(G->w, h->v[i].row)->entity, h->v[i].start, h->v[i].end};
        int dup = 0;
        for (size_t k = ng; k-- > 0 && got[k].start == t.start;)
            dup |= got[k].end == t.end && got[k].entity == t.entity;
        if (!dup)
            got[ng++] = t;
    }
    qsort(got, ng, sizeof *got, cmp_trow);
    qsort(d->tr, d->ntr, sizeof *d->tr, cmp_trow);
    tdx_buf norm_text = TDX_BUF_INIT;
    gen_put(&norm_text, gn->out.text.p, gn->out.text.len);
    int bad = ng != d->ntr;
    for (size_t i = 0; i < ng && !bad; i++) {
        if (got[i].entity != d->tr[i].entity) {
            bad = 1;
            break;
        }
        if (!slice_is_hit(gn, &d->text, &d->tr[i], norm_text.p + got[i].start,
                          got[i].end - got[i].start, &G->vtmp))
            bad = 1;
    }
    if (bad) {
        fprintf(stderr,
                "gen: verify: notice %s: the reference matcher finds %zu name(s), the "
                "truth has %zu\n",
                id, ng, d->ntr);
        for (size_t i = 0; i < ng; i++)
            fprintf(stderr, "  found  %-32s '%.*s'\n", watch_entity(G->w, got[i].entity)->name,
                    (int)(got[i].end - got[i].start), norm_text.p + got[i].start);
        for (size_t i = 0; i < d->ntr; i++)
            fprintf(stderr, "  truth  %-32s '%.*s'\n", watch_entity(G->w, d->tr[i].entity)->name,
                    (int)(d->tr[i].end - d->tr[i].start), d->text.p + d->tr[i].start);
    }
    tdx_buf_free(&norm_text);
    tdx_free(got);
    G->verified++;
    G->mismatched += (uint64_t)bad;
    return !bad;
}

/* ---- main ------------------------------------------------------------------------- */

static void usage(FILE *f)
{
    fprintf(f,
            "usage: gen [OPTIONS]            generate tender notices\n"
            "       gen watchlist [OPTIONS]  generate a watch list (gen watchlist --help)\n"
            "       gen text [OPTIONS]       free prose with real text's term diversity (gen text "
            "--help)\n"
            "\n"
            "Writes realistic Chinese public-procurement notices, deterministically per\n"
            "--seed, planting names from a watch list, and the exact ground truth of where\n"
            "each planted name is.  Default: 1000 notices as JSON Lines on stdout.\n"
            "\n"
            "Size:\n"
            "  -n, --docs N            number of notices (default 1000)\n"
            "  -b, --bytes SIZE        stop once SIZE bytes are written (k, M, G suffixes)\n"
            "      --first N           number of the first notice (default 0): notice i is\n"
            "                          the same whatever the range, so ranges can be made\n"
            "                          in parallel and concatenated\n"
            "  -s, --seed S            seed (default 1)\n"
            "Content:\n"
            "  -w, --watchlist FILE    names to plant (default %s/watchlist.tsv)\n"
            "      --plant SHARE       share of notices with planted names (default 0.3)\n"
            "      --trad SHARE        share of notices in Traditional script (default 0.2)\n"
            "      --fullwidth SHARE   share of notices with full-width Latin (default 0.05)\n"
            "      --variants SHARE    share of planted names written another way: other\n"
            "                          script, full-width, spaced, case (default 0.25)\n"
            "      --dup SHARE         share of notices re-published under a new id (default 0)\n"
            "      --date-formats cn|mix  cn: 2023年3月15日 (default); mix: also 2023/03/15,\n"
            "                          2023-03-15 10:00:00, 20230315\n"
            "Output:\n"
            "  -o, --output PATH       file (jsonl) or directory (text, html); default stdout\n"
            "  -t, --truth FILE        write the ground truth (TSV, see README.md)\n"
            "      --format F          jsonl (default), text or html (one file per notice)\n"
            "      --encoding-share gb18030=X,big5=Y\n"
            "                          share of text/html files written in GB18030 / Big5\n"
            "      --compress C        none (default), gz, zst, tar, zip\n"
            "Checking:\n"
            "      --verify            normalize every notice and compare the reference\n"
            "                          matcher's findings with the truth (exit 1 on mismatch)\n"
            "  -q, --quiet             no summary on stderr\n"
            "  -h, --help\n"
            "\n"
            "Exit codes: 0 ok, 1 --verify found a mismatch, 2 usage error, 3 fatal error.\n",
            TDX_CORPUS_DIR);
}

static int parse_share(const char *s, double *out)
{
    char *e;
    errno = 0;
    double v = strtod(s, &e);
    if (errno || *e || v < 0 || v > 1)
        return -1;
    *out = v;
    return 0;
}

static void gen_setup(gen *G)
{
    const char *fault = getenv("TDX_GEN_FAULT");
    G->fault_nosep = fault && strcmp(fault, "nosep") == 0;
    G->debug = getenv("TDX_GEN_DEBUG") != NULL;
    gen_norm_open(&G->gn);
    G->w = watch_load(G->o.watchlist, &G->gn);
    compile_grammar(G);
    grammar *g = &G->g;
    G->rule_req = rule_by_name(g, "req");
    G->rule_html_nav = rule_by_name(g, "html.nav");
    G->rule_html_footer = rule_by_name(g, "html.footer");
    G->rule_mention = rule_by_name(g, "plant.mention");
    G->rule_purchaser = rule_by_name(g, "purchaser");
    G->rule_agency = rule_by_name(g, "agency");
    G->rule_supplier = rule_by_name(g, "supplier_f");
    G->rule_person = rule_by_name(g, "person");
    G->rule_addr = rule_by_name(g, "addr");
    G->rule_proj[0] = rule_by_name(g, "project.compute");
    G->rule_proj[1] = rule_by_name(g, "project.cloud");
    G->rule_proj[2] = rule_by_name(g, "project.it");
    size_t maxcat = 0;
    for (size_t e = 0; e < watch_nentities(G->w); e++)
        if (watch_entity(G->w, (uint32_t)e)->category + 1 > maxcat)
            maxcat = watch_entity(G->w, (uint32_t)e)->category + 1;
    G->rule_plant_req = gen_alloc((maxcat + 1) * sizeof *G->rule_plant_req);
    G->rule_plant_mention = gen_alloc((maxcat + 1) * sizeof *G->rule_plant_mention);
    for (size_t c = 0; c < maxcat; c++) {
        char name[160];
        snprintf(name, sizeof name, "plant.%s", watch_category(G->w, (uint32_t)c));
        G->rule_plant_req[c] = rule_by_name(g, name);
        snprintf(name, sizeof name, "plant.mention.%s", watch_category(G->w, (uint32_t)c));
        G->rule_plant_mention[c] = rule_by_name(g, name);
    }
    G->plantable = gen_alloc((watch_nentities(G->w) + 1) * sizeof *G->plantable);
    for (size_t e = 0; e < watch_nentities(G->w); e++)
        if (watch_entity(G->w, (uint32_t)e)->nlits)
            G->plantable[G->nplantable++] = (uint32_t)e;
    if (!G->o.quiet && g->dropped_pieces)
        gen_warn("%zu phrase(s) of the grammar contain a watch-list alias and are not used",
                 g->dropped_pieces);
}

static void gen_teardown(gen *G)
{
    grammar *g = &G->g;
    for (size_t i = 0; i < g->npieces; i++) {
        for (int k = 0; k < 4; k++)
            tdx_free((void *)g->pieces[i].r[k]);
        for (int k = 0; k < 2; k++)
            tdx_free((void *)g->pieces[i].n[k]);
    }
    for (size_t i = 0; i < g->nrules; i++) {
        for (uint32_t k = 0; k < g->rules[i].nalts; k++)
            tdx_free(g->rules[i].alts[k].items);
        tdx_free(g->rules[i].alts);
        tdx_free(g->rules[i].name);
    }
    tdx_free(g->rules);
    tdx_free(g->pieces);
    tdx_free(g->cities);
    tdx_free(G->plantable);
    tdx_free(G->rule_plant_req);
    tdx_free(G->rule_plant_mention);
    tdx_free(G->vh.v);
    tdx_buf_free(&G->vtmp);
    watch_free(G->w);
    gen_norm_close(&G->gn);
}

static void doc_free(doc *d)
{
    tdx_free(d->u.v);
    tdx_free(d->vu.v);
    tdx_free(d->tr);
    tdx_buf_free(&d->gen);
    tdx_buf_free(&d->text);
    tdx_buf_free(&d->tail);
    tdx_buf_free(&d->tsave);
    tdx_buf_free(&d->tmp);
    tdx_buf_free(&d->tmp2);
}

/* Notice whose text notice i re-publishes (i itself when it is an original). */
static uint64_t dup_source(const opts *o, uint64_t i)
{
    for (;;) {
        rng r = rng_for(o->seed, 2, i);
        if (i == 0 || rng_unit(&r) >= o->dup)
            return i;
        uint64_t back = 1 + rng_below(&r, (uint32_t)(i < 2000 ? i : 2000));
        i -= back;
    }
}

static void make_id(const opts *o, uint64_t i, char *id, size_t cap)
{
    snprintf(id, cap, "tdx-%" PRIu64 "-%08" PRIu64, o->seed, i);
}

int main(int argc, char **argv)
{
    if (argc > 1 && strcmp(argv[1], "watchlist") == 0)
        return wlgen_main(argc - 1, argv + 1);
    if (argc > 1 && strcmp(argv[1], "text") == 0)
        return textgen_main(argc - 1, argv + 1);
    gen G;
    memset(&G, 0, sizeof G);
    opts *o = &G.o;
    o->docs = 1000;
    o->seed = 1;
    o->trad = 0.2;
    o->fullwidth = 0.05;
    o->plant = 0.3;
    o->variants = 0.25;
    o->watchlist = TDX_CORPUS_DIR "/watchlist.tsv";
    out_opts_init(&o->out);
    int docs_given = 0;
    enum {
        O_TRAD = 256,
        O_FW,
        O_PLANT,
        O_VARIANTS,
        O_DUP,
        O_DATES,
        O_FORMAT,
        O_ENC,
        O_COMPRESS,
        O_VERIFY,
        O_FIRST
    };
    static const struct option lo[] = {
        {"docs", required_argument, 0, 'n'},
        {"bytes", required_argument, 0, 'b'},
        {"seed", required_argument, 0, 's'},
        {"first", required_argument, 0, O_FIRST},
        {"watchlist", required_argument, 0, 'w'},
        {"output", required_argument, 0, 'o'},
        {"truth", required_argument, 0, 't'},
        {"trad", required_argument, 0, O_TRAD},
        {"fullwidth", required_argument, 0, O_FW},
        {"plant", required_argument, 0, O_PLANT},
        {"variants", required_argument, 0, O_VARIANTS},
        {"dup", required_argument, 0, O_DUP},
        {"date-formats", required_argument, 0, O_DATES},
        {"format", required_argument, 0, O_FORMAT},
        {"encoding-share", required_argument, 0, O_ENC},
        {"compress", required_argument, 0, O_COMPRESS},
        {"verify", no_argument, 0, O_VERIFY},
        {"quiet", no_argument, 0, 'q'},
        {"help", no_argument, 0, 'h'},
        {0, 0, 0, 0},
    };
    int c, li = -1;
    while ((c = getopt_long(argc, argv, "n:b:s:w:o:t:qh", lo, &li)) != -1) {
        int bad = 0;
        switch (c) {
        case 'n':
            bad = gen_parse_u64(optarg, &o->docs);
            docs_given = 1;
            break;
        case 'b':
            bad = gen_parse_size(optarg, &o->bytes);
            break;
        case 's':
            bad = gen_parse_u64(optarg, &o->seed);
            break;
        case O_FIRST:
            bad = gen_parse_u64(optarg, &o->first);
            break;
        case 'w':
            o->watchlist = optarg;
            break;
        case 'o':
            o->output = optarg;
            break;
        case 't':
            o->truth = optarg;
            break;
        case O_TRAD:
            bad = parse_share(optarg, &o->trad);
            break;
        case O_FW:
            bad = parse_share(optarg, &o->fullwidth);
            break;
        case O_PLANT:
            bad = parse_share(optarg, &o->plant);
            break;
        case O_VARIANTS:
            bad = parse_share(optarg, &o->variants);
            break;
        case O_DUP:
            bad = parse_share(optarg, &o->dup);
            break;
        case O_DATES:
            if (strcmp(optarg, "mix") == 0)
                o->date_mix = 1;
            else if (strcmp(optarg, "cn") != 0)
                bad = 1;
            break;
        case O_FORMAT:
        case O_ENC:
        case O_COMPRESS:
            bad = out_opts_parse(&o->out,
                                 c == O_FORMAT ? "format"
                                 : c == O_ENC  ? "encoding-share"
                                               : "compress",
                                 optarg);
            break;
        case O_VERIFY:
            o->verify = 1;
            break;
        case 'q':
            o->quiet = 1;
            break;
        case 'h':
            usage(stdout);
            return GEN_EXIT_OK;
        default:
            usage(stderr);
            return GEN_EXIT_USAGE;
        }
        if (bad) {
            if (c == O_FORMAT || c == O_ENC || c == O_COMPRESS)
                return GEN_EXIT_USAGE; /* out_opts_parse said why */
            if (li >= 0)
                fprintf(stderr, "gen: invalid value '%s' for --%s\n", optarg, lo[li].name);
            else
                fprintf(stderr, "gen: invalid value '%s' for -%c\n", optarg, c);
            return GEN_EXIT_USAGE;
        }
        li = -1;
    }
    if (optind < argc) {
        fprintf(stderr, "gen: unexpected argument '%s'\n", argv[optind]);
        usage(stderr);
        return GEN_EXIT_USAGE;
    }
    if (o->bytes && !docs_given)
        o->docs = UINT64_MAX;
    if (out_opts_check(&o->out, o->output) != 0)
        return GEN_EXIT_USAGE;

    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    gen_setup(&G);
    out_sink *sink = out_open(&o->out, o->output);
    FILE *truth = NULL;
    if (o->truth) {
        truth = fopen(o->truth, "wb");
        if (truth == NULL)
            gen_die("cannot write '%s': %s", o->truth, strerror(errno));
        setvbuf(truth, NULL, _IOFBF, 1 << 20);
    }
    doc d;
    memset(&d, 0, sizeof d);
    tdx_buf meta[4] = {TDX_BUF_INIT, TDX_BUF_INIT, TDX_BUF_INIT, TDX_BUF_INIT};
    uint64_t ndocs = 0, ntruth = 0, seps = 0, unsafe = 0;
    int exit_code = GEN_EXIT_OK;
    for (uint64_t i = o->first; ndocs < o->docs; i++) {
        if (o->bytes && out_bytes(sink) >= o->bytes)
            break;
        uint64_t src = o->dup > 0 ? dup_source(o, i) : i;
        make_doc(&G, &d, src);
        char id[64], src_id[64], url[160], date[16];
        make_id(o, i, id, sizeof id);
        make_id(o, src, src_id, sizeof src_id);
        int y, m, dd;
        gen_ymd(d.day[D_PUB], &y, &m, &dd);
        snprintf(date, sizeof date, "%04d-%02d-%02d", y, m, dd);
        snprintf(url, sizeof url,
                 "http://www.ccgp-%s.gov.cn/cggg/%04d%02d/t%04d%02d%02d_%" PRIu64 ".htm",
                 GRAM_PROVS[d.prov].pinyin, y, m, y, m, dd, 1000000 + i);
        render_var(&G, &d, V_PURCHASER, &meta[0]);
        render_var(&G, &d, V_AGENCY, &meta[1]);
        render_var(&G, &d, V_PNO, &meta[2]);
        tdx_buf_reset(&meta[3]);
        const piece *pp = &G.g.pieces[G.g.prov_piece[d.prov]];
        const piece *ps = &G.g.pieces[G.g.prov_sfx_piece[d.prov]];
        const piece *pc = &G.g.pieces[d.city];
        char prov[64], cityname[64], budget[32];
        int ri = d.trad * 2;
        snprintf(prov, sizeof prov, "%.*s%.*s", (int)pp->rlen[ri], pp->r[ri], (int)ps->rlen[ri],
                 ps->r[ri]);
        snprintf(cityname, sizeof cityname, "%.*s%s", (int)pc->rlen[ri], pc->r[ri],
                 strcmp(GRAM_PROVS[d.prov].suffix, "市") == 0 ? "" : (d.trad ? "市" : "市"));
        snprintf(budget, sizeof budget, "%" PRId64 ".%02" PRId64, d.money[M_BUDGET] / 100,
                 d.money[M_BUDGET] % 100);
        out_doc rec = {
            .id = id,
            .title = (const char *)d.text.p + d.title_off,
            .title_len = d.title_len,
            .title_off = d.title_off,
            .footer_off = d.footer_off,
            .seed = o->seed,
            .date = date,
            .url = url,
            .text = (const char *)d.text.p,
            .text_len = d.text.len,
            .purchaser = (const char *)meta[0].p,
            .agency = (const char *)meta[1].p,
            .project_no = (const char *)meta[2].p,
            .budget = budget,
            .province = prov,
            .city = strcmp(GRAM_PROVS[d.prov].suffix, "市") == 0 ? prov : cityname,
            .notice_type = TYPES[d.type].name,
            .dup_of = src != i ? src_id : NULL,
            .trad = d.trad,
            .index = i,
        };
        out_write(sink, &rec);
        if (truth) {
            for (size_t k = 0; k < d.ntr; k++) {
                const wentity *e = watch_entity(G.w, d.tr[k].entity);
                fprintf(truth, "%s\t%s\t%s\t%.*s\t%u\t%u\n", id, e->name,
                        watch_category(G.w, e->category), (int)(d.tr[k].end - d.tr[k].start),
                        d.text.p + d.tr[k].start, d.tr[k].start, d.tr[k].end);
            }
        }
        if (o->verify && !verify_doc(&G, &d, id))
            exit_code = GEN_EXIT_MISMATCH;
        ndocs++;
        ntruth += d.ntr;
        seps += d.seps;
        unsafe += d.unsafe;
        d.seps = d.unsafe = 0;
    }
    uint64_t bytes = out_bytes(sink);
    out_close(sink, o->quiet);
    if (truth && fclose(truth) != 0)
        gen_die("cannot write '%s': %s", o->truth, strerror(errno));
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double secs = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) * 1e-9;
    if (!o->quiet) {
        fprintf(stderr,
                "gen: %" PRIu64 " notices, %" PRIu64 " bytes, %" PRIu64 " planted hits, %.2f s "
                "(%.1f MB/s, %.0f notices/s)\n",
                ndocs, bytes, ntruth, secs, secs > 0 ? (double)bytes / 1e6 / secs : 0.0,
                secs > 0 ? (double)ndocs / secs : 0.0);
        if (seps)
            fprintf(stderr,
                    "gen: %" PRIu64 " separator(s) put between a planted name and a letter "
                    "or digit, or where an alias could have formed across phrases\n",
                    seps);
        if (o->verify)
            fprintf(stderr, "gen: verify: %" PRIu64 " notice(s) checked, %" PRIu64 " mismatched\n",
                    G.verified, G.mismatched);
    }
    if (unsafe)
        gen_warn("%" PRIu64 " junction(s) could not be made safe; the truth may miss hits there",
                 unsafe);
    for (int k = 0; k < 4; k++)
        tdx_buf_free(&meta[k]);
    doc_free(&d);
    gen_teardown(&G);
    return exit_code;
}
