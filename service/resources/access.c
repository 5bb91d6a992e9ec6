#include "resources/access.h"

#include "http/router.h"
#include "log.h"

bool access_break_glass_reason(struct exchange *x, const char **reason) {
  *reason = exchange_header(x, BREAK_GLASS_HEADER);
  if (!*reason || policy_break_glass_reason_valid(*reason)) return true;
  reply_problem(x, CC_BAD_REQUEST,
                BREAK_GLASS_HEADER " must be %d to %d characters of text without control "
                "characters.",
                BREAK_GLASS_REASON_MIN, BREAK_GLASS_REASON_MAX);
  return false;
}

bool access_break_glass_requested(const struct exchange *x) {
  return exchange_header(x, BREAK_GLASS_HEADER) != NULL;
}

bool access_refuse(struct exchange *x, struct tx *tx, const struct access_target *target,
                   enum access_action action, bool break_glass, enum cc_status status,
                   const char *detail) {
  json_t *details = json_pack("{s:s, s:b}", "access", action == ACCESS_READ ? "read" : "write",
                              "break_glass_requested", break_glass);
  struct audit_event event = {.action = "deny", .resource_type = target->resource_type,
                              .resource_id = target->resource_id,
                              .service_user_id = target->service_user_id, .outcome = "denied",
                              .details = details};
  enum cc_status failed = audit_append(tx, &x->actor, &event);
  json_decref(details);
  if (failed == CC_OK) failed = tx_commit(tx);
  if (failed != CC_OK) {
    reply_problem(x, failed, NULL);
    return false;
  }
  log_event(LOG_WARN, "Security - record access denied",
            json_pack("{s:s, s:s, s:s}", "request_id", x->request_id, "actor",
                      x->principal.subject, "route", x->route->path));
  reply_problem(x, status, "%s", detail);
  return false;
}

bool access_person(struct exchange *x, struct tx *tx, const struct access_target *target,
                   enum access_action action, bool break_glass, enum access_decision *decision) {
  PGresult *relationship = NULL;
  enum cc_status status = tx_exec(tx, &POLICY_RELATIONSHIP,
                                  (const char *const[]){x->principal.subject,
                                                        target->service_user_id},
                                  &relationship);
  bool allowed = status == CC_OK && access_person_decide(x, tx, target, action, break_glass,
                                                         relationship, decision);
  if (status != CC_OK) reply_problem(x, status, NULL);
  PQclear(relationship);
  return allowed;
}

bool access_person_decide(struct exchange *x, struct tx *tx, const struct access_target *target,
                          enum access_action action, bool break_glass,
                          const PGresult *relationship, enum access_decision *decision) {
  bool exists;
  struct relationship rel;
  policy_relationship_read(relationship, &exists, &rel);
  if (!exists) {
    reply_problem(x, CC_NOT_FOUND, "No service_user has this id.");
    return false;
  }
  *decision = policy_decide(x->principal.roles, action, &rel, break_glass);
  if (*decision != ACCESS_DENY) return true;
  return access_refuse(x, tx, target, action, break_glass, CC_FORBIDDEN,
                       "You have no care relationship that allows this access to the record.");
}

enum cc_status access_audit_read(struct exchange *x, struct tx *tx,
                                 const struct access_target *target,
                                 enum access_decision decision, const char *reason) {
  json_t *details = decision == ACCESS_BREAK_GLASS ? json_pack("{s:s}", "reason", reason) : NULL;
  struct audit_event event = {
      .action = decision == ACCESS_BREAK_GLASS ? "break_glass" : "read",
      .resource_type = target->resource_type, .resource_id = target->resource_id,
      .service_user_id = target->service_user_id, .outcome = "success", .details = details};
  enum cc_status status = audit_append(tx, &x->actor, &event);
  json_decref(details);
  return status;
}
