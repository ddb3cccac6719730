/*
 * hashset.h - an in-memory map from 128-bit content hashes to document ids.
 *
 * The writer keeps the content hashes (and the hashes of the keys) of the
 * documents it adds here instead of inserting each into its LMDB table: the
 * keys are random, so every insert lands on another leaf of a large tree,
 * and each such insert costs a descent and a copy of a 4 KB page.  The sets
 * are written into the tables in key order once they hold enough
 * (store.c: pend_flush), touching each leaf once.
 *
 * Open addressing with linear probing on bits of the hash itself (XXH3-128
 * output is uniform); deletion shifts later entries back, so there are no
 * tombstones and lookups stay short.  Id 0 marks an empty slot (document
 * ids start at 1).  Not thread-safe: the writer thread owns it.
 */
#ifndef TDX_HASHSET_H
#define TDX_HASHSET_H

#include <stddef.h>
#include <stdint.h>

typedef struct tdx_hs_ent {
    uint64_t h[2];
    uint32_t id; /* 0: empty */
} tdx_hs_ent;

typedef struct tdx_hashset {
    tdx_hs_ent *slot;
    size_t mask; /* slots - 1; slots a power of two, 0 when nothing allocated */
    size_t n;
} tdx_hashset;

/** Bytes a set of n entries may occupy at most (load between 3/8 and 3/4). */
#define TDX_HASHSET_BYTES_PER_ENTRY (8 * sizeof(tdx_hs_ent) / 3)

/** The id recorded for h, 0 if none. */
uint32_t tdx_hashset_find(const tdx_hashset *s, const uint64_t h[2]);

/** Record h -> id (id >= 1; h not yet in the set).  0, or ENOMEM. */
int tdx_hashset_add(tdx_hashset *s, const uint64_t h[2], uint32_t id);

/** Forget h if it is recorded with this id: 1 when removed, else 0. */
int tdx_hashset_del(tdx_hashset *s, const uint64_t h[2], uint32_t id);

/** Empty the set, keeping its memory. */
void tdx_hashset_clear(tdx_hashset *s);

void tdx_hashset_free(tdx_hashset *s);

#endif
