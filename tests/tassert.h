/*
 * tassert.h - Criterion's assertions, with gt() made strict.
 *
 * In C, Criterion 2.4.1 (Debian 12) expands the tagged gt(Tag, a, b) to
 * !(a < b), which is a >= b: cr_assert(gt(u64, n, 0)) passed with n == 0.
 * Every test includes this header instead of criterion/new/assert.h, so
 * gt() means a > b, written as lt() with its operands swapped (lt is
 * correct; the failure message then shows them in that order).
 */
#ifndef TDX_TESTS_TASSERT_H
#define TDX_TESTS_TASSERT_H

#include <criterion/criterion.h>
#include <criterion/new/assert.h>

#undef gt
#define gt(Tag, Actual, Reference) lt(Tag, Reference, Actual)

#endif
