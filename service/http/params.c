#include "http/params.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "fields.h"

bool param_limit_parse(const char *text, int *limit) {
  char *end = NULL;
  errno = 0;
  long value = strtol(text, &end, 10);
  if (errno || end == text || *end || value < 1 || value > LIMIT_MAX) return false;
  *limit = (int)value;
  return true;
}

bool param_text_is_acceptable(const char *text, size_t max_chars) {
  size_t len = strlen(text);
  return len > 0 && utf8_is_valid(text, len) && utf8_length(text) <= max_chars;
}

bool param_if_match_parse(const char *header, long *version) {
  size_t len = strlen(header);
  if (len < 3 || header[0] != '"' || header[len - 1] != '"') return false;
  char *end = NULL;
  errno = 0;
  long value = strtol(header + 1, &end, 10);
  if (errno || end != header + len - 1 || value < 1) return false;
  *version = value;
  return true;
}
