/* What the resources about one episode of care (its allocations and change requests) share
 * with resources/episodes.c: finding the episode named by the {id} path parameter and applying
 * its person's access policy, in the request's transaction. */
#ifndef CARECOORD_EPISODES_H
#define CARECOORD_EPISODES_H

#include <stdbool.h>

#include "resources/access.h"
#include "rules/allocation_rules.h"

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
