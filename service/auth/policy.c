#include "auth/policy.h"

#include <stdlib.h>
#include <string.h>

#include "auth/roles.h"

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

/* Decodes one UTF-8 sequence (RFC 3629: shortest form, no surrogates, at most U+10FFFF).
 * Returns its length, or 0 when invalid. */
static size_t utf8_decode(const unsigned char *s, unsigned long *cp) {
  size_t len;
  unsigned long c, min;
  if (s[0] < 0x80) {
    *cp = s[0];
    return 1;
  } else if ((s[0] & 0xE0) == 0xC0) {
    len = 2, c = s[0] & 0x1Fu, min = 0x80;
  } else if ((s[0] & 0xF0) == 0xE0) {
    len = 3, c = s[0] & 0x0Fu, min = 0x800;
  } else if ((s[0] & 0xF8) == 0xF0) {
    len = 4, c = s[0] & 0x07u, min = 0x10000;
  } else {
    return 0;
  }
  for (size_t i = 1; i < len; i++) {
    if ((s[i] & 0xC0) != 0x80) return 0;
    c = (c << 6) | (s[i] & 0x3Fu);
  }
  if (c < min || c > 0x10FFFF || (c >= 0xD800 && c <= 0xDFFF)) return 0;
  *cp = c;
  return len;
}

bool policy_break_glass_reason_valid(const char *text) {
  if (!text) return false;
  const unsigned char *s = (const unsigned char *)text;
  size_t chars = 0;
  while (*s) {
    unsigned long cp;
    size_t len = utf8_decode(s, &cp);
    if (!len) return false;
    if (cp < 0x20 || (cp >= 0x7F && cp <= 0x9F)) return false;
    s += len;
    if (++chars > BREAK_GLASS_REASON_MAX) return false;
  }
  return chars >= BREAK_GLASS_REASON_MIN;
}

/* One statement: does the person exist, and what ties the caller (an active staff member found
 * by token subject) to them. A person with no open episode is in intake. */
static const struct db_stmt RELATIONSHIP = {
    "policy_relationship",
    "WITH me AS (SELECT id, team_id FROM staff WHERE subject = $1 AND active)"
    " SELECT EXISTS (SELECT 1 FROM service_users WHERE id = $2::uuid),"
    " EXISTS (SELECT 1 FROM me JOIN allocations a"
    "           ON (a.holder_staff_id = me.id OR a.deputy_staff_id = me.id) AND a.ended_at IS NULL"
    "         JOIN episodes e ON e.id = a.episode_id"
    "         WHERE e.service_user_id = $2::uuid AND e.status = 'open'),"
    " EXISTS (SELECT 1 FROM me JOIN episodes e ON e.team_id = me.team_id"
    "         WHERE e.service_user_id = $2::uuid AND e.status = 'open'),"
    " NOT EXISTS (SELECT 1 FROM episodes e WHERE e.service_user_id = $2::uuid"
    "             AND e.status = 'open')",
    2};

static bool is_true(PGresult *res, int col) { return strcmp(PQgetvalue(res, 0, col), "t") == 0; }

enum cc_status policy_relationship(struct tx *tx, const char *subject, const char *person_id,
                                   bool *exists, struct relationship *rel) {
  *exists = false;
  *rel = (struct relationship){0};
  PGresult *res = NULL;
  enum cc_status status =
      tx_exec(tx, &RELATIONSHIP, (const char *const[]){subject, person_id}, &res);
  if (status == CC_OK && PQntuples(res) == 1) {
    *exists = is_true(res, 0);
    if (*exists)
      *rel = (struct relationship){.holds_allocation = is_true(res, 1),
                                   .manages_team = is_true(res, 2),
                                   .in_intake = is_true(res, 3)};
  }
  PQclear(res);
  return status;
}
