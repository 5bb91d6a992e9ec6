#include "rules/clocks.h"

#include <stdio.h>
#include <string.h>

long days_from_civil(int year, int month, int day) {
  /* Howard Hinnant's algorithm: exact for every Gregorian date. */
  year -= month <= 2;
  long era = (year >= 0 ? year : year - 399) / 400;
  long yoe = year - era * 400;
  long doy = (153 * (month + (month > 2 ? -3 : 9)) + 2) / 5 + day - 1;
  long doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + doe - 719468;
}

static int days_in_month(int year, int month) {
  static const int DAYS[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  bool leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
  return DAYS[month - 1] + (month == 2 && leap);
}

/* 01:00 UTC on the last Sunday of the month, as seconds since the epoch. */
static time_t last_sunday_0100_utc(int year, int month) {
  long last = days_from_civil(year, month, days_in_month(year, month));
  long weekday = ((last % 7) + 11) % 7; /* 0 = Sunday; 1970-01-01 was a Thursday */
  return (time_t)((last - weekday) * 86400L + 3600L);
}

bool uk_is_summer_time(time_t t) {
  struct tm utc;
  gmtime_r(&t, &utc);
  int year = utc.tm_year + 1900;
  return t >= last_sunday_0100_utc(year, 3) && t < last_sunday_0100_utc(year, 10);
}

void uk_local_date(time_t t, char out[11]) {
  time_t local = t + (uk_is_summer_time(t) ? 3600 : 0);
  struct tm tm;
  gmtime_r(&local, &tm);
  char buf[40];
  snprintf(buf, sizeof buf, "%04d-%02d-%02d", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday);
  memcpy(out, buf, 10);
  out[10] = '\0';
}
