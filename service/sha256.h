/* SHA-256 for the service's own uses (token cache keys, cursor checks, idempotency request
 * hashes, the audit chain).
 *
 * OpenSSL 3 resolves an implicitly named digest (EVP_sha256()) in its provider store, behind a
 * lock, on every call: measured, that lookup cost more than the hashing it served, and the
 * sealer paid it for every event. The digest is fetched once here instead. */
#ifndef CARECOORD_SHA256_H
#define CARECOORD_SHA256_H

#include <openssl/evp.h>
#include <stdbool.h>
#include <stddef.h>

#define SHA256_LEN 32

/* The process's SHA-256 implementation, fetched on first use; NULL only if OpenSSL cannot
 * provide one. */
const EVP_MD *sha256_md(void);

/* out = SHA-256 of data. Returns false only when OpenSSL fails. */
bool sha256(const void *data, size_t len, unsigned char out[SHA256_LEN]);

#endif
