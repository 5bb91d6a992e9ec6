/* Pseudonymised person ids for the extracts: HMAC-SHA256 of a service user's id (the canonical
 * lowercase UUID text) under a key from configuration, as 64 lowercase hex digits. The same
 * person always gets the same pseudonym under one key, so a reporting tool can link their rows
 * across tables and loads; without the key the pseudonym cannot be traced back to the person. */
#ifndef CARECOORD_PSEUDONYM_H
#define CARECOORD_PSEUDONYM_H

#include <stdbool.h>
#include <stddef.h>

#define PSEUDONYM_HEX_LEN 64

struct pseudonymiser;

/* A new pseudonymiser holding a copy of the key (caller frees with pseudonymiser_free); NULL
 * when OpenSSL cannot provide HMAC-SHA256 or memory runs out. Not for sharing between threads. */
struct pseudonymiser *pseudonymiser_new(const unsigned char *key, size_t key_len);
void pseudonymiser_free(struct pseudonymiser *p);

/* out = hex(HMAC-SHA256(key, id)). False only when OpenSSL fails. */
bool pseudonymise(struct pseudonymiser *p, const char *id, char out[PSEUDONYM_HEX_LEN + 1]);

#endif
