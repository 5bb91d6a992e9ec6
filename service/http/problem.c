#include "http/problem.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

void field_errors_add(struct field_errors *errors, const char *pointer, const char *rule,
                      const char *fmt, ...) {
  if (errors->count >= FIELD_ERRORS_MAX) return;
  struct field_error *e = &errors->items[errors->count++];
  snprintf(e->field, sizeof e->field, "%s", pointer);
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(e->reason, sizeof e->reason, fmt, ap);
  va_end(ap);
  e->rule = rule;
}

json_t *problem_new(enum cc_status status, const char *detail, const char *instance,
                    const char *request_id, const struct field_errors *errors) {
  const struct cc_status_info *info = cc_status_info(status);
  char type[96];
  snprintf(type, sizeof type, "%s%s", PROBLEM_TYPE_PREFIX, info->slug);
  json_t *problem = json_pack("{s:s, s:s, s:i, s:s}", "type", type, "title", info->title,
                              "status", info->http_status, "detail",
                              detail && *detail ? detail : info->title);
  if (!problem) return NULL;
  if (instance) json_object_set_new(problem, "instance", json_string(instance));
  if (request_id) json_object_set_new(problem, "request_id", json_string(request_id));
  if (errors && errors->count) {
    json_t *list = json_array();
    for (size_t i = 0; i < errors->count; i++) {
      const struct field_error *e = &errors->items[i];
      json_t *item = json_pack("{s:s, s:s}", "field", e->field, "reason", e->reason);
      if (e->rule) json_object_set_new(item, "rule", json_string(e->rule));
      json_array_append_new(list, item);
    }
    json_object_set_new(problem, "errors", list);
  }
  return problem;
}
