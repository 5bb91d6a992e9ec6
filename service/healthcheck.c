/* `carecoord health` (see healthcheck.h). */
#include "healthcheck.h"

#include <curl/curl.h>
#include <stdio.h>
#include <string.h>

int healthcheck_url(const struct config *cfg, char *url, size_t size) {
  const char *host = strcmp(cfg->listen_address, "0.0.0.0") == 0 ? "127.0.0.1" : cfg->listen_address;
  int n = snprintf(url, size, "http://%s:%d/healthz", host, cfg->port);
  return n > 0 && (size_t)n < size ? 0 : -1;
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
  if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
    fprintf(stderr, "health: cannot initialise the HTTP client\n");
    return 1;
  }
  CURL *curl = curl_easy_init();
  int rc = 1;
  if (curl) {
    char error[CURL_ERROR_SIZE] = "";
    curl_easy_setopt(curl, CURLOPT_URL, url);
    curl_easy_setopt(curl, CURLOPT_PROTOCOLS_STR, "http");
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
