/* A name -> item hash index (open addressing, linear probing, tombstones),
 * private to the core layer: it makes nq_graph_find_value/find_node O(1).
 *
 * The index never owns names: an entry keeps the item (an nq_value or
 * nq_node, whose first member is its `char *name`), the value id, and the
 * name's hash. A lookup compares the item's *current* name, so an index that
 * went stale (a name changed behind its back) can give a false miss but never
 * a wrong hit; graph.c reports a stale entry (hash equal, name not) as
 * "suspect" and falls back to a linear scan. */
#ifndef NQ_NAME_INDEX_H
#define NQ_NAME_INDEX_H
#include <stddef.h>
#include <stdint.h>

typedef struct nq_name_entry {
    uint64_t hash;
    void *item; /* NULL: empty slot; a private sentinel once removed */
    int id;
} nq_name_entry;

typedef struct nq_name_index {
    size_t cap;  /* slots, a power of two (0: no table) */
    size_t used; /* live entries + tombstones */
    int live;    /* live entries */
    nq_name_entry *slots;
} nq_name_index;

uint64_t nq_name_hash(const char *s);
void nq_name_index_clear(nq_name_index *ix);
/* Adds (name -> item, id); 0 when out of memory (the index is then cleared). */
int nq_name_index_put(nq_name_index *ix, const char *name, void *item, int id);
/* Removes the entry of `item` filed under `name`; 1 if found. */
int nq_name_index_remove(nq_name_index *ix, const char *name, const void *item);
/* Sets the id of the entry of `item` filed under `name`; 1 if found. */
int nq_name_index_set_id(nq_name_index *ix, const char *name, const void *item, int id);
/* The entry whose item is currently named `name`, or NULL; *suspect is set
 * when an entry had the name's hash but another name. */
const nq_name_entry *nq_name_index_get(const nq_name_index *ix, const char *name, int *suspect);
#endif
