/* Calendar arithmetic for the care-cycle clocks. Times are stored in UTC; dates that people see
 * and policy counts in are those of Europe/London (GMT, or BST from 01:00 UTC on the last Sunday
 * of March to 01:00 UTC on the last Sunday of October). Pure: `now` is always an argument. */
#ifndef CARECOORD_CLOCKS_H
#define CARECOORD_CLOCKS_H

#include <stdbool.h>
#include <time.h>

/* Days since 1970-01-01 of a proleptic Gregorian date. */
long days_from_civil(int year, int month, int day);
/* True when British Summer Time is in force at the UTC instant t. */
bool uk_is_summer_time(time_t t);
/* The Europe/London calendar date at UTC instant t, as YYYY-MM-DD. */
void uk_local_date(time_t t, char out[11]);

/* An RFC 3339 date-time (YYYY-MM-DDTHH:MM:SS[.fraction](Z|+HH:MM|-HH:MM)), every field in range,
 * as UTC seconds since the epoch (the fraction is dropped). False when text is not one. */
bool timestamp_parse(const char *text, time_t *out);
/* t as an RFC 3339 UTC date-time, YYYY-MM-DDTHH:MM:SSZ. */
#define TIMESTAMP_TEXT_LEN 21
void timestamp_format(time_t t, char out[TIMESTAMP_TEXT_LEN]);

/* A calendar date (YYYY-MM-DD as people in Europe/London see it), years 0001..9999. */
struct civil_date {
  int year, month, day;
};

#define CIVIL_DATE_TEXT_LEN 11

/* Parses exactly YYYY-MM-DD naming a real date (2026-02-30 and 2026-2-3 are refused); false
 * otherwise, including for NULL (out is then unchanged). */
bool civil_date_parse(const char *text, struct civil_date *out);
/* d, a valid date, as YYYY-MM-DD. */
void civil_date_format(struct civil_date d, char out[CIVIL_DATE_TEXT_LEN]);
/* The valid date d plus `months` calendar months (0..1200), clamped to the end of the month it
 * lands in: 31 January + 1 month = 28 February (29 in a leap year); 29 February 2028 + 12
 * months = 28 February 2029. A result beyond 9999-12-31 is clamped to it. */
struct civil_date civil_date_add_months(struct civil_date d, int months);
/* <0, 0 or >0 as a is before, the same day as or after b. */
int civil_date_compare(struct civil_date a, struct civil_date b);

#endif
