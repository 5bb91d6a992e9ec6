/* What follows a completed transfer (DOMAIN.md care cycle step 8; R-TRF-3, R-TRF-4): the contacts
 * recorded against it, and the end of an out-of-area placement.
 *
 * R-TRF-3: after a hospital discharge a face-to-face follow-up is due within the policy's days of
 * the discharge; each follow-up contact is recorded (when, face to face or not, by whom), and one
 * face to face on or after the discharge date satisfies the clock (a contact by telephone is
 * recorded but does not). R-TRF-4: while an out-of-area placement lasts the co-ordinator liaises
 * at least every policy interval; each liaison contact is recorded, and PATCH of the transfer
 * records the day the placement ended, which stops the clock. The clocks themselves are shown on
 * the transfer (resources/transfers.c); here they only decide which contacts make sense.
 *
 * Contacts are part of the person's record: access is the person's (auth/policy.h), reads are
 * audited (break-glass allowed), writes need the relationship. The audit trail names the contact's
 * kind and date, never its notes or the name of who made it. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "http/idempotency.h"
#include "resources/episodes.h"
#include "resources/record.h"
#include "resources/resources.h"
#include "resources/transfers.h"
#include "rules/clocks.h"

#define CONTACT_RESOURCE "transfer_contact"
#define TRANSFER_RESOURCE "transfer"
#define NOT_FOUND "No transfer of this episode has this id."

static const char *const KINDS[] = {"follow_up", "liaison", NULL};

/* The body of POST …/contacts. Who made the contact: a staff member (by_staff_id) or someone
 * named (by_name), exactly one of them (check_contact). */
static const struct field_spec CONTACT_FIELDS[] = {
    {.name = "kind", .kind = FIELD_ENUM, .flags = FIELD_REQUIRED, .choices = KINDS},
    /* Not after today, not before the transfer allows (check_contact_dates). */
    {.name = "contact_on", .kind = FIELD_DATE, .flags = FIELD_REQUIRED},
    {.name = "face_to_face", .kind = FIELD_BOOL, .flags = FIELD_REQUIRED},
    {.name = "by_staff_id", .kind = FIELD_UUID, .flags = FIELD_NULLABLE},
    {.name = "by_name", .kind = FIELD_STRING, .flags = FIELD_NULLABLE, .min_len = 1,
     .max_len = 200},
    {.name = "notes", .kind = FIELD_TEXT, .flags = FIELD_NULLABLE, .min_len = 1, .max_len = 2000},
    {0}};

/* The body of PATCH of a transfer: the only member that changes after completion. Everything
 * else follows the transfer's lifecycle (decision, completion, cancellation) or never changes. */
static const struct field_spec TRANSFER_PATCH_FIELDS[] = {
    {.name = "placement_ended_on", .kind = FIELD_DATE, .flags = FIELD_REQUIRED},
    {0}};

#define CONTACT_JSON                                                                             \
  "json_build_object('id', c.id, 'transfer_id', c.transfer_id, 'kind', c.kind,"                 \
  " 'contact_on', c.contact_on, 'face_to_face', c.face_to_face, 'by_staff_id', c.by_staff_id,"   \
  " 'by_name', c.by_name, 'notes', c.notes, 'recorded_at', c.recorded_at,"                       \
  " 'recorded_by', c.recorded_by)"

/* What decides whether a contact may be recorded against transfer $1 of episode $2: its type and
 * status, when it was completed (whole seconds since the epoch), the day of a hospital discharge
 * and whether an out-of-area placement has ended. FOR SHARE: the placement cannot end (PATCH
 * locks the row) while a liaison contact is being recorded against it. */
static const struct db_stmt TRANSFER_FACTS = {
    "transfer_contacts_transfer_facts",
    "SELECT t.type, t.status, floor(extract(epoch FROM t.completed_at))::bigint,"
    " t.details ->> 'discharged_on', t.placement_ended_on IS NOT NULL"
    " FROM transfers t WHERE t.id = $1::uuid AND t.episode_id = $2::uuid FOR SHARE",
    2};
enum { FACT_TYPE, FACT_STATUS, FACT_COMPLETED, FACT_DISCHARGED_ON, FACT_PLACEMENT_ENDED };

static const struct db_stmt STAFF_ACTIVE = {
    "transfer_contacts_staff_active",
    "SELECT EXISTS (SELECT 1 FROM staff WHERE id = $1::uuid AND active)", 1};

static const struct db_stmt INSERT = {
    "transfer_contacts_insert",
    "INSERT INTO transfer_contacts AS c (transfer_id, kind, contact_on, face_to_face,"
    " by_staff_id, by_name, notes, recorded_by)"
    " VALUES ($1::uuid, $2, $3::date, $4::boolean, $5::uuid, $6, $7, $8)"
    " RETURNING c.id, " CONTACT_JSON "::text",
    8};

/* The transfer $1 of episode $2 with its contacts, oldest first: no row when the episode has no
 * such transfer, one row with a NULL contact id when it has no contacts yet. */
static const struct db_stmt LIST = {
    "transfer_contacts_list",
    "SELECT c.id::text, " CONTACT_JSON "::text FROM transfers t"
    " LEFT JOIN transfer_contacts c ON c.transfer_id = t.id"
    " WHERE t.id = $1::uuid AND t.episode_id = $2::uuid"
    " ORDER BY c.contact_on, c.recorded_at, c.id",
    2};

/* The transfer to change, locked: its version, type, status, completion (seconds since the
 * epoch) and the day its placement ended (NULL while it lasts). */
static const struct db_stmt TRANSFER_LOCK = {
    "transfer_contacts_transfer_lock",
    "SELECT t.version, t.type, t.status, floor(extract(epoch FROM t.completed_at))::bigint,"
    " t.placement_ended_on::text FROM transfers t"
    " WHERE t.id = $1::uuid AND t.episode_id = $2::uuid FOR UPDATE",
    2};
enum { LOCKED_VERSION, LOCKED_TYPE, LOCKED_STATUS, LOCKED_COMPLETED, LOCKED_PLACEMENT_ENDED };

/* R-TRF-4: the placement ends; the guard repeats what the handler checked under the lock.
 * Returns the transfer as GET shows it, with what its clock is computed from (transfers.h). */
static const struct db_stmt END_PLACEMENT = {
    "transfer_contacts_end_placement",
    "UPDATE transfers AS t SET placement_ended_on = $2::date, updated_at = now(),"
    " version = t.version + 1"
    " WHERE t.id = $1::uuid AND t.type = 'out_of_area' AND t.status = 'completed'"
    " AND t.placement_ended_on IS NULL"
    " RETURNING " TRANSFER_COLUMNS("t") ", t.status, " TRANSFER_CLOCK_FACTS("t"),
    2};

static bool member_present(const json_t *record, const char *name) {
  const json_t *value = json_object_get(record, name);
  return value && !json_is_null(value);
}

/* The London date of today, and whether `date` (a valid YYYY-MM-DD) is after it. */
static bool is_after_today(const char *date, char today[CIVIL_DATE_TEXT_LEN]) {
  uk_local_date(time(NULL), today);
  struct civil_date d, t;
  return civil_date_parse(date, &d) && civil_date_parse(today, &t) && civil_date_compare(d, t) > 0;
}

/* Whether the valid date `date` is before `bound` (a date, or NULL for no bound). */
static bool is_before(const char *date, const char *bound) {
  struct civil_date d, b;
  return bound && civil_date_parse(date, &d) && civil_date_parse(bound, &b) &&
         civil_date_compare(d, b) < 0;
}

/* The London date of the instant in column col of res's first row ("" when null). */
static void london_date_of(PGresult *res, int col, char out[CIVIL_DATE_TEXT_LEN]) {
  out[0] = '\0';
  if (!PQgetisnull(res, 0, col)) uk_local_date((time_t)atoll(PQgetvalue(res, 0, col)), out);
}

/* The rules of a contact body that need nothing but the body. */
static void check_contact(const json_t *body, struct field_errors *errors) {
  bool by_staff = member_present(body, "by_staff_id"), by_name = member_present(body, "by_name");
  if (!by_staff && !by_name)
    field_errors_add(errors, "/by_staff_id", NULL,
                     "or by_name is required: say who made the contact (a staff member, or the "
                     "name of someone else)");
  else if (by_staff && by_name)
    field_errors_add(errors, "/by_name", NULL,
                     "is only for someone not on the staff: give by_staff_id or by_name, not both");
  char today[CIVIL_DATE_TEXT_LEN];
  if (is_after_today(json_string_value(json_object_get(body, "contact_on")), today))
    field_errors_add(errors, "/contact_on", NULL,
                     "must not be after today (%s): record a contact once it has happened", today);
}

/* Which contacts the transfer takes (409 otherwise): follow-ups after a completed hospital
 * discharge (R-TRF-3), liaison during a completed out-of-area placement that has not ended
 * (R-TRF-4). Returns false after replying. */
static bool check_transfer_takes(struct exchange *x, const char *kind, PGresult *facts) {
  bool follow_up = strcmp(kind, "follow_up") == 0;
  const char *wanted = follow_up ? "hospital_discharge" : "out_of_area";
  const char *type = PQgetvalue(facts, 0, FACT_TYPE), *status = PQgetvalue(facts, 0, FACT_STATUS);
  if (strcmp(type, wanted) != 0) {
    reply_problem(x, CC_CONFLICT,
                  follow_up ? "Follow-up contacts are recorded after a hospital discharge "
                              "(R-TRF-3); this transfer is %s."
                            : "Liaison contacts are recorded during an out-of-area placement "
                              "(R-TRF-4); this transfer is %s.",
                  type);
    return false;
  }
  if (strcmp(status, "completed") != 0) {
    reply_problem(x, CC_CONFLICT,
                  "This transfer is %s: its %s contacts are recorded once it is completed.",
                  status, follow_up ? "follow-up" : "liaison");
    return false;
  }
  if (!follow_up && strcmp(PQgetvalue(facts, 0, FACT_PLACEMENT_ENDED), "t") == 0) {
    reply_problem(x, CC_CONFLICT,
                  "The out-of-area placement has ended: liaison about it is no longer recorded "
                  "(R-TRF-4).");
    return false;
  }
  return true;
}

/* A contact is not before what it follows: the discharge for a follow-up (R-TRF-3; the
 * completion when the transfer names no discharge day), the start of the placement for liaison
 * (R-TRF-4). */
static void check_contact_dates(const json_t *body, PGresult *facts, struct field_errors *errors) {
  const char *kind = json_string_value(json_object_get(body, "kind"));
  const char *contact_on = json_string_value(json_object_get(body, "contact_on"));
  bool follow_up = strcmp(kind, "follow_up") == 0;
  char completed[CIVIL_DATE_TEXT_LEN];
  london_date_of(facts, FACT_COMPLETED, completed);
  const char *discharged_on = PQgetisnull(facts, 0, FACT_DISCHARGED_ON)
                                  ? NULL
                                  : PQgetvalue(facts, 0, FACT_DISCHARGED_ON);
  const char *bound = follow_up && civil_date_parse(discharged_on, &(struct civil_date){0})
                          ? discharged_on
                          : completed[0] ? completed : NULL;
  if (is_before(contact_on, bound))
    field_errors_add(errors, "/contact_on", follow_up ? "R-TRF-3" : "R-TRF-4",
                     follow_up ? "must not be before the discharge from hospital (%s)"
                               : "must not be before the placement started (%s)",
                     bound);
}

/* by_staff_id names an active staff member. */
static enum cc_status check_staff(struct tx *tx, const json_t *body, struct field_errors *errors) {
  const char *staff_id = json_string_value(json_object_get(body, "by_staff_id"));
  if (!staff_id) return CC_OK;
  PGresult *res = NULL;
  enum cc_status status = tx_exec(tx, &STAFF_ACTIVE, (const char *const[]){staff_id}, &res);
  if (status == CC_OK && strcmp(PQgetvalue(res, 0, 0), "t") != 0)
    field_errors_add(errors, "/by_staff_id", NULL, "must name an active staff member");
  PQclear(res);
  return status;
}

void transfer_contacts_create(struct exchange *x) {
  const char *transfer_id = episode_child_id(x, NOT_FOUND);
  if (!transfer_id || !record_body_valid(x, CONTACT_FIELDS, VALIDATE_CREATE)) return;
  struct field_errors errors = {0};
  check_contact(x->body, &errors);
  if (errors.count) {
    reply_validation(x, &errors);
    return;
  }
  struct tx tx;
  struct episode ep;
  struct episode_fetch facts = {&TRANSFER_FACTS, (const char *const[]){transfer_id, x->params[0]},
                                NULL};
  PGresult *res = NULL;
  char *params[8] = {0};
  json_t *details = NULL;
  enum access_decision decision;
  enum idempotency_state idem = IDEMPOTENCY_NONE;
  enum cc_status status = tx_begin(x->app->pool, &tx);
  if (status != CC_OK) goto failed;
  if (!episode_access_with(x, &tx, CONTACT_RESOURCE, NULL, false, ACCESS_WRITE,
                           access_break_glass_requested(x), &ep, &decision, &facts))
    goto done;
  if (PQntuples(facts.result) == 0) {
    reply_problem(x, CC_NOT_FOUND, NOT_FOUND);
    goto done;
  }
  if (!ep.open) {
    reply_problem(x, CC_CONFLICT,
                  "The episode is closed: contacts are recorded against open episodes.");
    goto done;
  }
  const char *kind = json_string_value(json_object_get(x->body, "kind"));
  if (!check_transfer_takes(x, kind, facts.result)) goto done;
  check_contact_dates(x->body, facts.result, &errors);
  if (!errors.count) status = check_staff(&tx, x->body, &errors);
  if (status != CC_OK) goto failed;
  if (errors.count) {
    reply_validation(x, &errors);
    goto done;
  }
  /* Claimed after the access step, whose refusal commits: a refused request leaves no key. */
  if (idempotency_begin(x, &tx, &idem) != CC_OK || idem == IDEMPOTENCY_REPLAYED) goto done;
  params[0] = strdup(transfer_id);
  params[1] = strdup(kind);
  params[2] = fields_param_new(json_object_get(x->body, "contact_on"));
  params[3] = fields_param_new(json_object_get(x->body, "face_to_face"));
  params[4] = fields_param_new(json_object_get(x->body, "by_staff_id"));
  params[5] = fields_param_new(json_object_get(x->body, "by_name"));
  params[6] = fields_param_new(json_object_get(x->body, "notes"));
  params[7] = strdup(x->principal.subject);
  status = tx_exec(&tx, &INSERT, (const char *const *)params, &res);
  if (status == CC_OK && PQntuples(res) != 1) status = CC_INTERNAL;
  if (status != CC_OK) goto failed;
  details = json_pack("{s:s, s:s, s:s, s:b}", "transfer_id", transfer_id, "kind", kind,
                      "contact_on", params[2], "face_to_face",
                      json_is_true(json_object_get(x->body, "face_to_face")));
  status = episode_audit(x, &tx, "create", CONTACT_RESOURCE, PQgetvalue(res, 0, 0), &ep, details);
  if (status == CC_OK && idem == IDEMPOTENCY_CLAIMED)
    status = idempotency_store(x, &tx, 201, PQgetvalue(res, 0, 1), NULL, NULL);
  if (status == CC_OK) status = tx_commit(&tx);
  if (status != CC_OK) goto failed;
  reply_json_text(x, 201, PQgetvalue(res, 0, 1));
  goto done;
failed:
  reply_problem(x, status, NULL);
done:
  for (size_t i = 0; i < sizeof params / sizeof params[0]; i++) free(params[i]);
  json_decref(details);
  PQclear(facts.result);
  PQclear(res);
  tx_end(&tx);
}

void transfer_contacts_list(struct exchange *x) {
  const char *transfer_id = episode_child_id(x, NOT_FOUND), *reason = NULL;
  if (!transfer_id || !access_break_glass_reason(x, &reason)) return;
  struct tx tx;
  struct episode ep;
  struct episode_fetch contacts = {&LIST, (const char *const[]){transfer_id, x->params[0]}, NULL};
  json_t *items = json_array(), *ids = json_array(), *details = NULL;
  enum access_decision decision;
  enum cc_status status = tx_begin(x->app->pool, &tx);
  if (status != CC_OK) goto failed;
  if (!episode_access_with(x, &tx, CONTACT_RESOURCE, NULL, false, ACCESS_READ, reason != NULL,
                           &ep, &decision, &contacts))
    goto done;
  if (PQntuples(contacts.result) == 0) {
    reply_problem(x, CC_NOT_FOUND, NOT_FOUND);
    goto done;
  }
  for (int r = 0; r < PQntuples(contacts.result); r++) {
    if (PQgetisnull(contacts.result, r, 0)) continue; /* the transfer has no contacts yet */
    json_t *item = json_loads(PQgetvalue(contacts.result, r, 1), 0, NULL);
    if (!item) {
      status = CC_INTERNAL;
      goto failed;
    }
    json_array_append_new(items, item);
    json_array_append_new(ids, json_string(PQgetvalue(contacts.result, r, 0)));
  }
  /* One read event for the list, naming the contacts shown (as a page of a person's records
   * does, resources/person_page.h), and the break-glass reason when there is one. */
  details = decision == ACCESS_BREAK_GLASS
                ? json_pack("{s:s, s:O, s:s}", "transfer_id", transfer_id, "ids", ids, "reason",
                            reason)
                : json_pack("{s:s, s:O}", "transfer_id", transfer_id, "ids", ids);
  struct audit_event event = {.action = decision == ACCESS_BREAK_GLASS ? "break_glass" : "read",
                              .resource_type = CONTACT_RESOURCE,
                              .service_user_id = ep.service_user_id, .outcome = "success",
                              .details = details};
  status = audit_append(&tx, &x->actor, &event);
  if (status == CC_OK) status = tx_commit(&tx);
  if (status != CC_OK) goto failed;
  reply_json(x, 200, json_pack("{s:O}", "items", items));
  goto done;
failed:
  reply_problem(x, status, NULL);
done:
  json_decref(details);
  json_decref(ids);
  json_decref(items);
  PQclear(contacts.result);
  tx_end(&tx);
}

/* R-TRF-4: which transfers' placements end, and when (409 or 422 otherwise). Returns false after
 * replying. */
static bool check_placement_end(struct exchange *x, PGresult *locked, const char *ended_on) {
  const char *type = PQgetvalue(locked, 0, LOCKED_TYPE);
  const char *status = PQgetvalue(locked, 0, LOCKED_STATUS);
  if (strcmp(type, "out_of_area") != 0) {
    reply_problem(x, CC_CONFLICT,
                  "Only an out-of-area placement ends: this transfer is %s, and after "
                  "completion it does not change.",
                  type);
    return false;
  }
  if (strcmp(status, "completed") != 0) {
    reply_problem(x, CC_CONFLICT,
                  "This transfer is %s: a placement ends only after the transfer that started it "
                  "was completed.",
                  status);
    return false;
  }
  if (!PQgetisnull(locked, 0, LOCKED_PLACEMENT_ENDED)) {
    reply_problem(x, CC_CONFLICT, "The placement ended on %s, and that does not change.",
                  PQgetvalue(locked, 0, LOCKED_PLACEMENT_ENDED));
    return false;
  }
  char started[CIVIL_DATE_TEXT_LEN];
  london_date_of(locked, LOCKED_COMPLETED, started);
  if (is_before(ended_on, started[0] ? started : NULL)) {
    struct field_errors errors = {0};
    field_errors_add(&errors, "/placement_ended_on", "R-TRF-4",
                     "must not be before the placement started (%s)", started);
    reply_validation(x, &errors);
    return false;
  }
  return true;
}

void transfers_update(struct exchange *x) {
  const char *transfer_id = episode_child_id(x, NOT_FOUND);
  long expected = 0;
  if (!transfer_id || exchange_if_match(x, &expected) != CC_OK ||
      !record_body_valid(x, TRANSFER_PATCH_FIELDS, VALIDATE_CREATE))
    return;
  const char *ended_on = json_string_value(json_object_get(x->body, "placement_ended_on"));
  char today[CIVIL_DATE_TEXT_LEN];
  if (is_after_today(ended_on, today)) {
    struct field_errors errors = {0};
    field_errors_add(&errors, "/placement_ended_on", NULL,
                     "must not be after today (%s): record the end once it has happened", today);
    reply_validation(x, &errors);
    return;
  }
  struct tx tx;
  struct episode ep;
  PGresult *locked = NULL, *updated = NULL;
  json_t *details = NULL, *transfer = NULL;
  enum access_decision decision;
  enum cc_status status = tx_begin(x->app->pool, &tx);
  if (status != CC_OK) goto failed;
  if (!episode_access(x, &tx, TRANSFER_RESOURCE, transfer_id, false, ACCESS_WRITE,
                      access_break_glass_requested(x), &ep, &decision))
    goto done;
  status = tx_exec(&tx, &TRANSFER_LOCK, (const char *const[]){transfer_id, ep.id}, &locked);
  if (status != CC_OK) goto failed;
  if (PQntuples(locked) == 0) {
    reply_problem(x, CC_NOT_FOUND, NOT_FOUND);
    goto done;
  }
  if (!ep.open) {
    reply_problem(x, CC_CONFLICT, "The episode is closed: its transfers no longer change.");
    goto done;
  }
  if (!check_placement_end(x, locked, ended_on)) goto done;
  const char *version = PQgetvalue(locked, 0, LOCKED_VERSION);
  if (atol(version) != expected) {
    reply_etag(x, version);
    reply_problem(x, CC_PRECONDITION_FAILED,
                  "The transfer has changed since you read it (now version %s); read it again "
                  "and reapply your change.",
                  version);
    goto done;
  }
  status = tx_exec(&tx, &END_PLACEMENT, (const char *const[]){transfer_id, ended_on}, &updated);
  if (status == CC_OK && PQntuples(updated) != 1) status = CC_INTERNAL;
  if (status != CC_OK) goto failed;
  details = json_pack("{s:[{s:s, s:n, s:s}]}", "changes", "field", "placement_ended_on", "old",
                      "new", ended_on);
  status = episode_audit(x, &tx, "update", TRANSFER_RESOURCE, transfer_id, &ep, details);
  /* The representation of GET /episodes/{id}/transfers/{transfer_id}: the R-TRF-4 clock now
   * has nothing more due. */
  if (status == CC_OK && !(transfer = json_loads(PQgetvalue(updated, 0, 2), 0, NULL)))
    status = CC_INTERNAL;
  if (status == CC_OK) status = transfer_add_clock(x, updated, 0, transfer);
  if (status == CC_OK) status = tx_commit(&tx);
  if (status != CC_OK) goto failed;
  reply_etag(x, PQgetvalue(updated, 0, 1));
  reply_json(x, 200, transfer);
  transfer = NULL;
  goto done;
failed:
  reply_problem(x, status, NULL);
done:
  json_decref(transfer);
  json_decref(details);
  PQclear(updated);
  PQclear(locked);
  tx_end(&tx);
}
