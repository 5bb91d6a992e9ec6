#include "pseudonym.h"

#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/params.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

/* Fetched once: an implicit lookup takes a global lock on every call (see sha256.h). */
static pthread_once_t fetched = PTHREAD_ONCE_INIT;
static EVP_MAC *hmac;

static void fetch(void) { hmac = EVP_MAC_fetch(NULL, "HMAC", NULL); }

struct pseudonymiser {
  EVP_MAC_CTX *ctx;
  size_t key_len;
  unsigned char key[];
};

struct pseudonymiser *pseudonymiser_new(const unsigned char *key, size_t key_len) {
  pthread_once(&fetched, fetch);
  if (!hmac) return NULL;
  struct pseudonymiser *p = malloc(sizeof *p + key_len);
  if (!p) return NULL;
  p->key_len = key_len;
  memcpy(p->key, key, key_len);
  p->ctx = EVP_MAC_CTX_new(hmac);
  char digest[] = "SHA256";
  OSSL_PARAM params[] = {OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, digest, 0),
                         OSSL_PARAM_construct_end()};
  if (!p->ctx || !EVP_MAC_CTX_set_params(p->ctx, params)) {
    pseudonymiser_free(p);
    return NULL;
  }
  return p;
}

void pseudonymiser_free(struct pseudonymiser *p) {
  if (!p) return;
  EVP_MAC_CTX_free(p->ctx);
  OPENSSL_cleanse(p->key, p->key_len);
  free(p);
}

bool pseudonymise(struct pseudonymiser *p, const char *id, char out[PSEUDONYM_HEX_LEN + 1]) {
  static const char HEX[] = "0123456789abcdef";
  unsigned char mac[32];
  size_t mac_len = 0;
  if (!EVP_MAC_init(p->ctx, p->key, p->key_len, NULL) ||
      !EVP_MAC_update(p->ctx, (const unsigned char *)id, strlen(id)) ||
      !EVP_MAC_final(p->ctx, mac, &mac_len, sizeof mac) || mac_len != sizeof mac)
    return false;
  for (size_t i = 0; i < sizeof mac; i++) {
    out[2 * i] = HEX[mac[i] >> 4];
    out[2 * i + 1] = HEX[mac[i] & 0x0f];
  }
  out[PSEUDONYM_HEX_LEN] = '\0';
  return true;
}
