/* The caller's worklist (GET /me/worklist): every item due or overdue across the episodes they
 * hold or deputise on, soonest first. The clocks are the ones the episode summary shows, computed
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
#include <time.h>

#include "fields.h"
#include "resources/episodes.h"
#include "resources/resources.h"
#include "resources/transfers.h"
#include "rules/carer_rules.h"
#include "rules/clocks.h"

static const char *const KINDS[] = {
    "holistic_assessment", "care_plan",          "review",          "risk_review",
    "tops",                "care_plan_not_sent", "allocation_mismatch",
    "carer_assessment_offer", "carer_needs_review", "follow_up",   "liaison",
    NULL};

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

/* What the caller asked for. */
struct filter {
  const char *kind;       /* one of KINDS, or NULL for all */
  int overdue;            /* -1 any, 0 not overdue, 1 overdue */
  const char *due_before; /* YYYY-MM-DD: only items due before it (undated ones are left out) */
};

struct person {
  const char *id, *name, *episode_id;
};

/* Appends an item when it passes the filter. due may be NULL (an undated item). */
static void add_item(json_t *items, const struct filter *f, const char *kind, const char *rule,
                     const struct person *p, const char *due, bool overdue,
                     const char *record_id) {
  if (f->kind && strcmp(f->kind, kind) != 0) return;
  if (f->overdue >= 0 && overdue != (f->overdue == 1)) return;
  if (f->due_before && (!due || strcmp(due, f->due_before) >= 0)) return;
  json_array_append_new(items, json_pack("{s:s, s:s, s:s, s:s, s:s?, s:s?, s:b, s:s?}", "kind",
                                         kind, "rule", rule, "service_user_id", p->id,
                                         "display_name", p->name, "episode_id", p->episode_id,
                                         "due", due, "overdue", overdue, "record_id", record_id));
}

/* An item for a clock of the episode summary: one-off clocks only until met. */
static void add_clock_item(json_t *items, const struct filter *f, const json_t *clocks,
                           const char *kind, bool once, const struct person *p) {
  const json_t *clock = json_object_get(clocks, kind);
  const char *due = json_string_value(json_object_get(clock, "due"));
  if (!due || (once && !json_is_null(json_object_get(clock, "completed")))) return;
  add_item(items, f, kind, json_string_value(json_object_get(clock, "rule")), p, due,
           json_is_true(json_object_get(clock, "overdue")), NULL);
}

/* The items of one episode, from its summary. */
static void add_episode_items(json_t *items, const struct filter *f, const json_t *episode,
                              const struct person *p) {
  const json_t *summary = json_object_get(episode, "summary");
  const json_t *clocks = json_object_get(summary, "clocks");
  add_clock_item(items, f, clocks, "holistic_assessment", true, p);
  add_clock_item(items, f, clocks, "care_plan", true, p);
  add_clock_item(items, f, clocks, "review", false, p);
  add_clock_item(items, f, clocks, "risk_review", false, p);
  add_clock_item(items, f, clocks, "tops", false, p);
  const json_t *plan = json_object_get(summary, "care_plan");
  if (json_is_object(plan) && !(json_is_true(json_object_get(plan, "sent_to_person")) &&
                                json_is_true(json_object_get(plan, "sent_to_gp"))))
    add_item(items, f, "care_plan_not_sent", "R-CPL-4", p, NULL, false,
             json_string_value(json_object_get(plan, "id")));
  if (json_is_false(json_object_get(summary, "allocation_matches_care_level")))
    add_item(items, f, "allocation_mismatch", "R-ALC-2", p, NULL, false, NULL);
}

static const struct person *person_of(const struct person *people, int n, const char *id,
                                      const char *episode_id) {
  for (int i = 0; i < n; i++)
    if ((id && strcmp(people[i].id, id) == 0) ||
        (episode_id && strcmp(people[i].episode_id, episode_id) == 0))
      return &people[i];
  return NULL;
}

/* R-CAR-2 items of the carers of the people. A person with two episodes on the list shows a
 * carer once (under the first). */
static enum cc_status add_carer_items(struct exchange *x, json_t *items, const struct filter *f,
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
static enum cc_status add_transfer_items(struct exchange *x, json_t *items,
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
  const json_t *x = *(json_t *const *)a, *y = *(json_t *const *)b;
  const char *dx = json_string_value(json_object_get(x, "due"));
  const char *dy = json_string_value(json_object_get(y, "due"));
  if (dx && dy && strcmp(dx, dy) != 0) return strcmp(dx, dy);
  if (!dx != !dy) return dx ? -1 : 1;
  int c = strcmp(json_string_value(json_object_get(x, "display_name")),
                 json_string_value(json_object_get(y, "display_name")));
  if (c) return c;
  return strcmp(json_string_value(json_object_get(x, "kind")),
                json_string_value(json_object_get(y, "kind")));
}

static json_t *sorted_new(json_t *items) {
  size_t n = json_array_size(items);
  json_t **all = calloc(n ? n : 1, sizeof *all);
  if (!all) return NULL;
  for (size_t i = 0; i < n; i++) all[i] = json_array_get(items, i);
  qsort(all, n, sizeof *all, compare_items);
  json_t *sorted = json_array();
  for (size_t i = 0; i < n; i++) json_array_append(sorted, all[i]);
  free(all);
  return sorted;
}

/* The query: kind, overdue (true|false), due_before (a date). Replies 400 on a bad value. */
static bool read_filter(struct exchange *x, struct filter *f) {
  *f = (struct filter){NULL, -1, NULL};
  const char *overdue = NULL;
  if (query_text(x, "kind", 40, &f->kind) != CC_OK ||
      query_text(x, "overdue", 5, &overdue) != CC_OK ||
      query_text(x, "due_before", 10, &f->due_before) != CC_OK)
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

void worklist_mine(struct exchange *x) {
  struct filter f;
  if (!read_filter(x, &f)) return;
  char today[11];
  uk_local_date(time(NULL), today);
  struct tx tx;
  PGresult *episodes = NULL, *carers = NULL, *transfers = NULL;
  json_t *list = json_array(), *items = NULL, *shown = json_array(), *episode_docs = json_array();
  struct person *people = NULL;
  char *person_ids = NULL, *episode_ids = NULL;
  enum cc_status status = tx_begin(x->app->pool, &tx);
  if (status == CC_OK)
    status = tx_exec(&tx, &EPISODES_OF_HOLDER, (const char *const[]){x->principal.subject},
                     &episodes);
  int n = status == CC_OK ? PQntuples(episodes) : 0;
  if (status == CC_OK && !(people = calloc(n ? (size_t)n : 1, sizeof *people))) status = CC_INTERNAL;
  for (int r = 0; status == CC_OK && r < n; r++) {
    json_t *episode = json_loads(PQgetvalue(episodes, r, 2), 0, NULL);
    if (!episode) status = CC_INTERNAL;
    if (status == CC_OK) status = episode_add_summary(x, episodes, r, episode);
    json_array_append_new(episode_docs, episode ? episode : json_null());
    people[r] = (struct person){json_string_value(json_object_get(episode, "service_user_id")),
                                PQgetvalue(episodes, r, EPISODE_PERSON_NAME_COLUMN),
                                PQgetvalue(episodes, r, 0)};
    if (status == CC_OK && !people[r].id) status = CC_INTERNAL;
    if (status == CC_OK) add_episode_items(list, &f, episode, &people[r]);
  }
  if (status == CC_OK && n > 0) {
    person_ids = id_array_new(people, n, false);
    episode_ids = id_array_new(people, n, true);
    if (!person_ids || !episode_ids) status = CC_INTERNAL;
  }
  if (status == CC_OK && n > 0) {
    const struct db_stmt *stmts[] = {&CARERS, &TRANSFERS};
    const char *const *params[] = {(const char *const[]){person_ids},
                                   (const char *const[]){episode_ids}};
    PGresult *res[2] = {NULL, NULL};
    status = tx_exec_batch(&tx, 2, stmts, params, res);
    carers = res[0];
    transfers = res[1];
  }
  if (status == CC_OK && n > 0) status = add_carer_items(x, list, &f, carers, people, n, today);
  if (status == CC_OK && n > 0) status = add_transfer_items(x, list, &f, transfers, people, n);
  if (status == CC_OK && !(items = sorted_new(list))) status = CC_INTERNAL;
  if (status == CC_OK) {
    /* The read names every person the worklist shows something of. */
    size_t i;
    json_t *item;
    json_array_foreach(items, i, item) {
      json_t *id = json_object_get(item, "service_user_id");
      bool seen = false;
      size_t j;
      json_t *s;
      json_array_foreach(shown, j, s) seen = seen || json_equal(s, id);
      if (!seen) json_array_append(shown, id);
    }
    json_t *details = json_pack("{s:O}", "service_user_ids", shown);
    struct audit_event event = {.action = "read", .resource_type = "worklist",
                                .outcome = "success", .details = details};
    status = audit_append(&tx, &x->actor, &event);
    json_decref(details);
  }
  if (status == CC_OK) status = tx_commit(&tx);
  if (status != CC_OK) {
    reply_problem(x, status, NULL);
  } else {
    reply_json(x, 200, json_pack("{s:s, s:O}", "today", today, "items", items));
  }
  free(person_ids);
  free(episode_ids);
  free(people);
  json_decref(episode_docs);
  json_decref(shown);
  json_decref(items);
  json_decref(list);
  PQclear(transfers);
  PQclear(carers);
  PQclear(episodes);
  tx_end(&tx);
}
