#include "resources/record.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "resources/access.h"
#include "http/cursor.h"
#include "http/idempotency.h"
#include "http/router.h"
#include "rules/clocks.h"

#define MAX_FIELDS 32

void record_reply_db_failure(struct exchange *x, const struct constraint_problem *constraints,
                             const struct tx *tx, enum cc_status status) {
  for (const struct constraint_problem *c = constraints; c && c->constraint; c++) {
    if (strcmp(c->constraint, tx->error.constraint) != 0) continue;
    if (c->status == CC_VALIDATION) {
      struct field_errors errors = {0};
      field_errors_add(&errors, c->field, NULL, "%s", c->message);
      reply_validation(x, &errors);
    } else {
      reply_problem(x, c->status, "%s", c->message);
    }
    return;
  }
  if (status == CC_VALIDATION)
    reply_problem(x, CC_VALIDATION, "The record breaks a rule of the database.");
  else
    reply_problem(x, status, NULL);
}

static void today_in_london(char out[11]) { uk_local_date(time(NULL), out); }

/* Validates a create body, or (when merged is given) the record a merge patch produced. */
static bool validate(struct exchange *x, const struct record_type *type, const json_t *record,
                     const json_t *merged) {
  struct field_errors errors = {0};
  if (merged)
    fields_validate_merged(merged, type->fields, &errors);
  else
    fields_validate(record, type->fields, VALIDATE_CREATE, "", &errors);
  if (!errors.count && type->check) {
    char today[11];
    today_in_london(today);
    type->check(merged ? merged : record, today, &errors);
  }
  if (!errors.count) return true;
  reply_validation(x, &errors);
  return false;
}

/* Parameters from a record's members, for the fields selected by include(). */
static size_t record_params(const struct record_type *type, const json_t *record,
                            bool (*include)(const struct field_spec *), char **params) {
  size_t n = 0;
  for (const struct field_spec *s = type->fields; s->name && n < MAX_FIELDS; s++)
    if (include(s)) params[n++] = fields_param_new(json_object_get(record, s->name));
  return n;
}

static void free_params(char **params, size_t n) {
  for (size_t i = 0; i < n; i++) free(params[i]);
}

static bool is_writable(const struct field_spec *s) { return !(s->flags & FIELD_READ_ONLY); }
static bool is_mutable(const struct field_spec *s) {
  return !(s->flags & (FIELD_READ_ONLY | FIELD_IMMUTABLE));
}

static const char *person_of(const struct record_type *type, const char *id) {
  return type->person_record ? id : NULL;
}

static enum cc_status audit(struct exchange *x, struct tx *tx, const struct record_type *type,
                            const char *action, const char *id, const json_t *details) {
  struct audit_event event = {.action = action, .resource_type = type->resource_type,
                              .resource_id = id, .service_user_id = person_of(type, id),
                              .outcome = "success", .details = details};
  return audit_append(tx, &x->actor, &event);
}

/* Runs stmt ($1 the record's id) for a record the caller means to read or change, and decides
 * the access policy for a person's record (resources/access.h) in the same round trip: the
 * record comes back beside the relationship, and is used only if the policy allows. Records that
 * are not a person's are not subject to it. Returns false after replying (404 for an unknown
 * person, 403 after the deny event, or the failure). */
static bool fetch_authorised(struct exchange *x, struct tx *tx, const struct record_type *type,
                             const char *id, enum access_action action, bool break_glass,
                             const struct db_stmt *stmt, PGresult **res,
                             enum access_decision *decision) {
  *decision = ACCESS_ALLOW;
  const struct db_stmt *stmts[] = {&POLICY_RELATIONSHIP, stmt};
  const char *const *params[] = {(const char *const[]){x->principal.subject, id},
                                 (const char *const[]){id}};
  PGresult *results[2] = {NULL, NULL};
  size_t first = type->person_record ? 0 : 1;
  enum cc_status status = tx_exec_batch(tx, 2 - first, stmts + first, params + first,
                                        results + first);
  bool allowed = status == CC_OK;
  if (!allowed) reply_problem(x, status, NULL);
  if (allowed && type->person_record) {
    struct access_target target = {type->resource_type, id, id};
    allowed = access_person_decide(x, tx, &target, action, break_glass, results[0], decision);
  }
  PQclear(results[0]);
  *res = allowed ? results[1] : NULL;
  if (!allowed) PQclear(results[1]);
  return allowed;
}

/* Columns (id, version, json) of a one-row result. */
struct row {
  const char *id, *version, *json;
};

static struct row row_of(PGresult *res) {
  return (struct row){PQgetvalue(res, 0, 0), PQgetvalue(res, 0, 1), PQgetvalue(res, 0, 2)};
}

bool record_body_valid(struct exchange *x, const struct field_spec *fields,
                       enum validate_mode mode) {
  struct field_errors errors = {0};
  fields_validate(x->body, fields, mode, "", &errors);
  if (!errors.count) return true;
  reply_validation(x, &errors);
  return false;
}

void record_create(struct exchange *x, const struct record_type *type) {
  if (!validate(x, type, x->body, NULL)) return;
  /* A prepared insert names every column, so absent members take their declared fallback. */
  json_t *record = json_deep_copy(x->body);
  for (const struct field_spec *s = type->fields; s->name; s++) {
    if (!is_writable(s) || json_object_get(record, s->name)) continue;
    json_t *fallback = s->fallback ? json_loads(s->fallback, JSON_DECODE_ANY, NULL) : NULL;
    json_object_set_new(record, s->name, fallback ? fallback : json_null());
  }
  char *params[MAX_FIELDS];
  size_t n = record_params(type, record, is_writable, params);
  json_decref(record);

  struct tx tx;
  PGresult *res = NULL;
  enum idempotency_state idem = IDEMPOTENCY_NONE;
  enum cc_status status = tx_begin(x->app->pool, &tx);
  if (status != CC_OK) {
    reply_problem(x, status, NULL);
    goto done;
  }
  if (idempotency_begin(x, &tx, &idem) != CC_OK || idem == IDEMPOTENCY_REPLAYED) goto done;
  status = tx_exec(&tx, type->insert, (const char *const *)params, &res);
  if (status != CC_OK) {
    record_reply_db_failure(x, type->constraints, &tx, status);
    goto done;
  }
  struct row row = row_of(res);
  char location[160], etag[40];
  snprintf(location, sizeof location, "%s/%s", type->collection_path, row.id);
  snprintf(etag, sizeof etag, "\"%s\"", row.version);
  status = audit(x, &tx, type, "create", row.id, NULL);
  if (status == CC_OK && idem == IDEMPOTENCY_CLAIMED)
    status = idempotency_store(x, &tx, 201, row.json, location, etag);
  if (status == CC_OK) status = tx_commit(&tx);
  if (status != CC_OK) {
    reply_problem(x, status, NULL);
    goto done;
  }
  reply_header(x, "Location", location);
  reply_header(x, "ETag", etag);
  reply_json_text(x, 201, row.json);
done:
  PQclear(res);
  tx_end(&tx);
  free_params(params, n);
}

/* The {id} path parameter, or NULL after replying 404: a malformed id names no record. */
static const char *record_id_or_404(struct exchange *x, const struct record_type *type) {
  const char *id = x->params[0];
  if (text_is_uuid(id)) return id;
  reply_problem(x, CC_NOT_FOUND, "No %s has this id.", type->resource_type);
  return NULL;
}

void record_get(struct exchange *x, const struct record_type *type) {
  const char *id = record_id_or_404(x, type);
  if (!id) return;
  const char *reason = NULL;
  if (type->person_record && !access_break_glass_reason(x, &reason)) return;
  struct tx tx;
  PGresult *res = NULL;
  enum access_decision decision = ACCESS_ALLOW;
  enum cc_status status = tx_begin(x->app->pool, &tx);
  if (status != CC_OK) {
    reply_problem(x, status, NULL);
    goto done;
  }
  if (!fetch_authorised(x, &tx, type, id, ACCESS_READ, reason != NULL, type->select, &res,
                        &decision))
    goto done;
  if (PQntuples(res) == 0) {
    reply_problem(x, CC_NOT_FOUND, "No %s has this id.", type->resource_type);
    goto done;
  }
  /* A person's record is shown only once its read event is committed; a break-glass read
   * carries its reason (R-AUD-1). */
  if (type->person_record) {
    struct access_target target = {type->resource_type, id, id};
    status = access_audit_read(x, &tx, &target, decision, reason);
  }
  record_commit_reply(x, &tx, status, res);
done:
  PQclear(res);
  tx_end(&tx);
}

void record_update(struct exchange *x, const struct record_type *type) {
  const char *id = record_id_or_404(x, type);
  if (!id) return;
  long expected = 0;
  if (exchange_if_match(x, &expected) != CC_OK) return;
  struct field_errors errors = {0};
  fields_validate(x->body, type->fields, VALIDATE_PATCH, "", &errors);
  if (errors.count) {
    reply_validation(x, &errors);
    return;
  }

  struct tx tx;
  PGresult *res = NULL, *updated = NULL;
  json_t *current = NULL, *merged = NULL, *changes = NULL, *details = NULL;
  char *params[MAX_FIELDS + 1];
  size_t n = 0;
  enum access_decision decision = ACCESS_ALLOW;
  enum cc_status status = tx_begin(x->app->pool, &tx);
  if (status != CC_OK) {
    reply_problem(x, status, NULL);
    goto done;
  }
  /* Break-glass never covers a change: asking for it here is refused like any other write. */
  if (!fetch_authorised(x, &tx, type, id, ACCESS_WRITE, access_break_glass_requested(x),
                        type->lock, &res, &decision))
    goto done;
  if (PQntuples(res) == 0) {
    reply_problem(x, CC_NOT_FOUND, "No %s has this id.", type->resource_type);
    goto done;
  }
  struct row row = row_of(res);
  if (atol(row.version) != expected) {
    reply_etag(x, row.version);
    reply_problem(x, CC_PRECONDITION_FAILED,
                  "The record has changed since you read it (now version %s); read it again "
                  "and reapply your change.",
                  row.version);
    goto done;
  }
  current = json_loads(row.json, 0, NULL);
  merged = fields_merge_patch_new(current, x->body);
  if (!validate(x, type, x->body, merged)) goto done;

  params[n++] = strdup(id);
  n += record_params(type, merged, is_mutable, params + 1);
  status = tx_exec(&tx, type->update, (const char *const *)params, &updated);
  if (status != CC_OK) {
    record_reply_db_failure(x, type->constraints, &tx, status);
    goto done;
  }
  changes = fields_changes_new(current, merged, type->fields);
  details = json_pack("{s:O}", "changes", changes);
  status = audit(x, &tx, type, "update", id, details);
  record_commit_reply(x, &tx, status, updated);
done:
  free_params(params, n);
  json_decref(details);
  json_decref(changes);
  json_decref(merged);
  json_decref(current);
  PQclear(updated);
  PQclear(res);
  tx_end(&tx);
}

void record_commit_reply(struct exchange *x, struct tx *tx, enum cc_status status, PGresult *res) {
  if (status == CC_OK) status = tx_commit(tx);
  if (status != CC_OK) {
    reply_problem(x, status, NULL);
    return;
  }
  reply_etag(x, PQgetvalue(res, 0, 1));
  reply_json_text(x, 200, PQgetvalue(res, 0, 2));
}

enum cc_status record_cursor(struct exchange *x, size_t count, char **parts) {
  for (size_t i = 0; i < count; i++) parts[i] = NULL;
  const char *text = exchange_query(x, "cursor");
  if (!text) return CC_OK;
  bool valid = cursor_decode(text, count, parts) == CC_OK;
  for (size_t i = 0; valid && i < count; i++) valid = text_is_uuid(parts[i]);
  if (!valid) {
    cursor_parts_free(parts, count);
    reply_problem(x, CC_BAD_REQUEST, "The cursor is not one this service issued.");
    return CC_BAD_REQUEST;
  }
  return CC_OK;
}

/* Percent-encodes a query value (RFC 3986 unreserved characters pass). Caller frees. */
static char *url_encode(const char *text) {
  static const char HEX[] = "0123456789ABCDEF";
  char *out = malloc(strlen(text) * 3 + 1), *o = out;
  if (!out) return NULL;
  for (const unsigned char *s = (const unsigned char *)text; *s; s++) {
    if ((*s >= 'A' && *s <= 'Z') || (*s >= 'a' && *s <= 'z') || (*s >= '0' && *s <= '9') ||
        *s == '-' || *s == '_' || *s == '.' || *s == '~') {
      *o++ = (char)*s;
    } else {
      *o++ = '%';
      *o++ = HEX[*s >> 4];
      *o++ = HEX[*s & 15];
    }
  }
  *o = '\0';
  return out;
}

void record_reply_next_link(struct exchange *x, const char *cursor) {
  size_t cap = 256 + strlen(x->request->url_path) + strlen(cursor);
  for (const char *const *q = x->route->query; q && *q; q++) {
    const char *v = exchange_query(x, *q);
    if (v) cap += strlen(*q) + strlen(v) * 3 + 2;
  }
  char *link = malloc(cap);
  if (!link) return;
  size_t len = (size_t)snprintf(link, cap, "<%s?", x->request->url_path);
  for (const char *const *q = x->route->query; q && *q; q++) {
    const char *v = exchange_query(x, *q);
    if (!v || strcmp(*q, "cursor") == 0) continue;
    char *encoded = url_encode(v);
    if (encoded) len += (size_t)snprintf(link + len, cap - len, "%s=%s&", *q, encoded);
    free(encoded);
  }
  snprintf(link + len, cap - len, "cursor=%s>; rel=\"next\"", cursor);
  reply_header(x, "Link", link);
  free(link);
}

void record_list(struct exchange *x, const struct record_type *type, const struct db_stmt *stmt,
                 const char **params, int limit, size_t cursor_parts) {
  struct tx tx;
  enum cc_status status = tx_begin(x->app->pool, &tx);
  if (status == CC_OK)
    record_list_in(x, &tx, type, stmt, params, limit, cursor_parts);
  else
    reply_problem(x, status, NULL);
  tx_end(&tx);
}

void record_list_in(struct exchange *x, struct tx *tx, const struct record_type *type,
                    const struct db_stmt *stmt, const char **params, int limit,
                    size_t cursor_parts) {
  char limit_text[16];
  snprintf(limit_text, sizeof limit_text, "%d", limit + 1);
  params[stmt->nparams - 1] = limit_text;

  PGresult *res = NULL;
  json_t *ids = NULL, *details = NULL;
  char *cursor = NULL, *body = NULL;
  enum cc_status status = tx_plan_for_values(tx);
  if (status == CC_OK) status = tx_exec(tx, stmt, params, &res);
  if (status != CC_OK) {
    reply_problem(x, status, NULL);
    goto done;
  }
  int rows = PQntuples(res);
  int shown = rows > limit ? limit : rows;
  if (rows > limit) {
    const char *parts[CURSOR_MAX_PARTS];
    for (size_t i = 0; i < cursor_parts; i++) parts[i] = PQgetvalue(res, shown - 1, 3 + (int)i);
    cursor = cursor_encode(parts, cursor_parts);
  }
  /* The representations are PostgreSQL's JSON text; the page is assembled around them. */
  size_t cap = 64 + (cursor ? strlen(cursor) : 0);
  for (int r = 0; r < shown; r++) cap += (size_t)PQgetlength(res, r, 2) + 1;
  body = malloc(cap);
  if (!body) {
    reply_problem(x, CC_INTERNAL, NULL);
    goto done;
  }
  size_t len = (size_t)snprintf(body, cap, "{\"items\":[");
  ids = json_array();
  for (int r = 0; r < shown; r++) {
    len += (size_t)snprintf(body + len, cap - len, "%s%s", r ? "," : "", PQgetvalue(res, r, 2));
    json_array_append_new(ids, json_string(PQgetvalue(res, r, 0)));
  }
  if (cursor)
    snprintf(body + len, cap - len, "],\"next_cursor\":\"%s\"}", cursor);
  else
    snprintf(body + len, cap - len, "],\"next_cursor\":null}");

  if (type->person_record || type->about_person) {
    /* One read event per list, naming every record and person shown. */
    details = json_pack("{s:O}", "ids", ids);
    if (type->about_person) {
      json_t *people = json_array();
      for (int r = 0; r < shown; r++)
        json_array_append_new(people, json_string(PQgetvalue(res, r, 3 + (int)cursor_parts)));
      json_object_set_new(details, "service_user_ids", people);
    }
    struct audit_event event = {.action = "read", .resource_type = type->resource_type,
                                .outcome = "success", .details = details};
    status = audit_append(tx, &x->actor, &event);
  }
  if (status == CC_OK) status = tx_commit(tx);
  if (status != CC_OK) {
    reply_problem(x, status, NULL);
    goto done;
  }
  if (cursor) record_reply_next_link(x, cursor);
  reply_json_text(x, 200, body);
done:
  free(body);
  free(cursor);
  json_decref(details);
  json_decref(ids);
  PQclear(res);
}
