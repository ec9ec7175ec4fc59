/* Name -> item hash index of a graph's values and nodes (see name_index.h). */
#include <stdlib.h>
#include <string.h>

#include "core/name_index.h"

/* the item of a removed entry (never a real item's address) */
static const char tomb;
#define NQ_NAME_TOMB ((void *)&tomb)

/* FNV-1a, 64 bits */
uint64_t nq_name_hash(const char *s)
{
    uint64_t h = 1469598103934665603ull;
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) h = (h ^ *p) * 1099511628211ull;
    return h;
}

/* an item's current name: its first member */
static const char *item_name(const void *item) { return *(char *const *)item; }

void nq_name_index_clear(nq_name_index *ix)
{
    free(ix->slots);
    memset(ix, 0, sizeof *ix);
}

static void insert(nq_name_entry *slots, size_t cap, nq_name_entry e)
{
    size_t i = (size_t)e.hash & (cap - 1);
    while (slots[i].item != NULL) i = (i + 1) & (cap - 1);
    slots[i] = e;
}

/* Keeps the load (live + tombstones) under 1/2; drops tombstones. */
static int reserve(nq_name_index *ix)
{
    if (2 * (ix->used + 1) <= ix->cap) return 1;
    size_t cap = ix->cap ? ix->cap : 64;
    while (2 * ((size_t)ix->live + 1) > cap / 2) cap *= 2;
    nq_name_entry *slots = calloc(cap, sizeof *slots);
    if (slots == NULL) return 0;
    for (size_t i = 0; i < ix->cap; i++)
        if (ix->slots[i].item != NULL && ix->slots[i].item != NQ_NAME_TOMB) insert(slots, cap, ix->slots[i]);
    free(ix->slots);
    ix->slots = slots;
    ix->cap = cap;
    ix->used = (size_t)ix->live;
    return 1;
}

int nq_name_index_put(nq_name_index *ix, const char *name, void *item, int id)
{
    if (!reserve(ix)) {
        nq_name_index_clear(ix);
        return 0;
    }
    insert(ix->slots, ix->cap, (nq_name_entry){nq_name_hash(name), item, id});
    ix->used++;
    ix->live++;
    return 1;
}

/* the slot of `item` filed under `name`, or NULL */
static nq_name_entry *find_item(const nq_name_index *ix, const char *name, const void *item)
{
    if (ix->cap == 0) return NULL;
    uint64_t h = nq_name_hash(name);
    for (size_t i = (size_t)h & (ix->cap - 1); ix->slots[i].item != NULL; i = (i + 1) & (ix->cap - 1))
        if (ix->slots[i].item == item && ix->slots[i].hash == h) return &ix->slots[i];
    return NULL;
}

int nq_name_index_remove(nq_name_index *ix, const char *name, const void *item)
{
    nq_name_entry *e = find_item(ix, name, item);
    if (e == NULL) return 0;
    e->item = NQ_NAME_TOMB;
    ix->live--;
    return 1;
}

int nq_name_index_set_id(nq_name_index *ix, const char *name, const void *item, int id)
{
    nq_name_entry *e = find_item(ix, name, item);
    if (e != NULL) e->id = id;
    return e != NULL;
}

const nq_name_entry *nq_name_index_get(const nq_name_index *ix, const char *name, int *suspect)
{
    *suspect = 0;
    if (ix->cap == 0) return NULL;
    uint64_t h = nq_name_hash(name);
    for (size_t i = (size_t)h & (ix->cap - 1); ix->slots[i].item != NULL; i = (i + 1) & (ix->cap - 1)) {
        const nq_name_entry *e = &ix->slots[i];
        if (e->item == NQ_NAME_TOMB || e->hash != h) continue;
        if (strcmp(item_name(e->item), name) == 0) return e;
        *suspect = 1;
    }
    return NULL;
}
