#include "http/metrics.h"

#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "http/router.h"

static const int STATUSES[] = {200, 201, 204, 400, 401, 403, 404, 405, 409,
                               412, 413, 415, 422, 428, 500, 503, 0 /* other */};
#define STATUS_SLOTS (sizeof STATUSES / sizeof STATUSES[0])
static const char *const METHODS[] = {"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE",
                                      "OPTIONS", "TRACE", "other"};
#define METHOD_SLOTS (sizeof METHODS / sizeof METHODS[0])
static const double BUCKETS[] = {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5};
#define BUCKET_COUNT (sizeof BUCKETS / sizeof BUCKETS[0])

struct histogram {
  atomic_ulong buckets[BUCKET_COUNT + 1]; /* last is +Inf */
  atomic_ulong sum_us;
};

struct metrics {
  size_t route_count;
  atomic_ulong *by_route;     /* [route][status slot] */
  atomic_ulong *unmatched;    /* [method slot][status slot] */
  struct histogram *latency;  /* [route], plus one for unmatched */
  atomic_long in_flight;
  atomic_long connections, arriving; /* open connections; requests arriving on them */
  atomic_ulong timed_out;            /* connections closed for sending no whole request in time */
};

struct metrics *metrics_new(size_t route_count) {
  struct metrics *m = calloc(1, sizeof *m);
  if (!m) return NULL;
  m->route_count = route_count;
  m->by_route = calloc(route_count * STATUS_SLOTS, sizeof *m->by_route);
  m->unmatched = calloc(METHOD_SLOTS * STATUS_SLOTS, sizeof *m->unmatched);
  m->latency = calloc(route_count + 1, sizeof *m->latency);
  if (!m->by_route || !m->unmatched || !m->latency) {
    metrics_free(m);
    return NULL;
  }
  return m;
}

void metrics_free(struct metrics *m) {
  if (!m) return;
  free(m->by_route);
  free(m->unmatched);
  free(m->latency);
  free(m);
}

static size_t status_slot(int status) {
  for (size_t i = 0; i + 1 < STATUS_SLOTS; i++)
    if (STATUSES[i] == status) return i;
  return STATUS_SLOTS - 1;
}

static size_t method_slot(const char *method) {
  for (size_t i = 0; i + 1 < METHOD_SLOTS; i++)
    if (strcmp(METHODS[i], method) == 0) return i;
  return METHOD_SLOTS - 1;
}

void metrics_observe(struct metrics *m, long route_index, const char *method, int status,
                     long duration_us) {
  size_t slot = status_slot(status);
  struct histogram *h;
  if (route_index >= 0 && (size_t)route_index < m->route_count) {
    atomic_fetch_add(&m->by_route[(size_t)route_index * STATUS_SLOTS + slot], 1);
    h = &m->latency[route_index];
  } else {
    atomic_fetch_add(&m->unmatched[method_slot(method) * STATUS_SLOTS + slot], 1);
    h = &m->latency[m->route_count];
  }
  double seconds = (double)duration_us / 1e6;
  size_t b = 0;
  while (b < BUCKET_COUNT && seconds > BUCKETS[b]) b++;
  atomic_fetch_add(&h->buckets[b], 1);
  atomic_fetch_add(&h->sum_us, (unsigned long)(duration_us > 0 ? duration_us : 0));
}

void metrics_in_flight(struct metrics *m, int delta) { atomic_fetch_add(&m->in_flight, delta); }

void metrics_connections(struct metrics *m, int open_delta, int arriving_delta,
                         unsigned timed_out) {
  atomic_fetch_add(&m->connections, open_delta);
  atomic_fetch_add(&m->arriving, arriving_delta);
  atomic_fetch_add(&m->timed_out, timed_out);
}

struct text {
  char *data;
  size_t len, cap;
};

static void append(struct text *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void append(struct text *t, const char *fmt, ...) {
  for (;;) {
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(t->data ? t->data + t->len : NULL, t->data ? t->cap - t->len : 0, fmt, ap);
    va_end(ap);
    if (n < 0) return;
    if (t->data && t->len + (size_t)n < t->cap) {
      t->len += (size_t)n;
      return;
    }
    size_t cap = (t->cap ? t->cap * 2 : 8192) + (size_t)n;
    char *grown = realloc(t->data, cap);
    if (!grown) return;
    t->data = grown;
    t->cap = cap;
  }
}

static void render_histogram(struct text *t, const char *method, const char *route,
                             struct histogram *h) {
  unsigned long cumulative = 0;
  for (size_t b = 0; b <= BUCKET_COUNT; b++) {
    cumulative += atomic_load(&h->buckets[b]);
    if (b < BUCKET_COUNT)
      append(t, "carecoord_http_request_duration_seconds_bucket{method=\"%s\",route=\"%s\",le=\"%g\"} %lu\n",
             method, route, BUCKETS[b], cumulative);
    else
      append(t, "carecoord_http_request_duration_seconds_bucket{method=\"%s\",route=\"%s\",le=\"+Inf\"} %lu\n",
             method, route, cumulative);
  }
  append(t, "carecoord_http_request_duration_seconds_sum{method=\"%s\",route=\"%s\"} %.6f\n", method, route,
         (double)atomic_load(&h->sum_us) / 1e6);
  append(t, "carecoord_http_request_duration_seconds_count{method=\"%s\",route=\"%s\"} %lu\n", method, route,
         cumulative);
}

char *metrics_render_new(struct metrics *m, struct db_pool *pool, struct db_pool *read_pool,
                         const struct token_cache_stats *tokens) {
  struct text t = {0};
  append(&t, "# HELP carecoord_http_requests_total HTTP requests by route template and status.\n"
             "# TYPE carecoord_http_requests_total counter\n");
  for (size_t r = 0; r < m->route_count; r++) {
    for (size_t s = 0; s < STATUS_SLOTS; s++) {
      unsigned long n = atomic_load(&m->by_route[r * STATUS_SLOTS + s]);
      if (!n) continue;
      char status[8];
      snprintf(status, sizeof status, "%d", STATUSES[s]);
      append(&t, "carecoord_http_requests_total{method=\"%s\",route=\"%s\",status=\"%s\"} %lu\n",
             ROUTES[r].method, ROUTES[r].path, STATUSES[s] ? status : "other", n);
    }
  }
  for (size_t mi = 0; mi < METHOD_SLOTS; mi++) {
    for (size_t s = 0; s < STATUS_SLOTS; s++) {
      unsigned long n = atomic_load(&m->unmatched[mi * STATUS_SLOTS + s]);
      if (!n) continue;
      char status[8];
      snprintf(status, sizeof status, "%d", STATUSES[s]);
      append(&t,
             "carecoord_http_requests_total{method=\"%s\",route=\"unmatched\",status=\"%s\"} %lu\n",
             METHODS[mi], STATUSES[s] ? status : "other", n);
    }
  }
  append(&t, "# HELP carecoord_http_request_duration_seconds Request latency by route template.\n"
             "# TYPE carecoord_http_request_duration_seconds histogram\n");
  for (size_t r = 0; r < m->route_count; r++)
    render_histogram(&t, ROUTES[r].method, ROUTES[r].path, &m->latency[r]);
  render_histogram(&t, "any", "unmatched", &m->latency[m->route_count]);
  append(&t, "# HELP carecoord_http_requests_in_flight Requests being served.\n"
             "# TYPE carecoord_http_requests_in_flight gauge\n"
             "carecoord_http_requests_in_flight %ld\n",
         atomic_load(&m->in_flight));
  append(&t,
         "# HELP carecoord_http_connections Open HTTP connections (at most CARECOORD_MAX_CONNECTIONS).\n"
         "# TYPE carecoord_http_connections gauge\ncarecoord_http_connections %ld\n"
         "# HELP carecoord_http_requests_arriving Requests whose request line has arrived but not the rest.\n"
         "# TYPE carecoord_http_requests_arriving gauge\ncarecoord_http_requests_arriving %ld\n"
         "# HELP carecoord_http_connections_timed_out_total Connections closed for sending no whole request within CARECOORD_CONNECTION_TIMEOUT_S.\n"
         "# TYPE carecoord_http_connections_timed_out_total counter\n"
         "carecoord_http_connections_timed_out_total %lu\n",
         atomic_load(&m->connections), atomic_load(&m->arriving), atomic_load(&m->timed_out));
  struct db_pool_stats stats;
  db_pool_stats(pool, &stats);
  append(&t,
         "# HELP carecoord_db_pool_size Database connections the pool may hold.\n"
         "# TYPE carecoord_db_pool_size gauge\ncarecoord_db_pool_size %d\n"
         "# HELP carecoord_db_pool_in_use Database connections lent to requests.\n"
         "# TYPE carecoord_db_pool_in_use gauge\ncarecoord_db_pool_in_use %d\n"
         "# HELP carecoord_db_pool_waiting Requests waiting for a database connection.\n"
         "# TYPE carecoord_db_pool_waiting gauge\ncarecoord_db_pool_waiting %d\n",
         stats.size, stats.in_use, stats.waiting);
  if (read_pool) {
    db_pool_stats(read_pool, &stats);
    append(&t,
           "# HELP carecoord_db_read_pool_size Connections the read pool (reports, extracts) may "
           "hold.\n"
           "# TYPE carecoord_db_read_pool_size gauge\ncarecoord_db_read_pool_size %d\n"
           "# HELP carecoord_db_read_pool_in_use Read pool connections lent to requests.\n"
           "# TYPE carecoord_db_read_pool_in_use gauge\ncarecoord_db_read_pool_in_use %d\n"
           "# HELP carecoord_db_read_pool_waiting Requests waiting for a read pool connection.\n"
           "# TYPE carecoord_db_read_pool_waiting gauge\ncarecoord_db_read_pool_waiting %d\n"
           "# HELP carecoord_db_read_pool_on_standby Open read pool sessions on a hot standby.\n"
           "# TYPE carecoord_db_read_pool_on_standby gauge\n"
           "carecoord_db_read_pool_on_standby %d\n",
           stats.size, stats.in_use, stats.waiting, stats.on_standby);
  }
  append(&t,
         "# HELP carecoord_token_cache_hits_total Bearer tokens found already verified.\n"
         "# TYPE carecoord_token_cache_hits_total counter\ncarecoord_token_cache_hits_total %lu\n"
         "# HELP carecoord_token_cache_misses_total Bearer tokens verified in full.\n"
         "# TYPE carecoord_token_cache_misses_total counter\n"
         "carecoord_token_cache_misses_total %lu\n"
         "# HELP carecoord_token_cache_capacity Verified tokens the cache can hold.\n"
         "# TYPE carecoord_token_cache_capacity gauge\ncarecoord_token_cache_capacity %zu\n",
         tokens->hits, tokens->misses, tokens->capacity);
  return t.data;
}
