#include <gnutls/gnutls.h>
#include <gnutls/x509.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include "check.h"
#include "config.h"

struct var {
  const char *name, *value;
};
static const struct var *current;

static const char *lookup(const char *name) {
  for (const struct var *v = current; v && v->name; v++)
    if (strcmp(v->name, name) == 0) return v->value;
  return NULL;
}

static int load(const struct var *vars, struct config *cfg, struct config_errors *errors) {
  current = vars;
  return config_load(lookup, cfg, errors);
}

static int mentions(const struct config_errors *errors, const char *name) {
  for (size_t i = 0; i < errors->count; i++)
    if (strncmp(errors->messages[i], name, strlen(name)) == 0) return 1;
  return 0;
}

static void test_defaults_follow_domain_policy(void) {
  struct config cfg;
  struct config_errors errors;
  CHECK(load(NULL, &cfg, &errors) == 0);
  CHECK(cfg.port == 8080 && cfg.max_body_bytes == 1048576 && cfg.jwt_leeway_s == 60);
  CHECK(cfg.http_threads == 16 && cfg.db_pool_size == 8 && cfg.jwt_cache_size == 8192);
  CHECK(cfg.idempotency_ttl_h == 24);
  CHECK_STR(cfg.listen_address, "127.0.0.1");
  CHECK_STR(cfg.jwt_roles_claim, "roles");
  CHECK(cfg.policy.referral_response_emergency_hours == 4);  /* R-REF-1 */
  CHECK(cfg.policy.referral_response_urgent_hours == 72);    /* R-REF-1 */
  CHECK(cfg.policy.referral_response_routine_days == 28);    /* R-REF-1 */
  CHECK(cfg.policy.assessment_due_days == 28);               /* R-ASM-1 */
  CHECK(cfg.policy.care_plan_due_days == 28);                /* R-CPL-1 */
  CHECK(cfg.policy.review_cpa_months == 6);                  /* R-REV-1 */
  CHECK(cfg.policy.review_non_cpa_months == 12);             /* R-REV-1 */
  CHECK(cfg.policy.discharge_follow_up_days == 7);           /* R-TRF-3 */
}

static void test_values_are_read(void) {
  const struct var vars[] = {{"CARECOORD_PORT", "9000"},
                             {"CARECOORD_DB_POOL_SIZE", "16"},
                             {"CARECOORD_POLICY_REVIEW_CPA_MONTHS", "12"},
                             {"CARECOORD_DATABASE_URL", "postgresql://x@127.0.0.1/db"},
                             {"CARECOORD_IDEMPOTENCY_TTL_H", "720"},
                             {NULL, NULL}};
  struct config cfg;
  struct config_errors errors;
  CHECK(load(vars, &cfg, &errors) == 0);
  CHECK(cfg.port == 9000 && cfg.db_pool_size == 16 && cfg.policy.review_cpa_months == 12);
  CHECK(cfg.idempotency_ttl_h == 720);
  CHECK_STR(cfg.database_url, "postgresql://x@127.0.0.1/db");
}

static void test_every_bad_variable_is_named(void) {
  const struct var vars[] = {{"CARECOORD_PORT", "abc"},
                             {"CARECOORD_DB_POOL_SIZE", "0"},
                             {"CARECOORD_MAX_BODY_BYTES", "12kb"},
                             {"CARECOORD_LISTEN_ADDRESS", "localhost"},
                             {"CARECOORD_LOG_LEVEL", "loud"},
                             {"CARECOORD_JWT_LEEWAY_S", "-1"},
                             {"CARECOORD_POLICY_REVIEW_CPA_MONTHS", "99999999999999999999"},
                             {"CARECOORD_IDEMPOTENCY_TTL_H", "0"},
                             {NULL, NULL}};
  struct config cfg;
  struct config_errors errors;
  CHECK(load(vars, &cfg, &errors) == -1);
  CHECK(errors.count == 8);
  CHECK(mentions(&errors, "CARECOORD_IDEMPOTENCY_TTL_H"));
  CHECK(mentions(&errors, "CARECOORD_PORT"));
  CHECK(mentions(&errors, "CARECOORD_DB_POOL_SIZE"));
  CHECK(mentions(&errors, "CARECOORD_MAX_BODY_BYTES"));
  CHECK(mentions(&errors, "CARECOORD_LISTEN_ADDRESS"));
  CHECK(mentions(&errors, "CARECOORD_LOG_LEVEL"));
  CHECK(mentions(&errors, "CARECOORD_JWT_LEEWAY_S"));
  CHECK(mentions(&errors, "CARECOORD_POLICY_REVIEW_CPA_MONTHS"));
}

static void test_key_sources_are_exclusive(void) {
  const struct var vars[] = {{"CARECOORD_JWT_PUBLIC_KEY_FILE", "/k.pem"},
                             {"CARECOORD_JWT_JWKS_FILE", "/k.json"},
                             {NULL, NULL}};
  struct config cfg;
  struct config_errors errors;
  CHECK(load(vars, &cfg, &errors) == -1);
  CHECK(mentions(&errors, "CARECOORD_JWT_JWKS_FILE"));
}

/* Writes text to a new temporary file whose path goes to path (caller unlinks). */
static void write_temp(char path[64], const char *text) {
  snprintf(path, 64, "/tmp/carecoord-test-key-XXXXXX");
  int fd = mkstemp(path);
  CHECK(fd >= 0);
  FILE *f = fdopen(fd, "w");
  fputs(text, f);
  fclose(f);
}

static void test_pseudonym_key_is_read_without_its_newline(void) {
  char path[64];
  const char *hex = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff";
  char text[80];
  snprintf(text, sizeof text, "%s\n", hex);
  write_temp(path, text);
  const struct var vars[] = {{"CARECOORD_PSEUDONYM_KEY_FILE", path}, {NULL, NULL}};
  struct config cfg;
  struct config_errors errors;
  CHECK(load(vars, &cfg, &errors) == 0);
  CHECK(cfg.pseudonym_key_len == 64 && memcmp(cfg.pseudonym_key, hex, 64) == 0);
  CHECK(cfg.extract_concurrency == 2);
  unlink(path);
}

static void test_pseudonym_key_is_off_by_default(void) {
  struct config cfg;
  struct config_errors errors;
  CHECK(load(NULL, &cfg, &errors) == 0);
  CHECK(cfg.pseudonym_key_len == 0 && cfg.pseudonym_key_file == NULL);
}

static void test_short_missing_or_huge_pseudonym_keys_are_refused(void) {
  char short_path[64], huge_path[64];
  write_temp(short_path, "only 31 bytes of key material..\n");
  static char huge[PSEUDONYM_KEY_MAX + 2];
  memset(huge, 'k', PSEUDONYM_KEY_MAX + 1);
  write_temp(huge_path, huge);
  const char *paths[] = {short_path, "/nonexistent/carecoord/pseudonym.key", huge_path};
  for (size_t i = 0; i < 3; i++) {
    const struct var vars[] = {{"CARECOORD_PSEUDONYM_KEY_FILE", paths[i]}, {NULL, NULL}};
    struct config cfg;
    struct config_errors errors;
    CHECK(load(vars, &cfg, &errors) == -1);
    CHECK(errors.count == 1 && mentions(&errors, "CARECOORD_PSEUDONYM_KEY_FILE"));
    CHECK(cfg.pseudonym_key_len == 0);
  }
  unlink(short_path);
  unlink(huge_path);
}

static void test_extract_concurrency_is_bounded(void) {
  const struct var vars[] = {{"CARECOORD_EXTRACT_CONCURRENCY", "0"}, {NULL, NULL}};
  struct config cfg;
  struct config_errors errors;
  CHECK(load(vars, &cfg, &errors) == -1);
  CHECK(mentions(&errors, "CARECOORD_EXTRACT_CONCURRENCY"));
}

static void test_webhook_defaults_keep_plain_http_off(void) {
  struct config cfg;
  struct config_errors errors;
  CHECK(load(NULL, &cfg, &errors) == 0);
  CHECK(!cfg.webhook.allow_http_loopback);
  CHECK(cfg.webhook.threads == 2 && cfg.webhook.poll_ms == 1000 && cfg.webhook.batch == 50);
  CHECK(cfg.webhook.connect_timeout_ms == 5000 && cfg.webhook.timeout_ms == 10000);
  CHECK(cfg.webhook.backoff_base_ms == 5000 && cfg.webhook.backoff_cap_ms == 3600000);
}

static void test_webhook_settings_are_read(void) {
  const struct var vars[] = {{"CARECOORD_WEBHOOK_ALLOW_HTTP_LOOPBACK", "1"},
                             {"CARECOORD_WEBHOOK_THREADS", "0"},
                             {"CARECOORD_WEBHOOK_POLL_MS", "50"},
                             {"CARECOORD_WEBHOOK_CONNECT_TIMEOUT_MS", "1000"},
                             {"CARECOORD_WEBHOOK_TIMEOUT_MS", "2000"},
                             {"CARECOORD_WEBHOOK_BACKOFF_BASE_MS", "100"},
                             {"CARECOORD_WEBHOOK_BACKOFF_CAP_MS", "800"},
                             {"CARECOORD_WEBHOOK_BATCH", "3"},
                             {NULL, NULL}};
  struct config cfg;
  struct config_errors errors;
  CHECK(load(vars, &cfg, &errors) == 0);
  CHECK(cfg.webhook.allow_http_loopback && cfg.webhook.threads == 0);
  CHECK(cfg.webhook.poll_ms == 50 && cfg.webhook.batch == 3);
  CHECK(cfg.webhook.connect_timeout_ms == 1000 && cfg.webhook.timeout_ms == 2000);
  CHECK(cfg.webhook.backoff_base_ms == 100 && cfg.webhook.backoff_cap_ms == 800);
  const struct var spelt[] = {{"CARECOORD_WEBHOOK_ALLOW_HTTP_LOOPBACK", "true"}, {NULL, NULL}};
  CHECK(load(spelt, &cfg, &errors) == 0 && cfg.webhook.allow_http_loopback);
  const struct var off[] = {{"CARECOORD_WEBHOOK_ALLOW_HTTP_LOOPBACK", "0"}, {NULL, NULL}};
  CHECK(load(off, &cfg, &errors) == 0 && !cfg.webhook.allow_http_loopback);
}

static void test_bad_webhook_settings_are_named(void) {
  const struct var vars[] = {{"CARECOORD_WEBHOOK_ALLOW_HTTP_LOOPBACK", "yes please"},
                             {"CARECOORD_WEBHOOK_POLL_MS", "0"},
                             {"CARECOORD_WEBHOOK_BATCH", "501"},
                             {"CARECOORD_WEBHOOK_THREADS", "-1"},
                             {NULL, NULL}};
  struct config cfg;
  struct config_errors errors;
  CHECK(load(vars, &cfg, &errors) == -1);
  CHECK(errors.count == 4);
  CHECK(mentions(&errors, "CARECOORD_WEBHOOK_ALLOW_HTTP_LOOPBACK"));
  CHECK(mentions(&errors, "CARECOORD_WEBHOOK_POLL_MS"));
  CHECK(mentions(&errors, "CARECOORD_WEBHOOK_BATCH"));
  CHECK(mentions(&errors, "CARECOORD_WEBHOOK_THREADS"));
  CHECK(!cfg.webhook.allow_http_loopback); /* a bad value never turns it on */
  /* A total timeout shorter than the connect timeout, a cap below the base. */
  const struct var crossed[] = {{"CARECOORD_WEBHOOK_CONNECT_TIMEOUT_MS", "5000"},
                                {"CARECOORD_WEBHOOK_TIMEOUT_MS", "1000"},
                                {"CARECOORD_WEBHOOK_BACKOFF_BASE_MS", "2000"},
                                {"CARECOORD_WEBHOOK_BACKOFF_CAP_MS", "1000"},
                                {NULL, NULL}};
  CHECK(load(crossed, &cfg, &errors) == -1);
  CHECK(errors.count == 2);
  CHECK(mentions(&errors, "CARECOORD_WEBHOOK_TIMEOUT_MS"));
  CHECK(mentions(&errors, "CARECOORD_WEBHOOK_BACKOFF_CAP_MS"));
}

static void test_reads_share_the_main_database_by_default(void) {
  struct config cfg;
  struct config_errors errors;
  CHECK(load(NULL, &cfg, &errors) == 0);
  CHECK(cfg.read_database_url == NULL); /* reports and extracts use the main pool */
  CHECK(cfg.read_db_pool_size == 4 && cfg.read_catch_up_ms == 5000);
  CHECK(cfg.read_primary_recheck_s == 30);
  const struct var empty[] = {{"CARECOORD_READ_DATABASE_URL", ""}, {NULL, NULL}};
  CHECK(load(empty, &cfg, &errors) == 0 && cfg.read_database_url == NULL);
}

static void test_read_database_settings_are_read(void) {
  static const char URL[] = "postgresql://app@replica1:5433,primary:5432/carecoord"
                            "?target_session_attrs=prefer-standby&connect_timeout=2";
  const struct var vars[] = {{"CARECOORD_READ_DATABASE_URL", URL},
                             {"CARECOORD_READ_DB_POOL_SIZE", "2"},
                             {"CARECOORD_READ_CATCH_UP_MS", "0"},
                             {"CARECOORD_READ_PRIMARY_RECHECK_S", "5"},
                             {NULL, NULL}};
  struct config cfg;
  struct config_errors errors;
  CHECK(load(vars, &cfg, &errors) == 0);
  CHECK_STR(cfg.read_database_url, URL);
  CHECK(cfg.read_db_pool_size == 2 && cfg.read_catch_up_ms == 0);
  CHECK(cfg.read_primary_recheck_s == 5);
  /* Every target_session_attrs of libpq 15, in a URI or in keyword form. */
  const char *const attrs[] = {"host=a,b dbname=c target_session_attrs=standby",
                               "host=a dbname=c target_session_attrs=read-only",
                               "host=a dbname=c target_session_attrs=any",
                               "postgresql://a/c?target_session_attrs=primary",
                               "postgresql://a/c?target_session_attrs=read-write", NULL};
  for (size_t i = 0; attrs[i]; i++) {
    const struct var one[] = {{"CARECOORD_READ_DATABASE_URL", attrs[i]}, {NULL, NULL}};
    CHECK(load(one, &cfg, &errors) == 0);
  }
}

static void test_bad_read_database_settings_are_named_without_the_password(void) {
  const struct var vars[] = {
      {"CARECOORD_READ_DATABASE_URL", "postgresql://app:s3cret-pw@r1,r2/db?target_session_attrs=standy"},
      {"CARECOORD_READ_DB_POOL_SIZE", "0"},
      {"CARECOORD_READ_CATCH_UP_MS", "60001"},
      {"CARECOORD_READ_PRIMARY_RECHECK_S", "0"},
      {NULL, NULL}};
  struct config cfg;
  struct config_errors errors;
  CHECK(load(vars, &cfg, &errors) == -1);
  CHECK(errors.count == 4);
  CHECK(mentions(&errors, "CARECOORD_READ_DATABASE_URL"));
  CHECK(mentions(&errors, "CARECOORD_READ_DB_POOL_SIZE"));
  CHECK(mentions(&errors, "CARECOORD_READ_CATCH_UP_MS"));
  CHECK(mentions(&errors, "CARECOORD_READ_PRIMARY_RECHECK_S"));
  const struct var broken[] = {
      {"CARECOORD_READ_DATABASE_URL", "postgresql://app:s3cret-pw@r1/db?no_such_option=1"},
      {NULL, NULL}};
  CHECK(load(broken, &cfg, &errors) == -1);
  CHECK(errors.count == 1 && mentions(&errors, "CARECOORD_READ_DATABASE_URL"));
  const struct var words[] = {{"CARECOORD_READ_DATABASE_URL", "host=r1 password=s3cret-pw bogus"},
                              {NULL, NULL}};
  CHECK(load(words, &cfg, &errors) == -1);
  CHECK(errors.count == 1 && mentions(&errors, "CARECOORD_READ_DATABASE_URL"));
  for (size_t i = 0; i < errors.count; i++) CHECK(strstr(errors.messages[i], "s3cret") == NULL);
}

/* A new P-256 key as PEM (caller frees with gnutls_free), and the key itself in *out when out
 * is not NULL (caller deinits). */
static gnutls_datum_t new_key_pem(gnutls_x509_privkey_t *out) {
  gnutls_x509_privkey_t key;
  gnutls_datum_t pem = {NULL, 0};
  CHECK(gnutls_x509_privkey_init(&key) == 0);
  CHECK(gnutls_x509_privkey_generate(key, GNUTLS_PK_ECDSA,
                                     GNUTLS_CURVE_TO_BITS(GNUTLS_ECC_CURVE_SECP256R1), 0) == 0);
  CHECK(gnutls_x509_privkey_export2(key, GNUTLS_X509_FMT_PEM, &pem) == 0);
  if (out) *out = key;
  else gnutls_x509_privkey_deinit(key);
  return pem;
}

/* A self-signed certificate for key, valid until expires, as PEM (caller frees). */
static gnutls_datum_t self_signed_pem(gnutls_x509_privkey_t key, time_t expires) {
  gnutls_x509_crt_t crt;
  gnutls_datum_t pem = {NULL, 0};
  unsigned char serial[] = {1};
  CHECK(gnutls_x509_crt_init(&crt) == 0);
  CHECK(gnutls_x509_crt_set_version(crt, 3) == 0);
  CHECK(gnutls_x509_crt_set_serial(crt, serial, sizeof serial) == 0);
  CHECK(gnutls_x509_crt_set_activation_time(crt, time(NULL) - 60) == 0);
  CHECK(gnutls_x509_crt_set_expiration_time(crt, expires) == 0);
  CHECK(gnutls_x509_crt_set_dn_by_oid(crt, GNUTLS_OID_X520_COMMON_NAME, 0, "127.0.0.1", 9) == 0);
  CHECK(gnutls_x509_crt_set_key(crt, key) == 0);
  CHECK(gnutls_x509_crt_sign2(crt, crt, key, GNUTLS_DIG_SHA256, 0) == 0);
  CHECK(gnutls_x509_crt_export2(crt, GNUTLS_X509_FMT_PEM, &pem) == 0);
  gnutls_x509_crt_deinit(crt);
  return pem;
}

static void write_datum(char path[64], gnutls_datum_t datum) {
  char *text = malloc(datum.size + 1);
  memcpy(text, datum.data, datum.size);
  text[datum.size] = '\0';
  write_temp(path, text);
  free(text);
  gnutls_free(datum.data);
}

static void test_tls_is_off_by_default(void) {
  struct config cfg;
  struct config_errors errors;
  CHECK(load(NULL, &cfg, &errors) == 0);
  CHECK(!cfg.tls_cert_file && !cfg.tls_key_file && !cfg.tls_cert_pem && !cfg.tls_key_pem);
  config_free(&cfg);
}

static void test_tls_certificate_and_key_are_read_and_checked(void) {
  gnutls_x509_privkey_t key;
  char key_path[64], cert_path[64], other_path[64], junk_path[64];
  write_datum(key_path, new_key_pem(&key));
  time_t expires = time(NULL) + 3600;
  write_datum(cert_path, self_signed_pem(key, expires));
  gnutls_x509_privkey_deinit(key);
  write_datum(other_path, new_key_pem(NULL));
  write_temp(junk_path, "not PEM at all\n");

  const struct var good[] = {{"CARECOORD_TLS_CERT_FILE", cert_path},
                             {"CARECOORD_TLS_KEY_FILE", key_path},
                             {NULL, NULL}};
  struct config cfg;
  struct config_errors errors;
  CHECK(load(good, &cfg, &errors) == 0);
  CHECK(cfg.tls_cert_pem && strstr(cfg.tls_cert_pem, "-----BEGIN CERTIFICATE-----"));
  CHECK(cfg.tls_key_pem && strstr(cfg.tls_key_pem, "PRIVATE KEY-----"));
  CHECK(cfg.tls_not_after == (long long)expires);
  config_free(&cfg);
  CHECK(!cfg.tls_cert_pem && !cfg.tls_key_pem);

  /* Each case: certificate file, key file, the variable named, words of the reason. */
  const char *cases[][4] = {
      {cert_path, NULL, "CARECOORD_TLS_KEY_FILE", "set both"},
      {NULL, key_path, "CARECOORD_TLS_CERT_FILE", "set both"},
      {"/nonexistent/carecoord/cert.pem", key_path, "CARECOORD_TLS_CERT_FILE", "cannot read"},
      {cert_path, "/nonexistent/carecoord/key.pem", "CARECOORD_TLS_KEY_FILE", "cannot read"},
      {junk_path, key_path, "CARECOORD_TLS_CERT_FILE", "no PEM certificate"},
      {key_path, key_path, "CARECOORD_TLS_CERT_FILE", "no PEM certificate"},
      {cert_path, junk_path, "CARECOORD_TLS_KEY_FILE", "no unencrypted PEM private key"},
      {cert_path, other_path, "CARECOORD_TLS_KEY_FILE", "is not the private key"},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    const struct var vars[] = {{"CARECOORD_TLS_CERT_FILE", cases[i][0]},
                               {"CARECOORD_TLS_KEY_FILE", cases[i][1]},
                               {NULL, NULL}};
    CHECK(load(vars, &cfg, &errors) == -1);
    CHECK(errors.count == 1 && mentions(&errors, cases[i][2]));
    CHECK(errors.count == 1 && strstr(errors.messages[0], cases[i][3]));
    CHECK(!cfg.tls_cert_pem && !cfg.tls_key_pem); /* nothing left to free */
  }
  unlink(key_path);
  unlink(cert_path);
  unlink(other_path);
  unlink(junk_path);
}

int main(void) {
  test_defaults_follow_domain_policy();
  test_values_are_read();
  test_every_bad_variable_is_named();
  test_key_sources_are_exclusive();
  test_pseudonym_key_is_read_without_its_newline();
  test_pseudonym_key_is_off_by_default();
  test_short_missing_or_huge_pseudonym_keys_are_refused();
  test_extract_concurrency_is_bounded();
  test_webhook_defaults_keep_plain_http_off();
  test_webhook_settings_are_read();
  test_bad_webhook_settings_are_named();
  test_reads_share_the_main_database_by_default();
  test_read_database_settings_are_read();
  test_bad_read_database_settings_are_named_without_the_password();
  test_tls_is_off_by_default();
  test_tls_certificate_and_key_are_read_and_checked();
  return checks_report();
}
