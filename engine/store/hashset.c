/*
 * hashset.c - see hashset.h.
 */
#include "hashset.h"

#include "../common/alloc.h"

#include <errno.h>
#include <stdint.h>
#include <string.h>

static inline size_t home(const tdx_hashset *s, const uint64_t h[2])
{
    return (size_t)h[1] & s->mask;
}

static inline int same(const tdx_hs_ent *e, const uint64_t h[2])
{
    return e->h[0] == h[0] && e->h[1] == h[1];
}

/* The slot holding h, or SIZE_MAX when h is not in the set. */
static size_t slot_of(const tdx_hashset *s, const uint64_t h[2])
{
    if (s->n == 0)
        return SIZE_MAX;
    for (size_t i = home(s, h);; i = (i + 1) & s->mask) {
        if (s->slot[i].id == 0)
            return SIZE_MAX;
        if (same(&s->slot[i], h))
            return i;
    }
}

uint32_t tdx_hashset_find(const tdx_hashset *s, const uint64_t h[2])
{
    size_t i = slot_of(s, h);
    return i == SIZE_MAX ? 0 : s->slot[i].id;
}

static void put(tdx_hashset *s, const uint64_t h[2], uint32_t id)
{
    size_t i = home(s, h);
    while (s->slot[i].id != 0)
        i = (i + 1) & s->mask;
    s->slot[i].h[0] = h[0];
    s->slot[i].h[1] = h[1];
    s->slot[i].id = id;
    s->n++;
}

/* Double the table (or allocate the first one) and re-insert. */
static int grow(tdx_hashset *s)
{
    size_t slots = s->mask ? (s->mask + 1) * 2 : 1024;
    tdx_hs_ent *old = s->slot;
    size_t oslots = s->mask ? s->mask + 1 : 0;
    tdx_hs_ent *nw = tdx_calloc(slots, sizeof *nw);
    if (nw == NULL)
        return ENOMEM;
    s->slot = nw;
    s->mask = slots - 1;
    s->n = 0;
    for (size_t i = 0; i < oslots; i++)
        if (old[i].id)
            put(s, old[i].h, old[i].id);
    tdx_free(old);
    return 0;
}

int tdx_hashset_add(tdx_hashset *s, const uint64_t h[2], uint32_t id)
{
    if (s->mask == 0 || (s->n + 1) * 4 > (s->mask + 1) * 3) {
        int rc = grow(s);
        if (rc)
            return rc;
    }
    put(s, h, id);
    return 0;
}

int tdx_hashset_del(tdx_hashset *s, const uint64_t h[2], uint32_t id)
{
    size_t i = slot_of(s, h);
    if (i == SIZE_MAX || s->slot[i].id != id)
        return 0;
    /* Backward shift: an entry after the hole moves into it unless its
     * home lies cyclically in (hole, entry]. */
    size_t hole = i;
    for (size_t j = (i + 1) & s->mask; s->slot[j].id != 0; j = (j + 1) & s->mask) {
        size_t k = home(s, s->slot[j].h);
        int stays = hole <= j ? (hole < k && k <= j) : (hole < k || k <= j);
        if (!stays) {
            s->slot[hole] = s->slot[j];
            hole = j;
        }
    }
    s->slot[hole].id = 0;
    s->n--;
    return 1;
}

void tdx_hashset_clear(tdx_hashset *s)
{
    if (s->mask)
        memset(s->slot, 0, (s->mask + 1) * sizeof *s->slot);
    s->n = 0;
}

void tdx_hashset_free(tdx_hashset *s)
{
    tdx_free(s->slot);
    memset(s, 0, sizeof *s);
}
