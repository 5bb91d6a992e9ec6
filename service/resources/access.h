/* The access step of a handler that touches a person's record (auth/policy.h decides; this
 * replies and audits). Shared by every resource about a person: service users, referrals,
 * episodes, allocations.
 *
 * A refusal commits its deny event before replying (R-AUD-1), so the request's transaction is
 * finished when these return false. */
#ifndef CARECOORD_ACCESS_H
#define CARECOORD_ACCESS_H

#include <stdbool.h>

#include "auth/policy.h"
#include "http/exchange.h"

#define BREAK_GLASS_HEADER "X-Break-Glass-Reason"

/* What is being accessed, for the audit events. */
struct access_target {
  const char *resource_type;   /* e.g. referral */
  const char *resource_id;     /* may be NULL (a collection) */
  const char *service_user_id; /* the person whose record it is */
};

/* The break-glass reason of a read, NULL when none was given. Replies 400 and returns false when
 * the header is malformed. */
bool access_break_glass_reason(struct exchange *x, const char **reason);
/* Whether the request asks for break-glass at all (a write that does is refused like any other). */
bool access_break_glass_requested(const struct exchange *x);

/* Decides access to the person's record by the legitimate relationship. Returns true when the
 * handler may go on (*decision says how: allow or break-glass read). Otherwise it has replied:
 * 404 when the person does not exist, 403 after committing a deny event, or the failure. */
bool access_person(struct exchange *x, struct tx *tx, const struct access_target *target,
                   enum access_action action, bool break_glass, enum access_decision *decision);

/* access_person, from the result of a relationship statement (auth/policy.h) that the caller
 * ran itself, typically in one batch with the record it guards. */
bool access_person_decide(struct exchange *x, struct tx *tx, const struct access_target *target,
                          enum access_action action, bool break_glass,
                          const PGresult *relationship, enum access_decision *decision);

/* Commits a deny event for target and replies with status (403, or 404 where even the existence
 * of the record is not the caller's to learn) and detail. Returns false, for `return
 * access_refuse(...)`. */
bool access_refuse(struct exchange *x, struct tx *tx, const struct access_target *target,
                   enum access_action action, bool break_glass, enum cc_status status,
                   const char *detail);

/* Appends the read event of a granted read: `read`, or `break_glass` carrying its reason. */
enum cc_status access_audit_read(struct exchange *x, struct tx *tx,
                                 const struct access_target *target,
                                 enum access_decision decision, const char *reason);

#endif
