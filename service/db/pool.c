#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "db/db.h"
#include "log.h"

struct db_conn {
  PGconn *pg;
  const struct db_stmt **prepared; /* statements prepared on this session */
  size_t nprepared, capacity;
  bool broken;
  bool in_use;
};

struct db_pool {
  char *conninfo;
  int size, wait_ms;
  pthread_mutex_t mutex;
  pthread_cond_t released;
  int in_use, waiting;
  struct db_conn *conns;
};

enum cc_status db_pool_new(const char *conninfo, int size, int wait_ms, struct db_pool **out) {
  struct db_pool *pool = calloc(1, sizeof *pool);
  if (!pool) return CC_INTERNAL;
  pool->conninfo = strdup(conninfo);
  pool->conns = calloc((size_t)size, sizeof *pool->conns);
  if (!pool->conninfo || !pool->conns) {
    free(pool->conninfo);
    free(pool->conns);
    free(pool);
    return CC_INTERNAL;
  }
  pool->size = size;
  pool->wait_ms = wait_ms;
  pthread_mutex_init(&pool->mutex, NULL);
  pthread_condattr_t attr;
  pthread_condattr_init(&attr);
  pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
  pthread_cond_init(&pool->released, &attr);
  pthread_condattr_destroy(&attr);
  *out = pool;
  return CC_OK;
}

static void conn_close(struct db_conn *c) {
  if (c->pg) PQfinish(c->pg);
  c->pg = NULL;
  c->nprepared = 0;
  c->broken = false;
}

void db_pool_free(struct db_pool *pool) {
  if (!pool) return;
  for (int i = 0; i < pool->size; i++) {
    conn_close(&pool->conns[i]);
    free(pool->conns[i].prepared);
  }
  pthread_cond_destroy(&pool->released);
  pthread_mutex_destroy(&pool->mutex);
  free(pool->conns);
  free(pool->conninfo);
  free(pool);
}

void db_pool_stats(struct db_pool *pool, struct db_pool_stats *out) {
  pthread_mutex_lock(&pool->mutex);
  out->size = pool->size;
  out->in_use = pool->in_use;
  out->waiting = pool->waiting;
  pthread_mutex_unlock(&pool->mutex);
}

PGconn *db_connect(const char *conninfo, const char *application_name) {
  /* Sessions run in UTC so timestamps serialise unambiguously; an abandoned transaction cannot
   * hold locks for long. Later keywords override the same ones in the configured URL. */
  static const char *const KEYS[] = {"dbname", "connect_timeout", "application_name", "options",
                                     NULL};
  const char *values[] = {conninfo, "3", application_name,
                          "-c TimeZone=UTC -c idle_in_transaction_session_timeout=60000", NULL};
  return PQconnectdbParams(KEYS, values, 1);
}

static bool conn_open(struct db_pool *pool, struct db_conn *c) {
  conn_close(c);
  c->pg = db_connect(pool->conninfo, "carecoord");
  if (PQstatus(c->pg) != CONNECTION_OK) {
    log_message(LOG_WARN, "database connection failed");
    conn_close(c);
    return false;
  }
  return true;
}

static struct db_conn *pool_acquire(struct db_pool *pool) {
  struct timespec deadline;
  clock_gettime(CLOCK_MONOTONIC, &deadline);
  deadline.tv_sec += pool->wait_ms / 1000;
  deadline.tv_nsec += (long)(pool->wait_ms % 1000) * 1000000L;
  if (deadline.tv_nsec >= 1000000000L) {
    deadline.tv_sec++;
    deadline.tv_nsec -= 1000000000L;
  }
  pthread_mutex_lock(&pool->mutex);
  while (pool->in_use == pool->size) {
    pool->waiting++;
    int rc = pthread_cond_timedwait(&pool->released, &pool->mutex, &deadline);
    pool->waiting--;
    if (rc == ETIMEDOUT && pool->in_use == pool->size) {
      pthread_mutex_unlock(&pool->mutex);
      return NULL;
    }
  }
  struct db_conn *found = NULL;
  for (int i = 0; i < pool->size && !found; i++) {
    if (!pool->conns[i].in_use) found = &pool->conns[i];
  }
  found->in_use = true;
  pool->in_use++;
  pthread_mutex_unlock(&pool->mutex);
  return found;
}

static void pool_release(struct db_pool *pool, struct db_conn *c) {
  if (c->pg && PQtransactionStatus(c->pg) != PQTRANS_IDLE) c->broken = true;
  if (c->broken) conn_close(c);
  pthread_mutex_lock(&pool->mutex);
  c->in_use = false;
  pool->in_use--;
  pthread_cond_signal(&pool->released);
  pthread_mutex_unlock(&pool->mutex);
}

static enum cc_status map_sqlstate(const char *state) {
  if (!state) return CC_UNAVAILABLE;
  if (!strcmp(state, "23505") || !strcmp(state, "23503") || !strcmp(state, "40001") ||
      !strcmp(state, "40P01") || !strcmp(state, "55P03"))
    return CC_CONFLICT;
  if (!strcmp(state, "23514") || !strcmp(state, "23502") || !strncmp(state, "22", 2))
    return CC_VALIDATION;
  if (!strcmp(state, "57014") || !strncmp(state, "08", 2) || !strncmp(state, "57P", 3) ||
      !strncmp(state, "53", 2))
    return CC_UNAVAILABLE;
  return CC_INTERNAL;
}

/* Records the failure in tx->error and returns its status. Logs the primary message and
 * SQLSTATE only: the DETAIL line can carry row values (personal data). */
static enum cc_status result_failure(struct tx *tx, PGresult *res, const char *what) {
  const char *state = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
  const char *constraint = res ? PQresultErrorField(res, PG_DIAG_CONSTRAINT_NAME) : NULL;
  snprintf(tx->error.sqlstate, sizeof tx->error.sqlstate, "%s", state ? state : "");
  snprintf(tx->error.constraint, sizeof tx->error.constraint, "%s", constraint ? constraint : "");
  if (PQstatus(tx->conn->pg) != CONNECTION_OK) tx->conn->broken = true;
  enum cc_status status = tx->conn->broken ? CC_UNAVAILABLE : map_sqlstate(state);
  if (status == CC_INTERNAL || status == CC_UNAVAILABLE) {
    const char *primary = res ? PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY) : NULL;
    json_t *fields = json_pack("{s:s, s:s, s:s}", "statement", what, "sqlstate",
                               state ? state : "", "error", primary ? primary : "connection lost");
    log_event(status == CC_INTERNAL ? LOG_ERROR : LOG_WARN, "database error", fields);
  }
  return status;
}

static bool begin_on(struct db_conn *c, const char *sql) {
  PGresult *res = PQexec(c->pg, sql);
  bool ok = PQresultStatus(res) == PGRES_COMMAND_OK;
  PQclear(res);
  if (!ok && PQstatus(c->pg) != CONNECTION_OK) c->broken = true;
  return ok;
}

enum cc_status tx_begin(struct db_pool *pool, int statement_timeout_ms, struct tx *tx) {
  memset(tx, 0, sizeof *tx);
  tx->pool = pool;
  tx->conn = pool_acquire(pool);
  if (!tx->conn) {
    log_message(LOG_WARN, "database pool exhausted");
    return CC_UNAVAILABLE;
  }
  /* The timeout is a validated integer from configuration, not request data. */
  char sql[96];
  snprintf(sql, sizeof sql, "BEGIN; SET LOCAL statement_timeout = %d", statement_timeout_ms);
  /* A pooled session may have died with a server restart; one fresh connection is tried
   * before giving up, because nothing has been sent in this transaction yet. */
  for (int attempt = 0; attempt < 2; attempt++) {
    if (!tx->conn->pg || tx->conn->broken) {
      if (!conn_open(pool, tx->conn)) break;
    }
    if (begin_on(tx->conn, sql)) {
      tx->open = true;
      return CC_OK;
    }
    if (!tx->conn->broken) break;
  }
  pool_release(pool, tx->conn);
  tx->conn = NULL;
  return CC_UNAVAILABLE;
}

static bool is_prepared(const struct db_conn *c, const struct db_stmt *stmt) {
  for (size_t i = 0; i < c->nprepared; i++)
    if (c->prepared[i] == stmt) return true;
  return false;
}

static enum cc_status ensure_prepared(struct tx *tx, const struct db_stmt *stmt) {
  struct db_conn *c = tx->conn;
  if (is_prepared(c, stmt)) return CC_OK;
  PGresult *res = PQprepare(c->pg, stmt->name, stmt->sql, stmt->nparams, NULL);
  if (PQresultStatus(res) != PGRES_COMMAND_OK) {
    enum cc_status status = result_failure(tx, res, stmt->name);
    PQclear(res);
    return status;
  }
  PQclear(res);
  if (c->nprepared == c->capacity) {
    size_t capacity = c->capacity ? c->capacity * 2 : 32;
    const struct db_stmt **grown = realloc(c->prepared, capacity * sizeof *grown);
    if (!grown) return CC_INTERNAL;
    c->prepared = grown;
    c->capacity = capacity;
  }
  c->prepared[c->nprepared++] = stmt;
  return CC_OK;
}

enum cc_status tx_exec(struct tx *tx, const struct db_stmt *stmt, const char *const *params,
                       PGresult **out) {
  if (out) *out = NULL;
  if (!tx->open) return CC_INTERNAL;
  enum cc_status status = ensure_prepared(tx, stmt);
  if (status != CC_OK) return status;
  PGresult *res = PQexecPrepared(tx->conn->pg, stmt->name, stmt->nparams, params, NULL, NULL, 0);
  ExecStatusType rs = PQresultStatus(res);
  if (rs != PGRES_TUPLES_OK && rs != PGRES_COMMAND_OK) {
    status = result_failure(tx, res, stmt->name);
    PQclear(res);
    return status;
  }
  if (out)
    *out = res;
  else
    PQclear(res);
  return CC_OK;
}

enum cc_status tx_commit(struct tx *tx) {
  if (!tx->open) return CC_INTERNAL;
  PGresult *res = PQexec(tx->conn->pg, "COMMIT");
  tx->open = false;
  enum cc_status status = CC_OK;
  if (PQresultStatus(res) != PGRES_COMMAND_OK) status = result_failure(tx, res, "COMMIT");
  PQclear(res);
  return status;
}

void tx_end(struct tx *tx) {
  if (!tx->conn) return;
  if (tx->open && !tx->conn->broken) {
    PGresult *res = PQexec(tx->conn->pg, "ROLLBACK");
    if (PQresultStatus(res) != PGRES_COMMAND_OK) tx->conn->broken = true;
    PQclear(res);
  }
  tx->open = false;
  pool_release(tx->pool, tx->conn);
  tx->conn = NULL;
}

static const struct db_stmt SCHEMA_VERSION = {
    "db_schema_version",
    "SELECT coalesce(max(version), 0) FROM schema_migrations", 0};

enum cc_status db_schema_version(struct tx *tx, int *version) {
  PGresult *res = NULL;
  enum cc_status status = tx_exec(tx, &SCHEMA_VERSION, NULL, &res);
  if (status == CC_OK) *version = atoi(PQgetvalue(res, 0, 0));
  else if (!strcmp(tx->error.sqlstate, "42P01")) *version = 0, status = CC_OK;
  PQclear(res);
  return status;
}
