/* Request bodies: the pure part of reading a JSON body (http/server.c replies with the problem
 * each failure names). Kept apart from the server so that it can be tested and fuzzed without
 * a request. */
#ifndef CARECOORD_BODY_H
#define CARECOORD_BODY_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#define BODY_MAX_DEPTH 32

enum body_result {
  BODY_OK,
  BODY_EMPTY,      /* no bytes at all */
  BODY_TOO_DEEP,   /* nested deeper than BODY_MAX_DEPTH */
  BODY_INVALID,    /* not JSON text (error says where and why) */
  BODY_NOT_OBJECT, /* JSON, but not an object */
};

/* Whether a Content-Type header names type (case-insensitively), with at most a UTF-8 charset
 * parameter. */
bool media_type_is(const char *header, const char *type);

/* Nesting depth of JSON text, ignoring brackets inside strings (0 for a scalar). Equals the
 * depth of the parsed value for any valid JSON text. */
int json_text_depth(const char *text, size_t len);

/* Parses body as one JSON object (duplicate members refused). On BODY_OK *out is a new
 * reference; otherwise *out is NULL and, for BODY_INVALID, error describes the fault. */
enum body_result body_parse_object(const char *body, size_t len, json_t **out, json_error_t *error);

#endif
