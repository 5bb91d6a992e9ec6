/* Configuration from CARECOORD_* environment variables, validated at start-up.
 * Every problem is reported with the variable's name; nothing is silently defaulted from a bad
 * value. */
#ifndef CARECOORD_CONFIG_H
#define CARECOORD_CONFIG_H

#include <stdbool.h>
#include <stddef.h>

#define CONFIG_MAX_ERRORS 32
/* The pseudonymisation key of the extracts: the bytes of its file without trailing newlines. */
#define PSEUDONYM_KEY_MIN 32
#define PSEUDONYM_KEY_MAX 1024
/* The largest TLS certificate (chain) or key file read. */
#define TLS_PEM_MAX (256 * 1024)

/* Care-cycle intervals (DOMAIN.md): policy settings a trust may change. */
struct policy {
  int referral_response_emergency_hours; /* R-REF-1 */
  int referral_response_urgent_hours;    /* R-REF-1 */
  int referral_response_routine_days;    /* R-REF-1 */
  int assessment_due_days;               /* R-ASM-1 */
  int care_plan_due_days;                /* R-CPL-1 */
  int review_cpa_months;                 /* R-REV-1 */
  int review_non_cpa_months;             /* R-REV-1 */
  int risk_review_months;                /* R-ASM-6 */
  int tops_interval_months;              /* R-ASM-7 */
  int carer_review_months;               /* R-CAR-2 */
  int discharge_follow_up_days;          /* R-TRF-3 */
  int out_of_area_liaison_months;        /* R-TRF-4 */
};

/* Webhook deliveries to partner systems (resources/webhooks.c, webhooks/delivery.h). */
struct webhook_settings {
  bool allow_http_loopback; /* TESTS ONLY: also http://127.0.0.1:PORT/... and http://[::1]... */
  int threads;              /* delivery threads; 0: this instance delivers nothing */
  int poll_ms;              /* how often an idle thread looks for due webhooks */
  int connect_timeout_ms;
  int timeout_ms;           /* a whole delivery: connect, send, answer */
  int backoff_base_ms;      /* the wait after the first failure, doubling with each failure */
  int backoff_cap_ms;       /* ... up to this */
  int batch;                /* events in one delivery, at most */
};

struct config {
  const char *database_url;           /* app role; required by serve */
  const char *migration_database_url; /* owner role; required by migrate */
  const char *app_role;
  const char *listen_address;
  int port;
  size_t max_body_bytes;
  int max_connections;
  int http_threads; /* worker threads serving the connections */
  int connection_timeout_s;
  int drain_timeout_s;
  int db_pool_size;
  int db_pool_wait_ms;
  int db_statement_timeout_ms;
  /* Reports and extracts read through a pool of their own when read_database_url is set (a
   * standby, or a libpq multi-host URL with target_session_attrs); NULL: the main pool. */
  const char *read_database_url;
  int read_db_pool_size;
  int read_catch_up_ms;      /* an extract's wait for the standby to replay the export's moment */
  int read_primary_recheck_s; /* a read session found on a primary is reopened after this long */
  const char *jwt_issuer;
  const char *jwt_audience;
  const char *jwt_public_key_file;
  const char *jwt_jwks_file;
  const char *jwt_dev_hs256_secret_file; /* development only: enables HS256 */
  const char *jwt_roles_claim;
  int jwt_leeway_s;
  size_t jwt_cache_size; /* verified tokens remembered (auth/token_cache.h); 0 disables */
  const char *dev_signing_key_file;
  const char *log_level;
  int idempotency_ttl_h; /* an Idempotency-Key is replayed for this many hours after first use */
  /* HTTPS served by the service itself (README "TLS"): the PEM text of the certificate (with
   * any intermediates after it) and of its unencrypted private key, read from tls_cert_file and
   * tls_key_file and checked at load (both or neither); NULL when the service speaks plain HTTP
   * (e.g. behind a proxy that terminates TLS). Freed by config_free. */
  const char *tls_cert_file;
  const char *tls_key_file;
  char *tls_cert_pem;
  char *tls_key_pem;
  long long tls_not_after; /* the certificate's expiry, seconds since the epoch */
  /* Extracts (resources/extracts.c): the key of the pseudonymised person ids, read from
   * pseudonym_key_file; extracts answer 503 while no file is configured. */
  const char *pseudonym_key_file;
  unsigned char pseudonym_key[PSEUDONYM_KEY_MAX];
  size_t pseudonym_key_len; /* 0: not configured */
  int extract_concurrency;  /* extracts streaming at once */
  struct webhook_settings webhook;
  struct policy policy;
};

struct config_errors {
  size_t count;
  char messages[CONFIG_MAX_ERRORS][160];
};

typedef const char *(*config_lookup_fn)(const char *name);

/* Fills cfg from lookup (getenv in production). Returns 0 when valid (release it with
 * config_free), else -1 with errors (nothing to release). */
int config_load(config_lookup_fn lookup, struct config *cfg, struct config_errors *errors);
/* Releases what config_load read (the TLS key is wiped first). */
void config_free(struct config *cfg);

#endif
