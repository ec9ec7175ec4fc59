/* Minimal test helpers: each test_*.c is one executable and one ctest case.
 * A failed check prints file:line and the expression, and the test exits 1. */
#ifndef NQTEST_H
#define NQTEST_H
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

static int nqt_failures = 0;

#define CHECK(cond) do { if (!(cond)) { \
    fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond); \
    nqt_failures++; } } while (0)
#define CHECK_OK(expr) do { nq_error e_ = {0}; (void)e_; nq_status s_ = (expr); \
    if (s_ != NQ_OK) { fprintf(stderr, "%s:%d: %s returned %d\n", __FILE__, __LINE__, #expr, (int)s_); \
    nqt_failures++; } } while (0)
#define CHECK_NEAR(a, b, tol) do { double a_ = (a), b_ = (b); \
    if (!(fabs(a_ - b_) <= (tol))) { fprintf(stderr, "%s:%d: %s = %.9g, expected %.9g (tol %g)\n", \
    __FILE__, __LINE__, #a, a_, b_, (double)(tol)); nqt_failures++; } } while (0)
#define REQUIRE(cond) do { if (!(cond)) { \
    fprintf(stderr, "%s:%d: REQUIRE failed: %s\n", __FILE__, __LINE__, #cond); exit(1); } } while (0)
#define TEST_MAIN_END() do { if (nqt_failures) { fprintf(stderr, "%d check(s) failed\n", nqt_failures); return 1; } \
    printf("ok\n"); return 0; } while (0)

#endif
