/* Prometheus metrics: request counts by route template and status, a latency histogram per
 * route, in-flight requests, open connections and requests arriving on them, the database
 * pool's state and the verified-token cache. Labels come only from the route
 * table and fixed lists, so clients cannot create new series. */
#ifndef CARECOORD_METRICS_H
#define CARECOORD_METRICS_H

#include <stddef.h>

#include "auth/token_cache.h"
#include "db/db.h"

struct metrics;

struct metrics *metrics_new(size_t route_count);
void metrics_free(struct metrics *m);
/* route_index is the route's position in the table, or -1 when no route matched. */
void metrics_observe(struct metrics *m, long route_index, const char *method, int status,
                     long duration_us);
void metrics_in_flight(struct metrics *m, int delta);
/* Open connections and requests arriving on them (deltas), and connections timed out (added). */
void metrics_connections(struct metrics *m, int open_delta, int arriving_delta,
                         unsigned timed_out);
/* Prometheus text exposition; caller frees. read_pool: the reports' and extracts' own pool, or
 * NULL when they share the main one. */
char *metrics_render_new(struct metrics *m, struct db_pool *pool, struct db_pool *read_pool,
                         const struct token_cache_stats *tokens);

#endif
