#include "sha256.h"

#include <pthread.h>

static pthread_once_t fetched = PTHREAD_ONCE_INIT;
static EVP_MD *md;

/* Lives as long as the process: nothing to free before exit. */
static void fetch(void) { md = EVP_MD_fetch(NULL, "SHA256", NULL); }

const EVP_MD *sha256_md(void) {
  pthread_once(&fetched, fetch);
  return md;
}

bool sha256(const void *data, size_t len, unsigned char out[SHA256_LEN]) {
  unsigned int out_len = 0;
  const EVP_MD *digest = sha256_md();
  return digest && EVP_Digest(data, len, out, &out_len, digest, NULL) && out_len == SHA256_LEN;
}
