/* Discharge (DOMAIN.md care cycle step 8; R-TRF-5, R-ASM-7): the end of an episode of care,
 * decided by a CPA review's outcome `discharge` (resources/reviews.c) or by completing a transfer
 * to primary care (resources/transfers.c). Both run it inside their own transaction, with the
 * episode locked, so the episode closes, its allocation ends and what decided it is recorded
 * together or not at all.
 *
 * The access policy (auth/policy.h) reads allocations and the episode's status live: once this
 * commits, the holder of the ended allocation no longer has a relationship with the person
 * through this episode, with nothing else to revoke. */
#include <string.h>

#include "resources/episodes.h"

/* R-ASM-7: the final Treatment Outcome Profile, taken at exit, completed (a TOPs in progress is
 * not yet part of the record). */
static const struct db_stmt EXIT_TOPS = {
    "discharge_exit_tops",
    "SELECT EXISTS (SELECT 1 FROM assessments a WHERE a.episode_id = $1::uuid"
    " AND a.type = 'tops' AND a.status = 'completed' AND a.tops ->> 'stage' = 'exit')",
    1};

/* R-TRF-5: the episode closes and its current allocation (if any: an episode may be discharged
 * before anyone was allocated) ends, in one statement so neither happens without the other.
 * Returns one row when the episode was open: the id of the allocation ended, or NULL. */
static const struct db_stmt CLOSE = {
    "discharge_close",
    "WITH closed AS (UPDATE episodes SET status = 'closed', closed_at = now()"
    "   WHERE id = $1::uuid AND status = 'open' RETURNING id),"
    " ended AS (UPDATE allocations a SET ended_at = now(), end_reason = $2, updated_at = now(),"
    "   version = a.version + 1 FROM closed"
    "   WHERE a.episode_id = closed.id AND a.ended_at IS NULL RETURNING a.id)"
    " SELECT (SELECT id::text FROM ended) FROM closed",
    2};

static enum cc_status audit_update(struct exchange *x, struct tx *tx, const char *resource_type,
                                   const char *id, const struct episode *ep, json_t *details) {
  if (!details) return CC_INTERNAL;
  enum cc_status status = episode_audit(x, tx, "update", resource_type, id, ep, details);
  json_decref(details);
  return status;
}

/* Whether the episode may be discharged now: R-ASM-7 for a substance-misuse team's episode. */
static enum cc_status check_final_tops(struct tx *tx, const struct episode *ep,
                                       struct field_errors *errors) {
  if (!ep->substance_misuse) return CC_OK;
  PGresult *res = NULL;
  enum cc_status status = tx_exec(tx, &EXIT_TOPS, (const char *const[]){ep->id}, &res);
  if (status == CC_OK && PQntuples(res) != 1) status = CC_INTERNAL;
  if (status == CC_OK && strcmp(PQgetvalue(res, 0, 0), "t") != 0)
    field_errors_add(errors, "", "R-ASM-7",
                     "A substance-misuse episode is discharged only after its final Treatment "
                     "Outcome Profile: complete a TOPs assessment of stage exit first.");
  PQclear(res);
  return status;
}

enum cc_status episode_discharge(struct exchange *x, struct tx *tx, const struct episode *ep,
                                 const char *reason, const char *source_member,
                                 const char *source_id, struct field_errors *errors) {
  size_t errors_before = errors->count;
  enum cc_status status = check_final_tops(tx, ep, errors);
  if (status != CC_OK || errors->count > errors_before) return status;

  PGresult *res = NULL;
  status = tx_exec(tx, &CLOSE, (const char *const[]){ep->id, reason}, &res);
  /* The caller locked the episode and saw it open; only a writer outside the service could have
   * closed it since. */
  if (status == CC_OK && PQntuples(res) != 1) status = CC_CONFLICT;
  if (status == CC_OK)
    status = audit_update(
        x, tx, "episode", ep->id, ep,
        json_pack("{s:[{s:s, s:s, s:s}, {s:s}], s:s}", "changes", "field", "status", "old",
                  "open", "new", "closed", "field", "closed_at", source_member, source_id));
  if (status == CC_OK && !PQgetisnull(res, 0, 0))
    status = audit_update(x, tx, "allocation", PQgetvalue(res, 0, 0), ep,
                          json_pack("{s:[{s:s}, {s:s}], s:s}", "changes", "field", "ended_at",
                                    "field", "end_reason", source_member, source_id));
  PQclear(res);
  return status;
}
