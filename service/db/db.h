/* PostgreSQL access: a fixed-size connection pool and one-transaction-per-request helpers.
 *
 * Every statement is a named prepared statement declared next to the code that reads its
 * columns (struct db_stmt in the resource's file) and prepared lazily on each connection (in the
 * same round trip as its first execution), so values only ever travel as parameters. Round
 * trips are what a request waits for and what costs PostgreSQL most per statement, so BEGIN and
 * deferred statements (tx_defer) ride along with the next statement or the COMMIT. A connection found broken (server restart, network) is
 * dropped and replaced on a later acquire, so the service recovers without a restart. */
#ifndef CARECOORD_DB_H
#define CARECOORD_DB_H

#include <libpq-fe.h>
#include <stdbool.h>

#include "status.h"

struct db_stmt {
  const char *name; /* unique across the service */
  const char *sql;
  int nparams;
};

struct db_pool;
struct db_conn;

struct db_pool_stats {
  int size, in_use, waiting;
};

/* A new session with the service's settings (UTC, bounded idle transactions, the statement
 * timeout, a connect timeout), named application_name in pg_stat_activity. Check PQstatus; the
 * caller PQfinish()es. */
PGconn *db_connect(const char *conninfo, const char *application_name, int statement_timeout_ms);

enum cc_status db_pool_new(const char *conninfo, int size, int wait_ms, int statement_timeout_ms,
                           struct db_pool **out);
void db_pool_free(struct db_pool *pool);
void db_pool_stats(struct db_pool *pool, struct db_pool_stats *out);

/* What went wrong in the last failed statement, for the caller to map (e.g. which unique
 * constraint fired). */
struct db_error {
  char sqlstate[6];
  char constraint[64];
};

/* Statements whose only answer is success, held back to travel with the next round trip. */
#define TX_MAX_DEFERRED 8
struct tx_deferred {
  const struct db_stmt *stmt;
  char **params; /* copies (owned); NULL entries are SQL NULL */
};

struct tx {
  struct db_pool *pool;
  struct db_conn *conn;
  bool open;  /* the caller may run statements and commit */
  bool begun; /* BEGIN has reached the server */
  struct tx_deferred deferred[TX_MAX_DEFERRED];
  size_t ndeferred;
  struct db_error error;
};

/* Acquires a connection (waiting at most the pool's wait time: CC_UNAVAILABLE after) for a
 * transaction. Nothing is sent until the first statement: BEGIN travels with it, in one round
 * trip (libpq pipeline mode). */
enum cc_status tx_begin(struct db_pool *pool, struct tx *tx);
/* Runs stmt with text parameters (NULL entries are SQL NULL). *out (may be NULL) receives the
 * result, which the caller PQclear()s. Errors map to: unique/foreign-key/serialization →
 * CC_CONFLICT, check/data errors → CC_VALIDATION, timeouts and lost connections →
 * CC_UNAVAILABLE, anything else → CC_INTERNAL; tx->error says which. */
enum cc_status tx_exec(struct tx *tx, const struct db_stmt *stmt, const char *const *params,
                       PGresult **out);
/* Runs several statements in one round trip, out[i] receiving the result of stmts[i] (each
 * PQclear()ed by the caller; all NULL on failure). Every statement runs, whatever the earlier
 * ones return: batch only reads (and row locks) that the caller may simply ignore, e.g. a
 * record fetched beside the access check that decides whether it may be shown. */
#define TX_MAX_BATCH 4
enum cc_status tx_exec_batch(struct tx *tx, size_t count, const struct db_stmt *const *stmts,
                             const char *const *const *params, PGresult **out);
/* Runs stmt later in the transaction: it is sent (params copied now) in the same round trip as
 * the next tx_exec or the commit, which then also report its failure. For statements whose only
 * answer is success, such as an audit event: a read and its event cost no extra round trip. */
enum cc_status tx_defer(struct tx *tx, const struct db_stmt *stmt, const char *const *params);
/* Has the transaction's statements planned for their own parameter values each time (deferred,
 * no round trip). For statements whose filters are optional ($n IS NULL OR ...) or whose best
 * plan depends on the values (one team or all, one month or twelve): the generic plan that
 * PostgreSQL settles on after five executions of a prepared statement cannot know which index
 * serves a call (measured: a person's access log scanned the whole audit trail; a team's
 * 12-month report took 240 ms instead of 8). The cost is planning each time. */
enum cc_status tx_plan_for_values(struct tx *tx);
/* Commits, sending any deferred statements first in the same round trip. */
enum cc_status tx_commit(struct tx *tx);
/* Rolls back if still open and returns the connection to the pool. Safe to call twice. */
void tx_end(struct tx *tx);

/* Schema version recorded by `carecoord migrate` (0 when never migrated). */
enum cc_status db_schema_version(struct tx *tx, int *version);

#endif
