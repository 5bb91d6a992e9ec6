/* Bearer tokens as they arrive (service/auth/jwt.c verifier_check): splitting into segments,
 * base64url decoding of the header, the header's alg and kid against a JWKS of one RSA and one
 * EC P-256 key, then libjwt's signature check and the claim checks for the few inputs that get
 * that far (the seeds include validly signed tokens). The clock is fixed and the cache of
 * verified tokens is off, so each input is judged alone.
 *
 * Properties: those of principal_check.h. */
#include <unistd.h>

#include "principal_check.h"

/* Public keys only: the seeds were signed once with their private halves, which are not kept. */
static const char JWKS[] =
    "{\"keys\":[{\"kty\":\"RSA\",\"kid\":\"rsa-1\",\"use\":\"sig\",\"alg\":\"RS256\",\"n\":"
    "\"tkMKv10sBHtWwUrZmW6Z4c5dAchrQUjNZSBWA9xtPnpAdW1utfAOXhDvkweFGOZtSyws-z10aLJq4plHliI9"
    "rt8_iHPYHFbivwwFCJRMZVcGNH3wMov32HxhP9rAcfEATVMfmv6cYXcDtOD6RC8u0JrBo1bL4FcwIZDtEJZTGA"
    "znHLZbWMgQMP06mSVAOhDLtJ9VwFpz0N8TQ9OSBJ-6jp-nFM6vmZHjY41zhAyviJf5wBc72Z67HobafvX1VuVc"
    "PWj2HhSVm5sU4unXoqXzUz_fC7Qu79ito8s1mCTDjDTdynJZShrmpq-RGurw5IGMDfykNhvGVx_unbNbpXVLFQ"
    "\",\"e\":\"AQAB\"},{\"kty\":\"EC\",\"kid\":\"ec-1\",\"use\":\"sig\",\"crv\":\"P-256\","
    "\"x\":\"amtZeoSruxe9ExhA5QWqNMDcD4d9MOUURa7HMycBOws\",\"y\":\"6w6kPlFP-_T0QjRvXF_5YObo"
    "okvTIz0keKDDtl7Oh90\"}]}";

static struct config cfg;
static struct verifier *verifier;

int LLVMFuzzerInitialize(int *argc, char ***argv) {
  (void)argc;
  (void)argv;
  const char *path = fuzz_temp_file(JWKS);
  cfg = (struct config){.jwt_issuer = FUZZ_ISSUER,
                        .jwt_audience = FUZZ_AUDIENCE,
                        .jwt_jwks_file = path,
                        .jwt_roles_claim = "roles",
                        .jwt_leeway_s = 60,
                        .jwt_cache_size = 0};
  verifier = verifier_new(&cfg);
  unlink(path);
  cfg.jwt_jwks_file = NULL;
  if (!verifier) abort();
  return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  char *token = fuzz_text_new(data, size);
  struct principal principal;
  const char *reason = NULL;
  enum token_result result = verifier_check(verifier, token, FUZZ_NOW, &principal, &reason);
  check_principal(result, &principal, reason);
  free(token);
  return 0;
}
