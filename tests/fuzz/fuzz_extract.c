/* The extract writers (service/extract_format.c): rows of arbitrary text as NDJSON and as CSV.
 * The input is the values of one row, separated by 0xFF bytes (at most 8); a value that is a
 * single NUL byte stands for SQL NULL.
 *
 * Properties: an NDJSON row is one line that Jansson reads back as an object of exactly the
 * values (when they are UTF-8, as PostgreSQL's are); a CSV row read back by an RFC 4180 reader
 * gives exactly the values (NULL as empty), and so does the header its names. */
#include <stdbool.h>

#include "extract_format.h"
#include "fields.h"
#include "fuzz.h"

#define MAX_VALUES 8

static const char *const NAMES[MAX_VALUES] = {"id",     "nhs_number", "note, \"quoted\"", "when",
                                              "line\nbreak", "flag", "count", "\xc3\xa9t\xc3\xa9"};

/* Reads one CSV record from *p (RFC 4180), writing each field into fields[i] (caller frees);
 * returns the number of fields, or -1 when malformed. */
static int csv_read_record(const char **p, char **fields, int max) {
  int n = 0;
  const char *s = *p;
  for (;;) {
    if (n == max) return -1;
    size_t cap = strlen(s) + 1, len = 0;
    char *field = malloc(cap);
    if (!field) abort();
    if (*s == '"') {
      for (s++;; s++) {
        if (*s == '\0') {
          free(field);
          return -1;
        }
        if (*s == '"') {
          if (s[1] != '"') break;
          s++;
        }
        field[len++] = *s;
      }
      s++; /* the closing quote */
    } else {
      while (*s && *s != ',' && *s != '\r' && *s != '\n' && *s != '"') field[len++] = *s++;
      if (*s == '"') {
        free(field);
        return -1;
      }
    }
    field[len] = '\0';
    fields[n++] = field;
    if (*s == ',') {
      s++;
      continue;
    }
    if (s[0] == '\r' && s[1] == '\n') {
      *p = s + 2;
      return n;
    }
    return -1;
  }
}

static void check_csv_record(const char **p, const char *const *expected, size_t count) {
  char *fields[MAX_VALUES + 1];
  int n = csv_read_record(p, fields, MAX_VALUES + 1);
  FUZZ_REQUIRE(n == (int)count);
  for (int i = 0; i < n; i++) {
    FUZZ_REQUIRE(strcmp(fields[i], expected[i] ? expected[i] : "") == 0);
    free(fields[i]);
  }
}

static void check_ndjson(const char *const *values, const enum value_kind *kinds, size_t count) {
  struct text_buffer b = {0};
  extract_write_row(&b, EXTRACT_NDJSON, NAMES, kinds, values, count);
  FUZZ_REQUIRE(!b.failed && b.len > 0 && b.data[b.len - 1] == '\n');
  FUZZ_REQUIRE(memchr(b.data, '\n', b.len - 1) == NULL);
  bool utf8 = true;
  for (size_t i = 0; i < count; i++)
    if (values[i] && !utf8_is_valid(values[i], strlen(values[i]))) utf8 = false;
  if (utf8) {
    json_error_t error;
    json_t *row = json_loadb(b.data, b.len - 1, 0, &error);
    FUZZ_REQUIRE(json_is_object(row) && json_object_size(row) == count);
    for (size_t i = 0; i < count; i++) {
      json_t *member = json_object_get(row, NAMES[i]);
      if (!values[i]) FUZZ_REQUIRE(json_is_null(member));
      else FUZZ_REQUIRE(json_is_string(member) && strcmp(json_string_value(member), values[i]) == 0);
    }
    json_decref(row);
  }
  text_buffer_free(&b);
}

static void check_csv(const char *const *values, const enum value_kind *kinds, size_t count) {
  struct text_buffer b = {0};
  extract_write_header(&b, EXTRACT_CSV, NAMES, count);
  extract_write_row(&b, EXTRACT_CSV, NAMES, kinds, values, count);
  FUZZ_REQUIRE(!b.failed);
  char *text = malloc(b.len + 1);
  if (!text) abort();
  memcpy(text, b.data, b.len);
  text[b.len] = '\0';
  const char *p = text;
  check_csv_record(&p, NAMES, count);
  check_csv_record(&p, values, count);
  FUZZ_REQUIRE(*p == '\0');
  free(text);
  text_buffer_free(&b);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  char *copy = fuzz_text_new(data, size);
  const char *values[MAX_VALUES];
  enum value_kind kinds[MAX_VALUES];
  size_t count = 0;
  size_t start = 0;
  for (size_t i = 0; i <= size; i++) {
    if (i < size && data[i] != 0xFF) continue;
    if (count == MAX_VALUES) break;
    copy[i] = '\0';
    bool is_null = i - start == 1 && data[start] == 0;
    values[count] = is_null ? NULL : copy + start;
    kinds[count] = VALUE_TEXT;
    count++;
    start = i + 1;
  }
  check_ndjson(values, kinds, count);
  check_csv(values, kinds, count);
  free(copy);
  return 0;
}
