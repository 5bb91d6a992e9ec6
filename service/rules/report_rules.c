#include "rules/report_rules.h"

#include <stdio.h>
#include <string.h>

#include "rules/clocks.h"

bool report_month_parse(const char *text, struct report_month *out) {
  if (!text || strlen(text) != 7 || text[4] != '-') return false;
  for (int i = 0; i < 7; i++)
    if (i != 4 && (text[i] < '0' || text[i] > '9')) return false;
  int year = 0, month = 0;
  for (int i = 0; i < 4; i++) year = year * 10 + (text[i] - '0');
  month = (text[5] - '0') * 10 + (text[6] - '0');
  if (year < 2000 || month < 1 || month > 12) return false;
  *out = (struct report_month){year, month};
  return true;
}

void report_month_format(struct report_month m, char out[REPORT_MONTH_TEXT_LEN]) {
  unsigned year = (unsigned)m.year % 10000u, month = (unsigned)m.month % 100u;
  snprintf(out, REPORT_MONTH_TEXT_LEN, "%04u-%02u", year, month);
}

struct report_month report_month_of(const char *date) {
  struct civil_date d = {0, 1, 1};
  civil_date_parse(date, &d);
  return (struct report_month){d.year, d.month};
}

static int month_index(struct report_month m) { return m.year * 12 + (m.month - 1); }

struct report_month report_month_add(struct report_month m, int months) {
  int index = month_index(m) + months;
  return (struct report_month){index / 12, index % 12 + 1};
}

int report_month_count(struct report_month from, struct report_month to) {
  return month_index(to) - month_index(from) + 1;
}

const char *report_period_problem(struct report_month from, struct report_month to,
                                  const char *today) {
  if (month_index(to) > month_index(report_month_of(today)))
    return "The period cannot end after the current month.";
  if (month_index(from) > month_index(to)) return "from must not be after to.";
  if (report_month_count(from, to) > REPORT_MAX_MONTHS)
    return "A report covers at most 12 months.";
  return NULL;
}

void report_first_day(struct report_month m, char out[11]) {
  civil_date_format((struct civil_date){m.year, m.month, 1}, out);
}

void report_snapshot_day(struct report_month m, const char *today, char out[11]) {
  if (month_index(m) == month_index(report_month_of(today))) {
    snprintf(out, 11, "%s", today);
    return;
  }
  /* The last day is the day before the next month's first. */
  long first = days_from_civil(m.year, m.month, 1);
  struct report_month next = report_month_add(m, 1);
  long last = days_from_civil(next.year, next.month, 1) - 1;
  int day = (int)(last - first) + 1;
  civil_date_format((struct civil_date){m.year, m.month, day}, out);
}

bool report_count_suppressed(long count) { return count >= 1 && count <= 4; }

struct report_visibility report_ratio_visibility(long numerator, long denominator) {
  bool denominator_shown = !report_count_suppressed(denominator);
  bool numerator_shown = denominator_shown && !report_count_suppressed(numerator) &&
                         !report_count_suppressed(denominator - numerator);
  return (struct report_visibility){numerator_shown, denominator_shown, numerator_shown};
}
