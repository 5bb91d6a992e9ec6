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

#endif
