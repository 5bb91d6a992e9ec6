#include "auth/dev_token.h"

#include <jansson.h>
#include <jwt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static unsigned char *read_file(const char *path, size_t *len) {
  FILE *f = fopen(path, "rb");
  if (!f) return NULL;
  unsigned char *data = malloc(65536);
  size_t n = data ? fread(data, 1, 65535, f) : 0;
  fclose(f);
  if (!data || n == 0) {
    free(data);
    return NULL;
  }
  data[n] = '\0';
  *len = n;
  return data;
}

int dev_token_mint(const struct config *cfg, const struct dev_token_request *request, char **out) {
  if (!cfg->dev_signing_key_file) {
    fprintf(stderr, "token: CARECOORD_DEV_SIGNING_KEY_FILE is not set\n");
    return -1;
  }
  size_t key_len = 0;
  unsigned char *key = read_file(cfg->dev_signing_key_file, &key_len);
  if (!key) {
    fprintf(stderr, "token: cannot read CARECOORD_DEV_SIGNING_KEY_FILE\n");
    return -1;
  }
  long now = (long)time(NULL);
  json_t *roles = json_array();
  for (size_t i = 0; i < request->role_count; i++)
    json_array_append_new(roles, json_string(request->roles[i]));
  json_t *claims = json_pack("{s:s, s:s, s:s, s:I, s:I, s:I}", "iss", cfg->jwt_issuer, "aud",
                             cfg->jwt_audience, "sub", request->subject, "iat", (json_int_t)now,
                             "nbf", (json_int_t)now, "exp",
                             (json_int_t)(now + request->ttl_seconds));
  json_object_set_new(claims, cfg->jwt_roles_claim, roles);
  if (request->org) json_object_set_new(claims, "org", json_string(request->org));
  char *claims_text = json_dumps(claims, JSON_COMPACT);
  json_decref(claims);

  int rc = -1;
  jwt_t *jwt = NULL;
  if (!claims_text || jwt_new(&jwt) != 0) goto done;
  if (jwt_add_grants_json(jwt, claims_text) != 0 ||
      jwt_set_alg(jwt, JWT_ALG_RS256, key, (int)key_len) != 0) {
    fprintf(stderr, "token: the dev signing key is not a usable RSA private key\n");
    goto done;
  }
  *out = jwt_encode_str(jwt);
  if (!*out) {
    fprintf(stderr, "token: signing failed\n");
    goto done;
  }
  rc = 0;
done:
  jwt_free(jwt);
  free(claims_text);
  free(key);
  return rc;
}
