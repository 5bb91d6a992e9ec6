#include "auth/jwt.h"

#include <jansson.h>
#include <jwt.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>
#include <openssl/pem.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auth/roles.h"
#include "auth/token_cache.h"
#include "base64url.h"

#define KID_MAX 128
#define MAX_KEYS 32
#define HS256_SECRET_MIN 32
/* A verified token is re-verified at least this often, whatever its exp. */
#define CACHE_MAX_SECONDS 3600

struct key {
  char kid[KID_MAX + 1];
  jwt_alg_t alg;
  const char *alg_name;
  unsigned char *material; /* PEM public key, or the HMAC secret */
  size_t len;
};

struct verifier {
  const struct config *cfg;
  struct key keys[MAX_KEYS];
  size_t count;
  bool by_kid; /* a JWKS: the token header's kid selects the key */
  struct token_cache *cache;
};

static const struct {
  const char *name;
  unsigned bit;
} ROLE_NAMES[] = {{"coordinator", ROLE_COORDINATOR},
                  {"lead_professional", ROLE_LEAD_PROFESSIONAL},
                  {"manager", ROLE_MANAGER},
                  {"partner", ROLE_PARTNER},
                  {"reporting", ROLE_REPORTING}};

static unsigned char *read_all(const char *path, size_t *len) {
  FILE *f = fopen(path, "rb");
  if (!f) return NULL;
  size_t cap = 65536;
  unsigned char *data = malloc(cap + 1);
  size_t n = data ? fread(data, 1, cap, f) : 0;
  fclose(f);
  if (!data || n == 0 || n == cap) { /* empty, or too large to be a key file */
    free(data);
    return NULL;
  }
  data[n] = '\0';
  *len = n;
  return data;
}

/* Sets the key's algorithm from the key's own type, and its material to a normalised PEM. */
static bool key_from_pkey(struct key *k, EVP_PKEY *pkey) {
  int type = EVP_PKEY_get_base_id(pkey);
  if (type == EVP_PKEY_RSA) {
    if (EVP_PKEY_get_bits(pkey) < 2048) return false;
    k->alg = JWT_ALG_RS256;
    k->alg_name = "RS256";
  } else if (type == EVP_PKEY_EC) {
    char group[64] = "";
    EVP_PKEY_get_utf8_string_param(pkey, OSSL_PKEY_PARAM_GROUP_NAME, group, sizeof group, NULL);
    if (strcmp(group, "prime256v1") != 0) return false;
    k->alg = JWT_ALG_ES256;
    k->alg_name = "ES256";
  } else {
    return false;
  }
  BIO *bio = BIO_new(BIO_s_mem());
  char *pem = NULL;
  long len = (bio && PEM_write_bio_PUBKEY(bio, pkey)) ? BIO_get_mem_data(bio, &pem) : 0;
  if (len > 0) {
    k->material = malloc((size_t)len + 1);
    if (k->material) {
      memcpy(k->material, pem, (size_t)len);
      k->material[len] = '\0';
      k->len = (size_t)len;
    }
  }
  BIO_free(bio);
  return k->material != NULL;
}

static bool load_pem(struct verifier *v, const char *path) {
  size_t len = 0;
  unsigned char *text = read_all(path, &len);
  if (!text) return false;
  BIO *bio = BIO_new_mem_buf(text, (int)len);
  EVP_PKEY *pkey = bio ? PEM_read_bio_PUBKEY(bio, NULL, NULL, NULL) : NULL;
  bool ok = pkey && key_from_pkey(&v->keys[0], pkey);
  if (ok) v->count = 1;
  EVP_PKEY_free(pkey);
  BIO_free(bio);
  free(text);
  return ok;
}

static BIGNUM *bignum_of(const json_t *jwk, const char *member) {
  const char *text = json_string_value(json_object_get(jwk, member));
  size_t len = 0;
  unsigned char *bytes = text ? base64url_decode(text, &len) : NULL;
  BIGNUM *bn = bytes && len ? BN_bin2bn(bytes, (int)len, NULL) : NULL;
  free(bytes);
  return bn;
}

/* An EVP_PKEY from a JWK's public parameters (RSA n/e, or EC P-256 x/y). */
static EVP_PKEY *pkey_from_jwk(const json_t *jwk) {
  const char *kty = json_string_value(json_object_get(jwk, "kty"));
  OSSL_PARAM_BLD *bld = OSSL_PARAM_BLD_new();
  OSSL_PARAM *params = NULL;
  EVP_PKEY_CTX *ctx = NULL;
  EVP_PKEY *pkey = NULL;
  BIGNUM *n = NULL, *e = NULL;
  unsigned char *x = NULL, *y = NULL;
  unsigned char point[65];
  if (!bld || !kty) goto done;
  if (strcmp(kty, "RSA") == 0) {
    n = bignum_of(jwk, "n");
    e = bignum_of(jwk, "e");
    if (!n || !e || !OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_N, n) ||
        !OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_E, e))
      goto done;
    ctx = EVP_PKEY_CTX_new_from_name(NULL, "RSA", NULL);
  } else if (strcmp(kty, "EC") == 0) {
    const char *crv = json_string_value(json_object_get(jwk, "crv"));
    const char *xs = json_string_value(json_object_get(jwk, "x"));
    const char *ys = json_string_value(json_object_get(jwk, "y"));
    size_t xl = 0, yl = 0;
    if (!crv || strcmp(crv, "P-256") != 0 || !xs || !ys) goto done;
    x = base64url_decode(xs, &xl);
    y = base64url_decode(ys, &yl);
    if (!x || !y || xl != 32 || yl != 32) goto done;
    point[0] = 0x04; /* uncompressed point */
    memcpy(point + 1, x, 32);
    memcpy(point + 33, y, 32);
    if (!OSSL_PARAM_BLD_push_utf8_string(bld, OSSL_PKEY_PARAM_GROUP_NAME, "prime256v1", 0) ||
        !OSSL_PARAM_BLD_push_octet_string(bld, OSSL_PKEY_PARAM_PUB_KEY, point, sizeof point))
      goto done;
    ctx = EVP_PKEY_CTX_new_from_name(NULL, "EC", NULL);
  } else {
    goto done;
  }
  params = OSSL_PARAM_BLD_to_param(bld);
  if (!ctx || !params || EVP_PKEY_fromdata_init(ctx) <= 0 ||
      EVP_PKEY_fromdata(ctx, &pkey, EVP_PKEY_PUBLIC_KEY, params) <= 0)
    pkey = NULL;
done:
  EVP_PKEY_CTX_free(ctx);
  OSSL_PARAM_free(params);
  OSSL_PARAM_BLD_free(bld);
  BN_free(n);
  BN_free(e);
  free(x);
  free(y);
  return pkey;
}

static bool load_jwks(struct verifier *v, const char *path) {
  json_t *jwks = json_load_file(path, JSON_REJECT_DUPLICATES, NULL);
  json_t *list = json_object_get(jwks, "keys");
  bool ok = json_is_array(list) && json_array_size(list) > 0 && json_array_size(list) <= MAX_KEYS;
  size_t i;
  json_t *jwk;
  json_array_foreach(list, i, jwk) {
    if (!ok) break;
    const char *kid = json_string_value(json_object_get(jwk, "kid"));
    const char *use = json_string_value(json_object_get(jwk, "use"));
    const char *alg = json_string_value(json_object_get(jwk, "alg"));
    EVP_PKEY *pkey = pkey_from_jwk(jwk);
    struct key *k = &v->keys[v->count];
    ok = kid && strlen(kid) <= KID_MAX && (!use || strcmp(use, "sig") == 0) && pkey &&
         key_from_pkey(k, pkey) && (!alg || strcmp(alg, k->alg_name) == 0);
    EVP_PKEY_free(pkey);
    if (ok) {
      snprintf(k->kid, sizeof k->kid, "%s", kid);
      v->count++;
    }
  }
  json_decref(jwks);
  v->by_kid = true;
  return ok;
}

static bool load_hs256_secret(struct verifier *v, const char *path) {
  size_t len = 0;
  unsigned char *secret = read_all(path, &len);
  while (secret && len && (secret[len - 1] == '\n' || secret[len - 1] == '\r')) secret[--len] = 0;
  if (!secret || len < HS256_SECRET_MIN) {
    free(secret);
    return false;
  }
  v->keys[0] = (struct key){.alg = JWT_ALG_HS256, .alg_name = "HS256", .material = secret,
                            .len = len};
  v->count = 1;
  return true;
}

struct verifier *verifier_new(const struct config *cfg) {
  const char *var = NULL;
  int sources = !!cfg->jwt_public_key_file + !!cfg->jwt_jwks_file + !!cfg->jwt_dev_hs256_secret_file;
  if (sources != 1) {
    fprintf(stderr, "config: CARECOORD_JWT_PUBLIC_KEY_FILE: set exactly one of it, "
                    "CARECOORD_JWT_JWKS_FILE or CARECOORD_JWT_DEV_HS256_SECRET_FILE\n");
    return NULL;
  }
  struct verifier *v = calloc(1, sizeof *v);
  if (!v) return NULL;
  v->cfg = cfg;
  v->cache = token_cache_new(cfg->jwt_cache_size);
  bool ok;
  if (cfg->jwt_public_key_file) {
    var = "CARECOORD_JWT_PUBLIC_KEY_FILE: not a readable RSA (2048+ bits) or EC P-256 PEM public key";
    ok = load_pem(v, cfg->jwt_public_key_file);
  } else if (cfg->jwt_jwks_file) {
    var = "CARECOORD_JWT_JWKS_FILE: not a JWKS of RSA (2048+ bits) or EC P-256 signing keys, "
          "each with a kid";
    ok = load_jwks(v, cfg->jwt_jwks_file);
  } else {
    var = "CARECOORD_JWT_DEV_HS256_SECRET_FILE: must hold at least 32 bytes";
    ok = load_hs256_secret(v, cfg->jwt_dev_hs256_secret_file);
  }
  if (!ok) {
    fprintf(stderr, "config: %s\n", var);
    verifier_free(v);
    return NULL;
  }
  return v;
}

void verifier_free(struct verifier *v) {
  if (!v) return;
  for (size_t i = 0; i < MAX_KEYS; i++) free(v->keys[i].material);
  token_cache_free(v->cache);
  free(v);
}

/* The key the token's header names, provided the header's alg is that key's alg. */
static const struct key *select_key(const struct verifier *v, const char *token,
                                    const char **reason) {
  const char *dot = strchr(token, '.');
  const char *dot2 = dot ? strchr(dot + 1, '.') : NULL;
  if (!dot || !dot2 || strchr(dot2 + 1, '.') || dot2[1] == '\0') {
    *reason = "not a signed JWT";
    return NULL;
  }
  size_t len = 0;
  unsigned char *raw = base64url_decode_n(token, (size_t)(dot - token), &len);
  json_t *header = raw ? json_loadb((const char *)raw, len, JSON_REJECT_DUPLICATES, NULL) : NULL;
  free(raw);
  const char *alg = json_string_value(json_object_get(header, "alg"));
  const char *kid = json_string_value(json_object_get(header, "kid"));
  const struct key *found = NULL;
  *reason = "unknown key";
  for (size_t i = 0; i < v->count && alg; i++) {
    if (v->by_kid && (!kid || strcmp(kid, v->keys[i].kid) != 0)) continue;
    found = &v->keys[i];
    break;
  }
  if (!alg) {
    *reason = "header has no alg";
    found = NULL;
  } else if (json_object_get(header, "crit")) {
    /* RFC 7515 section 4.1.11: extensions named critical must be understood, and we understand
     * none (b64=false among them), so whatever they change about the token cannot be honoured. */
    *reason = "header names critical extensions";
    found = NULL;
  } else if (found && strcmp(alg, found->alg_name) != 0) {
    *reason = "alg does not match the key";
    found = NULL;
  }
  json_decref(header);
  return found;
}

static bool number_claim(const json_t *claims, const char *name, bool required, double *out) {
  const json_t *value = json_object_get(claims, name);
  if (!value) return !required;
  if (!json_is_number(value)) return false;
  *out = json_number_value(value);
  return true;
}

static bool audience_matches(const json_t *aud, const char *expected) {
  if (json_is_string(aud)) return strcmp(json_string_value(aud), expected) == 0;
  size_t i;
  json_t *item;
  json_array_foreach(aud, i, item)
    if (json_is_string(item) && strcmp(json_string_value(item), expected) == 0) return true;
  return false;
}

static void add_role(struct principal *p, const char *name) {
  for (size_t i = 0; i < sizeof ROLE_NAMES / sizeof ROLE_NAMES[0]; i++) {
    if (strcmp(name, ROLE_NAMES[i].name) != 0 || (p->roles & ROLE_NAMES[i].bit)) continue;
    p->roles |= ROLE_NAMES[i].bit;
    size_t len = strlen(p->roles_literal);
    snprintf(p->roles_literal + len - 1, sizeof p->roles_literal - len + 1, "%s%s}",
             len > 2 ? "," : "", name);
  }
}

static bool read_roles(const json_t *claim, struct principal *p) {
  snprintf(p->roles_literal, sizeof p->roles_literal, "{}");
  if (json_is_string(claim)) {
    add_role(p, json_string_value(claim));
    return true;
  }
  if (!json_is_array(claim)) return false;
  size_t i;
  json_t *item;
  json_array_foreach(claim, i, item) {
    if (!json_is_string(item)) return false;
    add_role(p, json_string_value(item));
  }
  return true;
}

/* Checks the claims at now and fills p; *valid_until is when the token stops being valid
 * (exp plus leeway, at most CACHE_MAX_SECONDS away). Returns NULL, or why the token fails. */
static const char *check_claims(const struct verifier *v, const json_t *claims, time_t now,
                                struct principal *p, time_t *valid_until) {
  const struct config *cfg = v->cfg;
  double exp = 0, nbf = 0, iat = 0, t = (double)now, leeway = cfg->jwt_leeway_s;
  if (!number_claim(claims, "exp", true, &exp)) return "exp missing or not a number";
  if (exp + leeway <= t) return "expired";
  if (!number_claim(claims, "nbf", false, &nbf)) return "nbf not a number";
  if (nbf - leeway > t) return "not yet valid (nbf)";
  if (!number_claim(claims, "iat", false, &iat)) return "iat not a number";
  if (iat - leeway > t) return "issued in the future (iat)";
  const char *iss = json_string_value(json_object_get(claims, "iss"));
  if (!iss || strcmp(iss, cfg->jwt_issuer) != 0) return "wrong issuer";
  if (!audience_matches(json_object_get(claims, "aud"), cfg->jwt_audience)) return "wrong audience";
  const char *sub = json_string_value(json_object_get(claims, "sub"));
  if (!sub || !*sub || strlen(sub) > PRINCIPAL_SUBJECT_MAX) return "sub missing or too long";
  const json_t *org = json_object_get(claims, "org");
  if (org && (!json_is_string(org) || strlen(json_string_value(org)) > PRINCIPAL_ORG_MAX))
    return "org not a short string";
  if (!read_roles(json_object_get(claims, cfg->jwt_roles_claim), p)) return "roles claim missing";
  snprintf(p->subject, sizeof p->subject, "%s", sub);
  snprintf(p->org, sizeof p->org, "%s", org ? json_string_value(org) : "");
  /* Compared as doubles first: exp may be any JSON number, far beyond time_t. */
  double until = exp + leeway;
  *valid_until = until < t + CACHE_MAX_SECONDS ? (time_t)until : now + CACHE_MAX_SECONDS;
  return NULL;
}

void verifier_cache_stats(const struct verifier *v, struct token_cache_stats *out) {
  token_cache_stats(v->cache, out);
}

enum token_result verifier_check(const struct verifier *v, const char *token, time_t now,
                                 struct principal *principal, const char **reason) {
  memset(principal, 0, sizeof *principal);
  if (!token || !*token || strlen(token) > TOKEN_MAX_LEN) {
    *reason = "missing or oversized token";
    return TOKEN_INVALID;
  }
  if (token_cache_get(v->cache, token, now, principal)) return TOKEN_VALID;
  const struct key *key = select_key(v, token, reason);
  if (!key) return TOKEN_INVALID;
  jwt_t *jwt = NULL;
  char *grants = NULL;
  json_t *claims = NULL;
  enum token_result result = TOKEN_INVALID;
  /* Never without a key: libjwt skips the signature check when given none. */
  if (jwt_decode(&jwt, token, key->material, (int)key->len) != 0 || !jwt ||
      jwt_get_alg(jwt) != key->alg) {
    *reason = "bad signature";
    goto done;
  }
  grants = jwt_get_grants_json(jwt, NULL);
  claims = grants ? json_loads(grants, JSON_REJECT_DUPLICATES, NULL) : NULL;
  if (!json_is_object(claims)) {
    *reason = "claims are not a JSON object";
    goto done;
  }
  time_t valid_until = 0;
  *reason = check_claims(v, claims, now, principal, &valid_until);
  if (!*reason) {
    result = TOKEN_VALID;
    token_cache_put(v->cache, token, valid_until, principal);
  }
done:
  json_decref(claims);
  free(grants);
  jwt_free(jwt);
  if (result != TOKEN_VALID) memset(principal, 0, sizeof *principal);
  return result;
}
