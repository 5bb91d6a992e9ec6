#include <errno.h>
#include <poll.h>
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
  bool on_standby;         /* counted in the pool's on_standby */
  struct timespec opened;  /* CLOCK_MONOTONIC */
};

struct db_pool {
  char *conninfo;
  char *application_name;
  int size, wait_ms, statement_timeout_ms;
  bool read_only;
  int primary_recheck_s;
  pthread_mutex_t mutex;
  pthread_cond_t released;
  int in_use, waiting, on_standby;
  struct db_conn *conns;
};

enum cc_status db_pool_new(const struct db_pool_settings *settings, struct db_pool **out) {
  struct db_pool *pool = calloc(1, sizeof *pool);
  if (!pool) return CC_INTERNAL;
  pool->conninfo = strdup(settings->conninfo);
  pool->application_name = strdup(settings->application_name);
  pool->conns = calloc((size_t)settings->size, sizeof *pool->conns);
  if (!pool->conninfo || !pool->application_name || !pool->conns) {
    free(pool->conninfo);
    free(pool->application_name);
    free(pool->conns);
    free(pool);
    return CC_INTERNAL;
  }
  pool->size = settings->size;
  pool->wait_ms = settings->wait_ms;
  pool->statement_timeout_ms = settings->statement_timeout_ms;
  pool->read_only = settings->read_only;
  pool->primary_recheck_s = settings->primary_recheck_s;
  pthread_mutex_init(&pool->mutex, NULL);
  pthread_condattr_t attr;
  pthread_condattr_init(&attr);
  pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
  pthread_cond_init(&pool->released, &attr);
  pthread_condattr_destroy(&attr);
  *out = pool;
  return CC_OK;
}

/* Counts the session in the pool's on_standby (for the metrics) or not. */
static void count_standby(struct db_pool *pool, struct db_conn *c, bool on_standby) {
  if (c->on_standby == on_standby) return;
  pthread_mutex_lock(&pool->mutex);
  pool->on_standby += on_standby ? 1 : -1;
  pthread_mutex_unlock(&pool->mutex);
  c->on_standby = on_standby;
}

/* Whether the server of a session is a hot standby, as it last reported (in_hot_standby is
 * reported by PostgreSQL 14 and later, also when a promotion changes it). */
static bool session_on_standby(const PGconn *pg) {
  const char *value = PQparameterStatus(pg, "in_hot_standby");
  return value && strcmp(value, "on") == 0;
}

static void conn_close(struct db_pool *pool, struct db_conn *c) {
  if (c->pg) PQfinish(c->pg);
  c->pg = NULL;
  c->nprepared = 0;
  c->broken = false;
  count_standby(pool, c, false);
}

void db_pool_free(struct db_pool *pool) {
  if (!pool) return;
  for (int i = 0; i < pool->size; i++) {
    conn_close(pool, &pool->conns[i]);
    free(pool->conns[i].prepared);
  }
  pthread_cond_destroy(&pool->released);
  pthread_mutex_destroy(&pool->mutex);
  free(pool->conns);
  free(pool->conninfo);
  free(pool->application_name);
  free(pool);
}

void db_pool_stats(struct db_pool *pool, struct db_pool_stats *out) {
  pthread_mutex_lock(&pool->mutex);
  out->size = pool->size;
  out->in_use = pool->in_use;
  out->waiting = pool->waiting;
  out->on_standby = pool->on_standby;
  pthread_mutex_unlock(&pool->mutex);
}

PGconn *db_connect(const char *conninfo, const char *application_name, int statement_timeout_ms) {
  /* Sessions run in UTC so timestamps serialise unambiguously; an abandoned transaction cannot
   * hold locks for long; no statement runs longer than the timeout; no query waits for JIT
   * compilation (measured: half a second added to a list whose estimated cost crossed
   * jit_above_cost, for a plan that runs in milliseconds), nor for parallel workers to start
   * (measured: 90 ms of worker start-up for a team's 1,360 episodes on 2 cores, where a plain
   * plan takes far less; the service's queries are short and run side by side already). Set once
   * per session, they
   * cost no round trip per transaction. Later keywords override the same ones in the configured
   * URL. The timeout is a validated integer from configuration, not request data. */
  static const char *const KEYS[] = {"dbname", "connect_timeout", "application_name", "options",
                                     NULL};
  char options[192];
  snprintf(options, sizeof options,
           "-c TimeZone=UTC -c idle_in_transaction_session_timeout=60000 -c statement_timeout=%d"
           " -c jit=off -c max_parallel_workers_per_gather=0",
           statement_timeout_ms);
  const char *values[] = {conninfo, "3", application_name, options, NULL};
  return PQconnectdbParams(KEYS, values, 1);
}

/* A new session of the pool, or NULL. A read pool's sessions are made read-only by a statement
 * once connected, after libpq has chosen the server by target_session_attrs. */
static PGconn *session_open(struct db_pool *pool) {
  PGconn *pg = db_connect(pool->conninfo, pool->application_name, pool->statement_timeout_ms);
  if (PQstatus(pg) == CONNECTION_OK && pool->read_only) {
    PGresult *res = PQexec(pg, "SET default_transaction_read_only = on");
    bool ok = PQresultStatus(res) == PGRES_COMMAND_OK;
    PQclear(res);
    if (!ok) {
      PQfinish(pg);
      pg = NULL;
    }
  }
  if (!pg || PQstatus(pg) != CONNECTION_OK) {
    log_event(LOG_WARN, "database connection failed",
              json_pack("{s:s}", "pool", pool->application_name));
    PQfinish(pg);
    return NULL;
  }
  return pg;
}

static void conn_adopt(struct db_pool *pool, struct db_conn *c, PGconn *pg) {
  c->pg = pg;
  clock_gettime(CLOCK_MONOTONIC, &c->opened);
  count_standby(pool, c, session_on_standby(pg));
}

static bool conn_open(struct db_pool *pool, struct db_conn *c) {
  conn_close(pool, c);
  PGconn *pg = session_open(pool);
  if (!pg) return false;
  conn_adopt(pool, c, pg);
  return true;
}

/* A read pool's session on a primary, open for primary_recheck_s or longer, is replaced by a
 * new one, which libpq places on a standby again if one answers; the old one is kept when no
 * server does. */
static void conn_recheck_primary(struct db_pool *pool, struct db_conn *c) {
  if (pool->primary_recheck_s <= 0) return;
  bool on_standby = session_on_standby(c->pg);
  count_standby(pool, c, on_standby);
  if (on_standby) return;
  struct timespec now;
  clock_gettime(CLOCK_MONOTONIC, &now);
  if (now.tv_sec - c->opened.tv_sec < pool->primary_recheck_s) return;
  PGconn *fresh = session_open(pool);
  if (!fresh) {
    c->opened = now; /* try again after another interval */
    return;
  }
  conn_close(pool, c);
  conn_adopt(pool, c, fresh);
  log_event(LOG_INFO, "read session reopened",
            json_pack("{s:s, s:b}", "pool", pool->application_name, "on_standby",
                      c->on_standby));
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
  if (c->broken) conn_close(pool, c);
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

enum cc_status tx_begin(struct db_pool *pool, struct tx *tx) {
  memset(tx, 0, sizeof *tx);
  tx->pool = pool;
  tx->conn = pool_acquire(pool);
  if (!tx->conn) {
    log_message(LOG_WARN, "database pool exhausted");
    return CC_UNAVAILABLE;
  }
  /* Nothing is sent yet: BEGIN travels with the transaction's first statement. */
  tx->open = true;
  return CC_OK;
}

static bool is_prepared(const struct db_conn *c, const struct db_stmt *stmt) {
  for (size_t i = 0; i < c->nprepared; i++)
    if (c->prepared[i] == stmt) return true;
  return false;
}

static bool remember_prepared(struct db_conn *c, const struct db_stmt *stmt) {
  if (c->nprepared == c->capacity) {
    size_t capacity = c->capacity ? c->capacity * 2 : 32;
    const struct db_stmt **grown = realloc(c->prepared, capacity * sizeof *grown);
    if (!grown) return false;
    c->prepared = grown;
    c->capacity = capacity;
  }
  c->prepared[c->nprepared++] = stmt;
  return true;
}

static void free_params(char **params, int count) {
  for (int p = 0; p < count; p++) free(params[p]);
  free(params);
}

static void deferred_clear(struct tx *tx) {
  for (size_t i = 0; i < tx->ndeferred; i++)
    free_params(tx->deferred[i].params, tx->deferred[i].stmt->nparams);
  tx->ndeferred = 0;
}

/* What one result of a round trip answers. */
struct expected {
  const char *what;           /* for the log */
  const struct db_stmt *stmt; /* for a PREPARE: the statement now prepared on the session */
  int wanted;                 /* a caller's statement: its result goes to out[wanted - 1] */
};

#define ROUND_TRIP_MAX (2 * (TX_MAX_DEFERRED + TX_MAX_BATCH) + 2)

/* The caller's statements of a round trip. */
struct batch {
  size_t count;
  const struct db_stmt *const *stmts;
  const char *const *const *params;
  PGresult **out;
};

static bool send_statement(PGconn *pg, const struct db_conn *c, const struct db_stmt *stmt,
                           const char *const *params, int wanted, struct expected *expect,
                           int *n) {
  /* The same statement twice in one round trip is prepared once. */
  bool preparing = false;
  for (int i = 0; i < *n; i++) preparing |= expect[i].stmt == stmt;
  if (!preparing && !is_prepared(c, stmt)) {
    if (!PQsendPrepare(pg, stmt->name, stmt->sql, stmt->nparams, NULL)) return false;
    expect[(*n)++] = (struct expected){stmt->name, stmt, 0};
  }
  if (!PQsendQueryPrepared(pg, stmt->name, stmt->nparams, params, NULL, NULL, 0)) return false;
  expect[(*n)++] = (struct expected){stmt->name, NULL, wanted};
  return true;
}

static bool send_command(PGconn *pg, const char *sql, struct expected *expect, int *n) {
  if (!PQsendQueryParams(pg, sql, 0, NULL, NULL, NULL, NULL, 0)) return false;
  expect[(*n)++] = (struct expected){sql, NULL, 0};
  return true;
}

/* Queues what the transaction owes the server (BEGIN, deferred statements), then the batch's
 * statements or COMMIT, and a sync, in pipeline mode: one network round trip. Returns how many
 * results to expect, or -1 when nothing could be sent. */
static int send_round_trip(struct tx *tx, const struct batch *batch, bool commit,
                           struct expected *expect) {
  PGconn *pg = tx->conn->pg;
  int n = 0;
  if (!PQenterPipelineMode(pg)) return -1;
  if (!tx->begun && !send_command(pg, "BEGIN", expect, &n)) return -1;
  for (size_t i = 0; i < tx->ndeferred; i++) {
    const struct tx_deferred *d = &tx->deferred[i];
    if (!send_statement(pg, tx->conn, d->stmt, (const char *const *)d->params, 0, expect, &n))
      return -1;
  }
  for (size_t i = 0; i < batch->count; i++)
    if (!send_statement(pg, tx->conn, batch->stmts[i], batch->params[i], (int)i + 1, expect, &n))
      return -1;
  if (commit && !send_command(pg, "COMMIT", expect, &n)) return -1;
  if (!PQpipelineSync(pg)) return -1;
  return n;
}

static bool result_ok(const PGresult *res) {
  ExecStatusType rs = PQresultStatus(res);
  return rs == PGRES_COMMAND_OK || rs == PGRES_TUPLES_OK;
}

/* Reads a round trip's results in order. The first failure decides the status (whatever was
 * queued after it comes back PGRES_PIPELINE_ABORTED, never executed); the results of the
 * batch's statements go to its out array. */
static enum cc_status read_round_trip(struct tx *tx, const struct expected *expect, int n,
                                      const struct batch *batch) {
  PGconn *pg = tx->conn->pg;
  enum cc_status status = CC_OK;
  bool lost = false;
  for (int i = 0; i < n && !lost; i++) {
    PGresult *res = PQgetResult(pg);
    if (!res) {
      lost = true;
      break;
    }
    if (status == CC_OK && !result_ok(res)) status = result_failure(tx, res, expect[i].what);
    if (status == CC_OK && expect[i].stmt && !remember_prepared(tx->conn, expect[i].stmt))
      status = CC_INTERNAL;
    if (status == CC_OK && expect[i].wanted)
      batch->out[expect[i].wanted - 1] = res;
    else
      PQclear(res);
    /* Each statement's results end with a NULL. */
    for (PGresult *extra; (extra = PQgetResult(pg));) PQclear(extra);
  }
  PGresult *sync = lost ? NULL : PQgetResult(pg);
  if (!sync || PQresultStatus(sync) != PGRES_PIPELINE_SYNC) lost = true;
  PQclear(sync);
  if (lost || !PQexitPipelineMode(pg)) {
    tx->conn->broken = true;
    if (status == CC_OK) status = result_failure(tx, NULL, "pipeline");
  }
  for (size_t i = 0; status != CC_OK && i < batch->count; i++) {
    PQclear(batch->out[i]);
    batch->out[i] = NULL;
  }
  return status;
}

/* At debug level, which statements travelled together: what a request costs the database, and
 * how the benchmark's pgbench scripts group the same statements (tests/bench). */
static void log_round_trip(const struct expected *expect, int n) {
  json_t *names = json_array();
  for (int i = 0; i < n; i++)
    if (!expect[i].stmt) json_array_append_new(names, json_string(expect[i].what));
  log_event(LOG_DEBUG, "database round trip", json_pack("{s:o}", "statements", names));
}

/* A pooled session that PostgreSQL ended while it sat idle (a restart, pg_terminate_backend)
 * has its goodbye waiting in the socket, and an idle session is otherwise sent nothing: anything
 * readable means the session is not fit to start a transaction, found before anything is sent. */
static bool session_usable(struct db_conn *c) {
  if (!c->pg || c->broken || PQstatus(c->pg) != CONNECTION_OK) return false;
  struct pollfd waiting = {.fd = PQsocket(c->pg), .events = POLLIN};
  return poll(&waiting, 1, 0) == 0;
}

/* Before a transaction's first statement: a live session, reopened on a standby if it is a read
 * pool's session that has been on a primary for a while. Checked once per transaction. */
static bool session_ready(struct tx *tx) {
  if (tx->session_checked) return true;
  if (!session_usable(tx->conn) && !conn_open(tx->pool, tx->conn)) return false;
  conn_recheck_primary(tx->pool, tx->conn);
  tx->session_checked = true;
  return true;
}

enum cc_status tx_wait_for_replay(struct tx *tx, const char *lsn, int wait_ms) {
  if (!tx->open || tx->begun || tx->ndeferred) return CC_INTERNAL;
  if (!lsn || !*lsn) return CC_OK;
  if (!session_ready(tx)) return CC_UNAVAILABLE;
  struct timespec start, now;
  clock_gettime(CLOCK_MONOTONIC, &start);
  const char *params[] = {lsn};
  for (long pause_ms = 2;; pause_ms = pause_ms < 64 ? pause_ms * 2 : 100) {
    /* Outside any transaction: the transaction's snapshot, taken later, sees at least this. */
    PGresult *res = PQexecParams(tx->conn->pg,
                                 "SELECT NOT pg_is_in_recovery()"
                                 " OR pg_last_wal_replay_lsn() >= $1::pg_lsn",
                                 1, NULL, params, NULL, NULL, 0);
    if (PQresultStatus(res) != PGRES_TUPLES_OK) {
      enum cc_status status = result_failure(tx, res, "wait for replay");
      PQclear(res);
      tx->open = false;
      return status == CC_OK ? CC_UNAVAILABLE : status;
    }
    bool caught_up = strcmp(PQgetvalue(res, 0, 0), "t") == 0;
    PQclear(res);
    if (caught_up) return CC_OK;
    clock_gettime(CLOCK_MONOTONIC, &now);
    long waited_ms = (now.tv_sec - start.tv_sec) * 1000 + (now.tv_nsec - start.tv_nsec) / 1000000;
    if (waited_ms >= wait_ms) {
      log_event(LOG_WARN, "standby behind",
                json_pack("{s:s, s:s, s:i}", "pool", tx->pool->application_name, "lsn", lsn,
                          "waited_ms", (int)waited_ms));
      tx->open = false;
      return CC_UNAVAILABLE;
    }
    struct timespec pause = {0, pause_ms * 1000000L};
    nanosleep(&pause, NULL);
  }
}

/* One round trip: what the transaction owes the server, then the batch (its results in its out
 * array), or COMMIT. A transaction's first round trip gets a fresh session when the pooled one
 * is dead. */
static enum cc_status round_trip(struct tx *tx, const struct batch *batch, bool commit) {
  struct expected expect[ROUND_TRIP_MAX];
  for (size_t i = 0; i < batch->count; i++) batch->out[i] = NULL;
  if (!tx->begun && !session_ready(tx)) return CC_UNAVAILABLE;
  int n = send_round_trip(tx, batch, commit, expect);
  if (n > 0 && log_enabled(LOG_DEBUG)) log_round_trip(expect, n);
  enum cc_status status;
  if (n < 0) {
    tx->conn->broken = true;
    status = result_failure(tx, NULL, "pipeline");
  } else {
    status = read_round_trip(tx, expect, n, batch);
  }
  deferred_clear(tx);
  if (status == CC_OK) tx->begun = true;
  else tx->open = false; /* the transaction failed: tx_end rolls back what reached the server */
  return status;
}

enum cc_status tx_plan_for_values(struct tx *tx) {
  static const struct db_stmt CUSTOM_PLANS = {
      "tx_custom_plans", "SET LOCAL plan_cache_mode = force_custom_plan", 0};
  return tx_defer(tx, &CUSTOM_PLANS, NULL);
}

enum cc_status tx_defer(struct tx *tx, const struct db_stmt *stmt, const char *const *params) {
  if (!tx->open) return CC_INTERNAL;
  /* A full queue goes to the server now, with this statement. */
  if (tx->ndeferred == TX_MAX_DEFERRED) {
    PGresult *ignored = NULL;
    enum cc_status status = round_trip(tx, &(struct batch){1, &stmt, &params, &ignored}, false);
    PQclear(ignored);
    return status;
  }
  char **copies = calloc((size_t)stmt->nparams + 1, sizeof *copies);
  if (!copies) return CC_INTERNAL;
  for (int p = 0; p < stmt->nparams; p++) {
    if (params[p] && !(copies[p] = strdup(params[p]))) {
      free_params(copies, p);
      return CC_INTERNAL;
    }
  }
  tx->deferred[tx->ndeferred++] = (struct tx_deferred){stmt, copies};
  return CC_OK;
}

enum cc_status tx_exec(struct tx *tx, const struct db_stmt *stmt, const char *const *params,
                       PGresult **out) {
  PGresult *res = NULL;
  enum cc_status status = tx_exec_batch(tx, 1, &stmt, &params, &res);
  if (out)
    *out = res;
  else
    PQclear(res);
  return status;
}

enum cc_status tx_exec_batch(struct tx *tx, size_t count, const struct db_stmt *const *stmts,
                             const char *const *const *params, PGresult **out) {
  for (size_t i = 0; i < count; i++) out[i] = NULL;
  if (!tx->open || count == 0 || count > TX_MAX_BATCH) return CC_INTERNAL;
  return round_trip(tx, &(struct batch){count, stmts, params, out}, false);
}

enum cc_status tx_commit(struct tx *tx) {
  if (!tx->open) return CC_INTERNAL;
  /* A transaction that never reached the server has nothing to commit. */
  enum cc_status status = CC_OK;
  if (tx->begun || tx->ndeferred) status = round_trip(tx, &(struct batch){0}, true);
  tx->open = false;
  return status;
}

void tx_end(struct tx *tx) {
  if (!tx->conn) return;
  /* Whatever the server still holds open (not committed, or aborted by an error) is rolled
   * back on a session that still works. */
  PGconn *pg = tx->conn->pg;
  if (pg && !tx->conn->broken && PQtransactionStatus(pg) != PQTRANS_IDLE) {
    PGresult *res = PQexec(pg, "ROLLBACK");
    if (PQresultStatus(res) != PGRES_COMMAND_OK) tx->conn->broken = true;
    PQclear(res);
  }
  deferred_clear(tx);
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
