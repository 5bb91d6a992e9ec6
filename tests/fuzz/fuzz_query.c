/* Query parameters and request headers read as text (service/http/params.c, negotiate.c and the
 * text checks of service/fields.c): ?limit=, free-text filters, UUID filters, If-Match and
 * Accept. The input is the parameter's or header's value.
 *
 * Properties:
 * - an accepted limit is 1..LIMIT_MAX, an accepted If-Match version at least 1;
 * - utf8_is_valid agrees with an independent decoder (Unicode Table 3-7), and utf8_length
 *   counts its code points;
 * - an accepted free-text filter is valid UTF-8 of 1..max characters;
 * - an accepted UUID is 8-4-4-4-12 hexadecimal digits;
 * - content negotiation answers an offer's index or -1, and the first offer when the header is
 *   blank. */
#include <ctype.h>
#include <stdbool.h>

#include "fields.h"
#include "fuzz.h"
#include "http/negotiate.h"
#include "http/params.h"

/* Well-formed UTF-8 per Unicode Table 3-7, byte by byte; returns the code points counted, or
 * -1 when ill-formed. */
static long reference_utf8_count(const unsigned char *s, size_t len) {
  long count = 0;
  size_t i = 0;
  while (i < len) {
    unsigned char b = s[i];
    size_t n;
    unsigned char lo = 0x80, hi = 0xBF; /* range of the second byte */
    if (b <= 0x7F) n = 0;
    else if (b >= 0xC2 && b <= 0xDF) n = 1;
    else if (b == 0xE0) n = 2, lo = 0xA0;
    else if (b >= 0xE1 && b <= 0xEC) n = 2;
    else if (b == 0xED) n = 2, hi = 0x9F;
    else if (b >= 0xEE && b <= 0xEF) n = 2;
    else if (b == 0xF0) n = 3, lo = 0x90;
    else if (b >= 0xF1 && b <= 0xF3) n = 3;
    else if (b == 0xF4) n = 3, hi = 0x8F;
    else return -1;
    if (i + n >= len && n > 0) return -1;
    for (size_t k = 1; k <= n; k++) {
      unsigned char c = s[i + k];
      if (k == 1 ? (c < lo || c > hi) : (c < 0x80 || c > 0xBF)) return -1;
    }
    i += n + 1;
    count++;
  }
  return count;
}

static bool looks_like_uuid(const char *text) {
  if (strlen(text) != 36) return false;
  for (int i = 0; i < 36; i++) {
    bool dash = i == 8 || i == 13 || i == 18 || i == 23;
    if (dash ? text[i] != '-' : !isxdigit((unsigned char)text[i])) return false;
  }
  return true;
}

static void check_negotiation(const char *accept) {
  static const char *const OFFERS[] = {"application/json", "application/fhir+json", "text/csv",
                                       "application/x-ndjson"};
  for (size_t count = 0; count <= sizeof OFFERS / sizeof *OFFERS; count++) {
    int chosen = negotiate_media_type(accept, OFFERS, count);
    FUZZ_REQUIRE(chosen >= -1 && chosen < (int)count);
    if (accept[strspn(accept, " \t")] == '\0') FUZZ_REQUIRE(chosen == (count ? 0 : -1));
  }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  char *text = fuzz_text_new(data, size);
  size_t len = strlen(text);

  int limit = -1;
  if (param_limit_parse(text, &limit)) FUZZ_REQUIRE(limit >= 1 && limit <= LIMIT_MAX);

  long version = -1;
  if (param_if_match_parse(text, &version)) FUZZ_REQUIRE(version >= 1);

  long count = reference_utf8_count((const unsigned char *)text, len);
  bool valid = utf8_is_valid(text, len);
  FUZZ_REQUIRE(valid == (count >= 0));
  if (valid) FUZZ_REQUIRE(utf8_length(text) == (size_t)count);
  /* The raw input too, NULs and all: the validator takes a length. */
  FUZZ_REQUIRE(utf8_is_valid((const char *)data, size) ==
               (reference_utf8_count(data, size) >= 0));

  for (size_t max = 1; max <= 300; max *= 3) {
    if (param_text_is_acceptable(text, max))
      FUZZ_REQUIRE(valid && count >= 1 && (size_t)count <= max);
  }
  if (valid) (void)text_has_control_chars(text, true);

  FUZZ_REQUIRE(text_is_uuid(text) == looks_like_uuid(text));
  check_negotiation(text);
  free(text);
  return 0;
}
