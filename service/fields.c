#include "fields.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rules/clocks.h"

bool utf8_is_valid(const char *text, size_t len) {
  const unsigned char *s = (const unsigned char *)text;
  size_t i = 0;
  while (i < len) {
    unsigned char c = s[i];
    size_t n;
    unsigned cp;
    if (c < 0x80) {
      i++;
      continue;
    } else if ((c & 0xE0) == 0xC0) {
      n = 1, cp = c & 0x1F;
    } else if ((c & 0xF0) == 0xE0) {
      n = 2, cp = c & 0x0F;
    } else if ((c & 0xF8) == 0xF0) {
      n = 3, cp = c & 0x07;
    } else {
      return false;
    }
    for (size_t k = 1; k <= n; k++) {
      if (i + k >= len || (s[i + k] & 0xC0) != 0x80) return false;
      cp = (cp << 6) | (s[i + k] & 0x3F);
    }
    /* Reject overlong forms, surrogates and values beyond Unicode. */
    if ((n == 1 && cp < 0x80) || (n == 2 && cp < 0x800) || (n == 3 && cp < 0x10000) ||
        (cp >= 0xD800 && cp <= 0xDFFF) || cp > 0x10FFFF)
      return false;
    i += n + 1;
  }
  return true;
}

size_t utf8_length(const char *text) {
  size_t count = 0;
  for (const unsigned char *s = (const unsigned char *)text; *s; s++)
    if ((*s & 0xC0) != 0x80) count++;
  return count;
}

bool text_is_uuid(const char *text) {
  static const char HEX[] = "0123456789abcdefABCDEF";
  if (strlen(text) != 36) return false;
  for (int i = 0; i < 36; i++) {
    if (i == 8 || i == 13 || i == 18 || i == 23) {
      if (text[i] != '-') return false;
    } else if (!strchr(HEX, text[i]) || text[i] == '\0') {
      return false;
    }
  }
  return true;
}

static bool is_leap(int y) { return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0; }

bool text_is_date(const char *text) {
  if (strlen(text) != 10 || text[4] != '-' || text[7] != '-') return false;
  for (int i = 0; i < 10; i++)
    if (i != 4 && i != 7 && (text[i] < '0' || text[i] > '9')) return false;
  int y = atoi(text), m = atoi(text + 5), d = atoi(text + 8);
  static const int DAYS[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  if (y < 1 || m < 1 || m > 12 || d < 1) return false;
  int max = DAYS[m - 1] + (m == 2 && is_leap(y));
  return d <= max;
}

static const struct field_spec *find_spec(const struct field_spec *specs, const char *name) {
  for (const struct field_spec *s = specs; s->name; s++)
    if (strcmp(s->name, name) == 0) return s;
  return NULL;
}

bool text_has_control_chars(const char *text, bool allow_layout) {
  for (const unsigned char *s = (const unsigned char *)text; *s; s++) {
    if (allow_layout && (*s == '\n' || *s == '\r' || *s == '\t')) continue;
    if (*s < 0x20 || *s == 0x7F) return true;
    if (*s == 0xC2 && s[1] >= 0x80 && s[1] <= 0x9F) return true; /* C1: U+0080..U+009F */
  }
  return false;
}

static void check_string(const json_t *value, const struct field_spec *spec, const char *ptr,
                         struct field_errors *errors) {
  if (!json_is_string(value)) {
    field_errors_add(errors, ptr, NULL, "must be a string");
    return;
  }
  const char *text = json_string_value(value);
  if (strlen(text) != json_string_length(value)) {
    field_errors_add(errors, ptr, NULL, "must not contain NUL characters");
    return;
  }
  switch (spec->kind) {
  case FIELD_DATE:
    if (!text_is_date(text)) field_errors_add(errors, ptr, NULL, "must be a date YYYY-MM-DD");
    return;
  case FIELD_DATETIME: {
    time_t ignored;
    if (!timestamp_parse(text, &ignored))
      field_errors_add(errors, ptr, NULL,
                       "must be an RFC 3339 date-time such as 2026-01-31T09:30:00Z");
    return;
  }
  case FIELD_UUID:
    if (!text_is_uuid(text)) field_errors_add(errors, ptr, NULL, "must be a UUID");
    return;
  case FIELD_ENUM:
    for (const char *const *c = spec->choices; *c; c++)
      if (strcmp(*c, text) == 0) return;
    {
      char allowed[128] = "";
      for (const char *const *c = spec->choices; *c; c++) {
        strncat(allowed, *c, sizeof allowed - strlen(allowed) - 1);
        if (c[1]) strncat(allowed, ", ", sizeof allowed - strlen(allowed) - 1);
      }
      field_errors_add(errors, ptr, NULL, "must be one of: %s", allowed);
    }
    return;
  default:
    break;
  }
  if (text_has_control_chars(text, spec->kind == FIELD_TEXT)) {
    field_errors_add(errors, ptr, NULL, "must not contain control characters");
    return;
  }
  size_t len = utf8_length(text);
  if ((int)len < spec->min_len || (spec->max_len && (int)len > spec->max_len)) {
    field_errors_add(errors, ptr, NULL, "must be %d to %d characters long", spec->min_len,
                     spec->max_len);
    return;
  }
  if (spec->check && !spec->check(text))
    field_errors_add(errors, ptr, spec->rule, "%s", spec->check_reason);
}

static void check_value(const json_t *value, const struct field_spec *spec, const char *ptr,
                        enum validate_mode mode, struct field_errors *errors) {
  switch (spec->kind) {
  case FIELD_BOOL:
    if (!json_is_boolean(value)) field_errors_add(errors, ptr, NULL, "must be true or false");
    break;
  case FIELD_OBJECT:
    if (!json_is_object(value))
      field_errors_add(errors, ptr, NULL, "must be an object");
    else
      fields_validate(value, spec->members, mode, ptr, errors);
    break;
  case FIELD_INTEGER:
    if (!json_is_integer(value) || json_integer_value(value) < spec->min_len ||
        json_integer_value(value) > spec->max_len)
      field_errors_add(errors, ptr, NULL, "must be an integer from %d to %d", spec->min_len,
                       spec->max_len);
    break;
  case FIELD_OBJECT_ARRAY: {
    if (!json_is_array(value)) {
      field_errors_add(errors, ptr, NULL, "must be an array of objects");
      break;
    }
    int n = (int)json_array_size(value);
    if (n < spec->min_len || n > spec->max_len) {
      field_errors_add(errors, ptr, NULL, "must have %d to %d items", spec->min_len, spec->max_len);
      break;
    }
    for (int i = 0; i < n; i++) {
      char item_ptr[160];
      snprintf(item_ptr, sizeof item_ptr, "%s/%d", ptr, i);
      const json_t *item = json_array_get(value, (size_t)i);
      if (!json_is_object(item))
        field_errors_add(errors, item_ptr, NULL, "must be an object");
      else
        fields_validate(item, spec->members, VALIDATE_CREATE, item_ptr, errors);
    }
    break;
  }
  case FIELD_STRING_ARRAY: {
    if (!json_is_array(value)) {
      field_errors_add(errors, ptr, NULL, "must be an array of strings");
      break;
    }
    int n = (int)json_array_size(value);
    if (n < spec->min_len || n > spec->max_len) {
      field_errors_add(errors, ptr, NULL, "must have %d to %d items", spec->min_len, spec->max_len);
      break;
    }
    struct field_spec item = *spec;
    item.kind = FIELD_STRING;
    item.min_len = 1;
    item.max_len = 100;
    for (int i = 0; i < n; i++) {
      char item_ptr[160];
      snprintf(item_ptr, sizeof item_ptr, "%s/%d", ptr, i);
      check_string(json_array_get(value, (size_t)i), &item, item_ptr, errors);
    }
    break;
  }
  default:
    check_string(value, spec, ptr, errors);
  }
}

void fields_validate(const json_t *object, const struct field_spec *specs, enum validate_mode mode,
                     const char *pointer, struct field_errors *errors) {
  const char *key;
  const json_t *value;
  char ptr[128];
  json_object_foreach((json_t *)object, key, value) {
    snprintf(ptr, sizeof ptr, "%s/%s", pointer, key);
    const struct field_spec *spec = find_spec(specs, key);
    if (!spec) {
      field_errors_add(errors, ptr, NULL, "is not a known field");
    } else if (spec->flags & FIELD_READ_ONLY) {
      field_errors_add(errors, ptr, NULL, "is set by the server and cannot be written");
    } else if (mode == VALIDATE_PATCH && (spec->flags & FIELD_IMMUTABLE)) {
      field_errors_add(errors, ptr, NULL, "cannot be changed after creation");
    } else if (json_is_null(value)) {
      if (!(spec->flags & FIELD_NULLABLE))
        field_errors_add(errors, ptr, NULL,
                         mode == VALIDATE_PATCH ? "cannot be removed" : "must not be null");
    } else {
      check_value(value, spec, ptr, mode, errors);
    }
  }
  if (mode != VALIDATE_CREATE) return;
  for (const struct field_spec *s = specs; s->name; s++) {
    if ((s->flags & FIELD_REQUIRED) && !json_object_get(object, s->name)) {
      snprintf(ptr, sizeof ptr, "%s/%s", pointer, s->name);
      field_errors_add(errors, ptr, NULL, "is required");
    }
  }
}

void fields_validate_merged(const json_t *record, const struct field_spec *specs,
                            struct field_errors *errors) {
  json_t *writable = json_deep_copy(record);
  for (const struct field_spec *s = specs; s->name; s++)
    if (s->flags & FIELD_READ_ONLY) json_object_del(writable, s->name);
  fields_validate(writable, specs, VALIDATE_CREATE, "", errors);
  json_decref(writable);
}

char *fields_param_new(const json_t *value) {
  if (!value || json_is_null(value)) return NULL;
  if (json_is_string(value)) return strdup(json_string_value(value));
  if (json_is_true(value)) return strdup("true");
  if (json_is_false(value)) return strdup("false");
  if (json_is_integer(value)) {
    char buf[32];
    snprintf(buf, sizeof buf, "%" JSON_INTEGER_FORMAT, json_integer_value(value));
    return strdup(buf);
  }
  return json_dumps(value, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_ENCODE_ANY);
}

static json_t *merge_patch(const json_t *target, const json_t *patch, bool top_level) {
  if (!json_is_object(patch)) return json_deep_copy(patch);
  json_t *result = json_is_object(target) ? json_deep_copy(target) : json_object();
  const char *key;
  json_t *value;
  json_object_foreach((json_t *)patch, key, value) {
    if (json_is_null(value) && top_level)
      json_object_set_new(result, key, json_null()); /* kept as null: the column is cleared */
    else if (json_is_null(value))
      json_object_del(result, key);
    else
      json_object_set_new(result, key, merge_patch(json_object_get(result, key), value, false));
  }
  return result;
}

json_t *fields_merge_patch_new(const json_t *target, const json_t *patch) {
  return merge_patch(target, patch, true);
}

json_t *fields_changes_new(const json_t *before, const json_t *after, const struct field_spec *specs) {
  json_t *changes = json_array();
  for (const struct field_spec *s = specs; s->name; s++) {
    if (s->flags & FIELD_READ_ONLY) continue;
    json_t *old_value = json_object_get(before, s->name);
    json_t *new_value = json_object_get(after, s->name);
    if (!old_value) old_value = json_null();
    if (!new_value) new_value = json_null();
    if (json_equal(old_value, new_value)) continue;
    if (s->kind == FIELD_TEXT || s->kind == FIELD_OBJECT || s->kind == FIELD_STRING_ARRAY ||
        s->kind == FIELD_OBJECT_ARRAY)
      json_array_append_new(changes, json_pack("{s:s}", "field", s->name));
    else
      json_array_append_new(changes, json_pack("{s:s, s:O, s:O}", "field", s->name, "old",
                                               old_value, "new", new_value));
  }
  return changes;
}
