#include "extract_format.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static bool reserve(struct text_buffer *b, size_t more) {
  if (b->failed) return false;
  if (b->len + more <= b->cap) return true;
  size_t cap = b->cap ? b->cap : 4096;
  while (cap < b->len + more) cap *= 2;
  char *grown = realloc(b->data, cap);
  if (!grown) {
    b->failed = true;
    return false;
  }
  b->data = grown;
  b->cap = cap;
  return true;
}

static void append(struct text_buffer *b, const char *text, size_t len) {
  if (!reserve(b, len)) return;
  memcpy(b->data + b->len, text, len);
  b->len += len;
}

static void append_text(struct text_buffer *b, const char *text) {
  append(b, text, strlen(text));
}

void text_buffer_free(struct text_buffer *b) {
  free(b->data);
  *b = (struct text_buffer){0};
}

void text_buffer_clear(struct text_buffer *b) {
  b->len = 0;
  b->failed = false;
}

/* A JSON string: quotes, backslashes and control characters escaped; UTF-8 passes through
 * (PostgreSQL sends valid UTF-8 in a UTF8 database). */
static void append_json_string(struct text_buffer *b, const char *s) {
  append(b, "\"", 1);
  for (const char *run = s;; s++) {
    unsigned char c = (unsigned char)*s;
    if (c != '\0' && c != '"' && c != '\\' && c >= 0x20) continue;
    append(b, run, (size_t)(s - run));
    if (c == '\0') break;
    char escaped[8];
    if (c == '"' || c == '\\') snprintf(escaped, sizeof escaped, "\\%c", c);
    else if (c == '\n') snprintf(escaped, sizeof escaped, "\\n");
    else if (c == '\r') snprintf(escaped, sizeof escaped, "\\r");
    else if (c == '\t') snprintf(escaped, sizeof escaped, "\\t");
    else snprintf(escaped, sizeof escaped, "\\u%04x", c);
    append_text(b, escaped);
    run = s + 1;
  }
  append(b, "\"", 1);
}

static void append_json_value(struct text_buffer *b, enum value_kind kind, const char *value) {
  if (!value) append_text(b, "null");
  else if (kind == VALUE_BOOL) append_text(b, value[0] == 't' ? "true" : "false");
  else if (kind == VALUE_NUMBER) append_text(b, value);
  else append_json_string(b, value);
}

/* RFC 4180: quoted only when needed, quotes doubled. */
static void append_csv_field(struct text_buffer *b, const char *s) {
  if (s[strcspn(s, ",\"\r\n")] == '\0') {
    append_text(b, s);
    return;
  }
  append(b, "\"", 1);
  for (const char *quote; (quote = strchr(s, '"')); s = quote + 1) {
    append(b, s, (size_t)(quote - s) + 1);
    append(b, "\"", 1);
  }
  append_text(b, s);
  append(b, "\"", 1);
}

static void append_csv_value(struct text_buffer *b, enum value_kind kind, const char *value) {
  if (!value) return;
  if (kind == VALUE_BOOL) append_text(b, value[0] == 't' ? "true" : "false");
  else append_csv_field(b, value);
}

void extract_write_header(struct text_buffer *b, enum extract_format format,
                          const char *const *names, size_t count) {
  if (format != EXTRACT_CSV) return;
  for (size_t i = 0; i < count; i++) {
    if (i) append(b, ",", 1);
    append_csv_field(b, names[i]);
  }
  append(b, "\r\n", 2);
}

void extract_write_row(struct text_buffer *b, enum extract_format format,
                       const char *const *names, const enum value_kind *kinds,
                       const char *const *values, size_t count) {
  if (format == EXTRACT_CSV) {
    for (size_t i = 0; i < count; i++) {
      if (i) append(b, ",", 1);
      append_csv_value(b, kinds[i], values[i]);
    }
    append(b, "\r\n", 2);
    return;
  }
  text_buffer_append_json_object(b, names, kinds, values, count);
  append(b, "\n", 1);
}

void text_buffer_append(struct text_buffer *b, const char *text) { append_text(b, text); }

void text_buffer_append_json_string(struct text_buffer *b, const char *text) {
  append_json_string(b, text);
}

void text_buffer_append_json_object(struct text_buffer *b, const char *const *names,
                                    const enum value_kind *kinds, const char *const *values,
                                    size_t count) {
  append(b, "{", 1);
  for (size_t i = 0; i < count; i++) {
    if (i) append(b, ",", 1);
    append_json_string(b, names[i]);
    append(b, ":", 1);
    append_json_value(b, kinds[i], values[i]);
  }
  append(b, "}", 1);
}
