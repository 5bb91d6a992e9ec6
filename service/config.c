#include "config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <gnutls/gnutls.h>
#include <gnutls/x509.h>
#include <limits.h>
#include <stdbool.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libpq-fe.h>

#include "log.h"

static void add_error(struct config_errors *errors, const char *name, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void add_error(struct config_errors *errors, const char *name, const char *fmt, ...) {
  if (errors->count >= CONFIG_MAX_ERRORS) return;
  char reason[120];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(reason, sizeof reason, fmt, ap);
  va_end(ap);
  snprintf(errors->messages[errors->count++], sizeof errors->messages[0], "%s: %s", name, reason);
}

static const char *text_var(config_lookup_fn lookup, const char *name, const char *fallback) {
  const char *value = lookup(name);
  return (value && *value) ? value : fallback;
}

/* An integer within [min, max]; the whole value must be digits (with optional sign). */
static long long int_var(config_lookup_fn lookup, struct config_errors *errors, const char *name,
                         long long fallback, long long min, long long max) {
  const char *value = lookup(name);
  if (!value || !*value) return fallback;
  errno = 0;
  char *end = NULL;
  long long parsed = strtoll(value, &end, 10);
  if (errno || end == value || *end != '\0') {
    add_error(errors, name, "must be a whole number, got \"%.40s\"", value);
    return fallback;
  }
  if (parsed < min || parsed > max) {
    add_error(errors, name, "must be between %lld and %lld, got %lld", min, max, parsed);
    return fallback;
  }
  return parsed;
}

/* A switch: 1 or true, 0 or false. */
static bool bool_var(config_lookup_fn lookup, struct config_errors *errors, const char *name,
                     bool fallback) {
  const char *value = lookup(name);
  if (!value || !*value) return fallback;
  if (strcmp(value, "1") == 0 || strcmp(value, "true") == 0) return true;
  if (strcmp(value, "0") == 0 || strcmp(value, "false") == 0) return false;
  add_error(errors, name, "must be 1 or 0 (true or false), got \"%.40s\"", value);
  return fallback;
}

static void load_webhooks(config_lookup_fn lookup, struct webhook_settings *w,
                          struct config_errors *e) {
  w->allow_http_loopback = bool_var(lookup, e, "CARECOORD_WEBHOOK_ALLOW_HTTP_LOOPBACK", false);
  w->threads = (int)int_var(lookup, e, "CARECOORD_WEBHOOK_THREADS", 2, 0, 16);
  w->poll_ms = (int)int_var(lookup, e, "CARECOORD_WEBHOOK_POLL_MS", 1000, 10, 600000);
  w->connect_timeout_ms =
      (int)int_var(lookup, e, "CARECOORD_WEBHOOK_CONNECT_TIMEOUT_MS", 5000, 100, 60000);
  w->timeout_ms = (int)int_var(lookup, e, "CARECOORD_WEBHOOK_TIMEOUT_MS", 10000, 100, 300000);
  w->backoff_base_ms =
      (int)int_var(lookup, e, "CARECOORD_WEBHOOK_BACKOFF_BASE_MS", 5000, 10, 3600000);
  w->backoff_cap_ms =
      (int)int_var(lookup, e, "CARECOORD_WEBHOOK_BACKOFF_CAP_MS", 3600000, 10, 86400000);
  w->batch = (int)int_var(lookup, e, "CARECOORD_WEBHOOK_BATCH", 50, 1, 500);
  if (w->timeout_ms < w->connect_timeout_ms)
    add_error(e, "CARECOORD_WEBHOOK_TIMEOUT_MS",
              "must be at least CARECOORD_WEBHOOK_CONNECT_TIMEOUT_MS (%d)", w->connect_timeout_ms);
  if (w->backoff_cap_ms < w->backoff_base_ms)
    add_error(e, "CARECOORD_WEBHOOK_BACKOFF_CAP_MS",
              "must be at least CARECOORD_WEBHOOK_BACKOFF_BASE_MS (%d)", w->backoff_base_ms);
}

static void load_policy(config_lookup_fn lookup, struct policy *p, struct config_errors *e) {
  p->referral_response_emergency_hours =
      (int)int_var(lookup, e, "CARECOORD_POLICY_REFERRAL_EMERGENCY_HOURS", 4, 1, 72);
  p->referral_response_urgent_hours =
      (int)int_var(lookup, e, "CARECOORD_POLICY_REFERRAL_URGENT_HOURS", 72, 1, 336);
  p->referral_response_routine_days =
      (int)int_var(lookup, e, "CARECOORD_POLICY_REFERRAL_ROUTINE_DAYS", 28, 1, 180);
  p->assessment_due_days = (int)int_var(lookup, e, "CARECOORD_POLICY_ASSESSMENT_DUE_DAYS", 28, 1, 365);
  p->care_plan_due_days = (int)int_var(lookup, e, "CARECOORD_POLICY_CARE_PLAN_DUE_DAYS", 28, 1, 365);
  p->review_cpa_months = (int)int_var(lookup, e, "CARECOORD_POLICY_REVIEW_CPA_MONTHS", 6, 1, 24);
  p->review_non_cpa_months =
      (int)int_var(lookup, e, "CARECOORD_POLICY_REVIEW_NON_CPA_MONTHS", 12, 1, 24);
  p->risk_review_months = (int)int_var(lookup, e, "CARECOORD_POLICY_RISK_REVIEW_MONTHS", 12, 1, 24);
  p->tops_interval_months = (int)int_var(lookup, e, "CARECOORD_POLICY_TOPS_MONTHS", 3, 1, 12);
  p->carer_review_months = (int)int_var(lookup, e, "CARECOORD_POLICY_CARER_REVIEW_MONTHS", 12, 1, 24);
  p->discharge_follow_up_days =
      (int)int_var(lookup, e, "CARECOORD_POLICY_DISCHARGE_FOLLOW_UP_DAYS", 7, 1, 28);
  p->out_of_area_liaison_months =
      (int)int_var(lookup, e, "CARECOORD_POLICY_OUT_OF_AREA_LIAISON_MONTHS", 6, 1, 24);
}

/* The key file's bytes, trailing newlines removed (so `openssl rand -hex 32 > file` works),
 * PSEUDONYM_KEY_MIN..PSEUDONYM_KEY_MAX of them. */
static void load_pseudonym_key(config_lookup_fn lookup, struct config *cfg,
                               struct config_errors *errors) {
  static const char NAME[] = "CARECOORD_PSEUDONYM_KEY_FILE";
  cfg->pseudonym_key_file = text_var(lookup, NAME, NULL);
  if (!cfg->pseudonym_key_file) return;
  FILE *f = fopen(cfg->pseudonym_key_file, "rb");
  if (!f) {
    add_error(errors, NAME, "cannot read \"%.60s\"", cfg->pseudonym_key_file);
    return;
  }
  unsigned char *key = cfg->pseudonym_key;
  size_t len = fread(key, 1, PSEUDONYM_KEY_MAX, f);
  /* A byte left after the largest key means the file is too long. */
  bool too_long = len == PSEUDONYM_KEY_MAX && fgetc(f) != EOF;
  bool failed = ferror(f);
  fclose(f);
  while (len && (key[len - 1] == '\n' || key[len - 1] == '\r')) len--;
  if (failed)
    add_error(errors, NAME, "cannot read \"%.60s\"", cfg->pseudonym_key_file);
  else if (too_long || len < PSEUDONYM_KEY_MIN)
    add_error(errors, NAME, "the key must be %d to %d bytes, got %s%zu", PSEUDONYM_KEY_MIN,
              PSEUDONYM_KEY_MAX, too_long ? "more than " : "", len);
  else
    cfg->pseudonym_key_len = len;
  if (!cfg->pseudonym_key_len) memset(cfg->pseudonym_key, 0, sizeof cfg->pseudonym_key);
}

/* The read pool's connection string must parse, and a target_session_attrs in it must be one
 * that libpq 15 knows: a typo would otherwise surface only as failed reports. */
static void load_read_database(config_lookup_fn lookup, struct config *cfg,
                               struct config_errors *errors) {
  static const char NAME[] = "CARECOORD_READ_DATABASE_URL";
  static const char *const ATTRS[] = {"any",     "read-write", "read-only",     "primary",
                                      "standby", "prefer-standby", NULL};
  cfg->read_database_url = text_var(lookup, NAME, NULL);
  cfg->read_db_pool_size = (int)int_var(lookup, errors, "CARECOORD_READ_DB_POOL_SIZE", 4, 1, 256);
  cfg->read_catch_up_ms =
      (int)int_var(lookup, errors, "CARECOORD_READ_CATCH_UP_MS", 5000, 0, 60000);
  cfg->read_primary_recheck_s =
      (int)int_var(lookup, errors, "CARECOORD_READ_PRIMARY_RECHECK_S", 30, 1, 86400);
  if (!cfg->read_database_url) return;
  /* libpq's own message is not repeated: it can quote the URL, password included. */
  char *message = NULL;
  PQconninfoOption *options = PQconninfoParse(cfg->read_database_url, &message);
  PQfreemem(message);
  if (!options) {
    add_error(errors, NAME, "is not a valid libpq connection string or URI");
    return;
  }
  for (PQconninfoOption *o = options; o->keyword; o++) {
    if (strcmp(o->keyword, "target_session_attrs") != 0 || !o->val) continue;
    bool known = false;
    for (size_t i = 0; ATTRS[i]; i++) known |= strcmp(o->val, ATTRS[i]) == 0;
    if (!known)
      add_error(errors, NAME,
                "target_session_attrs \"%.16s\" is not any, read-write, read-only, primary, "
                "standby or prefer-standby",
                o->val);
  }
  PQconninfoFree(options);
}

/* The whole of a file of at most TLS_PEM_MAX bytes, NUL-terminated (caller frees); NULL with
 * the reason reported under name. */
static char *read_pem_file(const char *name, const char *path, size_t *len,
                           struct config_errors *errors) {
  FILE *f = fopen(path, "rb");
  char *text = f ? malloc(TLS_PEM_MAX + 1) : NULL;
  size_t n = text ? fread(text, 1, TLS_PEM_MAX + 1, f) : 0;
  bool failed = !f || !text || ferror(f);
  if (f) fclose(f);
  if (failed) {
    add_error(errors, name, "cannot read \"%.60s\"", path);
  } else if (n > TLS_PEM_MAX) {
    add_error(errors, name, "\"%.60s\" is larger than %d bytes", path, TLS_PEM_MAX);
    failed = true;
  }
  if (failed) {
    if (text) explicit_bzero(text, TLS_PEM_MAX + 1);
    free(text);
    return NULL;
  }
  text[n] = '\0';
  *len = n;
  /* Kept for the process's life: copied into a buffer of its size, the big one wiped (it may
   * hold a key). */
  char *fitted = malloc(n + 1);
  if (!fitted) return text;
  memcpy(fitted, text, n + 1);
  explicit_bzero(text, n);
  free(text);
  return fitted;
}

/* Checks with GnuTLS, the library that will serve them, that the certificate file holds PEM
 * certificates, the key file an unencrypted PEM private key, and that the key is the
 * certificate's; records the (first) certificate's expiry. */
static bool check_tls_pair(struct config *cfg, size_t cert_len, size_t key_len,
                           struct config_errors *errors) {
  gnutls_datum_t cert = {(unsigned char *)cfg->tls_cert_pem, (unsigned)cert_len};
  gnutls_datum_t key = {(unsigned char *)cfg->tls_key_pem, (unsigned)key_len};
  gnutls_x509_crt_t *chain = NULL;
  unsigned chain_len = 0;
  if (gnutls_x509_crt_list_import2(&chain, &chain_len, &cert, GNUTLS_X509_FMT_PEM, 0) < 0 ||
      chain_len == 0) {
    add_error(errors, "CARECOORD_TLS_CERT_FILE", "no PEM certificate in \"%.60s\"",
              cfg->tls_cert_file);
    return false;
  }
  cfg->tls_not_after = (long long)gnutls_x509_crt_get_expiration_time(chain[0]);
  for (unsigned i = 0; i < chain_len; i++) gnutls_x509_crt_deinit(chain[i]);
  gnutls_free(chain);

  gnutls_x509_privkey_t private_key = NULL;
  int rc = gnutls_x509_privkey_init(&private_key);
  if (rc >= 0) rc = gnutls_x509_privkey_import2(private_key, &key, GNUTLS_X509_FMT_PEM, NULL, 0);
  gnutls_x509_privkey_deinit(private_key);
  if (rc < 0) {
    add_error(errors, "CARECOORD_TLS_KEY_FILE", "no unencrypted PEM private key in \"%.60s\"",
              cfg->tls_key_file);
    return false;
  }

  gnutls_certificate_credentials_t credentials = NULL;
  rc = gnutls_certificate_allocate_credentials(&credentials);
  if (rc >= 0)
    rc = gnutls_certificate_set_x509_key_mem2(credentials, &cert, &key, GNUTLS_X509_FMT_PEM,
                                              NULL, 0);
  gnutls_certificate_free_credentials(credentials);
  if (rc == GNUTLS_E_CERTIFICATE_KEY_MISMATCH) {
    add_error(errors, "CARECOORD_TLS_KEY_FILE",
              "is not the private key of the certificate in CARECOORD_TLS_CERT_FILE");
    return false;
  }
  if (rc < 0) {
    add_error(errors, "CARECOORD_TLS_CERT_FILE", "unusable with its key: %.60s",
              gnutls_strerror(rc));
    return false;
  }
  return true;
}

/* HTTPS: both files or neither. */
static void load_tls(config_lookup_fn lookup, struct config *cfg, struct config_errors *errors) {
  cfg->tls_cert_file = text_var(lookup, "CARECOORD_TLS_CERT_FILE", NULL);
  cfg->tls_key_file = text_var(lookup, "CARECOORD_TLS_KEY_FILE", NULL);
  if (!cfg->tls_cert_file && !cfg->tls_key_file) return;
  if (!cfg->tls_cert_file || !cfg->tls_key_file) {
    add_error(errors, cfg->tls_cert_file ? "CARECOORD_TLS_KEY_FILE" : "CARECOORD_TLS_CERT_FILE",
              "set both CARECOORD_TLS_CERT_FILE and CARECOORD_TLS_KEY_FILE, or neither");
    return;
  }
  size_t cert_len = 0, key_len = 0;
  cfg->tls_cert_pem = read_pem_file("CARECOORD_TLS_CERT_FILE", cfg->tls_cert_file, &cert_len,
                                    errors);
  cfg->tls_key_pem = read_pem_file("CARECOORD_TLS_KEY_FILE", cfg->tls_key_file, &key_len,
                                   errors);
  if (!cfg->tls_cert_pem || !cfg->tls_key_pem || !check_tls_pair(cfg, cert_len, key_len, errors))
    config_free(cfg);
}

void config_free(struct config *cfg) {
  if (cfg->tls_key_pem) explicit_bzero(cfg->tls_key_pem, strlen(cfg->tls_key_pem));
  free(cfg->tls_key_pem);
  free(cfg->tls_cert_pem);
  cfg->tls_key_pem = cfg->tls_cert_pem = NULL;
}

int config_load(config_lookup_fn lookup, struct config *cfg, struct config_errors *errors) {
  memset(cfg, 0, sizeof *cfg);
  errors->count = 0;

  cfg->database_url = text_var(lookup, "CARECOORD_DATABASE_URL", NULL);
  cfg->migration_database_url = text_var(lookup, "CARECOORD_MIGRATION_DATABASE_URL", NULL);
  cfg->app_role = text_var(lookup, "CARECOORD_APP_ROLE", "carecoord_app");
  cfg->listen_address = text_var(lookup, "CARECOORD_LISTEN_ADDRESS", "127.0.0.1");
  struct in_addr probe;
  if (inet_pton(AF_INET, cfg->listen_address, &probe) != 1)
    add_error(errors, "CARECOORD_LISTEN_ADDRESS", "must be an IPv4 address, got \"%.40s\"",
              cfg->listen_address);
  cfg->port = (int)int_var(lookup, errors, "CARECOORD_PORT", 8080, 1, 65535);
  cfg->max_body_bytes = (size_t)int_var(lookup, errors, "CARECOORD_MAX_BODY_BYTES", 1048576, 1024,
                                        64LL * 1024 * 1024);
  cfg->max_connections = (int)int_var(lookup, errors, "CARECOORD_MAX_CONNECTIONS", 1024, 1, 100000);
  cfg->connection_timeout_s =
      (int)int_var(lookup, errors, "CARECOORD_CONNECTION_TIMEOUT_S", 30, 1, 3600);
  cfg->drain_timeout_s = (int)int_var(lookup, errors, "CARECOORD_DRAIN_TIMEOUT_S", 20, 0, 600);
  cfg->http_threads = (int)int_var(lookup, errors, "CARECOORD_HTTP_THREADS", 16, 1, 256);
  cfg->db_pool_size = (int)int_var(lookup, errors, "CARECOORD_DB_POOL_SIZE", 8, 1, 256);
  cfg->db_pool_wait_ms = (int)int_var(lookup, errors, "CARECOORD_DB_POOL_WAIT_MS", 2000, 1, 60000);
  cfg->db_statement_timeout_ms =
      (int)int_var(lookup, errors, "CARECOORD_DB_STATEMENT_TIMEOUT_MS", 5000, 1, 600000);
  load_read_database(lookup, cfg, errors);
  cfg->idempotency_ttl_h =
      (int)int_var(lookup, errors, "CARECOORD_IDEMPOTENCY_TTL_H", 24, 1, 720);
  cfg->jwt_issuer = text_var(lookup, "CARECOORD_JWT_ISSUER", "carecoord-dev");
  cfg->jwt_audience = text_var(lookup, "CARECOORD_JWT_AUDIENCE", "carecoord");
  cfg->jwt_public_key_file = text_var(lookup, "CARECOORD_JWT_PUBLIC_KEY_FILE", NULL);
  cfg->jwt_jwks_file = text_var(lookup, "CARECOORD_JWT_JWKS_FILE", NULL);
  cfg->jwt_dev_hs256_secret_file = text_var(lookup, "CARECOORD_JWT_DEV_HS256_SECRET_FILE", NULL);
  if (!!cfg->jwt_public_key_file + !!cfg->jwt_jwks_file + !!cfg->jwt_dev_hs256_secret_file > 1)
    add_error(errors, "CARECOORD_JWT_JWKS_FILE",
              "set only one of CARECOORD_JWT_PUBLIC_KEY_FILE, CARECOORD_JWT_JWKS_FILE and "
              "CARECOORD_JWT_DEV_HS256_SECRET_FILE");
  cfg->jwt_roles_claim = text_var(lookup, "CARECOORD_JWT_ROLES_CLAIM", "roles");
  cfg->jwt_leeway_s = (int)int_var(lookup, errors, "CARECOORD_JWT_LEEWAY_S", 60, 0, 600);
  cfg->jwt_cache_size =
      (size_t)int_var(lookup, errors, "CARECOORD_JWT_CACHE_SIZE", 8192, 0, 1000000);
  cfg->dev_signing_key_file = text_var(lookup, "CARECOORD_DEV_SIGNING_KEY_FILE", NULL);
  cfg->log_level = text_var(lookup, "CARECOORD_LOG_LEVEL", "info");
  enum log_level level;
  if (log_level_parse(cfg->log_level, &level) != 0)
    add_error(errors, "CARECOORD_LOG_LEVEL", "must be one of debug, info, warn, error");
  if (strlen(cfg->jwt_roles_claim) > 64)
    add_error(errors, "CARECOORD_JWT_ROLES_CLAIM", "must be at most 64 characters");
  load_pseudonym_key(lookup, cfg, errors);
  cfg->extract_concurrency =
      (int)int_var(lookup, errors, "CARECOORD_EXTRACT_CONCURRENCY", 2, 1, 16);
  load_webhooks(lookup, &cfg->webhook, errors);
  load_policy(lookup, &cfg->policy, errors);
  load_tls(lookup, cfg, errors);
  if (errors->count) config_free(cfg);
  return errors->count ? -1 : 0;
}
