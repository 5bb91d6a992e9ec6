/* JSON-lines logging on stderr. Never pass names, NHS numbers, clinical text or tokens. */
#ifndef CARECOORD_LOG_H
#define CARECOORD_LOG_H

#include <jansson.h>
#include <stdbool.h>

enum log_level { LOG_DEBUG, LOG_INFO, LOG_WARN, LOG_ERROR };

void log_set_level(enum log_level level);
/* Whether events at level are written: build costly fields only when they are. */
bool log_enabled(enum log_level level);
int log_level_parse(const char *text, enum log_level *out);
/* Writes {"ts","level","msg", ...fields} as one line. Steals the reference to fields (may be NULL). */
void log_event(enum log_level level, const char *msg, json_t *fields);
void log_message(enum log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif
