/* What the resources about one episode of care (its allocations and change requests) share
 * with resources/episodes.c: finding the episode named by the {id} path parameter and applying
 * its person's access policy, in the request's transaction. */
#ifndef CARECOORD_EPISODES_H
#define CARECOORD_EPISODES_H

#include <stdbool.h>

#include "http/idempotency.h"
#include "resources/access.h"
#include "config.h"
#include "rules/allocation_rules.h"
#include "rules/assessment_rules.h"

#define UUID_TEXT_SIZE 37

struct episode {
  char id[UUID_TEXT_SIZE];
  char service_user_id[UUID_TEXT_SIZE];
  bool open;
  enum care_level care_level;
  bool inpatient_ward;       /* held by an inpatient_ward team (R-ALC-2 interim named nurse) */
  bool held_by_callers_team; /* the caller's team (active staff row) holds the episode */
  bool substance_misuse;     /* held by a substance_misuse team (R-ASM-7 TOPs) */
  /* The episode's first care co-ordinator or lead professional allocation, "" when none: it
   * started the assessment and care-plan clocks (rules/allocation_rules.h). */
  char clock_allocation_id[UUID_TEXT_SIZE];
};

/* Finds the episode named by x->params[0] and decides the caller's access to its person's record
 * (resources/access.h) for the audit target {resource_type, resource_id}. With lock, the episode
 * row is locked first (FOR NO KEY UPDATE) so that changes to its allocations queue up one behind
 * the other, and what is read after it is current. Returns true when the handler may go on;
 * otherwise it has replied: 404 (unknown episode), 403 after committing a deny event, or the
 * failure. */
bool episode_access(struct exchange *x, struct tx *tx, const char *resource_type,
                    const char *resource_id, bool lock, enum access_action action,
                    bool break_glass, struct episode *ep, enum access_decision *decision);

/* A statement an episode_access_with caller reads beside the episode's access check, in the
 * same round trip; result is set (the caller PQclear()s it) only when access is allowed. */
struct episode_fetch {
  const struct db_stmt *stmt;
  const char *const *params;
  PGresult *result;
};

/* episode_access, fetching also->stmt in the same round trip (tx_exec_batch). */
bool episode_access_with(struct exchange *x, struct tx *tx, const char *resource_type,
                         const char *resource_id, bool lock, enum access_action action,
                         bool break_glass, struct episode *ep, enum access_decision *decision,
                         struct episode_fetch *also);

/* Managers allocate and decide only for episodes their own team holds: otherwise 403 with a
 * committed deny event for target. Returns true when the caller's team holds the episode. */
bool episode_require_holding_team(struct exchange *x, struct tx *tx, const struct episode *ep,
                                  const struct access_target *target);

/* Sets the episode's care level to `level`, confirmed (care_level_provisional false), with a
 * line in its care level history giving `reason` when the level changes, and an `update` audit
 * event of the episode whose details name the changes and {source_member: source_id} (what
 * decided it, e.g. "assessment_id"). Nothing happens when the level is already confirmed. The
 * caller has locked the episode (episode_access with lock). */
enum cc_status episode_set_care_level(struct exchange *x, struct tx *tx, const struct episode *ep,
                                      enum care_level level, const char *reason,
                                      const char *source_member, const char *source_id);

/* R-TRF-5 (resources/discharge.c): discharge closes the episode (status closed, closed_at now)
 * and ends its current allocation (ended_at now, end_reason `reason`), so its holder's access
 * ends with it, in the caller's transaction; the caller has locked the open episode (episode_access
 * with lock). R-ASM-7: an episode of a substance-misuse team is discharged only after a completed
 * TOPs of stage exit; without one the refusal (rule R-ASM-7) is added to errors and nothing
 * changes, the status staying CC_OK (the callers reply 409: the record lacks it). Audits
 * `update` of the episode and of the ended allocation, naming {source_member: source_id} (what
 * discharged it, e.g. "review_id"). CC_CONFLICT when the episode was no longer open. */
enum cc_status episode_discharge(struct exchange *x, struct tx *tx, const struct episode *ep,
                                 const char *reason, const char *source_member,
                                 const char *source_id, struct field_errors *errors);

/* summary.clocks of the episode as GET /episodes/{id} shows them (R-ASM-1, R-ASM-6, R-ASM-7,
 * R-CPL-1, R-REV-1, ...), read in tx: a new reference in *clocks on CC_OK. The caller has decided
 * access. A transfer's handover lists the ones still open (R-TRF-2). */
enum cc_status episode_clocks(struct exchange *x, struct tx *tx, const struct episode *ep,
                              json_t **clocks);

/* The id of the episode's record named by the path (x->params[1]), or NULL after replying 404
 * with not_found. */
const char *episode_child_id(struct exchange *x, const char *not_found);

/* How a change locks one record of an episode (episode_child_lock). */
struct child_lock {
  const struct db_stmt *stmt; /* $1 id, $2 episode id, FOR UPDATE: id, version, JSON, state */
  const char *noun;           /* "assessment", for the 412 detail */
  const char *not_found;      /* the 404 detail */
  const char *frozen_state;   /* the state in which the record never changes (409) */
  const char *frozen_detail;  /* the 409 detail */
  const char *resource_type;  /* of the audit events (episode_child_begin_change) */
};
/* Locks the record `id` of the episode for a change: 404 when the episode has none, 409 when it
 * is in how->frozen_state, 412 (with its ETag) when its version is not `expected` (If-Match).
 * Otherwise *res holds the locked row (its fourth column the state) and *current its JSON, and it
 * returns true; else it has replied. */
bool episode_child_lock(struct exchange *x, struct tx *tx, const struct episode *ep,
                        const struct child_lock *how, const char *id, long expected,
                        PGresult **res, json_t **current);

/* Appends a successful `action` event about the record (resource_type, id: NULL for a
 * collection) of the episode's person, in the handler's transaction (R-AUD-1). */
enum cc_status episode_audit(struct exchange *x, struct tx *tx, const char *action,
                             const char *resource_type, const char *id, const struct episode *ep,
                             const json_t *details);

/* The start of a handler that creates a record of an open episode: the transaction, the access
 * step (writing the person's record), the episode open (409 with closed_detail otherwise) and
 * the Idempotency-Key claimed (after the access step, whose refusal commits, so that a refused
 * request leaves no key). Returns false after replying, or replaying an earlier response; the
 * caller ends tx either way. */
bool episode_child_begin_create(struct exchange *x, struct tx *tx, const char *resource_type,
                                struct episode *ep, const char *closed_detail,
                                enum idempotency_state *idem);

/* The start of a handler that changes record `id` of an episode: the transaction, the access
 * step (writing the person's record; the episode row locked too when lock_episode), the record
 * locked and checked against If-Match (`expected`, episode_child_lock), and the episode open
 * (409 with closed_detail otherwise). Returns false after replying; the caller ends tx either
 * way. */
bool episode_child_begin_change(struct exchange *x, struct tx *tx, bool lock_episode,
                                const struct child_lock *how, const char *id, long expected,
                                const char *closed_detail, struct episode *ep, PGresult **res,
                                json_t **current);

struct constraint_problem;

/* The end of a handler that creates a record of the episode (after episode_child_begin_create
 * and its checks): runs insert with params (it returns the record as id, version, JSON), audits
 * `create` of resource_type with details (may be NULL), stores the response under the request's
 * Idempotency-Key when idem is IDEMPOTENCY_CLAIMED, commits and replies 201 with Location
 * (/episodes/{id}/<collection>/<record id>) and ETag. A failed insert is explained by
 * constraints (may be NULL; resources/record.h). Always replies; the caller ends tx. */
void episode_child_insert(struct exchange *x, struct tx *tx, const struct episode *ep,
                          const struct db_stmt *insert, const char *const *params,
                          const struct constraint_problem *constraints,
                          const char *resource_type, const char *collection,
                          const json_t *details, enum idempotency_state idem);

/* The end of a handler that changes record `id` of the episode (after
 * episode_child_begin_change and its checks) from current to merged: runs update with params
 * (it returns the record as id, version, JSON), audits `update` of resource_type naming the
 * changed members of fields, commits and replies 200 with the record and its ETag. A failed
 * update is explained by constraints (may be NULL). Always replies; the caller ends tx. */
struct field_spec;
void episode_child_update(struct exchange *x, struct tx *tx, const struct episode *ep,
                          const struct db_stmt *update, const char *const *params,
                          const struct constraint_problem *constraints,
                          const char *resource_type, const char *id,
                          const struct field_spec *fields, const json_t *current,
                          const json_t *merged);

/* The open episodes a staff member ($1: token subject) holds or deputises on (EPISODES_OF_HOLDER)
 * or a team ($1) holds (EPISODES_OF_TEAM), as the worklists and caseloads read them: plain
 * columns (below), the clocks' facts in the columns episode_clocks_of reads, and the person's
 * display name. */
extern const struct db_stmt EPISODES_OF_HOLDER;
extern const struct db_stmt EPISODES_OF_TEAM;
enum {
  EPISODE_ROW_ID,
  EPISODE_ROW_PERSON,
  EPISODE_ROW_CARE_LEVEL,
  EPISODE_ROW_PLAN_ID,  /* the active care plan, NULL when none */
  EPISODE_ROW_PERSON_NAME = 13,
  EPISODE_ROW_PLAN_SENT, /* its version sent to the person and the GP: t/f */
  EPISODE_ROW_HOLDER,    /* the current allocation's holder: staff id, NULL for none or external */
  EPISODE_ROW_HOLDER_NAME,
  EPISODE_ROW_ROLE,   /* the current allocation's role, NULL when none */
  EPISODE_ROW_DEPUTY, /* its deputy's staff id, or NULL */
  EPISODE_ROW_HOLDER_INACTIVE, /* t when the holder is a staff member no longer active, else
                                  f, or NULL for an external holder or none */
};

/* The clocks of an episode's summary (R-ASM-1, R-ASM-6, R-ASM-7, R-CPL-1, R-REV-1) as of today,
 * and whether its allocation fits its care level (R-ALC-2, R-REV-3). */
struct episode_clocks {
  char assessment_due[11], care_plan_due[11]; /* "" before the first co-ordinating allocation */
  struct clock_state holistic, risk_review, tops, care_plan, review;
  bool tops_applies;       /* a substance-misuse team's episode */
  int allocation_matches;  /* 1, 0, or -1 without a current allocation */
};
/* Computes the clocks from row `row` of res (a statement with the clocks' fact columns: the
 * episode statements and EPISODES_OF_*). False when a stored value is not valid. */
bool episode_clocks_of(const struct policy *policy, PGresult *res, int row, const char *today,
                       struct episode_clocks *out);

/* Adds summary.due, summary.clocks and summary.allocation_matches_care_level to the episode
 * representation of row `row` of res (a statement returning the episode columns). */
enum cc_status episode_add_summary(struct exchange *x, PGresult *res, int row, json_t *episode);

/* GET of one record of an episode (an allocation, a change request): the record named by
 * x->params[1], read with select ($1 record id, $2 episode id; returns id, version, JSON) after
 * the person's access policy, break-glass included, and audited as read. 404 with not_found when
 * the episode has no such record. */
void episode_child_get(struct exchange *x, const char *resource_type, const struct db_stmt *select,
                       const char *not_found);

/* GET of the records of an episode, a page at a time: list ($1 episode id, $2 cursor id, $3
 * limit; returns id, version, JSON, cursor id) after the person's access policy, break-glass
 * included; the page is one read audit event (resources/person_page.h). */
void episode_child_list(struct exchange *x, const char *resource_type, const struct db_stmt *list);

#endif
