#include "http/server.h"

#include <arpa/inet.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <openssl/rand.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "auth/jwt.h"
#include "http/body.h"
#include "http/connections.h"
#include "http/metrics.h"
#include "http/router.h"
#include "log.h"

/* Per connection: the request line and headers (a bearer token is at most 8 KiB) and the
 * response headers. Bodies do not live here. 1,000 idle keep-alive connections cost 1,000 times
 * the part of it a request touched. */
#define CONNECTION_MEMORY_BYTES 16384
/* Descriptors beyond the connections: listener, epoll sets, database pool, sealer, logs. */
#define SPARE_DESCRIPTORS 128
/* HTTPS (CARECOORD_TLS_*): GnuTLS priorities allowing TLS 1.3 and 1.2 only, and within TLS 1.2
 * only forward-secret key exchange (no static RSA) with AEAD ciphers (no CBC). */
static const char TLS_PRIORITIES[] =
    "NORMAL:-VERS-ALL:+VERS-TLS1.3:+VERS-TLS1.2:-RSA:-CIPHER-ALL:+AES-256-GCM:+AES-128-GCM:"
    "+CHACHA20-POLY1305";
/* Strict-Transport-Security when serving HTTPS: one year. */
#define HSTS_VALUE "max-age=31536000"
/* Warn at start-up when the certificate expires within this many days. */
#define CERT_EXPIRY_WARNING_DAYS 30

struct server {
  const struct app *app;
  struct connections *conns;
  atomic_int draining;
  pthread_mutex_t mutex;
  pthread_cond_t idle;
  long in_flight; /* requests dispatched whose response has not finished sending */
};

static void in_flight_begin(struct server *srv) {
  pthread_mutex_lock(&srv->mutex);
  srv->in_flight++;
  pthread_mutex_unlock(&srv->mutex);
  metrics_in_flight(srv->app->metrics, 1);
}

/* The reply's body has been sent, or dropped with its connection (http/exchange.c), on
 * whichever worker thread that happened. */
static void in_flight_end(void *arg) {
  struct server *srv = arg;
  metrics_in_flight(srv->app->metrics, -1);
  pthread_mutex_lock(&srv->mutex);
  if (--srv->in_flight == 0) pthread_cond_broadcast(&srv->idle);
  pthread_mutex_unlock(&srv->mutex);
}

static void mhd_log(void *cls, const char *fmt, va_list ap) {
  (void)cls;
  char buf[512];
  vsnprintf(buf, sizeof buf, fmt, ap);
  buf[strcspn(buf, "\n")] = '\0';
  log_event(LOG_WARN, "http library", json_pack("{s:s}", "detail", buf));
}

static bool request_id_is_acceptable(const char *id) {
  size_t len = id ? strlen(id) : 0;
  if (len == 0 || len > REQUEST_ID_MAX) return false;
  return strspn(id, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._-") == len;
}

static void assign_request_id(struct exchange *x) {
  const char *incoming = exchange_header(x, "X-Request-Id");
  if (request_id_is_acceptable(incoming)) {
    snprintf(x->request_id, sizeof x->request_id, "%s", incoming);
    return;
  }
  unsigned char bytes[16] = {0};
  RAND_bytes(bytes, sizeof bytes);
  for (size_t i = 0; i < sizeof bytes; i++) snprintf(x->request_id + 2 * i, 3, "%02x", bytes[i]);
}

static void assign_client_address(struct exchange *x) {
  const struct sockaddr *addr = x->request->client_address;
  snprintf(x->client_address, sizeof x->client_address, "unknown");
  if (addr && addr->sa_family == AF_INET)
    inet_ntop(AF_INET, &((const struct sockaddr_in *)addr)->sin_addr, x->client_address,
              sizeof x->client_address);
}

static bool query_is_allowed(const struct route *route, const char *name) {
  for (const char *const *q = route->query; q && *q; q++)
    if (strcmp(*q, name) == 0) return true;
  return false;
}

/* Unknown query parameters are refused: a misspelt filter must not silently widen a list. */
static bool check_query(struct exchange *x) {
  const struct _u_map *map = x->request->map_url;
  const char **keys = u_map_enum_keys(map);
  for (size_t i = 0; keys && keys[i]; i++) {
    if (!query_is_allowed(x->route, keys[i])) {
      reply_problem(x, CC_BAD_REQUEST, "Unknown query parameter; this route accepts %s.",
                    x->route->query ? "only its documented filters" : "no query parameters");
      return false;
    }
  }
  return true;
}

/* The parser's own account of a syntax error, except where it would name the parser's flags. */
static const char *json_error_reason(const json_error_t *error) {
  if (json_error_code(error) == json_error_null_character)
    return "\\u0000 is not allowed in a string";
  return error->text;
}

static bool parse_body(struct exchange *x) {
  const char *type = exchange_header(x, "Content-Type");
  bool json = type && media_type_is(type, "application/json");
  bool merge = type && (x->route->flags & ROUTE_MERGE_PATCH) &&
               media_type_is(type, "application/merge-patch+json");
  if (!json && !merge) {
    reply_problem(x, CC_UNSUPPORTED_MEDIA_TYPE, "Send the body as application/json%s.",
                  (x->route->flags & ROUTE_MERGE_PATCH) ? " or application/merge-patch+json" : "");
    return false;
  }
  json_error_t error;
  switch (body_parse_object(x->request->binary_body, x->request->binary_body_length, &x->body,
                            &error)) {
  case BODY_OK:
    return true;
  case BODY_EMPTY:
    reply_problem(x, CC_MALFORMED_JSON, "A JSON object body is required.");
    return false;
  case BODY_TOO_DEEP:
    reply_problem(x, CC_MALFORMED_JSON, "JSON nesting is deeper than %d levels.", BODY_MAX_DEPTH);
    return false;
  case BODY_INVALID:
    reply_problem(x, CC_MALFORMED_JSON, "Invalid JSON at line %d, column %d: %s", error.line,
                  error.column, json_error_reason(&error));
    return false;
  case BODY_NOT_OBJECT:
    break;
  }
  reply_problem(x, CC_MALFORMED_JSON, "The request body must be a JSON object.");
  return false;
}

/* 401 for a missing or invalid token: RFC 6750 names the error only when a token was sent. */
static bool authenticate(struct exchange *x) {
  const char *header = exchange_header(x, "Authorization");
  const char *reason = "no bearer token";
  if (header && strncasecmp(header, "Bearer ", 7) == 0) {
    const char *token = header + 7;
    while (*token == ' ') token++;
    if (verifier_check(x->app->verifier, token, time(NULL), &x->principal, &reason) ==
        TOKEN_VALID) {
      x->actor.subject = x->principal.subject;
      x->actor.roles = x->principal.roles_literal;
      return true;
    }
  }
  log_event(LOG_WARN, "Security - token refused",
            json_pack("{s:s, s:s, s:s}", "request_id", x->request_id, "reason", reason,
                      "client_address", x->client_address));
  reply_header(x, "WWW-Authenticate",
               header ? "Bearer realm=\"carecoord\", error=\"invalid_token\""
                      : "Bearer realm=\"carecoord\"");
  reply_problem(x, CC_UNAUTHORIZED, "A valid bearer token is required.");
  return false;
}

/* A refusal concerning a person's record is itself audited (R-AUD-1), in its own transaction. */
static void audit_refusal(struct exchange *x) {
  struct tx tx;
  struct audit_event event = {.action = "deny", .resource_type = x->route->path,
                              .resource_id = x->param_count ? x->params[0] : NULL,
                              .outcome = "denied"};
  if (tx_begin(x->app->pool, &tx) == CC_OK &&
      audit_append(&tx, &x->actor, &event) == CC_OK)
    tx_commit(&tx);
  tx_end(&tx);
}

static bool authorise(struct exchange *x) {
  if (x->principal.roles & x->route->roles) return true;
  log_event(LOG_WARN, "Security - role refused",
            json_pack("{s:s, s:s, s:s}", "request_id", x->request_id, "actor",
                      x->principal.subject, "route", x->route->path));
  if (x->route->flags & ROUTE_PERSON_RECORD) audit_refusal(x);
  reply_problem(x, CC_FORBIDDEN, "Your role does not allow this action.");
  return false;
}

/* Whether the body's length was stated in exactly one way. Two Content-Length headers (which
 * reach us joined by a comma), or Content-Length beside Transfer-Encoding, let a proxy in front
 * and this server disagree about where a request ends, and so smuggle a second request inside
 * the first (RFC 9112 section 6.3). The HTTP library has already framed the body by one of them,
 * so the reply also closes the connection: whatever follows on it is never read as a request. */
static bool framing_is_unambiguous(struct exchange *x) {
  const char *length = exchange_header(x, "Content-Length");
  const char *encoding = exchange_header(x, "Transfer-Encoding");
  bool ambiguous = (length && encoding) ||
                   (length && (!*length || strspn(length, "0123456789") != strlen(length)));
  if (!ambiguous) return true;
  reply_header(x, "Connection", "close");
  reply_problem(x, CC_BAD_REQUEST,
                "Give the body's length once: one Content-Length, or Transfer-Encoding alone.");
  return false;
}

static void route_request(struct exchange *x) {
  char allow[128];
  enum route_match match =
      route_find(ROUTES, ROUTE_COUNT, x->request->http_verb, x->request->url_path, &x->route,
                 x->params, &x->param_count, allow, sizeof allow);
  if (match == MATCH_NO_PATH) {
    reply_problem(x, CC_NOT_FOUND, "There is no resource at this path.");
    return;
  }
  if (match == MATCH_WRONG_METHOD) {
    reply_header(x, "Allow", allow);
    reply_problem(x, CC_METHOD_NOT_ALLOWED, "This resource allows %s.", allow);
    return;
  }
  if (x->request->binary_body_length > x->app->config->max_body_bytes) {
    reply_problem(x, CC_PAYLOAD_TOO_LARGE, "Request bodies are limited to %zu bytes.",
                  x->app->config->max_body_bytes);
    return;
  }
  if (!(x->route->flags & ROUTE_PUBLIC) && (!authenticate(x) || !authorise(x))) return;
  if (!check_query(x)) return;
  if (!(x->route->flags & ROUTE_JSON_BODY) && x->request->binary_body_length > 0) {
    /* Whatever it holds could only be ignored, and a caller must not believe it was applied. */
    reply_problem(x, CC_BAD_REQUEST, "This request takes no body.");
    return;
  }
  if ((x->route->flags & ROUTE_JSON_BODY) && !parse_body(x)) return;
  x->route->handler(x);
}

static long elapsed_us(const struct timespec *start) {
  struct timespec now;
  clock_gettime(CLOCK_MONOTONIC, &now);
  return (now.tv_sec - start->tv_sec) * 1000000L + (now.tv_nsec - start->tv_nsec) / 1000L;
}

static void finish(struct server *srv, struct exchange *x, const struct timespec *start) {
  if (!x->status) reply_problem(x, CC_INTERNAL, "The request could not be completed.");
  reply_header(x, "X-Request-Id", x->request_id);
  reply_header(x, "Cache-Control", "no-store");
  reply_header(x, "X-Content-Type-Options", "nosniff");
  if (srv->app->config->tls_cert_pem) reply_header(x, "Strict-Transport-Security", HSTS_VALUE);
  if (atomic_load(&srv->draining)) reply_header(x, "Connection", "close");

  long us = elapsed_us(start);
  long route_index = x->route ? (long)(x->route - ROUTES) : -1;
  metrics_observe(srv->app->metrics, route_index, x->request->http_verb, x->status, us);
  json_t *fields = json_pack("{s:s, s:s, s:s, s:i, s:f, s:s}", "request_id", x->request_id,
                             "method", x->route ? x->route->method : "-", "route",
                             x->route ? x->route->path : "unmatched", "status", x->status,
                             "duration_ms", (double)us / 1000.0, "actor", x->actor.subject);
  log_event(x->status >= 500 ? LOG_ERROR : LOG_INFO, "request", fields);

  for (size_t i = 0; i < x->param_count; i++) free(x->params[i]);
  json_decref(x->body);
  /* Without a body (out of memory) nothing will report the reply as sent. */
  if (!x->reply_body) in_flight_end(srv);
}

static int dispatch(const struct _u_request *request, struct _u_response *response,
                    void *user_data) {
  struct server *srv = user_data;
  struct timespec start;
  clock_gettime(CLOCK_MONOTONIC, &start);
  in_flight_begin(srv);

  struct exchange x = {.app = srv->app, .request = request, .response = response,
                       .reply_done = in_flight_end, .reply_done_arg = srv};
  assign_request_id(&x);
  assign_client_address(&x);
  x.actor = (struct audit_actor){.subject = "anonymous", .roles = "{}",
                                 .request_id = x.request_id, .client_address = x.client_address};
  /* A request that began to arrive before SIGTERM is served; a later one is refused. */
  bool began_before_drain = connections_request_arrived(srv->conns, request->client_address);
  if (atomic_load(&srv->draining) && !began_before_drain)
    reply_problem(&x, CC_UNAVAILABLE, "The service is shutting down; retry shortly.");
  else if (framing_is_unambiguous(&x))
    route_request(&x);
  finish(srv, &x, &start);
  return U_CALLBACK_COMPLETE;
}

static struct timespec plus_ms(struct timespec t, long ms) {
  t.tv_sec += ms / 1000;
  t.tv_nsec += (ms % 1000) * 1000000L;
  if (t.tv_nsec >= 1000000000L) {
    t.tv_sec++;
    t.tv_nsec -= 1000000000L;
  }
  return t;
}

static bool earlier(const struct timespec *a, const struct timespec *b) {
  return a->tv_sec < b->tv_sec || (a->tv_sec == b->tv_sec && a->tv_nsec < b->tv_nsec);
}

/* Waits until no request is in flight and none is arriving (each ends within the connection
 * timeout), or the drain timeout. The end of a request in flight wakes it; arrivals are polled. */
static void wait_for_idle(struct server *srv, int timeout_s) {
  struct timespec now, deadline;
  clock_gettime(CLOCK_REALTIME, &now);
  deadline = plus_ms(now, timeout_s * 1000L);
  pthread_mutex_lock(&srv->mutex);
  long in_flight;
  int arriving;
  while (((in_flight = srv->in_flight) || (arriving = connections_arriving(srv->conns))) &&
         earlier(&now, &deadline)) {
    struct timespec poll = plus_ms(now, 20);
    pthread_cond_timedwait(&srv->idle, &srv->mutex, earlier(&poll, &deadline) ? &poll : &deadline);
    clock_gettime(CLOCK_REALTIME, &now);
  }
  arriving = connections_arriving(srv->conns);
  pthread_mutex_unlock(&srv->mutex);
  if (in_flight || arriving)
    log_message(LOG_WARN, "drain timed out with %ld requests in flight and %d arriving",
                in_flight, arriving);
}

/* Every connection is a descriptor: lets max_connections in if the hard limit allows it. */
static void raise_descriptor_limit(int max_connections) {
  struct rlimit limit;
  if (getrlimit(RLIMIT_NOFILE, &limit) != 0) return;
  rlim_t wanted = (rlim_t)max_connections + SPARE_DESCRIPTORS;
  if (limit.rlim_cur >= wanted) return;
  limit.rlim_cur = limit.rlim_max == RLIM_INFINITY || limit.rlim_max >= wanted ? wanted
                                                                               : limit.rlim_max;
  if (setrlimit(RLIMIT_NOFILE, &limit) != 0 || limit.rlim_cur < wanted)
    log_message(LOG_WARN,
                "CARECOORD_MAX_CONNECTIONS=%d needs %lu open files but the limit is %lu: raise "
                "the hard limit (ulimit -Hn) or lower the setting",
                max_connections, (unsigned long)wanted, (unsigned long)limit.rlim_cur);
}

static void warn_if_certificate_expires(const struct config *cfg) {
  long long left = cfg->tls_not_after - (long long)time(NULL);
  if (left < 0)
    log_message(LOG_WARN, "the TLS certificate in CARECOORD_TLS_CERT_FILE has expired: clients "
                          "will refuse it");
  else if (left < CERT_EXPIRY_WARNING_DAYS * 86400LL)
    log_message(LOG_WARN, "the TLS certificate in CARECOORD_TLS_CERT_FILE expires in %lld days",
                left / 86400);
}

int server_run(const struct app *app) {
  const struct config *cfg = app->config;
  struct server srv = {.app = app};
  pthread_mutex_init(&srv.mutex, NULL);
  pthread_cond_init(&srv.idle, NULL);

  /* Signals are taken synchronously by this thread; every thread started from here on
   * inherits the mask. */
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &signals, NULL);
  signal(SIGPIPE, SIG_IGN);

  srv.conns = connections_new(cfg->connection_timeout_s, app->metrics);
  if (!srv.conns) {
    log_message(LOG_ERROR, "cannot start the connection watchdog");
    return 1;
  }

  struct sockaddr_in bind_address = {.sin_family = AF_INET, .sin_port = htons((uint16_t)cfg->port)};
  inet_pton(AF_INET, cfg->listen_address, &bind_address.sin_addr);
  struct _u_instance instance;
  if (ulfius_init_instance(&instance, (unsigned)cfg->port, &bind_address, NULL) != U_OK) {
    log_message(LOG_ERROR, "cannot initialise the HTTP server");
    connections_free(srv.conns);
    return 1;
  }
  /* Ulfius truncates a body at this size: one byte over the limit tells us it was too big
   * without ever holding more. */
  instance.max_post_body_size = cfg->max_body_bytes + 1;
  instance.check_utf8 = 0; /* we validate ourselves instead of silently dropping values */
  ulfius_set_default_endpoint(&instance, dispatch, &srv);

  bool tls = cfg->tls_cert_pem != NULL;
  struct MHD_OptionItem options[16];
  size_t n = 0;
  options[n++] = (struct MHD_OptionItem){MHD_OPTION_EXTERNAL_LOGGER, (intptr_t)mhd_log, NULL};
  /* Ulfius' own callbacks, called by the connection watch (http/connections.h). */
  options[n++] = (struct MHD_OptionItem){MHD_OPTION_NOTIFY_COMPLETED,
                                         (intptr_t)connections_request_completed, srv.conns};
  options[n++] = (struct MHD_OptionItem){MHD_OPTION_URI_LOG_CALLBACK,
                                         (intptr_t)connections_uri_logged, srv.conns};
  options[n++] = (struct MHD_OptionItem){MHD_OPTION_NOTIFY_CONNECTION,
                                         (intptr_t)connections_notify, srv.conns};
  options[n++] = (struct MHD_OptionItem){MHD_OPTION_SOCK_ADDR, 0, &bind_address};
  options[n++] = (struct MHD_OptionItem){MHD_OPTION_CONNECTION_LIMIT, cfg->max_connections, NULL};
  options[n++] = (struct MHD_OptionItem){MHD_OPTION_CONNECTION_TIMEOUT, cfg->connection_timeout_s,
                                         NULL};
  options[n++] = (struct MHD_OptionItem){MHD_OPTION_THREAD_POOL_SIZE, cfg->http_threads, NULL};
  options[n++] = (struct MHD_OptionItem){MHD_OPTION_CONNECTION_MEMORY_LIMIT,
                                         CONNECTION_MEMORY_BYTES, NULL};
  /* A fixed pool of worker threads, each serving its connections from epoll (README
   * "Threading model"). */
  unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL | MHD_USE_ITC |
                   MHD_USE_ERROR_LOG;
  if (tls) {
    /* ulfius_start_secure_framework takes a certificate and key but no priorities, and
     * imposes its own threading: libmicrohttpd gets them here instead. */
    flags |= MHD_USE_TLS;
    options[n++] = (struct MHD_OptionItem){MHD_OPTION_HTTPS_MEM_CERT, 0, cfg->tls_cert_pem};
    options[n++] = (struct MHD_OptionItem){MHD_OPTION_HTTPS_MEM_KEY, 0, cfg->tls_key_pem};
    options[n++] = (struct MHD_OptionItem){MHD_OPTION_HTTPS_PRIORITIES, 0,
                                           (void *)TLS_PRIORITIES};
    warn_if_certificate_expires(cfg);
  }
  options[n++] = (struct MHD_OptionItem){MHD_OPTION_END, 0, NULL};
  raise_descriptor_limit(cfg->max_connections);
  if (ulfius_start_framework_with_mhd_options(&instance, flags, options) != U_OK) {
    log_message(LOG_ERROR, "cannot listen on %s:%d (in use, or not permitted%s)",
                cfg->listen_address, cfg->port,
                tls ? ", or the TLS certificate and key were refused" : "");
    ulfius_clean_instance(&instance);
    connections_free(srv.conns);
    return 1;
  }
  log_event(LOG_INFO, "listening",
            json_pack("{s:s, s:s, s:i, s:i, s:i, s:i}", "scheme", tls ? "https" : "http",
                      "address", cfg->listen_address, "port", cfg->port, "max_connections",
                      cfg->max_connections, "http_threads", cfg->http_threads, "db_pool_size",
                      cfg->db_pool_size));

  int signal_number = 0;
  sigwait(&signals, &signal_number);
  log_event(LOG_INFO, "draining", json_pack("{s:i}", "signal", signal_number));
  atomic_store(&srv.draining, 1);
  connections_drain(srv.conns);
  /* Stop accepting: new connections are refused while in-flight requests finish. */
  MHD_socket listener = MHD_quiesce_daemon(instance.mhd_daemon);
  if (listener != MHD_INVALID_SOCKET) close(listener);
  wait_for_idle(&srv, cfg->drain_timeout_s);
  ulfius_stop_framework(&instance);
  ulfius_clean_instance(&instance);
  connections_free(srv.conns);
  pthread_cond_destroy(&srv.idle);
  pthread_mutex_destroy(&srv.mutex);
  log_message(LOG_INFO, "stopped");
  return 0;
}
