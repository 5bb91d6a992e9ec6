#include "base64url.h"

#include <stdlib.h>
#include <string.h>

static const char ALPHABET[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

char *base64url_encode(const unsigned char *data, size_t len) {
  char *out = malloc(((len + 2) / 3) * 4 + 1);
  if (!out) return NULL;
  size_t o = 0;
  for (size_t i = 0; i < len; i += 3) {
    unsigned v = (unsigned)data[i] << 16;
    if (i + 1 < len) v |= (unsigned)data[i + 1] << 8;
    if (i + 2 < len) v |= data[i + 2];
    out[o++] = ALPHABET[(v >> 18) & 63];
    out[o++] = ALPHABET[(v >> 12) & 63];
    if (i + 1 < len) out[o++] = ALPHABET[(v >> 6) & 63];
    if (i + 2 < len) out[o++] = ALPHABET[v & 63];
  }
  out[o] = '\0';
  return out;
}

static int sextet(char c) {
  const char *p = c ? strchr(ALPHABET, c) : NULL;
  return p ? (int)(p - ALPHABET) : -1;
}

unsigned char *base64url_decode(const char *text, size_t *out_len) {
  return base64url_decode_n(text, strlen(text), out_len);
}

unsigned char *base64url_decode_n(const char *text, size_t len, size_t *out_len) {
  if (len % 4 == 1) return NULL;
  unsigned char *out = malloc(len * 3 / 4 + 1);
  if (!out) return NULL;
  size_t o = 0;
  for (size_t i = 0; i < len; i += 4) {
    size_t n = len - i < 4 ? len - i : 4;
    unsigned v = 0;
    for (size_t k = 0; k < 4; k++) {
      int s = k < n ? sextet(text[i + k]) : 0;
      if (s < 0) {
        free(out);
        return NULL;
      }
      v = (v << 6) | (unsigned)s;
    }
    out[o++] = (unsigned char)(v >> 16);
    if (n > 2) out[o++] = (unsigned char)(v >> 8);
    if (n > 3) out[o++] = (unsigned char)v;
    /* Unused low bits must be zero, so every cursor has exactly one spelling. */
    if ((n == 2 && (v & 0xFFFF)) || (n == 3 && (v & 0xFF))) {
      free(out);
      return NULL;
    }
  }
  out[o] = '\0';
  *out_len = o;
  return out;
}

