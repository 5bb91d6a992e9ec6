/* `carecoord health`: the container's health check. Asks the service running with the same
 * configuration for GET /healthz, so that the image needs no HTTP client of its own. */
#ifndef CARECOORD_HEALTHCHECK_H
#define CARECOORD_HEALTHCHECK_H

#include "config.h"

/* The URL asked: https when the service serves TLS (CARECOORD_TLS_CERT_FILE), the listening
 * address (127.0.0.1 when the service listens on every address, 0.0.0.0) and port. Writes at most
 * size bytes; returns 0, or -1 if it does not fit. */
int healthcheck_url(const struct config *cfg, char *url, size_t size);

/* curl's public-key pin ("sha256//" and the base64 SHA-256 of the SubjectPublicKeyInfo) of the
 * first certificate in cert_pem. Returns 0, or -1 if there is none or it does not fit size. */
int healthcheck_pin(const char *cert_pem, char *pin, size_t size);

/* 0 when the service answers 200 within timeout_ms, 1 otherwise (the reason on stderr). */
int healthcheck_run(const struct config *cfg, long timeout_ms);

#endif
