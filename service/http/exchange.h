/* One HTTP request and its response as the resource handlers see it: parsed path parameters,
 * the JSON body, the caller, and reply helpers. Handlers never touch Ulfius directly, never
 * format problem documents themselves, and reply exactly once. */
#ifndef CARECOORD_EXCHANGE_H
#define CARECOORD_EXCHANGE_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <ulfius.h>

#include "audit/audit.h"
#include "auth/principal.h"
#include "config.h"
#include "db/db.h"
#include "http/problem.h"

#define REQUEST_ID_MAX 128
#define ROUTE_MAX_PARAMS 4

struct extract_limit;
struct metrics;
struct route;
struct verifier;

/* Built once at start-up and shared read-only by every request. */
struct app {
  const struct config *config;
  struct db_pool *pool;      /* the primary: writes, clinical reads, every audit event */
  struct db_pool *read_pool; /* report and extract queries: the pool of CARECOORD_READ_DATABASE_URL,
                                or the same as pool when it is not set */
  struct metrics *metrics;
  const struct verifier *verifier;
  struct extract_limit *extract_limit; /* extracts streaming now (resources/extracts.c) */
};

struct exchange {
  const struct app *app;
  const struct _u_request *request;
  struct _u_response *response;
  const struct route *route;
  char *params[ROUTE_MAX_PARAMS]; /* path parameters in template order (owned) */
  size_t param_count;
  json_t *body; /* the JSON object body, for routes that take one (owned) */
  char request_id[REQUEST_ID_MAX + 1];
  char client_address[64];
  struct principal principal; /* the caller, once authenticated */
  struct audit_actor actor;
  int status; /* HTTP status replied, 0 until a reply */
  /* Called once the reply has been sent, or abandoned with its connection: the server's count
   * of requests in flight (http/server.c). */
  void (*reply_done)(void *arg);
  void *reply_done_arg;
  struct reply_body *reply_body; /* set by the last reply (owned by the response) */
};

const char *exchange_header(const struct exchange *x, const char *name);
const char *exchange_query(const struct exchange *x, const char *name);

void reply_header(struct exchange *x, const char *name, const char *value);
void reply_text(struct exchange *x, int http_status, const char *content_type, const char *text);
/* Replies with len bytes at data as they are, without copying them: data must outlive every
 * response (static data, such as the embedded API reference). */
void reply_static(struct exchange *x, int http_status, const char *content_type,
                  const void *data, size_t len);
/* Replies with JSON text as it is (e.g. built by PostgreSQL). */
void reply_json_text(struct exchange *x, int http_status, const char *json_text);
/* 204 No Content: no body, no Content-Type. */
void reply_no_content(struct exchange *x);
/* Replies with a JSON value; steals the reference. */
void reply_json(struct exchange *x, int http_status, json_t *body);
/* reply_json as another JSON media type (e.g. application/fhir+json); takes body too. */
void reply_json_as(struct exchange *x, int http_status, const char *content_type, json_t *body);
void reply_problem(struct exchange *x, enum cc_status status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
void reply_validation(struct exchange *x, const struct field_errors *errors);
/* 400 bad-request naming the offending query parameters in errors (field: the parameter's
 * name). */
void reply_bad_request(struct exchange *x, const struct field_errors *errors, const char *fmt,
                       ...) __attribute__((format(printf, 3, 4)));

/* Produces the next piece of a streamed body into buf (at most max bytes): returns how many
 * bytes, U_STREAM_END after the last, or U_STREAM_ERROR to abort the response (the client sees
 * it cut short). */
typedef ssize_t (*reply_stream_read_fn)(void *stream, char *buf, size_t max);
/* Replies with a body of unknown length sent as it is produced (chunked), by read on the worker
 * thread that sends it, which may block. release(stream) is called exactly once when the response
 * is finished with: sent in full, aborted, or dropped with its connection (a client that goes
 * away mid-stream); it frees what stream holds. On false nothing was installed and the caller
 * still owns stream. */
bool reply_stream(struct exchange *x, int http_status, const char *content_type,
                  reply_stream_read_fn read, void (*release)(void *stream), void *stream);
/* Sets ETag: "<version>". */
void reply_etag(struct exchange *x, const char *version);

/* Query parameters. On a bad value these reply 400 themselves and return CC_BAD_REQUEST. */
enum cc_status query_limit(struct exchange *x, int *limit);
enum cc_status query_text(struct exchange *x, const char *name, size_t max_chars, const char **out);
enum cc_status query_uuid(struct exchange *x, const char *name, const char **out);

/* The version named by If-Match ("<n>"). Replies 428 when absent and 412 when it cannot match
 * any version, returning that status. */
enum cc_status exchange_if_match(struct exchange *x, long *version);

#endif
