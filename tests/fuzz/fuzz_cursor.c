/* Pagination cursors (service/http/cursor.c) and the base64url they are written in
 * (service/base64url.c): what a client sends back as ?cursor= is arbitrary text.
 *
 * Properties:
 * - cursor_decode of any text for 0..CURSOR_MAX_PARTS + 1 parts either succeeds with exactly
 *   that many strings or fails leaving every part NULL; more than CURSOR_MAX_PARTS never
 *   succeeds;
 * - base64url is canonical: text that decodes re-encodes to itself, and bytes round-trip;
 * - a cursor encoded from parts (the input split at 0xFF bytes, when each is UTF-8) decodes to
 *   the same parts. */
#include "base64url.h"
#include "fields.h"
#include "fuzz.h"
#include "http/cursor.h"

static void check_decode(const char *text) {
  for (size_t count = 0; count <= CURSOR_MAX_PARTS + 1; count++) {
    char *parts[CURSOR_MAX_PARTS + 1];
    enum cc_status status = cursor_decode(text, count, parts);
    if (status == CC_OK) {
      FUZZ_REQUIRE(count <= CURSOR_MAX_PARTS);
      for (size_t i = 0; i < count; i++) FUZZ_REQUIRE(parts[i] != NULL);
      cursor_parts_free(parts, count);
    } else {
      FUZZ_REQUIRE(status == CC_BAD_REQUEST);
      for (size_t i = 0; i < count; i++) FUZZ_REQUIRE(parts[i] == NULL);
    }
  }
}

static void check_base64url(const uint8_t *data, size_t size, const char *text) {
  size_t len = 0;
  unsigned char *raw = base64url_decode(text, &len);
  if (raw) {
    char *again = base64url_encode(raw, len);
    FUZZ_REQUIRE(again && strcmp(again, text) == 0);
    free(again);
    free(raw);
  }
  char *encoded = base64url_encode(data, size);
  FUZZ_REQUIRE(encoded);
  raw = base64url_decode(encoded, &len);
  FUZZ_REQUIRE(raw && len == size && (size == 0 || memcmp(raw, data, size) == 0));
  free(raw);
  free(encoded);
}

static void check_round_trip(const uint8_t *data, size_t size) {
  char *copy = fuzz_text_new(data, size);
  if (strlen(copy) != size) { /* parts are C strings */
    free(copy);
    return;
  }
  const char *parts[CURSOR_MAX_PARTS];
  size_t count = 0;
  char *start = copy;
  for (;;) {
    char *mark = strchr(start, '\xff');
    if (mark) *mark = '\0';
    if (count == CURSOR_MAX_PARTS || !utf8_is_valid(start, strlen(start))) {
      free(copy);
      return;
    }
    parts[count++] = start;
    if (!mark) break;
    start = mark + 1;
  }
  char *cursor = cursor_encode(parts, count);
  FUZZ_REQUIRE(cursor);
  char *back[CURSOR_MAX_PARTS];
  FUZZ_REQUIRE(strlen(cursor) > CURSOR_MAX_LEN || cursor_decode(cursor, count, back) == CC_OK);
  if (strlen(cursor) <= CURSOR_MAX_LEN) {
    for (size_t i = 0; i < count; i++) FUZZ_REQUIRE(strcmp(back[i], parts[i]) == 0);
    cursor_parts_free(back, count);
  }
  free(cursor);
  free(copy);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  char *text = fuzz_text_new(data, size);
  check_decode(text);
  check_base64url(data, size, text);
  check_round_trip(data, size);
  free(text);
  return 0;
}
