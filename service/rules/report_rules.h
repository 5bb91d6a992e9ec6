/* Report periods and small-number suppression (README "Reports"). Pure: no database, no clock;
 * `today` is an argument, a Europe/London date (uk_local_date in rules/clocks.h).
 *
 * Reports count by calendar month. A measure taken "at the end of a month" is taken on the
 * month's last day, or today for the current month (report_snapshot_day). A period is at most
 * REPORT_MAX_MONTHS months, ends no later than the current month and starts no later than it
 * ends.
 *
 * Small numbers: in the `reporting` role's output a count of 1 to 4 people is suppressed (shown
 * as null), as in NHS statistics, and so is every figure it could be worked out from: a rate or
 * a numerator whose denominator is suppressed, and a numerator whose complement (denominator -
 * numerator, the people who did not meet the measure) is 1 to 4. Zero is not suppressed. */
#ifndef CARECOORD_REPORT_RULES_H
#define CARECOORD_REPORT_RULES_H

#include <stdbool.h>

#define REPORT_MAX_MONTHS 12
#define REPORT_MONTH_TEXT_LEN 8 /* YYYY-MM and the terminator */

struct report_month {
  int year, month;
};

/* Parses exactly YYYY-MM (years 2000..9999, months 01..12); false otherwise, including NULL. */
bool report_month_parse(const char *text, struct report_month *out);
void report_month_format(struct report_month m, char out[REPORT_MONTH_TEXT_LEN]);
/* The month of a date YYYY-MM-DD (which must be valid). */
struct report_month report_month_of(const char *date);
/* m plus `months` (may be negative). */
struct report_month report_month_add(struct report_month m, int months);
/* The number of months from `from` to `to`, both included (0 or less when to is before from). */
int report_month_count(struct report_month from, struct report_month to);

/* Why the period from..to cannot be reported as of today (a static sentence), or NULL when it
 * can. */
const char *report_period_problem(struct report_month from, struct report_month to,
                                  const char *today);

/* The day a month's end-of-month measures are taken: its last day, or today when m is the
 * current month. YYYY-MM-DD. */
void report_snapshot_day(struct report_month m, const char *today, char out[11]);
/* The first day of m, YYYY-MM-DD. */
void report_first_day(struct report_month m, char out[11]);

/* Whether a count of people must be suppressed: 1 to 4. */
bool report_count_suppressed(long count);

/* What of a numerator / denominator pair (the people meeting a measure out of those it applies
 * to) the reporting role may see. */
struct report_visibility {
  bool numerator, denominator, rate;
};
struct report_visibility report_ratio_visibility(long numerator, long denominator);

#endif
