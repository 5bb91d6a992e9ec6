/* The pure part of reading query parameters and the If-Match header: text in, a value or a
 * refusal out. http/exchange.c replies 400 (or 412) when these refuse. */
#ifndef CARECOORD_PARAMS_H
#define CARECOORD_PARAMS_H

#include <stdbool.h>
#include <stddef.h>

#define LIMIT_DEFAULT 50
#define LIMIT_MAX 200

/* A list's `limit`: a whole number 1..LIMIT_MAX in decimal (read as strtol reads it, so
 * leading blanks and a sign are tolerated), nothing after it. */
bool param_limit_parse(const char *text, int *limit);

/* A free-text filter: 1 to max_chars characters of valid UTF-8. */
bool param_text_is_acceptable(const char *text, size_t max_chars);

/* The version an If-Match header names: a strong ETag "<n>" with n >= 1 (n read as for the
 * limit). A weak tag, a list or "*" never matches a specific version. */
bool param_if_match_parse(const char *header, long *version);

#endif
