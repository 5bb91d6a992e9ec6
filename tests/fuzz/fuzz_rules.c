/* The text parsers of the rules (service/rules/): timestamps, dates, report months, NHS
 * numbers, webhook URLs, the enumerations' names, and the clocks that read dates from the
 * database. The input is one value, given to each.
 *
 * Properties:
 * - a parsed timestamp formats and parses back to the same instant; a parsed date or report
 *   month formats back to the same text; text_is_date agrees with civil_date_parse;
 * - an accepted NHS number is ten digits whose last is the check digit of the first nine;
 * - a webhook URL is refused with a reason or accepted without one, is http only with the
 *   loopback setting, and its origin is a prefix of it;
 * - a parsed enumeration name is the name of what it parsed to;
 * - each clock reports a date it was given as invalid exactly when civil_date_parse refuses
 *   it. */
#include <ctype.h>
#include <stdbool.h>

#include "fields.h"
#include "fuzz.h"
#include "rules/allocation_rules.h"
#include "rules/assessment_rules.h"
#include "rules/carer_rules.h"
#include "rules/clocks.h"
#include "rules/nhs_number.h"
#include "rules/referral_state.h"
#include "rules/report_rules.h"
#include "rules/review_rules.h"
#include "rules/share_rules.h"
#include "rules/transfer_rules.h"
#include "rules/webhook_rules.h"

#define TODAY "2026-06-01"

#define ROUND_TRIP(type, parse, name, text)                         \
  do {                                                              \
    type value_;                                                    \
    if (parse(text, &value_)) FUZZ_REQUIRE(strcmp(name(value_), text) == 0); \
  } while (0)

static void check_times(const char *text) {
  time_t t;
  if (timestamp_parse(text, &t)) {
    char formatted[TIMESTAMP_TEXT_LEN];
    timestamp_format(t, formatted);
    time_t back;
    FUZZ_REQUIRE(timestamp_parse(formatted, &back) && back == t);
  }
  struct civil_date d;
  bool is_date = civil_date_parse(text, &d);
  FUZZ_REQUIRE(is_date == text_is_date(text));
  if (is_date) {
    char formatted[CIVIL_DATE_TEXT_LEN];
    civil_date_format(d, formatted);
    FUZZ_REQUIRE(strcmp(formatted, text) == 0);
    struct civil_date later = civil_date_add_months(d, 1200);
    FUZZ_REQUIRE(civil_date_compare(later, d) >= 0);
    struct report_month m = report_month_of(text);
    FUZZ_REQUIRE(m.year == d.year && m.month == d.month);
  }
  struct report_month m;
  if (report_month_parse(text, &m)) {
    char formatted[REPORT_MONTH_TEXT_LEN];
    report_month_format(m, formatted);
    FUZZ_REQUIRE(strcmp(formatted, text) == 0);
    (void)report_period_problem(m, m, TODAY);
    char day[11];
    report_snapshot_day(m, TODAY, day);
    FUZZ_REQUIRE(text_is_date(day));
  }
}

static void check_clocks(const char *text) {
  bool valid = civil_date_parse(text, &(struct civil_date){0});
  struct clock_state out;
  FUZZ_REQUIRE(holistic_assessment_clock(text, NULL, TODAY, &out) == valid);
  FUZZ_REQUIRE(holistic_assessment_clock(TODAY, text, TODAY, &out) == valid);
  FUZZ_REQUIRE(risk_review_clock(NULL, text, 12, TODAY, &out) == valid);
  FUZZ_REQUIRE(tops_clock(TODAY, NULL, text, 6, TODAY, &out) == valid);
  FUZZ_REQUIRE(carer_needs_review_clock(text, NULL, NULL, 12, TODAY, &out) == valid);
  FUZZ_REQUIRE(follow_up_clock(text, NULL, 3, TODAY, &out) == valid);
  FUZZ_REQUIRE(liaison_clock(text, NULL, NULL, 3, TODAY, &out) == valid);
  FUZZ_REQUIRE(review_clock(CARE_LEVEL_CPA, text, TODAY, 12, 12, TODAY, &out) == valid);
  (void)carer_is_young(text, -1, TODAY);
}

static void check_nhs_number(const char *text) {
  if (nhs_number_is_valid(text)) {
    FUZZ_REQUIRE(strlen(text) == 10);
    for (int i = 0; i < 10; i++) FUZZ_REQUIRE(isdigit((unsigned char)text[i]));
    char first_nine[10];
    memcpy(first_nine, text, 9);
    first_nine[9] = '\0';
    FUZZ_REQUIRE(nhs_number_check_digit(first_nine) == text[9] - '0');
  }
  if (strlen(text) == 9 && strspn(text, "0123456789") == 9) {
    int digit = nhs_number_check_digit(text);
    FUZZ_REQUIRE(digit >= -1 && digit <= 9);
  }
}

static void check_webhook_url(const char *text) {
  for (int loopback = 0; loopback <= 1; loopback++) {
    const char *reason = NULL;
    enum webhook_url_kind kind = webhook_url_check(text, loopback, &reason);
    if (kind == WEBHOOK_URL_BAD) {
      FUZZ_REQUIRE(reason && *reason);
      continue;
    }
    FUZZ_REQUIRE(!reason);
    FUZZ_REQUIRE(kind == WEBHOOK_URL_HTTPS || loopback);
    char origin[WEBHOOK_URL_MAX + 1];
    webhook_url_origin(text, origin, sizeof origin);
    FUZZ_REQUIRE(strncmp(origin, text, strlen(origin)) == 0);
    char small[16];
    webhook_url_origin(text, small, sizeof small);
  }
}

static void check_names(const char *text) {
  ROUND_TRIP(enum allocation_role, allocation_role_parse, allocation_role_name, text);
  ROUND_TRIP(enum care_level, care_level_parse, care_level_name, text);
  ROUND_TRIP(enum assessment_type, assessment_type_parse, assessment_type_name, text);
  ROUND_TRIP(enum cpa_group, cpa_group_parse, cpa_group_name, text);
  ROUND_TRIP(enum referral_status, referral_status_parse, referral_status_name, text);
  ROUND_TRIP(enum referral_urgency, referral_urgency_parse, referral_urgency_name, text);
  ROUND_TRIP(enum review_outcome, review_outcome_parse, review_outcome_name, text);
  ROUND_TRIP(enum share_kind, share_kind_parse, share_kind_name, text);
  ROUND_TRIP(enum share_item, share_item_parse, share_item_name, text);
  ROUND_TRIP(enum share_status, share_status_parse, share_status_name, text);
  ROUND_TRIP(enum lawful_basis, lawful_basis_parse, lawful_basis_name, text);
  ROUND_TRIP(enum transfer_type, transfer_type_parse, transfer_type_name, text);
  ROUND_TRIP(enum transfer_status, transfer_status_parse, transfer_status_name, text);
  enum partner_kind partner;
  (void)partner_kind_parse(text, &partner);
  enum referral_status to;
  (void)referral_decision_parse(text, &to);
  (void)risk_category_known(text);
  (void)consent_scope_known(text);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  char *text = fuzz_text_new(data, size);
  check_times(text);
  check_clocks(text);
  check_nhs_number(text);
  check_webhook_url(text);
  check_names(text);
  free(text);
  return 0;
}
