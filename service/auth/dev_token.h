/* Development tokens: `carecoord token` signs an RS256 JWT with the locally generated dev key so
 * that a developer can call the API without an identity provider. Never used by `serve`. */
#ifndef CARECOORD_DEV_TOKEN_H
#define CARECOORD_DEV_TOKEN_H

#include <stddef.h>

#include "config.h"

struct dev_token_request {
  const char *subject;
  const char *const *roles;
  size_t role_count;
  const char *org; /* may be NULL */
  long ttl_seconds;
};

/* Returns 0 and a new token string in *out (caller frees), or -1 with a message on stderr. */
int dev_token_mint(const struct config *cfg, const struct dev_token_request *request, char **out);

#endif
