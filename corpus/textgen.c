/*
 * textgen.c - `gen text`: JSON Lines documents of free Chinese-like prose,
 * for measuring what indexing pays per distinct term.
 *
 * The notices `gen` writes come from a grammar: a gigabyte of them holds
 * about 15,000 distinct bigrams, where prose holds hundreds of thousands
 * in every few megabytes.  A batch's postings have one list per distinct
 * term, so the writer's and the merge's work follows the number of
 * distinct terms more than the number of bytes; this command makes text
 * with the term diversity of prose so that cost can be measured.
 *
 * The model: CHARS characters of the CJK block with Zipf frequencies
 * (exponent 1), a lexicon of --lexicon words of one to four characters
 * (mostly two, as in Chinese) drawn from them, words drawn with Zipf
 * frequencies (exponent 1), put in clauses (，), sentences (。) and
 * paragraphs.  It is not Chinese, and watch-list names turn up in it only
 * by chance; it has no ground truth.
 *
 * Deterministic per --seed: document i is the same whatever --bytes or
 * --docs says.  Single-threaded.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "common/alloc.h"
#include "common/utf8.h"
#include "gen.h"

int textgen_main(int argc, char **argv);

#define CJK_FIRST 0x4E00u
#define CJK_COUNT 20902u /* U+4E00 .. U+9FA5 */
#define CHARS     6000u
#define WORD_MAX  4

typedef struct zipf {
    double *cdf; /* cumulative weights, ascending */
    uint32_t n;
} zipf;

static void zipf_init(zipf *z, uint32_t n)
{
    z->cdf = gen_alloc(n * sizeof *z->cdf);
    z->n = n;
    double acc = 0;
    for (uint32_t i = 0; i < n; i++)
        z->cdf[i] = acc += 1.0 / (double)(i + 1);
}

/* A rank in [0, n): the first whose cumulative weight passes a uniform draw. */
static uint32_t zipf_draw(const zipf *z, rng *r)
{
    double u = rng_unit(r) * z->cdf[z->n - 1];
    uint32_t lo = 0, hi = z->n - 1;
    while (lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2;
        if (z->cdf[mid] > u)
            hi = mid;
        else
            lo = mid + 1;
    }
    return lo;
}

typedef struct lexicon {
    uint8_t *bytes; /* word w: bytes[off[w] .. off[w + 1]) */
    uint32_t *off;
    uint32_t n;
} lexicon;

static void lexicon_make(lexicon *lx, uint32_t n, uint64_t seed)
{
    rng r = rng_for(seed, 9, 0);
    /* The characters: CHARS of the block in a seeded order, rank 0 the
     * most frequent. */
    uint32_t *cp = gen_alloc(CJK_COUNT * sizeof *cp);
    for (uint32_t i = 0; i < CJK_COUNT; i++)
        cp[i] = CJK_FIRST + i;
    for (uint32_t i = 0; i < CHARS; i++) {
        uint32_t j = i + rng_below(&r, CJK_COUNT - i);
        uint32_t t = cp[i];
        cp[i] = cp[j];
        cp[j] = t;
    }
    zipf zc;
    zipf_init(&zc, CHARS);
    lx->n = n;
    lx->off = gen_alloc(((size_t)n + 1) * sizeof *lx->off);
    lx->bytes = gen_alloc((size_t)n * WORD_MAX * 3);
    size_t at = 0;
    for (uint32_t w = 0; w < n; w++) {
        lx->off[w] = (uint32_t)at;
        double u = rng_unit(&r);
        int len = u < 0.08 ? 1 : u < 0.70 ? 2 : u < 0.88 ? 3 : 4;
        for (int k = 0; k < len; k++)
            at += tdx_utf8_encode(lx->bytes + at, cp[zipf_draw(&zc, &r)]);
    }
    lx->off[n] = (uint32_t)at;
    tdx_free(zc.cdf);
    tdx_free(cp);
}

static void put_str(tdx_buf *b, const char *s)
{
    gen_put(b, s, strlen(s));
}

/* Document i's text into out (JSON-escaped: only "\n" needs it) and its
 * first clause into title. */
static void make_text(const lexicon *lx, const zipf *zw, uint64_t seed, uint64_t i, tdx_buf *out,
                      tdx_buf *title, int32_t *day)
{
    rng r = rng_for(seed, 10, i);
    tdx_buf_reset(out);
    tdx_buf_reset(title);
    *day = (int32_t)rng_below(&r, 7 * 365);
    /* 300 - 1,300 characters: about the size of a generated notice. */
    size_t want = 300 + rng_below(&r, 1001), chars = 0;
    int first = 1;
    while (chars < want) {
        uint32_t sentences = 2 + rng_below(&r, 5);
        for (uint32_t s = 0; s < sentences && chars < want; s++) {
            uint32_t clauses = 1 + rng_below(&r, 4);
            for (uint32_t c = 0; c < clauses; c++) {
                uint32_t words = 3 + rng_below(&r, 10);
                for (uint32_t k = 0; k < words; k++) {
                    uint32_t w = zipf_draw(zw, &r);
                    size_t len = lx->off[w + 1] - lx->off[w];
                    gen_put(out, lx->bytes + lx->off[w], len);
                    if (first)
                        gen_put(title, lx->bytes + lx->off[w], len);
                    chars += len / 3;
                }
                first = 0;
                put_str(out, c + 1 < clauses ? "，" : "。");
                chars++;
            }
        }
        put_str(out, "\\n");
        chars++;
    }
}

static void text_usage(FILE *f)
{
    fprintf(f, "usage: gen text [OPTIONS]\n"
               "\n"
               "Writes JSON Lines documents of free prose with the term diversity of real\n"
               "text (hundreds of thousands of distinct bigrams in a few megabytes, where\n"
               "a gigabyte of generated notices holds about 15,000), to measure what\n"
               "indexing pays per distinct term.  Zipf-distributed characters and words;\n"
               "not Chinese, no planted names, no ground truth.  Deterministic per --seed.\n"
               "\n"
               "  -b, --bytes SIZE    stop once SIZE bytes are written (default 64M)\n"
               "  -n, --docs N        stop after N documents (default: --bytes decides)\n"
               "  -s, --seed S        seed (default 1)\n"
               "      --lexicon N     words in the lexicon (default 200000)\n"
               "  -o, --output FILE   file (default stdout)\n"
               "  -h, --help\n");
}

int textgen_main(int argc, char **argv)
{
    uint64_t bytes = 64000000, docs = 0, seed = 1, nlex = 200000;
    const char *output = NULL;
    enum { O_LEX = 256 };
    static const struct option lo[] = {{"bytes", required_argument, 0, 'b'},
                                       {"docs", required_argument, 0, 'n'},
                                       {"seed", required_argument, 0, 's'},
                                       {"lexicon", required_argument, 0, O_LEX},
                                       {"output", required_argument, 0, 'o'},
                                       {"help", no_argument, 0, 'h'},
                                       {0, 0, 0, 0}};
    int c, li = -1;
    while ((c = getopt_long(argc, argv, "b:n:s:o:h", lo, &li)) != -1) {
        int bad = 0;
        switch (c) {
        case 'b':
            bad = gen_parse_size(optarg, &bytes);
            break;
        case 'n':
            bad = gen_parse_u64(optarg, &docs);
            break;
        case 's':
            bad = gen_parse_u64(optarg, &seed);
            break;
        case O_LEX:
            bad = gen_parse_u64(optarg, &nlex) || nlex == 0 || nlex > 10000000;
            break;
        case 'o':
            output = optarg;
            break;
        case 'h':
            text_usage(stdout);
            return GEN_EXIT_OK;
        default:
            text_usage(stderr);
            return GEN_EXIT_USAGE;
        }
        if (bad) {
            const char *name = li >= 0    ? lo[li].name
                               : c == 'b' ? "bytes"
                               : c == 'n' ? "docs"
                                          : "seed";
            fprintf(stderr, "gen text: invalid value '%s' for --%s\n", optarg, name);
            return GEN_EXIT_USAGE;
        }
        li = -1;
    }
    if (optind < argc) {
        fprintf(stderr, "gen text: unexpected argument '%s'\n", argv[optind]);
        return GEN_EXIT_USAGE;
    }
    FILE *f = output ? fopen(output, "wb") : stdout;
    if (f == NULL)
        gen_die("cannot write '%s': %s", output, strerror(errno));
    setvbuf(f, NULL, _IOFBF, 1 << 20);
    lexicon lx;
    lexicon_make(&lx, (uint32_t)nlex, seed);
    zipf zw;
    zipf_init(&zw, (uint32_t)nlex);
    tdx_buf text = TDX_BUF_INIT, title = TDX_BUF_INIT;
    uint64_t written = 0;
    for (uint64_t i = 0; (docs == 0 || i < docs) && (docs != 0 || written < bytes); i++) {
        int32_t day;
        make_text(&lx, &zw, seed, i, &text, &title, &day);
        int y, m, d;
        gen_ymd(gen_days_from_civil(2019, 1, 1) + day, &y, &m, &d);
        int n = fprintf(f,
                        "{\"id\":\"text-%" PRIu64 "-%08" PRIu64 "\",\"date\":\"%04d-%02d-%02d\","
                        "\"title\":\"%.*s\",\"text\":\"%.*s\"}\n",
                        seed, i, y, m, d, (int)title.len, (const char *)title.p, (int)text.len,
                        (const char *)text.p);
        if (n < 0)
            gen_die("write error: %s", strerror(errno));
        written += (uint64_t)n;
    }
    if (fflush(f) != 0 || ferror(f) || (output && fclose(f) != 0))
        gen_die("write error: %s", strerror(errno));
    tdx_buf_free(&text);
    tdx_buf_free(&title);
    tdx_free(lx.bytes);
    tdx_free(lx.off);
    tdx_free(zw.cdf);
    return GEN_EXIT_OK;
}
