/* PostgreSQL access: a fixed-size connection pool and one-transaction-per-request helpers.
 *
 * Every statement is a named prepared statement declared next to the code that reads its
 * columns (struct db_stmt in the resource's file) and prepared lazily on each connection, so
 * values only ever travel as parameters. A connection found broken (server restart, network) is
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

/* A new session with the service's settings (UTC, bounded idle transactions, a connect timeout),
 * named application_name in pg_stat_activity. Check PQstatus; the caller PQfinish()es. */
PGconn *db_connect(const char *conninfo, const char *application_name);

enum cc_status db_pool_new(const char *conninfo, int size, int wait_ms, struct db_pool **out);
void db_pool_free(struct db_pool *pool);
void db_pool_stats(struct db_pool *pool, struct db_pool_stats *out);

/* What went wrong in the last failed statement, for the caller to map (e.g. which unique
 * constraint fired). */
struct db_error {
  char sqlstate[6];
  char constraint[64];
};

struct tx {
  struct db_pool *pool;
  struct db_conn *conn;
  bool open;
  struct db_error error;
};

/* Acquires a connection (waiting at most the pool's wait time: CC_UNAVAILABLE after) and begins
 * a transaction with the given statement timeout. */
enum cc_status tx_begin(struct db_pool *pool, int statement_timeout_ms, struct tx *tx);
/* Runs stmt with text parameters (NULL entries are SQL NULL). *out (may be NULL) receives the
 * result, which the caller PQclear()s. Errors map to: unique/foreign-key/serialization →
 * CC_CONFLICT, check/data errors → CC_VALIDATION, timeouts and lost connections →
 * CC_UNAVAILABLE, anything else → CC_INTERNAL; tx->error says which. */
enum cc_status tx_exec(struct tx *tx, const struct db_stmt *stmt, const char *const *params,
                       PGresult **out);
enum cc_status tx_commit(struct tx *tx);
/* Rolls back if still open and returns the connection to the pool. Safe to call twice. */
void tx_end(struct tx *tx);

/* Schema version recorded by `carecoord migrate` (0 when never migrated). */
enum cc_status db_schema_version(struct tx *tx, int *version);

#endif
