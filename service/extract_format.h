/* Rows of an extract as text: NDJSON (one JSON object per line) or CSV (RFC 4180: a header row,
 * CRLF line ends, fields quoted when they hold a comma, a quote or a line break, quotes
 * doubled). Pure: values in, text out, into a growable buffer the caller drains. The JSON
 * writers also serve long lists (worklists) written straight to text rather than built as a
 * tree of thousands of small JSON values. */
#ifndef CARECOORD_EXTRACT_FORMAT_H
#define CARECOORD_EXTRACT_FORMAT_H

#include <stdbool.h>
#include <stddef.h>

enum extract_format { EXTRACT_NDJSON, EXTRACT_CSV };

/* How a value is written: a string, a JSON boolean ("t"/"f" from PostgreSQL) or a JSON number
 * (digits as they are). NULL values are null in NDJSON and empty in CSV. */
enum value_kind { VALUE_TEXT, VALUE_BOOL, VALUE_NUMBER };

struct text_buffer {
  char *data; /* owned; free with text_buffer_free */
  size_t len, cap;
  bool failed; /* an allocation failed: the contents are incomplete */
};

void text_buffer_free(struct text_buffer *b);
/* Empties the buffer, keeping its memory for the next rows. */
void text_buffer_clear(struct text_buffer *b);

/* Appends text as it is. */
void text_buffer_append(struct text_buffer *b, const char *text);
/* Appends text as a JSON string. */
void text_buffer_append_json_string(struct text_buffer *b, const char *text);
/* Appends one JSON object of the members names[i] = values[i] (no line end). */
void text_buffer_append_json_object(struct text_buffer *b, const char *const *names,
                                    const enum value_kind *kinds, const char *const *values,
                                    size_t count);

/* Appends the header row (CSV only: NDJSON has none). */
void extract_write_header(struct text_buffer *b, enum extract_format format,
                          const char *const *names, size_t count);
/* Appends one row; values[i] may be NULL. */
void extract_write_row(struct text_buffer *b, enum extract_format format,
                       const char *const *names, const enum value_kind *kinds,
                       const char *const *values, size_t count);

#endif
