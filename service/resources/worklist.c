/* Worklists and caseloads. The caller's worklist (GET /me/worklist): every item due or overdue
 * across the episodes they hold or deputise on, soonest first; a team's (GET
 * /teams/{id}/worklist, for its managers): the same across the team's open episodes, with the
 * referrals routed to the team still awaiting a response (R-REF-1); a team's caseloads (GET
 * /teams/{id}/caseloads): per staff member, the episodes they hold by care level and role, those
 * they deputise on, and how many items of theirs are overdue. The clocks are the ones the episode summary shows, computed
 * by the same rules, so the worklist and the record never disagree:
 *
 *   holistic_assessment (R-ASM-1), care_plan (R-CPL-1)   due once, until met
 *   review (R-REV-1), risk_review (R-ASM-6), tops (R-ASM-7)   always a next one
 *   care_plan_not_sent (R-CPL-4)      the active plan's current version not yet sent to the
 *                                     person or the GP (undated)
 *   allocation_mismatch (R-ALC-2, R-REV-3)   the current allocation's role does not fit the
 *                                     care level (undated)
 *   carer_assessment_offer (R-CAR-2)  a carer not yet offered an assessment (undated)
 *   carer_needs_review (R-CAR-2)      a carer's yearly review of needs
 *   follow_up (R-TRF-3)               the face-to-face follow-up after a hospital discharge
 *   liaison (R-TRF-4)                 liaison during an out-of-area placement
 *
 * Reading it shows something of each person on it, so it is one audited read naming them
 * (details.service_user_ids, which the person's access log finds). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "extract_format.h"
#include "fields.h"
#include "resources/episodes.h"
#include "resources/resources.h"
#include "resources/transfers.h"
#include "rules/carer_rules.h"
#include "rules/clocks.h"

static const char *const KINDS[] = {
    "holistic_assessment",    "care_plan",          "review",          "risk_review",
    "tops",                   "care_plan_not_sent", "allocation_mismatch",
    "carer_assessment_offer", "carer_needs_review", "follow_up",       "liaison",
    "referral_response",      "allocation_needed",  "holder_inactive", NULL};

/* The carers of the people ($1, a uuid array): what R-CAR-2 is computed from. */
static const struct db_stmt CARERS = {
    "worklist_carers",
    "SELECT c.service_user_id, c.id, c.assessment->>'offered_on' IS NULL,"
    " to_char(c.identified_on, 'YYYY-MM-DD'), c.assessment->>'completed_on',"
    " to_char(c.needs_reviewed_on, 'YYYY-MM-DD')"
    " FROM carers c WHERE c.service_user_id = ANY($1::uuid[]) ORDER BY c.service_user_id, c.id",
    1};
/* The completed hospital discharges and out-of-area placements of the episodes ($1), whose
 * clocks run after completion (resources/transfers.h). */
static const struct db_stmt TRANSFERS = {
    "worklist_transfers",
    "SELECT " TRANSFER_COLUMNS("t") ", t.status, " TRANSFER_CLOCK_FACTS("t")
    " FROM transfers t WHERE t.episode_id = ANY($1::uuid[]) AND t.status = 'completed'"
    " AND t.type IN ('hospital_discharge', 'out_of_area') ORDER BY t.id",
    1};

/* A team's referrals still awaiting a response ($1 team): the person, their name and when the
 * response is due (seconds since the epoch) and whether that has passed. */
static const struct db_stmt TEAM_REFERRALS = {
    "worklist_team_referrals",
    "SELECT r.id, r.service_user_id, su.given_name || ' ' || su.family_name,"
    " floor(extract(epoch FROM r.response_due_at))::bigint, r.response_due_at < now()"
    " FROM referrals r JOIN service_users su ON su.id = r.service_user_id"
    " WHERE r.responding_team_id = $1::uuid AND r.status IN ('received', 'triaged')"
    " ORDER BY r.response_due_at, r.id",
    1};
/* Whether the caller ($1 subject) is an active member of the team ($2), and whether it exists. */
static const struct db_stmt TEAM_MEMBER = {
    "worklist_team_member",
    "SELECT EXISTS (SELECT 1 FROM teams WHERE id = $2::uuid),"
    " EXISTS (SELECT 1 FROM staff WHERE subject = $1 AND active AND team_id = $2::uuid)",
    2};
/* The team's active staff, by name. */
static const struct db_stmt TEAM_STAFF = {
    "worklist_team_staff",
    "SELECT s.id, s.name, s.professional_role FROM staff s"
    " WHERE s.team_id = $1::uuid AND s.active ORDER BY s.name, s.id",
    1};

/* What the caller asked for. */
struct filter {
  const char *kind;       /* one of KINDS, or NULL for all */
  int overdue;            /* -1 any, 0 not overdue, 1 overdue */
  const char *due_before; /* YYYY-MM-DD: only items due before it (undated ones are left out) */
  /* A team's worklist: only the episodes this staff member (id) holds or deputises on, as their
   * own worklist would show them; no referrals. NULL for all. */
  const char *holder_staff_id;
};

struct person {
  const char *id, *name, *episode_id; /* episode_id NULL: an item not about an episode */
};

/* One item. A team's worklist has thousands, so they are plain structs, sorted and written out as
 * JSON text directly rather than as a tree of JSON values. The person outlives the list (it
 * points into the collected results); the dates and ids are copied. */
struct item {
  const char *kind, *rule;
  const struct person *person;
  char due[CIVIL_DATE_TEXT_LEN]; /* "" when undated */
  bool overdue;
  char record_id[UUID_TEXT_SIZE]; /* "" when none */
};

struct items {
  struct item *all;
  size_t n, cap;
  bool failed; /* an allocation failed: the list is incomplete */
};

/* Appends an item when it passes the filter. due may be NULL (an undated item). */
static void add_item(struct items *items, const struct filter *f, const char *kind,
                     const char *rule, const struct person *p, const char *due, bool overdue,
                     const char *record_id) {
  if (f->kind && strcmp(f->kind, kind) != 0) return;
  if (f->overdue >= 0 && overdue != (f->overdue == 1)) return;
  if (f->due_before && (!due || strcmp(due, f->due_before) >= 0)) return;
  if (items->n == items->cap) {
    size_t cap = items->cap ? items->cap * 2 : 256;
    struct item *grown = realloc(items->all, cap * sizeof *grown);
    if (!grown) {
      items->failed = true;
      return;
    }
    items->all = grown;
    items->cap = cap;
  }
  struct item *it = &items->all[items->n++];
  *it = (struct item){.kind = kind, .rule = rule, .person = p, .overdue = overdue};
  snprintf(it->due, sizeof it->due, "%s", due ? due : "");
  snprintf(it->record_id, sizeof it->record_id, "%s", record_id ? record_id : "");
}

/* An item for a clock of the episode summary: one-off clocks only until met. */
static void add_clock_item(struct items *items, const struct filter *f,
                           const struct clock_state *clock, const char *kind, const char *rule,
                           bool once, const struct person *p) {
  if (!clock->has_due || (once && clock->has_completed)) return;
  add_item(items, f, kind, rule, p, clock->due, clock->overdue, NULL);
}

/* The items of the episode of row `row` (EPISODES_OF_*), from the clocks of its summary. */
static bool add_episode_items(struct exchange *x, struct items *items, const struct filter *f,
                              PGresult *res, int row, const char *today,
                              const struct person *p) {
  struct episode_clocks c;
  if (!episode_clocks_of(&x->app->config->policy, res, row, today, &c)) return false;
  add_clock_item(items, f, &c.holistic, "holistic_assessment", "R-ASM-1", true, p);
  add_clock_item(items, f, &c.care_plan, "care_plan", "R-CPL-1", true, p);
  add_clock_item(items, f, &c.review, "review", "R-REV-1", false, p);
  add_clock_item(items, f, &c.risk_review, "risk_review", "R-ASM-6", false, p);
  if (c.tops_applies) add_clock_item(items, f, &c.tops, "tops", "R-ASM-7", false, p);
  if (!PQgetisnull(res, row, EPISODE_ROW_PLAN_ID) &&
      strcmp(PQgetvalue(res, row, EPISODE_ROW_PLAN_SENT), "t") != 0)
    add_item(items, f, "care_plan_not_sent", "R-CPL-4", p, NULL, false,
             PQgetvalue(res, row, EPISODE_ROW_PLAN_ID));
  if (c.allocation_matches == 0)
    add_item(items, f, "allocation_mismatch", "R-ALC-2", p, NULL, false, NULL);
  /* No one holds the episode, so no clock has started and no one's own worklist shows it: only
   * the team's does (a held episode is never on it). */
  if (PQgetisnull(res, row, EPISODE_ROW_ROLE))
    add_item(items, f, "allocation_needed", "R-ALC-2", p, NULL, false, NULL);
  /* The holder has left (made inactive): their access ended, the allocation did not. */
  if (!PQgetisnull(res, row, EPISODE_ROW_HOLDER_INACTIVE) &&
      strcmp(PQgetvalue(res, row, EPISODE_ROW_HOLDER_INACTIVE), "t") == 0)
    add_item(items, f, "holder_inactive", "R-ALC-1", p, NULL, false, NULL);
  return true;
}

static const struct person *person_of(const struct person *people, int n, const char *id,
                                      const char *episode_id) {
  for (int i = 0; i < n; i++)
    if ((id && strcmp(people[i].id, id) == 0) ||
        (episode_id && people[i].episode_id && strcmp(people[i].episode_id, episode_id) == 0))
      return &people[i];
  return NULL;
}

/* R-CAR-2 items of the carers of the people. A person with two episodes on the list shows a
 * carer once (under the first). */
static enum cc_status add_carer_items(struct exchange *x, struct items *items,
                                      const struct filter *f,
                                      PGresult *res, const struct person *people, int n,
                                      const char *today) {
  for (int r = 0; r < PQntuples(res); r++) {
    const struct person *p = person_of(people, n, PQgetvalue(res, r, 0), NULL);
    if (!p) continue;
    const char *carer = PQgetvalue(res, r, 1);
    if (strcmp(PQgetvalue(res, r, 2), "t") == 0)
      add_item(items, f, "carer_assessment_offer", "R-CAR-2", p, NULL, false, carer);
    struct clock_state clock;
    const char *dates[3];
    for (int i = 0; i < 3; i++) dates[i] = PQgetisnull(res, r, 3 + i) ? NULL : PQgetvalue(res, r, 3 + i);
    if (!carer_needs_review_clock(dates[0], dates[1], dates[2],
                                  x->app->config->policy.carer_review_months, today, &clock))
      return CC_INTERNAL;
    if (clock.has_due)
      add_item(items, f, "carer_needs_review", "R-CAR-2", p, clock.due, clock.overdue, carer);
  }
  return CC_OK;
}

/* R-TRF-3 and R-TRF-4 items of the completed transfers whose clocks still run. */
static enum cc_status add_transfer_items(struct exchange *x, struct items *items,
                                         const struct filter *f, PGresult *res,
                                         const struct person *people, int n) {
  for (int r = 0; r < PQntuples(res); r++) {
    json_t *transfer = json_loads(PQgetvalue(res, r, 2), 0, NULL);
    enum cc_status status = transfer ? transfer_add_clock(x, res, r, transfer) : CC_INTERNAL;
    const json_t *clock = json_object_get(transfer, "clock");
    const char *due = json_string_value(json_object_get(clock, "due"));
    const char *type = json_string_value(json_object_get(transfer, "type"));
    const struct person *p =
        person_of(people, n, NULL, json_string_value(json_object_get(transfer, "episode_id")));
    bool follow_up = type && strcmp(type, "hospital_discharge") == 0;
    if (status == CC_OK && p && due &&
        (!follow_up || json_is_null(json_object_get(clock, "completed"))))
      add_item(items, f, follow_up ? "follow_up" : "liaison", follow_up ? "R-TRF-3" : "R-TRF-4",
               p, due, json_is_true(json_object_get(clock, "overdue")),
               json_string_value(json_object_get(transfer, "id")));
    json_decref(transfer);
    if (status != CC_OK) return status;
  }
  return CC_OK;
}

/* Dated items first, soonest due first; undated ones after; then by person and kind. */
static int compare_items(const void *a, const void *b) {
  const struct item *x = a, *y = b;
  if (x->due[0] && y->due[0]) {
    int c = strcmp(x->due, y->due);
    if (c) return c;
  } else if (x->due[0] != y->due[0]) {
    return x->due[0] ? -1 : 1;
  }
  int c = strcmp(x->person->name, y->person->name);
  return c ? c : strcmp(x->kind, y->kind);
}

/* {"today": ..., "items": [...]}, the items sorted; caller frees. NULL when out of memory. */
static char *worklist_text_new(const char *today, struct items *items) {
  static const char *const NAMES[] = {"kind",       "rule", "service_user_id", "display_name",
                                      "episode_id", "due",  "overdue",         "record_id"};
  static const enum value_kind KINDS_OF[] = {VALUE_TEXT, VALUE_TEXT, VALUE_TEXT, VALUE_TEXT,
                                             VALUE_TEXT, VALUE_TEXT, VALUE_BOOL, VALUE_TEXT};
  if (items->n) qsort(items->all, items->n, sizeof *items->all, compare_items);
  struct text_buffer b = {0};
  text_buffer_append(&b, "{\"today\":");
  text_buffer_append_json_string(&b, today);
  text_buffer_append(&b, ",\"items\":[");
  for (size_t i = 0; i < items->n; i++) {
    const struct item *it = &items->all[i];
    const char *values[] = {it->kind,
                            it->rule,
                            it->person->id,
                            it->person->name,
                            it->person->episode_id,
                            it->due[0] ? it->due : NULL,
                            it->overdue ? "t" : "f",
                            it->record_id[0] ? it->record_id : NULL};
    if (i) text_buffer_append(&b, ",");
    text_buffer_append_json_object(&b, NAMES, KINDS_OF, values, 8);
  }
  text_buffer_append(&b, "]}");
  if (b.failed || !b.data) {
    text_buffer_free(&b);
    return NULL;
  }
  char *text = realloc(b.data, b.len + 1);
  if (!text) {
    text_buffer_free(&b);
    return NULL;
  }
  text[b.len] = '\0';
  return text;
}

/* The query: kind, overdue (true|false), due_before (a date), and for a team holder_staff_id (a
 * staff id). Replies 400 on a bad value. */
static bool read_filter(struct exchange *x, struct filter *f, bool team) {
  *f = (struct filter){NULL, -1, NULL, NULL};
  const char *overdue = NULL;
  if (query_text(x, "kind", 40, &f->kind) != CC_OK ||
      query_text(x, "overdue", 5, &overdue) != CC_OK ||
      query_text(x, "due_before", 10, &f->due_before) != CC_OK ||
      (team && query_uuid(x, "holder_staff_id", &f->holder_staff_id) != CC_OK))
    return false;
  if (f->kind) {
    bool known = false;
    for (const char *const *k = KINDS; *k; k++) known = known || strcmp(*k, f->kind) == 0;
    if (!known) {
      reply_problem(x, CC_BAD_REQUEST, "kind must be one of the worklist's item kinds.");
      return false;
    }
  }
  if (overdue) {
    if (strcmp(overdue, "true") != 0 && strcmp(overdue, "false") != 0) {
      reply_problem(x, CC_BAD_REQUEST, "overdue must be true or false.");
      return false;
    }
    f->overdue = strcmp(overdue, "true") == 0;
  }
  if (f->due_before && !text_is_date(f->due_before)) {
    reply_problem(x, CC_BAD_REQUEST, "due_before must be a date YYYY-MM-DD.");
    return false;
  }
  return true;
}

/* {a,b,...}: a PostgreSQL array literal of the people's ids (or their episodes'). */
static char *id_array_new(const struct person *people, int n, bool episodes) {
  size_t size = 3 + (size_t)n * 38;
  char *text = malloc(size), *end = text;
  if (!text) return NULL;
  *end++ = '{';
  for (int i = 0; i < n; i++)
    end += sprintf(end, "%s%s", i ? "," : "", episodes ? people[i].episode_id : people[i].id);
  strcpy(end, "}");
  return text;
}

/* What a worklist is computed from, and its items (unsorted). */
struct collected {
  PGresult *episodes, *carers, *transfers, *referrals; /* episodes: EPISODES_OF_* rows */
  struct person *people, *referral_people;
  int n;
  char *person_ids, *episode_ids;
  struct items items;
};

static void collected_free(struct collected *c) {
  free(c->person_ids);
  free(c->episode_ids);
  free(c->people);
  free(c->referral_people);
  free(c->items.all);
  PQclear(c->referrals);
  PQclear(c->transfers);
  PQclear(c->carers);
  PQclear(c->episodes);
  *c = (struct collected){0};
}

/* Whether episode row r is held or deputised by the filter's staff member (or no one is asked
 * for). */
static bool held_by(const struct filter *f, PGresult *episodes, int r) {
  if (!f->holder_staff_id) return true;
  const char *holder = PQgetisnull(episodes, r, EPISODE_ROW_HOLDER)
                           ? "" : PQgetvalue(episodes, r, EPISODE_ROW_HOLDER);
  const char *deputy = PQgetisnull(episodes, r, EPISODE_ROW_DEPUTY)
                           ? "" : PQgetvalue(episodes, r, EPISODE_ROW_DEPUTY);
  /* A UUID may come in capitals; PostgreSQL writes them in small letters. */
  return strcasecmp(holder, f->holder_staff_id) == 0 ||
         strcasecmp(deputy, f->holder_staff_id) == 0;
}

/* The items of the open episodes episodes_stmt ($1 = param) returns (those of the filter's
 * holder), with their people's carers and their transfers, in two round trips. c->people[i]
 * is the i-th episode kept: row i of c->episodes when the filter names no holder. */
static enum cc_status collect(struct exchange *x, struct tx *tx, const struct db_stmt *episodes_stmt,
                              const char *param, const struct filter *f, const char *today,
                              struct collected *c) {
  *c = (struct collected){0};
  enum cc_status status = tx_exec(tx, episodes_stmt, (const char *const[]){param}, &c->episodes);
  int rows = status == CC_OK ? PQntuples(c->episodes) : 0;
  if (status == CC_OK && !(c->people = calloc(rows ? (size_t)rows : 1, sizeof *c->people)))
    status = CC_INTERNAL;
  for (int r = 0; status == CC_OK && r < rows; r++) {
    if (!held_by(f, c->episodes, r)) continue;
    struct person *p = &c->people[c->n++];
    *p = (struct person){PQgetvalue(c->episodes, r, EPISODE_ROW_PERSON),
                         PQgetvalue(c->episodes, r, EPISODE_ROW_PERSON_NAME),
                         PQgetvalue(c->episodes, r, EPISODE_ROW_ID)};
    if (!add_episode_items(x, &c->items, f, c->episodes, r, today, p)) status = CC_INTERNAL;
  }
  if (status != CC_OK || c->n == 0) return status;
  c->person_ids = id_array_new(c->people, c->n, false);
  c->episode_ids = id_array_new(c->people, c->n, true);
  if (!c->person_ids || !c->episode_ids) return CC_INTERNAL;
  const struct db_stmt *stmts[] = {&CARERS, &TRANSFERS};
  const char *const *params[] = {(const char *const[]){c->person_ids},
                                 (const char *const[]){c->episode_ids}};
  PGresult *res[2] = {NULL, NULL};
  status = tx_exec_batch(tx, 2, stmts, params, res);
  c->carers = res[0];
  c->transfers = res[1];
  if (status == CC_OK) status = add_carer_items(x, &c->items, f, c->carers, c->people, c->n, today);
  if (status == CC_OK) status = add_transfer_items(x, &c->items, f, c->transfers, c->people, c->n);
  return status;
}

/* R-REF-1: the team's referrals awaiting a response, as items (their people kept in c). */
static enum cc_status add_referral_items(struct tx *tx, const char *team, const struct filter *f,
                                         struct collected *c) {
  enum cc_status status = tx_exec(tx, &TEAM_REFERRALS, (const char *const[]){team}, &c->referrals);
  int n = status == CC_OK ? PQntuples(c->referrals) : 0;
  if (status == CC_OK && !(c->referral_people = calloc(n ? (size_t)n : 1, sizeof(struct person))))
    return CC_INTERNAL;
  for (int r = 0; r < n; r++) {
    char due[11];
    uk_local_date((time_t)atoll(PQgetvalue(c->referrals, r, 3)), due);
    c->referral_people[r] = (struct person){PQgetvalue(c->referrals, r, 1),
                                            PQgetvalue(c->referrals, r, 2), NULL};
    add_item(&c->items, f, "referral_response", "R-REF-1", &c->referral_people[r], due,
             strcmp(PQgetvalue(c->referrals, r, 4), "t") == 0, PQgetvalue(c->referrals, r, 0));
  }
  return status;
}

/* The read of a worklist, naming every person it shows (resource_id: the team, or NULL). */
static enum cc_status audit_worklist(struct exchange *x, struct tx *tx, const char *resource_type,
                                     const char *team, const struct items *items) {
  /* Each person once, in the order they first appear (a team's list has thousands of items). */
  json_t *shown = json_array(), *seen = json_object();
  for (size_t i = 0; i < items->n; i++) {
    const char *id = items->all[i].person->id;
    if (json_object_get(seen, id)) continue;
    json_object_set(seen, id, json_true());
    json_array_append_new(shown, json_string(id));
  }
  json_decref(seen);
  json_t *details = json_pack("{s:o}", "service_user_ids", shown);
  struct audit_event event = {.action = "read", .resource_type = resource_type,
                              .resource_id = team, .outcome = "success", .details = details};
  enum cc_status status = audit_append(tx, &x->actor, &event);
  json_decref(details);
  return status;
}

static void reply_worklist(struct exchange *x, struct tx *tx, enum cc_status status,
                           const char *today, struct items *items) {
  if (status == CC_OK && items->failed) status = CC_INTERNAL;
  char *text = status == CC_OK ? worklist_text_new(today, items) : NULL;
  if (status == CC_OK && !text) status = CC_INTERNAL;
  if (status == CC_OK) status = tx_commit(tx);
  if (status != CC_OK)
    reply_problem(x, status, NULL);
  else
    reply_json_text(x, 200, text);
  free(text);
}

void worklist_mine(struct exchange *x) {
  struct filter f;
  if (!read_filter(x, &f, false)) return;
  char today[11];
  uk_local_date(time(NULL), today);
  struct tx tx;
  struct collected c = {0};
  enum cc_status status = tx_begin(x->app->pool, &tx);
  if (status == CC_OK)
    status = collect(x, &tx, &EPISODES_OF_HOLDER, x->principal.subject, &f, today, &c);
  if (status == CC_OK) status = audit_worklist(x, &tx, "worklist", NULL, &c.items);
  reply_worklist(x, &tx, status, today, &c.items);
  collected_free(&c);
  tx_end(&tx);
}

/* Team views are for the team's own managers: 404 for an unknown team, 403 (with a committed deny
 * event) for anyone else. Returns false after replying. */
static bool team_manager(struct exchange *x, struct tx *tx, const char *resource_type) {
  const char *team = x->params[0];
  if (!text_is_uuid(team)) {
    reply_problem(x, CC_NOT_FOUND, "No team has this id.");
    return false;
  }
  PGresult *res = NULL;
  enum cc_status status = tx_begin(x->app->pool, tx);
  if (status == CC_OK)
    status = tx_exec(tx, &TEAM_MEMBER, (const char *const[]){x->principal.subject, team}, &res);
  bool exists = status == CC_OK && strcmp(PQgetvalue(res, 0, 0), "t") == 0;
  bool member = status == CC_OK && strcmp(PQgetvalue(res, 0, 1), "t") == 0;
  PQclear(res);
  if (status != CC_OK) {
    reply_problem(x, status, NULL);
    return false;
  }
  if (!exists) {
    reply_problem(x, CC_NOT_FOUND, "No team has this id.");
    return false;
  }
  if (member) return true;
  struct audit_event event = {.action = "deny", .resource_type = resource_type,
                              .resource_id = team, .outcome = "denied"};
  status = audit_append(tx, &x->actor, &event);
  if (status == CC_OK) status = tx_commit(tx);
  reply_problem(x, status == CC_OK ? CC_FORBIDDEN : status,
                status == CC_OK ? "Only a manager of this team sees its worklist and caseloads."
                                : NULL);
  return false;
}

void worklist_team(struct exchange *x) {
  struct filter f;
  if (!read_filter(x, &f, true)) return;
  char today[11];
  uk_local_date(time(NULL), today);
  struct tx tx = {0};
  struct collected c = {0};
  if (!team_manager(x, &tx, "team_worklist")) goto done;
  const char *team = x->params[0];
  enum cc_status status = collect(x, &tx, &EPISODES_OF_TEAM, team, &f, today, &c);
  /* Referrals have no holder yet: one staff member's view leaves them out. */
  if (status == CC_OK && !f.holder_staff_id) status = add_referral_items(&tx, team, &f, &c);
  if (status == CC_OK) status = audit_worklist(x, &tx, "team_worklist", team, &c.items);
  reply_worklist(x, &tx, status, today, &c.items);
done:
  collected_free(&c);
  tx_end(&tx);
}

/* One staff member's caseload in the making. */
static json_t *caseload_new(const char *id, const char *name, const char *professional_role) {
  return json_pack("{s:s?, s:s, s:s?, s:{s:i, s:i}, s:{s:i, s:i, s:i}, s:i, s:i}", "staff_id", id,
                   "name", name, "professional_role", professional_role, "episodes", "cpa", 0,
                   "non_cpa", 0, "roles", "care_coordinator", 0, "lead_professional", 0,
                   "interim_named_nurse", 0, "deputy_for", 0, "overdue_items", 0);
}

static void increment(json_t *object, const char *key) {
  json_object_set_new(object, key, json_integer(json_integer_value(json_object_get(object, key)) + 1));
}

/* Row r's text in column col, or NULL. */
static const char *text_or_null(PGresult *res, int r, int col) {
  return PQgetisnull(res, r, col) ? NULL : PQgetvalue(res, r, col);
}

/* The caseload of the holder of episode row r (EPISODES_OF_TEAM): a member of the team's staff,
 * else one of `others` (staff of another team, or an external holder), found by id and name. */
static json_t *caseload_of(json_t *by_staff, json_t *others, PGresult *res, int r) {
  const char *staff = text_or_null(res, r, EPISODE_ROW_HOLDER);
  json_t *found = staff ? json_object_get(by_staff, staff) : NULL;
  if (found) return found;
  const char *name = text_or_null(res, r, EPISODE_ROW_HOLDER_NAME);
  size_t i;
  json_t *other;
  json_array_foreach(others, i, other) {
    const char *id = json_string_value(json_object_get(other, "staff_id"));
    const char *other_name = json_string_value(json_object_get(other, "name"));
    if ((id ? staff && strcmp(id, staff) == 0 : !staff) &&
        strcmp(other_name, name ? name : "") == 0)
      return other;
  }
  json_t *made = caseload_new(staff, name ? name : "", NULL);
  json_array_append_new(others, made);
  return made;
}

void caseloads_team(struct exchange *x) {
  char today[11];
  uk_local_date(time(NULL), today);
  struct tx tx = {0};
  struct collected c = {0};
  PGresult *staff = NULL;
  json_t *by_staff = json_object(), *members = json_array(), *others = json_array();
  struct filter all = {NULL, -1, NULL, NULL};
  if (!team_manager(x, &tx, "team_caseloads")) goto done;
  const char *team = x->params[0];
  enum cc_status status = tx_exec(&tx, &TEAM_STAFF, (const char *const[]){team}, &staff);
  for (int r = 0; status == CC_OK && r < PQntuples(staff); r++) {
    json_t *load = caseload_new(PQgetvalue(staff, r, 0), PQgetvalue(staff, r, 1),
                                PQgetvalue(staff, r, 2));
    json_object_set(by_staff, PQgetvalue(staff, r, 0), load);
    json_array_append_new(members, load);
  }
  if (status == CC_OK) status = collect(x, &tx, &EPISODES_OF_TEAM, team, &all, today, &c);
  int unallocated = 0;
  /* Each episode counts for its holder (by care level and role) and its deputy. */
  json_t *holder_of_episode = json_object();
  for (int r = 0; status == CC_OK && r < c.n; r++) {
    if (PQgetisnull(c.episodes, r, EPISODE_ROW_ROLE)) {
      unallocated++;
      continue;
    }
    json_t *load = caseload_of(by_staff, others, c.episodes, r);
    increment(json_object_get(load, "episodes"), PQgetvalue(c.episodes, r, EPISODE_ROW_CARE_LEVEL));
    increment(json_object_get(load, "roles"), PQgetvalue(c.episodes, r, EPISODE_ROW_ROLE));
    json_object_set(holder_of_episode, PQgetvalue(c.episodes, r, EPISODE_ROW_ID), load);
    const char *deputy = text_or_null(c.episodes, r, EPISODE_ROW_DEPUTY);
    json_t *deputy_load = deputy ? json_object_get(by_staff, deputy) : NULL;
    if (deputy_load) increment(deputy_load, "deputy_for");
  }
  for (size_t k = 0; k < c.items.n; k++) {
    const struct item *it = &c.items.all[k];
    json_t *load = it->person->episode_id
                       ? json_object_get(holder_of_episode, it->person->episode_id)
                       : NULL;
    if (load && it->overdue) increment(load, "overdue_items");
  }
  if (c.items.failed) status = CC_INTERNAL;
  json_decref(holder_of_episode);
  if (status == CC_OK) {
    /* Counts only: no person is shown, but who looked at the team's caseloads is on record. */
    struct audit_event event = {.action = "read", .resource_type = "team_caseloads",
                                .resource_id = team, .outcome = "success"};
    status = audit_append(&tx, &x->actor, &event);
  }
  if (status == CC_OK) status = tx_commit(&tx);
  if (status != CC_OK)
    reply_problem(x, status, NULL);
  else
    reply_json(x, 200, json_pack("{s:s, s:s, s:O, s:O, s:i}", "team_id", team, "today", today,
                                 "staff", members, "other_holders", others,
                                 "unallocated_episodes", unallocated));
done:
  json_decref(others);
  json_decref(members);
  json_decref(by_staff);
  PQclear(staff);
  collected_free(&c);
  tx_end(&tx);
}
