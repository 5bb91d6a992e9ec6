/* Shared by the fuzz harnesses (tests/fuzz/fuzz_<name>.c). Each harness is built twice: with
 * libFuzzer by clang (-DCARECOORD_FUZZ=ON, scripts/fuzz), and with replay_main.c into the
 * regular builds, where ctest replays its committed corpus (tests/fuzz/corpus/<name>).
 *
 * A harness calls the code under test on its input and checks properties that must hold for
 * any input; FUZZ_REQUIRE aborts on a broken one, which both drivers report as a failure. */
#ifndef CARECOORD_FUZZ_H
#define CARECOORD_FUZZ_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

#define FUZZ_REQUIRE(cond)                                                              \
  do {                                                                                  \
    if (!(cond)) {                                                                      \
      fprintf(stderr, "%s:%d: property broken: %s\n", __FILE__, __LINE__, #cond);      \
      abort();                                                                          \
    }                                                                                   \
  } while (0)

/* The input as a NUL-terminated string (an embedded NUL ends it early, as it would in a header
 * or query parameter). Caller frees. */
static inline char *fuzz_text_new(const uint8_t *data, size_t size) {
  char *text = malloc(size + 1);
  if (!text) abort();
  if (size) memcpy(text, data, size);
  text[size] = '\0';
  return text;
}

#endif
