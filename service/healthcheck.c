/* `carecoord health` (see healthcheck.h). */
#include "healthcheck.h"

#include <curl/curl.h>
#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <stdio.h>
#include <string.h>

int healthcheck_url(const struct config *cfg, char *url, size_t size) {
  const char *host = strcmp(cfg->listen_address, "0.0.0.0") == 0 ? "127.0.0.1" : cfg->listen_address;
  int n = snprintf(url, size, "%s://%s:%d/healthz", cfg->tls_cert_pem ? "https" : "http", host,
                   cfg->port);
  return n > 0 && (size_t)n < size ? 0 : -1;
}

int healthcheck_pin(const char *cert_pem, char *pin, size_t size) {
  BIO *bio = BIO_new_mem_buf(cert_pem, -1);
  X509 *cert = bio ? PEM_read_bio_X509(bio, NULL, NULL, NULL) : NULL;
  unsigned char *der = NULL;
  int der_len = cert ? i2d_X509_PUBKEY(X509_get_X509_PUBKEY(cert), &der) : -1;
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned digest_len = 0;
  int rc = -1;
  if (der_len > 0 && EVP_Digest(der, (size_t)der_len, digest, &digest_len, EVP_sha256(), NULL)) {
    static const char PREFIX[] = "sha256//";
    /* base64 of 32 bytes: 44 characters and a NUL */
    if (size >= sizeof PREFIX + 44) {
      memcpy(pin, PREFIX, sizeof PREFIX - 1);
      EVP_EncodeBlock((unsigned char *)pin + sizeof PREFIX - 1, digest, (int)digest_len);
      rc = 0;
    }
  }
  OPENSSL_free(der);
  X509_free(cert);
  BIO_free(bio);
  return rc;
}

static size_t discard(char *data, size_t size, size_t count, void *user) {
  (void)data;
  (void)user;
  return size * count;
}

int healthcheck_run(const struct config *cfg, long timeout_ms) {
  char url[64];
  if (healthcheck_url(cfg, url, sizeof url) != 0) {
    fprintf(stderr, "health: listening address too long\n");
    return 1;
  }
  char pin[64] = "";
  if (cfg->tls_cert_pem && healthcheck_pin(cfg->tls_cert_pem, pin, sizeof pin) != 0) {
    fprintf(stderr, "health: cannot read the public key of CARECOORD_TLS_CERT_FILE\n");
    return 1;
  }
  if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
    fprintf(stderr, "health: cannot initialise the HTTP client\n");
    return 1;
  }
  CURL *curl = curl_easy_init();
  int rc = 1;
  if (curl) {
    char error[CURL_ERROR_SIZE] = "";
    curl_easy_setopt(curl, CURLOPT_URL, url);
    curl_easy_setopt(curl, CURLOPT_PROTOCOLS_STR, pin[0] ? "https" : "http");
    if (pin[0]) {
      /* The certificate names the service's public host, not the loopback address asked here,
       * and its CA need not be in this image: what proves the answer comes from this service
       * is its public key, pinned to the configured certificate's. */
      curl_easy_setopt(curl, CURLOPT_SSL_VERIFYPEER, 0L);
      curl_easy_setopt(curl, CURLOPT_SSL_VERIFYHOST, 0L);
      curl_easy_setopt(curl, CURLOPT_PINNEDPUBLICKEY, pin);
    }
    curl_easy_setopt(curl, CURLOPT_PROXY, ""); /* never a proxy from the environment */
    curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, timeout_ms);
    curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, discard);
    curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, error);
    CURLcode res = curl_easy_perform(curl);
    long status = 0;
    if (res == CURLE_OK) curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
    if (res != CURLE_OK)
      fprintf(stderr, "health: %s: %s\n", url, error[0] ? error : curl_easy_strerror(res));
    else if (status != 200)
      fprintf(stderr, "health: %s answered %ld\n", url, status);
    else
      rc = 0;
    curl_easy_cleanup(curl);
  } else {
    fprintf(stderr, "health: cannot initialise the HTTP client\n");
  }
  curl_global_cleanup();
  return rc;
}
