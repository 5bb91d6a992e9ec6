#include "http/cursor.h"

#include "base64url.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "sha256.h"

#define CHECK_BYTES 4

/* A short digest of the payload, so that an edited cursor is refused rather than read as a
 * different position. Not a secret: cursors grant nothing, filters and access are re-applied. */
static void payload_check(const char *payload, size_t len, unsigned char out[CHECK_BYTES]) {
  unsigned char digest[SHA256_LEN] = {0};
  sha256(payload, len, digest);
  memcpy(out, digest, CHECK_BYTES);
}

char *cursor_encode(const char *const *parts, size_t count) {
  json_t *array = json_array();
  for (size_t i = 0; i < count; i++) json_array_append_new(array, json_string(parts[i]));
  char *text = json_dumps(array, JSON_COMPACT);
  json_decref(array);
  if (!text) return NULL;
  size_t len = strlen(text);
  unsigned char *raw = malloc(len + CHECK_BYTES);
  char *encoded = NULL;
  if (raw) {
    memcpy(raw, text, len);
    payload_check(text, len, raw + len);
    encoded = base64url_encode(raw, len + CHECK_BYTES);
  }
  free(raw);
  free(text);
  return encoded;
}

void cursor_parts_free(char **parts, size_t count) {
  for (size_t i = 0; i < count; i++) {
    free(parts[i]);
    parts[i] = NULL;
  }
}

enum cc_status cursor_decode(const char *text, size_t count, char **parts) {
  for (size_t i = 0; i < count; i++) parts[i] = NULL;
  if (!text || !*text || strlen(text) > CURSOR_MAX_LEN || count > CURSOR_MAX_PARTS)
    return CC_BAD_REQUEST;
  size_t len = 0;
  unsigned char *raw = base64url_decode(text, &len);
  if (!raw) return CC_BAD_REQUEST;
  unsigned char check[CHECK_BYTES];
  json_t *array = NULL;
  if (len > CHECK_BYTES) {
    payload_check((const char *)raw, len - CHECK_BYTES, check);
    if (memcmp(check, raw + len - CHECK_BYTES, CHECK_BYTES) == 0)
      array = json_loadb((const char *)raw, len - CHECK_BYTES, 0, NULL);
  }
  free(raw);
  enum cc_status status = CC_BAD_REQUEST;
  if (!json_is_array(array) || json_array_size(array) != count) goto done;
  for (size_t i = 0; i < count; i++) {
    json_t *item = json_array_get(array, i);
    if (!json_is_string(item)) goto done;
    const char *value = json_string_value(item);
    if (strlen(value) != json_string_length(item)) goto done; /* embedded NUL */
    parts[i] = strdup(value);
    if (!parts[i]) goto done;
  }
  status = CC_OK;
done:
  if (status != CC_OK) cursor_parts_free(parts, count);
  json_decref(array);
  return status;
}
