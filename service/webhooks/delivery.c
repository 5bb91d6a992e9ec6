#include "webhooks/delivery.h"

#include <arpa/inet.h>
#include <curl/curl.h>
#include <errno.h>
#include <libpq-fe.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include "db/db.h"
#include "log.h"
#include "resources/partners.h"
#include "rules/webhook_rules.h"

#define STATEMENT_TIMEOUT_MS 30000
#define MAX_BACKOFF_STEPS 25      /* at most 25 poll intervals between reconnection attempts */
#define RESPONSE_BODY_MAX 65536   /* what is read of a receiver's answer, at most (discarded) */
#define LAST_ERROR_MAX 200
#define USER_AGENT "carecoord-webhooks/1"
#define DELIVERY_ID_MAX 160       /* <org>:<first>-<last>: 64 + 1 + 20 + 1 + 20 and NUL */

struct delivery_thread {
  struct webhooks *owner;
  pthread_t thread;
  PGconn *pg;
  bool outage_logged;
};

struct webhooks {
  char *conninfo;
  struct webhook_settings settings;
  pthread_mutex_t mutex;
  pthread_cond_t wake;
  atomic_bool stopping; /* also read by transfers under way, without the mutex */
  int count;
  struct delivery_thread threads[];
};

/* Leases the webhook that has waited longest among those due: $1 the lease's length (ms).
 * FOR UPDATE SKIP LOCKED passes over a webhook another thread or instance is leasing right now;
 * one leased a moment ago fails the re-check of lease_until that the row lock brings. */
static const char CLAIM_SQL[] =
    "WITH due AS ("
    " SELECT w.org FROM partner_webhooks w JOIN partner_organisations o ON o.code = w.org"
    "  WHERE o.active AND o.last_event_seq > w.delivered_seq AND w.next_attempt_at <= now()"
    "    AND (w.lease_until IS NULL OR w.lease_until <= now())"
    "  ORDER BY w.next_attempt_at, w.org LIMIT 1"
    "  FOR UPDATE OF w SKIP LOCKED)"
    " UPDATE partner_webhooks w SET lease_id = gen_random_uuid(),"
    "  lease_until = now() + $1::bigint * interval '1 millisecond'"
    " FROM due WHERE w.org = due.org"
    " RETURNING w.org, w.url, w.secret, w.delivered_seq, w.failures, w.lease_id";
enum { CLAIM_ORG, CLAIM_URL, CLAIM_SECRET, CLAIM_DELIVERED, CLAIM_FAILURES, CLAIM_LEASE };

/* The batch: $1 org, $2 delivered_seq, $3 how many at most. The body, its first and last seq. */
static const char EVENTS_SQL[] =
    "SELECT json_build_object('events', json_agg(" PARTNER_EVENT_JSON("e") " ORDER BY e.seq))"
    "::text, min(e.seq), max(e.seq)"
    " FROM (SELECT * FROM partner_events WHERE org = $1 AND seq > $2::bigint"
    "       ORDER BY seq LIMIT $3::integer) e";

/* Outcomes, each applied only while the lease is still ours ($1 org, $2 lease): a webhook
 * replaced or deleted meanwhile has dropped it, and a late outcome changes nothing. */
static const char DELIVERED_SQL[] =
    "UPDATE partner_webhooks SET delivered_seq = greatest(delivered_seq, $3::bigint),"
    " failures = 0, last_error = NULL, last_attempt_at = now(), next_attempt_at = now(),"
    " lease_id = NULL, lease_until = NULL WHERE org = $1 AND lease_id = $2::uuid";
static const char FAILED_SQL[] =
    "UPDATE partner_webhooks SET failures = failures + 1, last_error = $3,"
    " last_attempt_at = now(), next_attempt_at = now() + $4::bigint * interval '1 millisecond',"
    " lease_id = NULL, lease_until = NULL WHERE org = $1 AND lease_id = $2::uuid"
    " RETURNING next_attempt_at";
static const char RELEASE_SQL[] =
    "UPDATE partner_webhooks SET lease_id = NULL, lease_until = NULL"
    " WHERE org = $1 AND lease_id = $2::uuid";

enum round { ROUND_WORKED, ROUND_IDLE, ROUND_FAILED };

/* -- database --------------------------------------------------------------------------------- */

static bool connect_db(struct delivery_thread *t) {
  t->pg = db_connect(t->owner->conninfo, "carecoord-webhooks", STATEMENT_TIMEOUT_MS);
  if (PQstatus(t->pg) == CONNECTION_OK) {
    if (t->outage_logged) log_message(LOG_INFO, "webhook deliveries reconnected to the database");
    t->outage_logged = false;
    return true;
  }
  if (!t->outage_logged)
    log_message(LOG_WARN, "webhook deliveries cannot reach the database; retrying");
  t->outage_logged = true;
  PQfinish(t->pg);
  t->pg = NULL;
  return false;
}

/* Runs one statement in its own transaction. Logs a failure (primary message and SQLSTATE
 * only, never row values) and drops a broken connection. */
static bool exec_ok(struct delivery_thread *t, const char *what, const char *sql, int nparams,
                    const char *const *params, PGresult **out) {
  PGresult *res = PQexecParams(t->pg, sql, nparams, NULL, params, NULL, NULL, 0);
  ExecStatusType st = PQresultStatus(res);
  if (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK) {
    if (out) *out = res;
    else PQclear(res);
    return true;
  }
  const char *state = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
  const char *primary = res ? PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY) : NULL;
  log_event(LOG_WARN, "webhook deliveries: statement failed",
            json_pack("{s:s, s:s, s:s}", "statement", what, "sqlstate", state ? state : "",
                      "error", primary ? primary : "connection lost"));
  PQclear(res);
  if (PQstatus(t->pg) != CONNECTION_OK) {
    PQfinish(t->pg);
    t->pg = NULL;
  }
  return false;
}

/* -- HTTP ------------------------------------------------------------------------------------- */

struct attempt {
  struct webhooks *owner;
  bool allow_loopback;
  bool address_refused;
  bool body_too_long;
  size_t body_read;
};

static bool ipv4_allowed(const unsigned char a[4], bool loopback) {
  if (a[0] == 127) return loopback;
  if (a[0] == 0) return false;                              /* "this network" */
  if (a[0] == 169 && a[1] == 254) return false;             /* link-local, cloud metadata */
  if (a[0] >= 224) return false;                            /* multicast, reserved, broadcast */
  return true;
}

/* Where a delivery may connect: never a link-local, multicast or unspecified address, and
 * loopback only with the tests' setting. Private ranges stay allowed: partner networks (HSCN)
 * use them. Checked on the address actually connected to, after name resolution. */
static bool address_allowed(const struct curl_sockaddr *address, bool loopback) {
  if (address->family == AF_INET && address->addrlen >= sizeof(struct sockaddr_in)) {
    struct sockaddr_in in;
    memcpy(&in, &address->addr, sizeof in);
    unsigned char a[4];
    memcpy(a, &in.sin_addr, 4);
    return ipv4_allowed(a, loopback);
  }
  if (address->family == AF_INET6 && address->addrlen >= sizeof(struct sockaddr_in6)) {
    struct sockaddr_in6 in6;
    memcpy(&in6, &address->addr, sizeof in6);
    const unsigned char *a = in6.sin6_addr.s6_addr;
    static const unsigned char MAPPED[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
    static const unsigned char ZERO[15] = {0};
    if (memcmp(a, MAPPED, 12) == 0) return ipv4_allowed(a + 12, loopback);
    if (memcmp(a, ZERO, 15) == 0) return a[15] == 1 && loopback; /* ::1, or :: */
    if (a[0] == 0xfe && (a[1] & 0xc0) == 0x80) return false;     /* fe80::/10 link-local */
    if (a[0] == 0xff) return false;                              /* multicast */
    return true;
  }
  return false;
}

static curl_socket_t open_socket(void *clientp, curlsocktype purpose,
                                 struct curl_sockaddr *address) {
  struct attempt *a = clientp;
  if (purpose != CURLSOCKTYPE_IPCXN || !address_allowed(address, a->allow_loopback)) {
    a->address_refused = true;
    return CURL_SOCKET_BAD;
  }
  return socket(address->family, address->socktype, address->protocol);
}

/* The receiver's answer is not used: read a little of it, then give up on the rest. */
static size_t discard_body(char *data, size_t size, size_t nmemb, void *userdata) {
  (void)data;
  struct attempt *a = userdata;
  size_t n = size * nmemb;
  a->body_read += n;
  if (a->body_read > RESPONSE_BODY_MAX) {
    a->body_too_long = true;
    return 0; /* ends the transfer */
  }
  return n;
}

/* Abandons a transfer under way when the service stops. */
static int progress(void *clientp, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal,
                    curl_off_t ulnow) {
  (void)dltotal, (void)dlnow, (void)ultotal, (void)ulnow;
  const struct attempt *a = clientp;
  return atomic_load(&a->owner->stopping) ? 1 : 0;
}

enum outcome { OUTCOME_ACKNOWLEDGED, OUTCOME_FAILED, OUTCOME_ABANDONED };

/* Posts body to url. On OUTCOME_FAILED, error says why in a few words (no URL, no secret). */
static enum outcome post(struct webhooks *w, const char *url, enum webhook_url_kind kind,
                         const char *body, size_t body_len, const char *signature,
                         const char *delivery_id, char error[LAST_ERROR_MAX]) {
  const struct webhook_settings *s = &w->settings;
  struct attempt a = {.owner = w, .allow_loopback = s->allow_http_loopback};
  char signature_header[WEBHOOK_SIGNATURE_MAX + 32], delivery_header[DELIVERY_ID_MAX + 32];
  snprintf(signature_header, sizeof signature_header, "Carecoord-Signature: %s", signature);
  snprintf(delivery_header, sizeof delivery_header, "Carecoord-Delivery: %s", delivery_id);
  struct curl_slist *headers = NULL, *next;
  const char *const lines[] = {"Content-Type: application/json", "Expect:", signature_header,
                               delivery_header};
  bool prepared = true;
  for (size_t i = 0; prepared && i < sizeof lines / sizeof lines[0]; i++) {
    next = curl_slist_append(headers, lines[i]);
    prepared = next != NULL;
    if (prepared) headers = next;
  }
  CURL *curl = prepared ? curl_easy_init() : NULL;
  if (!curl) {
    curl_slist_free_all(headers);
    curl_easy_cleanup(curl);
    snprintf(error, LAST_ERROR_MAX, "the service could not prepare the request");
    return OUTCOME_FAILED;
  }
  curl_easy_setopt(curl, CURLOPT_URL, url);
  curl_easy_setopt(curl, CURLOPT_PROTOCOLS_STR, kind == WEBHOOK_URL_HTTPS ? "https" : "http");
  curl_easy_setopt(curl, CURLOPT_FOLLOWLOCATION, 0L);
  curl_easy_setopt(curl, CURLOPT_PROXY, ""); /* never a proxy from the environment */
  curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT_MS, (long)s->connect_timeout_ms);
  curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, (long)s->timeout_ms);
  curl_easy_setopt(curl, CURLOPT_USERAGENT, USER_AGENT);
  curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
  curl_easy_setopt(curl, CURLOPT_POST, 1L);
  curl_easy_setopt(curl, CURLOPT_POSTFIELDS, body);
  curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)body_len);
  curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, discard_body);
  curl_easy_setopt(curl, CURLOPT_WRITEDATA, &a);
  curl_easy_setopt(curl, CURLOPT_OPENSOCKETFUNCTION, open_socket);
  curl_easy_setopt(curl, CURLOPT_OPENSOCKETDATA, &a);
  curl_easy_setopt(curl, CURLOPT_XFERINFOFUNCTION, progress);
  curl_easy_setopt(curl, CURLOPT_XFERINFODATA, &a);
  curl_easy_setopt(curl, CURLOPT_NOPROGRESS, 0L);
  CURLcode rc = curl_easy_perform(curl);
  long status = 0;
  curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
  curl_easy_cleanup(curl);
  curl_slist_free_all(headers);

  if (rc == CURLE_ABORTED_BY_CALLBACK) return OUTCOME_ABANDONED;
  bool answered = rc == CURLE_OK || (rc == CURLE_WRITE_ERROR && a.body_too_long);
  if (answered && status >= 200 && status <= 299) return OUTCOME_ACKNOWLEDGED;
  if (answered)
    snprintf(error, LAST_ERROR_MAX, "the receiver answered HTTP %ld", status);
  else if (a.address_refused)
    snprintf(error, LAST_ERROR_MAX,
             "the URL's host resolves to an address deliveries may not use (loopback, "
             "link-local or multicast)");
  else if (rc == CURLE_OPERATION_TIMEDOUT)
    snprintf(error, LAST_ERROR_MAX, "no answer within %d ms", s->timeout_ms);
  else
    snprintf(error, LAST_ERROR_MAX, "%s", curl_easy_strerror(rc));
  return OUTCOME_FAILED;
}

/* -- one round -------------------------------------------------------------------------------- */

static void log_outcome(enum log_level level, const char *msg, const char *org, const char *url,
                        const char *first, const char *last, json_t *extra) {
  char origin[WEBHOOK_URL_MAX + 1];
  webhook_url_origin(url, origin, sizeof origin);
  json_t *fields = json_pack("{s:s, s:s, s:I, s:I}", "org", org, "origin", origin, "first_seq",
                             (json_int_t)atoll(first), "last_seq", (json_int_t)atoll(last));
  if (fields && extra) json_object_update(fields, extra);
  json_decref(extra);
  log_event(level, msg, fields);
}

/* Leases a due webhook and delivers one batch of its events. */
static enum round deliver_one(struct delivery_thread *t) {
  struct webhooks *w = t->owner;
  const struct webhook_settings *s = &w->settings;
  if (!t->pg && !connect_db(t)) return ROUND_FAILED;
  char lease_ms[24], batch[16];
  snprintf(lease_ms, sizeof lease_ms, "%lld", (long long)s->timeout_ms + WEBHOOK_LEASE_SPARE_MS);
  snprintf(batch, sizeof batch, "%d", s->batch);
  PGresult *claim = NULL, *events = NULL, *failed = NULL;
  enum round round = ROUND_FAILED;
  if (!exec_ok(t, "lease", CLAIM_SQL, 1, (const char *const[]){lease_ms}, &claim)) goto done;
  if (PQntuples(claim) != 1) {
    round = ROUND_IDLE;
    goto done;
  }
  const char *org = PQgetvalue(claim, 0, CLAIM_ORG), *url = PQgetvalue(claim, 0, CLAIM_URL);
  const char *secret = PQgetvalue(claim, 0, CLAIM_SECRET);
  const char *lease = PQgetvalue(claim, 0, CLAIM_LEASE);
  int failures = atoi(PQgetvalue(claim, 0, CLAIM_FAILURES));
  if (!exec_ok(t, "events", EVENTS_SQL, 3,
               (const char *const[]){org, PQgetvalue(claim, 0, CLAIM_DELIVERED), batch}, &events))
    goto done;
  if (PQgetisnull(events, 0, 0)) { /* nothing after all */
    round = exec_ok(t, "release", RELEASE_SQL, 2, (const char *const[]){org, lease}, NULL)
                ? ROUND_IDLE
                : ROUND_FAILED;
    goto done;
  }
  const char *body = PQgetvalue(events, 0, 0);
  const char *first = PQgetvalue(events, 0, 1), *last = PQgetvalue(events, 0, 2);
  char delivery_id[DELIVERY_ID_MAX], signature[WEBHOOK_SIGNATURE_MAX], error[LAST_ERROR_MAX] = "";
  snprintf(delivery_id, sizeof delivery_id, "%s:%s-%s", org, first, last);
  const char *reason = NULL;
  enum webhook_url_kind kind = webhook_url_check(url, s->allow_http_loopback, &reason);
  enum outcome outcome = OUTCOME_FAILED;
  if (atomic_load(&w->stopping))
    outcome = OUTCOME_ABANDONED; /* leased as the service began to stop */
  else if (kind == WEBHOOK_URL_BAD)
    snprintf(error, LAST_ERROR_MAX, "the URL is no longer allowed: it %s", reason);
  else if (!webhook_signature(secret, (long long)time(NULL), body, strlen(body), signature))
    snprintf(error, LAST_ERROR_MAX, "the service could not sign the delivery");
  else
    outcome = post(w, url, kind, body, strlen(body), signature, delivery_id, error);

  if (outcome == OUTCOME_ABANDONED) {
    exec_ok(t, "release", RELEASE_SQL, 2, (const char *const[]){org, lease}, NULL);
    round = ROUND_IDLE;
  } else if (outcome == OUTCOME_ACKNOWLEDGED) {
    if (exec_ok(t, "delivered", DELIVERED_SQL, 3, (const char *const[]){org, lease, last}, NULL)) {
      round = ROUND_WORKED;
      log_outcome(LOG_INFO, "webhook delivered", org, url, first, last, NULL);
    }
  } else {
    long long wait = webhook_backoff_ms(failures + 1, s->backoff_base_ms, s->backoff_cap_ms);
    char wait_text[24];
    snprintf(wait_text, sizeof wait_text, "%lld", wait);
    if (exec_ok(t, "failed", FAILED_SQL, 4, (const char *const[]){org, lease, error, wait_text},
                &failed)) {
      round = ROUND_WORKED;
      log_outcome(LOG_WARN, "webhook delivery failed", org, url, first, last,
                  json_pack("{s:s, s:i, s:I}", "error", error, "failures", failures + 1,
                            "retry_in_ms", (json_int_t)wait));
    }
  }
done:
  PQclear(claim);
  PQclear(events);
  PQclear(failed);
  return round;
}

/* -- threads ---------------------------------------------------------------------------------- */

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
  struct delivery_thread *t = arg;
  struct webhooks *w = t->owner;
  int failures = 0;
  while (!atomic_load(&w->stopping)) {
    enum round round = deliver_one(t);
    if (round == ROUND_WORKED) { /* there may be more: at once */
      failures = 0;
      continue;
    }
    failures = round == ROUND_FAILED ? failures + 1 : 0;
    long steps = 1;
    for (int i = 0; i < failures && steps < MAX_BACKOFF_STEPS; i++) steps *= 2;
    if (steps > MAX_BACKOFF_STEPS) steps = MAX_BACKOFF_STEPS;
    struct timespec deadline;
    deadline_after(steps * w->settings.poll_ms, &deadline);
    pthread_mutex_lock(&w->mutex);
    while (!atomic_load(&w->stopping) &&
           pthread_cond_timedwait(&w->wake, &w->mutex, &deadline) != ETIMEDOUT) {
    }
    pthread_mutex_unlock(&w->mutex);
  }
  PQfinish(t->pg);
  t->pg = NULL;
  return NULL;
}

static void free_webhooks(struct webhooks *w) {
  pthread_cond_destroy(&w->wake);
  pthread_mutex_destroy(&w->mutex);
  free(w->conninfo);
  free(w);
}

struct webhooks *webhooks_start(const char *conninfo, const struct webhook_settings *settings) {
  if (settings->threads <= 0) {
    log_message(LOG_INFO, "webhook deliveries are off in this instance "
                          "(CARECOORD_WEBHOOK_THREADS=0)");
    return NULL;
  }
  struct webhooks *w =
      calloc(1, sizeof *w + (size_t)settings->threads * sizeof(struct delivery_thread));
  if (!w) return NULL;
  w->conninfo = strdup(conninfo);
  if (!w->conninfo) {
    free(w);
    return NULL;
  }
  w->settings = *settings;
  atomic_init(&w->stopping, false);
  pthread_mutex_init(&w->mutex, NULL);
  pthread_condattr_t attr;
  pthread_condattr_init(&attr);
  pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
  pthread_cond_init(&w->wake, &attr);
  pthread_condattr_destroy(&attr);
  /* The threads take no signals: SIGTERM and SIGINT are the serving thread's to wait for, and a
   * receiver closing its connection must not raise SIGPIPE here. */
  sigset_t all, previous;
  sigfillset(&all);
  pthread_sigmask(SIG_SETMASK, &all, &previous);
  for (int i = 0; i < settings->threads; i++) {
    w->threads[w->count].owner = w;
    if (pthread_create(&w->threads[w->count].thread, NULL, run, &w->threads[w->count]) != 0) {
      log_message(LOG_ERROR, "cannot start webhook delivery thread %d", i + 1);
      continue;
    }
    w->count++;
  }
  pthread_sigmask(SIG_SETMASK, &previous, NULL);
  if (w->count == 0) {
    log_message(LOG_ERROR, "no webhook delivery thread started; events wait in the outbox");
    free_webhooks(w);
    return NULL;
  }
  return w;
}

void webhooks_stop(struct webhooks *w) {
  if (!w) return;
  pthread_mutex_lock(&w->mutex);
  atomic_store(&w->stopping, true);
  pthread_cond_broadcast(&w->wake);
  pthread_mutex_unlock(&w->mutex);
  for (int i = 0; i < w->count; i++) pthread_join(w->threads[i].thread, NULL);
  free_webhooks(w);
}
