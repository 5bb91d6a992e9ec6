/* Shares with partner agencies (seed 000 §2.5, seed 004): the minimum data set of each kind,
 * whom each kind may go to, which lawful bases fit, and which status may follow which. */
#include "check.h"
#include "rules/share_rules.h"

#define BIT(ITEM) (1u << (ITEM))

static void test_names_round_trip(void) {
  for (int i = 0; i < SHARE_KIND_COUNT; i++) {
    enum share_kind kind;
    CHECK(share_kind_parse(share_kind_name((enum share_kind)i), &kind) && (int)kind == i);
  }
  for (int i = 0; i < SHARE_ITEM_COUNT; i++) {
    enum share_item item;
    CHECK(share_item_parse(share_item_name((enum share_item)i), &item) && (int)item == i);
  }
  for (int i = 0; i < SHARE_STATUS_COUNT; i++) {
    enum share_status status;
    CHECK(share_status_parse(share_status_name((enum share_status)i), &status) &&
          (int)status == i);
  }
  for (int i = 0; i < LAWFUL_BASIS_COUNT; i++) {
    enum lawful_basis basis;
    CHECK(lawful_basis_parse(lawful_basis_name((enum lawful_basis)i), &basis) &&
          (int)basis == i);
  }
  enum share_kind kind = SHARE_CARE_PLAN;
  CHECK(!share_kind_parse("gossip", &kind) && kind == SHARE_CARE_PLAN);
  CHECK(!share_kind_parse(NULL, &kind));
  CHECK(share_kind_name(SHARE_KIND_COUNT) == NULL);
  CHECK_STR(share_item_name(ITEM_PERSON_CONTACT), "person_contact");
  enum partner_kind partner;
  CHECK(partner_kind_parse("drug_and_alcohol", &partner) && partner == PARTNER_DRUG_AND_ALCOHOL);
  CHECK(!partner_kind_parse("police", &partner));
}

static void test_each_kind_needs_its_minimum_and_nothing_outside_it(void) {
  enum share_item item = SHARE_ITEM_COUNT;
  /* A Care Act referral: who the person is and what they need. */
  CHECK(share_items_check(SHARE_CARE_ACT_ASSESSMENT, BIT(ITEM_PERSON) | BIT(ITEM_NEEDS_SUMMARY),
                          &item) == SHARE_ITEMS_OK);
  CHECK(share_items_check(SHARE_CARE_ACT_ASSESSMENT, BIT(ITEM_PERSON), &item) ==
            SHARE_ITEMS_MISSING &&
        item == ITEM_NEEDS_SUMMARY);
  CHECK(share_items_check(SHARE_CARE_ACT_ASSESSMENT,
                          BIT(ITEM_PERSON) | BIT(ITEM_NEEDS_SUMMARY) | BIT(ITEM_RISK_SUMMARY) |
                              BIT(ITEM_PERSON_CONTACT) | BIT(ITEM_CARE_TEAM) | BIT(ITEM_EPISODE),
                          &item) == SHARE_ITEMS_OK);
  /* A Care Act referral never carries the care plan or a carer. */
  CHECK(share_items_check(SHARE_CARE_ACT_ASSESSMENT,
                          BIT(ITEM_PERSON) | BIT(ITEM_NEEDS_SUMMARY) | BIT(ITEM_CARE_PLAN),
                          &item) == SHARE_ITEMS_NOT_ALLOWED &&
        item == ITEM_CARE_PLAN);
  /* A carer's assessment: the carer, never the person's risks or address. */
  CHECK(share_items_check(SHARE_CARER_ASSESSMENT, BIT(ITEM_PERSON) | BIT(ITEM_CARER), &item) ==
        SHARE_ITEMS_OK);
  CHECK(share_items_check(SHARE_CARER_ASSESSMENT,
                          BIT(ITEM_PERSON) | BIT(ITEM_CARER) | BIT(ITEM_RISK_SUMMARY),
                          &item) == SHARE_ITEMS_NOT_ALLOWED &&
        item == ITEM_RISK_SUMMARY);
  CHECK(share_items_check(SHARE_CARER_ASSESSMENT,
                          BIT(ITEM_PERSON) | BIT(ITEM_CARER) | BIT(ITEM_PERSON_CONTACT),
                          &item) == SHARE_ITEMS_NOT_ALLOWED);
  /* A transfer: the episode and who holds it, with the transfer itself. */
  CHECK(share_items_check(SHARE_TRANSFER, BIT(ITEM_PERSON) | BIT(ITEM_TRANSFER), &item) ==
            SHARE_ITEMS_MISSING &&
        item == ITEM_EPISODE);
  CHECK(share_items_check(SHARE_TRANSFER,
                          BIT(ITEM_PERSON) | BIT(ITEM_TRANSFER) | BIT(ITEM_EPISODE) |
                              BIT(ITEM_CARE_TEAM) | BIT(ITEM_CARE_PLAN),
                          &item) == SHARE_ITEMS_OK);
  CHECK(share_items_check(SHARE_CARE_PLAN, BIT(ITEM_PERSON) | BIT(ITEM_CARE_PLAN), &item) ==
        SHARE_ITEMS_OK);
  CHECK(share_items_check(SHARE_CARE_PLAN, BIT(ITEM_PERSON) | BIT(ITEM_CARE_PLAN) | BIT(ITEM_CARER),
                          &item) == SHARE_ITEMS_NOT_ALLOWED);
  /* Every kind needs the person; required and optional never overlap. */
  for (int k = 0; k < SHARE_KIND_COUNT; k++) {
    CHECK(share_required_items((enum share_kind)k) & BIT(ITEM_PERSON));
    CHECK(!(share_required_items((enum share_kind)k) & share_optional_items((enum share_kind)k)));
  }
  CHECK(share_required_items(SHARE_KIND_COUNT) == 0);
}

static void test_whom_each_kind_may_go_to(void) {
  CHECK(share_may_go_to(SHARE_CARE_ACT_ASSESSMENT, PARTNER_ADULT_SOCIAL_CARE));
  CHECK(!share_may_go_to(SHARE_CARE_ACT_ASSESSMENT, PARTNER_PROBATION));
  CHECK(share_may_go_to(SHARE_CARER_ASSESSMENT, PARTNER_ADULT_SOCIAL_CARE));
  CHECK(!share_may_go_to(SHARE_CARER_ASSESSMENT, PARTNER_OTHER));
  CHECK(share_may_go_to(SHARE_TRANSFER, PARTNER_PROBATION));
  CHECK(share_may_go_to(SHARE_TRANSFER, PARTNER_DRUG_AND_ALCOHOL));
  CHECK(!share_may_go_to(SHARE_TRANSFER, PARTNER_ADULT_SOCIAL_CARE));
  for (int p = 0; p < PARTNER_KIND_COUNT; p++)
    CHECK(share_may_go_to(SHARE_CARE_PLAN, (enum partner_kind)p));
  CHECK(!share_may_go_to(SHARE_CARE_PLAN, PARTNER_KIND_COUNT));
}

static void test_lawful_bases(void) {
  CHECK(share_basis_fits(SHARE_CARER_ASSESSMENT, BASIS_CONSENT));
  CHECK(share_basis_fits(SHARE_CARER_ASSESSMENT, BASIS_CARE_ACT_DUTY));
  CHECK(!share_basis_fits(SHARE_CARER_ASSESSMENT, BASIS_SAFEGUARDING));
  CHECK(!share_basis_fits(SHARE_CARER_ASSESSMENT, BASIS_COURT_ORDER));
  CHECK(share_basis_fits(SHARE_TRANSFER, BASIS_COURT_ORDER));
  CHECK(share_basis_fits(SHARE_CARE_ACT_ASSESSMENT, BASIS_SAFEGUARDING));
  CHECK(!share_basis_fits(SHARE_CARE_PLAN, LAWFUL_BASIS_COUNT));
}

static void test_status_transitions(void) {
  CHECK(share_may_become(SHARE_SENT, SHARE_ACKNOWLEDGED));
  CHECK(!share_may_become(SHARE_ACKNOWLEDGED, SHARE_ACKNOWLEDGED));
  CHECK(share_may_become(SHARE_SENT, SHARE_ACCEPTED));
  CHECK(share_may_become(SHARE_ACKNOWLEDGED, SHARE_REJECTED));
  CHECK(share_may_become(SHARE_ACKNOWLEDGED, SHARE_WITHDRAWN));
  CHECK(!share_may_become(SHARE_ACCEPTED, SHARE_WITHDRAWN));
  CHECK(!share_may_become(SHARE_REJECTED, SHARE_ACCEPTED));
  CHECK(!share_may_become(SHARE_WITHDRAWN, SHARE_ACKNOWLEDGED));
  CHECK(!share_may_become(SHARE_SENT, SHARE_SENT));
  CHECK(share_kind_is_answered(SHARE_TRANSFER));
  CHECK(!share_kind_is_answered(SHARE_CARE_PLAN));
}

int main(void) {
  test_names_round_trip();
  test_each_kind_needs_its_minimum_and_nothing_outside_it();
  test_whom_each_kind_may_go_to();
  test_lawful_bases();
  test_status_transitions();
  return checks_report();
}
