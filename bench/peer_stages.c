/*
 * peer_stages.c - the normalize and match stages of tenderidx against the
 * bare libraries under them, on the benchmark corpus itself.
 *
 * Where it sits: scripts/bench.sh runs it on the same generated corpus (or
 * the user's data) as the ingest runs, so the stage figures and the peers'
 * figures are about the very same documents.  Documents are read with the
 * engine's reader (any input tenderidx reads), up to --mb MB of text, and
 * held in memory.
 *
 * Contenders, one call per document, same order, interleaved run by run:
 *   normalize  tenderidx   tdx_norm_run (all steps, offsets recorded)
 *              icu         the bare ICU chain: u_strFromUTF8WithSub,
 *                          unorm2_normalize (nfkc_cf), utrans_transUChars
 *                          (Traditional-Simplified), u_strToUTF8; no
 *                          whitespace rule, no offsets
 *              opencc      libopencc t2s.json (loaded at run time when
 *                          installed): Traditional->Simplified only
 *   match      tenderidx   tdx_match_scan over tenderidx-normalized text
 *                          (boundary rule, alias expansion, sorted hits)
 *              hyperscan   bare hs_scan of the same literals (one
 *                          hs_compile_lit_multi database) and regexes
 *                          (same flags), counting matches in the callback
 *   compress   tenderidx   tdx_store_compress: one zstd frame per document with
 *                          the dictionary a new index trains from its first
 *                          batch (tdx_store_dict_train, same samples)
 *              zstd        bare libzstd: a dictionary from ZDICT_trainFromBuffer
 *                          over the same samples, ZSTD_compress_usingCDict at
 *                          the same level, per document
 * MB/s counts source bytes for normalize and compress, normalized bytes for
 * match.
 * One warm-up run, then --runs runs; median and best.  Checksums over the
 * outputs keep the work honest.
 *
 * --norm-out FILE writes the normalized documents one per line (normalized
 * text has no line breaks: white space runs become one space) and
 * --lits-out FILE the distinct normalized literals, one per line: the same
 * text and the same names for ripgrep and GNU grep.
 *
 * Output: a table on stderr; one line per contender on stdout:
 *   STAGE stage=S contender=C mb=M runs=R mbps_med= mbps_best= checksum=
 */
#include "benchutil.h"

#include "common/alloc.h"
#include "common/hash.h"
#include "match/match.h"
#include "normalize/normalize.h"
#include "reader/reader.h"
#include "store/store.h"

#include <dlfcn.h>
#include <errno.h>
#include <hs/hs.h>
#include <unicode/unorm2.h>
#include <unicode/ustring.h>
#include <unicode/utrans.h>
#include <zdict.h>
#include <zstd.h>

/* tenderidx's level for stored text (store.c TEXT_LEVEL). */
#define ZSTD_PEER_LEVEL 3

static void die(const char *what, const char *msg)
{
    fprintf(stderr, "peer_stages: %s: %s\n", what, msg && msg[0] ? msg : "failed");
    exit(3);
}

static void *xrealloc(void *p, size_t n)
{
    void *q = tdx_realloc(p, n);
    if (q == NULL)
        die("memory", "out of memory");
    return q;
}

typedef struct docs {
    uint8_t **text;
    size_t *len;
    size_t n, cap, bytes;
} docs;

static void docs_add(docs *d, const uint8_t *p, size_t len)
{
    if (d->n == d->cap) {
        d->cap = d->cap ? 2 * d->cap : 1024;
        d->text = xrealloc(d->text, d->cap * sizeof *d->text);
        d->len = xrealloc(d->len, d->cap * sizeof *d->len);
    }
    d->text[d->n] = xrealloc(NULL, len + 1);
    memcpy(d->text[d->n], p, len);
    d->text[d->n][len] = 0;
    d->len[d->n++] = len;
    d->bytes += len;
}

static void docs_free(docs *d)
{
    for (size_t i = 0; i < d->n; i++)
        tdx_free(d->text[i]);
    tdx_free(d->text);
    tdx_free(d->len);
}

/* ---- the bare ICU chain ---- */

typedef struct icu_chain {
    const UNormalizer2 *nfkc_cf;
    UTransliterator *t2s;
    UChar *a, *b;
    int32_t cap;
    char *out;
    int32_t out_cap;
} icu_chain;

static void icu_open(icu_chain *c)
{
    UErrorCode st = U_ZERO_ERROR;
    c->nfkc_cf = unorm2_getNFKCCasefoldInstance(&st);
    UChar id[32];
    u_uastrcpy(id, "Traditional-Simplified");
    c->t2s = utrans_openU(id, -1, UTRANS_FORWARD, NULL, 0, NULL, &st);
    if (U_FAILURE(st))
        die("ICU", u_errorName(st));
}

static void icu_close(icu_chain *c)
{
    utrans_close(c->t2s);
    tdx_free(c->a);
    tdx_free(c->b);
    tdx_free(c->out);
}

static uint64_t icu_run(icu_chain *c, const uint8_t *src, size_t len)
{
    /* NFKC case folding can expand a code unit up to 18 times at worst; the
     * buffers grow on U_BUFFER_OVERFLOW_ERROR, sized generously up front. */
    int32_t need = (int32_t)len * 2 + 16;
    if (need > c->cap) {
        c->cap = need;
        c->a = xrealloc(c->a, (size_t)c->cap * sizeof(UChar));
        c->b = xrealloc(c->b, (size_t)c->cap * sizeof(UChar));
    }
    UErrorCode st = U_ZERO_ERROR;
    int32_t ulen = 0;
    u_strFromUTF8WithSub(c->a, c->cap, &ulen, (const char *)src, (int32_t)len, 0xfffd, NULL, &st);
    if (U_FAILURE(st))
        die("ICU u_strFromUTF8WithSub", u_errorName(st));
    int32_t nlen = unorm2_normalize(c->nfkc_cf, c->a, ulen, c->b, c->cap, &st);
    if (st == U_BUFFER_OVERFLOW_ERROR) {
        c->cap = nlen * 2 + 16;
        c->a = xrealloc(c->a, (size_t)c->cap * sizeof(UChar));
        c->b = xrealloc(c->b, (size_t)c->cap * sizeof(UChar));
        st = U_ZERO_ERROR;
        u_strFromUTF8WithSub(c->a, c->cap, &ulen, (const char *)src, (int32_t)len, 0xfffd, NULL,
                             &st);
        nlen = unorm2_normalize(c->nfkc_cf, c->a, ulen, c->b, c->cap, &st);
    }
    if (U_FAILURE(st))
        die("ICU unorm2_normalize", u_errorName(st));
    int32_t tlen = nlen, limit = nlen;
    utrans_transUChars(c->t2s, c->b, &tlen, c->cap, 0, &limit, &st);
    if (U_FAILURE(st))
        die("ICU utrans_transUChars", u_errorName(st));
    int32_t olen = 0;
    if (tlen * 3 + 1 > c->out_cap) {
        c->out_cap = tlen * 3 + 1;
        c->out = xrealloc(c->out, (size_t)c->out_cap);
    }
    u_strToUTF8(c->out, c->out_cap, &olen, c->b, tlen, &st);
    if (U_FAILURE(st))
        die("ICU u_strToUTF8", u_errorName(st));
    return tdx_hash64(c->out, (size_t)olen);
}

/* ---- OpenCC, loaded at run time ---- */

typedef struct opencc_lib {
    void *dl;
    void *od;
    void *(*open)(const char *);
    int (*close)(void *);
    char *(*convert)(void *, const char *, size_t);
    void (*release)(char *);
} opencc_lib;

static int opencc_load(opencc_lib *o)
{
    memset(o, 0, sizeof *o);
    const char *names[] = {"libopencc.so.1.1", "libopencc.so.1", "libopencc.so"};
    for (size_t i = 0; i < 3 && o->dl == NULL; i++)
        o->dl = dlopen(names[i], RTLD_NOW | RTLD_LOCAL);
    if (o->dl == NULL)
        return -1;
    *(void **)&o->open = dlsym(o->dl, "opencc_open");
    *(void **)&o->close = dlsym(o->dl, "opencc_close");
    *(void **)&o->convert = dlsym(o->dl, "opencc_convert_utf8");
    *(void **)&o->release = dlsym(o->dl, "opencc_convert_utf8_free");
    if (o->open && o->close && o->convert && o->release)
        o->od = o->open("t2s.json");
    if (o->od == NULL || o->od == (void *)-1) {
        dlclose(o->dl);
        o->dl = NULL;
        return -1;
    }
    return 0;
}

static void opencc_unload(opencc_lib *o)
{
    if (o->dl) {
        o->close(o->od);
        dlclose(o->dl);
    }
}

static uint64_t opencc_run(opencc_lib *o, const uint8_t *src, size_t len)
{
    char *r = o->convert(o->od, (const char *)src, len);
    if (r == NULL)
        die("OpenCC", "conversion failed");
    uint64_t h = tdx_hash64(r, strlen(r));
    o->release(r);
    return h;
}

/* ---- bare Hyperscan ---- */

typedef struct bare_hs {
    hs_database_t *db[3];
    hs_scratch_t *scratch;
    size_t nlits, nregex;
} bare_hs;

static int count_cb(unsigned id, unsigned long long from, unsigned long long to, unsigned flags,
                    void *ctx)
{
    uint64_t *acc = ctx;
    acc[0]++;
    acc[1] += id ^ to ^ from;
    return 0;
}

static void hs_check(hs_error_t hr, hs_compile_error_t *cerr, const char *what)
{
    if (hr == HS_SUCCESS)
        return;
    die(what, cerr ? cerr->message : "Hyperscan error");
}

/*
 * The same expressions tdx_match_compile builds: distinct normalized
 * literals in one literal database, regexes split by whether their matches
 * have one fixed width (no start-of-match needed) or not.
 */
static void bare_hs_build(bare_hs *h, const tdx_watchlist *wl, FILE *lits_out)
{
    size_t np = tdx_watchlist_npatterns(wl);
    const char **lit = xrealloc(NULL, (np + 1) * sizeof *lit);
    size_t *litlen = xrealloc(NULL, (np + 1) * sizeof *litlen);
    unsigned *litid = xrealloc(NULL, (np + 1) * sizeof *litid);
    unsigned *litfl = xrealloc(NULL, (np + 1) * sizeof *litfl);
    const char **rx[2];
    unsigned *rxid[2], *rxfl[2];
    size_t nrx[2] = {0, 0};
    for (int k = 0; k < 2; k++) {
        rx[k] = xrealloc(NULL, (np + 1) * sizeof *rx[k]);
        rxid[k] = xrealloc(NULL, (np + 1) * sizeof *rxid[k]);
        rxfl[k] = xrealloc(NULL, (np + 1) * sizeof *rxfl[k]);
    }
    const unsigned rflags = HS_FLAG_CASELESS | HS_FLAG_UTF8 | HS_FLAG_UCP;
    for (uint32_t i = 0; i < np; i++) {
        const tdx_pattern *p = tdx_watchlist_pattern(wl, i);
        if (p->dup_of != p->id) /* the same normalized literal (or regex) seen before */
            continue;
        if (p->flags & TDX_PAT_REGEX) {
            hs_expr_info_t *info = NULL;
            hs_compile_error_t *cerr = NULL;
            hs_check(hs_expression_info(p->norm, rflags, &info, &cerr), cerr, p->norm);
            int k = info->min_width == info->max_width ? 0 : 1;
            free(info);
            rx[k][nrx[k]] = p->norm;
            rxid[k][nrx[k]] = i;
            rxfl[k][nrx[k]++] = k ? rflags | HS_FLAG_SOM_LEFTMOST : rflags;
            continue;
        }
        lit[h->nlits] = p->norm;
        litlen[h->nlits] = p->norm_len;
        litid[h->nlits] = (unsigned)h->nlits;
        litfl[h->nlits++] = 0;
        if (lits_out && memchr(p->norm, '\n', p->norm_len) == NULL)
            fprintf(lits_out, "%.*s\n", (int)p->norm_len, p->norm);
    }
    hs_compile_error_t *cerr = NULL;
    if (h->nlits)
        hs_check(hs_compile_lit_multi(lit, litfl, litid, litlen, (unsigned)h->nlits, HS_MODE_BLOCK,
                                      NULL, &h->db[0], &cerr),
                 cerr, "hs_compile_lit_multi");
    for (int k = 0; k < 2; k++)
        if (nrx[k])
            hs_check(hs_compile_multi(rx[k], rxfl[k], rxid[k], (unsigned)nrx[k], HS_MODE_BLOCK,
                                      NULL, &h->db[1 + k], &cerr),
                     cerr, "hs_compile_multi");
    h->nregex = nrx[0] + nrx[1];
    for (int k = 0; k < 3; k++)
        if (h->db[k] && hs_alloc_scratch(h->db[k], &h->scratch) != HS_SUCCESS)
            die("Hyperscan", "cannot allocate scratch");
    tdx_free(lit);
    tdx_free(litlen);
    tdx_free(litid);
    tdx_free(litfl);
    for (int k = 0; k < 2; k++) {
        tdx_free(rx[k]);
        tdx_free(rxid[k]);
        tdx_free(rxfl[k]);
    }
}

static void bare_hs_free(bare_hs *h)
{
    for (int k = 0; k < 3; k++)
        hs_free_database(h->db[k]);
    hs_free_scratch(h->scratch);
}

/* ---- main ---- */

enum { K_TDX_NORM, K_ICU, K_OPENCC, K_TDX_MATCH, K_HS, K_TDX_Z, K_ZSTD, NK };
static const char *const kstage[NK] = {"normalize", "normalize", "normalize", "match",
                                       "match",     "compress",  "compress"};
static const char *const kname[NK] = {"tenderidx", "icu",       "opencc", "tenderidx",
                                      "hyperscan", "tenderidx", "zstd"};

/* The samples a new index trains its dictionary from (pipeline.c,
 * train_dict): the first documents, up to 64 KB each, 8 MB in all. */
static size_t dict_samples(const docs *d, tdx_buf *samples, size_t *sizes)
{
    size_t n = 0, total = 0;
    for (size_t i = 0; i < d->n && total < ((size_t)8 << 20); i++) {
        size_t len = d->len[i] > 65536 ? 65536 : d->len[i];
        if (len == 0 || tdx_buf_append(samples, d->text[i], len))
            continue;
        sizes[n++] = len;
        total += len;
    }
    return n;
}

static void usage(FILE *f)
{
    fprintf(f, "usage: peer_stages -p WATCHLIST [--mb N] [--runs R] [--norm-out FILE]\n"
               "                   [--lits-out FILE] [--format F] [--fields MAP] INPUT...\n"
               "\n"
               "Normalize, match and compress stages of tenderidx beside bare ICU,\n"
               "OpenCC, Hyperscan and zstd on the same documents (the first N MB of\n"
               "text, default 64).\n");
}

int main(int argc, char **argv)
{
    const char *wlpath = NULL, *norm_out = NULL, *lits_out = NULL;
    tdx_reader_opts ropts = {0};
    double mb = 64;
    int runs = 3;
    const char **inputs = xrealloc(NULL, (size_t)argc * sizeof *inputs);
    size_t ninputs = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        int has = i + 1 < argc;
        if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
            usage(stdout);
            return 0;
        } else if (strcmp(a, "-p") == 0 && has) {
            wlpath = argv[++i];
        } else if (strcmp(a, "--mb") == 0 && has) {
            mb = atof(argv[++i]);
        } else if (strcmp(a, "--runs") == 0 && has) {
            runs = atoi(argv[++i]);
        } else if (strcmp(a, "--norm-out") == 0 && has) {
            norm_out = argv[++i];
        } else if (strcmp(a, "--lits-out") == 0 && has) {
            lits_out = argv[++i];
        } else if (strcmp(a, "--format") == 0 && has) {
            ropts.format = argv[++i];
        } else if (strcmp(a, "--fields") == 0 && has) {
            ropts.fields = argv[++i];
        } else if (a[0] == '-' && a[1]) {
            usage(stderr);
            return 2;
        } else {
            inputs[ninputs++] = a;
        }
    }
    if (wlpath == NULL || ninputs == 0 || runs < 1 || mb <= 0) {
        usage(stderr);
        return 2;
    }

    tdx_err err = {0};
    docs src = {0};
    tdx_reader *rd;
    if (tdx_reader_open(inputs, ninputs, &ropts, &rd, &err))
        die("reader", err.msg);
    tdx_doc d;
    int rc = 0;
    while (src.bytes < (size_t)(mb * 1e6) && (rc = tdx_reader_next(rd, &d, &err)) == 1)
        docs_add(&src, d.text, d.text_len);
    if (rc < 0)
        die("reader", err.msg);
    tdx_reader_free(rd);
    if (src.n == 0)
        die("inputs", "no documents");

    tdx_norm *norm;
    tdx_norm_ctx *nctx;
    if (tdx_norm_create(TDX_NORM_ALL, &norm, &err) || tdx_norm_ctx_create(norm, &nctx, &err))
        die("normalizer", err.msg);
    tdx_watchlist *wl;
    if (tdx_watchlist_load(wlpath, norm, &wl, &err))
        die(wlpath, err.msg);
    tdx_match_opts mopts = {.cache_dir = ""};
    tdx_matcher *m;
    tdx_match_scratch *ms;
    if (tdx_match_compile(wl, &mopts, &m, &err) || tdx_match_scratch_create(m, &ms, &err))
        die("matcher", err.msg);

    /* Normalized documents, once: the input of both match contenders. */
    docs normd = {0};
    tdx_norm_out out;
    tdx_norm_out_init(&out);
    FILE *nf = norm_out ? fopen(norm_out, "w") : NULL;
    if (norm_out && nf == NULL)
        die(norm_out, strerror(errno));
    for (size_t i = 0; i < src.n; i++) {
        if (tdx_norm_run(norm, nctx, src.text[i], src.len[i], &out, &err))
            die("normalize", err.msg);
        docs_add(&normd, out.text.p, out.text.len);
        if (nf) {
            for (size_t k = 0; k < out.text.len; k++)
                if (out.text.p[k] == '\n' || out.text.p[k] == '\r')
                    out.text.p[k] = ' ';
            fwrite(out.text.p, 1, out.text.len, nf);
            fputc('\n', nf);
        }
    }
    if (nf && fclose(nf))
        die(norm_out, "write failed");

    FILE *lf = lits_out ? fopen(lits_out, "w") : NULL;
    if (lits_out && lf == NULL)
        die(lits_out, strerror(errno));
    bare_hs hs = {0};
    bare_hs_build(&hs, wl, lf);
    if (lf && fclose(lf))
        die(lits_out, "write failed");

    icu_chain icu = {0};
    icu_open(&icu);
    opencc_lib occ;
    int have_opencc = opencc_load(&occ) == 0;
    if (!have_opencc)
        fprintf(stderr, "peer_stages: OpenCC (libopencc.so.1.1 with t2s.json) not installed: "
                        "skipped\n");

    /* Stored text: the engine's dictionary and contexts, and bare zstd's. */
    tdx_buf samples = TDX_BUF_INIT;
    size_t *ssizes = xrealloc(NULL, (src.n + 1) * sizeof *ssizes);
    size_t nsamples = dict_samples(&src, &samples, ssizes);
    tdx_store_dict *tdict = NULL;
    tdx_store_zctx *tz;
    if (tdx_store_dict_train(samples.p, ssizes, (unsigned)nsamples, &tdict, &err) &&
        err.code != TDX_ENOTFOUND)
        die("dictionary", err.msg);
    if (tdx_store_zctx_create(tdict, &tz))
        die("compress", "out of memory");
    tdx_buf zout = TDX_BUF_INIT;
    void *zdict = xrealloc(NULL, 112 * 1024);
    size_t zdict_len =
        ZDICT_trainFromBuffer(zdict, 112 * 1024, samples.p, ssizes, (unsigned)nsamples);
    ZSTD_CDict *cdict =
        ZDICT_isError(zdict_len) ? NULL : ZSTD_createCDict(zdict, zdict_len, ZSTD_PEER_LEVEL);
    ZSTD_CCtx *cctx = ZSTD_createCCtx();
    size_t zcap = 0;
    for (size_t i = 0; i < src.n; i++)
        if (ZSTD_compressBound(src.len[i]) > zcap)
            zcap = ZSTD_compressBound(src.len[i]);
    uint8_t *zbuf = xrealloc(NULL, zcap);
    if (cctx == NULL)
        die("zstd", "cannot create a context");

    fprintf(stderr,
            "peer_stages: %zu documents, %.1f MB of text (%.1f MB normalized), %zu "
            "patterns (%zu distinct literals, %zu regexes)\n",
            src.n, (double)src.bytes / 1e6, (double)normd.bytes / 1e6, tdx_watchlist_npatterns(wl),
            hs.nlits, hs.nregex);

    double *secs[NK];
    uint64_t sum[NK];
    for (int k = 0; k < NK; k++) {
        secs[k] = xrealloc(NULL, (size_t)runs * sizeof(double));
        sum[k] = BU_FNV_INIT;
    }
    tdx_hits hits = {0};
    for (int run = -1; run < runs; run++) {
        for (int k = 0; k < NK; k++) {
            if (k == K_OPENCC && !have_opencc)
                continue;
            uint64_t acc[2] = {0, 0}, h = BU_FNV_INIT;
            double t0 = bu_now();
            for (size_t i = 0; i < src.n; i++) {
                switch (k) {
                case K_TDX_NORM:
                    if (tdx_norm_run(norm, nctx, src.text[i], src.len[i], &out, &err))
                        die("normalize", err.msg);
                    h = bu_mix(h, tdx_hash64(out.text.p, out.text.len));
                    break;
                case K_ICU:
                    h = bu_mix(h, icu_run(&icu, src.text[i], src.len[i]));
                    break;
                case K_OPENCC:
                    h = bu_mix(h, opencc_run(&occ, src.text[i], src.len[i]));
                    break;
                case K_TDX_MATCH:
                    if (tdx_match_scan(m, ms, normd.text[i], normd.len[i], &hits, &err))
                        die("match", err.msg);
                    h = bu_mix(h, hits.n);
                    for (size_t j = 0; j < hits.n; j++)
                        h = bu_mix(h, (uint64_t)hits.v[j].pattern << 32 | hits.v[j].end);
                    break;
                case K_HS:
                    for (int b = 0; b < 3; b++)
                        if (hs.db[b] &&
                            hs_scan(hs.db[b], (const char *)normd.text[i], (unsigned)normd.len[i],
                                    0, hs.scratch, count_cb, acc) != HS_SUCCESS)
                            die("hs_scan", "failed");
                    break;
                case K_TDX_Z:
                    if (tdx_store_compress(tz, src.text[i], src.len[i], &zout, &err))
                        die("compress", err.msg);
                    h = bu_mix(h, zout.len);
                    break;
                case K_ZSTD: {
                    size_t zn = cdict ? ZSTD_compress_usingCDict(cctx, zbuf, zcap, src.text[i],
                                                                 src.len[i], cdict)
                                      : ZSTD_compressCCtx(cctx, zbuf, zcap, src.text[i], src.len[i],
                                                          ZSTD_PEER_LEVEL);
                    if (ZSTD_isError(zn))
                        die("zstd", ZSTD_getErrorName(zn));
                    h = bu_mix(h, zn);
                    break;
                }
                }
            }
            double dt = bu_now() - t0;
            if (k == K_HS)
                h = bu_mix(bu_mix(h, acc[0]), acc[1]);
            if (run >= 0) {
                secs[k][run] = dt;
                sum[k] = run == 0 ? h : sum[k];
            }
        }
    }

    fprintf(stderr, "\n%-10s %-10s %10s %10s\n", "stage", "contender", "MB/s med", "MB/s best");
    for (int k = 0; k < NK; k++) {
        if (k == K_OPENCC && !have_opencc)
            continue;
        double bytes = k == K_TDX_MATCH || k == K_HS ? (double)normd.bytes : (double)src.bytes;
        double med = bu_median(secs[k], (size_t)runs), best = bu_min(secs[k], (size_t)runs);
        fprintf(stderr, "%-10s %-10s %10.1f %10.1f\n", kstage[k], kname[k], bytes / 1e6 / med,
                bytes / 1e6 / best);
        printf("STAGE stage=%s contender=%s mb=%.1f docs=%zu runs=%d mbps_med=%.2f "
               "mbps_best=%.2f checksum=%016llx\n",
               kstage[k], kname[k], bytes / 1e6, src.n, runs, bytes / 1e6 / med, bytes / 1e6 / best,
               (unsigned long long)sum[k]);
    }
    printf("STAGEINFO docs=%zu text_mb=%.2f norm_mb=%.2f patterns=%zu literals=%zu regexes=%zu "
           "opencc=%d\n",
           src.n, (double)src.bytes / 1e6, (double)normd.bytes / 1e6, tdx_watchlist_npatterns(wl),
           hs.nlits, hs.nregex, have_opencc);

    for (int k = 0; k < NK; k++)
        tdx_free(secs[k]);
    ZSTD_freeCCtx(cctx);
    ZSTD_freeCDict(cdict);
    tdx_free(zbuf);
    tdx_free(zdict);
    tdx_buf_free(&zout);
    tdx_store_zctx_free(tz);
    tdx_store_dict_free(tdict);
    tdx_buf_free(&samples);
    tdx_free(ssizes);
    tdx_hits_free(&hits);
    if (have_opencc)
        opencc_unload(&occ);
    icu_close(&icu);
    bare_hs_free(&hs);
    tdx_match_scratch_free(ms);
    tdx_match_free(m);
    tdx_watchlist_free(wl);
    tdx_norm_out_free(&out);
    tdx_norm_ctx_free(nctx);
    tdx_norm_free(norm);
    docs_free(&normd);
    docs_free(&src);
    tdx_free(inputs);
    return 0;
}
