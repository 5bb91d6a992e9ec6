/* RFC 9457 problem details. One builder, as PostgreSQL's ereport: a machine type (from the
 * status table), a title, a detail for this occurrence, and field errors for validation. */
#ifndef CARECOORD_PROBLEM_H
#define CARECOORD_PROBLEM_H

#include <jansson.h>
#include <stddef.h>

#include "status.h"

#define PROBLEM_TYPE_PREFIX "urn:carecoord:problem:"
#define FIELD_ERRORS_MAX 64

struct field_error {
  char field[160];  /* JSON Pointer to the offending member, e.g. /address/postcode */
  char reason[160];
  const char *rule; /* DOMAIN.md rule id the check enforces, or NULL */
};

struct field_errors {
  size_t count;
  struct field_error items[FIELD_ERRORS_MAX];
};

void field_errors_add(struct field_errors *errors, const char *pointer, const char *rule,
                      const char *fmt, ...) __attribute__((format(printf, 4, 5)));

/* A new problem object (caller owns). errors may be NULL; instance and request_id may be NULL. */
json_t *problem_new(enum cc_status status, const char *detail, const char *instance,
                    const char *request_id, const struct field_errors *errors);

#endif
