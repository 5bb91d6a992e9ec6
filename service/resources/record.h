/* The shared shape of a stored record resource: create (with Idempotency-Key), read one (ETag),
 * merge-patch update (If-Match) and keyset-paginated lists, each in one transaction with its
 * audit event. A resource file declares its record_type (fields, SQL, constraint messages and
 * cross-field rules) and its list filters; everything else is here, written once.
 *
 * SQL contract: insert, select, lock and update return (id, version, representation JSON text);
 * list statements return those three columns followed by the sort-key columns that the cursor
 * carries. PostgreSQL builds the representation so reads need no JSON work in C. */
#ifndef CARECOORD_RECORD_H
#define CARECOORD_RECORD_H

#include "db/db.h"
#include "fields.h"
#include "http/exchange.h"

/* How a named database constraint violation is explained to the client. */
struct constraint_problem {
  const char *constraint;
  enum cc_status status; /* CC_CONFLICT or CC_VALIDATION */
  const char *field;     /* JSON Pointer, for CC_VALIDATION */
  const char *message;
};

struct record_type {
  const char *resource_type;   /* audit resource type, e.g. service_user */
  const char *collection_path; /* for Location, e.g. /service-users */
  const struct field_spec *fields;
  /* A person's record: reads are audited (service_user_id = id), and reading or changing one
   * is decided by the access policy (auth/policy.h) in the request's transaction, refusals being
   * audited as deny; a list statement must apply POLICY_LIST_CONDITION itself. */
  bool person_record;
  /* A record about a person (a referral, an episode): each list row carries, after its cursor
   * columns, the id of the person it is about, and a list's read event names them too. */
  bool about_person;
  const struct db_stmt *insert; /* writable fields in table order */
  const struct db_stmt *select; /* $1 id */
  const struct db_stmt *lock;   /* $1 id, FOR UPDATE */
  const struct db_stmt *update; /* $1 id, then mutable fields in table order */
  const struct constraint_problem *constraints; /* ends with {0} */
  /* Rules beyond a single field (may be NULL); today is the date in Europe/London. */
  void (*check)(const json_t *record, const char *today, struct field_errors *errors);
};

/* Validates the request body against fields (fields.h); replies 422 listing every problem and
 * returns false when there is one. */
bool record_body_valid(struct exchange *x, const struct field_spec *fields,
                       enum validate_mode mode);

void record_create(struct exchange *x, const struct record_type *type);
void record_get(struct exchange *x, const struct record_type *type);
void record_update(struct exchange *x, const struct record_type *type);

/* Runs a list statement whose last parameter is the row limit (limit + 1 rows are fetched to
 * learn whether another page exists) and replies with {items, next_cursor} and a Link header.
 * cursor_parts is how many sort-key columns follow the first three. */
void record_list(struct exchange *x, const struct record_type *type, const struct db_stmt *stmt,
                 const char **params, int limit, size_t cursor_parts);

/* record_list in the caller's transaction tx (begun, e.g. after an access check), which it
 * commits on success; the caller ends tx. */
void record_list_in(struct exchange *x, struct tx *tx, const struct record_type *type,
                    const struct db_stmt *stmt, const char **params, int limit,
                    size_t cursor_parts);

/* The end of a handler that read or changed one record: commits tx when status is CC_OK, then
 * replies 200 with the record of res (columns id, version, representation JSON) and its ETag;
 * replies with the failure otherwise. */
void record_commit_reply(struct exchange *x, struct tx *tx, enum cc_status status, PGresult *res);

/* Replies for a failed statement, explaining a constraint named in constraints (ends with {0})
 * in the client's terms: 422 with the field, or 409. */
void record_reply_db_failure(struct exchange *x, const struct constraint_problem *constraints,
                             const struct tx *tx, enum cc_status status);

/* Link: <path?filters&cursor=…>; rel="next", keeping the caller's filters and limit. */
void record_reply_next_link(struct exchange *x, const char *cursor);

/* Decodes the cursor query parameter into parts, each the id of a row (NULLs when absent).
 * Replies 400 and returns CC_BAD_REQUEST when malformed. */
enum cc_status record_cursor(struct exchange *x, size_t count, char **parts);

#endif
