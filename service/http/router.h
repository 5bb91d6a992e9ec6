/* The route table and matching. Every route is declared once (http/routes.c) with its method,
 * OpenAPI path template, handler, the roles allowed and its flags; the dispatcher, the
 * `carecoord routes` listing (checked against api/openapi.yaml), metrics labels and the access
 * policy all read this one table. */
#ifndef CARECOORD_ROUTER_H
#define CARECOORD_ROUTER_H

#include <stddef.h>

struct exchange;

#define ROUTE_PUBLIC 0x01u        /* no token needed (health, readiness, metrics) */
#define ROUTE_JSON_BODY 0x02u     /* takes a JSON object body */
#define ROUTE_MERGE_PATCH 0x04u   /* body may also be application/merge-patch+json */
#define ROUTE_PERSON_RECORD 0x08u /* concerns a named person's record: audited, relationship */

struct route {
  const char *method;
  const char *path; /* OpenAPI template, e.g. /service-users/{id} */
  void (*handler)(struct exchange *x);
  unsigned roles;              /* ROLE_* allowed */
  unsigned flags;              /* ROUTE_* */
  const char *const *query;    /* accepted query parameters, NULL-terminated; NULL for none */
};

extern const struct route ROUTES[];
extern const size_t ROUTE_COUNT;

enum route_match { MATCH_FOUND, MATCH_NO_PATH, MATCH_WRONG_METHOD };

/* Finds the route for method and path in table. Literal segments win over parameters.
 * On MATCH_FOUND, params receives up to ROUTE_MAX_PARAMS new strings (caller frees).
 * On MATCH_WRONG_METHOD, allow receives the comma-separated methods the path accepts. */
enum route_match route_find(const struct route *table, size_t count, const char *method,
                            const char *path, const struct route **found, char **params,
                            size_t *param_count, char *allow, size_t allow_size);

#endif
