/* Field specifications: one table per resource declares each JSON member's kind, bounds and
 * flags. The same table validates create and merge-patch bodies, turns a record into SQL text
 * parameters (member name == column name), and lists the changes an update made for the audit
 * trail. Bounds mirror the database CHECK constraints, which remain the last line of defence. */
#ifndef CARECOORD_FIELDS_H
#define CARECOORD_FIELDS_H

#include <jansson.h>
#include <stdbool.h>

#include "http/problem.h"

enum field_kind {
  FIELD_STRING,
  FIELD_TEXT, /* free text: may span lines; the audit trail records its name, never its value */
  FIELD_BOOL,
  FIELD_DATE,     /* YYYY-MM-DD */
  FIELD_DATETIME, /* RFC 3339 date-time with an offset */
  FIELD_UUID,
  FIELD_ENUM,
  FIELD_OBJECT,
  FIELD_STRING_ARRAY,
  FIELD_OBJECT_ARRAY, /* items are whole objects checked against members (a patch replaces the
                         array, so items are never partial) */
  FIELD_INTEGER,      /* a JSON integer from min_len to max_len */
};

#define FIELD_REQUIRED 0x01  /* must be present and non-null on create */
#define FIELD_NULLABLE 0x02  /* may be null; null in a patch clears it */
#define FIELD_IMMUTABLE 0x04 /* set on create only */
#define FIELD_READ_ONLY 0x08 /* assigned by the server; refused in any request */

struct field_spec {
  const char *name;
  enum field_kind kind;
  unsigned flags;
  int min_len, max_len;               /* characters for strings, items for arrays, the range
                                         of an integer */
  const char *const *choices;         /* FIELD_ENUM: NULL-terminated */
  bool (*check)(const char *value);   /* extra check on a string value */
  const char *check_reason;           /* reason reported when check fails */
  const char *rule;                   /* DOMAIN.md rule id behind the check, or NULL */
  const struct field_spec *members;   /* FIELD_OBJECT(_ARRAY): table ending with {0} */
  const char *fallback;               /* JSON text used on create when absent; else null */
};

enum validate_mode { VALIDATE_CREATE, VALIDATE_PATCH };

/* Collects every problem of object against specs (table ending with {0}) into errors.
 * pointer is the JSON Pointer prefix of object ("" at the top). In PATCH mode nested objects
 * are partial too (RFC 7396 merges them), so required members are checked on the merged
 * record afterwards with fields_validate_merged. */
void fields_validate(const json_t *object, const struct field_spec *specs, enum validate_mode mode,
                     const char *pointer, struct field_errors *errors);

/* Validates a whole record after a merge patch, as on create (server-assigned members are
 * ignored), so that a partial nested object cannot leave a required member missing. */
void fields_validate_merged(const json_t *record, const struct field_spec *specs,
                            struct field_errors *errors);

/* Text form of a member for a SQL parameter: strings as they are, booleans true/false,
 * objects and arrays as JSON. NULL for null or absent. Caller frees. */
char *fields_param_new(const json_t *value);

/* RFC 7396 merge patch of patch onto a copy of target. Returns a new reference. */
json_t *fields_merge_patch_new(const json_t *target, const json_t *patch);

/* For the audit trail: [{field, old, new}] for each changed member ({field} only for FIELD_TEXT
 * and objects, whose values can be clinical). Returns a new array (possibly empty). */
json_t *fields_changes_new(const json_t *before, const json_t *after, const struct field_spec *specs);

/* UTF-8 helpers shared with query-parameter parsing. */
bool utf8_is_valid(const char *text, size_t len);
size_t utf8_length(const char *text);
bool text_is_uuid(const char *text);
bool text_is_date(const char *text);
/* C0 and C1 control characters and DEL (valid UTF-8 assumed); allow_layout admits \t \n \r. */
bool text_has_control_chars(const char *text, bool allow_layout);

#endif
