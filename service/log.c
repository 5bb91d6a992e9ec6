#include "log.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

static enum log_level min_level = LOG_INFO;
static const char *const LEVEL_NAMES[] = {"debug", "info", "warn", "error"};

void log_set_level(enum log_level level) { min_level = level; }

bool log_enabled(enum log_level level) { return level >= min_level; }

int log_level_parse(const char *text, enum log_level *out) {
  for (int i = 0; i < 4; i++) {
    if (strcmp(text, LEVEL_NAMES[i]) == 0) {
      *out = (enum log_level)i;
      return 0;
    }
  }
  return -1;
}

void log_event(enum log_level level, const char *msg, json_t *fields) {
  if (level < min_level) {
    json_decref(fields);
    return;
  }
  struct timespec now;
  clock_gettime(CLOCK_REALTIME, &now);
  struct tm tm;
  gmtime_r(&now.tv_sec, &tm);
  char ts[40];
  size_t n = strftime(ts, sizeof ts, "%Y-%m-%dT%H:%M:%S", &tm);
  snprintf(ts + n, sizeof ts - n, ".%03ldZ", now.tv_nsec / 1000000);

  json_t *line = json_pack("{s:s, s:s, s:s}", "ts", ts, "level", LEVEL_NAMES[level], "msg", msg);
  if (line && fields) json_object_update(line, fields);
  json_decref(fields);
  /* Durations to the microsecond, not 2.2360000000000002. */
  char *text =
      line ? json_dumps(line, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(6)) : NULL;
  if (text) {
    /* One fputs per line keeps concurrent writers' lines whole. */
    flockfile(stderr);
    fputs(text, stderr);
    fputc('\n', stderr);
    funlockfile(stderr);
    free(text);
  }
  json_decref(line);
}

void log_message(enum log_level level, const char *fmt, ...) {
  if (level < min_level) return;
  char buf[1024];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(buf, sizeof buf, fmt, ap);
  va_end(ap);
  log_event(level, buf, NULL);
}
