#include "http/body.h"

#include <string.h>
#include <strings.h>

bool media_type_is(const char *header, const char *type) {
  size_t len = strlen(type);
  if (strncasecmp(header, type, len) != 0) return false;
  const char *rest = header + len;
  while (*rest == ' ') rest++;
  if (*rest == '\0') return true;
  if (*rest != ';') return false;
  /* The only parameter we accept is a UTF-8 charset. */
  rest++;
  while (*rest == ' ') rest++;
  return strcasecmp(rest, "charset=utf-8") == 0 || strcasecmp(rest, "charset=\"utf-8\"") == 0;
}

/* Jansson's own limit is far deeper than any body we accept. */
int json_text_depth(const char *text, size_t len) {
  int depth = 0, max = 0;
  bool in_string = false;
  for (size_t i = 0; i < len; i++) {
    char c = text[i];
    if (in_string) {
      if (c == '\\') i++;
      else if (c == '"') in_string = false;
    } else if (c == '"') {
      in_string = true;
    } else if (c == '{' || c == '[') {
      if (++depth > max) max = depth;
    } else if (c == '}' || c == ']') {
      depth--;
    }
  }
  return max;
}

enum body_result body_parse_object(const char *body, size_t len, json_t **out, json_error_t *error) {
  *out = NULL;
  if (len == 0) return BODY_EMPTY;
  if (json_text_depth(body, len) > BODY_MAX_DEPTH) return BODY_TOO_DEEP;
  json_t *value = json_loadb(body, len, JSON_REJECT_DUPLICATES, error);
  if (!value) return BODY_INVALID;
  if (!json_is_object(value)) {
    json_decref(value);
    return BODY_NOT_OBJECT;
  }
  *out = value;
  return BODY_OK;
}
