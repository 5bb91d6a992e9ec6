/* base64url (RFC 4648 §5) without padding, as used by cursors and JWTs. Decoding is strict:
 * foreign characters, impossible lengths and non-zero padding bits are refused, so each byte
 * string has exactly one spelling. */
#ifndef CARECOORD_BASE64URL_H
#define CARECOORD_BASE64URL_H

#include <stddef.h>

/* Caller frees; NULL on allocation failure. */
char *base64url_encode(const unsigned char *data, size_t len);
/* Returns the bytes (caller frees, NUL-terminated for convenience) and their length, or NULL
 * if text is not canonical base64url. */
unsigned char *base64url_decode(const char *text, size_t *out_len);
/* The same for the first len characters of text. */
unsigned char *base64url_decode_n(const char *text, size_t len, size_t *out_len);

#endif
