/* The HTTP server.
 *
 * Threading model: one thread per connection (libmicrohttpd's THREAD_PER_CONNECTION with
 * poll(), so descriptors above FD_SETSIZE are fine), with a connection limit and an idle
 * timeout. Almost all of a request's time is spent waiting on PostgreSQL, and libpq blocks;
 * in an event-loop worker a blocking query would stall every other connection on that worker,
 * including health checks. A thread per connection keeps a slow query's cost on its own
 * connection, while the database pool (not the thread count) bounds concurrent work on the
 * database. Idle keep-alive threads cost a little memory (their stacks are mostly untouched
 * virtual memory), bounded by the connection limit.
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
