/* One status enum for the whole service, with one table of HTTP mappings (as curl's CURLcode).
 * Functions return a status; results travel through out-pointers. Only the HTTP layer turns a
 * status into a response. */
#ifndef CARECOORD_STATUS_H
#define CARECOORD_STATUS_H

enum cc_status {
  CC_OK = 0,
  CC_BAD_REQUEST,
  CC_MALFORMED_JSON,
  CC_VALIDATION,
  CC_UNAUTHORIZED,
  CC_FORBIDDEN,
  CC_NOT_FOUND,
  CC_METHOD_NOT_ALLOWED,
  CC_CONFLICT,
  CC_PRECONDITION_FAILED,
  CC_PAYLOAD_TOO_LARGE,
  CC_UNSUPPORTED_MEDIA_TYPE,
  CC_IDEMPOTENCY_KEY_REUSED,
  CC_PRECONDITION_REQUIRED,
  CC_NOT_ACCEPTABLE,
  CC_UNAVAILABLE,
  CC_INTERNAL,
  CC_STATUS_COUNT
};

struct cc_status_info {
  int http_status;
  const char *slug;  /* problem type: urn:carecoord:problem:<slug> */
  const char *title;
};

const struct cc_status_info *cc_status_info(enum cc_status status);

#endif
