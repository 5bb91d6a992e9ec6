#include "auth/policy.h"

#include <stdlib.h>
#include <string.h>

#include "auth/roles.h"
#include "fields.h"

enum access_decision policy_decide(unsigned roles, enum access_action action,
                                   const struct relationship *rel, bool break_glass_requested) {
  bool holds = rel && rel->holds_allocation;
  bool manages = rel && rel->manages_team;
  bool intake = rel && rel->in_intake;
  if ((roles & (ROLE_COORDINATOR | ROLE_LEAD_PROFESSIONAL)) && holds) return ACCESS_ALLOW;
  if ((roles & ROLE_MANAGER) && (manages || intake)) return ACCESS_ALLOW;
  if ((roles & ROLES_CLINICAL) && action == ACCESS_READ && break_glass_requested)
    return ACCESS_BREAK_GLASS;
  return ACCESS_DENY;
}

enum access_decision policy_decide_referral(unsigned roles, enum access_action action,
                                            const struct referral_relationship *rel,
                                            bool break_glass_requested) {
  if (roles & ROLE_PARTNER) return rel->is_partner_org ? ACCESS_ALLOW : ACCESS_DENY;
  if ((roles & ROLES_CLINICAL) && rel->is_creator) return ACCESS_ALLOW;
  if ((roles & ROLE_MANAGER) && (rel->awaiting_screening || rel->manages_responding_team))
    return ACCESS_ALLOW;
  return policy_decide(roles, action, &rel->person, break_glass_requested);
}

bool policy_sees_only_caseload(unsigned roles) {
  return (roles & (ROLE_COORDINATOR | ROLE_LEAD_PROFESSIONAL)) &&
         !(roles & (ROLE_MANAGER | ROLE_PARTNER));
}

bool policy_break_glass_reason_valid(const char *text) {
  if (!text || !utf8_is_valid(text, strlen(text)) || text_has_control_chars(text, false))
    return false;
  size_t chars = utf8_length(text);
  return chars >= BREAK_GLASS_REASON_MIN && chars <= BREAK_GLASS_REASON_MAX;
}

/* One statement: does the person exist, and what ties the caller (an active staff member found
 * by token subject, $1) to them. A person with no open episode is in intake. PERSON is the
 * person's id as SQL over $2. */
#define RELATIONSHIP_SQL(PERSON)                                                                 \
  "WITH me AS (SELECT id, team_id FROM staff WHERE subject = $1 AND active)"                     \
  " SELECT EXISTS (SELECT 1 FROM service_users WHERE id = " PERSON "),"                          \
  " EXISTS (SELECT 1 FROM me JOIN allocations a"                                                 \
  "           ON (a.holder_staff_id = me.id OR a.deputy_staff_id = me.id) AND a.ended_at IS NULL" \
  "         JOIN episodes e ON e.id = a.episode_id"                                              \
  "         WHERE e.service_user_id = " PERSON " AND e.status = 'open'),"                       \
  " EXISTS (SELECT 1 FROM me JOIN episodes e ON e.team_id = me.team_id"                          \
  "         WHERE e.service_user_id = " PERSON " AND e.status = 'open'),"                       \
  " NOT EXISTS (SELECT 1 FROM episodes e WHERE e.service_user_id = " PERSON                      \
  "             AND e.status = 'open')"

const struct db_stmt POLICY_RELATIONSHIP = {"policy_relationship", RELATIONSHIP_SQL("$2::uuid"),
                                            2};
const struct db_stmt POLICY_RELATIONSHIP_OF_EPISODE = {
    "policy_relationship_of_episode",
    RELATIONSHIP_SQL("(SELECT pe.service_user_id FROM episodes pe WHERE pe.id = $2::uuid)"), 2};

static bool is_true(const PGresult *res, int col) { return strcmp(PQgetvalue(res, 0, col), "t") == 0; }

void policy_relationship_read(const PGresult *res, bool *exists, struct relationship *rel) {
  *exists = PQntuples(res) == 1 && is_true(res, 0);
  *rel = (struct relationship){0};
  if (*exists)
    *rel = (struct relationship){.holds_allocation = is_true(res, 1),
                                 .manages_team = is_true(res, 2),
                                 .in_intake = is_true(res, 3)};
}

enum cc_status policy_relationship(struct tx *tx, const char *subject, const char *person_id,
                                   bool *exists, struct relationship *rel) {
  *exists = false;
  *rel = (struct relationship){0};
  PGresult *res = NULL;
  enum cc_status status =
      tx_exec(tx, &POLICY_RELATIONSHIP, (const char *const[]){subject, person_id}, &res);
  if (status == CC_OK) policy_relationship_read(res, exists, rel);
  PQclear(res);
  return status;
}
