/* Referrals: the front door of the care cycle (DOMAIN.md step 1; R-REF-1..4).
 *
 * A referral is created by clinical staff or a partner agency's system (with Idempotency-Key),
 * triaged by a manager (urgency, responding team: R-REF-3), then decided (accept, decline,
 * redirect, withdraw: R-REF-2). Accepting opens the episode of care in the same transaction
 * (R-REF-4). Who may see which referral is auth/policy.h's policy_decide_referral; partners only
 * ever get the partner view, which carries status and decision but no clinical content. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "auth/roles.h"
#include "fhir/fhir.h"
#include "http/cursor.h"
#include "http/idempotency.h"
#include "http/negotiate.h"
#include "resources/access.h"
#include "resources/record.h"
#include "resources/resources.h"
#include "rules/clocks.h"
#include "rules/nhs_number.h"
#include "rules/referral_state.h"

/* A received time may run this far ahead of our clock (the sender's clock may be fast). */
#define RECEIVED_AT_SKEW_S 300

static const char *const SOURCE_TYPES[] = {"gp", "self", "carer", "emergency_department",
                                           "police", "adult_social_care", "probation",
                                           "other_team", "other", NULL};
static const char *const URGENCIES[] = {"emergency", "urgent", "routine", NULL};
static const char *const STATUSES[] = {"received", "triaged", "accepted", "declined",
                                       "redirected", "withdrawn", NULL};
static const char *const GENDERS[] = {"male", "female", "other", "unknown", NULL};
static const char *const DECISIONS[] = {"accept", "decline", "redirect", "withdraw", NULL};
static const char *const CARE_LEVELS[] = {"cpa", "non_cpa", NULL};

/* Enough identity to register a person not yet known to the service. */
static const struct field_spec IDENTITY_FIELDS[] = {
    {.name = "nhs_number", .kind = FIELD_STRING, .flags = FIELD_REQUIRED, .min_len = 10,
     .max_len = 10, .check = nhs_number_is_valid,
     .check_reason = "must be a valid NHS number: 10 digits with a correct check digit"},
    {.name = "given_name", .kind = FIELD_STRING, .flags = FIELD_REQUIRED, .min_len = 1,
     .max_len = 100},
    {.name = "family_name", .kind = FIELD_STRING, .flags = FIELD_REQUIRED, .min_len = 1,
     .max_len = 100},
    {.name = "date_of_birth", .kind = FIELD_DATE, .flags = FIELD_REQUIRED},
    {.name = "gender", .kind = FIELD_ENUM, .choices = GENDERS},
    {0}};

static const struct field_spec CREATE_FIELDS[] = {
    {.name = "service_user_id", .kind = FIELD_UUID, .flags = FIELD_NULLABLE},
    {.name = "service_user", .kind = FIELD_OBJECT, .flags = FIELD_NULLABLE,
     .members = IDENTITY_FIELDS},
    {.name = "source_type", .kind = FIELD_ENUM, .flags = FIELD_REQUIRED, .choices = SOURCE_TYPES},
    {.name = "external_reference", .kind = FIELD_STRING, .flags = FIELD_NULLABLE, .min_len = 1,
     .max_len = 100},
    {.name = "referrer_name", .kind = FIELD_STRING, .flags = FIELD_NULLABLE, .min_len = 1,
     .max_len = 200},
    {.name = "referrer_contact", .kind = FIELD_STRING, .flags = FIELD_NULLABLE, .min_len = 1,
     .max_len = 200},
    {.name = "reason", .kind = FIELD_TEXT, .flags = FIELD_REQUIRED, .min_len = 1, .max_len = 4000},
    {.name = "presenting_needs", .kind = FIELD_TEXT, .flags = FIELD_NULLABLE, .max_len = 4000},
    {.name = "known_risks", .kind = FIELD_TEXT, .flags = FIELD_NULLABLE, .max_len = 4000},
    {.name = "urgency", .kind = FIELD_ENUM, .flags = FIELD_REQUIRED, .choices = URGENCIES},
    {.name = "received_at", .kind = FIELD_DATETIME, .flags = FIELD_NULLABLE},
    {0}};

static const struct field_spec TRIAGE_FIELDS[] = {
    {.name = "urgency", .kind = FIELD_ENUM, .flags = FIELD_REQUIRED, .choices = URGENCIES},
    {.name = "responding_team_id", .kind = FIELD_UUID, .flags = FIELD_REQUIRED},
    {.name = "local_team_reason", .kind = FIELD_TEXT, .flags = FIELD_NULLABLE, .min_len = 1,
     .max_len = 2000},
    {0}};

static const struct field_spec DECISION_FIELDS[] = {
    {.name = "decision", .kind = FIELD_ENUM, .flags = FIELD_REQUIRED, .choices = DECISIONS},
    {.name = "reason", .kind = FIELD_TEXT, .flags = FIELD_NULLABLE, .min_len = 1,
     .max_len = 2000},
    {.name = "redirected_to", .kind = FIELD_STRING, .flags = FIELD_NULLABLE, .min_len = 1,
     .max_len = 200},
    {.name = "care_level", .kind = FIELD_ENUM, .flags = FIELD_NULLABLE, .choices = CARE_LEVELS},
    {0}};

/* The clinical view, and the partner view: status and decision, no clinical content. */
#define OVERDUE_SQL "(status IN ('received', 'triaged') AND response_due_at < now())"
#define REFERRAL_JSON                                                                            \
  "json_build_object('id', id, 'service_user_id', service_user_id, 'source_type', source_type," \
  " 'source_org', source_org, 'external_reference', external_reference, 'referrer_name',"       \
  " referrer_name, 'referrer_contact', referrer_contact, 'reason', reason, 'presenting_needs',"  \
  " presenting_needs, 'known_risks', known_risks, 'urgency', urgency, 'received_at',"           \
  " received_at, 'response_due_at', response_due_at, 'overdue', " OVERDUE_SQL ", 'status',"     \
  " status, 'triaged_urgency', triaged_urgency, 'responding_team_id', responding_team_id,"      \
  " 'local_team_reason', local_team_reason, 'triaged_at', triaged_at, 'triaged_by', triaged_by," \
  " 'decision_reason', decision_reason, 'redirected_to', redirected_to, 'decided_at',"          \
  " decided_at, 'decided_by', decided_by, 'episode_id', episode_id, 'created_by', created_by,"  \
  " 'created_at', created_at, 'updated_at', updated_at, 'version', version)::text"
#define PARTNER_JSON                                                                             \
  "json_build_object('id', id, 'external_reference', external_reference, 'source_type',"        \
  " source_type, 'source_org', source_org, 'urgency', urgency, 'received_at', received_at,"     \
  " 'response_due_at', response_due_at, 'status', status, 'decision_reason', decision_reason,"  \
  " 'redirected_to', redirected_to, 'decided_at', decided_at, 'created_at', created_at,"        \
  " 'updated_at', updated_at, 'version', version)::text"
/* Result columns of every statement that returns a referral. */
#define VIEWS "id, version, " REFERRAL_JSON ", " PARTNER_JSON
enum { COL_ID, COL_VERSION, COL_JSON, COL_PARTNER_JSON };

static const struct db_stmt PERSON_BY_NHS_NUMBER = {
    "referrals_person_by_nhs_number",
    "SELECT id, date_of_birth::text FROM service_users WHERE nhs_number = $1", 1};
/* Registers the person unless someone else just did (then no row: look them up again). */
static const struct db_stmt PERSON_REGISTER = {
    "referrals_person_register",
    "INSERT INTO service_users (nhs_number, given_name, family_name, date_of_birth, gender)"
    " VALUES ($1, $2, $3, $4::date, $5) ON CONFLICT (nhs_number) DO NOTHING RETURNING id",
    5};
static const struct db_stmt INSERT = {
    "referrals_insert",
    "INSERT INTO referrals (service_user_id, source_type, source_org, external_reference,"
    " referrer_name, referrer_contact, reason, presenting_needs, known_risks, urgency,"
    " received_at, response_due_at, created_by) VALUES ($1::uuid, $2, $3, $4, $5, $6, $7, $8,"
    " $9, $10, $11::timestamptz, $12::timestamptz, $13) RETURNING " VIEWS,
    13};
static const struct db_stmt SELECT_VIEWS = {
    "referrals_select", "SELECT " VIEWS " FROM referrals WHERE id = $1::uuid", 1};

/* What the access decision and the transition rules need of a referral: $1 id, $2 caller's
 * subject, $3 caller's organisation (NULL unless a partner). */
#define FACTS_SQL                                                                                \
  "SELECT r.status, r.service_user_id, r.version, r.created_by = $2,"                           \
  " ($3::text IS NOT NULL AND r.source_org = $3),"                                               \
  " EXISTS (SELECT 1 FROM staff me WHERE me.subject = $2 AND me.active"                          \
  "         AND me.team_id = r.responding_team_id),"                                             \
  " extract(epoch FROM r.received_at)::bigint, r.responding_team_id"                             \
  " FROM referrals r WHERE r.id = $1::uuid"
static const struct db_stmt FACTS = {"referrals_facts", FACTS_SQL, 3};
static const struct db_stmt FACTS_FOR_UPDATE = {"referrals_facts_lock",
                                                FACTS_SQL " FOR UPDATE OF r", 3};
enum { FACT_STATUS, FACT_PERSON, FACT_VERSION, FACT_CREATOR, FACT_PARTNER_ORG,
       FACT_MANAGES_TEAM, FACT_RECEIVED_EPOCH, FACT_TEAM };

static const struct db_stmt TEAM_TYPE = {
    "referrals_team_type", "SELECT type FROM teams WHERE id = $1::uuid", 1};
static const struct db_stmt TRIAGE = {
    "referrals_triage",
    "UPDATE referrals SET status = 'triaged', triaged_urgency = $2, responding_team_id = $3::uuid,"
    " local_team_reason = $4, response_due_at = $5::timestamptz, triaged_at = now(),"
    " triaged_by = $6, updated_at = now(), version = version + 1 WHERE id = $1::uuid"
    " RETURNING " VIEWS,
    6};
static const struct db_stmt DECIDE = {
    "referrals_decide",
    "UPDATE referrals SET status = $2, decision_reason = $3, redirected_to = $4,"
    " episode_id = $5::uuid, decided_at = now(), decided_by = $6, updated_at = now(),"
    " version = version + 1 WHERE id = $1::uuid RETURNING " VIEWS,
    6};
/* R-REF-4: the episode an accepted referral opens, with its provisional care level. */
static const struct db_stmt EPISODE_OPEN = {
    "referrals_episode_open",
    "INSERT INTO episodes (service_user_id, team_id, referral_id, care_level,"
    " care_level_provisional) VALUES ($1::uuid, $2::uuid, $3::uuid, $4, true) RETURNING id",
    4};
static const struct db_stmt EPISODE_FIRST_LEVEL = {
    "referrals_episode_first_level",
    "INSERT INTO episode_care_level_changes (episode_id, from_level, to_level, reason,"
    " changed_by) VALUES ($1::uuid, NULL, $2, 'Provisional care level on accepting the referral.',"
    " $3)",
    3};

/* Lists: a partner sees its organisation's referrals ($1), anyone else those the referral policy
 * lets them read ($2 subject, $3 coordinator or lead professional, $4 manager): VISIBLE, through
 * the filters $5..$10, ordered by response due time (the worklist order) then id; $11 cursor. */
#define LIST_SQL(VISIBLE)                                                                        \
  "SELECT r.id, r.version, CASE WHEN $1::text IS NULL THEN " REFERRAL_JSON " ELSE " PARTNER_JSON \
  " END, r.id::text, r.service_user_id::text FROM referrals r"                                   \
  " WHERE " VISIBLE                                                                              \
  "   AND ($5::text IS NULL OR r.status = $5)"                                                   \
  "   AND ($6::text IS NULL OR coalesce(r.triaged_urgency, r.urgency) = $6)"                     \
  "   AND ($7::uuid IS NULL OR r.responding_team_id = $7::uuid)"                                 \
  "   AND ($8::boolean IS NULL OR (r.status IN ('received', 'triaged')"                          \
  "        AND r.response_due_at < now()) = $8::boolean)"                                        \
  "   AND ($9::uuid IS NULL OR r.service_user_id = $9::uuid)"                                    \
  "   AND ($10::text IS NULL OR r.source_type = $10)"                                            \
  "   AND ($11::uuid IS NULL OR (r.response_due_at, r.id) >"                                     \
  "        (SELECT c.response_due_at, c.id FROM referrals c WHERE c.id = $11::uuid))"            \
  " ORDER BY r.response_due_at, r.id LIMIT $12"
static const struct db_stmt LIST = {
    "referrals_list",
    LIST_SQL("CASE WHEN $1::text IS NOT NULL THEN r.source_org = $1 ELSE"
             "   r.created_by = $2"
             "   OR ($4::boolean AND (r.status = 'received' OR r.responding_team_id IN"
             "       (SELECT team_id FROM staff WHERE subject = $2 AND active)))"
             "   OR " POLICY_LIST_CONDITION("r.service_user_id", "$2", "$3", "$4") " END"),
    12};
/* For a caller who sees only their caseload (policy_sees_only_caseload): the referrals they
 * made and those about their people, found through referrals_created_by_idx and
 * referrals_service_user_idx. */
static const struct db_stmt LIST_CASELOAD = {
    "referrals_list_caseload",
    LIST_SQL("$1::text IS NULL AND $3::boolean AND NOT $4::boolean AND r.id IN ("
             " SELECT c.id FROM referrals c WHERE c.created_by = $2 UNION ALL"
             " SELECT c.id FROM referrals c WHERE c.service_user_id IN ("
             POLICY_CASELOAD_SQL("$2") "))"),
    12};

/* The person named by service_user_id is checked by the foreign key, in the insert itself. */
static const struct constraint_problem CONSTRAINTS[] = {
    {"referrals_service_user_id_fkey", CC_VALIDATION, "/service_user_id",
     "no service user has this id"},
    {"referrals_external_reference_key", CC_CONFLICT, NULL,
     "Your organisation has already sent a referral with this external_reference."},
    {"episodes_one_open_per_team", CC_CONFLICT, NULL,
     "The person already has an open episode of care with the responding team; work within "
     "that episode, or decline or redirect this referral."},
    {"service_users_nhs_number_key", CC_CONFLICT, NULL,
     "A service user with this NHS number is already registered."},
    {0}};

static const struct record_type REFERRAL = {
    .resource_type = "referral",
    .collection_path = "/referrals",
    .about_person = true,
    .constraints = CONSTRAINTS,
};

static bool is_partner(const struct exchange *x) { return x->principal.roles & ROLE_PARTNER; }

/* The caller's organisation as a SQL parameter: NULL unless a partner. */
static const char *partner_org(const struct exchange *x) {
  return is_partner(x) ? x->principal.org : NULL;
}

static const char *member(const json_t *object, const char *name) {
  return json_string_value(json_object_get(object, name));
}

static enum cc_status audit_referral(struct exchange *x, struct tx *tx, const char *action,
                                     const char *id, const char *person, const json_t *details) {
  struct audit_event event = {.action = action, .resource_type = "referral", .resource_id = id,
                              .service_user_id = person, .outcome = "success",
                              .details = details};
  return audit_append(tx, &x->actor, &event);
}

/* Replies with the referral a statement returned, in the view the caller may see. */
static void reply_referral(struct exchange *x, int http_status, PGresult *res) {
  reply_etag(x, PQgetvalue(res, 0, COL_VERSION));
  reply_json_text(x, http_status,
                  PQgetvalue(res, 0, is_partner(x) ? COL_PARTNER_JSON : COL_JSON));
}

/* A partner's referrals are scoped by its organisation: a partner token without one can do
 * nothing here. Replies 403 and returns false. */
static bool partner_has_org(struct exchange *x) {
  if (!is_partner(x) || x->principal.org[0]) return true;
  reply_problem(x, CC_FORBIDDEN,
                "Your token has no org claim; a partner's referrals are those of its organisation.");
  return false;
}

/* -- create ---------------------------------------------------------------------------------- */

/* Rules across members of a create body; *received is the receipt time (now when absent). */
static void check_create(struct exchange *x, time_t now, time_t *received,
                         struct field_errors *errors) {
  const json_t *body = x->body;
  const json_t *by_id = json_object_get(body, "service_user_id");
  const json_t *identity = json_object_get(body, "service_user");
  bool has_id = by_id && !json_is_null(by_id), has_identity = identity && !json_is_null(identity);
  if (has_id == has_identity)
    field_errors_add(errors, "/service_user_id", NULL,
                     "give either service_user_id or service_user (NHS number, name and date "
                     "of birth), not both");
  else if (has_id && is_partner(x))
    field_errors_add(errors, "/service_user_id", NULL,
                     "partners identify the person by service_user (NHS number, name and date "
                     "of birth)");
  if (has_identity) {
    char today[11];
    uk_local_date(now, today);
    const char *dob = member(identity, "date_of_birth");
    if (dob && strcmp(dob, today) > 0)
      field_errors_add(errors, "/service_user/date_of_birth", NULL, "must not be in the future");
  }
  *received = now;
  const char *received_text = member(body, "received_at");
  if (received_text && timestamp_parse(received_text, received) &&
      *received > now + RECEIVED_AT_SKEW_S)
    field_errors_add(errors, "/received_at", "R-REF-1", "must not be in the future");
}

/* The person the referral is about: the given id, or the person registered with the given NHS
 * number, registering them when unknown (*registered). Replies and returns false on failure. */
static bool resolve_person(struct exchange *x, struct tx *tx, char person[37], bool *registered) {
  *registered = false;
  const char *id = member(x->body, "service_user_id");
  PGresult *res = NULL;
  enum cc_status status;
  if (id) { /* the insert's foreign key checks that the person exists */
    snprintf(person, 37, "%s", id);
    return true;
  }
  const json_t *identity = json_object_get(x->body, "service_user");
  const char *nhs = member(identity, "nhs_number"), *dob = member(identity, "date_of_birth");
  const char *gender = member(identity, "gender");
  const char *registration[] = {nhs, member(identity, "given_name"),
                                member(identity, "family_name"), dob,
                                gender ? gender : "unknown"};
  /* Look up, else register, else (someone registered them meanwhile) look up again. */
  for (int attempt = 0; attempt < 2; attempt++) {
    status = tx_exec(tx, &PERSON_BY_NHS_NUMBER, (const char *const[]){nhs}, &res);
    if (status == CC_OK && PQntuples(res) == 1) {
      bool same_birth = strcmp(PQgetvalue(res, 0, 1), dob) == 0;
      snprintf(person, 37, "%s", PQgetvalue(res, 0, 0));
      PQclear(res);
      if (same_birth) return true;
      struct field_errors errors = {0};
      field_errors_add(&errors, "/service_user/date_of_birth", NULL,
                       "differs from the date of birth registered with this NHS number; check "
                       "the person's identity with the referrer");
      reply_validation(x, &errors);
      return false;
    }
    PQclear(res);
    res = NULL;
    if (status == CC_OK && attempt == 0) {
      status = tx_exec(tx, &PERSON_REGISTER, registration, &res);
      if (status == CC_OK && PQntuples(res) == 1) {
        snprintf(person, 37, "%s", PQgetvalue(res, 0, 0));
        PQclear(res);
        *registered = true;
        return true;
      }
      PQclear(res);
      res = NULL;
    }
    if (status != CC_OK) break;
  }
  reply_problem(x, status == CC_OK ? CC_CONFLICT : status,
                status == CC_OK ? "The person was being registered at the same time; try again."
                                : NULL);
  return false;
}

void referrals_create(struct exchange *x) {
  if (!partner_has_org(x)) return;
  struct field_errors errors = {0};
  time_t received = 0, now = time(NULL);
  fields_validate(x->body, CREATE_FIELDS, VALIDATE_CREATE, "", &errors);
  if (!errors.count) check_create(x, now, &received, &errors);
  if (errors.count) {
    reply_validation(x, &errors);
    return;
  }
  enum referral_urgency urgency = URGENCY_ROUTINE;
  referral_urgency_parse(member(x->body, "urgency"), &urgency);
  char received_text[TIMESTAMP_TEXT_LEN], due_text[TIMESTAMP_TEXT_LEN];
  timestamp_format(received, received_text);
  timestamp_format(referral_response_due(urgency, received, &x->app->config->policy), due_text);

  struct tx tx;
  PGresult *res = NULL;
  json_t *via = NULL;
  enum idempotency_state idem = IDEMPOTENCY_NONE;
  char person[37], location[64];
  bool registered = false;
  enum cc_status status = tx_begin(x->app->pool, &tx);
  if (status != CC_OK) {
    reply_problem(x, status, NULL);
    goto done;
  }
  if (idempotency_begin(x, &tx, &idem) != CC_OK || idem == IDEMPOTENCY_REPLAYED) goto done;
  if (!resolve_person(x, &tx, person, &registered)) goto done;
  const char *params[] = {person,
                          member(x->body, "source_type"),
                          partner_org(x),
                          member(x->body, "external_reference"),
                          member(x->body, "referrer_name"),
                          member(x->body, "referrer_contact"),
                          member(x->body, "reason"),
                          member(x->body, "presenting_needs"),
                          member(x->body, "known_risks"),
                          member(x->body, "urgency"),
                          received_text,
                          due_text,
                          x->principal.subject};
  status = tx_exec(&tx, &INSERT, params, &res);
  if (status != CC_OK) {
    record_reply_db_failure(x, CONSTRAINTS, &tx, status);
    goto done;
  }
  const char *id = PQgetvalue(res, 0, COL_ID);
  if (registered) {
    via = json_pack("{s:s}", "via_referral", id);
    struct audit_event event = {.action = "create", .resource_type = "service_user",
                                .resource_id = person, .service_user_id = person,
                                .outcome = "success", .details = via};
    status = audit_append(&tx, &x->actor, &event);
  }
  if (status == CC_OK) status = audit_referral(x, &tx, "create", id, person, NULL);
  snprintf(location, sizeof location, "/referrals/%s", id);
  char etag[24];
  snprintf(etag, sizeof etag, "\"%s\"", PQgetvalue(res, 0, COL_VERSION));
  if (status == CC_OK && idem == IDEMPOTENCY_CLAIMED)
    status = idempotency_store(
        x, &tx, 201, PQgetvalue(res, 0, is_partner(x) ? COL_PARTNER_JSON : COL_JSON), location,
        etag);
  if (status == CC_OK) status = tx_commit(&tx);
  if (status != CC_OK) {
    reply_problem(x, status, NULL);
    goto done;
  }
  reply_header(x, "Location", location);
  reply_referral(x, 201, res);
done:
  json_decref(via);
  PQclear(res);
  tx_end(&tx);
}

/* -- one referral ---------------------------------------------------------------------------- */

/* A referral's facts and the caller's access to it, in the request's transaction (locked for a
 * write). Returns the facts row, or NULL after replying: 404 for an unknown referral (and for a
 * partner's look at another organisation's, whose existence is not theirs to learn, after
 * committing the deny event), 403 after committing a deny event. */
static PGresult *authorise(struct exchange *x, struct tx *tx, const char *id,
                           enum access_action action, bool break_glass,
                           enum access_decision *decision) {
  PGresult *facts = NULL;
  enum cc_status status =
      tx_exec(tx, action == ACCESS_WRITE ? &FACTS_FOR_UPDATE : &FACTS,
              (const char *const[]){id, x->principal.subject, partner_org(x)}, &facts);
  if (status != CC_OK || PQntuples(facts) == 0) {
    if (status == CC_OK)
      reply_problem(x, CC_NOT_FOUND, "No referral has this id.");
    else
      reply_problem(x, status, NULL);
    PQclear(facts);
    return NULL;
  }
  const char *person = PQgetvalue(facts, 0, FACT_PERSON);
  struct referral_relationship rel = {
      .is_partner_org = strcmp(PQgetvalue(facts, 0, FACT_PARTNER_ORG), "t") == 0,
      .is_creator = strcmp(PQgetvalue(facts, 0, FACT_CREATOR), "t") == 0,
      .awaiting_screening = strcmp(PQgetvalue(facts, 0, FACT_STATUS), "received") == 0,
      .manages_responding_team = strcmp(PQgetvalue(facts, 0, FACT_MANAGES_TEAM), "t") == 0};
  bool exists = true;
  if (!is_partner(x)) status = policy_relationship(tx, x->principal.subject, person, &exists,
                                                   &rel.person);
  if (status != CC_OK) {
    reply_problem(x, status, NULL);
    PQclear(facts);
    return NULL;
  }
  *decision = policy_decide_referral(x->principal.roles, action, &rel, break_glass);
  if (*decision != ACCESS_DENY) return facts;
  struct access_target target = {"referral", id, person};
  if (is_partner(x))
    access_refuse(x, tx, &target, action, break_glass, CC_NOT_FOUND, "No referral has this id.");
  else
    access_refuse(x, tx, &target, action, break_glass, CC_FORBIDDEN,
                  "You have no relationship with this referral that allows this access.");
  PQclear(facts);
  return NULL;
}

/* The {id} path parameter, or NULL after replying 404. */
static const char *referral_id(struct exchange *x) {
  if (text_is_uuid(x->params[0])) return x->params[0];
  reply_problem(x, CC_NOT_FOUND, "No referral has this id.");
  return NULL;
}

/* A partner may have its referral as a FHIR R4 ServiceRequest. */
static const char *const REFERRAL_MEDIA_TYPES[] = {"application/json", "application/fhir+json"};

void referrals_get(struct exchange *x) {
  const char *id = referral_id(x), *reason = NULL;
  if (!id || !partner_has_org(x) || !access_break_glass_reason(x, &reason)) return;
  int media_type = negotiate_media_type(exchange_header(x, "Accept"), REFERRAL_MEDIA_TYPES,
                                        is_partner(x) ? 2 : 1);
  if (media_type < 0) {
    reply_problem(x, CC_NOT_ACCEPTABLE, "%s",
                  is_partner(x) ? "A referral is served as application/json or "
                                  "application/fhir+json."
                                : "A referral is served as application/json.");
    return;
  }
  struct tx tx;
  PGresult *facts = NULL, *res = NULL;
  enum access_decision decision = ACCESS_ALLOW;
  enum cc_status status = tx_begin(x->app->pool, &tx);
  if (status == CC_OK) {
    facts = authorise(x, &tx, id, ACCESS_READ, reason != NULL, &decision);
    if (!facts) goto done;
    status = tx_exec(&tx, &SELECT_VIEWS, (const char *const[]){id}, &res);
  }
  if (status == CC_OK) {
    struct access_target target = {"referral", id, PQgetvalue(facts, 0, FACT_PERSON)};
    status = access_audit_read(x, &tx, &target, decision, reason);
  }
  if (status == CC_OK) status = tx_commit(&tx);
  if (status != CC_OK) {
    reply_problem(x, status, NULL);
    goto done;
  }
  if (media_type == 1) {
    json_t *view = json_loads(PQgetvalue(res, 0, COL_PARTNER_JSON), 0, NULL);
    json_t *fhir = view ? fhir_referral_service_request(view) : NULL;
    json_decref(view);
    if (!fhir) {
      reply_problem(x, CC_INTERNAL, NULL);
      goto done;
    }
    reply_etag(x, PQgetvalue(res, 0, COL_VERSION));
    reply_json_as(x, 200, "application/fhir+json", fhir);
  } else {
    reply_referral(x, 200, res);
  }
done:
  PQclear(res);
  PQclear(facts);
  tx_end(&tx);
}

/* -- list ------------------------------------------------------------------------------------ */

static enum cc_status query_enum(struct exchange *x, const char *name,
                                 const char *const *choices, const char **out) {
  *out = exchange_query(x, name);
  if (!*out) return CC_OK;
  for (const char *const *c = choices; *c; c++)
    if (strcmp(*c, *out) == 0) return CC_OK;
  reply_problem(x, CC_BAD_REQUEST, "%s is not one of the values the API lists for it.", name);
  return CC_BAD_REQUEST;
}

void referrals_list(struct exchange *x) {
  static const char *const BOOLEANS[] = {"true", "false", NULL};
  int limit;
  const char *status = NULL, *urgency = NULL, *team = NULL, *overdue = NULL, *person = NULL,
             *source_type = NULL;
  char *after[1];
  if (!partner_has_org(x) || query_limit(x, &limit) != CC_OK ||
      query_enum(x, "status", STATUSES, &status) != CC_OK ||
      query_enum(x, "urgency", URGENCIES, &urgency) != CC_OK ||
      query_uuid(x, "team_id", &team) != CC_OK ||
      query_enum(x, "overdue", BOOLEANS, &overdue) != CC_OK ||
      query_uuid(x, "service_user_id", &person) != CC_OK ||
      query_enum(x, "source_type", SOURCE_TYPES, &source_type) != CC_OK ||
      record_cursor(x, 1, after) != CC_OK)
    return;
  unsigned roles = x->principal.roles;
  const char *params[] = {partner_org(x),
                          x->principal.subject,
                          roles & (ROLE_COORDINATOR | ROLE_LEAD_PROFESSIONAL) ? "true" : "false",
                          roles & ROLE_MANAGER ? "true" : "false",
                          status,
                          urgency,
                          team,
                          overdue,
                          person,
                          source_type,
                          after[0],
                          NULL};
  record_list(x, &REFERRAL, policy_sees_only_caseload(roles) ? &LIST_CASELOAD : &LIST, params,
              limit, 1);
  cursor_parts_free(after, 1);
}

/* -- triage and decisions -------------------------------------------------------------------- */

/* The If-Match of an action is optional (the state check already stops a stale action); when
 * sent it must name the current version. Replies 412 and returns false when it does not. */
static bool if_match_holds(struct exchange *x, PGresult *facts) {
  long expected;
  if (!exchange_header(x, "If-Match")) return true;
  if (exchange_if_match(x, &expected) != CC_OK) return false;
  const char *version = PQgetvalue(facts, 0, FACT_VERSION);
  if (atol(version) == expected) return true;
  reply_etag(x, version);
  reply_problem(x, CC_PRECONDITION_FAILED,
                "The referral has changed since you read it (now version %s); read it again.",
                version);
  return false;
}

/* R-REF-2: replies 409 naming the current state when the referral cannot go to `to`. */
static bool transition_allowed(struct exchange *x, PGresult *facts, enum referral_status to) {
  const char *current = PQgetvalue(facts, 0, FACT_STATUS);
  enum referral_status from = REFERRAL_RECEIVED;
  referral_status_parse(current, &from);
  if (referral_transition_allowed(from, to)) return true;
  reply_problem(x, CC_CONFLICT,
                "The referral is %s; it cannot become %s (R-REF-2: received -> triaged -> "
                "accepted, declined or redirected; withdrawn before a decision).",
                current, referral_status_name(to));
  return false;
}

/* Starts an action on a referral: the caller may write it, the transaction holds its row. */
static PGresult *begin_action(struct exchange *x, struct tx *tx, const char *id) {
  enum access_decision decision;
  enum cc_status status = tx_begin(x->app->pool, tx);
  if (status != CC_OK) {
    reply_problem(x, status, NULL);
    return NULL;
  }
  return authorise(x, tx, id, ACCESS_WRITE, access_break_glass_requested(x), &decision);
}

/* Audits the transition, commits and replies with the referral. */
static void finish_action(struct exchange *x, struct tx *tx, PGresult *facts, PGresult *res,
                          enum referral_status to) {
  const char *id = PQgetvalue(res, 0, COL_ID);
  json_t *details = json_pack("{s:s, s:s}", "from", PQgetvalue(facts, 0, FACT_STATUS), "to",
                              referral_status_name(to));
  enum cc_status status =
      audit_referral(x, tx, "update", id, PQgetvalue(facts, 0, FACT_PERSON), details);
  json_decref(details);
  if (status == CC_OK) status = tx_commit(tx);
  if (status != CC_OK) {
    reply_problem(x, status, NULL);
    return;
  }
  reply_referral(x, 200, res);
}

void referrals_triage(struct exchange *x) {
  const char *id = referral_id(x);
  if (!id) return;
  struct field_errors errors = {0};
  fields_validate(x->body, TRIAGE_FIELDS, VALIDATE_CREATE, "", &errors);
  if (errors.count) {
    reply_validation(x, &errors);
    return;
  }
  const char *urgency_name = member(x->body, "urgency");
  const char *team = member(x->body, "responding_team_id");
  const char *local_reason = member(x->body, "local_team_reason");
  enum referral_urgency urgency = URGENCY_ROUTINE;
  referral_urgency_parse(urgency_name, &urgency);

  struct tx tx;
  PGresult *facts = begin_action(x, &tx, id), *team_res = NULL, *res = NULL;
  if (!facts || !if_match_holds(x, facts) || !transition_allowed(x, facts, REFERRAL_TRIAGED))
    goto done;
  enum cc_status status = tx_exec(&tx, &TEAM_TYPE, (const char *const[]){team}, &team_res);
  if (status != CC_OK) {
    reply_problem(x, status, NULL);
    goto done;
  }
  if (PQntuples(team_res) == 0) {
    field_errors_add(&errors, "/responding_team_id", NULL, "no team has this id");
  } else {
    bool crisis = strcmp(PQgetvalue(team_res, 0, 0), "crisis_home_treatment") == 0;
    bool needs_reason = referral_local_team_needs_reason(urgency, crisis);
    if (needs_reason && !local_reason)
      field_errors_add(&errors, "/local_team_reason", "R-REF-3",
                       "an urgent or emergency referral goes to a crisis / home treatment team "
                       "unless you record why the local team responds");
    else if (!needs_reason && local_reason)
      field_errors_add(&errors, "/local_team_reason", "R-REF-3",
                       "is recorded only when an urgent or emergency referral stays with a team "
                       "other than crisis / home treatment");
  }
  if (errors.count) {
    reply_validation(x, &errors);
    goto done;
  }
  /* R-REF-1: the response is due by the triaged urgency, counted from receipt. */
  time_t received = (time_t)atoll(PQgetvalue(facts, 0, FACT_RECEIVED_EPOCH));
  char due_text[TIMESTAMP_TEXT_LEN];
  timestamp_format(referral_response_due(urgency, received, &x->app->config->policy), due_text);
  const char *params[] = {id, urgency_name, team, local_reason, due_text, x->principal.subject};
  status = tx_exec(&tx, &TRIAGE, params, &res);
  if (status != CC_OK) {
    record_reply_db_failure(x, CONSTRAINTS, &tx, status);
    goto done;
  }
  finish_action(x, &tx, facts, res, REFERRAL_TRIAGED);
done:
  PQclear(res);
  PQclear(team_res);
  PQclear(facts);
  tx_end(&tx);
}

/* Rules across the members of a decision body (R-REF-2, R-REF-4). */
static void check_decision(const json_t *body, enum referral_status to,
                           struct field_errors *errors) {
  bool has_reason = member(body, "reason"), has_place = member(body, "redirected_to");
  bool has_level = member(body, "care_level");
  if (referral_decision_needs_reason(to) && !has_reason)
    field_errors_add(errors, "/reason", "R-REF-2", "a decline or a redirect needs a reason");
  if (to == REFERRAL_REDIRECTED && !has_place)
    field_errors_add(errors, "/redirected_to", "R-REF-2", "a redirect names where to");
  if (to != REFERRAL_REDIRECTED && has_place)
    field_errors_add(errors, "/redirected_to", NULL, "is given only with decision redirect");
  if (to == REFERRAL_ACCEPTED && !has_level)
    field_errors_add(errors, "/care_level", "R-REF-4",
                     "accepting opens an episode of care: give its provisional care level "
                     "(cpa or non_cpa)");
  if (to != REFERRAL_ACCEPTED && has_level)
    field_errors_add(errors, "/care_level", NULL, "is given only with decision accept");
}

/* R-REF-4: opens the accepted referral's episode with the responding team. Returns its id in
 * episode (37 bytes) or replies and returns false. */
static bool open_episode(struct exchange *x, struct tx *tx, PGresult *facts, const char *id,
                         char *episode) {
  const char *person = PQgetvalue(facts, 0, FACT_PERSON);
  const char *level = member(x->body, "care_level");
  PGresult *res = NULL;
  const char *params[] = {person, PQgetvalue(facts, 0, FACT_TEAM), id, level};
  enum cc_status status = tx_exec(tx, &EPISODE_OPEN, params, &res);
  if (status != CC_OK) {
    record_reply_db_failure(x, CONSTRAINTS, tx, status);
    PQclear(res);
    return false;
  }
  snprintf(episode, 37, "%s", PQgetvalue(res, 0, 0));
  PQclear(res);
  status = tx_exec(tx, &EPISODE_FIRST_LEVEL,
                   (const char *const[]){episode, level, x->principal.subject}, NULL);
  json_t *details = json_pack("{s:s, s:s}", "referral_id", id, "care_level", level);
  struct audit_event event = {.action = "create", .resource_type = "episode",
                              .resource_id = episode, .service_user_id = person,
                              .outcome = "success", .details = details};
  if (status == CC_OK) status = audit_append(tx, &x->actor, &event);
  json_decref(details);
  if (status == CC_OK) return true;
  reply_problem(x, status, NULL);
  return false;
}

void referrals_decide(struct exchange *x) {
  const char *id = referral_id(x);
  if (!id) return;
  struct field_errors errors = {0};
  enum referral_status to = REFERRAL_WITHDRAWN;
  fields_validate(x->body, DECISION_FIELDS, VALIDATE_CREATE, "", &errors);
  if (!errors.count && referral_decision_parse(member(x->body, "decision"), &to))
    check_decision(x->body, to, &errors);
  if (errors.count) {
    reply_validation(x, &errors);
    return;
  }
  struct tx tx;
  PGresult *facts = begin_action(x, &tx, id), *res = NULL;
  if (!facts) goto done;
  /* Only a manager decides on a referral; its referrer may withdraw it. */
  if (to != REFERRAL_WITHDRAWN && !(x->principal.roles & ROLE_MANAGER)) {
    struct access_target target = {"referral", id, PQgetvalue(facts, 0, FACT_PERSON)};
    access_refuse(x, &tx, &target, ACCESS_WRITE, false, CC_FORBIDDEN,
                  "Only a manager accepts, declines or redirects a referral; its referrer may "
                  "withdraw it.");
    goto done;
  }
  if (!if_match_holds(x, facts) || !transition_allowed(x, facts, to)) goto done;
  char episode[37] = "";
  if (to == REFERRAL_ACCEPTED && !open_episode(x, &tx, facts, id, episode)) goto done;
  const char *params[] = {id,
                          referral_status_name(to),
                          member(x->body, "reason"),
                          member(x->body, "redirected_to"),
                          episode[0] ? episode : NULL,
                          x->principal.subject};
  enum cc_status status = tx_exec(&tx, &DECIDE, params, &res);
  if (status != CC_OK) {
    record_reply_db_failure(x, CONSTRAINTS, &tx, status);
    goto done;
  }
  finish_action(x, &tx, facts, res, to);
done:
  PQclear(res);
  PQclear(facts);
  tx_end(&tx);
}
