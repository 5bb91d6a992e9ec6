#include "audit/chain.h"

#include <stdio.h>
#include <string.h>

#include "sha256.h"

bool audit_chain_hash(const char *prev_hash, const char *content,
                      char out[AUDIT_HASH_HEX_LEN + 1]) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EVP_MD_CTX *ctx = EVP_MD_CTX_new();
  bool ok = ctx && sha256_md() && EVP_DigestInit_ex(ctx, sha256_md(), NULL) == 1;
  if (ok && prev_hash) ok = EVP_DigestUpdate(ctx, prev_hash, strlen(prev_hash)) == 1;
  if (ok) ok = EVP_DigestUpdate(ctx, "\n", 1) == 1;
  if (ok) ok = EVP_DigestUpdate(ctx, content, strlen(content)) == 1;
  if (ok) ok = EVP_DigestFinal_ex(ctx, digest, &len) == 1 && len == 32;
  EVP_MD_CTX_free(ctx);
  if (!ok) return false;
  for (unsigned i = 0; i < 32; i++) snprintf(out + 2 * i, 3, "%02x", digest[i]);
  return true;
}
