#include "status.h"

static const struct cc_status_info STATUS_TABLE[CC_STATUS_COUNT] = {
  [CC_OK] = {200, "ok", "OK"},
  [CC_BAD_REQUEST] = {400, "bad-request", "Bad request"},
  [CC_MALFORMED_JSON] = {400, "malformed-json", "Request body is not valid JSON"},
  [CC_VALIDATION] = {422, "validation-failed", "Request failed validation"},
  [CC_UNAUTHORIZED] = {401, "unauthorized", "Authentication required"},
  [CC_FORBIDDEN] = {403, "forbidden", "Not allowed"},
  [CC_NOT_FOUND] = {404, "not-found", "Not found"},
  [CC_METHOD_NOT_ALLOWED] = {405, "method-not-allowed", "Method not allowed"},
  [CC_CONFLICT] = {409, "conflict", "Conflict with the current state"},
  [CC_PRECONDITION_FAILED] = {412, "precondition-failed", "Precondition failed"},
  [CC_PAYLOAD_TOO_LARGE] = {413, "payload-too-large", "Request body too large"},
  [CC_UNSUPPORTED_MEDIA_TYPE] = {415, "unsupported-media-type", "Unsupported media type"},
  [CC_IDEMPOTENCY_KEY_REUSED] = {422, "idempotency-key-reused",
                                 "Idempotency key reused with a different request"},
  [CC_PRECONDITION_REQUIRED] = {428, "precondition-required", "Precondition required"},
  [CC_NOT_ACCEPTABLE] = {406, "not-acceptable", "Not acceptable"},
  [CC_UNAVAILABLE] = {503, "service-unavailable", "Service temporarily unavailable"},
  [CC_INTERNAL] = {500, "internal-error", "Internal server error"},
};

const struct cc_status_info *cc_status_info(enum cc_status status) {
  if ((int)status < 0 || status >= CC_STATUS_COUNT) return &STATUS_TABLE[CC_INTERNAL];
  return &STATUS_TABLE[status];
}
