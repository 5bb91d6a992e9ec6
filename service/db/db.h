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
  int on_standby; /* open sessions on a server in recovery (a hot standby) */
};

/* A new session with the service's settings (UTC, bounded idle transactions, the statement
 * timeout, a connect timeout), named application_name in pg_stat_activity. Check PQstatus; the
 * caller PQfinish()es. */
PGconn *db_connect(const char *conninfo, const char *application_name, int statement_timeout_ms);

/* A pool's settings. The main pool (writes, clinical reads, audit events) is the default; a read
 * pool (reports and extracts, on a standby) sets read_only and primary_recheck_s. */
struct db_pool_settings {
  const char *conninfo;
  const char *application_name; /* in pg_stat_activity */
  int size, wait_ms, statement_timeout_ms;
  /* Every session gets default_transaction_read_only = on once it is open (not as a start-up
   * option, which would make a primary count as "read-only" for target_session_attrs). */
  bool read_only;
  /* > 0: a session found on a primary (in_hot_standby off: a multi-host URL fell back to the
   * primary, or its standby was promoted) is reopened when it is this old, so that the pool goes
   * back to a standby once one is there again. The old session is kept if reopening fails. */
  int primary_recheck_s;
};

enum cc_status db_pool_new(const struct db_pool_settings *settings, struct db_pool **out);
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
  bool session_checked; /* the session was found usable for this transaction */
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
/* Before the transaction's first statement (nothing sent or deferred yet): waits until the
 * session's server has replayed the primary's WAL up to lsn (pg_lsn text; NULL or "": no wait),
 * at once on a server not in recovery, so that the transaction's snapshot sees every transaction
 * that had committed on the primary when lsn was read there. Polls, up to wait_ms; then
 * CC_UNAVAILABLE (logged as "standby behind"), as for a lost connection. */
enum cc_status tx_wait_for_replay(struct tx *tx, const char *lsn, int wait_ms);
/* Commits, sending any deferred statements first in the same round trip. */
enum cc_status tx_commit(struct tx *tx);
/* Rolls back if still open and returns the connection to the pool. Safe to call twice. */
void tx_end(struct tx *tx);

/* Schema version recorded by `carecoord migrate` (0 when never migrated). */
enum cc_status db_schema_version(struct tx *tx, int *version);

#endif
