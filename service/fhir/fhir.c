#include "fhir/fhir.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NHS_NUMBER_SYSTEM "https://fhir.nhs.uk/Id/nhs-number"
#define ODS_CODE_SYSTEM "https://fhir.nhs.uk/Id/ods-organization-code"
#define PARTNER_ORGANISATION_SYSTEM "https://carecoord.nhs.uk/Id/partner-organisation"
#define PARTNER_REFERRAL_SYSTEM "https://carecoord.nhs.uk/Id/partner-referral/"
#define STAFF_SYSTEM "https://carecoord.nhs.uk/Id/staff"
#define UK_CORE_PROFILE "https://fhir.hl7.org.uk/StructureDefinition/UKCore-"

#define UUID_LEN 36
#define URL_LEN (sizeof "urn:uuid:" - 1 + UUID_LEN + 1)

/* ---- Code tables: each input list ends with NULL; its FHIR list maps it index by index ---- */

static const char *const SHARE_KINDS[] = {
    "care_act_assessment_referral", "carer_assessment_referral", "care_plan", "transfer", NULL};
enum share_kind { CARE_ACT_REFERRAL, CARER_REFERRAL, CARE_PLAN_SHARE, TRANSFER_SHARE };

static const char *const SHARE_STATUSES[] = {"sent",     "acknowledged", "accepted",
                                             "rejected", "withdrawn",    NULL};
/* The request is active while the partner has it, acknowledged or accepted it (the assessment
 * is then theirs to carry out, and its outcome does not come back through the share); a
 * rejected or withdrawn share is revoked. */
static const char *const SERVICE_REQUEST_OF_SHARE[] = {"active", "active", "active", "revoked",
                                                       "revoked"};

static const char *const LAWFUL_BASES[] = {"consent",     "safeguarding",     "care_act_duty",
                                           "court_order", "crime_prevention", "vital_interests",
                                           NULL};
static const char *const LAWFUL_BASIS_TEXTS[] = {"consent",
                                                 "safeguarding",
                                                 "a duty under the Care Act 2014",
                                                 "a court order",
                                                 "the prevention or detection of crime",
                                                 "the person's vital interests"};

static const char *const GENDERS[] = {"male", "female", "other", "unknown", NULL};

static const char *const EPISODE_STATUSES[] = {"open", "closed", NULL};
static const char *const EPISODE_OF_CARE_STATUSES[] = {"active", "finished"};
static const char *const CARE_LEVELS[] = {"cpa", "non_cpa", NULL};
static const char *const CARE_LEVEL_TEXTS[] = {"Care Programme Approach (CPA)",
                                               "Not on the Care Programme Approach"};

static const char *const HOLDER_ROLES[] = {"care_coordinator", "lead_professional",
                                           "interim_named_nurse", NULL};
static const char *const HOLDER_ROLE_TEXTS[] = {"Care co-ordinator", "Lead professional",
                                                "Interim named nurse"};

static const char *const PLAN_STATUSES[] = {"active", "superseded", NULL};
static const char *const CARE_PLAN_STATUSES[] = {"active", "revoked"};
static const char *const DELIVERERS[] = {"staff", "agency", "person", "carer", NULL};
static const char *const DELIVERER_TEXTS[] = {"The care team", "An agency", "The person",
                                              "The person's carer"};

static const char *const TRANSFER_STATUSES[] = {"proposed",  "accepted",  "rejected",
                                                "completed", "cancelled", NULL};
static const char *const TASK_STATUSES[] = {"requested", "accepted", "rejected", "completed",
                                            "cancelled"};

static const char *const REFERRAL_STATUSES[] = {"received",   "triaged",   "accepted", "declined",
                                                "redirected", "withdrawn", NULL};
/* Open while awaiting a decision; accepted is the request fulfilled (it became an episode);
 * declined, redirected and withdrawn end it unfulfilled. */
static const char *const SERVICE_REQUEST_OF_REFERRAL[] = {"active",  "active",  "completed",
                                                          "revoked", "revoked", "revoked"};
static const char *const URGENCIES[] = {"emergency", "urgent", "routine", NULL};
static const char *const PRIORITIES[] = {"stat", "urgent", "routine"};

/* What a share can hold, as named in its content and data_set. */
enum item {
  PERSON,
  PERSON_CONTACT,
  EPISODE,
  CARE_TEAM,
  NEEDS_SUMMARY,
  RISK_SUMMARY,
  CARER,
  CARE_PLAN,
  TRANSFER,
  ITEM_COUNT
};
static const char *const ITEM_NAMES[ITEM_COUNT] = {"person",    "person_contact", "episode",
                                                   "care_team", "needs_summary",  "risk_summary",
                                                   "carer",     "care_plan",      "transfer"};

/* ---- One rendering's state ---- */

/* The first problem (a required member missing, a member malformed, memory exhausted) makes
 * the rendering NULL, so the helpers only record it and carry on: no error path runs through
 * every call. */
struct render {
  bool failed;
  char version_id[24];      /* meta.versionId of every resource */
  const char *last_updated; /* meta.lastUpdated of every resource */
};

struct share {
  const json_t *json;
  const char *id;
  int kind;
  const char *status, *org, *created_at;
  const json_t *items[ITEM_COUNT]; /* each item shared, or NULL */
  char url[URL_LEN];               /* "urn:uuid:<share id>" */
  char item_url[ITEM_COUNT][URL_LEN];
  char care_team_id[UUID_LEN + 1];
};

/* ---- Reading the input ---- */

static int index_of(const char *name, const char *const *names) {
  for (int i = 0; name && names[i]; i++)
    if (strcmp(name, names[i]) == 0) return i;
  return -1;
}

/* The index of name among names; a name that is not there is a failure (NULL is not). */
static int choice(struct render *r, const char *name, const char *const *names) {
  int i = index_of(name, names);
  if (name && i < 0) r->failed = true;
  return i;
}

/* The FHIR code that value maps to, or NULL (a failure when value is not a known one). */
static const char *mapped(struct render *r, const char *value, const char *const *from,
                          const char *const *to) {
  int i = choice(r, value, from);
  return i < 0 ? NULL : to[i];
}

/* A member that may be missing or null (both are NULL here); another type is a failure. */
static const json_t *optional(struct render *r, const json_t *object, const char *name,
                              json_type type) {
  const json_t *value = json_object_get(object, name); /* NULL for a non-object too */
  if (!value || json_is_null(value)) return NULL;
  if (json_typeof(value) != type) {
    r->failed = true;
    return NULL;
  }
  return value;
}

static const json_t *required(struct render *r, const json_t *object, const char *name,
                              json_type type) {
  const json_t *value = optional(r, object, name, type);
  if (!value) r->failed = true;
  return value;
}

static const char *opt_text(struct render *r, const json_t *object, const char *name) {
  return json_string_value(optional(r, object, name, JSON_STRING));
}

static const char *need_text(struct render *r, const json_t *object, const char *name) {
  const char *text = json_string_value(required(r, object, name, JSON_STRING));
  if (text && !*text) r->failed = true;
  return text;
}

/* -1 when missing or null; a failure when neither a boolean nor null. */
static int opt_flag(struct render *r, const json_t *object, const char *name) {
  const json_t *value = json_object_get(object, name);
  if (!value || json_is_null(value)) return -1;
  if (!json_is_boolean(value)) r->failed = true;
  return json_is_true(value);
}

static bool digits_at(const char *s, int count) {
  for (int i = 0; i < count; i++)
    if (s[i] < '0' || s[i] > '9') return false; /* stops at the terminator */
  return true;
}

static int number_at(const char *s, int count) {
  int n = 0;
  for (int i = 0; i < count; i++) n = n * 10 + (s[i] - '0');
  return n;
}

/* YYYY-MM-DD, a day of the calendar from year 1 (FHIR has no year 0). */
static bool starts_with_date(const char *s) {
  static const int DAYS[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  if (!digits_at(s, 4) || s[4] != '-' || !digits_at(s + 5, 2) || s[7] != '-' ||
      !digits_at(s + 8, 2))
    return false;
  int year = number_at(s, 4), month = number_at(s + 5, 2), day = number_at(s + 8, 2);
  if (year < 1 || month < 1 || month > 12 || day < 1) return false;
  bool leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
  return day <= DAYS[month - 1] + (month == 2 && leap);
}

static bool is_date(const char *s) { return starts_with_date(s) && s[10] == '\0'; }

/* An R4 instant: date, T, hh:mm:ss, a fraction of at most 9 digits (the R4 pattern allows
 * more, later releases do not), and Z or an offset of at most 14 hours. PostgreSQL's JSON
 * form ("2026-11-30T10:15:00.123456+00:00") is one. */
static bool is_instant(const char *s) {
  if (!starts_with_date(s) || s[10] != 'T') return false;
  const char *t = s + 11;
  if (!digits_at(t, 2) || t[2] != ':' || !digits_at(t + 3, 2) || t[5] != ':' ||
      !digits_at(t + 6, 2))
    return false;
  if (number_at(t, 2) > 23 || number_at(t + 3, 2) > 59 || number_at(t + 6, 2) > 60) return false;
  t += 8;
  if (*t == '.') {
    int n = 0;
    while (t[1 + n] >= '0' && t[1 + n] <= '9') n++;
    if (n < 1 || n > 9) return false;
    t += 1 + n;
  }
  if (t[0] == 'Z') return t[1] == '\0';
  if ((t[0] != '+' && t[0] != '-') || !digits_at(t + 1, 2) || t[3] != ':' || !digits_at(t + 4, 2) ||
      t[6] != '\0')
    return false;
  int hours = number_at(t + 1, 2), minutes = number_at(t + 4, 2);
  return minutes <= 59 && (hours <= 13 || (hours == 14 && minutes == 0));
}

/* Lower-case, as PostgreSQL writes them: a urn:uuid must be. */
static bool is_uuid(const char *s) {
  for (int i = 0; i < UUID_LEN; i++) {
    char c = s[i];
    bool ok = (i == 8 || i == 13 || i == 18 || i == 23)
                  ? c == '-'
                  : (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
    if (!ok) return false;
  }
  return s[UUID_LEN] == '\0';
}

static const char *checked(struct render *r, const char *value, bool (*valid)(const char *)) {
  if (value && !valid(value)) {
    r->failed = true;
    return NULL;
  }
  return value;
}

static const char *opt_date(struct render *r, const json_t *object, const char *name) {
  return checked(r, opt_text(r, object, name), is_date);
}

static const char *opt_instant(struct render *r, const json_t *object, const char *name) {
  return checked(r, opt_text(r, object, name), is_instant);
}

static const char *need_instant(struct render *r, const json_t *object, const char *name) {
  return checked(r, need_text(r, object, name), is_instant);
}

static const char *need_uuid(struct render *r, const json_t *object, const char *name) {
  return checked(r, need_text(r, object, name), is_uuid);
}

/* The record's version (a positive integer) as meta.versionId. */
static void read_version(struct render *r, const json_t *record) {
  json_int_t version = json_integer_value(required(r, record, "version", JSON_INTEGER));
  if (version < 1) r->failed = true;
  snprintf(r->version_id, sizeof r->version_id, "%" JSON_INTEGER_FORMAT, version);
}

/* ---- Writing FHIR values ---- */

/* The length of a character at s that the R4 schema's string pattern ([ \r\n\t\S]+, read as a
 * JavaScript pattern) refuses, or 0: control characters other than tab and line ends, and the
 * Unicode spaces (no-break, en, em, ideographic, ...). A pasted no-break space must not make a
 * whole share invalid. The checks stop at the terminator: UTF-8 has no 0 inside a character. */
static size_t refused_char_len(const unsigned char *s) {
  if (s[0] < 0x20 && s[0] != '\t' && s[0] != '\n' && s[0] != '\r') return 1;
  if (s[0] == 0xc2 && s[1] == 0xa0) return 2;                 /* U+00A0 */
  if (s[0] == 0xe1 && s[1] == 0x9a && s[2] == 0x80) return 3; /* U+1680 */
  if (s[0] == 0xe2 && s[1] == 0x80 && s[2] >= 0x80 &&
      (s[2] <= 0x8a || s[2] == 0xa8 || s[2] == 0xa9 || s[2] == 0xaf))
    return 3;                                                 /* U+2000-200A, 2028, 2029, 202F */
  if (s[0] == 0xe2 && s[1] == 0x81 && s[2] == 0x9f) return 3; /* U+205F */
  if (s[0] == 0xe3 && s[1] == 0x80 && s[2] == 0x80) return 3; /* U+3000 */
  if (s[0] == 0xef && s[1] == 0xbb && s[2] == 0xbf) return 3; /* U+FEFF */
  return 0;
}

/* text as a FHIR string, refused characters made plain spaces; NULL when text is NULL or has
 * nothing but spaces (FHIR strings are never empty). */
static json_t *fhir_string(struct render *r, const char *text) {
  if (!text) return NULL;
  char *copy = malloc(strlen(text) + 1);
  if (!copy) {
    r->failed = true;
    return NULL;
  }
  size_t len = 0;
  bool visible = false;
  for (const unsigned char *s = (const unsigned char *)text; *s;) {
    size_t refused = refused_char_len(s);
    if (refused) {
      copy[len++] = ' ';
      s += refused;
      continue;
    }
    if (*s != ' ' && *s != '\t' && *s != '\n' && *s != '\r') visible = true;
    copy[len++] = (char)*s++;
  }
  json_t *value = visible ? json_stringn(copy, len) : NULL;
  if (visible && !value) r->failed = true;
  free(copy);
  return value;
}

/* object[name] = value, taking the reference; a NULL value (a failed allocation or a required
 * value missing) is a failure. */
static void put(struct render *r, json_t *object, const char *name, json_t *value) {
  if (json_object_set_new(object, name, value) != 0) r->failed = true;
}

/* As put, but a NULL value just leaves the member out. */
static void put_opt(struct render *r, json_t *object, const char *name, json_t *value) {
  if (value) put(r, object, name, value);
}

static void put_code(struct render *r, json_t *object, const char *name, const char *code) {
  put(r, object, name, code ? json_string(code) : NULL);
}

static void put_text(struct render *r, json_t *object, const char *name, const char *text) {
  put_opt(r, object, name, fhir_string(r, text));
}

static void put_required_text(struct render *r, json_t *object, const char *name,
                              const char *text) {
  put(r, object, name, fhir_string(r, text));
}

static void append(struct render *r, json_t *array, json_t *value) {
  if (json_array_append_new(array, value) != 0) r->failed = true;
}

static void append_opt(struct render *r, json_t *array, json_t *value) {
  if (value) append(r, array, value);
}

/* [item], or NULL when item is NULL. */
static json_t *one(struct render *r, json_t *item) {
  if (!item) return NULL;
  json_t *list = json_array();
  append(r, list, item);
  return list;
}

/* The array, or NULL (and the array released) when it is empty. */
static json_t *unless_empty(json_t *array) {
  if (json_array_size(array) > 0) return array;
  json_decref(array);
  return NULL;
}

/* {"text": text}, or NULL when text is blank. */
static json_t *object_with_text(struct render *r, json_t *text) {
  if (!text) return NULL;
  json_t *object = json_object();
  put(r, object, "text", text);
  return object;
}

static json_t *concept(struct render *r, const char *text) {
  return object_with_text(r, fhir_string(r, text));
}

static json_t *identifier(struct render *r, const char *system, const char *value) {
  json_t *id = json_object();
  put_code(r, id, "system", system);
  put_required_text(r, id, "value", value);
  return id;
}

static json_t *reference(struct render *r, const char *url) {
  json_t *ref = json_object();
  put_code(r, ref, "reference", url && *url ? url : NULL);
  return ref;
}

static json_t *display_reference(struct render *r, const char *display) {
  json_t *text = fhir_string(r, display);
  if (!text) return NULL;
  json_t *ref = json_object();
  put(r, ref, "display", text);
  return ref;
}

static json_t *organisation_reference(struct render *r, const char *org) {
  json_t *ref = json_object();
  put(r, ref, "identifier", identifier(r, PARTNER_ORGANISATION_SYSTEM, org));
  return ref;
}

static json_t *period(struct render *r, const char *start, const char *end) {
  if (!start && !end) return NULL;
  json_t *p = json_object();
  if (start) put_code(r, p, "start", start);
  if (end) put_code(r, p, "end", end);
  return p;
}

/* A resource with its id and meta; uk_core names the UK Core profile of its type. Contained
 * resources are made without this: they may have no versionId or lastUpdated (dom-4). */
static json_t *new_resource(struct render *r, const char *type, const char *id, bool uk_core) {
  json_t *resource = json_object(), *meta = json_object();
  put_code(r, resource, "resourceType", type);
  put_code(r, resource, "id", id);
  put_code(r, meta, "versionId", r->version_id);
  put_code(r, meta, "lastUpdated", r->last_updated);
  if (uk_core) {
    char profile[sizeof UK_CORE_PROFILE + 32];
    snprintf(profile, sizeof profile, "%s%s", UK_CORE_PROFILE, type);
    put(r, meta, "profile", one(r, json_string(profile)));
  }
  put(r, resource, "meta", meta);
  return resource;
}

/* ---- Text built from parts ---- */

struct builder {
  char *data;
  size_t len, cap;
  bool failed;
};

static void add(struct builder *b, const char *text) {
  if (!text || b->failed) return;
  size_t n = strlen(text);
  if (b->len + n + 1 > b->cap) {
    size_t cap = b->cap ? b->cap : 256;
    while (cap < b->len + n + 1) cap *= 2;
    char *grown = realloc(b->data, cap);
    if (!grown) {
      b->failed = true;
      return;
    }
    b->data = grown;
    b->cap = cap;
  }
  memcpy(b->data + b->len, text, n + 1);
  b->len += n;
}

/* "label" "text" "end", only when text is given. */
static void add_labelled(struct builder *b, const char *label, const char *text, const char *end) {
  if (!text) return;
  add(b, label);
  add(b, text);
  add(b, end);
}

/* A code such as "self_harm" as words ("self harm"). */
static void add_words(struct builder *b, const char *code) {
  size_t start = b->len;
  add(b, code);
  for (size_t i = start; !b->failed && i < b->len; i++)
    if (b->data[i] == '_') b->data[i] = ' ';
}

/* The text built, as a FHIR string (NULL when blank); the builder is emptied. */
static json_t *built(struct render *r, struct builder *b) {
  json_t *text = b->failed ? NULL : fhir_string(r, b->data);
  if (b->failed) r->failed = true;
  free(b->data);
  *b = (struct builder){0};
  return text;
}

/* An Annotation: label followed by text, or NULL when text is blank. */
static json_t *note(struct render *r, const char *label, const char *text) {
  json_t *blank_check = fhir_string(r, text);
  if (!blank_check) return NULL;
  json_decref(blank_check);
  struct builder b = {0};
  add_labelled(&b, label, text, NULL);
  return object_with_text(r, built(r, &b));
}

/* ---- The share's items ---- */

static bool listed(const json_t *data_set, const char *name) {
  size_t i;
  const json_t *entry;
  json_array_foreach(data_set, i, entry) {
    if (json_is_string(entry) && strcmp(json_string_value(entry), name) == 0) return true;
  }
  return false;
}

static void set_url(char url[URL_LEN], const char *uuid) {
  if (uuid) snprintf(url, URL_LEN, "urn:uuid:%s", uuid);
}

/* The system keeps no care-team record (the care team is the episode's allocation), so the
 * CareTeam's id is made from the share's: the same UUID marked as version 8 (RFC 9562's
 * custom version), which no record's id (version 4) can equal, and the same every time the
 * share is rendered. */
static void derive_care_team_id(const char *share_id, char out[UUID_LEN + 1]) {
  static const char HEX[] = "0123456789abcdef";
  memcpy(out, share_id, UUID_LEN + 1);
  out[14] = '8';
  int variant = out[19] <= '9' ? out[19] - '0' : out[19] - 'a' + 10;
  out[19] = HEX[(variant & 0x3) | 0x8];
}

/* The items present in content, each listed in data_set; their ids as entry URLs. */
static void read_items(struct render *r, struct share *s, const json_t *content,
                       const json_t *data_set) {
  for (int i = 0; i < ITEM_COUNT; i++) {
    bool summary = i == NEEDS_SUMMARY || i == RISK_SUMMARY;
    const json_t *item = optional(r, content, ITEM_NAMES[i], summary ? JSON_STRING : JSON_OBJECT);
    if (!item) continue;
    if (!listed(data_set, ITEM_NAMES[i])) r->failed = true; /* more than was agreed */
    s->items[i] = item;
    if (!summary && i != PERSON_CONTACT && i != CARE_TEAM)
      set_url(s->item_url[i], need_uuid(r, item, "id"));
  }
  if (s->items[CARE_TEAM]) {
    set_url(s->item_url[CARE_TEAM], s->care_team_id);
  }
}

/* What each kind needs, and the items whose resources must name the patient. */
static void check_items(struct render *r, const struct share *s) {
  if ((s->kind == CARE_ACT_REFERRAL || s->kind == CARER_REFERRAL) && !s->items[PERSON])
    r->failed = true;
  if (s->kind == CARER_REFERRAL && !s->items[CARER]) r->failed = true;
  if (s->kind == CARE_PLAN_SHARE && !s->items[CARE_PLAN]) r->failed = true;
  if (s->kind == TRANSFER_SHARE && !s->items[TRANSFER]) r->failed = true;
  static const enum item NEED_PATIENT[] = {PERSON_CONTACT, EPISODE, CARER, CARE_PLAN};
  for (size_t i = 0; i < sizeof NEED_PATIENT / sizeof *NEED_PATIENT; i++)
    if (s->items[NEED_PATIENT[i]] && !s->items[PERSON]) r->failed = true;
}

static void read_share(struct render *r, const json_t *json, struct share *s) {
  if (!json_is_object(json)) {
    r->failed = true;
    return;
  }
  s->json = json;
  const char *id = s->id = need_uuid(r, json, "id");
  s->kind = choice(r, need_text(r, json, "kind"), SHARE_KINDS);
  s->status = need_text(r, json, "status");
  choice(r, s->status, SHARE_STATUSES);
  s->org = need_text(r, json, "org");
  s->created_at = need_instant(r, json, "created_at");
  r->last_updated = need_instant(r, json, "updated_at");
  read_version(r, json);
  const json_t *lawful_basis = required(r, json, "lawful_basis", JSON_OBJECT);
  choice(r, need_text(r, lawful_basis, "basis"), LAWFUL_BASES);
  if (r->failed) return;
  set_url(s->url, id);
  derive_care_team_id(id, s->care_team_id);
  read_items(r, s, required(r, json, "content", JSON_OBJECT),
             required(r, json, "data_set", JSON_ARRAY));
  check_items(r, s);
}

/* ---- Resources ---- */

static json_t *person_name(struct render *r, const json_t *person) {
  json_t *family = fhir_string(r, opt_text(r, person, "family_name"));
  json_t *given = fhir_string(r, opt_text(r, person, "given_name"));
  if (!family && !given) return NULL;
  json_t *name = json_object();
  put_code(r, name, "use", "official");
  put_opt(r, name, "family", family);
  put_opt(r, name, "given", one(r, given));
  return name;
}

static json_t *address(struct render *r, const json_t *person_contact) {
  const json_t *given = optional(r, person_contact, "address", JSON_OBJECT);
  if (!given) return NULL;
  const json_t *given_lines = optional(r, given, "lines", JSON_ARRAY);
  json_t *lines = json_array();
  size_t i;
  const json_t *line;
  json_array_foreach(given_lines, i, line) {
    if (!json_is_string(line)) r->failed = true;
    append_opt(r, lines, fhir_string(r, json_string_value(line)));
  }
  lines = unless_empty(lines);
  json_t *postcode = fhir_string(r, opt_text(r, given, "postcode"));
  if (!lines && !postcode) return NULL;
  json_t *result = json_object();
  put_opt(r, result, "line", lines);
  put_opt(r, result, "postalCode", postcode);
  return result;
}

static json_t *gp_practice(struct render *r, const json_t *person_contact) {
  const json_t *gp = optional(r, person_contact, "gp_practice", JSON_OBJECT);
  if (!gp) return NULL;
  json_t *ref = json_object();
  put(r, ref, "identifier", identifier(r, ODS_CODE_SYSTEM, need_text(r, gp, "ods_code")));
  put_text(r, ref, "display", opt_text(r, gp, "name"));
  return ref;
}

static json_t *patient_resource(struct render *r, const struct share *s) {
  const json_t *person = s->items[PERSON], *contact = s->items[PERSON_CONTACT];
  json_t *patient = new_resource(r, "Patient", need_uuid(r, person, "id"), true);
  put(r, patient, "identifier",
      one(r, identifier(r, NHS_NUMBER_SYSTEM, need_text(r, person, "nhs_number"))));
  put_opt(r, patient, "name", one(r, person_name(r, person)));
  const char *gender = opt_text(r, person, "gender");
  if (gender) put_code(r, patient, "gender", mapped(r, gender, GENDERS, GENDERS));
  const char *born = opt_date(r, person, "date_of_birth");
  if (born) put_code(r, patient, "birthDate", born);
  if (contact) { /* only when the person's contact details were shared */
    put_opt(r, patient, "address", one(r, address(r, contact)));
    put_opt(r, patient, "generalPractitioner", one(r, gp_practice(r, contact)));
  }
  return patient;
}

static json_t *contact_point(struct render *r, const char *system, const char *value) {
  json_t *text = fhir_string(r, value);
  if (!text) return NULL;
  json_t *point = json_object();
  put_code(r, point, "system", system);
  put(r, point, "value", text);
  return point;
}

static json_t *related_person_resource(struct render *r, const struct share *s) {
  const json_t *carer = s->items[CARER];
  json_t *related = new_resource(r, "RelatedPerson", need_uuid(r, carer, "id"), true);
  put(r, related, "patient", reference(r, s->item_url[PERSON]));
  put_opt(r, related, "relationship", one(r, concept(r, opt_text(r, carer, "relationship"))));
  put_opt(r, related, "name", one(r, concept(r, opt_text(r, carer, "name"))));
  const json_t *contact = optional(r, carer, "contact", JSON_OBJECT);
  json_t *telecom = json_array();
  append_opt(r, telecom, contact_point(r, "phone", opt_text(r, contact, "phone")));
  append_opt(r, telecom, contact_point(r, "email", opt_text(r, contact, "email")));
  put_opt(r, related, "telecom", unless_empty(telecom));
  const char *born = opt_date(r, carer, "date_of_birth");
  if (born) put_code(r, related, "birthDate", born);
  return related;
}

/* A member of staff by name, with the service's staff id when there is one. */
static json_t *staff_reference(struct render *r, const json_t *staff) {
  json_t *ref = json_object();
  const char *staff_id = checked(r, opt_text(r, staff, "staff_id"), is_uuid);
  if (staff_id) put(r, ref, "identifier", identifier(r, STAFF_SYSTEM, staff_id));
  put_required_text(r, ref, "display", need_text(r, staff, "name"));
  return ref;
}

static json_t *episode_of_care_resource(struct render *r, const struct share *s) {
  const json_t *episode = s->items[EPISODE], *care_team = s->items[CARE_TEAM];
  json_t *eoc = new_resource(r, "EpisodeOfCare", need_uuid(r, episode, "id"), true);
  put_code(r, eoc, "status",
           mapped(r, need_text(r, episode, "status"), EPISODE_STATUSES, EPISODE_OF_CARE_STATUSES));
  const char *level = mapped(r, need_text(r, episode, "care_level"), CARE_LEVELS, CARE_LEVEL_TEXTS);
  put_opt(r, eoc, "type", one(r, concept(r, level)));
  put(r, eoc, "patient", reference(r, s->item_url[PERSON]));
  put(r, eoc, "period",
      period(r, need_instant(r, episode, "opened_at"), opt_instant(r, episode, "closed_at")));
  if (care_team) {
    const json_t *holder = optional(r, care_team, "holder", JSON_OBJECT);
    if (holder) put(r, eoc, "careManager", staff_reference(r, holder));
    put(r, eoc, "team", one(r, reference(r, s->item_url[CARE_TEAM])));
  } else { /* the team by name only: its members were not shared */
    const json_t *team = optional(r, episode, "team", JSON_OBJECT);
    put_opt(r, eoc, "team", one(r, display_reference(r, opt_text(r, team, "name"))));
  }
  return eoc;
}

static json_t *participant(struct render *r, const char *role, const json_t *staff) {
  json_t *p = json_object();
  put(r, p, "role", one(r, concept(r, role)));
  put(r, p, "member", staff_reference(r, staff));
  put_opt(r, p, "onBehalfOf", display_reference(r, opt_text(r, staff, "organisation")));
  put_opt(r, p, "period", period(r, opt_instant(r, staff, "since"), NULL));
  return p;
}

static json_t *care_team_resource(struct render *r, const struct share *s) {
  const json_t *care_team = s->items[CARE_TEAM];
  json_t *team = new_resource(r, "CareTeam", s->care_team_id, true);
  /* A closed episode's care team, when the episode was shared too, is no longer active. */
  const char *episode_status = opt_text(r, s->items[EPISODE], "status");
  bool closed = episode_status && strcmp(episode_status, "closed") == 0;
  put_code(r, team, "status", closed ? "inactive" : "active");
  put_text(r, team, "name", opt_text(r, optional(r, care_team, "team", JSON_OBJECT), "name"));
  if (s->items[PERSON]) put(r, team, "subject", reference(r, s->item_url[PERSON]));
  json_t *participants = json_array();
  const json_t *holder = optional(r, care_team, "holder", JSON_OBJECT);
  if (holder) {
    const char *role = mapped(r, need_text(r, holder, "role"), HOLDER_ROLES, HOLDER_ROLE_TEXTS);
    append(r, participants, participant(r, role, holder));
  }
  const json_t *deputy = optional(r, care_team, "deputy", JSON_OBJECT);
  if (deputy) append(r, participants, participant(r, "Deputy", deputy));
  put_opt(r, team, "participant", unless_empty(participants));
  return team;
}

/* The needs as one text ("Needs:" and a line for each), or NULL when there are none. */
static json_t *needs_text(struct render *r, const json_t *needs) {
  struct builder b = {0};
  size_t i;
  const json_t *need;
  json_array_foreach(needs, i, need) {
    const char *domain = need_text(r, need, "domain");
    const char *description = opt_text(r, need, "description");
    add(&b, b.len ? "\n- " : "Needs:\n- ");
    add_words(&b, domain);
    add_labelled(&b, ": ", description, NULL);
  }
  return built(r, &b);
}

/* The plan's goals as contained Goals (ids goal-1, goal-2, ...) and references to them. */
static void add_goals(struct render *r, json_t *care_plan, const json_t *goals,
                      const char *patient_url) {
  json_t *contained = json_array(), *refs = json_array();
  size_t i;
  const json_t *goal;
  json_array_foreach(goals, i, goal) {
    char id[32];
    snprintf(id, sizeof id, "goal-%zu", i + 1);
    json_t *g = json_object();
    put_code(r, g, "resourceType", "Goal");
    put_code(r, g, "id", id);
    put_code(r, g, "lifecycleStatus", "active");
    put(r, g, "description", concept(r, need_text(r, goal, "in_own_words")));
    put(r, g, "subject", reference(r, patient_url));
    const char *due = opt_date(r, goal, "target_date");
    if (due) put(r, g, "target", one(r, json_pack("{s:s}", "dueDate", due)));
    append(r, contained, g);
    char local[40];
    snprintf(local, sizeof local, "#%s", id);
    append(r, refs, reference(r, local));
  }
  put_opt(r, care_plan, "contained", unless_empty(contained));
  put_opt(r, care_plan, "goal", unless_empty(refs));
}

/* When and how often: a Timing with the frequency as text and the dates as its bounds. */
static json_t *schedule(struct render *r, const json_t *intervention) {
  json_t *frequency = concept(r, opt_text(r, intervention, "frequency"));
  json_t *bounds = period(r, opt_date(r, intervention, "from"), opt_date(r, intervention, "to"));
  if (!frequency && !bounds) return NULL;
  json_t *timing = json_object();
  if (bounds) {
    json_t *repeat = json_object();
    put(r, repeat, "boundsPeriod", bounds);
    put(r, timing, "repeat", repeat);
  }
  put_opt(r, timing, "code", frequency);
  return timing;
}

static json_t *activity(struct render *r, const json_t *intervention, const char *status) {
  json_t *detail = json_object();
  put_code(r, detail, "status", status);
  put_required_text(r, detail, "description", need_text(r, intervention, "what"));
  put_opt(r, detail, "scheduledTiming", schedule(r, intervention));
  /* Who delivers it, by name: the provider's when given, else who (an unknown kind of
   * deliverer is shown as it is rather than refused: it is only ever displayed). */
  const char *by = opt_text(r, intervention, "delivered_by");
  const char *provider = opt_text(r, intervention, "provider_name");
  int known = index_of(by, DELIVERERS);
  const char *who = provider ? provider : known >= 0 ? DELIVERER_TEXTS[known] : by;
  put_opt(r, detail, "performer", one(r, display_reference(r, who)));
  json_t *a = json_object();
  put(r, a, "detail", detail);
  return a;
}

static void add_activities(struct render *r, json_t *care_plan, const json_t *plan) {
  const char *status = opt_text(r, plan, "status");
  /* A superseded plan's interventions stopped; a plan not yet activated has not started. */
  const char *activity_status = status && strcmp(status, "superseded") == 0 ? "stopped"
                                : opt_instant(r, plan, "activated_at")      ? "in-progress"
                                                                            : "not-started";
  const json_t *interventions = optional(r, plan, "interventions", JSON_ARRAY);
  json_t *activities = json_array();
  size_t i;
  const json_t *intervention;
  json_array_foreach(interventions, i, intervention) {
    append(r, activities, activity(r, intervention, activity_status));
  }
  put_opt(r, care_plan, "activity", unless_empty(activities));
}

static json_t *crisis_plan_note(struct render *r, const json_t *plan) {
  const json_t *crisis = optional(r, plan, "crisis_plan", JSON_OBJECT);
  if (!crisis) return NULL;
  struct builder b = {0};
  add(&b, "Crisis plan");
  add_labelled(&b, "\nEarly warning signs: ", opt_text(r, crisis, "early_warning_signs"), NULL);
  add_labelled(&b, "\nWhat the person should do: ", opt_text(r, crisis, "what_person_should_do"),
               NULL);
  add_labelled(&b, "\nWhat others should do: ", opt_text(r, crisis, "what_others_should_do"), NULL);
  const json_t *contacts = optional(r, crisis, "contacts_24_7", JSON_ARRAY);
  size_t i;
  const json_t *contact;
  json_array_foreach(contacts, i, contact) {
    add(&b, i ? "; " : "\nContacts day and night (24/7): ");
    add(&b, need_text(r, contact, "name"));
    add_labelled(&b, ", ", need_text(r, contact, "number"), NULL);
  }
  return object_with_text(r, built(r, &b));
}

static json_t *contingency_plan_note(struct render *r, const json_t *plan) {
  const json_t *contingency = optional(r, plan, "contingency_plan", JSON_OBJECT);
  if (!contingency) return NULL;
  struct builder b = {0};
  add(&b, "Contingency plan\nContact: ");
  add(&b, need_text(r, contingency, "contact_name"));
  add_labelled(&b, " (", opt_text(r, contingency, "contact_role"), ")");
  add_labelled(&b, ", ", need_text(r, contingency, "contact_phone"), NULL);
  add_labelled(&b, "\nArrangements: ", opt_text(r, contingency, "arrangements"), NULL);
  return object_with_text(r, built(r, &b));
}

static json_t *risk_management_note(struct render *r, const json_t *plan) {
  const json_t *risk = optional(r, plan, "risk_management_plan", JSON_OBJECT);
  if (!risk) return NULL;
  struct builder b = {0};
  add_labelled(&b, "Risk management plan\n", need_text(r, risk, "plan"), NULL);
  const json_t *categories = optional(r, risk, "risk_categories", JSON_ARRAY);
  size_t i;
  const json_t *category;
  json_array_foreach(categories, i, category) {
    if (!json_is_string(category)) r->failed = true;
    add(&b, i ? ", " : "\nRisks: ");
    add_words(&b, json_string_value(category));
  }
  return object_with_text(r, built(r, &b));
}

static json_t *care_plan_resource(struct render *r, const struct share *s) {
  const json_t *plan = s->items[CARE_PLAN];
  json_t *care_plan = new_resource(r, "CarePlan", need_uuid(r, plan, "id"), true);
  add_goals(r, care_plan, optional(r, plan, "goals", JSON_ARRAY), s->item_url[PERSON]);
  put_code(r, care_plan, "status",
           mapped(r, need_text(r, plan, "status"), PLAN_STATUSES, CARE_PLAN_STATUSES));
  put_code(r, care_plan, "intent", "plan");
  const json_t *version = optional(r, plan, "plan_version", JSON_INTEGER);
  char title[48] = "Care plan";
  if (version)
    snprintf(title, sizeof title, "Care plan, version %" JSON_INTEGER_FORMAT,
             json_integer_value(version));
  put_text(r, care_plan, "title", title);
  /* No Condition records exist to point "addresses" at: the needs are described in words. */
  put_opt(r, care_plan, "description", needs_text(r, optional(r, plan, "needs", JSON_ARRAY)));
  put(r, care_plan, "subject", reference(r, s->item_url[PERSON]));
  put_opt(r, care_plan, "period", period(r, opt_instant(r, plan, "activated_at"), NULL));
  if (s->items[CARE_TEAM])
    put(r, care_plan, "careTeam", one(r, reference(r, s->item_url[CARE_TEAM])));
  add_activities(r, care_plan, plan);
  /* The crisis, contingency and risk management plans are narrative: notes, one each. */
  json_t *notes = json_array();
  append_opt(r, notes, crisis_plan_note(r, plan));
  append_opt(r, notes, contingency_plan_note(r, plan));
  append_opt(r, notes, risk_management_note(r, plan));
  put_opt(r, care_plan, "note", unless_empty(notes));
  return care_plan;
}

static json_t *task_resource(struct render *r, const struct share *s) {
  const json_t *transfer = s->items[TRANSFER];
  json_t *task = new_resource(r, "Task", need_uuid(r, transfer, "id"), true);
  const char *status =
      mapped(r, need_text(r, transfer, "status"), TRANSFER_STATUSES, TASK_STATUSES);
  put_code(r, task, "status", status);
  bool rejected = status && strcmp(status, "rejected") == 0;
  const char *rejection = opt_text(r, s->json, "rejection_reason");
  if (rejected && rejection && s->kind == TRANSFER_SHARE)
    put_opt(r, task, "statusReason", concept(r, rejection));
  put_code(r, task, "intent", "order");
  const char *type = opt_text(r, transfer, "type");
  bool to_partner = type && strcmp(type, "partner_agency") == 0;
  put(r, task, "code",
      concept(r, to_partner ? "Transfer of care to a partner agency" : "Transfer of care"));
  put_text(r, task, "description", opt_text(r, transfer, "reason"));
  if (s->items[EPISODE]) put(r, task, "focus", reference(r, s->item_url[EPISODE]));
  if (s->items[PERSON]) put(r, task, "for", reference(r, s->item_url[PERSON]));
  put_code(r, task, "authoredOn", need_instant(r, transfer, "proposed_at"));
  put_code(r, task, "lastModified", r->last_updated);
  /* The partner owns the task only when the transfer is to them, as this share proposes. */
  if (s->kind == TRANSFER_SHARE) put(r, task, "owner", organisation_reference(r, s->org));
  return task;
}

/* The summaries a referral asks the partner to assess, as the request's reason. */
static json_t *share_service_request(struct render *r, const struct share *s) {
  json_t *request = new_resource(r, "ServiceRequest", s->id, true);
  put_code(r, request, "status", mapped(r, s->status, SHARE_STATUSES, SERVICE_REQUEST_OF_SHARE));
  put_code(r, request, "intent", "order");
  put(r, request, "code",
      concept(r, s->kind == CARER_REFERRAL ? "Carer's assessment (Care Act 2014)"
                                           : "Care Act 2014 assessment of needs"));
  put(r, request, "subject", reference(r, s->item_url[PERSON]));
  put_code(r, request, "authoredOn", s->created_at);
  put(r, request, "performer", one(r, organisation_reference(r, s->org)));
  put_opt(r, request, "reasonCode", one(r, concept(r, json_string_value(s->items[NEEDS_SUMMARY]))));
  if (s->items[CARER]) {
    json_t *carer = reference(r, s->item_url[CARER]);
    put_code(r, carer, "display", "The carer");
    put(r, request, "supportingInfo", one(r, carer));
  }
  return request;
}

/* ---- Notes that the share's own resource carries ---- */

static json_t *lawful_basis_note(struct render *r, const json_t *lawful_basis) {
  struct builder b = {0};
  add(&b, "Lawful basis for sharing: ");
  add(&b, mapped(r, need_text(r, lawful_basis, "basis"), LAWFUL_BASES, LAWFUL_BASIS_TEXTS));
  add_labelled(&b, " (consent given on ", opt_date(r, lawful_basis, "consent_given_on"), ")");
  add(&b, ".");
  add_labelled(&b, "\n", opt_text(r, lawful_basis, "note"), NULL);
  return object_with_text(r, built(r, &b));
}

/* What the carer's record holds that RelatedPerson has no element for, for their assessment. */
static json_t *carer_facts_note(struct render *r, const json_t *carer) {
  int under_18 = opt_flag(r, carer, "under_18");
  int lives_with = opt_flag(r, carer, "lives_with_person");
  if (under_18 < 0 && lives_with < 0) return NULL;
  struct builder b = {0};
  add(&b, "About the carer: ");
  if (under_18 >= 0) add(&b, under_18 ? "under 18 (a young carer)" : "18 or over");
  if (under_18 >= 0 && lives_with >= 0) add(&b, "; ");
  if (lives_with >= 0)
    add(&b, lives_with ? "lives with the person" : "does not live with the person");
  add(&b, ".");
  return object_with_text(r, built(r, &b));
}

/* Why and on what basis the share was made, the sender's message, the summaries not shown
 * elsewhere and a rejection's reason: notes on the share's own resource, before its own. */
static void add_share_notes(struct render *r, const struct share *s, json_t *resource) {
  json_t *notes = json_array();
  append(r, notes, lawful_basis_note(r, optional(r, s->json, "lawful_basis", JSON_OBJECT)));
  append_opt(r, notes, note(r, "Message from the sender: ", opt_text(r, s->json, "message")));
  if (s->kind != CARE_ACT_REFERRAL && s->kind != CARER_REFERRAL)
    append_opt(r, notes, note(r, "Summary of needs: ", json_string_value(s->items[NEEDS_SUMMARY])));
  append_opt(r, notes, note(r, "Summary of risks: ", json_string_value(s->items[RISK_SUMMARY])));
  if (s->kind == CARER_REFERRAL) append_opt(r, notes, carer_facts_note(r, s->items[CARER]));
  if (strcmp(s->status, "rejected") == 0)
    append_opt(r, notes,
               note(r, "Rejected by the partner: ", opt_text(r, s->json, "rejection_reason")));
  const json_t *own = json_object_get(resource, "note");
  if (own && json_array_extend(notes, (json_t *)own) != 0) r->failed = true;
  put(r, resource, "note", notes);
}

static void add_entry(struct render *r, json_t *entries, const char *url, json_t *resource) {
  json_t *entry = json_object();
  put_code(r, entry, "fullUrl", url);
  put(r, entry, "resource", resource);
  append(r, entries, entry);
}

/* The share's own resource first, then one for each item shared. */
static void add_entries(struct render *r, const struct share *s, json_t *entries) {
  json_t *own;
  const char *own_url;
  if (s->kind == CARE_PLAN_SHARE) {
    own = care_plan_resource(r, s);
    own_url = s->item_url[CARE_PLAN];
  } else if (s->kind == TRANSFER_SHARE) {
    own = task_resource(r, s);
    own_url = s->item_url[TRANSFER];
  } else {
    own = share_service_request(r, s);
    own_url = s->url;
  }
  add_share_notes(r, s, own);
  add_entry(r, entries, own_url, own);
  if (s->items[PERSON]) add_entry(r, entries, s->item_url[PERSON], patient_resource(r, s));
  if (s->items[CARER]) add_entry(r, entries, s->item_url[CARER], related_person_resource(r, s));
  if (s->items[EPISODE])
    add_entry(r, entries, s->item_url[EPISODE], episode_of_care_resource(r, s));
  if (s->items[CARE_TEAM]) add_entry(r, entries, s->item_url[CARE_TEAM], care_team_resource(r, s));
  if (s->items[CARE_PLAN] && s->kind != CARE_PLAN_SHARE)
    add_entry(r, entries, s->item_url[CARE_PLAN], care_plan_resource(r, s));
  if (s->items[TRANSFER] && s->kind != TRANSFER_SHARE)
    add_entry(r, entries, s->item_url[TRANSFER], task_resource(r, s));
}

json_t *fhir_share_bundle(const json_t *share) {
  struct render r = {0};
  struct share s = {0};
  read_share(&r, share, &s);
  if (r.failed) return NULL;
  json_t *bundle = json_object();
  put_code(&r, bundle, "resourceType", "Bundle");
  put_code(&r, bundle, "id", s.id);
  json_t *meta = json_object();
  put_code(&r, meta, "versionId", r.version_id);
  put_code(&r, meta, "lastUpdated", r.last_updated);
  put(&r, bundle, "meta", meta);
  put_code(&r, bundle, "type", "collection");
  put_code(&r, bundle, "timestamp", r.last_updated); /* no clock: as of the share's last change */
  json_t *entries = json_array();
  add_entries(&r, &s, entries);
  put(&r, bundle, "entry", entries);
  if (r.failed) {
    json_decref(bundle);
    return NULL;
  }
  return bundle;
}

/* ---- A partner's referral ---- */

/* The identifier system of a partner's own referral numbers: one per partner, the partner's
 * code percent-encoded as a path segment (a URI has no spaces). */
static json_t *partner_referral_system(struct render *r, const char *source_org) {
  static const char HEX[] = "0123456789ABCDEF";
  struct builder b = {0};
  add(&b, PARTNER_REFERRAL_SYSTEM);
  for (const unsigned char *c = (const unsigned char *)source_org; c && *c; c++) {
    bool unreserved = (*c >= 'A' && *c <= 'Z') || (*c >= 'a' && *c <= 'z') ||
                      (*c >= '0' && *c <= '9') || strchr("-._~", *c);
    char piece[4] = {(char)*c, '\0'};
    if (!unreserved) snprintf(piece, sizeof piece, "%%%c%c", HEX[*c >> 4], HEX[*c & 0xf]);
    add(&b, piece);
  }
  return built(r, &b);
}

json_t *fhir_referral_service_request(const json_t *referral) {
  struct render r = {0};
  if (!json_is_object(referral)) return NULL;
  const char *id = need_uuid(&r, referral, "id");
  r.last_updated = need_instant(&r, referral, "updated_at");
  read_version(&r, referral);
  const char *status =
      mapped(&r, need_text(&r, referral, "status"), REFERRAL_STATUSES, SERVICE_REQUEST_OF_REFERRAL);
  const char *priority = mapped(&r, need_text(&r, referral, "urgency"), URGENCIES, PRIORITIES);
  const char *source_org = need_text(&r, referral, "source_org");
  const char *received_at = need_instant(&r, referral, "received_at");
  const char *reference_number = opt_text(&r, referral, "external_reference");
  if (r.failed) return NULL;

  json_t *request = new_resource(&r, "ServiceRequest", id, true);
  if (reference_number) {
    json_t *identifier = json_object();
    put(&r, identifier, "system", partner_referral_system(&r, source_org));
    put_required_text(&r, identifier, "value", reference_number);
    put(&r, request, "identifier", one(&r, identifier));
  }
  put_code(&r, request, "status", status);
  put_code(&r, request, "intent", "order");
  put_code(&r, request, "priority", priority);
  /* R4 requires a subject, and the partner view names no one: the partner knows whom it
   * referred, so the subject says so rather than repeat (or invent) who it is. */
  put(&r, request, "subject",
      display_reference(&r, "The person referred (named in the referrer's own record)"));
  put_code(&r, request, "authoredOn", received_at);
  put(&r, request, "requester", organisation_reference(&r, source_org));
  json_t *notes = json_array();
  append_opt(&r, notes,
             note(&r, "Reason for the decision: ", opt_text(&r, referral, "decision_reason")));
  append_opt(&r, notes, note(&r, "Redirected to: ", opt_text(&r, referral, "redirected_to")));
  put_opt(&r, request, "note", unless_empty(notes));
  if (r.failed) {
    json_decref(request);
    return NULL;
  }
  return request;
}
