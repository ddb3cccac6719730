/*
 * pipeline.h - the indexing run: reader -> workers -> writer.
 *
 * tdx_pipeline_run() is the whole of `tenderidx index`: it opens (or
 * creates) the index, compiles the watch list, and streams the inputs
 * through one reader thread, N worker threads (normalize, match, terms,
 * compress) and the writer (the calling thread), joined by bounded queues.
 * Memory in flight is bounded by opts->memory_limit; batches are written
 * in input order, so the index does not depend on the number of workers.
 */
#ifndef TDX_PIPELINE_H
#define TDX_PIPELINE_H

#include <signal.h>
#include <stddef.h>
#include <stdint.h>

#include "../common/err.h"
#include "../reader/reader.h"

typedef struct tdx_progress {
    uint64_t files, bytes_read, total_bytes; /* from the reader */
    uint64_t docs_read, docs_added, rejects;
    uint64_t bytes_indexed;                 /* text bytes committed */
    uint64_t merge_done, merge_total;       /* postings bytes merged, of (0: no merge yet) */
    double elapsed_s;
    int final; /* 1 on the last call */
} tdx_progress;

typedef struct tdx_stage_times {
    double read, normalize, match, terms, compress, write, merge; /* seconds, summed over threads */
} tdx_stage_times;

typedef struct tdx_run_stats {
    uint64_t docs_read;    /* documents the reader returned */
    uint64_t added;        /* new documents indexed */
    uint64_t committed;    /* of those, in a commit (all but a failed last group) */
    uint64_t existing;     /* already indexed with the same key and content */
    uint64_t duplicates;   /* same content as an indexed document, new key */
    uint64_t changed;      /* key indexed with other content (kept: no --replace) */
    uint64_t replaced;     /* key re-indexed with new content (--replace) */
    uint64_t rejects;      /* bad records or files, not indexed */
    uint64_t warnings;     /* records indexed after repair (invalid bytes replaced) */
    uint64_t invalid;      /* invalid UTF-8 sequences replaced */
    uint64_t dates_unparsed;
    uint64_t skipped_files;   /* already fully indexed */
    uint64_t skipped_records; /* resumed past */
    uint64_t bytes;        /* original text bytes of added documents */
    uint64_t bytes_read;   /* text bytes of all documents read */
    uint64_t hits;         /* hits in added documents */
    uint64_t batches;
    double seconds;
    tdx_stage_times stages;
    size_t peak_inflight;  /* bytes of the memory budget in use at the peak */
    size_t peak_rss;       /* bytes */
    int threads;
    int interrupted;       /* stopped by *opts->stop */
    size_t segments_left;  /* postings segments left unmerged at the end */
    size_t segments_merged; /* tdx_pipeline_merge: segments folded in */
    /* compiled watch list */
    size_t npatterns, nentities;
    double compile_ms;
    int from_cache;
    int norm_from_cache; /* the normalizer's tables came from the cache directory */
} tdx_run_stats;

typedef struct tdx_pipeline_opts {
    const char *index_path;
    const char *watchlist_path;
    const char *const *inputs;
    size_t ninputs;
    const char *normalize;  /* step list for a new index; NULL: "all" */
    int no_grams;           /* entity-only profile */
    int threads;            /* workers; 0: number of online CPUs */
    size_t memory_limit;    /* bytes in flight; 0: 512 MiB */
    size_t batch_bytes;     /* text per batch; 0: derived from memory_limit and threads */
    int replace;            /* re-index changed content under an existing key */
    int no_merge;           /* leave postings segments unmerged at the end */
    int merge;              /* merge at the end even when the new segments are small */
    int store_format;       /* a new index's format (tdx_store_opts.format); 0: current */
    tdx_reader_opts reader; /* on_file is set by the pipeline */
    const char *cache_dir;  /* compiled watch lists, normalizer tables; NULL default, "" off */
    volatile sig_atomic_t *stop; /* set asynchronously (SIGINT): finish the batch in hand, commit, stop */
    /* ~5 a second while reading (reader thread), after each merge step (writer) */
    void (*on_progress)(void *ctx, const tdx_progress *p);
    void *ctx;
} tdx_pipeline_opts;

/**
 * Run an indexing job.  Rejected input is not an error (it is counted and
 * reported through opts->reader.on_reject).  Errors: TDX_EPATTERN (watch
 * list), TDX_EFORMAT (index built with other settings), TDX_ENOSPC,
 * TDX_EIO, TDX_ECORRUPT, TDX_ENOMEM, TDX_EINVAL.  stats is filled in all
 * cases as far as the run got.
 */
int tdx_pipeline_run(const tdx_pipeline_opts *opts, tdx_run_stats *stats, tdx_err *err);

/**
 * Fold the pending postings segments of opts->index_path into its main
 * postings, nothing read (no watch list needed): progress through
 * opts->on_progress, stopped between two steps by *opts->stop (the next
 * run or merge finishes it).  Fills segments_merged, segments_left,
 * interrupted, seconds and stages.merge.  Errors: TDX_ENOTFOUND (no index),
 * TDX_ENOSPC, TDX_EIO, TDX_ECORRUPT, TDX_ENOMEM.
 */
int tdx_pipeline_merge(const tdx_pipeline_opts *opts, tdx_run_stats *stats, tdx_err *err);

/** Parse "2023-03-15..." (ISO as the reader returns it) into yyyymmdd; 0 if not a date. */
uint32_t tdx_date_ymd(const char *iso);

#endif
