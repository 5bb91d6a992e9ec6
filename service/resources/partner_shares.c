/* Shares with partner agencies (seed 000 §2.5, seed 004): clinical staff share part of an
 * episode's record with a registered partner organisation (a referral for a Care Act assessment
 * or a carer's assessment, a care plan, a transfer of care co-ordination), naming the lawful
 * basis and choosing the items (rules/share_rules.h); the partner's system reads what is
 * addressed to it, acknowledges it and accepts or rejects it.
 *
 * Minimum necessary: the content is built here, in SQL, from the record as it is when shared,
 * and holds the chosen items only; the partner never sees anything else of the record, and
 * another organisation's share is not found (404) for it, the attempt audited as a deny. Every
 * read and change is audited with the person it is about (R-AUD-1); the feed's events are
 * written by the triggers of migration 0015 in the same transaction. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "audit/audit.h"
#include "fields.h"
#include "fhir/fhir.h"
#include "http/cursor.h"
#include "http/negotiate.h"
#include "resources/episodes.h"
#include "resources/partners.h"
#include "resources/record.h"
#include "resources/resources.h"
#include "rules/clocks.h"
#include "rules/share_rules.h"

#define RESOURCE "partner_share"
#define NOT_FOUND "No partner share with this id on this episode."
#define PARTNER_NOT_FOUND "No share with this id is addressed to your organisation."
#define CLOSED "The episode is closed: its shares can no longer change."

static const char *const KINDS[] = {"care_act_assessment_referral", "carer_assessment_referral",
                                    "care_plan", "transfer", NULL};
static const char *const BASES[] = {"consent",          "safeguarding",   "care_act_duty",
                                    "court_order",      "crime_prevention", "vital_interests",
                                    NULL};
static const char *const DECISIONS[] = {"accepted", "rejected", NULL};

#define TEXT(NAME, FLAGS)                                                                        \
  {.name = NAME, .kind = FIELD_TEXT, .flags = FLAGS, .min_len = 1, .max_len = 2000}

static const struct field_spec BASIS_FIELDS[] = {
    {.name = "basis", .kind = FIELD_ENUM, .flags = FIELD_REQUIRED, .choices = BASES},
    {.name = "consent_given_on", .kind = FIELD_DATE, .flags = FIELD_NULLABLE},
    TEXT("note", FIELD_NULLABLE),
    {0}};

static const struct field_spec SHARE_FIELDS[] = {
    {.name = "org", .kind = FIELD_STRING, .flags = FIELD_REQUIRED, .min_len = 1, .max_len = 64},
    {.name = "kind", .kind = FIELD_ENUM, .flags = FIELD_REQUIRED, .choices = KINDS},
    {.name = "lawful_basis", .kind = FIELD_OBJECT, .flags = FIELD_REQUIRED,
     .members = BASIS_FIELDS},
    {.name = "data_set", .kind = FIELD_STRING_ARRAY, .flags = FIELD_REQUIRED, .min_len = 1,
     .max_len = SHARE_ITEM_COUNT},
    {.name = "carer_id", .kind = FIELD_UUID, .flags = FIELD_NULLABLE},
    {.name = "care_plan_id", .kind = FIELD_UUID, .flags = FIELD_NULLABLE},
    {.name = "transfer_id", .kind = FIELD_UUID, .flags = FIELD_NULLABLE},
    TEXT("needs_summary", FIELD_NULLABLE),
    TEXT("risk_summary", FIELD_NULLABLE),
    TEXT("message", FIELD_NULLABLE),
    {0}};

static const struct field_spec WITHDRAW_FIELDS[] = {TEXT("reason", FIELD_REQUIRED), {0}};

static const struct field_spec DECISION_FIELDS[] = {
    {.name = "decision", .kind = FIELD_ENUM, .flags = FIELD_REQUIRED, .choices = DECISIONS},
    /* Required with a rejection (decision_errors). */
    TEXT("rejection_reason", FIELD_NULLABLE),
    {0}};

/* The clinical view of the partner_shares row aliased S: everything, with who did what. */
#define SHARE_JSON(S)                                                                            \
  "json_build_object('id', " S ".id, 'episode_id', " S ".episode_id, 'service_user_id', " S       \
  ".service_user_id, 'org', " S ".org, 'org_name', (SELECT o.name FROM partner_organisations o"  \
  " WHERE o.code = " S ".org), 'kind', " S ".kind, 'carer_id', " S ".carer_id,"                   \
  " 'care_plan_id', " S ".care_plan_id, 'care_plan_version', " S ".care_plan_version,"           \
  " 'transfer_id', " S ".transfer_id, " LAWFUL_BASIS_JSON(S) ", 'data_set', " S ".data_set,"     \
  " 'content', " S ".content, 'message', " S ".message, 'status', " S ".status,"                 \
  " 'created_at', " S ".created_at, 'created_by', " S ".created_by,"                             \
  " 'acknowledged_at', " S ".acknowledged_at, 'acknowledged_by', " S ".acknowledged_by,"         \
  " 'decided_at', " S ".decided_at, 'decided_by', " S ".decided_by,"                             \
  " 'rejection_reason', " S ".rejection_reason, 'withdrawn_at', " S ".withdrawn_at,"             \
  " 'withdrawn_by', " S ".withdrawn_by, 'withdrawal_reason', " S ".withdrawal_reason,"           \
  " 'updated_at', " S ".updated_at, 'version', " S ".version)::text"
#define LAWFUL_BASIS_JSON(S)                                                                     \
  "'lawful_basis', json_build_object('basis', " S ".lawful_basis, 'consent_given_on', " S        \
  ".consent_given_on, 'note', " S ".basis_note)"
/* The partner's view: what was shared and its state; not who in the trust did what, nor the
 * trust's own ids of the episode and the person beyond what the items carry. */
#define PARTNER_SHARE_JSON(S)                                                                    \
  "json_build_object('id', " S ".id, 'kind', " S ".kind, 'org', " S ".org, 'status', " S         \
  ".status, 'message', " S ".message, " LAWFUL_BASIS_JSON(S) ", 'data_set', " S ".data_set,"     \
  " 'content', " S ".content, 'created_at', " S ".created_at, 'updated_at', " S ".updated_at,"   \
  " 'acknowledged_at', " S ".acknowledged_at, 'decided_at', " S ".decided_at,"                   \
  " 'rejection_reason', " S ".rejection_reason, 'withdrawn_at', " S ".withdrawn_at,"             \
  " 'version', " S ".version)::text"

/* The items of the record as they are now, keyed by item name (rules/share_rules.h); the share
 * keeps those of $10 (the data set). $1 episode, $4 carer, $5 care plan, $6 transfer, $11 and
 * $12 the summaries the clinician wrote. */
#define SHARE_CONTENT                                                                            \
  "(SELECT COALESCE(jsonb_object_agg(item.key, item.value), '{}') FROM jsonb_each(jsonb_build_object(" \
  " 'person', jsonb_build_object('id', su.id, 'nhs_number', su.nhs_number, 'given_name',"        \
  "   su.given_name, 'family_name', su.family_name, 'date_of_birth', su.date_of_birth,"          \
  "   'gender', su.gender),"                                                                     \
  " 'person_contact', jsonb_build_object('address', su.address, 'gp_practice', su.gp_practice)," \
  " 'episode', jsonb_build_object('id', e.id, 'status', e.status, 'care_level', e.care_level,"   \
  "   'opened_at', e.opened_at, 'closed_at', e.closed_at, 'team', jsonb_build_object('id',"      \
  "   t.id, 'name', t.name)),"                                                                   \
  " 'care_team', jsonb_build_object('team', jsonb_build_object('id', t.id, 'name', t.name),"     \
  "   'holder', (SELECT jsonb_build_object('role', a.role, 'name', COALESCE(h.name,"             \
  "     a.external_holder_name), 'staff_id', a.holder_staff_id, 'organisation',"                 \
  "     a.external_holder_organisation, 'since', a.started_at) FROM allocations a"               \
  "     LEFT JOIN staff h ON h.id = a.holder_staff_id"                                           \
  "     WHERE a.episode_id = e.id AND a.ended_at IS NULL),"                                      \
  "   'deputy', (SELECT jsonb_build_object('name', d.name, 'staff_id', d.id) FROM allocations a" \
  "     JOIN staff d ON d.id = a.deputy_staff_id"                                                \
  "     WHERE a.episode_id = e.id AND a.ended_at IS NULL)),"                                     \
  " 'needs_summary', $11::text, 'risk_summary', $12::text,"                                      \
  " 'carer', (SELECT jsonb_build_object('id', c.id, 'name', c.name, 'relationship',"             \
  "   c.relationship, 'contact', c.contact, 'under_18', c.under_18, 'date_of_birth',"            \
  "   c.date_of_birth, 'lives_with_person', c.lives_with_person) FROM carers c"                  \
  "   WHERE c.id = $4::uuid),"                                                                   \
  " 'care_plan', (SELECT jsonb_build_object('id', p.id, 'plan_version', p.plan_version,"         \
  "   'status', p.status, 'activated_at', p.activated_at, 'needs', p.content -> 'needs',"        \
  "   'goals', p.content -> 'goals', 'interventions', p.content -> 'interventions',"             \
  "   'crisis_plan', p.content -> 'crisis_plan', 'contingency_plan',"                            \
  "   p.content -> 'contingency_plan', 'risk_management_plan',"                                  \
  "   p.content -> 'risk_management_plan') FROM care_plans p WHERE p.id = $5::uuid),"            \
  " 'transfer', (SELECT jsonb_build_object('id', tr.id, 'type', tr.type, 'status', tr.status,"   \
  "   'reason', tr.reason, 'proposed_at', tr.proposed_at) FROM transfers tr"                     \
  "   WHERE tr.id = $6::uuid))) AS item WHERE item.key = ANY ($10::text[]))"

static const struct db_stmt INSERT = {
    "partner_shares_insert",
    "INSERT INTO partner_shares AS s (episode_id, service_user_id, org, kind, carer_id,"
    " care_plan_id, care_plan_version, transfer_id, lawful_basis, consent_given_on, basis_note,"
    " data_set, content, message, created_by)"
    " SELECT e.id, e.service_user_id, $2, $3, $4::uuid, $5::uuid,"
    " (SELECT p.plan_version FROM care_plans p WHERE p.id = $5::uuid), $6::uuid, $7,"
    " $8::date, $9, $10::text[], " SHARE_CONTENT ", $13, $14"
    " FROM episodes e JOIN service_users su ON su.id = e.service_user_id"
    " JOIN teams t ON t.id = e.team_id WHERE e.id = $1::uuid"
    " RETURNING s.id, s.version, " SHARE_JSON("s"),
    14};

/* What a new share points at, checked before it is made: the organisation's kind (NULL when
 * not registered or not active; $1), whether the carer ($2) is the person's ($5), the care
 * plan ($3) is the episode's ($6) active one, and the transfer ($4) is the episode's proposed
 * transfer to a partner agency. */
static const struct db_stmt TARGETS = {
    "partner_shares_targets",
    "SELECT (SELECT o.kind FROM partner_organisations o WHERE o.code = $1 AND o.active),"
    " $2::uuid IS NULL OR EXISTS (SELECT 1 FROM carers c WHERE c.id = $2::uuid"
    "   AND c.service_user_id = $5::uuid),"
    " $3::uuid IS NULL OR EXISTS (SELECT 1 FROM care_plans p WHERE p.id = $3::uuid"
    "   AND p.episode_id = $6::uuid AND p.status = 'active'),"
    " $4::uuid IS NULL OR EXISTS (SELECT 1 FROM transfers t WHERE t.id = $4::uuid"
    "   AND t.episode_id = $6::uuid AND t.type = 'partner_agency' AND t.status = 'proposed')",
    6};
enum { TARGET_ORG_KIND, TARGET_CARER, TARGET_CARE_PLAN, TARGET_TRANSFER };

static const struct db_stmt SELECT = {
    "partner_shares_select",
    "SELECT s.id, s.version, " SHARE_JSON("s") " FROM partner_shares s"
    " WHERE s.id = $1::uuid AND s.episode_id = $2::uuid",
    2};
static const struct db_stmt LOCK = {
    "partner_shares_lock",
    "SELECT s.id, s.version, " SHARE_JSON("s") ", s.status FROM partner_shares s"
    " WHERE s.id = $1::uuid AND s.episode_id = $2::uuid FOR UPDATE",
    2};
/* An episode's shares, the latest first. */
static const struct db_stmt LIST = {
    "partner_shares_list",
    "SELECT s.id, s.version, " SHARE_JSON("s") ", s.id::text FROM partner_shares s"
    " WHERE s.episode_id = $1::uuid"
    "   AND ($2::uuid IS NULL OR (s.created_at, s.id) <"
    "        (SELECT p.created_at, p.id FROM partner_shares p WHERE p.id = $2::uuid))"
    " ORDER BY s.created_at DESC, s.id DESC LIMIT $3",
    3};
static const struct db_stmt WITHDRAW = {
    "partner_shares_withdraw",
    "UPDATE partner_shares AS s SET status = 'withdrawn', withdrawn_at = now(),"
    " withdrawn_by = $2, withdrawal_reason = $3, updated_at = now(), version = s.version + 1"
    " WHERE s.id = $1::uuid RETURNING s.id, s.version, " SHARE_JSON("s"),
    3};

/* The partner side. PARTNER_LOCK finds the share whatever its organisation, so that another
 * organisation's attempt is audited (and answered 404). */
#define PARTNER_ROW(S)                                                                           \
  S ".id, " S ".version, " PARTNER_SHARE_JSON(S) ", " S ".status, " S ".org, " S ".kind, " S    \
  ".service_user_id, " S ".transfer_id"
enum { ROW_ID, ROW_VERSION, ROW_JSON, ROW_STATUS, ROW_ORG, ROW_KIND, ROW_PERSON, ROW_TRANSFER };
static const struct db_stmt PARTNER_SELECT = {
    "partner_shares_partner_select",
    "SELECT " PARTNER_ROW("s") " FROM partner_shares s WHERE s.id = $1::uuid", 1};
static const struct db_stmt PARTNER_LOCK = {
    "partner_shares_partner_lock",
    "SELECT " PARTNER_ROW("s") " FROM partner_shares s WHERE s.id = $1::uuid FOR UPDATE", 1};
/* What is addressed to organisation $1, the latest first, optionally in status $2: the state of
 * each, not its content (GET of each share returns that, audited with its person). */
static const struct db_stmt PARTNER_LIST = {
    "partner_shares_partner_list",
    "SELECT s.id, s.version, json_build_object('id', s.id, 'kind', s.kind, 'status', s.status,"
    " 'created_at', s.created_at, 'updated_at', s.updated_at, 'version', s.version, 'href',"
    " '/partners/me/shares/' || s.id)::text, s.id::text FROM partner_shares s"
    " WHERE s.org = $1 AND ($2::text IS NULL OR s.status = $2)"
    "   AND ($3::uuid IS NULL OR (s.created_at, s.id) <"
    "        (SELECT p.created_at, p.id FROM partner_shares p WHERE p.id = $3::uuid))"
    " ORDER BY s.created_at DESC, s.id DESC LIMIT $4",
    4};
static const struct db_stmt ACKNOWLEDGE = {
    "partner_shares_acknowledge",
    "UPDATE partner_shares AS s SET status = 'acknowledged', acknowledged_at = now(),"
    " acknowledged_by = $2, updated_at = now(), version = s.version + 1"
    " WHERE s.id = $1::uuid AND s.status = 'sent' RETURNING " PARTNER_ROW("s"),
    2};
static const struct db_stmt DECIDE = {
    "partner_shares_decide",
    "UPDATE partner_shares AS s SET status = $2, decided_at = now(), decided_by = $3,"
    " rejection_reason = $4, acknowledged_at = COALESCE(s.acknowledged_at, now()),"
    " acknowledged_by = COALESCE(s.acknowledged_by, $3), updated_at = now(),"
    " version = s.version + 1"
    " WHERE s.id = $1::uuid AND s.status IN ('sent', 'acknowledged') RETURNING " PARTNER_ROW("s"),
    4};
/* R-TRF-1: the receiving side's answer to a transfer offered to a partner agency. */
static const struct db_stmt DECIDE_TRANSFER = {
    "partner_shares_decide_transfer",
    "UPDATE transfers AS t SET status = $2, decided_at = now(), decided_by = $3,"
    " rejection_reason = $4, updated_at = now(), version = t.version + 1"
    " WHERE t.id = $1::uuid AND t.status = 'proposed' RETURNING t.episode_id",
    4};

static const struct constraint_problem CONSTRAINTS[] = {
    {"partner_shares_one_per_transfer", CC_CONFLICT, NULL,
     "This transfer is already offered to a partner: wait for its answer or withdraw it first."},
    {0}};

static const char *text_of(const json_t *object, const char *name) {
  return json_string_value(json_object_get(object, name));
}

/* The data set as a set of items; every unknown or repeated item is an error. */
static share_items data_set_items(const json_t *data_set, struct field_errors *errors) {
  share_items items = 0;
  size_t i;
  const json_t *value;
  json_array_foreach(data_set, i, value) {
    enum share_item item;
    char pointer[40];
    snprintf(pointer, sizeof pointer, "/data_set/%zu", i);
    if (!share_item_parse(json_string_value(value), &item))
      field_errors_add(errors, pointer, NULL,
                       "must be one of person, person_contact, episode, care_team, "
                       "needs_summary, risk_summary, carer, care_plan, transfer");
    else if (items & (1u << item))
      field_errors_add(errors, pointer, NULL, "is listed twice");
    else
      items |= 1u << item;
  }
  return items;
}

/* A member given exactly when `needed`: the record a kind points at, or a summary the data set
 * carries. Silently ignoring one would share less, or keep more, than the clinician thought. */
static void given_when(const json_t *body, const char *name, bool needed, const char *why,
                       struct field_errors *errors) {
  const json_t *value = json_object_get(body, name);
  bool given = value && !json_is_null(value);
  char pointer[40];
  snprintf(pointer, sizeof pointer, "/%s", name);
  if (needed && !given) field_errors_add(errors, pointer, NULL, "is required %s", why);
  if (!needed && given) field_errors_add(errors, pointer, NULL, "must be absent unless %s", why);
}

/* Everything about a new share that its body alone decides (the rest needs the database). */
static void check_share(const json_t *body, const char *today, struct field_errors *errors) {
  enum share_kind kind;
  if (!share_kind_parse(text_of(body, "kind"), &kind)) return;
  share_items items = data_set_items(json_object_get(body, "data_set"), errors);
  enum share_item item;
  switch (share_items_check(kind, items, &item)) {
    case SHARE_ITEMS_MISSING:
      field_errors_add(errors, "/data_set", NULL, "must include %s for a %s",
                       share_item_name(item), share_kind_name(kind));
      break;
    case SHARE_ITEMS_NOT_ALLOWED:
      field_errors_add(errors, "/data_set", NULL,
                       "must not include %s: a %s does not need it (minimum necessary)",
                       share_item_name(item), share_kind_name(kind));
      break;
    case SHARE_ITEMS_OK:
      break;
  }
  given_when(body, "carer_id", kind == SHARE_CARER_ASSESSMENT,
             "for a carer_assessment_referral", errors);
  given_when(body, "care_plan_id", kind == SHARE_CARE_PLAN, "for a care_plan share", errors);
  given_when(body, "transfer_id", kind == SHARE_TRANSFER, "for a transfer share", errors);
  given_when(body, "needs_summary", items & (1u << ITEM_NEEDS_SUMMARY),
             "the data set includes needs_summary", errors);
  given_when(body, "risk_summary", items & (1u << ITEM_RISK_SUMMARY),
             "the data set includes risk_summary", errors);

  const json_t *basis_object = json_object_get(body, "lawful_basis");
  enum lawful_basis basis;
  if (!lawful_basis_parse(text_of(basis_object, "basis"), &basis)) return;
  const char *consent_on = text_of(basis_object, "consent_given_on");
  if (basis == BASIS_CONSENT && !consent_on)
    field_errors_add(errors, "/lawful_basis/consent_given_on", NULL,
                     "is required: when was consent given?");
  if (basis != BASIS_CONSENT && consent_on)
    field_errors_add(errors, "/lawful_basis/consent_given_on", NULL,
                     "must be absent unless the basis is consent");
  if (consent_on && strcmp(consent_on, today) > 0)
    field_errors_add(errors, "/lawful_basis/consent_given_on", NULL, "must not be in the future");
  if (basis != BASIS_CONSENT && !text_of(basis_object, "note"))
    field_errors_add(errors, "/lawful_basis/note", NULL,
                     "is required: name the legal gateway (e.g. the Act and section)");
  if (!share_basis_fits(kind, basis))
    field_errors_add(errors, "/lawful_basis/basis", NULL,
                     "does not fit a %s: a carer's assessment is offered under the Care Act "
                     "duty or with the carer's consent",
                     share_kind_name(kind));
}

/* What the database says about the share's targets (TARGETS), as field errors. */
static void check_targets(const json_t *body, PGresult *res, struct field_errors *errors) {
  enum partner_kind partner;
  enum share_kind kind;
  bool known = !PQgetisnull(res, 0, TARGET_ORG_KIND) &&
               partner_kind_parse(PQgetvalue(res, 0, TARGET_ORG_KIND), &partner);
  if (!known)
    field_errors_add(errors, "/org", NULL,
                     "must be the code of an active partner organisation (GET /partners)");
  else if (share_kind_parse(text_of(body, "kind"), &kind) && !share_may_go_to(kind, partner))
    field_errors_add(errors, "/org", NULL, "is a %s organisation, which does not take a %s",
                     PQgetvalue(res, 0, TARGET_ORG_KIND), share_kind_name(kind));
  if (strcmp(PQgetvalue(res, 0, TARGET_CARER), "t") != 0)
    field_errors_add(errors, "/carer_id", "R-CAR-1", "must be a carer of this person");
  if (strcmp(PQgetvalue(res, 0, TARGET_CARE_PLAN), "t") != 0)
    field_errors_add(errors, "/care_plan_id", "R-CPL-3",
                     "must be the episode's active care plan (its current version is shared)");
  if (strcmp(PQgetvalue(res, 0, TARGET_TRANSFER), "t") != 0)
    field_errors_add(errors, "/transfer_id", "R-TRF-1",
                     "must be this episode's proposed transfer of type partner_agency");
}

/* The data set as a PostgreSQL array literal (items are known names: no quoting needed). */
static char *data_set_literal(const json_t *data_set) {
  size_t cap = 2 + SHARE_ITEM_COUNT * 20, len = 0;
  char *out = malloc(cap);
  if (!out) return NULL;
  out[len++] = '{';
  size_t i;
  const json_t *value;
  json_array_foreach(data_set, i, value) {
    len += (size_t)snprintf(out + len, cap - len, "%s%s", i ? "," : "", json_string_value(value));
    if (len >= cap - 1) {
      free(out);
      return NULL;
    }
  }
  snprintf(out + len, cap - len, "}");
  return out;
}

void partner_shares_create(struct exchange *x) {
  if (!record_body_valid(x, SHARE_FIELDS, VALIDATE_CREATE)) return;
  char today[CIVIL_DATE_TEXT_LEN];
  uk_local_date(time(NULL), today);
  struct field_errors errors = {0};
  check_share(x->body, today, &errors);
  if (errors.count) {
    reply_validation(x, &errors);
    return;
  }
  struct tx tx;
  struct episode ep;
  PGresult *targets = NULL;
  char *data_set = NULL;
  json_t *details = NULL;
  enum idempotency_state idem = IDEMPOTENCY_NONE;
  if (!episode_child_begin_create(x, &tx, RESOURCE, &ep,
                                  "The episode is closed: share from an open episode.", &idem))
    goto done;
  const json_t *basis = json_object_get(x->body, "lawful_basis");
  const char *carer = text_of(x->body, "carer_id"), *plan = text_of(x->body, "care_plan_id"),
             *transfer = text_of(x->body, "transfer_id");
  const char *target_params[] = {text_of(x->body, "org"), carer, plan, transfer,
                                 ep.service_user_id, ep.id};
  enum cc_status status = tx_exec(&tx, &TARGETS, target_params, &targets);
  if (status != CC_OK) {
    reply_problem(x, status, NULL);
    goto done;
  }
  check_targets(x->body, targets, &errors);
  if (errors.count) {
    reply_validation(x, &errors);
    goto done;
  }
  if (!(data_set = data_set_literal(json_object_get(x->body, "data_set")))) {
    reply_problem(x, CC_INTERNAL, NULL);
    goto done;
  }
  const char *params[] = {ep.id,
                          text_of(x->body, "org"),
                          text_of(x->body, "kind"),
                          carer,
                          plan,
                          transfer,
                          text_of(basis, "basis"),
                          text_of(basis, "consent_given_on"),
                          text_of(basis, "note"),
                          data_set,
                          text_of(x->body, "needs_summary"),
                          text_of(x->body, "risk_summary"),
                          text_of(x->body, "message"),
                          x->principal.subject};
  /* The audit trail names what went where and why, not the content itself. */
  details = json_pack("{s:s, s:s, s:s, s:O}", "org", params[1], "kind", params[2],
                      "lawful_basis", params[6], "data_set", json_object_get(x->body, "data_set"));
  episode_child_insert(x, &tx, &ep, &INSERT, params, CONSTRAINTS, RESOURCE, "partner-shares",
                       details, idem);
done:
  free(data_set);
  json_decref(details);
  PQclear(targets);
  tx_end(&tx);
}

void partner_shares_get(struct exchange *x) { episode_child_get(x, RESOURCE, &SELECT, NOT_FOUND); }

void partner_shares_list(struct exchange *x) { episode_child_list(x, RESOURCE, &LIST); }

static const struct child_lock LOCK_SHARE = {&LOCK,    "partner share", NOT_FOUND, "withdrawn",
                                             "The share is already withdrawn.", RESOURCE};

void partner_shares_withdraw(struct exchange *x) {
  const char *id = episode_child_id(x, NOT_FOUND);
  if (!id) return;
  long expected = 0;
  if (exchange_if_match(x, &expected) != CC_OK) return;
  if (!record_body_valid(x, WITHDRAW_FIELDS, VALIDATE_CREATE)) return;
  struct tx tx;
  struct episode ep;
  PGresult *res = NULL, *withdrawn = NULL;
  json_t *current = NULL, *details = NULL;
  if (!episode_child_begin_change(x, &tx, false, &LOCK_SHARE, id, expected, CLOSED, &ep, &res,
                                  &current))
    goto done;
  enum share_status from;
  if (!share_status_parse(PQgetvalue(res, 0, 3), &from) ||
      !share_may_become(from, SHARE_WITHDRAWN)) {
    reply_problem(x, CC_CONFLICT,
                  "The partner has answered this share (%s): it is theirs to act on now.",
                  PQgetvalue(res, 0, 3));
    goto done;
  }
  const char *params[] = {id, x->principal.subject, text_of(x->body, "reason")};
  enum cc_status status = tx_exec(&tx, &WITHDRAW, params, &withdrawn);
  if (status == CC_OK && PQntuples(withdrawn) != 1) status = CC_INTERNAL;
  if (status == CC_OK) {
    details = json_pack("{s:[{s:s, s:s, s:s}, {s:s}]}", "changes", "field", "status", "old",
                        PQgetvalue(res, 0, 3), "new", "withdrawn", "field", "withdrawal_reason");
    status = details ? episode_audit(x, &tx, "update", RESOURCE, id, &ep, details) : CC_INTERNAL;
  }
  record_commit_reply(x, &tx, status, withdrawn);
done:
  json_decref(details);
  json_decref(current);
  PQclear(withdrawn);
  PQclear(res);
  tx_end(&tx);
}

/* ---- The partner's side ---- */

static const char *const SHARE_MEDIA_TYPES[] = {"application/json", "application/fhir+json"};

/* The share named by the path for the caller's organisation, read (or locked) in tx. Another
 * organisation's share, or none: 404 (whether it exists is not the caller's to learn), the
 * attempt on an existing one audited as a deny with its person. Returns true with *res. */
static bool partner_share(struct exchange *x, struct tx *tx, const struct partner_org *org,
                          bool lock, const char *action, PGresult **res) {
  const char *id = x->params[0];
  if (!text_is_uuid(id)) {
    reply_problem(x, CC_NOT_FOUND, PARTNER_NOT_FOUND);
    return false;
  }
  enum cc_status status = tx_exec(tx, lock ? &PARTNER_LOCK : &PARTNER_SELECT,
                                  (const char *const[]){id}, res);
  if (status != CC_OK) {
    reply_problem(x, status, NULL);
    return false;
  }
  if (PQntuples(*res) == 1 && strcmp(PQgetvalue(*res, 0, ROW_ORG), org->code) == 0) return true;
  if (PQntuples(*res) == 1) {
    json_t *details = json_pack("{s:s, s:s}", "org", org->code, "attempted", action);
    struct audit_event event = {.action = "deny", .resource_type = RESOURCE, .resource_id = id,
                                .service_user_id = PQgetvalue(*res, 0, ROW_PERSON),
                                .outcome = "denied", .details = details};
    status = audit_append(tx, &x->actor, &event);
    json_decref(details);
    if (status == CC_OK) status = tx_commit(tx);
    if (status != CC_OK) {
      reply_problem(x, status, NULL);
      return false;
    }
  }
  reply_problem(x, CC_NOT_FOUND, PARTNER_NOT_FOUND);
  return false;
}

/* The start of a partner's request about a share: the transaction, the caller's organisation
 * (partners.h) and the share addressed to it (partner_share). Returns false after replying;
 * the caller ends tx either way. */
static bool begin_partner_share(struct exchange *x, struct tx *tx, bool lock, const char *action,
                                PGresult **res) {
  struct partner_org org;
  enum cc_status status = tx_begin(x->app->pool, tx);
  if (status != CC_OK) {
    reply_problem(x, status, NULL);
    return false;
  }
  return partner_caller_org(x, tx, &org) && partner_share(x, tx, &org, lock, action, res);
}

/* An audit event of the partner's action on the share of row 0 of res. */
static enum cc_status partner_audit(struct exchange *x, struct tx *tx, const char *action,
                                    PGresult *res, const json_t *details) {
  struct audit_event event = {.action = action, .resource_type = RESOURCE,
                              .resource_id = PQgetvalue(res, 0, ROW_ID),
                              .service_user_id = PQgetvalue(res, 0, ROW_PERSON),
                              .outcome = "success", .details = details};
  return audit_append(tx, &x->actor, &event);
}

/* The `update` event of a partner's change of the share's status (row 0 of res). */
static enum cc_status partner_audit_status(struct exchange *x, struct tx *tx, PGresult *res,
                                           const char *from, const char *to) {
  json_t *details = json_pack("{s:[{s:s, s:s, s:s}]}", "changes", "field", "status", "old", from,
                              "new", to);
  enum cc_status status = details ? partner_audit(x, tx, "update", res, details) : CC_INTERNAL;
  json_decref(details);
  return status;
}

/* Commits and replies with the partner's view of row 0 of res: JSON, or (media_type 1) FHIR. */
static void partner_reply(struct exchange *x, struct tx *tx, enum cc_status status, PGresult *res,
                          int media_type) {
  json_t *fhir = NULL;
  if (status == CC_OK && media_type == 1) {
    json_t *share = json_loads(PQgetvalue(res, 0, ROW_JSON), 0, NULL);
    if (!share || !(fhir = fhir_share_bundle(share))) status = CC_INTERNAL;
    json_decref(share);
  }
  if (status == CC_OK) status = tx_commit(tx);
  if (status != CC_OK) {
    json_decref(fhir);
    reply_problem(x, status, NULL);
    return;
  }
  reply_etag(x, PQgetvalue(res, 0, ROW_VERSION));
  if (fhir)
    reply_json_as(x, 200, "application/fhir+json", fhir);
  else
    reply_json_text(x, 200, PQgetvalue(res, 0, ROW_JSON));
}

/* The list carries the state of each share, nothing about the person: no read event. */
static const struct record_type INBOX = {.resource_type = RESOURCE};

void partner_inbox_list(struct exchange *x) {
  int limit;
  const char *status_filter = NULL;
  char *after[1];
  if (query_limit(x, &limit) != CC_OK) return;
  if (query_text(x, "status", 20, &status_filter) != CC_OK) return;
  enum share_status wanted;
  if (status_filter && !share_status_parse(status_filter, &wanted)) {
    reply_problem(x, CC_BAD_REQUEST,
                  "status must be sent, acknowledged, accepted, rejected or withdrawn.");
    return;
  }
  if (record_cursor(x, 1, after) != CC_OK) return;
  struct tx tx;
  struct partner_org org;
  enum cc_status status = tx_begin(x->app->pool, &tx);
  if (status != CC_OK) {
    reply_problem(x, status, NULL);
  } else if (partner_caller_org(x, &tx, &org)) {
    const char *params[] = {org.code, status_filter, after[0], NULL};
    record_list_in(x, &tx, &INBOX, &PARTNER_LIST, params, limit, 1);
  }
  tx_end(&tx);
  cursor_parts_free(after, 1);
}

void partner_inbox_get(struct exchange *x) {
  int media_type = negotiate_media_type(exchange_header(x, "Accept"), SHARE_MEDIA_TYPES, 2);
  if (media_type < 0) {
    reply_problem(x, CC_NOT_ACCEPTABLE,
                  "A share is served as application/json or application/fhir+json.");
    return;
  }
  struct tx tx;
  PGresult *res = NULL;
  if (begin_partner_share(x, &tx, false, "read", &res))
    partner_reply(x, &tx, partner_audit(x, &tx, "read", res, NULL), res, media_type);
  PQclear(res);
  tx_end(&tx);
}

void partner_inbox_acknowledge(struct exchange *x) {
  struct tx tx;
  PGresult *res = NULL, *done = NULL;
  enum cc_status status;
  if (!begin_partner_share(x, &tx, true, "acknowledge", &res)) goto end;
  enum share_status from;
  if (!share_status_parse(PQgetvalue(res, 0, ROW_STATUS), &from)) {
    reply_problem(x, CC_INTERNAL, NULL);
    goto end;
  }
  if (from == SHARE_WITHDRAWN) {
    reply_problem(x, CC_CONFLICT, "The sender has withdrawn this share.");
    goto end;
  }
  /* Acknowledging again (a retry) or after answering changes nothing. */
  if (from != SHARE_SENT) {
    partner_reply(x, &tx, CC_OK, res, 0);
    goto end;
  }
  status = tx_exec(&tx, &ACKNOWLEDGE, (const char *const[]){x->params[0], x->principal.subject},
                   &done);
  if (status == CC_OK && PQntuples(done) != 1) status = CC_INTERNAL;
  if (status == CC_OK) status = partner_audit_status(x, &tx, done, "sent", "acknowledged");
  partner_reply(x, &tx, status, done, 0);
end:
  PQclear(done);
  PQclear(res);
  tx_end(&tx);
}

static bool decision_errors(struct exchange *x) {
  if (!record_body_valid(x, DECISION_FIELDS, VALIDATE_CREATE)) return false;
  bool rejected = strcmp(text_of(x->body, "decision"), "rejected") == 0;
  struct field_errors errors = {0};
  if (rejected && !text_of(x->body, "rejection_reason"))
    field_errors_add(&errors, "/rejection_reason", NULL, "is required with a rejection");
  if (!rejected && json_object_get(x->body, "rejection_reason") &&
      !json_is_null(json_object_get(x->body, "rejection_reason")))
    field_errors_add(&errors, "/rejection_reason", NULL, "must be absent unless rejected");
  if (!errors.count) return true;
  reply_validation(x, &errors);
  return false;
}

/* The partner's answer to a transfer share is the receiving side's decision on the transfer
 * (R-TRF-1); the sender stays responsible until it completes the transfer. */
static enum cc_status decide_transfer(struct exchange *x, struct tx *tx, PGresult *share,
                                      const char *decided_by) {
  PGresult *res = NULL;
  const char *decision = text_of(x->body, "decision");
  const char *params[] = {PQgetvalue(share, 0, ROW_TRANSFER), decision, decided_by,
                          text_of(x->body, "rejection_reason")};
  enum cc_status status = tx_exec(tx, &DECIDE_TRANSFER, params, &res);
  if (status == CC_OK && PQntuples(res) != 1) status = CC_CONFLICT;
  if (status == CC_OK) {
    json_t *details = json_pack("{s:[{s:s, s:s, s:s}], s:s}", "changes", "field", "status",
                                "old", "proposed", "new", decision, "partner_share_id",
                                PQgetvalue(share, 0, ROW_ID));
    struct audit_event event = {.action = "update", .resource_type = "transfer",
                                .resource_id = params[0],
                                .service_user_id = PQgetvalue(share, 0, ROW_PERSON),
                                .outcome = "success", .details = details};
    status = details ? audit_append(tx, &x->actor, &event) : CC_INTERNAL;
    json_decref(details);
  }
  PQclear(res);
  return status;
}

void partner_inbox_decide(struct exchange *x) {
  long expected = 0;
  if (exchange_if_match(x, &expected) != CC_OK) return;
  if (!decision_errors(x)) return;
  struct tx tx;
  PGresult *res = NULL, *done = NULL;
  enum cc_status status;
  if (!begin_partner_share(x, &tx, true, "decide", &res)) goto end;
  enum share_kind kind;
  enum share_status from, to = strcmp(text_of(x->body, "decision"), "accepted") == 0
                                   ? SHARE_ACCEPTED
                                   : SHARE_REJECTED;
  if (!share_kind_parse(PQgetvalue(res, 0, ROW_KIND), &kind) ||
      !share_status_parse(PQgetvalue(res, 0, ROW_STATUS), &from)) {
    reply_problem(x, CC_INTERNAL, NULL);
    goto end;
  }
  if (!share_kind_is_answered(kind)) {
    reply_problem(x, CC_CONFLICT, "A shared care plan is acknowledged, not accepted or rejected.");
    goto end;
  }
  if (atol(PQgetvalue(res, 0, ROW_VERSION)) != expected) {
    reply_etag(x, PQgetvalue(res, 0, ROW_VERSION));
    reply_problem(x, CC_PRECONDITION_FAILED,
                  "The share has changed since you read it (version %s): read it again.",
                  PQgetvalue(res, 0, ROW_VERSION));
    goto end;
  }
  if (!share_may_become(from, to)) {
    reply_problem(x, CC_CONFLICT, "This share is %s: it cannot be %s now.",
                  PQgetvalue(res, 0, ROW_STATUS), share_status_name(to));
    goto end;
  }
  char decided_by[PRINCIPAL_SUBJECT_MAX + PRINCIPAL_ORG_MAX + 2];
  snprintf(decided_by, sizeof decided_by, "%s/%s", x->principal.org, x->principal.subject);
  const char *params[] = {x->params[0], share_status_name(to), decided_by,
                          text_of(x->body, "rejection_reason")};
  status = tx_exec(&tx, &DECIDE, params, &done);
  if (status == CC_OK && PQntuples(done) != 1) status = CC_INTERNAL;
  if (status == CC_OK && kind == SHARE_TRANSFER) {
    status = decide_transfer(x, &tx, res, decided_by);
    if (status == CC_CONFLICT) {
      reply_problem(x, CC_CONFLICT, "The sender has cancelled this transfer.");
      goto end;
    }
  }
  if (status == CC_OK)
    status = partner_audit_status(x, &tx, done, PQgetvalue(res, 0, ROW_STATUS),
                                  share_status_name(to));
  partner_reply(x, &tx, status, done, 0);
end:
  PQclear(done);
  PQclear(res);
  tx_end(&tx);
}
