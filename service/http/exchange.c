#include "http/exchange.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fields.h"
#include "http/params.h"

#define BODY_BLOCK_MAX 65536

/* A reply's body, handed to libmicrohttpd as a stream so that its free callback tells when the
 * response is finished with: sent in full, or abandoned with its connection. That moment, not
 * the handler's return, ends a request in flight for the drain on shutdown, whichever worker
 * thread sends it. */
struct reply_body {
  void (*done)(void *arg);
  void *done_arg;
  /* A streamed body (reply_stream) produces its bytes by read and is released once; otherwise
   * the body is data[0..len). */
  reply_stream_read_fn read;
  void (*release)(void *arg);
  void *stream;
  const char *external; /* reply_static: the body is external[0..len), not copied */
  size_t len;
  char data[];
};

static ssize_t body_read(void *cls, uint64_t pos, char *buf, size_t max) {
  const struct reply_body *body = cls;
  if (body->read) return body->read(body->stream, buf, max);
  if (pos >= body->len) return U_STREAM_END;
  size_t n = body->len - (size_t)pos < max ? body->len - (size_t)pos : max;
  memcpy(buf, (body->external ? body->external : body->data) + pos, n);
  return (ssize_t)n;
}

static void body_release(struct reply_body *body) {
  if (body->release) body->release(body->stream);
  body->release = NULL;
}

static void body_free(void *cls) {
  struct reply_body *body = cls;
  body_release(body);
  if (body->done) body->done(body->done_arg);
  free(body);
}

/* Hands body to the response; a later call replaces it (the earlier body is never sent, and
 * released now). False when the HTTP library refused it (the caller still owns body). */
static bool install_body(struct exchange *x, int http_status, struct reply_body *body,
                         uint64_t size, size_t block) {
  if (ulfius_set_stream_response(x->response, (unsigned)http_status, body_read, body_free, size,
                                 block, body) != U_OK)
    return false;
  if (x->reply_body) { /* replaced: the response no longer owns it */
    x->reply_body->done = NULL;
    body_release(x->reply_body);
    free(x->reply_body);
  }
  x->reply_body = body;
  return true;
}

static size_t block_size(size_t len) {
  return len == 0 ? 1 : len < BODY_BLOCK_MAX ? len : BODY_BLOCK_MAX;
}

/* Sets status and body; a later call replaces both (the earlier body is never sent). */
static void set_body(struct exchange *x, int http_status, const char *text) {
  size_t len = strlen(text);
  struct reply_body *body = malloc(sizeof *body + len + 1);
  if (!body) return; /* no body: ulfius answers with its own error */
  *body = (struct reply_body){.done = x->reply_done, .done_arg = x->reply_done_arg, .len = len};
  memcpy(body->data, text, len + 1);
  if (!install_body(x, http_status, body, len, block_size(len))) free(body);
}

void reply_static(struct exchange *x, int http_status, const char *content_type,
                  const void *data, size_t len) {
  reply_header(x, "Content-Type", content_type);
  x->status = http_status;
  struct reply_body *body = malloc(sizeof *body);
  if (!body) return;
  *body = (struct reply_body){.done = x->reply_done, .done_arg = x->reply_done_arg,
                              .external = data, .len = len};
  if (!install_body(x, http_status, body, len, block_size(len))) free(body);
}

bool reply_stream(struct exchange *x, int http_status, const char *content_type,
                  reply_stream_read_fn read, void (*release)(void *stream), void *stream) {
  struct reply_body *body = malloc(sizeof *body);
  if (!body) return false;
  *body = (struct reply_body){.done = x->reply_done, .done_arg = x->reply_done_arg,
                              .read = read, .release = release, .stream = stream};
  if (!install_body(x, http_status, body, U_STREAM_SIZE_UNKNOWN, BODY_BLOCK_MAX)) {
    free(body);
    return false;
  }
  reply_header(x, "Content-Type", content_type);
  x->status = http_status;
  return true;
}

const char *exchange_header(const struct exchange *x, const char *name) {
  return u_map_get_case(x->request->map_header, name);
}

const char *exchange_query(const struct exchange *x, const char *name) {
  return u_map_get(x->request->map_url, name);
}

void reply_header(struct exchange *x, const char *name, const char *value) {
  u_map_put(x->response->map_header, name, value);
}

void reply_text(struct exchange *x, int http_status, const char *content_type, const char *text) {
  reply_header(x, "Content-Type", content_type);
  set_body(x, http_status, text);
  x->status = http_status;
}

void reply_no_content(struct exchange *x) {
  set_body(x, 204, "");
  x->status = 204;
}

void reply_json_text(struct exchange *x, int http_status, const char *json_text) {
  reply_text(x, http_status, "application/json", json_text);
}

void reply_json(struct exchange *x, int http_status, json_t *body) {
  reply_json_as(x, http_status, "application/json", body);
}

void reply_json_as(struct exchange *x, int http_status, const char *content_type, json_t *body) {
  char *text = body ? json_dumps(body, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
  json_decref(body);
  if (!text) {
    reply_problem(x, CC_INTERNAL, NULL);
    return;
  }
  reply_text(x, http_status, content_type, text);
  free(text);
}

static void reply_problem_document(struct exchange *x, enum cc_status status, const char *detail,
                                   const struct field_errors *errors) {
  json_t *problem = problem_new(status, detail, x->request->url_path, x->request_id, errors);
  char *text = problem ? json_dumps(problem, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
  json_decref(problem);
  int http_status = cc_status_info(status)->http_status;
  reply_header(x, "Content-Type", "application/problem+json");
  if (status == CC_UNAVAILABLE) reply_header(x, "Retry-After", "1");
  set_body(x, http_status, text ? text : "{\"status\":500}");
  free(text);
  x->status = http_status;
}

void reply_problem(struct exchange *x, enum cc_status status, const char *fmt, ...) {
  char detail[512] = "";
  if (fmt) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(detail, sizeof detail, fmt, ap);
    va_end(ap);
  }
  reply_problem_document(x, status, detail, NULL);
}

void reply_bad_request(struct exchange *x, const struct field_errors *errors, const char *fmt,
                       ...) {
  char detail[512] = "";
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(detail, sizeof detail, fmt, ap);
  va_end(ap);
  reply_problem_document(x, CC_BAD_REQUEST, detail, errors);
}

void reply_validation(struct exchange *x, const struct field_errors *errors) {
  char detail[64];
  snprintf(detail, sizeof detail, "%zu field%s failed validation; see errors.", errors->count,
           errors->count == 1 ? "" : "s");
  reply_problem_document(x, CC_VALIDATION, detail, errors);
}

void reply_etag(struct exchange *x, const char *version) {
  char etag[40];
  snprintf(etag, sizeof etag, "\"%s\"", version);
  reply_header(x, "ETag", etag);
}

enum cc_status query_limit(struct exchange *x, int *limit) {
  const char *text = exchange_query(x, "limit");
  *limit = LIMIT_DEFAULT;
  if (!text) return CC_OK;
  if (!param_limit_parse(text, limit)) {
    *limit = LIMIT_DEFAULT;
    reply_problem(x, CC_BAD_REQUEST, "limit must be a whole number from 1 to %d.", LIMIT_MAX);
    return CC_BAD_REQUEST;
  }
  return CC_OK;
}

enum cc_status query_text(struct exchange *x, const char *name, size_t max_chars, const char **out) {
  const char *text = exchange_query(x, name);
  *out = NULL;
  if (!text) return CC_OK;
  if (!param_text_is_acceptable(text, max_chars)) {
    reply_problem(x, CC_BAD_REQUEST, "%s must be 1 to %zu characters of valid UTF-8.", name,
                  max_chars);
    return CC_BAD_REQUEST;
  }
  *out = text;
  return CC_OK;
}

enum cc_status query_uuid(struct exchange *x, const char *name, const char **out) {
  const char *text = exchange_query(x, name);
  *out = NULL;
  if (!text) return CC_OK;
  if (!text_is_uuid(text)) {
    reply_problem(x, CC_BAD_REQUEST, "%s must be a UUID.", name);
    return CC_BAD_REQUEST;
  }
  *out = text;
  return CC_OK;
}

enum cc_status exchange_if_match(struct exchange *x, long *version) {
  const char *header = exchange_header(x, "If-Match");
  if (!header || !*header) {
    reply_problem(x, CC_PRECONDITION_REQUIRED,
                  "This update needs If-Match with the ETag of the version you read, so that "
                  "concurrent changes are never silently overwritten.");
    return CC_PRECONDITION_REQUIRED;
  }
  if (!param_if_match_parse(header, version)) {
    reply_problem(x, CC_PRECONDITION_FAILED,
                  "If-Match must be the strong ETag of the current version, e.g. \"3\".");
    return CC_PRECONDITION_FAILED;
  }
  return CC_OK;
}
