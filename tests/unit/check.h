/* A minimal unit-test harness: CHECK records a failure and carries on, so one run reports every
 * broken expectation; main returns non-zero if any failed. */
#ifndef CARECOORD_TEST_CHECK_H
#define CARECOORD_TEST_CHECK_H

#include <stdio.h>
#include <string.h>

static int checks_run, checks_failed;

#define CHECK(cond)                                                                           \
  do {                                                                                        \
    checks_run++;                                                                             \
    if (!(cond)) {                                                                            \
      checks_failed++;                                                                        \
      fprintf(stderr, "%s:%d: %s: CHECK(%s) failed\n", __FILE__, __LINE__, __func__, #cond); \
    }                                                                                         \
  } while (0)

#define CHECK_STR(actual, expected)                                                             \
  do {                                                                                          \
    const char *a_ = (actual), *e_ = (expected);                                                \
    checks_run++;                                                                               \
    if (!a_ || strcmp(a_, e_) != 0) {                                                           \
      checks_failed++;                                                                          \
      fprintf(stderr, "%s:%d: %s: got \"%s\", want \"%s\"\n", __FILE__, __LINE__, __func__,     \
              a_ ? a_ : "(null)", e_);                                                          \
    }                                                                                           \
  } while (0)

static inline int checks_report(void) {
  printf("%d passed, %d failed\n", checks_run - checks_failed, checks_failed);
  return checks_failed ? 1 : 0;
}

#endif
