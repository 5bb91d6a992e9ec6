#include "audit/sealer.h"

#include <errno.h>
#include <libpq-fe.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "audit/chain.h"
#include "db/db.h"
#include "log.h"

/* pg_try_advisory_xact_lock key shared by every replica's sealer ("carecoord" + 1), so that
 * only one of them extends the chain at a time and the chain never forks. */
#define SEAL_LOCK_KEY "7161446297866"
#define SEAL_BATCH 5000
#define SEAL_BATCH_TEXT "5000"
#define SEAL_STATEMENT_TIMEOUT_MS 30000
#define MAX_BACKOFF_STEPS 25 /* at most 25 intervals (5 s) between reconnection attempts */

struct sealer {
  char *conninfo;
  PGconn *pg;
  pthread_t thread;
  pthread_mutex_t mutex;
  pthread_cond_t wake;
  bool stopping;
  bool outage_logged;
};

/* The last link: its seq and hash, and the txid and id of its event (NULL when that event is
 * gone, which only tampering can cause; the search for unsealed events then scans everything). */
static const char LAST_LINK_SQL[] =
    "SELECT c.seq, c.hash, e.txid, e.id FROM audit_chain c"
    " LEFT JOIN audit_events e ON e.id = c.event_id ORDER BY c.seq DESC LIMIT 1";

/* Why this order is stable. The horizon is the xmin of this statement's own snapshot: every
 * transaction with a smaller txid has finished (committed or rolled back), so each of its
 * events is visible here or never will be. Every event sealed now has txid < horizon; every
 * event sealed later belongs to a transaction that was still running (or not yet started) at
 * this snapshot, so its txid >= horizon. Appending in (txid, id) order therefore keeps the
 * whole chain in (txid, id) order: no event can ever turn up that belongs before a link
 * already sealed. An event's id alone would not do: ids are drawn when a row is inserted but
 * become visible when its transaction commits, in any order.
 * Unsealed events all come after the last sealed event in (txid, id) order: by the same
 * argument for a later transaction, and within the last link's own transaction because all its
 * events became visible together and were sealed in id order (a batch may have stopped part-way
 * through it). So the search starts just after the last link in the (txid, id) index, and a
 * transaction that wrote many events is not rescanned batch after batch. */
static const char UNSEALED_SQL[] =
    "SELECT e.id, " AUDIT_CONTENT_SQL
    " FROM audit_events e"
    " WHERE e.txid < (SELECT pg_snapshot_xmin(pg_current_snapshot()))"
    "   AND ($1::xid8 IS NULL OR (e.txid, e.id) > ($1::xid8, $2::bigint))"
    "   AND NOT EXISTS (SELECT 1 FROM audit_chain c WHERE c.event_id = e.id)"
    " ORDER BY e.txid, e.id LIMIT " SEAL_BATCH_TEXT;

static const char INSERT_LINKS_SQL[] =
    "INSERT INTO audit_chain (event_id, seq, prev_hash, hash)"
    " SELECT * FROM unnest($1::bigint[], $2::bigint[], $3::text[], $4::text[])";

static bool connect_db(struct sealer *s) {
  s->pg = db_connect(s->conninfo, "carecoord-sealer", SEAL_STATEMENT_TIMEOUT_MS);
  if (PQstatus(s->pg) == CONNECTION_OK) {
    if (s->outage_logged) log_message(LOG_INFO, "audit sealer reconnected to the database");
    s->outage_logged = false;
    return true;
  }
  if (!s->outage_logged) log_message(LOG_WARN, "audit sealer cannot reach the database; retrying");
  s->outage_logged = true;
  PQfinish(s->pg);
  s->pg = NULL;
  return false;
}

/* Logs a failed statement (primary message and SQLSTATE only: never row values). */
static void log_failure(const char *what, PGresult *res) {
  const char *state = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
  const char *primary = res ? PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY) : NULL;
  log_event(LOG_WARN, "audit sealer failed",
            json_pack("{s:s, s:s, s:s}", "statement", what, "sqlstate", state ? state : "",
                      "error", primary ? primary : "connection lost"));
}

static bool exec_ok(struct sealer *s, const char *what, const char *sql, int nparams,
                    const char *const *params, PGresult **out) {
  PGresult *res = PQexecParams(s->pg, sql, nparams, NULL, params, NULL, NULL, 0);
  ExecStatusType st = PQresultStatus(res);
  if (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK) {
    if (out) *out = res;
    else PQclear(res);
    return true;
  }
  log_failure(what, res);
  PQclear(res);
  return false;
}

/* A PostgreSQL array literal built one element at a time. Elements here are digits or
 * lowercase hex (or NULL), which need no quoting. */
struct array {
  char *text;
  size_t len, cap;
};

static bool array_add(struct array *a, const char *value) {
  const char *v = value ? value : "NULL";
  size_t need = strlen(v) + 3; /* separator, value, closing brace, NUL */
  if (a->len + need > a->cap) {
    size_t grown = (a->cap + need) * 2;
    char *p = realloc(a->text, grown);
    if (!p) return false;
    a->text = p;
    a->cap = grown;
  }
  a->len += (size_t)snprintf(a->text + a->len, a->cap - a->len, "%c%s", a->len ? ',' : '{', v);
  return true;
}

static void array_close(struct array *a) {
  if (a->text) snprintf(a->text + a->len, a->cap - a->len, "}");
}

/* One sealing transaction. Returns the number of events sealed, or -1 on failure. */
static int seal_batch(struct sealer *s) {
  PGresult *last = NULL, *rows = NULL;
  struct array ids = {0}, seqs = {0}, prevs = {0}, hashes = {0};
  int sealed = -1;
  if (!exec_ok(s, "begin", "BEGIN", 0, NULL, NULL)) return -1;
  PGresult *lock = NULL;
  if (!exec_ok(s, "lock", "SELECT pg_try_advisory_xact_lock(" SEAL_LOCK_KEY ")", 0, NULL, &lock))
    goto done;
  bool locked = strcmp(PQgetvalue(lock, 0, 0), "t") == 0;
  PQclear(lock);
  if (!locked) { /* another replica's sealer is at work */
    sealed = 0;
    goto done;
  }
  if (!exec_ok(s, "last link", LAST_LINK_SQL, 0, NULL, &last)) goto done;
  long long seq = 0;
  char prev[AUDIT_HASH_HEX_LEN + 1] = "";
  const char *after_txid = NULL, *after_id = NULL;
  if (PQntuples(last) == 1) {
    seq = atoll(PQgetvalue(last, 0, 0));
    snprintf(prev, sizeof prev, "%s", PQgetvalue(last, 0, 1));
    if (!PQgetisnull(last, 0, 2)) {
      after_txid = PQgetvalue(last, 0, 2);
      after_id = PQgetvalue(last, 0, 3);
    }
  }
  if (!exec_ok(s, "unsealed", UNSEALED_SQL, 2, (const char *const[]){after_txid, after_id},
               &rows))
    goto done;
  int n = PQntuples(rows);
  if (n == 0) {
    sealed = 0;
    goto done;
  }
  for (int r = 0; r < n; r++) {
    char hash[AUDIT_HASH_HEX_LEN + 1], seq_text[24];
    if (!audit_chain_hash(seq ? prev : NULL, PQgetvalue(rows, r, 1), hash)) goto done;
    snprintf(seq_text, sizeof seq_text, "%lld", ++seq);
    if (!array_add(&ids, PQgetvalue(rows, r, 0)) || !array_add(&seqs, seq_text) ||
        !array_add(&prevs, seq > 1 ? prev : NULL) || !array_add(&hashes, hash))
      goto done;
    memcpy(prev, hash, sizeof prev);
  }
  array_close(&ids);
  array_close(&seqs);
  array_close(&prevs);
  array_close(&hashes);
  const char *params[] = {ids.text, seqs.text, prevs.text, hashes.text};
  if (!exec_ok(s, "insert links", INSERT_LINKS_SQL, 4, params, NULL)) goto done;
  if (!exec_ok(s, "commit", "COMMIT", 0, NULL, NULL)) goto done;
  sealed = n;
done:
  if (PQstatus(s->pg) == CONNECTION_OK && PQtransactionStatus(s->pg) != PQTRANS_IDLE)
    PQclear(PQexec(s->pg, "ROLLBACK"));
  PQclear(last);
  PQclear(rows);
  free(ids.text);
  free(seqs.text);
  free(prevs.text);
  free(hashes.text);
  return sealed;
}

/* Seals everything that is ready, a batch per transaction. Returns false on failure. */
static bool seal_all(struct sealer *s) {
  if (!s->pg && !connect_db(s)) return false;
  int sealed;
  do {
    sealed = seal_batch(s);
  } while (sealed == SEAL_BATCH);
  if (sealed >= 0) return true;
  if (PQstatus(s->pg) != CONNECTION_OK) {
    PQfinish(s->pg);
    s->pg = NULL;
  }
  return false;
}

static void deadline_after(long ms, struct timespec *t) {
  clock_gettime(CLOCK_MONOTONIC, t);
  t->tv_sec += ms / 1000;
  t->tv_nsec += (ms % 1000) * 1000000L;
  if (t->tv_nsec >= 1000000000L) {
    t->tv_sec++;
    t->tv_nsec -= 1000000000L;
  }
}

static void *run(void *arg) {
  struct sealer *s = arg;
  int failures = 0;
  pthread_mutex_lock(&s->mutex);
  while (!s->stopping) {
    pthread_mutex_unlock(&s->mutex);
    failures = seal_all(s) ? 0 : failures + 1;
    long steps = 1;
    for (int i = 0; i < failures && steps < MAX_BACKOFF_STEPS; i++) steps *= 2;
    if (steps > MAX_BACKOFF_STEPS) steps = MAX_BACKOFF_STEPS;
    struct timespec deadline;
    deadline_after(steps * SEALER_INTERVAL_MS, &deadline);
    pthread_mutex_lock(&s->mutex);
    while (!s->stopping &&
           pthread_cond_timedwait(&s->wake, &s->mutex, &deadline) != ETIMEDOUT) {
    }
  }
  pthread_mutex_unlock(&s->mutex);
  seal_all(s); /* the events of the last requests, promptly */
  PQfinish(s->pg);
  s->pg = NULL;
  return NULL;
}

struct sealer *sealer_start(const char *conninfo) {
  struct sealer *s = calloc(1, sizeof *s);
  if (!s) return NULL;
  s->conninfo = strdup(conninfo);
  if (!s->conninfo) {
    free(s);
    return NULL;
  }
  pthread_mutex_init(&s->mutex, NULL);
  pthread_condattr_t attr;
  pthread_condattr_init(&attr);
  pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
  pthread_cond_init(&s->wake, &attr);
  pthread_condattr_destroy(&attr);
  if (pthread_create(&s->thread, NULL, run, s) != 0) {
    log_message(LOG_ERROR, "cannot start the audit sealer; audit events stay unsealed");
    pthread_cond_destroy(&s->wake);
    pthread_mutex_destroy(&s->mutex);
    free(s->conninfo);
    free(s);
    return NULL;
  }
  return s;
}

void sealer_stop(struct sealer *s) {
  if (!s) return;
  pthread_mutex_lock(&s->mutex);
  s->stopping = true;
  pthread_cond_signal(&s->wake);
  pthread_mutex_unlock(&s->mutex);
  pthread_join(s->thread, NULL);
  pthread_cond_destroy(&s->wake);
  pthread_mutex_destroy(&s->mutex);
  free(s->conninfo);
  free(s);
}
