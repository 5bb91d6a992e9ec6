/* The server's open connections: each request's deadline, and which requests were under way
 * when the drain began.
 *
 * libmicrohttpd's CARECOORD_CONNECTION_TIMEOUT_S counts idleness only: a client that sends a
 * header line now and then (slowloris) keeps its connection, and a slot of
 * CARECOORD_MAX_CONNECTIONS, for ever. Here a connection gets CARECOORD_CONNECTION_TIMEOUT_S to
 * deliver each whole request (head and body), counted from its opening or from the end of the
 * previous response; a watchdog thread shuts down the socket of one that overruns, which
 * libmicrohttpd then closes like any connection its client closed. Handling a request and
 * sending its response are not subject to the deadline (the statement timeout bounds the first;
 * libmicrohttpd's idle timeout a client that stops reading).
 *
 * On SIGTERM the server waits for requests already arriving (connections_arriving) as well as
 * those in flight, and serves the ones that began before the drain. */
#ifndef CARECOORD_CONNECTIONS_H
#define CARECOORD_CONNECTIONS_H

#include <stdbool.h>
#include <sys/socket.h>

#include <microhttpd.h>

struct connections;

struct metrics;

/* NULL when out of memory or the watchdog thread cannot start. The metrics get the number of
 * open connections, of requests arriving and of connections timed out. */
struct connections *connections_new(int request_timeout_s, struct metrics *metrics);
/* Stops the watchdog; call after the HTTP daemon has stopped (every connection closed). */
void connections_free(struct connections *conns);

/* libmicrohttpd callbacks (cls: the struct connections). The last two call Ulfius' own
 * (ulfius_uri_logger, mhd_request_completed), which Ulfius requires in these places. */
void connections_notify(void *cls, struct MHD_Connection *connection, void **socket_context,
                        enum MHD_ConnectionNotificationCode code);
void *connections_uri_logged(void *cls, const char *uri, struct MHD_Connection *connection);
void connections_request_completed(void *cls, struct MHD_Connection *connection, void **con_cls,
                                   enum MHD_RequestTerminationCode toe);

/* The request from this peer has arrived whole and is about to be handled: its deadline no
 * longer applies. Returns true if it began to arrive before connections_drain(). */
bool connections_request_arrived(struct connections *conns, const struct sockaddr *peer);

/* From now on, requests that begin to arrive are not "before the drain". */
void connections_drain(struct connections *conns);
/* Requests that have begun to arrive but are not yet handled. */
int connections_arriving(struct connections *conns);

#endif
