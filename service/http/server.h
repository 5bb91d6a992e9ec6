/* The HTTP server.
 *
 * Threading model (README "Threading model"): libmicrohttpd's fixed pool of
 * CARECOORD_HTTP_THREADS worker threads, each serving the connections it accepted from its own
 * epoll set, within CARECOORD_MAX_CONNECTIONS. A request runs start to finish on its worker,
 * blocking on PostgreSQL; the database pool, not the number of workers, bounds concurrent work
 * on the database. An idle connection is closed after CARECOORD_CONNECTION_TIMEOUT_S, and so is
 * one that has not delivered a whole request within that time, however slowly it sends
 * (http/connections.h).
 *
 * Routing: Ulfius' default endpoint receives every request and the dispatcher matches it
 * against the route table itself, so that 404 and 405 (with Allow) are decided from the same
 * table, and the pipeline (request id, size limit, JSON parsing, authentication, handler,
 * logging, metrics) runs in one place for every route. */
#ifndef CARECOORD_SERVER_H
#define CARECOORD_SERVER_H

#include "http/exchange.h"

/* Serves until SIGTERM or SIGINT, then drains in-flight requests and returns 0
 * (non-zero if the server could not start). */
int server_run(const struct app *app);

#endif
