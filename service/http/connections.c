#include "http/connections.h"

#include <netinet/in.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <ulfius.h>

#include "http/metrics.h"
#include "log.h"

/* How often the watchdog looks for connections past their deadline. */
#define WATCH_INTERVAL_MS 250

enum phase {
  AWAITING, /* ready for a request; nothing of it seen yet */
  ARRIVING, /* its request line has arrived; the rest has not */
  HANDLING, /* the whole request arrived: handled, then answered */
};

struct watched {
  struct watched *prev, *next;
  MHD_socket fd;
  struct sockaddr_in peer; /* zero unless IPv4 (the only kind the server listens for) */
  struct timespec since;   /* CLOCK_MONOTONIC: when it became ready for its request */
  enum phase phase;
  bool began_before_drain;
  bool cut;
};

struct connections {
  int timeout_s;
  struct metrics *metrics;
  pthread_mutex_t mutex;
  pthread_cond_t wake;
  pthread_t thread;
  bool stopping, draining;
  struct watched *head;
  int arriving;
};

static long elapsed_ms(const struct timespec *from, const struct timespec *to) {
  return (to->tv_sec - from->tv_sec) * 1000L + (to->tv_nsec - from->tv_nsec) / 1000000L;
}

/* Shuts down the sockets of connections past their deadline: libmicrohttpd then reads the end
 * of the stream and closes them. Under the mutex, so that no socket is closed (and its number
 * reused) meanwhile: libmicrohttpd reports a connection closed before closing its socket. */
static int cut_overdue(struct connections *conns, const struct timespec *now) {
  int cut = 0;
  for (struct watched *w = conns->head; w; w = w->next) {
    if (w->phase == HANDLING || w->cut || w->fd == MHD_INVALID_SOCKET) continue;
    if (elapsed_ms(&w->since, now) < conns->timeout_s * 1000L) continue;
    shutdown(w->fd, SHUT_RDWR);
    w->cut = true;
    cut++;
  }
  return cut;
}

static void *watch(void *arg) {
  struct connections *conns = arg;
  pthread_mutex_lock(&conns->mutex);
  while (!conns->stopping) {
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    int cut = cut_overdue(conns, &now);
    if (cut) {
      metrics_connections(conns->metrics, 0, 0, (unsigned)cut);
      pthread_mutex_unlock(&conns->mutex);
      log_event(LOG_WARN, "closed connections that sent no whole request in time",
                json_pack("{s:i, s:i}", "connections", cut, "timeout_s", conns->timeout_s));
      pthread_mutex_lock(&conns->mutex);
      continue;
    }
    struct timespec until = now;
    until.tv_nsec += WATCH_INTERVAL_MS * 1000000L;
    if (until.tv_nsec >= 1000000000L) {
      until.tv_sec++;
      until.tv_nsec -= 1000000000L;
    }
    pthread_cond_timedwait(&conns->wake, &conns->mutex, &until);
  }
  pthread_mutex_unlock(&conns->mutex);
  return NULL;
}

struct connections *connections_new(int request_timeout_s, struct metrics *metrics) {
  struct connections *conns = calloc(1, sizeof *conns);
  if (!conns) return NULL;
  conns->timeout_s = request_timeout_s;
  conns->metrics = metrics;
  pthread_mutex_init(&conns->mutex, NULL);
  pthread_condattr_t attr;
  pthread_condattr_init(&attr);
  pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
  pthread_cond_init(&conns->wake, &attr);
  pthread_condattr_destroy(&attr);
  if (pthread_create(&conns->thread, NULL, watch, conns) != 0) {
    pthread_cond_destroy(&conns->wake);
    pthread_mutex_destroy(&conns->mutex);
    free(conns);
    return NULL;
  }
  return conns;
}

void connections_free(struct connections *conns) {
  if (!conns) return;
  pthread_mutex_lock(&conns->mutex);
  conns->stopping = true;
  pthread_cond_signal(&conns->wake);
  pthread_mutex_unlock(&conns->mutex);
  pthread_join(conns->thread, NULL);
  while (conns->head) { /* none once the daemon has stopped; freed all the same */
    struct watched *w = conns->head;
    conns->head = w->next;
    free(w);
  }
  pthread_cond_destroy(&conns->wake);
  pthread_mutex_destroy(&conns->mutex);
  free(conns);
}

/* Under the mutex. */
static void set_phase(struct connections *conns, struct watched *w, enum phase phase) {
  int delta = (phase == ARRIVING) - (w->phase == ARRIVING);
  conns->arriving += delta;
  if (delta) metrics_connections(conns->metrics, 0, delta, 0);
  w->phase = phase;
}

static void unlink_watched(struct connections *conns, struct watched *w) {
  if (w->prev) w->prev->next = w->next;
  else conns->head = w->next;
  if (w->next) w->next->prev = w->prev;
  set_phase(conns, w, AWAITING);
  metrics_connections(conns->metrics, -1, 0, 0);
}

void connections_notify(void *cls, struct MHD_Connection *connection, void **socket_context,
                        enum MHD_ConnectionNotificationCode code) {
  struct connections *conns = cls;
  if (code == MHD_CONNECTION_NOTIFY_CLOSED) {
    struct watched *w = *socket_context;
    if (!w) return;
    pthread_mutex_lock(&conns->mutex);
    unlink_watched(conns, w);
    pthread_mutex_unlock(&conns->mutex);
    free(w);
    *socket_context = NULL;
    return;
  }
  /* Started. Without memory the connection goes unwatched: only the idle timeout applies. */
  struct watched *w = calloc(1, sizeof *w);
  if (!w) return;
  const union MHD_ConnectionInfo *fd =
      MHD_get_connection_info(connection, MHD_CONNECTION_INFO_CONNECTION_FD);
  const union MHD_ConnectionInfo *peer =
      MHD_get_connection_info(connection, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
  w->fd = fd ? fd->connect_fd : MHD_INVALID_SOCKET;
  if (peer && peer->client_addr && peer->client_addr->sa_family == AF_INET)
    memcpy(&w->peer, peer->client_addr, sizeof w->peer);
  clock_gettime(CLOCK_MONOTONIC, &w->since);
  pthread_mutex_lock(&conns->mutex);
  w->next = conns->head;
  if (conns->head) conns->head->prev = w;
  conns->head = w;
  metrics_connections(conns->metrics, 1, 0, 0);
  pthread_mutex_unlock(&conns->mutex);
  *socket_context = w;
}

static struct watched *watched_of(struct MHD_Connection *connection) {
  const union MHD_ConnectionInfo *info =
      MHD_get_connection_info(connection, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
  return info ? info->socket_context : NULL;
}

void *connections_uri_logged(void *cls, const char *uri, struct MHD_Connection *connection) {
  struct connections *conns = cls;
  struct watched *w = watched_of(connection);
  if (w) {
    pthread_mutex_lock(&conns->mutex);
    if (w->phase == AWAITING) {
      set_phase(conns, w, ARRIVING);
      w->began_before_drain = !conns->draining;
    }
    pthread_mutex_unlock(&conns->mutex);
  }
  return ulfius_uri_logger(NULL, uri);
}

void connections_request_completed(void *cls, struct MHD_Connection *connection, void **con_cls,
                                   enum MHD_RequestTerminationCode toe) {
  struct connections *conns = cls;
  mhd_request_completed(NULL, connection, con_cls, toe);
  struct watched *w = watched_of(connection);
  if (!w) return;
  pthread_mutex_lock(&conns->mutex);
  set_phase(conns, w, AWAITING);
  clock_gettime(CLOCK_MONOTONIC, &w->since);
  pthread_mutex_unlock(&conns->mutex);
}

static bool same_peer(const struct sockaddr_in *a, const struct sockaddr_in *b) {
  return a->sin_family == AF_INET && a->sin_port == b->sin_port &&
         a->sin_addr.s_addr == b->sin_addr.s_addr;
}

bool connections_request_arrived(struct connections *conns, const struct sockaddr *peer) {
  struct sockaddr_in from = {0};
  if (peer && peer->sa_family == AF_INET) memcpy(&from, peer, sizeof from);
  pthread_mutex_lock(&conns->mutex);
  bool before_drain = !conns->draining;
  /* The peer's connection whose request is arriving; failing that (its request line was not
   * seen), one awaiting a request. */
  struct watched *found = NULL;
  for (struct watched *w = conns->head; w && from.sin_family == AF_INET; w = w->next) {
    if (w->phase == HANDLING || !same_peer(&w->peer, &from)) continue;
    if (!found || w->phase == ARRIVING) found = w;
    if (w->phase == ARRIVING) break;
  }
  if (found) {
    if (found->phase == ARRIVING) before_drain = found->began_before_drain;
    set_phase(conns, found, HANDLING);
  }
  pthread_mutex_unlock(&conns->mutex);
  return before_drain;
}

void connections_drain(struct connections *conns) {
  pthread_mutex_lock(&conns->mutex);
  conns->draining = true;
  pthread_mutex_unlock(&conns->mutex);
}

int connections_arriving(struct connections *conns) {
  pthread_mutex_lock(&conns->mutex);
  int n = conns->arriving;
  pthread_mutex_unlock(&conns->mutex);
  return n;
}
