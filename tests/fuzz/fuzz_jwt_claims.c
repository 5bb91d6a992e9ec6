/* The claim checks of bearer tokens (service/auth/jwt.c), reached through verifier_check with
 * correctly signed tokens: the harness signs whatever it is given with the HS256 development
 * secret the verifier is configured with, so every input passes the signature check and its
 * header and claims meet the real checks (alg, exp/nbf/iat with leeway, iss, aud, sub, org,
 * roles) after libjwt has parsed them.
 *
 * Input: the claims JSON text; or header text, a 0xFF byte (never in UTF-8), then the claims.
 * Without a header part the header is {"alg":"HS256","typ":"JWT"}.
 *
 * Properties: those of principal_check.h, and that an accepted token's claims, read here with
 * Jansson, are unexpired at the fixed clock and name the configured issuer. */
#include <jansson.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <unistd.h>

#include "base64url.h"
#include "principal_check.h"

#define SECRET "fuzzing-secret-of-at-least-32-bytes-long"
#define LEEWAY 60

static struct config cfg;
static struct verifier *verifier;

int LLVMFuzzerInitialize(int *argc, char ***argv) {
  (void)argc;
  (void)argv;
  const char *path = fuzz_temp_file(SECRET "\n");
  cfg = (struct config){.jwt_issuer = FUZZ_ISSUER,
                        .jwt_audience = FUZZ_AUDIENCE,
                        .jwt_dev_hs256_secret_file = path,
                        .jwt_roles_claim = "roles",
                        .jwt_leeway_s = LEEWAY,
                        .jwt_cache_size = 0};
  verifier = verifier_new(&cfg);
  unlink(path);
  cfg.jwt_dev_hs256_secret_file = NULL;
  if (!verifier) abort();
  return 0;
}

/* header.claims.signature, each part base64url. Caller frees. */
static char *sign_new(const uint8_t *header, size_t header_len, const uint8_t *claims,
                      size_t claims_len) {
  char *h = base64url_encode(header, header_len);
  char *c = base64url_encode(claims, claims_len);
  if (!h || !c) abort();
  size_t input_len = strlen(h) + 1 + strlen(c);
  char *input = malloc(input_len + 1);
  if (!input) abort();
  snprintf(input, input_len + 1, "%s.%s", h, c);
  unsigned char mac[EVP_MAX_MD_SIZE];
  unsigned mac_len = 0;
  if (!HMAC(EVP_sha256(), SECRET, (int)strlen(SECRET), (const unsigned char *)input, input_len,
            mac, &mac_len))
    abort();
  char *s = base64url_encode(mac, mac_len);
  size_t token_len = input_len + 1 + strlen(s);
  char *token = malloc(token_len + 1);
  if (!token) abort();
  snprintf(token, token_len + 1, "%s.%s", input, s);
  free(h);
  free(c);
  free(s);
  free(input);
  return token;
}

/* What an accepted token's claims must say, read independently of libjwt (which, like this,
 * reads the decoded claims as a C string: up to a NUL). */
static void check_accepted_claims(const uint8_t *claims, size_t len) {
  const uint8_t *nul = memchr(claims, 0, len);
  if (nul) len = (size_t)(nul - claims);
  json_t *object = json_loadb((const char *)claims, len, 0, NULL);
  FUZZ_REQUIRE(json_is_object(object));
  json_t *exp = json_object_get(object, "exp");
  FUZZ_REQUIRE(json_is_number(exp) && json_number_value(exp) + LEEWAY > (double)FUZZ_NOW);
  FUZZ_REQUIRE(json_is_string(json_object_get(object, "iss")) &&
               strcmp(json_string_value(json_object_get(object, "iss")), FUZZ_ISSUER) == 0);
  json_decref(object);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  static const char DEFAULT_HEADER[] = "{\"alg\":\"HS256\",\"typ\":\"JWT\"}";
  const uint8_t *header = (const uint8_t *)DEFAULT_HEADER, *claims = data;
  size_t header_len = strlen(DEFAULT_HEADER), claims_len = size;
  const uint8_t *mark = memchr(data, 0xFF, size);
  if (mark) {
    header = data;
    header_len = (size_t)(mark - data);
    claims = mark + 1;
    claims_len = size - header_len - 1;
  }
  char *token = sign_new(header, header_len, claims, claims_len);
  struct principal principal;
  const char *reason = NULL;
  enum token_result result = verifier_check(verifier, token, FUZZ_NOW, &principal, &reason);
  check_principal(result, &principal, reason);
  if (result == TOKEN_VALID) check_accepted_claims(claims, claims_len);
  free(token);
  return 0;
}
