/* The access policy for a person's record, cell by cell: every role (and a few combinations) ×
 * read/write × break-glass asked or not × each of the 8 relationships (DOMAIN.md "Who uses the
 * service"). Then the X-Break-Glass-Reason rules. */
#include <stdbool.h>
#include <stdlib.h>

#include "auth/policy.h"
#include "auth/roles.h"
#include "check.h"

/* Relationship index: bit 0 holds_allocation, bit 1 manages_team, bit 2 in_intake. Each string
 * gives the expected decision for indexes 0..7: A allow, B break-glass, D deny. */
struct row {
  const char *name;
  unsigned roles;
  const char *read, *read_break_glass, *write, *write_break_glass;
};

static const struct row TABLE[] = {
    /*                                      01234567    01234567    01234567    01234567 */
    {"care_coordinator", ROLE_COORDINATOR, "DADADADA", "BABABABA", "DADADADA", "DADADADA"},
    {"lead_professional", ROLE_LEAD_PROFESSIONAL, "DADADADA", "BABABABA", "DADADADA",
     "DADADADA"},
    {"manager", ROLE_MANAGER, "DDAAAAAA", "BBAAAAAA", "DDAAAAAA", "DDAAAAAA"},
    {"partner", ROLE_PARTNER, "DDDDDDDD", "DDDDDDDD", "DDDDDDDD", "DDDDDDDD"},
    {"reporting", ROLE_REPORTING, "DDDDDDDD", "DDDDDDDD", "DDDDDDDD", "DDDDDDDD"},
    {"no role", 0, "DDDDDDDD", "DDDDDDDD", "DDDDDDDD", "DDDDDDDD"},
    {"partner+reporting", ROLE_PARTNER | ROLE_REPORTING, "DDDDDDDD", "DDDDDDDD", "DDDDDDDD",
     "DDDDDDDD"},
    {"coordinator+manager", ROLE_COORDINATOR | ROLE_MANAGER, "DAAAAAAA", "BAAAAAAA", "DAAAAAAA",
     "DAAAAAAA"},
    {"coordinator+partner", ROLE_COORDINATOR | ROLE_PARTNER, "DADADADA", "BABABABA", "DADADADA",
     "DADADADA"},
    {"manager+reporting", ROLE_MANAGER | ROLE_REPORTING, "DDAAAAAA", "BBAAAAAA", "DDAAAAAA",
     "DDAAAAAA"},
};

static char letter(enum access_decision d) {
  return d == ACCESS_ALLOW ? 'A' : d == ACCESS_BREAK_GLASS ? 'B' : d == ACCESS_DENY ? 'D' : '?';
}

static void check_cells(const struct row *row, enum access_action action, bool break_glass,
                        const char *expected) {
  for (int i = 0; i < 8; i++) {
    struct relationship rel = {.holds_allocation = i & 1, .manages_team = (i >> 1) & 1,
                               .in_intake = (i >> 2) & 1};
    char got = letter(policy_decide(row->roles, action, &rel, break_glass));
    checks_run++;
    if (got != expected[i]) {
      checks_failed++;
      fprintf(stderr, "%s %s%s holds=%d manages=%d intake=%d: got %c, want %c\n", row->name,
              action == ACCESS_READ ? "read" : "write", break_glass ? " +break-glass" : "",
              rel.holds_allocation, rel.manages_team, rel.in_intake, got, expected[i]);
    }
  }
}

static void test_every_cell(void) {
  for (size_t r = 0; r < sizeof TABLE / sizeof TABLE[0]; r++) {
    CHECK(strlen(TABLE[r].read) == 8 && strlen(TABLE[r].read_break_glass) == 8 &&
          strlen(TABLE[r].write) == 8 && strlen(TABLE[r].write_break_glass) == 8);
    check_cells(&TABLE[r], ACCESS_READ, false, TABLE[r].read);
    check_cells(&TABLE[r], ACCESS_READ, true, TABLE[r].read_break_glass);
    check_cells(&TABLE[r], ACCESS_WRITE, false, TABLE[r].write);
    check_cells(&TABLE[r], ACCESS_WRITE, true, TABLE[r].write_break_glass);
  }
}

static void test_no_relationship_is_no_relationship(void) {
  CHECK(policy_decide(ROLE_MANAGER, ACCESS_READ, NULL, false) == ACCESS_DENY);
  CHECK(policy_decide(ROLE_COORDINATOR, ACCESS_READ, NULL, true) == ACCESS_BREAK_GLASS);
  CHECK(policy_decide(ROLE_COORDINATOR, ACCESS_WRITE, NULL, true) == ACCESS_DENY);
}

static void test_break_glass_reason(void) {
  CHECK(!policy_break_glass_reason_valid(NULL));
  CHECK(!policy_break_glass_reason_valid(""));
  CHECK(!policy_break_glass_reason_valid("123456789"));  /* 9 */
  CHECK(policy_break_glass_reason_valid("1234567890"));  /* 10 */
  CHECK(policy_break_glass_reason_valid("Crisis call from A&E, no coordinator reachable"));
  /* characters, not bytes: 10 two-byte letters pass, 9 do not */
  CHECK(policy_break_glass_reason_valid("\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9"
                                        "\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9"));
  CHECK(!policy_break_glass_reason_valid("\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9"
                                         "\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9"));
  char text[BREAK_GLASS_REASON_MAX + 2];
  memset(text, 'a', sizeof text);
  text[BREAK_GLASS_REASON_MAX] = '\0';
  CHECK(policy_break_glass_reason_valid(text)); /* 500 */
  text[BREAK_GLASS_REASON_MAX] = 'a';
  text[BREAK_GLASS_REASON_MAX + 1] = '\0';
  CHECK(!policy_break_glass_reason_valid(text)); /* 501 */
  /* control characters: C0, DEL, C1 */
  CHECK(!policy_break_glass_reason_valid("reason with\ttab"));
  CHECK(!policy_break_glass_reason_valid("reason with\nnewline"));
  CHECK(!policy_break_glass_reason_valid("reason with \x7f delete"));
  CHECK(!policy_break_glass_reason_valid("reason with \xc2\x85 NEL"));
  /* invalid UTF-8: stray continuation, overlong, surrogate, truncated, beyond U+10FFFF */
  CHECK(!policy_break_glass_reason_valid("reason \x80 continuation"));
  CHECK(!policy_break_glass_reason_valid("reason \xc0\xaf overlong"));
  CHECK(!policy_break_glass_reason_valid("reason \xed\xa0\x80 surrogate"));
  CHECK(!policy_break_glass_reason_valid("truncated reason \xe2\x82"));
  CHECK(!policy_break_glass_reason_valid("reason \xf4\x90\x80\x80 too high"));
  CHECK(policy_break_glass_reason_valid("reason \xe2\x82\xac and \xf0\x9f\x98\x80 fine"));
}

/* Referrals: partners see their organisation's only; the referrer and screening managers see
 * theirs; everything else falls back to the person's relationship. */
static void test_referral_partner_sees_only_its_organisation(void) {
  struct referral_relationship own = {.is_partner_org = true};
  struct referral_relationship other = {.is_creator = true, .awaiting_screening = true,
                                        .person = {.in_intake = true}};
  CHECK(policy_decide_referral(ROLE_PARTNER, ACCESS_READ, &own, false) == ACCESS_ALLOW);
  CHECK(policy_decide_referral(ROLE_PARTNER, ACCESS_WRITE, &own, false) == ACCESS_ALLOW);
  CHECK(policy_decide_referral(ROLE_PARTNER, ACCESS_READ, &other, true) == ACCESS_DENY);
  /* the partner role wins over a clinical one carried in the same token */
  CHECK(policy_decide_referral(ROLE_PARTNER | ROLE_MANAGER, ACCESS_READ, &other, false) ==
        ACCESS_DENY);
}

static void test_referral_referrer_and_screening_managers(void) {
  struct referral_relationship mine = {.is_creator = true};
  struct referral_relationship waiting = {.awaiting_screening = true};
  struct referral_relationship routed = {.manages_responding_team = true};
  struct referral_relationship none = {0};
  CHECK(policy_decide_referral(ROLE_COORDINATOR, ACCESS_WRITE, &mine, false) == ACCESS_ALLOW);
  CHECK(policy_decide_referral(ROLE_REPORTING, ACCESS_READ, &mine, false) == ACCESS_DENY);
  CHECK(policy_decide_referral(ROLE_MANAGER, ACCESS_WRITE, &waiting, false) == ACCESS_ALLOW);
  CHECK(policy_decide_referral(ROLE_COORDINATOR, ACCESS_READ, &waiting, false) == ACCESS_DENY);
  CHECK(policy_decide_referral(ROLE_MANAGER, ACCESS_WRITE, &routed, false) == ACCESS_ALLOW);
  CHECK(policy_decide_referral(ROLE_LEAD_PROFESSIONAL, ACCESS_READ, &routed, false) ==
        ACCESS_DENY);
  CHECK(policy_decide_referral(ROLE_MANAGER, ACCESS_READ, &none, false) == ACCESS_DENY);
  CHECK(policy_decide_referral(ROLE_MANAGER, ACCESS_READ, &none, true) == ACCESS_BREAK_GLASS);
  CHECK(policy_decide_referral(ROLE_MANAGER, ACCESS_WRITE, &none, true) == ACCESS_DENY);
}

static void test_referral_falls_back_to_the_person(void) {
  struct referral_relationship holder = {.person = {.holds_allocation = true}};
  struct referral_relationship intake = {.person = {.in_intake = true}};
  CHECK(policy_decide_referral(ROLE_COORDINATOR, ACCESS_READ, &holder, false) == ACCESS_ALLOW);
  CHECK(policy_decide_referral(ROLE_MANAGER, ACCESS_WRITE, &intake, false) == ACCESS_ALLOW);
  CHECK(policy_decide_referral(ROLE_COORDINATOR, ACCESS_READ, &intake, false) == ACCESS_DENY);
}

/* Lists may start from the caseload only when the caller's relationships are nothing else: a
 * manager also sees their team and people in intake, a partner its organisation's referrals. */
static void test_who_sees_only_their_caseload(void) {
  CHECK(policy_sees_only_caseload(ROLE_COORDINATOR));
  CHECK(policy_sees_only_caseload(ROLE_LEAD_PROFESSIONAL));
  CHECK(policy_sees_only_caseload(ROLE_COORDINATOR | ROLE_LEAD_PROFESSIONAL));
  CHECK(policy_sees_only_caseload(ROLE_COORDINATOR | ROLE_REPORTING));
  CHECK(!policy_sees_only_caseload(ROLE_COORDINATOR | ROLE_MANAGER));
  CHECK(!policy_sees_only_caseload(ROLE_LEAD_PROFESSIONAL | ROLE_PARTNER));
  CHECK(!policy_sees_only_caseload(ROLE_MANAGER));
  CHECK(!policy_sees_only_caseload(ROLE_PARTNER));
  CHECK(!policy_sees_only_caseload(ROLE_REPORTING));
  CHECK(!policy_sees_only_caseload(0));
}

int main(void) {
  test_every_cell();
  test_who_sees_only_their_caseload();
  test_no_relationship_is_no_relationship();
  test_break_glass_reason();
  test_referral_partner_sees_only_its_organisation();
  test_referral_referrer_and_screening_managers();
  test_referral_falls_back_to_the_person();
  return checks_report();
}
