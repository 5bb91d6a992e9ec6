/* The server's open connections and each request's deadline.
 *
 * libmicrohttpd's CARECOORD_CONNECTION_TIMEOUT_S counts idleness only: a client that sends a
 * header line now and then (slowloris) keeps its connection, and a slot of
 * CARECOORD_MAX_CONNECTIONS, for ever. Here a connection gets CARECOORD_CONNECTION_TIMEOUT_S to
 * deliver each whole request (head and body), counted from its opening or from the end of the
 * previous response; a watchdog thread shuts down the socket of one that overruns, which
 * libmicrohttpd then closes like any connection its client closed. Handling a request and
 * sending its response are not subject to the deadline (the statement timeout bounds the first;
 * libmicrohttpd's idle timeout a client that stops reading). */
#ifndef CARECOORD_CONNECTIONS_H
#define CARECOORD_CONNECTIONS_H

#include <stdbool.h>
#include <sys/socket.h>

#include <microhttpd.h>

struct connections;

struct metrics;

/* NULL when out of memory or the watchdog thread cannot start. The metrics get the number of
 * open connections and of connections timed out. */
struct connections *connections_new(int request_timeout_s, struct metrics *metrics);
/* Stops the watchdog; call after the HTTP daemon has stopped (every connection closed). */
void connections_free(struct connections *conns);

/* libmicrohttpd callbacks (cls: the struct connections). The second calls Ulfius' own
 * (mhd_request_completed), which Ulfius requires in its place. */
void connections_notify(void *cls, struct MHD_Connection *connection, void **socket_context,
                        enum MHD_ConnectionNotificationCode code);
void connections_request_completed(void *cls, struct MHD_Connection *connection, void **con_cls,
                                   enum MHD_RequestTerminationCode toe);

/* The request from this peer has arrived whole and is about to be handled: its deadline no
 * longer applies. */
void connections_request_arrived(struct connections *conns, const struct sockaddr *peer);

#endif
