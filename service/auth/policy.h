/* The access policy for a person's record (DOMAIN.md "Who uses the service"): one pure decision
 * from the caller's roles, what they want to do and their relationship with the person, and the
 * one SQL statement that finds that relationship.
 *
 *   care co-ordinator, lead professional: allowed iff they hold a current allocation on an open
 *     episode of the person (as holder or named deputy);
 *   manager: allowed iff their team holds an open episode of the person, or the person is in
 *     intake (no open episode at all: managers screen, triage and allocate them);
 *   partner, reporting: never (their routes have their own rules);
 *   break-glass: a clinical role without a relationship may READ with a stated reason; the read
 *     is then audited as break_glass (R-AUD-1). Never for writes. */
#ifndef CARECOORD_POLICY_H
#define CARECOORD_POLICY_H

#include <stdbool.h>

#include "db/db.h"

enum access_action { ACCESS_READ, ACCESS_WRITE };

enum access_decision { ACCESS_ALLOW, ACCESS_BREAK_GLASS, ACCESS_DENY };

struct relationship {
  bool holds_allocation; /* current holder or named deputy on an open episode of the person */
  bool manages_team;     /* the caller's team holds an open episode of the person */
  bool in_intake;        /* the person has no open episode at all */
};

enum access_decision policy_decide(unsigned roles, enum access_action action,
                                   const struct relationship *rel, bool break_glass_requested);

/* A referral is about a person but travels before any care relationship exists, so more people
 * may see it than the person's record (README "Referrals"):
 *   partner: only the referrals its organisation sent (and only the partner view of them); a
 *     caller with the partner role is always treated as a partner;
 *   whoever created it (the referrer) may read it and withdraw it;
 *   manager: any referral still waiting to be screened (received), and those routed to their team;
 *   otherwise the person's relationship decides as for their record (policy_decide). */
struct referral_relationship {
  bool is_partner_org;           /* caller is a partner of the organisation that sent it */
  bool is_creator;               /* created_by is the caller's subject */
  bool awaiting_screening;       /* status received */
  bool manages_responding_team;  /* the caller's team is the responding team */
  struct relationship person;    /* with the person it is about */
};

enum access_decision policy_decide_referral(unsigned roles, enum access_action action,
                                            const struct referral_relationship *rel,
                                            bool break_glass_requested);

/* The statements that find the caller's relationship with a person, parameters ($1 the token
 * subject, $2 the person's id), or ($1, $2 an episode's id) for the episode's person: one row
 * that policy_relationship_read understands. Run them in a batch beside the record they guard
 * (tx_exec_batch). */
extern const struct db_stmt POLICY_RELATIONSHIP, POLICY_RELATIONSHIP_OF_EPISODE;
/* *exists says whether the person exists at all (when false, rel is all false). No active staff
 * row with the token's subject: only in_intake can be true. */
void policy_relationship_read(const PGresult *res, bool *exists, struct relationship *rel);

/* Runs POLICY_RELATIONSHIP for the caller and the person, in the caller's transaction. */
enum cc_status policy_relationship(struct tx *tx, const char *subject, const char *person_id,
                                   bool *exists, struct relationship *rel);

/* X-Break-Glass-Reason: 10..500 characters of valid UTF-8 without control characters. */
#define BREAK_GLASS_REASON_MIN 10
#define BREAK_GLASS_REASON_MAX 500
bool policy_break_glass_reason_valid(const char *text);

/* The SQL condition for lists of people the caller may read: a fragment over service_users
 * aliased s, with the caller's subject as $S, whether they hold a coordinator/lead role as $C
 * and whether they are a manager as $M (each a text parameter of the list statement). */
#define POLICY_LIST_CONDITION(S, C, M)                                                          \
  "(EXISTS (SELECT 1 FROM staff me WHERE me.subject = " S " AND me.active AND ("                \
  "   (" C "::boolean AND EXISTS (SELECT 1 FROM episodes pe JOIN allocations pa"                \
  "      ON pa.episode_id = pe.id AND pa.ended_at IS NULL"                                     \
  "      WHERE pe.service_user_id = s.id AND pe.status = 'open'"                               \
  "        AND (pa.holder_staff_id = me.id OR pa.deputy_staff_id = me.id)))"                   \
  "   OR (" M "::boolean AND EXISTS (SELECT 1 FROM episodes pe WHERE pe.service_user_id = s.id" \
  "        AND pe.status = 'open' AND pe.team_id = me.team_id)))))"                            \
  " OR (" M "::boolean AND NOT EXISTS (SELECT 1 FROM episodes pe"                              \
  "      WHERE pe.service_user_id = s.id AND pe.status = 'open'))"

#endif
