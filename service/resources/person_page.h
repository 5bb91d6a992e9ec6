/* A page of one person's records (their episodes, an episode's allocations, ...): the list
 * counterpart of a read that access_person() allowed. Unlike record_list, which lists many
 * people, the page's one read event names the person (service_user_id), so it shows in their
 * access log; a break-glass read carries its reason (R-AUD-1). */
#ifndef CARECOORD_PERSON_PAGE_H
#define CARECOORD_PERSON_PAGE_H

#include "resources/access.h"

/* The query of a page of a person's records: limit, cursor (one part: the last row's id) and the
 * break-glass reason. Replies 400 and returns false when one is malformed; otherwise the caller
 * frees after with cursor_parts_free(after, 1). */
bool person_page_query(struct exchange *x, int *limit, const char **reason, char *after[1]);

/* Adjusts one item of the page (a new reference the page owns) from its result row, e.g. to add
 * values computed by a rule. Returns CC_OK or a failure to reply with. */
typedef enum cc_status (*page_item_fn)(struct exchange *x, PGresult *res, int row, json_t *item);

/* Runs stmt in tx, whose last parameter is the row limit (limit + 1 rows are fetched to learn
 * whether another page exists) and whose columns are (id, version, representation JSON text,
 * cursor id, ...). Appends the read event for target (resource_id NULL: a collection), commits,
 * and replies {items, next_cursor} with a Link header; or replies with the failure. decorate may
 * be NULL. */
void person_page_reply(struct exchange *x, struct tx *tx, const struct access_target *target,
                       enum access_decision decision, const char *reason,
                       const struct db_stmt *stmt, const char **params, int limit,
                       page_item_fn decorate);

#endif
