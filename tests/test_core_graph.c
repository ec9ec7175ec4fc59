/* Core: dtypes, tensors, attributes, graph building, toposort, rewrites. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/core_internal.h"
#include "nnquant/core.h"
#include "nqtest.h"

static int val(nq_graph *g, const char *name)
{
    int v = nq_graph_add_value(g, name, NULL);
    REQUIRE(v >= 0);
    return v;
}

static void test_dtypes_and_tensors(void)
{
    CHECK(nq_dtype_size(NQ_DTYPE_FLOAT32) == 4);
    CHECK(nq_dtype_size(NQ_DTYPE_INT4) == 1);
    CHECK(nq_dtype_from_name("int16") == NQ_DTYPE_INT16);
    CHECK(nq_dtype_from_name("nope") == NQ_DTYPE_UNDEFINED);
    for (int t = 1; t < NQ_DTYPE_COUNT; t++)
        CHECK(nq_dtype_from_name(nq_dtype_name((nq_dtype)t)) == (nq_dtype)t);
    int64_t lo, hi;
    CHECK(nq_dtype_int_range(NQ_DTYPE_INT4, &lo, &hi) && lo == -8 && hi == 7);
    CHECK(!nq_dtype_int_range(NQ_DTYPE_FLOAT32, &lo, &hi));

    nq_tensor t, c;
    int64_t dims[2] = {2, 3};
    CHECK_OK(nq_tensor_alloc(&t, NQ_DTYPE_INT8, 2, dims, NULL));
    CHECK(nq_tensor_numel(&t) == 6 && nq_tensor_nbytes(&t) == 6);
    nq_tensor_set(&t, 0, 300.0);  /* saturates */
    nq_tensor_set(&t, 1, -2.5);   /* ties away from zero */
    CHECK(nq_tensor_get(&t, 0) == 127 && nq_tensor_get(&t, 1) == -3);
    CHECK_OK(nq_tensor_copy(&c, &t, NULL));
    CHECK(nq_tensor_equal(&c, &t));
    nq_tensor_set(&c, 5, 1);
    CHECK(!nq_tensor_equal(&c, &t));
    nq_tensor_free(&c);
    nq_tensor_free(&t);
    int64_t bad[1] = {-1};
    nq_error err = {0};
    CHECK(nq_tensor_alloc(&t, NQ_DTYPE_FLOAT32, 1, bad, &err) == NQ_ERR_SHAPE);
    CHECK(strstr(err.msg, "negative") != NULL);
    char buf[64];
    CHECK(strcmp(nq_shape_str(2, dims, buf, sizeof buf), "[2,3]") == 0);
}

static void test_attributes(void)
{
    nq_graph *g = nq_graph_create("g");
    int a = val(g, "a"), b = val(g, "b");
    nq_node *n = nq_graph_add_node(g, "Relu", "r", 1, &a, 1, &b, NULL);
    REQUIRE(n != NULL);
    int64_t ints[3] = {1, 2, 3};
    float fl[2] = {0.5f, 1.5f};
    CHECK_OK(nq_node_set_int(n, "axis", 2));
    CHECK_OK(nq_node_set_float(n, "alpha", 0.25f));
    CHECK_OK(nq_node_set_string(n, "quantization.ptq.precision", "int8"));
    CHECK_OK(nq_node_set_ints(n, "pads", 3, ints));
    CHECK_OK(nq_node_set_floats(n, "scales", 2, fl));
    CHECK_OK(nq_node_set_int(n, "axis", 3)); /* replace */
    CHECK(n->n_attrs == 5);
    CHECK(nq_node_attr_int(n, "axis", 0) == 3);
    CHECK(nq_node_attr_int(n, "missing", 7) == 7);
    CHECK(nq_node_attr_float(n, "alpha", 0) == 0.25f);
    CHECK(strcmp(nq_node_attr_string(n, "quantization.ptq.precision", ""), "int8") == 0);
    const int64_t *pv;
    CHECK(nq_node_attr_ints(n, "pads", &pv) == 3 && pv[2] == 3);
    const float *fv;
    CHECK(nq_node_attr_floats(n, "scales", &fv) == 2 && fv[1] == 1.5f);
    CHECK(nq_node_attr_int(n, "alpha", -1) == -1); /* wrong type -> default */
    CHECK_OK(nq_node_remove_attr(n, "pads"));
    CHECK(nq_node_attr(n, "pads") == NULL && n->n_attrs == 4);
    nq_graph_free(g);
}

/* x -> A -> y -> B -> z, plus w (initializer) into B; nodes added out of order. */
static nq_graph *chain(void)
{
    nq_graph *g = nq_graph_create("chain");
    int x = val(g, "x"), y = val(g, "y"), z = val(g, "z");
    nq_tensor w;
    int64_t d[1] = {1};
    REQUIRE(nq_tensor_alloc(&w, NQ_DTYPE_FLOAT32, 1, d, NULL) == NQ_OK);
    int wi = nq_graph_add_initializer(g, "w", &w, NULL);
    REQUIRE(wi >= 0);
    REQUIRE(nq_graph_add_input(g, x, NULL) == NQ_OK);
    REQUIRE(nq_graph_add_output(g, z, NULL) == NQ_OK);
    int bin[2] = {y, wi};
    REQUIRE(nq_graph_add_node(g, "Mul", "B", 2, bin, 1, &z, NULL) != NULL);
    REQUIRE(nq_graph_add_node(g, "Relu", "A", 1, &x, 1, &y, NULL) != NULL);
    return g;
}

static void test_toposort_and_validate(void)
{
    nq_graph *g = chain();
    CHECK_OK(nq_graph_validate(g, NULL));
    CHECK_OK(nq_graph_toposort(g, NULL));
    CHECK(strcmp(g->nodes[0]->name, "A") == 0 && strcmp(g->nodes[1]->name, "B") == 0);
    nq_node *cons[4];
    CHECK(nq_graph_consumers(g, nq_graph_find_value(g, "y"), cons, 4) == 1 && cons[0] == g->nodes[1]);
    /* a second producer of z is refused */
    int x = nq_graph_find_value(g, "x"), z = nq_graph_find_value(g, "z");
    CHECK(nq_graph_add_node(g, "Relu", "C", 1, &x, 1, &z, NULL) == NULL);
    /* undefined input is reported by name */
    int u = val(g, "undefined_w");
    int ins[2] = {x, u};
    int o = val(g, "o");
    CHECK(nq_graph_add_node(g, "Add", "D", 2, ins, 1, &o, NULL) != NULL);
    nq_error err = {0};
    CHECK(nq_graph_validate(g, &err) != NQ_OK && strstr(err.msg, "undefined_w") != NULL);
    nq_graph_free(g);

    /* a cycle is reported */
    g = nq_graph_create("cyc");
    int a = val(g, "a"), b = val(g, "b");
    REQUIRE(nq_graph_add_node(g, "Relu", "P", 1, &a, 1, &b, NULL) != NULL);
    REQUIRE(nq_graph_add_node(g, "Relu", "Q", 1, &b, 1, &a, NULL) != NULL);
    CHECK(nq_graph_toposort(g, &err) != NQ_OK && strstr(err.msg, "cycle") != NULL);
    nq_graph_free(g);
}

static void test_rewrites(void)
{
    nq_graph *g = chain();
    REQUIRE(nq_graph_toposort(g, NULL) == NQ_OK);
    int y = nq_graph_find_value(g, "y");
    nq_node *q = nq_graph_insert_after(g, y, "Quantizer", "q", 0, NULL, NULL);
    REQUIRE(q != NULL);
    /* A, q, B in order; B reads q's output; q reads y */
    CHECK(g->n_nodes == 3 && g->nodes[1] == q);
    CHECK(q->inputs[0] == y);
    nq_node *B = nq_graph_find_node(g, "B");
    CHECK(B->inputs[0] == q->outputs[0]);
    CHECK_OK(nq_graph_validate(g, NULL));

    /* insert after the graph output: the output slot moves to the new value */
    int z = nq_graph_find_value(g, "z");
    nq_node *q2 = nq_graph_insert_after(g, z, "Quantizer", "q2", 0, NULL, NULL);
    REQUIRE(q2 != NULL);
    CHECK(g->outputs[0] == q2->outputs[0] && g->values[q2->outputs[0]]->is_output);
    CHECK(!g->values[z]->is_output);
    CHECK(strcmp(g->values[g->outputs[0]]->name, "z") == 0); /* the output keeps its name */

    /* remove q2 again: the output keeps a name and is z's producer output */
    CHECK_OK(nq_graph_remove_node(g, q2, NULL));
    CHECK(g->n_nodes == 3);
    CHECK(g->values[g->outputs[0]]->producer == B);
    CHECK_OK(nq_graph_validate(g, NULL));

    /* remove q: B reads y again */
    CHECK_OK(nq_graph_remove_node(g, q, NULL));
    CHECK(B->inputs[0] == y);

    /* compact drops the now-unused values */
    int before = g->n_values;
    CHECK_OK(nq_graph_compact(g, NULL));
    CHECK(g->n_values < before);
    CHECK(g->n_values == 4); /* x, y, z, w */
    CHECK_OK(nq_graph_validate(g, NULL));
    CHECK(nq_graph_find_value(g, "w") >= 0);

    /* clone is deep and equal */
    nq_graph *c = NULL;
    CHECK_OK(nq_graph_clone(g, &c, NULL));
    REQUIRE(c != NULL);
    CHECK(c->n_nodes == g->n_nodes && c->n_values == g->n_values);
    CHECK(c->values[nq_graph_find_value(c, "w")]->init != g->values[nq_graph_find_value(g, "w")]->init);
    CHECK_OK(nq_graph_validate(c, NULL));
    nq_graph_free(c);

    /* insert on one edge: only that consumer is rewired */
    {
        int xv = nq_graph_find_value(g, "x");
        int extra = val(g, "x2");
        REQUIRE(nq_graph_add_node(g, "Relu", "E", 1, &xv, 1, &extra, NULL) != NULL);
        REQUIRE(nq_graph_add_output(g, extra, NULL) == NQ_OK);
        nq_node *A = nq_graph_find_node(g, "A"), *E = nq_graph_find_node(g, "E");
        nq_node *q3 = nq_graph_insert_on_edge(g, E, 0, "Quantizer", "q3", 0, NULL, NULL);
        REQUIRE(q3 != NULL);
        CHECK(A->inputs[0] == xv && E->inputs[0] == q3->outputs[0] && q3->inputs[0] == xv);
        CHECK(nq_graph_node_index(g, q3) == nq_graph_node_index(g, E) - 1);
        CHECK_OK(nq_graph_validate(g, NULL));
        g->n_outputs--; /* drop x2 as an output again so that compact removes E and q3 */
        g->values[extra]->is_output = 0;
    }

    /* compact removes dead nodes */
    int x = nq_graph_find_value(g, "x");
    int dead = val(g, "dead");
    REQUIRE(nq_graph_add_node(g, "Relu", "D", 1, &x, 1, &dead, NULL) != NULL);
    CHECK_OK(nq_graph_compact(g, NULL));
    CHECK(nq_graph_find_node(g, "D") == NULL && nq_graph_find_value(g, "dead") < 0);
    nq_graph_free(g);
}

/* Name lookups through the graph's hash indexes stay right across renames,
 * deletions, renumbering and reordering, and names changed behind their
 * back (swapped directly) are still found, by a scan. */
static void test_name_lookup(void)
{
    enum { N = 3000 };
    nq_graph *g = nq_graph_create("names");
    char name[32];
    int prev = val(g, "in");
    REQUIRE(nq_graph_add_input(g, prev, NULL) == NQ_OK);
    for (int i = 0; i < N; i++) {
        snprintf(name, sizeof name, "v%d", i);
        int v = val(g, name);
        snprintf(name, sizeof name, "n%d", i);
        REQUIRE(nq_graph_add_node(g, "Relu", name, 1, &prev, 1, &v, NULL) != NULL);
        prev = v;
    }
    REQUIRE(nq_graph_add_output(g, prev, NULL) == NQ_OK);
    int bad = 0;
    for (int i = 0; i < N; i++) {
        snprintf(name, sizeof name, "v%d", i);
        bad += nq_graph_find_value(g, name) != i + 1;
        snprintf(name, sizeof name, "n%d", i);
        bad += nq_graph_find_node(g, name) != g->nodes[i];
    }
    CHECK(bad == 0);
    CHECK(nq_graph_find_value(g, "v3000") == -1 && nq_graph_find_node(g, "n3000") == NULL);
    CHECK(nq_graph_add_value(g, "v17", NULL) == -1); /* duplicates refused */

    /* swapped through the core, and directly */
    int a = nq_graph_find_value(g, "v10"), b = nq_graph_find_value(g, "v20");
    nq_graph_swap_value_names(g, a, b);
    CHECK(nq_graph_find_value(g, "v10") == b && nq_graph_find_value(g, "v20") == a);
    char *t = g->values[a]->name;
    g->values[a]->name = g->values[b]->name;
    g->values[b]->name = t;
    CHECK(nq_graph_find_value(g, "v10") == a && nq_graph_find_value(g, "v20") == b);
    CHECK_OK(nq_graph_validate(g, NULL));

    /* a node removed is gone; its name can be used again */
    nq_node *n5 = nq_graph_find_node(g, "n5");
    REQUIRE(n5 != NULL);
    CHECK_OK(nq_graph_remove_node(g, n5, NULL));
    CHECK(nq_graph_find_node(g, "n5") == NULL && nq_graph_find_node(g, "n6") == g->nodes[5]);
    nq_node *r = nq_graph_insert_after(g, nq_graph_find_value(g, "v100"), "Relu", "n5", 0, NULL, NULL);
    REQUIRE(r != NULL);
    CHECK(nq_graph_find_node(g, "n5") == r);
    /* the value the removal dropped goes at compaction; the others are renumbered */
    CHECK_OK(nq_graph_compact(g, NULL));
    CHECK(nq_graph_find_value(g, "v5") == -1);
    bad = 0;
    for (int i = 0; i < g->n_values; i++) bad += nq_graph_find_value(g, g->values[i]->name) != i;
    for (int i = 0; i < g->n_nodes; i++) bad += nq_graph_find_node(g, g->nodes[i]->name) != g->nodes[i];
    CHECK(bad == 0);
    CHECK_OK(nq_graph_toposort(g, NULL));
    CHECK(nq_graph_find_node(g, "n2999") == g->nodes[g->n_nodes - 1]);
    CHECK_OK(nq_graph_validate(g, NULL));
    /* a clone indexes its own names */
    nq_graph *c = NULL;
    CHECK_OK(nq_graph_clone(g, &c, NULL));
    CHECK(c != NULL && nq_graph_find_value(c, "v2999") == nq_graph_find_value(g, "v2999") &&
          nq_graph_find_node(c, "n7") != nq_graph_find_node(g, "n7") &&
          strcmp(nq_graph_find_node(c, "n7")->name, "n7") == 0);
    nq_graph_free(c);

    /* a name made a duplicate behind the index's back is still reported */
    int v30 = nq_graph_find_value(g, "v30");
    char *dup = nq_strdup("v31"), *old = g->values[v30]->name;
    REQUIRE(dup != NULL);
    g->values[v30]->name = dup;
    nq_error err = {0};
    CHECK(nq_graph_validate(g, &err) != NQ_OK && strstr(err.msg, "used twice") != NULL);
    g->values[v30]->name = old;
    free(dup);
    CHECK_OK(nq_graph_validate(g, NULL));
    nq_graph_free(g);
}

/* Consumers by a scan, in graph order: what the index must answer. */
static int scan_consumers(const nq_graph *g, int v, nq_node **out, int max)
{
    int count = 0;
    for (int i = 0; i < g->n_nodes; i++)
        for (int k = 0; k < g->nodes[i]->n_inputs; k++)
            if (g->nodes[i]->inputs[k] == v) {
                if (count < max) out[count] = g->nodes[i];
                count++;
                break;
            }
    return count;
}

/* Every value's consumers agree with the scan, order included. */
static int consumers_agree(const nq_graph *g)
{
    nq_node *a[8], *b[8];
    for (int v = 0; v < g->n_values; v++) {
        int na = nq_graph_consumers(g, v, a, 8), nb = scan_consumers(g, v, b, 8);
        if (na != nb) return 0;
        for (int i = 0; i < na && i < 8; i++)
            if (a[i] != b[i]) return 0;
    }
    return 1;
}

static void test_consumer_index(void)
{
    nq_graph *g = nq_graph_create("uses");
    int x = val(g, "x"), y = val(g, "y"), s = val(g, "s"), r = val(g, "r");
    REQUIRE(nq_graph_add_input(g, x, NULL) == NQ_OK);
    int xx[2] = {x, x};
    nq_node *add = nq_graph_add_node(g, "Add", "add", 2, xx, 1, &y, NULL); /* x read twice */
    nq_node *relu = nq_graph_add_node(g, "Relu", "relu", 1, &y, 1, &r, NULL);
    int ys[2] = {y, r};
    nq_node *sum = nq_graph_add_node(g, "Add", "sum", 2, ys, 1, &s, NULL);
    REQUIRE(add && relu && sum && nq_graph_add_output(g, s, NULL) == NQ_OK);
    nq_node *c[4];
    CHECK(nq_graph_consumers(g, x, c, 4) == 1 && c[0] == add && nq_graph_use_count(g, x) == 2);
    CHECK(nq_graph_consumers(g, y, c, 4) == 2 && c[0] == relu && c[1] == sum);
    CHECK(nq_graph_consumers(g, s, c, 4) == 0 && nq_graph_use_count(g, s) == 0);
    /* a node put before relu, on its edge, comes first among y's consumers */
    nq_node *q = nq_graph_insert_on_edge(g, relu, 0, "Identity", "q", 0, NULL, NULL);
    REQUIRE(q != NULL);
    CHECK(nq_graph_consumers(g, y, c, 4) == 2 && c[0] == q && c[1] == sum);
    nq_node *p = nq_graph_insert_after(g, r, "Identity", "p", 0, NULL, NULL);
    REQUIRE(p != NULL);
    CHECK(nq_graph_consumers(g, r, c, 4) == 1 && c[0] == p);
    CHECK(consumers_agree(g));
    CHECK_OK(nq_graph_validate(g, NULL));
    /* inputs changed through the core */
    CHECK_OK(nq_node_set_input(g, sum, 1, x));
    CHECK(nq_graph_use_count(g, x) == 3 && nq_graph_consumers(g, p->outputs[0], NULL, 0) == 0);
    CHECK(nq_node_set_input(g, sum, 2, x) == NQ_ERR_INVALID_ARG);
    int three[3] = {x, y, -1};
    CHECK_OK(nq_node_set_inputs(g, sum, 3, three, NULL));
    CHECK(sum->n_inputs == 3 && consumers_agree(g));
    CHECK_OK(nq_graph_validate(g, NULL));
    /* by hand: a node that stops reading a value is noticed at once */
    sum->inputs[0] = r;
    CHECK(consumers_agree(g));
    sum->inputs[0] = x;
    /* one that starts reading one is not: validate says so, until the index is dropped */
    CHECK(nq_graph_validate(g, NULL) != NQ_OK);
    nq_graph_invalidate_uses(g);
    CHECK_OK(nq_graph_validate(g, NULL));
    CHECK(consumers_agree(g));
    /* removal, compaction, reordering, clone */
    CHECK_OK(nq_graph_remove_node(g, q, NULL));
    nq_graph_delete_node(g, p);
    CHECK(consumers_agree(g));
    CHECK_OK(nq_graph_compact(g, NULL));
    CHECK(consumers_agree(g));
    nq_node *t = g->nodes[0];
    memmove(&g->nodes[0], &g->nodes[1], sizeof(nq_node *) * (size_t)(g->n_nodes - 1));
    g->nodes[g->n_nodes - 1] = t; /* moved by hand: positions are only hints */
    CHECK(consumers_agree(g));
    CHECK_OK(nq_graph_toposort(g, NULL));
    CHECK(consumers_agree(g));
    nq_graph *cl = NULL;
    CHECK_OK(nq_graph_clone(g, &cl, NULL));
    CHECK(cl != NULL && consumers_agree(cl));
    nq_graph_free(cl);
    CHECK_OK(nq_graph_validate(g, NULL));
    nq_graph_free(g);
}

static void test_unique_names(void)
{
    nq_graph *g = nq_graph_create("unique");
    char name[32], *u = nq_graph_unique_name(g, "a");
    CHECK(u != NULL && strcmp(u, "a") == 0);
    free(u);
    val(g, "a");
    for (int k = 1; k <= 99; k++) {
        snprintf(name, sizeof name, "a_%d", k);
        val(g, name);
    }
    u = nq_graph_unique_name(g, "a"); /* the next of a contiguous run, as counting would give */
    CHECK(u != NULL && strcmp(u, "a_100") == 0);
    free(u);
    /* scattered suffixes: whatever it picks is free and has the prefix */
    for (int k = 150; k < 4000; k += 7) {
        snprintf(name, sizeof name, "a_%d", k);
        val(g, name);
    }
    for (int i = 0; i < 50; i++) {
        u = nq_graph_unique_name(g, "a");
        REQUIRE(u != NULL);
        CHECK(strncmp(u, "a_", 2) == 0 && nq_graph_find_value(g, u) < 0 && nq_graph_find_node(g, u) == NULL);
        val(g, u);
        free(u);
    }
    nq_graph_free(g);
}

static void test_error_helpers(void)
{
    nq_error err = {0};
    CHECK(nq_error_set(&err, NQ_ERR_IO, "cannot open %s", "f.onnx") == NQ_ERR_IO);
    nq_error_prefix(&err, "loading %s", "model");
    CHECK(strcmp(err.msg, "loading model: cannot open f.onnx") == 0);
    CHECK(err.code == NQ_ERR_IO);
    CHECK(nq_error_set(NULL, NQ_ERR_DATA, "x") == NQ_ERR_DATA);
    CHECK(strcmp(nq_status_name(NQ_ERR_SHAPE), "shape error") == 0);
}

int main(void)
{
    test_dtypes_and_tensors();
    test_attributes();
    test_toposort_and_validate();
    test_rewrites();
    test_name_lookup();
    test_consumer_index();
    test_unique_names();
    test_error_helpers();
    TEST_MAIN_END();
}
