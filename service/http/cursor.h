/* Opaque keyset-pagination cursors: base64url (no padding) of a JSON array of strings (the
 * last row's id) followed by a 4-byte SHA-256 check. Decoding is strict: an edited or
 * otherwise malformed cursor is a bad request. */
#ifndef CARECOORD_CURSOR_H
#define CARECOORD_CURSOR_H

#include <stddef.h>

#include "status.h"

#define CURSOR_MAX_PARTS 4
#define CURSOR_MAX_LEN 1024

/* Returns a new string (caller frees) or NULL on allocation failure. */
char *cursor_encode(const char *const *parts, size_t count);

/* Decodes text into exactly `count` strings, each a new allocation the caller frees with
 * cursor_parts_free. Returns CC_BAD_REQUEST for anything malformed. */
enum cc_status cursor_decode(const char *text, size_t count, char **parts);
void cursor_parts_free(char **parts, size_t count);

#endif
