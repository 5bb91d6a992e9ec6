#include "resources/person_page.h"

#include <stdio.h>
#include <stdlib.h>

#include "http/cursor.h"
#include "resources/record.h"

void person_page_reply(struct exchange *x, struct tx *tx, const struct access_target *target,
                       enum access_decision decision, const char *reason,
                       const struct db_stmt *stmt, const char **params, int limit,
                       page_item_fn decorate) {
  char limit_text[16];
  snprintf(limit_text, sizeof limit_text, "%d", limit + 1);
  params[stmt->nparams - 1] = limit_text;

  PGresult *res = NULL;
  json_t *items = json_array(), *ids = json_array(), *details = NULL;
  char *cursor = NULL;
  enum cc_status status = tx_exec(tx, stmt, params, &res);
  int rows = status == CC_OK ? PQntuples(res) : 0;
  int shown = rows > limit ? limit : rows;
  for (int r = 0; status == CC_OK && r < shown; r++) {
    json_t *item = json_loads(PQgetvalue(res, r, 2), 0, NULL);
    if (!item) status = CC_INTERNAL;
    if (status == CC_OK && decorate) status = decorate(x, res, r, item);
    json_array_append_new(items, item ? item : json_null());
    json_array_append_new(ids, json_string(PQgetvalue(res, r, 0)));
  }
  if (status == CC_OK && rows > limit) {
    const char *last = PQgetvalue(res, shown - 1, 3);
    cursor = cursor_encode(&last, 1);
    if (!cursor) status = CC_INTERNAL;
  }
  if (status == CC_OK) {
    details = decision == ACCESS_BREAK_GLASS
                  ? json_pack("{s:O, s:s}", "ids", ids, "reason", reason)
                  : json_pack("{s:O}", "ids", ids);
    struct audit_event event = {
        .action = decision == ACCESS_BREAK_GLASS ? "break_glass" : "read",
        .resource_type = target->resource_type, .resource_id = target->resource_id,
        .service_user_id = target->service_user_id, .outcome = "success", .details = details};
    status = audit_append(tx, &x->actor, &event);
  }
  if (status == CC_OK) status = tx_commit(tx);
  if (status != CC_OK) {
    reply_problem(x, status, NULL);
    goto done;
  }
  if (cursor) record_reply_next_link(x, cursor);
  reply_json(x, 200, json_pack("{s:O, s:s?}", "items", items, "next_cursor", cursor));
done:
  free(cursor);
  json_decref(details);
  json_decref(ids);
  json_decref(items);
  PQclear(res);
}

bool person_page_query(struct exchange *x, int *limit, const char **reason, char *after[1]) {
  return query_limit(x, limit) == CC_OK && access_break_glass_reason(x, reason) &&
         record_cursor(x, 1, after) == CC_OK;
}
