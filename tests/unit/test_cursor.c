#include <stdlib.h>

#include "check.h"
#include "base64url.h"
#include "http/cursor.h"

static void test_base64url_round_trips_every_length(void) {
  unsigned char data[64];
  for (int i = 0; i < 64; i++) data[i] = (unsigned char)(i * 37 + 200);
  for (size_t len = 0; len <= sizeof data; len++) {
    char *text = base64url_encode(data, len);
    CHECK(text && !strchr(text, '=') && !strchr(text, '+') && !strchr(text, '/'));
    size_t out_len = 0;
    unsigned char *back = base64url_decode(text, &out_len);
    CHECK(back && out_len == len && memcmp(back, data, len) == 0);
    free(back);
    free(text);
  }
}

static void test_base64url_rejects_foreign_characters_and_bad_lengths(void) {
  size_t len;
  CHECK(base64url_decode("ab+c", &len) == NULL);
  CHECK(base64url_decode("ab/c", &len) == NULL);
  CHECK(base64url_decode("abc=", &len) == NULL);
  CHECK(base64url_decode("abcde", &len) == NULL); /* 4n+1 characters cannot be base64 */
  unsigned char *zero = base64url_decode("AA", &len);
  CHECK(zero && len == 1 && zero[0] == 0);
  free(zero);
  CHECK(base64url_decode("AB", &len) == NULL); /* non-zero padding bits: a second spelling */
}

static void test_cursor_round_trip(void) {
  const char *parts[] = {"3f0c2a44-8d5e-4b8a-9d57-1f6c1b0e2a11"};
  char *cursor = cursor_encode(parts, 1);
  char *back[1];
  CHECK(cursor_decode(cursor, 1, back) == CC_OK);
  CHECK_STR(back[0], parts[0]);
  cursor_parts_free(back, 1);
  free(cursor);
}

static void test_cursor_with_any_character_changed_is_refused(void) {
  const char *parts[] = {"3f0c2a44-8d5e-4b8a-9d57-1f6c1b0e2a11"};
  char *cursor = cursor_encode(parts, 1);
  size_t len = strlen(cursor);
  int accepted = 0;
  for (size_t i = 0; i < len; i++) {
    char saved = cursor[i];
    cursor[i] = saved == 'A' ? 'B' : 'A';
    char *back[1];
    if (cursor_decode(cursor, 1, back) == CC_OK) {
      accepted++;
      cursor_parts_free(back, 1);
    }
    cursor[i] = saved;
  }
  CHECK(accepted == 0);
  free(cursor);
}

static void test_cursor_rejects_wrong_shape(void) {
  char *back[2];
  CHECK(cursor_decode("", 1, back) == CC_BAD_REQUEST);
  CHECK(cursor_decode("not a cursor", 1, back) == CC_BAD_REQUEST);
  const char *two[] = {"a", "b"};
  char *cursor = cursor_encode(two, 2);
  CHECK(cursor_decode(cursor, 1, back) == CC_BAD_REQUEST); /* wrong arity */
  CHECK(cursor_decode(cursor, 2, back) == CC_OK);
  cursor_parts_free(back, 2);
  free(cursor);
  char huge[CURSOR_MAX_LEN + 2];
  memset(huge, 'A', sizeof huge - 1);
  huge[sizeof huge - 1] = '\0';
  CHECK(cursor_decode(huge, 1, back) == CC_BAD_REQUEST);
}

int main(void) {
  test_base64url_round_trips_every_length();
  test_base64url_rejects_foreign_characters_and_bad_lengths();
  test_cursor_round_trip();
  test_cursor_with_any_character_changed_is_refused();
  test_cursor_rejects_wrong_shape();
  return checks_report();
}
