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

static bool digits(const char *p, int n) {
  for (int i = 0; i < n; i++)
    if (p[i] < '0' || p[i] > '9') return false;
  return true;
}

static int number(const char *p, int n) {
  int v = 0;
  for (int i = 0; i < n; i++) v = v * 10 + (p[i] - '0');
  return v;
}

bool timestamp_parse(const char *t, time_t *out) {
  size_t len = strlen(t);
  if (len < 20 || !digits(t, 4) || t[4] != '-' || !digits(t + 5, 2) || t[7] != '-' ||
      !digits(t + 8, 2) || (t[10] != 'T' && t[10] != 't') || !digits(t + 11, 2) ||
      t[13] != ':' || !digits(t + 14, 2) || t[16] != ':' || !digits(t + 17, 2))
    return false;
  int year = number(t, 4), month = number(t + 5, 2), day = number(t + 8, 2);
  int hour = number(t + 11, 2), minute = number(t + 14, 2), second = number(t + 17, 2);
  if (year < 1 || month < 1 || month > 12 || day < 1 || day > days_in_month(year, month) ||
      hour > 23 || minute > 59 || second > 60)
    return false;
  const char *p = t + 19;
  if (*p == '.') {
    size_t frac = strspn(p + 1, "0123456789");
    if (frac < 1 || frac > 9) return false;
    p += 1 + frac;
  }
  long offset = 0;
  if ((*p == 'Z' || *p == 'z') && p[1] == '\0') {
    offset = 0;
  } else if ((*p == '+' || *p == '-') && digits(p + 1, 2) && p[3] == ':' && digits(p + 4, 2) &&
             p[6] == '\0' && number(p + 1, 2) <= 23 && number(p + 4, 2) <= 59) {
    offset = (number(p + 1, 2) * 60L + number(p + 4, 2)) * 60L * (*p == '-' ? -1 : 1);
  } else {
    return false;
  }
  /* A leap second counts as the second after it: time_t has none. */
  *out = (time_t)(days_from_civil(year, month, day) * 86400L + hour * 3600L + minute * 60L +
                  second - offset);
  return true;
}

void timestamp_format(time_t t, char out[TIMESTAMP_TEXT_LEN]) {
  struct tm tm;
  gmtime_r(&t, &tm);
  char buf[64];
  snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02dZ", tm.tm_year + 1900, tm.tm_mon + 1,
           tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec);
  memcpy(out, buf, TIMESTAMP_TEXT_LEN - 1);
  out[TIMESTAMP_TEXT_LEN - 1] = '\0';
}

bool civil_date_parse(const char *text, struct civil_date *out) {
  if (!text || strlen(text) != 10 || !digits(text, 4) || text[4] != '-' ||
      !digits(text + 5, 2) || text[7] != '-' || !digits(text + 8, 2))
    return false;
  struct civil_date d = {number(text, 4), number(text + 5, 2), number(text + 8, 2)};
  if (d.year < 1 || d.month < 1 || d.month > 12 || d.day < 1 ||
      d.day > days_in_month(d.year, d.month))
    return false;
  *out = d;
  return true;
}

void civil_date_format(struct civil_date d, char out[CIVIL_DATE_TEXT_LEN]) {
  char buf[48]; /* room for any int, so the compiler sees no truncation */
  snprintf(buf, sizeof buf, "%04d-%02d-%02d", d.year, d.month, d.day);
  memcpy(out, buf, CIVIL_DATE_TEXT_LEN - 1);
  out[CIVIL_DATE_TEXT_LEN - 1] = '\0';
}

struct civil_date civil_date_add_months(struct civil_date d, int months) {
  /* Count months from year 0 so that the year wraps with the month (November + 3 = February). */
  long long index = (long long)d.year * 12 + (d.month - 1) + months;
  if (index >= 10000LL * 12) return (struct civil_date){9999, 12, 31};
  if (index < 12) return (struct civil_date){1, 1, 1};
  struct civil_date r = {(int)(index / 12), (int)(index % 12) + 1, d.day};
  int last = days_in_month(r.year, r.month);
  if (r.day > last) r.day = last;
  return r;
}

int civil_date_compare(struct civil_date a, struct civil_date b) {
  if (a.year != b.year) return a.year < b.year ? -1 : 1;
  if (a.month != b.month) return a.month < b.month ? -1 : 1;
  if (a.day != b.day) return a.day < b.day ? -1 : 1;
  return 0;
}
