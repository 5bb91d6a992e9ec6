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

/* The SQL condition for lists of records about people the caller may read: PERSON is the SQL
 * of the person's id in the listed row (s.id, r.service_user_id), $S the caller's subject, $C
 * whether they hold a coordinator/lead role and $M whether they are a manager (each a text
 * parameter of the list statement).
 *
 * Every test is a lookup for the row at hand, and "no open episode" is a scalar subquery rather
 * than NOT EXISTS, which the planner would otherwise turn into a hash of every open episode (or,
 * wrapped in EXISTS over service_users, of every person the caller may see) built before the
 * first row: measured, 3.8 s for a manager's first page of 100,000 people's referrals, against
 * 18 ms when the list walks its index in order and tests each row until the page is full. */
#define POLICY_LIST_CONDITION(PERSON, S, C, M)                                                  \
  "(EXISTS (SELECT 1 FROM staff me WHERE me.subject = " S " AND me.active AND ("                \
  "   (" C "::boolean AND EXISTS (SELECT 1 FROM episodes pe JOIN allocations pa"                \
  "      ON pa.episode_id = pe.id AND pa.ended_at IS NULL"                                     \
  "      WHERE pe.service_user_id = " PERSON " AND pe.status = 'open'"                          \
  "        AND (pa.holder_staff_id = me.id OR pa.deputy_staff_id = me.id)))"                   \
  "   OR (" M "::boolean AND EXISTS (SELECT 1 FROM episodes pe"                                 \
  "        WHERE pe.service_user_id = " PERSON " AND pe.status = 'open'"                        \
  "          AND pe.team_id = me.team_id)))))"                                                  \
  " OR (" M "::boolean AND (SELECT 1 FROM episodes pe WHERE pe.service_user_id = " PERSON       \
  "      AND pe.status = 'open' LIMIT 1) IS NULL)"

/* A co-ordinator or lead professional who is not a manager sees only their caseload: the
 * people of the open episodes whose current allocation they hold or deputise. For them a list
 * is better planned from that handful of people than by testing every row of a whole table in
 * the list's order (measured: 0.6 s for a co-ordinator's first page of people or referrals).
 * policy_sees_only_caseload says when a list may use POLICY_CASELOAD_SQL, the caseload's
 * person ids for the caller's subject $S, instead of POLICY_LIST_CONDITION. */
#define POLICY_CASELOAD_SQL(S)                                                                  \
  "SELECT pe.service_user_id FROM staff me JOIN allocations pa"                                 \
  " ON (pa.holder_staff_id = me.id OR pa.deputy_staff_id = me.id) AND pa.ended_at IS NULL"      \
  " JOIN episodes pe ON pe.id = pa.episode_id AND pe.status = 'open'"                           \
  " WHERE me.subject = " S " AND me.active"
bool policy_sees_only_caseload(unsigned roles);

#endif
