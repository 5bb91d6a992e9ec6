/* Episodes of care (DOMAIN.md care cycle step 2), as the people caring for the person see them:
 * the team, the care level and its history, and a summary of who holds the episode now and when
 * the assessment and the care plan are due (R-ASM-1, R-CPL-1; later issues add more dates to
 * `summary.due`). Episodes are opened by accepting a referral (R-REF-4), not here.
 *
 * Access is the person's (auth/policy.h): reading an episode is reading the person's record, so
 * it is decided by the relationship with the episode's service user, audited as a read of
 * resource_type `episode` with service_user_id set, and open to break-glass (R-AUD-1). */
#include "resources/episodes.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "http/cursor.h"
#include "resources/allocations.h"
#include "resources/person_page.h"
#include "resources/record.h"
#include "resources/resources.h"
#include "rules/assessment_rules.h"
#include "rules/clocks.h"
#include "rules/review_rules.h"

static const struct db_stmt EPISODE_LOCK = {
    "episodes_lock", "SELECT 1 FROM episodes WHERE id = $1::uuid FOR NO KEY UPDATE", 1};

/* What the handlers decide with: the person, whether the episode is open, its care level, its
 * team's type, whether the caller's team ($2: token subject) holds it, and its first
 * co-ordinating allocation. */
static const struct db_stmt EPISODE_FIND = {
    "episodes_find",
    "SELECT e.service_user_id, e.status = 'open', e.care_level, t.type = 'inpatient_ward',"
    " COALESCE(e.team_id = (SELECT s.team_id FROM staff s WHERE s.subject = $2 AND s.active),"
    "   false),"
    " (SELECT a.id FROM allocations a WHERE a.episode_id = e.id"
    "   AND a.role IN " COORDINATING_ROLES_SQL " ORDER BY a.started_at, a.id LIMIT 1),"
    " t.type = 'substance_misuse'"
    " FROM episodes e JOIN teams t ON t.id = e.team_id WHERE e.id = $1::uuid",
    2};

/* The episode row e with its team t and its facts f (db/migrations/0011_episode_facts.sql: kept
 * by the database in the transaction of every change, so one indexed row instead of a query
 * per clock); EPISODE_FROM adds `clock`, its first co-ordinating allocation, for its id. */
#define EPISODE_LEAN_FROM                                                                        \
  " FROM episodes e JOIN teams t ON t.id = e.team_id"                                            \
  " JOIN episode_facts f ON f.episode_id = e.id"
#define EPISODE_FROM                                                                             \
  EPISODE_LEAN_FROM                                                                              \
  " LEFT JOIN LATERAL (SELECT a.id FROM allocations a WHERE a.episode_id = e.id"                 \
  "   AND a.role IN " COORDINATING_ROLES_SQL " ORDER BY a.started_at, a.id LIMIT 1) clock ON true"

/* Whole seconds since the epoch of a timestamp fact. */
#define EPOCH_OF(FACT) "floor(extract(epoch FROM f." FACT "))::bigint"

/* Columns: id, version (episodes have none yet), representation, cursor id, then what the clocks
 * are computed from in C by the rules (rules/allocation_rules.h, rules/assessment_rules.h): the
 * first co-ordinating allocation's start (NULL before there is one), whether the episode is a
 * substance-misuse team's (R-ASM-7), and when the first holistic assessment, the last assessment
 * with a risk section and the last TOPs were completed (NULL when none was). */
#define EPISODE_COLUMNS                                                                          \
  "e.id, NULL, json_build_object('id', e.id, 'service_user_id', e.service_user_id,"             \
  " 'team', json_build_object('id', t.id, 'name', t.name, 'type', t.type),"                      \
  " 'referral_id', e.referral_id, 'care_level', e.care_level,"                                   \
  " 'care_level_provisional', e.care_level_provisional, 'status', e.status,"                     \
  " 'opened_at', e.opened_at, 'closed_at', e.closed_at,"                                         \
  " 'care_level_history', COALESCE((SELECT json_agg(json_build_object('from_level',"             \
  "   c.from_level, 'to_level', c.to_level, 'reason', c.reason, 'changed_at', c.changed_at,"     \
  "   'changed_by', c.changed_by) ORDER BY c.changed_at, c.id)"                                  \
  "   FROM episode_care_level_changes c WHERE c.episode_id = e.id), '[]'::json),"                \
  " 'summary', json_build_object("                                                               \
  "   'current_allocation', (SELECT " ALLOCATION_JSON("a") " FROM allocations a"                  \
  "     WHERE a.episode_id = e.id AND a.ended_at IS NULL),"                                      \
  "   'clocks_started_by_allocation_id', clock.id,"                                              \
  "   'open_change_request_id', (SELECT r.id FROM allocation_change_requests r"                  \
  "     WHERE r.episode_id = e.id AND r.status = 'requested'),"                                  \
  "   'care_plan', f.care_plan_summary))::text,"                                                 \
  " e.id::text, " EPISODE_FACTS

/* The columns the summary is computed from (episode_add_summary), after the first four. */
#define EPISODE_FACTS                                                                            \
  EPOCH_OF("clock_started_at") ", t.type = 'substance_misuse',"                                  \
  " " EPOCH_OF("holistic_completed_at") ", " EPOCH_OF("risk_completed_at") ","                    \
  " " EPOCH_OF("tops_completed_at") ", " EPOCH_OF("plan_activated_at") ","                        \
  " to_char(f.review_held_on, 'YYYY-MM-DD'), e.care_level, f.current_allocation_role"

static const struct db_stmt EPISODE_SELECT = {
    "episodes_select", "SELECT " EPISODE_COLUMNS EPISODE_FROM " WHERE e.id = $1::uuid", 1};

/* The person's display name, by their id (a join would let the planner scan every person). */
#define PERSON_NAME                                                                              \
  "(SELECT su.given_name || ' ' || su.family_name FROM service_users su"                         \
  "  WHERE su.id = e.service_user_id)"

/* What the worklists and caseloads read of an episode (the EPISODE_ROW_* columns of
 * resources/episodes.h): a team holds a thousand episodes or more, so plain columns from the
 * facts, not the episode's representation. */
#define EPISODE_WORKLIST_COLUMNS                                                                 \
  "e.id, e.service_user_id, e.care_level, f.care_plan_summary ->> 'id', " EPISODE_FACTS ", "      \
  PERSON_NAME ", (f.care_plan_summary ->> 'sent_to_person')::boolean"                             \
  " AND (f.care_plan_summary ->> 'sent_to_gp')::boolean, f.holder_staff_id,"                     \
  " COALESCE(h.name, f.external_holder_name), f.current_allocation_role, f.deputy_staff_id,"     \
  " NOT h.active"
/* ...from the episodes and their facts, with the holder's staff record (none for an external
 * holder or no allocation): one lookup of it per episode. */
#define EPISODE_WORKLIST_FROM                                                                    \
  EPISODE_LEAN_FROM                                                                              \
  " LEFT JOIN LATERAL (SELECT s.name, s.active FROM staff s WHERE s.id = f.holder_staff_id) h"   \
  "   ON true"

const struct db_stmt EPISODES_OF_HOLDER = {
    "episodes_of_holder",
    "SELECT " EPISODE_WORKLIST_COLUMNS EPISODE_WORKLIST_FROM
    " WHERE e.status = 'open' AND e.id IN (SELECT a.episode_id FROM allocations a"
    "   JOIN staff s ON s.id IN (a.holder_staff_id, a.deputy_staff_id)"
    "   WHERE s.subject = $1 AND s.active AND a.ended_at IS NULL)"
    " ORDER BY e.id",
    1};

const struct db_stmt EPISODES_OF_TEAM = {
    "episodes_of_team",
    "SELECT " EPISODE_WORKLIST_COLUMNS EPISODE_WORKLIST_FROM
    " WHERE e.status = 'open' AND e.team_id = $1::uuid"
    "   AND f.team_id = $1::uuid AND f.status = 'open'" /* the same, but lets it use facts' index */
    " ORDER BY e.id",
    1};

/* A person's episodes, newest first; the cursor is the last row's id. */
static const struct db_stmt EPISODE_LIST = {
    "episodes_list_of_person",
    "SELECT " EPISODE_COLUMNS EPISODE_FROM
    " WHERE e.service_user_id = $1::uuid"
    "   AND ($2::uuid IS NULL OR (e.opened_at, e.id) <"
    "        (SELECT p.opened_at, p.id FROM episodes p WHERE p.id = $2::uuid))"
    " ORDER BY e.opened_at DESC, e.id DESC LIMIT $3",
    3};

enum {
  CLOCK_COLUMN = 4,
  SUBSTANCE_MISUSE_COLUMN,
  HOLISTIC_COMPLETED_COLUMN,
  RISK_COMPLETED_COLUMN,
  TOPS_COMPLETED_COLUMN,
  CARE_PLAN_ACTIVE_COLUMN,
  REVIEW_HELD_COLUMN,
  CARE_LEVEL_COLUMN,
  CURRENT_ROLE_COLUMN
};
_Static_assert(EPISODE_ROW_PLAN_ID + 1 == CLOCK_COLUMN &&
                   EPISODE_ROW_PERSON_NAME == CURRENT_ROLE_COLUMN + 1,
               "EPISODE_WORKLIST_COLUMNS has the clocks' facts where the episode columns do");

static void copy_id(char out[UUID_TEXT_SIZE], PGresult *res, int col) {
  snprintf(out, UUID_TEXT_SIZE, "%s", PQgetisnull(res, 0, col) ? "" : PQgetvalue(res, 0, col));
}

bool episode_access(struct exchange *x, struct tx *tx, const char *resource_type,
                    const char *resource_id, bool lock, enum access_action action,
                    bool break_glass, struct episode *ep, enum access_decision *decision) {
  return episode_access_with(x, tx, resource_type, resource_id, lock, action, break_glass, ep,
                             decision, &(struct episode_fetch){0});
}

bool episode_access_with(struct exchange *x, struct tx *tx, const char *resource_type,
                         const char *resource_id, bool lock, enum access_action action,
                         bool break_glass, struct episode *ep, enum access_decision *decision,
                         struct episode_fetch *also) {
  const char *id = x->params[0];
  *ep = (struct episode){0};
  also->result = NULL;
  if (!text_is_uuid(id)) {
    reply_problem(x, CC_NOT_FOUND, "No episode has this id.");
    return false;
  }
  /* One round trip: the lock, the episode's facts, the relationship with its person and what
   * the handler reads beside them. */
  const struct db_stmt *stmts[TX_MAX_BATCH];
  const char *const *params[TX_MAX_BATCH];
  PGresult *res[TX_MAX_BATCH] = {NULL};
  size_t n = 0;
  const char *const by_id[] = {id}, *const find[] = {id, x->principal.subject},
                    *const relationship[] = {x->principal.subject, id};
  if (lock) stmts[n] = &EPISODE_LOCK, params[n++] = by_id;
  size_t facts = n;
  stmts[n] = &EPISODE_FIND, params[n++] = find;
  stmts[n] = &POLICY_RELATIONSHIP_OF_EPISODE, params[n++] = relationship;
  if (also->stmt) stmts[n] = also->stmt, params[n++] = also->params;
  enum cc_status status = tx_exec_batch(tx, n, stmts, params, res);
  if (status == CC_OK && (PQntuples(res[0]) == 0 || PQntuples(res[facts]) == 0))
    status = CC_NOT_FOUND;
  if (status == CC_OK) {
    PGresult *f = res[facts];
    snprintf(ep->id, sizeof ep->id, "%s", id);
    copy_id(ep->service_user_id, f, 0);
    ep->open = strcmp(PQgetvalue(f, 0, 1), "t") == 0;
    if (!care_level_parse(PQgetvalue(f, 0, 2), &ep->care_level)) status = CC_INTERNAL;
    ep->inpatient_ward = strcmp(PQgetvalue(f, 0, 3), "t") == 0;
    ep->held_by_callers_team = strcmp(PQgetvalue(f, 0, 4), "t") == 0;
    copy_id(ep->clock_allocation_id, f, 5);
    ep->substance_misuse = strcmp(PQgetvalue(f, 0, 6), "t") == 0;
  }
  bool allowed = false;
  if (status == CC_NOT_FOUND) {
    reply_problem(x, CC_NOT_FOUND, "No episode has this id.");
  } else if (status != CC_OK) {
    reply_problem(x, status, NULL);
  } else {
    struct access_target target = {resource_type, resource_id, ep->service_user_id};
    allowed = access_person_decide(x, tx, &target, action, break_glass, res[facts + 1], decision);
  }
  if (allowed && also->stmt) {
    also->result = res[n - 1];
    res[n - 1] = NULL;
  }
  for (size_t i = 0; i < n; i++) PQclear(res[i]);
  return allowed;
}

/* The episode's care level becomes $2, confirmed (no longer provisional), with a line in the
 * history when it changes. Returns the level before and whether it was provisional, or no row
 * when nothing changed. The caller has locked the episode row. */
static const struct db_stmt SET_CARE_LEVEL = {
    "episodes_set_care_level",
    "WITH before AS (SELECT care_level, care_level_provisional FROM episodes WHERE id = $1::uuid),"
    " changed AS (UPDATE episodes e SET care_level = $2, care_level_provisional = false"
    "   FROM before WHERE e.id = $1::uuid"
    "     AND (before.care_level IS DISTINCT FROM $2 OR before.care_level_provisional)"
    "   RETURNING before.care_level AS from_level, before.care_level_provisional),"
    " history AS (INSERT INTO episode_care_level_changes (episode_id, from_level, to_level,"
    "   reason, changed_by) SELECT $1::uuid, from_level, $2, $3, $4 FROM changed"
    "   WHERE from_level IS DISTINCT FROM $2 RETURNING 1)"
    " SELECT from_level, care_level_provisional, (SELECT count(*) FROM history) FROM changed",
    4};

enum cc_status episode_set_care_level(struct exchange *x, struct tx *tx, const struct episode *ep,
                                      enum care_level level, const char *reason,
                                      const char *source_member, const char *source_id) {
  const char *name = care_level_name(level);
  PGresult *res = NULL;
  const char *params[] = {ep->id, name, reason, x->principal.subject};
  enum cc_status status = tx_exec(tx, &SET_CARE_LEVEL, params, &res);
  if (status == CC_OK && PQntuples(res) == 1) {
    json_t *changes = json_array();
    const char *from = PQgetvalue(res, 0, 0);
    if (strcmp(from, name) != 0)
      json_array_append_new(changes, json_pack("{s:s, s:s, s:s}", "field", "care_level", "old",
                                               from, "new", name));
    if (strcmp(PQgetvalue(res, 0, 1), "t") == 0)
      json_array_append_new(changes, json_pack("{s:s, s:b, s:b}", "field",
                                               "care_level_provisional", "old", 1, "new", 0));
    json_t *details = json_pack("{s:o, s:s}", "changes", changes, source_member, source_id);
    status = episode_audit(x, tx, "update", "episode", ep->id, ep, details);
    json_decref(details);
  }
  PQclear(res);
  return status;
}

bool episode_require_holding_team(struct exchange *x, struct tx *tx, const struct episode *ep,
                                  const struct access_target *target) {
  if (ep->held_by_callers_team) return true;
  return access_refuse(x, tx, target, ACCESS_WRITE, access_break_glass_requested(x), CC_FORBIDDEN,
                       "Only a manager of the team that holds the episode may do this.");
}

/* The London date of the instant in column col, or NULL when it is null. */
static const char *london_date_of(PGresult *res, int row, int col, char out[11]) {
  if (PQgetisnull(res, row, col)) return NULL;
  uk_local_date((time_t)atoll(PQgetvalue(res, row, col)), out);
  return out;
}

/* R-REV-3, R-ALC-2: whether the current allocation's role is the one the care level calls for
 * (an interim named nurse holds an episode whatever its level): 1 or 0; -1 without one. */
static int allocation_matches_level(PGresult *res, int row, enum care_level level) {
  enum allocation_role role;
  if (PQgetisnull(res, row, CURRENT_ROLE_COLUMN) ||
      !allocation_role_parse(PQgetvalue(res, row, CURRENT_ROLE_COLUMN), &role))
    return -1;
  return !allocation_role_coordinates(role) || role == allocation_role_for_care_level(level);
}

static json_t *clock_json(const struct clock_state *clock, const char *rule) {
  return json_pack("{s:s?, s:b, s:s?, s:s}", "due", clock->has_due ? clock->due : NULL,
                   "overdue", clock->overdue, "completed",
                   clock->has_completed ? clock->completed : NULL, "rule", rule);
}

bool episode_clocks_of(const struct policy *policy, PGresult *res, int row, const char *today,
                       struct episode_clocks *out) {
  *out = (struct episode_clocks){.allocation_matches = -1};
  if (!PQgetisnull(res, row, CLOCK_COLUMN)) {
    time_t start = (time_t)atoll(PQgetvalue(res, row, CLOCK_COLUMN));
    allocation_due_date(start, policy->assessment_due_days, out->assessment_due);
    allocation_due_date(start, policy->care_plan_due_days, out->care_plan_due);
  }
  const char *holistic_due = out->assessment_due[0] ? out->assessment_due : NULL;
  char holistic_done[11], risk_done[11], tops_done[11], plan_active[11], clock_start[11];
  const char *holistic = london_date_of(res, row, HOLISTIC_COMPLETED_COLUMN, holistic_done);
  bool valid = holistic_assessment_clock(holistic_due, holistic, today, &out->holistic);
  valid &= risk_review_clock(holistic_due,
                             london_date_of(res, row, RISK_COMPLETED_COLUMN, risk_done),
                             policy->risk_review_months, today, &out->risk_review);
  out->tops_applies = strcmp(PQgetvalue(res, row, SUBSTANCE_MISUSE_COLUMN), "t") == 0;
  if (out->tops_applies)
    valid &= tops_clock(holistic_due, holistic,
                        london_date_of(res, row, TOPS_COMPLETED_COLUMN, tops_done),
                        policy->tops_interval_months, today, &out->tops);
  /* R-CPL-1: due once, like the holistic assessment; met by the first plan made active. */
  valid &= holistic_assessment_clock(
      out->care_plan_due[0] ? out->care_plan_due : NULL,
      london_date_of(res, row, CARE_PLAN_ACTIVE_COLUMN, plan_active), today, &out->care_plan);
  enum care_level level = CARE_LEVEL_NON_CPA;
  valid &= care_level_parse(PQgetvalue(res, row, CARE_LEVEL_COLUMN), &level);
  valid &= review_clock(level,
                        PQgetisnull(res, row, REVIEW_HELD_COLUMN)
                            ? NULL
                            : PQgetvalue(res, row, REVIEW_HELD_COLUMN),
                        london_date_of(res, row, CLOCK_COLUMN, clock_start),
                        policy->review_cpa_months, policy->review_non_cpa_months, today,
                        &out->review);
  out->allocation_matches = allocation_matches_level(res, row, level);
  return valid;
}

/* summary.due: the dates the first co-ordinating allocation set running (R-ASM-1, R-CPL-1),
 * null for both until there is one; summary.clocks: the clocks with what satisfied them and
 * whether they are overdue today (R-ASM-1, R-ASM-6, R-CPL-1, R-REV-1, and R-ASM-7 for
 * substance-misuse episodes). */
enum cc_status episode_add_summary(struct exchange *x, PGresult *res, int row, json_t *episode) {
  json_t *summary = json_object_get(episode, "summary");
  if (!json_is_object(summary)) return CC_INTERNAL;
  char today[11];
  uk_local_date(time(NULL), today);
  struct episode_clocks c;
  bool valid = episode_clocks_of(&x->app->config->policy, res, row, today, &c);
  json_object_set_new(summary, "due",
                      json_pack("{s:s?, s:s?}", "assessment_due",
                                c.assessment_due[0] ? c.assessment_due : NULL, "care_plan_due",
                                c.care_plan_due[0] ? c.care_plan_due : NULL));
  json_t *clocks = json_object();
  json_object_set_new(clocks, "holistic_assessment", clock_json(&c.holistic, "R-ASM-1"));
  json_object_set_new(clocks, "risk_review", clock_json(&c.risk_review, "R-ASM-6"));
  json_object_set_new(clocks, "tops",
                      c.tops_applies ? clock_json(&c.tops, "R-ASM-7") : json_null());
  json_object_set_new(clocks, "care_plan", clock_json(&c.care_plan, "R-CPL-1"));
  json_object_set_new(clocks, "review", clock_json(&c.review, "R-REV-1"));
  json_object_set_new(summary, "clocks", clocks);
  json_object_set_new(summary, "allocation_matches_care_level",
                      c.allocation_matches < 0 ? json_null()
                                               : json_boolean(c.allocation_matches == 1));
  return valid ? CC_OK : CC_INTERNAL;
}

enum cc_status episode_clocks(struct exchange *x, struct tx *tx, const struct episode *ep,
                              json_t **clocks) {
  *clocks = NULL;
  PGresult *res = NULL;
  json_t *episode = NULL;
  enum cc_status status = tx_exec(tx, &EPISODE_SELECT, (const char *const[]){ep->id}, &res);
  if (status == CC_OK && PQntuples(res) != 1) status = CC_INTERNAL;
  if (status == CC_OK && !(episode = json_loads(PQgetvalue(res, 0, 2), 0, NULL)))
    status = CC_INTERNAL;
  if (status == CC_OK) status = episode_add_summary(x, res, 0, episode);
  if (status == CC_OK)
    *clocks = json_incref(json_object_get(json_object_get(episode, "summary"), "clocks"));
  if (status == CC_OK && !*clocks) status = CC_INTERNAL;
  json_decref(episode);
  PQclear(res);
  return status;
}

void episodes_get(struct exchange *x) {
  const char *reason = NULL;
  if (!access_break_glass_reason(x, &reason)) return;
  struct tx tx;
  struct episode ep;
  struct episode_fetch summary = {&EPISODE_SELECT, (const char *const[]){x->params[0]}, NULL};
  json_t *episode = NULL;
  enum access_decision decision = ACCESS_ALLOW;
  enum cc_status status = tx_begin(x->app->pool, &tx);
  if (status != CC_OK) {
    reply_problem(x, status, NULL);
    goto done;
  }
  if (!episode_access_with(x, &tx, "episode", x->params[0], false, ACCESS_READ, reason != NULL,
                           &ep, &decision, &summary))
    goto done;
  PGresult *res = summary.result;
  if (PQntuples(res) != 1) status = CC_INTERNAL;
  if (status == CC_OK) episode = json_loads(PQgetvalue(res, 0, 2), 0, NULL);
  if (status == CC_OK && !episode) status = CC_INTERNAL;
  if (status == CC_OK) status = episode_add_summary(x, res, 0, episode);
  if (status == CC_OK) {
    struct access_target target = {"episode", ep.id, ep.service_user_id};
    status = access_audit_read(x, &tx, &target, decision, reason);
  }
  if (status == CC_OK) status = tx_commit(&tx);
  if (status != CC_OK) {
    reply_problem(x, status, NULL);
    goto done;
  }
  reply_json(x, 200, episode);
  episode = NULL;
done:
  json_decref(episode);
  PQclear(summary.result);
  tx_end(&tx);
}

void service_users_episodes(struct exchange *x) {
  const char *person = x->params[0];
  if (!text_is_uuid(person)) {
    reply_problem(x, CC_NOT_FOUND, "No service_user has this id.");
    return;
  }
  int limit;
  const char *reason = NULL;
  char *after[1];
  if (!person_page_query(x, &limit, &reason, after)) return;
  struct tx tx;
  struct access_target target = {"episode", NULL, person};
  enum access_decision decision = ACCESS_ALLOW;
  enum cc_status status = tx_begin(x->app->pool, &tx);
  if (status != CC_OK) {
    reply_problem(x, status, NULL);
  } else if (access_person(x, &tx, &target, ACCESS_READ, reason != NULL, &decision)) {
    const char *params[] = {person, after[0], NULL};
    person_page_reply(x, &tx, &target, decision, reason, &EPISODE_LIST, params, limit,
                      episode_add_summary);
  }
  tx_end(&tx);
  cursor_parts_free(after, 1);
}

const char *episode_child_id(struct exchange *x, const char *not_found) {
  const char *id = x->param_count > 1 ? x->params[1] : NULL;
  if (id && text_is_uuid(id)) return id;
  reply_problem(x, CC_NOT_FOUND, "%s", not_found);
  return NULL;
}

bool episode_child_lock(struct exchange *x, struct tx *tx, const struct episode *ep,
                        const struct child_lock *how, const char *id, long expected,
                        PGresult **res, json_t **current) {
  enum cc_status status = tx_exec(tx, how->stmt, (const char *const[]){id, ep->id}, res);
  if (status != CC_OK) {
    reply_problem(x, status, NULL);
    return false;
  }
  if (PQntuples(*res) == 0) {
    reply_problem(x, CC_NOT_FOUND, "%s", how->not_found);
    return false;
  }
  if (strcmp(PQgetvalue(*res, 0, 3), how->frozen_state) == 0) {
    reply_problem(x, CC_CONFLICT, "%s", how->frozen_detail);
    return false;
  }
  const char *version = PQgetvalue(*res, 0, 1);
  if (atol(version) != expected) {
    reply_etag(x, version);
    reply_problem(x, CC_PRECONDITION_FAILED,
                  "The %s has changed since you read it (now version %s); read it again and "
                  "reapply your change.",
                  how->noun, version);
    return false;
  }
  *current = json_loads(PQgetvalue(*res, 0, 2), 0, NULL);
  if (!*current) reply_problem(x, CC_INTERNAL, NULL);
  return *current != NULL;
}

enum cc_status episode_audit(struct exchange *x, struct tx *tx, const char *action,
                             const char *resource_type, const char *id, const struct episode *ep,
                             const json_t *details) {
  struct audit_event event = {.action = action, .resource_type = resource_type,
                              .resource_id = id, .service_user_id = ep->service_user_id,
                              .outcome = "success", .details = details};
  return audit_append(tx, &x->actor, &event);
}

bool episode_child_begin_create(struct exchange *x, struct tx *tx, const char *resource_type,
                                struct episode *ep, const char *closed_detail,
                                enum idempotency_state *idem) {
  *idem = IDEMPOTENCY_NONE;
  enum access_decision decision;
  enum cc_status status = tx_begin(x->app->pool, tx);
  if (status != CC_OK) {
    reply_problem(x, status, NULL);
    return false;
  }
  if (!episode_access(x, tx, resource_type, NULL, false, ACCESS_WRITE,
                      access_break_glass_requested(x), ep, &decision))
    return false;
  if (!ep->open) {
    reply_problem(x, CC_CONFLICT, "%s", closed_detail);
    return false;
  }
  return idempotency_begin(x, tx, idem) == CC_OK && *idem != IDEMPOTENCY_REPLAYED;
}

bool episode_child_begin_change(struct exchange *x, struct tx *tx, bool lock_episode,
                                const struct child_lock *how, const char *id, long expected,
                                const char *closed_detail, struct episode *ep, PGresult **res,
                                json_t **current) {
  enum access_decision decision;
  enum cc_status status = tx_begin(x->app->pool, tx);
  if (status != CC_OK) {
    reply_problem(x, status, NULL);
    return false;
  }
  if (!episode_access(x, tx, how->resource_type, id, lock_episode, ACCESS_WRITE,
                      access_break_glass_requested(x), ep, &decision) ||
      !episode_child_lock(x, tx, ep, how, id, expected, res, current))
    return false;
  if (ep->open) return true;
  reply_problem(x, CC_CONFLICT, "%s", closed_detail);
  return false;
}

/* Stores the idempotent response, commits and replies 201 for the record of res. Returns a
 * failure without replying it. */
static enum cc_status child_created(struct exchange *x, struct tx *tx, const struct episode *ep,
                                    const char *collection, PGresult *res,
                                    enum idempotency_state idem) {
  const char *json = PQgetvalue(res, 0, 2);
  char location[200], etag[40];
  snprintf(location, sizeof location, "/episodes/%s/%s/%s", ep->id, collection,
           PQgetvalue(res, 0, 0));
  snprintf(etag, sizeof etag, "\"%s\"", PQgetvalue(res, 0, 1));
  enum cc_status status = CC_OK;
  if (idem == IDEMPOTENCY_CLAIMED) status = idempotency_store(x, tx, 201, json, location, etag);
  if (status == CC_OK) status = tx_commit(tx);
  if (status != CC_OK) return status;
  reply_header(x, "Location", location);
  reply_header(x, "ETag", etag);
  reply_json_text(x, 201, json);
  return CC_OK;
}

void episode_child_insert(struct exchange *x, struct tx *tx, const struct episode *ep,
                          const struct db_stmt *insert, const char *const *params,
                          const struct constraint_problem *constraints,
                          const char *resource_type, const char *collection,
                          const json_t *details, enum idempotency_state idem) {
  PGresult *res = NULL;
  enum cc_status status = tx_exec(tx, insert, params, &res);
  if (status == CC_OK && PQntuples(res) != 1) status = CC_INTERNAL;
  if (status != CC_OK) {
    record_reply_db_failure(x, constraints, tx, status);
    PQclear(res);
    return;
  }
  status = episode_audit(x, tx, "create", resource_type, PQgetvalue(res, 0, 0), ep, details);
  if (status == CC_OK) status = child_created(x, tx, ep, collection, res, idem);
  if (status != CC_OK) reply_problem(x, status, NULL);
  PQclear(res);
}

void episode_child_update(struct exchange *x, struct tx *tx, const struct episode *ep,
                          const struct db_stmt *update, const char *const *params,
                          const struct constraint_problem *constraints,
                          const char *resource_type, const char *id,
                          const struct field_spec *fields, const json_t *current,
                          const json_t *merged) {
  PGresult *updated = NULL;
  enum cc_status status = tx_exec(tx, update, params, &updated);
  if (status == CC_OK && PQntuples(updated) != 1) status = CC_INTERNAL;
  if (status != CC_OK) {
    record_reply_db_failure(x, constraints, tx, status);
    PQclear(updated);
    return;
  }
  json_t *details = json_pack("{s:o}", "changes", fields_changes_new(current, merged, fields));
  status = details ? episode_audit(x, tx, "update", resource_type, id, ep, details) : CC_INTERNAL;
  record_commit_reply(x, tx, status, updated);
  json_decref(details);
  PQclear(updated);
}

void episode_child_get(struct exchange *x, const char *resource_type, const struct db_stmt *select,
                       const char *not_found) {
  const char *id = x->param_count > 1 ? x->params[1] : NULL, *reason = NULL;
  if (!id || !text_is_uuid(id)) {
    reply_problem(x, CC_NOT_FOUND, "%s", not_found);
    return;
  }
  if (!access_break_glass_reason(x, &reason)) return;
  struct tx tx;
  struct episode ep;
  struct episode_fetch child = {select, (const char *const[]){id, x->params[0]}, NULL};
  enum access_decision decision;
  enum cc_status status = tx_begin(x->app->pool, &tx);
  if (status != CC_OK) {
    reply_problem(x, status, NULL);
    goto done;
  }
  if (!episode_access_with(x, &tx, resource_type, id, false, ACCESS_READ, reason != NULL, &ep,
                           &decision, &child))
    goto done;
  if (PQntuples(child.result) == 0) {
    reply_problem(x, CC_NOT_FOUND, "%s", not_found);
    goto done;
  }
  struct access_target target = {resource_type, id, ep.service_user_id};
  status = access_audit_read(x, &tx, &target, decision, reason);
  record_commit_reply(x, &tx, status, child.result);
done:
  PQclear(child.result);
  tx_end(&tx);
}

void episode_child_list(struct exchange *x, const char *resource_type, const struct db_stmt *list) {
  int limit;
  const char *reason = NULL;
  char *after[1];
  if (!person_page_query(x, &limit, &reason, after)) return;
  struct tx tx;
  struct episode ep;
  enum access_decision decision;
  enum cc_status status = tx_begin(x->app->pool, &tx);
  if (status != CC_OK) {
    reply_problem(x, status, NULL);
  } else if (episode_access(x, &tx, resource_type, NULL, false, ACCESS_READ, reason != NULL, &ep,
                            &decision)) {
    struct access_target target = {resource_type, NULL, ep.service_user_id};
    const char *params[] = {ep.id, after[0], NULL};
    person_page_reply(x, &tx, &target, decision, reason, list, params, limit, NULL);
  }
  tx_end(&tx);
  cursor_parts_free(after, 1);
}
