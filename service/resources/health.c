/* Liveness, readiness and metrics: public, unaudited, never touching a person's record. */
#include <stdio.h>
#include <stdlib.h>

#include "auth/jwt.h"
#include "db/migrate.h"
#include "http/metrics.h"
#include "resources/resources.h"
#include "http/exchange.h"

void health_live(struct exchange *x) { reply_json_text(x, 200, "{\"status\":\"ok\"}"); }

void health_ready(struct exchange *x) {
  struct tx tx;
  int version = -1;
  enum cc_status status = tx_begin(x->app->pool, &tx);
  if (status == CC_OK) status = db_schema_version(&tx, &version);
  tx_end(&tx);
  if (status != CC_OK) {
    reply_problem(x, CC_UNAVAILABLE, "The database is not reachable.");
    return;
  }
  int expected = migrations_latest_version();
  if (version != expected) {
    reply_problem(x, CC_UNAVAILABLE, "The database schema is at version %d; this build needs %d.",
                  version, expected);
    return;
  }
  char body[64];
  snprintf(body, sizeof body, "{\"status\":\"ready\",\"schema_version\":%d}", version);
  reply_json_text(x, 200, body);
}

void metrics_scrape(struct exchange *x) {
  struct token_cache_stats tokens;
  verifier_cache_stats(x->app->verifier, &tokens);
  char *text = metrics_render_new(
      x->app->metrics, x->app->pool, x->app->read_pool != x->app->pool ? x->app->read_pool : NULL,
      &tokens);
  if (!text) {
    reply_problem(x, CC_INTERNAL, NULL);
    return;
  }
  reply_text(x, 200, "text/plain; version=0.0.4; charset=utf-8", text);
  free(text);
}
