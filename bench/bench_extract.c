/*
 * bench_extract.c - the documents of any input tenderidx reads, as plain
 * normalized text for the peers that need plain text (ripgrep, GNU grep,
 * SQLite FTS5).
 *
 * Where it sits: scripts/bench.sh runs it once per corpus, before the
 * peers.  Documents come from the engine's reader (files, directories,
 * archives, JSON Lines, HTML, GB18030/Big5 ...) and the engine's
 * normalizer, in the order tenderidx indexes them, and a document whose
 * normalized text was seen before is left out, as tenderidx records it as
 * a duplicate instead of indexing it again.  So line i of the text file is
 * tenderidx document i + 1 when the index was built from the same inputs.
 *
 * Output:
 *   --text FILE  one normalized document per line (normalized text has no
 *                line breaks: every white space run is one space or none)
 *   --meta FILE  key<TAB>date per document, the same order
 * and one line on stdout:
 *   EXTRACT docs= duplicates= text_bytes= norm_bytes= seconds=
 */
#include "benchutil.h"

#include "common/alloc.h"
#include "common/hash.h"
#include "normalize/normalize.h"
#include "reader/reader.h"

#include <errno.h>

static void die(const char *what, const char *msg)
{
    fprintf(stderr, "bench_extract: %s: %s\n", what, msg && msg[0] ? msg : "failed");
    exit(3);
}

/* Open-addressing set of 128-bit content hashes (0,0 marks a free slot). */
typedef struct hset {
    uint64_t (*v)[2];
    size_t n, cap;
} hset;

static int hset_add(hset *s, const uint64_t h[2])
{
    if (2 * (s->n + 1) > s->cap) {
        size_t cap = s->cap ? 2 * s->cap : 1u << 16;
        uint64_t(*v)[2] = tdx_calloc(cap, sizeof *v);
        if (v == NULL)
            die("memory", "out of memory");
        for (size_t i = 0; i < s->cap; i++) {
            if ((s->v[i][0] | s->v[i][1]) == 0)
                continue;
            size_t j = s->v[i][0] & (cap - 1);
            while (v[j][0] | v[j][1])
                j = (j + 1) & (cap - 1);
            v[j][0] = s->v[i][0];
            v[j][1] = s->v[i][1];
        }
        tdx_free(s->v);
        s->v = v;
        s->cap = cap;
    }
    uint64_t k0 = h[0], k1 = h[1] | ((h[0] | h[1]) == 0);
    size_t j = k0 & (s->cap - 1);
    while (s->v[j][0] | s->v[j][1]) {
        if (s->v[j][0] == k0 && s->v[j][1] == k1)
            return 0;
        j = (j + 1) & (s->cap - 1);
    }
    s->v[j][0] = k0;
    s->v[j][1] = k1;
    s->n++;
    return 1;
}

/* A key or date cell: tabs and line breaks would break the TSV. */
static void put_cell(FILE *f, const char *s)
{
    for (; *s; s++)
        fputc(*s == '\t' || *s == '\n' || *s == '\r' ? ' ' : *s, f);
}

static void usage(FILE *f)
{
    fprintf(f, "usage: bench_extract --text FILE [--meta FILE] [--max-docs N] [--format F]\n"
               "                     [--fields MAP] [--encoding E] INPUT...\n");
}

int main(int argc, char **argv)
{
    const char *text_path = NULL, *meta_path = NULL;
    tdx_reader_opts ropts = {0};
    uint64_t max_docs = 0;
    const char **inputs = tdx_calloc((size_t)argc, sizeof *inputs);
    size_t ninputs = 0;
    if (inputs == NULL)
        die("memory", "out of memory");
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        int has = i + 1 < argc;
        if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
            usage(stdout);
            return 0;
        } else if (strcmp(a, "--text") == 0 && has) {
            text_path = argv[++i];
        } else if (strcmp(a, "--meta") == 0 && has) {
            meta_path = argv[++i];
        } else if (strcmp(a, "--max-docs") == 0 && has) {
            max_docs = strtoull(argv[++i], NULL, 10);
        } else if (strcmp(a, "--format") == 0 && has) {
            ropts.format = argv[++i];
        } else if (strcmp(a, "--fields") == 0 && has) {
            ropts.fields = argv[++i];
        } else if (strcmp(a, "--encoding") == 0 && has) {
            ropts.encoding = argv[++i];
        } else if (a[0] == '-' && a[1]) {
            usage(stderr);
            return 2;
        } else {
            inputs[ninputs++] = a;
        }
    }
    if (text_path == NULL || ninputs == 0) {
        usage(stderr);
        return 2;
    }
    FILE *tf = fopen(text_path, "w");
    FILE *mf = meta_path ? fopen(meta_path, "w") : NULL;
    if (tf == NULL || (meta_path && mf == NULL))
        die(tf == NULL ? text_path : meta_path, strerror(errno));

    tdx_err err = {0};
    tdx_norm *norm;
    tdx_norm_ctx *nctx;
    if (tdx_norm_create(TDX_NORM_ALL, &norm, &err) || tdx_norm_ctx_create(norm, &nctx, &err))
        die("normalizer", err.msg);
    tdx_reader *rd;
    if (tdx_reader_open(inputs, ninputs, &ropts, &rd, &err))
        die("reader", err.msg);
    tdx_norm_out out;
    tdx_norm_out_init(&out);
    hset seen = {0};
    uint64_t docs = 0, dups = 0, text_bytes = 0, norm_bytes = 0;
    double t0 = bu_now();
    tdx_doc d;
    int rc = 0;
    while ((max_docs == 0 || docs < max_docs) && (rc = tdx_reader_next(rd, &d, &err)) == 1) {
        if (tdx_norm_run(norm, nctx, d.text, d.text_len, &out, &err))
            die("normalize", err.msg);
        uint64_t h[2];
        tdx_hash128(out.text.p, out.text.len, h);
        if (!hset_add(&seen, h)) {
            dups++;
            continue;
        }
        for (size_t k = 0; k < out.text.len; k++)
            if (out.text.p[k] == '\n' || out.text.p[k] == '\r')
                out.text.p[k] = ' ';
        fwrite(out.text.p, 1, out.text.len, tf);
        fputc('\n', tf);
        if (mf) {
            put_cell(mf, d.key);
            fputc('\t', mf);
            put_cell(mf, d.date);
            fputc('\n', mf);
        }
        docs++;
        text_bytes += d.text_len;
        norm_bytes += out.text.len;
    }
    if (rc < 0)
        die("reader", err.msg);
    if (fclose(tf) || (mf && fclose(mf)))
        die("output", "write failed");
    printf("EXTRACT docs=%llu duplicates=%llu text_bytes=%llu norm_bytes=%llu seconds=%.3f\n",
           (unsigned long long)docs, (unsigned long long)dups, (unsigned long long)text_bytes,
           (unsigned long long)norm_bytes, bu_now() - t0);
    tdx_free(seen.v);
    tdx_norm_out_free(&out);
    tdx_reader_free(rd);
    tdx_norm_ctx_free(nctx);
    tdx_norm_free(norm);
    tdx_free(inputs);
    return 0;
}
