/* Extracts for reporting tools (GET /extracts/{table}, role reporting): every row of one table
 * shaped like a table of the national Mental Health Services Data Set (MHSDS), as NDJSON or, by
 * Accept, CSV, with `since` for incremental loads.
 *
 * No person is named: Person_ID is a keyed hash of the service user's id (pseudonym.h), and no
 * name, NHS number, date of birth, address or free text is selected at all.
 *
 * Streaming, so that memory stays flat however many rows: the rows are read through a cursor
 * (DECLARE ... CURSOR, FETCH_ROWS at a time) in a REPEATABLE READ READ ONLY transaction on a
 * pooled connection that the stream holds, and rendered a few kilobytes ahead of the socket by
 * the HTTP library's read callback. The stream's release callback rolls the transaction back and
 * returns the connection, whether the extract was sent in full, failed, or its client went away.
 * At most a few extracts run at once (struct extract_limit), so that they cannot take the pool
 * from clinical work.
 *
 * Every extract is one `export` audit event, committed before the snapshot is taken and the first
 * row sent, so that an interrupted download is on the record too.
 *
 * Incremental loads: each row has a LastModified (its last change); `since` keeps the rows
 * changed at or after it. The response's Extract-Next-Since is the `since` of the next load: the
 * earlier of the time it was read and the start of every transaction then still in progress, so
 * a change committed after the snapshot but dated before it is not lost (README "Extracts"). */
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "extract_format.h"
#include "http/exchange.h"
#include "http/negotiate.h"
#include "log.h"
#include "pseudonym.h"
#include "resources/resources.h"
#include "rules/clocks.h"
#include "rules/transfer_rules.h"

#define FETCH_ROWS 500
#define FETCH_ROWS_TEXT "500"
/* How far ahead of the socket rows are rendered. */
#define FILL_BYTES 32768

#define CURSOR "DECLARE extract_rows NO SCROLL CURSOR FOR "
#define UTC_TIME(T) "to_char((" T ") AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"')"
#define LONDON_DATE(T) "to_char((" T ") AT TIME ZONE 'Europe/London', 'YYYY-MM-DD')"
#define LONDON_TIME(T) "to_char((" T ") AT TIME ZONE 'Europe/London', 'HH24:MI:SS')"
#define SINCE(T) "($1::timestamptz IS NULL OR " T " >= $1::timestamptz)"

/* ---- the tables ---- */

struct extract_column {
  const char *name;
  enum value_kind kind;
  bool person; /* a service user's id, written as its pseudonym */
};

#define TEXT(NAME) {NAME, VALUE_TEXT, false}
#define BOOL(NAME) {NAME, VALUE_BOOL, false}
#define NUMBER(NAME) {NAME, VALUE_NUMBER, false}
#define PERSON {"Person_ID", VALUE_TEXT, true}

struct extract_stream;

struct extract_table {
  const char *name;  /* the path segment */
  const char *mhsds; /* the MHSDS table it follows */
  const struct db_stmt declare; /* the cursor over the rows, $1 = since (or NULL) */
  const struct extract_column *columns; /* in the order of the cursor's columns */
  size_t count;
  /* Fills the values the cursor leaves to C (the rules' own computations); may be NULL. */
  bool (*derive)(struct extract_stream *s, const char **values);
};

/* MHS101 Referral. A referral's service request ends when it is declined, redirected or
 * withdrawn, or with the episode it opened. */
static const struct extract_column REFERRAL_COLUMNS[] = {
    TEXT("ServiceRequestId"),      PERSON,
    TEXT("CareProfTeamLocalId"),   TEXT("ReferralRequestReceivedDate"),
    TEXT("ReferralRequestReceivedTime"), TEXT("SourceOfReferralMH"),
    TEXT("ClinRespPriorityType"),  TEXT("ReferralStatus"),
    TEXT("ReferralDecisionDate"),  TEXT("ServDischDate"),
    TEXT("LastModified")};
#define REFERRAL_CHANGED "greatest(r.updated_at, e.closed_at)"

/* MHS006 Care co-ordinator assignment: allocations in the care_coordinator role (R-ALC-2). The
 * holder is a staff id, or none when held outside the trust (never the external holder's name). */
static const struct extract_column ASSIGNMENT_COLUMNS[] = {
    TEXT("CareCoordAssignmentId"), PERSON,
    TEXT("ServiceRequestId"),      TEXT("EpisodeId"),
    TEXT("CareProfTeamLocalId"),   TEXT("CareProfLocalId"),
    BOOL("CareCoordHeldExternally"), TEXT("StartDateAssCareCoord"),
    TEXT("EndDateAssCareCoord"),   TEXT("LastModified")};

/* MHS008 Care plan type: one row per care plan (its current version number). */
static const struct extract_column CARE_PLAN_COLUMNS[] = {
    TEXT("CarePlanID"),            PERSON,
    TEXT("ServiceRequestId"),      TEXT("EpisodeId"),
    TEXT("CareProfTeamLocalId"),   TEXT("CarePlanStatus"),
    NUMBER("CarePlanVersion"),     TEXT("CarePlanCreatDate"),
    TEXT("CarePlanImplementDate"), TEXT("CarePlanSupersededDate"),
    TEXT("LastModified")};

/* MHS009 Care plan agreement: every agreement recorded with a version (R-CPL-4); the reason not
 * agreed and the carer's involvement are free text and stay out. */
static const struct extract_column AGREEMENT_COLUMNS[] = {
    TEXT("CarePlanAgreementId"),   TEXT("CarePlanID"),
    PERSON,                        TEXT("CareProfTeamLocalId"),
    NUMBER("CarePlanVersion"),     BOOL("CarePlanAgreed"),
    TEXT("CarePlanContentAgreedBy"), TEXT("CarePlanContentAgreedDate"),
    TEXT("CarePlanAgreementMethod"), TEXT("CarePlanAgreementRecordedDate"),
    TEXT("LastModified")};

/* MHS701 CPA episode: the periods on CPA, from the care-level history. A period starts when the
 * level becomes cpa (its id is that change's) and ends at the next change (a step down) or when
 * the episode closes. An episode on CPA with no recorded history (made before it was kept) is
 * one period from its opening, with the episode's id. */
static const struct extract_column CPA_EPISODE_COLUMNS[] = {
    TEXT("CPAEpisodeId"),          PERSON,
    TEXT("ServiceRequestId"),      TEXT("EpisodeId"),
    TEXT("CareProfTeamLocalId"),   TEXT("StartDateCPA"),
    TEXT("EndDateCPA"),            TEXT("CPAEndReason"),
    TEXT("LastModified")};
#define CPA_PERIODS                                                                              \
  "WITH periods AS ("                                                                           \
  "  SELECT c.id, c.episode_id, c.changed_at AS started_at,"                                    \
  "   (SELECT min(n.changed_at) FROM episode_care_level_changes n"                              \
  "     WHERE n.episode_id = c.episode_id AND n.changed_at > c.changed_at) AS stepped_down_at"  \
  "  FROM episode_care_level_changes c WHERE c.to_level = 'cpa'"                                \
  "  UNION ALL"                                                                                 \
  "  SELECT e.id, e.id, e.opened_at, NULL FROM episodes e WHERE e.care_level = 'cpa'"           \
  "   AND NOT EXISTS (SELECT 1 FROM episode_care_level_changes h WHERE h.episode_id = e.id)"    \
  "), bounded AS ("                                                                             \
  "  SELECT p.*, e.service_user_id, e.referral_id, e.team_id, e.closed_at,"                     \
  "   least(p.stepped_down_at, e.closed_at) AS ended_at"                                        \
  "  FROM periods p JOIN episodes e ON e.id = p.episode_id) "

/* MHS702 CPA review: reviews held while the episode was on CPA, in the CPA period they fell in.
 * The summary, attendees and invitees are free text or names and stay out. */
static const struct extract_column CPA_REVIEW_COLUMNS[] = {
    TEXT("CPAReviewId"),           TEXT("CPAEpisodeId"),
    PERSON,                        TEXT("ServiceRequestId"),
    TEXT("EpisodeId"),             TEXT("CareProfTeamLocalId"),
    TEXT("CPAReviewDate"),         TEXT("CPAReviewType"),
    TEXT("CPAReviewOutcome"),      TEXT("CareLevelAfterReview"),
    TEXT("NextCPAReviewDueDate"),  TEXT("LastModified")};

/* Follow-up after a hospital discharge (R-TRF-3): completed hospital_discharge transfers with the
 * first face-to-face follow-up on or after the discharge, and whether it came within the policy
 * interval. The due date and that answer come from the rule itself (follow_up_clock), so the
 * extract and the worklist never disagree. No answer while no follow-up has been made: that
 * depends on today, and a row changes only with its data. */
static const struct extract_column FOLLOW_UP_COLUMNS[] = {
    TEXT("TransferId"),            PERSON,
    TEXT("ServiceRequestId"),      TEXT("EpisodeId"),
    TEXT("CareProfTeamLocalId"),   TEXT("DischDateHospProvSpell"),
    NUMBER("FollowUpPolicyDays"),  TEXT("FollowUpDueDate"),
    TEXT("FollowUpFaceToFaceDate"), BOOL("FollowUpWithinPolicy"),
    TEXT("LastModified")};
enum { FU_DISCHARGED = 5, FU_DAYS, FU_DUE, FU_FACE_TO_FACE, FU_WITHIN };
#define FOLLOW_UP_CHANGED "greatest(t.updated_at, m.contact_recorded_at)"

static bool derive_follow_up(struct extract_stream *s, const char **values);

#define COLUMNS(A) A, sizeof A / sizeof A[0]

static const struct extract_table TABLES[] = {
    {"referrals", "MHS101",
     {"extract_referrals",
      CURSOR "SELECT r.id, r.service_user_id, r.responding_team_id, " LONDON_DATE("r.received_at")
      ", " LONDON_TIME("r.received_at") ", r.source_type, coalesce(r.triaged_urgency, r.urgency),"
      " r.status, " LONDON_DATE("r.decided_at") ","
      " CASE WHEN r.status IN ('declined', 'redirected', 'withdrawn')"
      "   THEN " LONDON_DATE("r.decided_at")
      "   WHEN r.status = 'accepted' THEN " LONDON_DATE("e.closed_at") " END, "
      UTC_TIME(REFERRAL_CHANGED)
      " FROM referrals r LEFT JOIN episodes e ON e.id = r.episode_id"
      " WHERE " SINCE("r.updated_at") " OR e.closed_at >= $1::timestamptz"
      " ORDER BY " REFERRAL_CHANGED ", r.id",
      1},
     COLUMNS(REFERRAL_COLUMNS), NULL},
    {"care-coordinator-assignments", "MHS006",
     {"extract_assignments",
      CURSOR "SELECT a.id, e.service_user_id, e.referral_id, e.id, e.team_id, a.holder_staff_id,"
      " a.holder_staff_id IS NULL, " LONDON_DATE("a.started_at") ", " LONDON_DATE("a.ended_at")
      ", " UTC_TIME("a.updated_at")
      " FROM allocations a JOIN episodes e ON e.id = a.episode_id"
      " WHERE a.role = 'care_coordinator' AND " SINCE("a.updated_at")
      " ORDER BY a.updated_at, a.id",
      1},
     COLUMNS(ASSIGNMENT_COLUMNS), NULL},
    {"care-plans", "MHS008",
     {"extract_care_plans",
      CURSOR "SELECT p.id, e.service_user_id, e.referral_id, e.id, e.team_id, p.status,"
      " p.plan_version, " LONDON_DATE("p.created_at") ", " LONDON_DATE("p.activated_at") ", "
      LONDON_DATE("p.superseded_at") ", " UTC_TIME("p.updated_at")
      " FROM care_plans p JOIN episodes e ON e.id = p.episode_id"
      " WHERE " SINCE("p.updated_at") " ORDER BY p.updated_at, p.id",
      1},
     COLUMNS(CARE_PLAN_COLUMNS), NULL},
    {"care-plan-agreements", "MHS009",
     {"extract_care_plan_agreements",
      CURSOR "SELECT g.id, g.care_plan_id, e.service_user_id, e.team_id, g.plan_version,"
      " (g.agreement ->> 'agreed')::boolean,"
      " CASE WHEN (g.agreement ->> 'agreed')::boolean THEN 'service_user' END,"
      " g.agreement ->> 'agreed_on', g.agreement ->> 'how', " LONDON_DATE("g.recorded_at") ", "
      UTC_TIME("g.recorded_at")
      " FROM care_plan_agreements g JOIN care_plans p ON p.id = g.care_plan_id"
      " JOIN episodes e ON e.id = p.episode_id"
      " WHERE " SINCE("g.recorded_at") " ORDER BY g.recorded_at, g.id",
      1},
     COLUMNS(AGREEMENT_COLUMNS), NULL},
    {"cpa-episodes", "MHS701",
     {"extract_cpa_episodes",
      CURSOR CPA_PERIODS
      "SELECT id, service_user_id, referral_id, episode_id, team_id, " LONDON_DATE("started_at")
      ", " LONDON_DATE("ended_at") ","
      " CASE WHEN ended_at IS NULL THEN NULL"
      "   WHEN ended_at = stepped_down_at THEN 'step_down' ELSE 'episode_closed' END, "
      UTC_TIME("greatest(started_at, ended_at)")
      " FROM bounded WHERE " SINCE("greatest(started_at, ended_at)")
      " ORDER BY greatest(started_at, ended_at), id",
      1},
     COLUMNS(CPA_EPISODE_COLUMNS), NULL},
    {"cpa-reviews", "MHS702",
     {"extract_cpa_reviews",
      CURSOR "SELECT r.id, coalesce("
      "  (SELECT c.id FROM episode_care_level_changes c WHERE c.episode_id = r.episode_id"
      "    AND c.to_level = 'cpa'"
      "    AND (c.changed_at AT TIME ZONE 'Europe/London')::date <= r.held_on"
      "    ORDER BY c.changed_at DESC LIMIT 1),"
      "  CASE WHEN NOT EXISTS (SELECT 1 FROM episode_care_level_changes h"
      "    WHERE h.episode_id = r.episode_id) THEN e.id END),"
      " e.service_user_id, e.referral_id, e.id, e.team_id, to_char(r.held_on, 'YYYY-MM-DD'),"
      " r.type, r.outcome, r.care_level_after, to_char(r.next_review_due, 'YYYY-MM-DD'), "
      UTC_TIME("r.updated_at")
      " FROM reviews r JOIN episodes e ON e.id = r.episode_id"
      " WHERE r.status = 'held' AND r.care_level_before = 'cpa' AND " SINCE("r.updated_at")
      " ORDER BY r.updated_at, r.id",
      1},
     COLUMNS(CPA_REVIEW_COLUMNS), NULL},
    {"discharge-follow-ups", "follow-up after hospital discharge (R-TRF-3)",
     {"extract_discharge_follow_ups",
      CURSOR "SELECT t.id, e.service_user_id, e.referral_id, e.id, e.team_id,"
      " t.details ->> 'discharged_on', NULL, NULL,"
      " (SELECT to_char(min(c.contact_on), 'YYYY-MM-DD') FROM transfer_contacts c"
      "   WHERE c.transfer_id = t.id AND c.kind = 'follow_up' AND c.face_to_face"
      "     AND c.contact_on >= (t.details ->> 'discharged_on')::date), NULL, "
      UTC_TIME(FOLLOW_UP_CHANGED)
      " FROM transfers t JOIN episodes e ON e.id = t.episode_id,"
      " LATERAL (SELECT max(c.recorded_at) AS contact_recorded_at FROM transfer_contacts c"
      "   WHERE c.transfer_id = t.id AND c.kind = 'follow_up') m"
      " WHERE t.type = 'hospital_discharge' AND t.status = 'completed'"
      " AND " SINCE(FOLLOW_UP_CHANGED) " ORDER BY " FOLLOW_UP_CHANGED ", t.id",
      1},
     COLUMNS(FOLLOW_UP_COLUMNS), derive_follow_up},
};
#define TABLE_COUNT (sizeof TABLES / sizeof TABLES[0])
#define COLUMNS_MAX 16

static const struct extract_table *table_named(const char *name) {
  for (size_t i = 0; i < TABLE_COUNT; i++)
    if (strcmp(TABLES[i].name, name) == 0) return &TABLES[i];
  return NULL;
}

/* ---- statements shared by every table ---- */

/* The next load's `since`: now, or the start of the oldest transaction still in progress in
 * this database (another extract's read-only snapshot excepted), whichever is earlier. Read
 * before the extract's snapshot, so that every change the snapshot cannot see is dated at or
 * after it. Only the sessions of the service's own role are visible here, which are the ones
 * that write. */
static const struct db_stmt NEXT_SINCE = {
    "extract_next_since",
    "SELECT " UTC_TIME("least(now(), min(a.xact_start))") " FROM pg_stat_activity a"
    " WHERE a.datname = current_database() AND a.pid <> pg_backend_pid()"
    " AND a.xact_start IS NOT NULL AND a.application_name <> 'carecoord extract'",
    0};
/* Where the primary's WAL ends, read just after NEXT_SINCE (in the same round trip): a standby
 * that has replayed up to here has every transaction that NEXT_SINCE did not see in progress
 * (NULL on a standby, where the main pool never is). */
static const struct db_stmt WAL_POSITION = {
    "extract_wal_position",
    "SELECT CASE WHEN NOT pg_is_in_recovery() THEN pg_current_wal_insert_lsn()::text END", 0};
static const struct db_stmt READ_ONLY_SNAPSHOT = {
    "extract_snapshot", "SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY", 0};
/* The snapshot's time; the session is marked as an extract's for NEXT_SINCE. */
static const struct db_stmt SNAPSHOT_AT = {
    "extract_snapshot_at",
    "SELECT set_config('application_name', 'carecoord extract', true), " UTC_TIME("now()"), 0};
static const struct db_stmt FETCH = {"extract_fetch",
                                     "FETCH " FETCH_ROWS_TEXT " FROM extract_rows", 0};

/* ---- how many run at once ---- */

struct extract_limit {
  atomic_int running;
  int max;
};

struct extract_limit *extract_limit_new(int concurrency, int pool_size) {
  struct extract_limit *limit = calloc(1, sizeof *limit);
  if (!limit) return NULL;
  /* Never more than half the pool, so clinical requests always find a connection. */
  int half = pool_size / 2 > 0 ? pool_size / 2 : 1;
  limit->max = concurrency < half ? concurrency : half;
  return limit;
}

void extract_limit_free(struct extract_limit *limit) { free(limit); }

int extract_limit_max(const struct extract_limit *limit) { return limit->max; }

static bool extract_limit_take(struct extract_limit *limit) {
  if (atomic_fetch_add(&limit->running, 1) < limit->max) return true;
  atomic_fetch_sub(&limit->running, 1);
  return false;
}

/* ---- the stream ---- */

struct extract_stream {
  const struct extract_table *table;
  enum extract_format format;
  struct extract_limit *limit; /* the slot this stream holds */
  struct tx tx;                /* the snapshot's transaction, holding its connection */
  PGresult *rows;              /* the current batch */
  int next_row;
  bool finished;  /* every row has been rendered */
  bool failed;    /* a batch could not be fetched or rendered: the response was cut short */
  bool streaming; /* the response owns the stream */
  struct pseudonymiser *pseudonymiser;
  int follow_up_days;
  struct text_buffer out; /* rendered, out.data[sent..len) not yet sent */
  size_t sent;
  long long row_count, byte_count;
  char request_id[REQUEST_ID_MAX + 1];
  /* what derive_follow_up computes, valid until the next row */
  char days[12];
  struct clock_state clock;
};

static bool derive_follow_up(struct extract_stream *s, const char **values) {
  snprintf(s->days, sizeof s->days, "%d", s->follow_up_days);
  values[FU_DAYS] = s->days;
  /* R-TRF-3, with no `today`: the answer depends only on the row's own data. */
  if (!follow_up_clock(values[FU_DISCHARGED], values[FU_FACE_TO_FACE], s->follow_up_days, NULL,
                       &s->clock))
    return false;
  values[FU_DUE] = s->clock.has_due ? s->clock.due : NULL;
  values[FU_FACE_TO_FACE] = s->clock.has_completed ? s->clock.completed : NULL;
  values[FU_WITHIN] = !s->clock.has_completed || !s->clock.has_due           ? NULL
                      : strcmp(s->clock.completed, s->clock.due) <= 0 ? "t"
                                                                       : "f";
  return true;
}

static bool render_row(struct extract_stream *s, int row) {
  const struct extract_table *t = s->table;
  const char *names[COLUMNS_MAX], *values[COLUMNS_MAX];
  enum value_kind kinds[COLUMNS_MAX];
  char person[PSEUDONYM_HEX_LEN + 1];
  for (size_t i = 0; i < t->count; i++) {
    names[i] = t->columns[i].name;
    kinds[i] = t->columns[i].kind;
    values[i] = PQgetisnull(s->rows, row, (int)i) ? NULL : PQgetvalue(s->rows, row, (int)i);
    if (t->columns[i].person && values[i]) {
      if (!pseudonymise(s->pseudonymiser, values[i], person)) return false;
      values[i] = person;
    }
  }
  if (t->derive && !t->derive(s, values)) return false;
  extract_write_row(&s->out, s->format, names, kinds, values, t->count);
  s->row_count++;
  return !s->out.failed;
}

/* Renders rows until FILL_BYTES are ready or none are left, fetching the next batch as needed. */
static enum cc_status stream_fill(struct extract_stream *s) {
  while (s->out.len < FILL_BYTES && !s->finished) {
    int batch = PQntuples(s->rows);
    if (s->next_row < batch) {
      if (!render_row(s, s->next_row++)) return CC_INTERNAL;
      continue;
    }
    if (batch < FETCH_ROWS) {
      s->finished = true;
      break;
    }
    PQclear(s->rows);
    s->rows = NULL;
    s->next_row = 0;
    enum cc_status status = tx_exec(&s->tx, &FETCH, NULL, &s->rows);
    if (status != CC_OK) return status;
  }
  return CC_OK;
}

static ssize_t stream_read(void *arg, char *buf, size_t max) {
  struct extract_stream *s = arg;
  while (s->sent == s->out.len) {
    text_buffer_clear(&s->out);
    s->sent = 0;
    if (s->finished) return U_STREAM_END;
    if (stream_fill(s) != CC_OK) {
      s->failed = true;
      return U_STREAM_ERROR;
    }
  }
  size_t n = s->out.len - s->sent < max ? s->out.len - s->sent : max;
  memcpy(buf, s->out.data + s->sent, n);
  s->sent += n;
  s->byte_count += (long long)n;
  return (ssize_t)n;
}

/* Ends the transaction (a rollback: it only read) and gives back the connection and the slot. */
static void stream_release(void *arg) {
  struct extract_stream *s = arg;
  if (s->streaming)
    log_event(s->failed ? LOG_WARN : LOG_INFO, "extract finished",
              json_pack("{s:s, s:s, s:I, s:I, s:b}", "request_id", s->request_id, "table",
                        s->table->name, "rows", (json_int_t)s->row_count, "bytes",
                        (json_int_t)s->byte_count, "complete",
                        s->finished && s->sent == s->out.len && !s->failed));
  PQclear(s->rows);
  tx_end(&s->tx);
  pseudonymiser_free(s->pseudonymiser);
  text_buffer_free(&s->out);
  atomic_fetch_sub(&s->limit->running, 1);
  free(s);
}

/* ---- the request ---- */

/* The extract's representation: NDJSON unless the client prefers CSV. */
static const char *const OFFERS[] = {"application/x-ndjson", "text/csv", "application/json"};
static const char *const FORMAT_NAMES[] = {[EXTRACT_NDJSON] = "ndjson", [EXTRACT_CSV] = "csv"};
static const char *const CONTENT_TYPES[] = {
    [EXTRACT_NDJSON] = "application/x-ndjson",
    [EXTRACT_CSV] = "text/csv; charset=utf-8; header=present"};

static bool negotiate_format(struct exchange *x, enum extract_format *format) {
  int offer = negotiate_media_type(exchange_header(x, "Accept"), OFFERS, 3);
  if (offer < 0) {
    reply_problem(x, CC_NOT_ACCEPTABLE,
                  "Extracts are sent as application/x-ndjson (also when application/json is "
                  "asked for) or text/csv.");
    return false;
  }
  *format = offer == 1 ? EXTRACT_CSV : EXTRACT_NDJSON;
  return true;
}

static bool query_since(struct exchange *x, const char **since) {
  *since = exchange_query(x, "since");
  time_t ignored;
  if (!*since || timestamp_parse(*since, &ignored)) return true;
  struct field_errors errors = {0};
  field_errors_add(&errors, "/since", NULL,
                   "must be an RFC 3339 date-time such as 2026-01-31T09:30:00Z");
  reply_bad_request(x, &errors, "since must be an RFC 3339 date-time.");
  return false;
}

/* The export event, committed before the snapshot is taken; and the next load's `since`, with
 * the primary's WAL position at that moment (wal_lsn). */
static enum cc_status record_export(struct exchange *x, const struct extract_table *table,
                                    enum extract_format format, const char *since,
                                    char *next_since, size_t size, char *wal_lsn,
                                    size_t lsn_size) {
  struct tx tx;
  PGresult *res[2] = {0};
  enum cc_status status = tx_begin(x->app->pool, &tx);
  const struct db_stmt *const stmts[] = {&NEXT_SINCE, &WAL_POSITION};
  const char *const *const params[] = {NULL, NULL};
  if (status == CC_OK) status = tx_exec_batch(&tx, 2, stmts, params, res);
  if (status == CC_OK) {
    snprintf(next_since, size, "%s", PQgetvalue(res[0], 0, 0));
    snprintf(wal_lsn, lsn_size, "%s", PQgetvalue(res[1], 0, 0));
    json_t *details = json_pack("{s:s, s:s, s:s, s:s?, s:s}", "table", table->name, "mhsds",
                                table->mhsds, "format", FORMAT_NAMES[format], "since", since,
                                "next_since", next_since);
    struct audit_event event = {.action = "export", .resource_type = "extract",
                                .resource_id = table->name, .outcome = "success",
                                .details = details};
    status = details ? audit_append(&tx, &x->actor, &event) : CC_INTERNAL;
    json_decref(details);
  }
  if (status == CC_OK) status = tx_commit(&tx);
  PQclear(res[0]);
  PQclear(res[1]);
  tx_end(&tx);
  return status;
}

/* The export was recorded but no row could be read (the read database did not answer, was too
 * far behind, or failed): a second event says so, so that the trail does not show an export
 * that sent nothing as a success alone. Best effort: the primary may be what failed. */
static void record_export_failed(struct exchange *x, const struct extract_table *table,
                                 enum cc_status failure) {
  struct tx tx;
  json_t *details = json_pack("{s:s, s:s, s:i}", "table", table->name, "mhsds", table->mhsds,
                              "status", cc_status_info(failure)->http_status);
  struct audit_event event = {.action = "export", .resource_type = "extract",
                              .resource_id = table->name, .outcome = "failed",
                              .details = details};
  if (details && tx_begin(x->app->pool, &tx) == CC_OK) {
    if (audit_append(&tx, &x->actor, &event) == CC_OK) tx_commit(&tx);
    tx_end(&tx);
  }
  json_decref(details);
}

/* Opens the snapshot and its cursor and fetches the first batch, in one round trip, so that a
 * failure is still an ordinary problem reply rather than a stream cut short. On a read pool of
 * its own the session first waits until its server has replayed the primary's WAL to wal_lsn
 * (up to catch_up_ms), so that Extract-Next-Since, read on the primary, stays early enough:
 * every change the snapshot misses committed after wal_lsn, in a transaction then in progress
 * or not yet begun, dated (updated_at = its start) at or after Extract-Next-Since. */
static enum cc_status open_snapshot(struct extract_stream *s, struct db_pool *pool,
                                    const char *wal_lsn, int catch_up_ms, const char *since,
                                    char *snapshot_at, size_t size) {
  enum cc_status status = tx_begin(pool, &s->tx);
  if (status != CC_OK) return status;
  if (wal_lsn) status = tx_wait_for_replay(&s->tx, wal_lsn, catch_up_ms);
  if (status != CC_OK) return status;
  const struct db_stmt *const stmts[] = {&READ_ONLY_SNAPSHOT, &SNAPSHOT_AT, &s->table->declare,
                                         &FETCH};
  const char *const declare_params[] = {since};
  const char *const *const params[] = {NULL, NULL, declare_params, NULL};
  PGresult *out[4] = {0};
  status = tx_exec_batch(&s->tx, 4, stmts, params, out);
  if (status == CC_OK) snprintf(snapshot_at, size, "%s", PQgetvalue(out[1], 0, 1));
  s->rows = out[3];
  PQclear(out[0]);
  PQclear(out[1]);
  PQclear(out[2]);
  /* A read-only snapshot conflicts with nothing but a standby's replay (query cancelled). */
  return status == CC_CONFLICT ? CC_UNAVAILABLE : status;
}

static struct extract_stream *stream_new(struct exchange *x, const struct extract_table *table,
                                         enum extract_format format) {
  struct extract_stream *s = calloc(1, sizeof *s);
  if (!s) return NULL;
  s->table = table;
  s->format = format;
  s->limit = x->app->extract_limit;
  s->follow_up_days = x->app->config->policy.discharge_follow_up_days;
  snprintf(s->request_id, sizeof s->request_id, "%s", x->request_id);
  s->pseudonymiser =
      pseudonymiser_new(x->app->config->pseudonym_key, x->app->config->pseudonym_key_len);
  if (!s->pseudonymiser) {
    free(s);
    return NULL;
  }
  const char *names[COLUMNS_MAX];
  for (size_t i = 0; i < table->count; i++) names[i] = table->columns[i].name;
  extract_write_header(&s->out, format, names, table->count);
  return s;
}

void extracts_stream(struct exchange *x) {
  const struct extract_table *table = table_named(x->params[0]);
  if (!table) {
    reply_problem(x, CC_NOT_FOUND,
                  "No such extract: the extracts are referrals, care-coordinator-assignments, "
                  "care-plans, care-plan-agreements, cpa-episodes, cpa-reviews and "
                  "discharge-follow-ups.");
    return;
  }
  const char *since;
  enum extract_format format;
  if (!query_since(x, &since) || !negotiate_format(x, &format)) return;
  if (!x->app->config->pseudonym_key_len) {
    reply_problem(x, CC_UNAVAILABLE,
                  "Extracts are not configured on this service: it has no pseudonymisation key "
                  "(CARECOORD_PSEUDONYM_KEY_FILE).");
    u_map_remove_from_key(x->response->map_header, "Retry-After");
    return;
  }
  if (!extract_limit_take(x->app->extract_limit)) {
    reply_problem(x, CC_UNAVAILABLE, "%d extracts are running, the most allowed at once.",
                  extract_limit_max(x->app->extract_limit));
    reply_header(x, "Retry-After", "5");
    return;
  }
  struct extract_stream *s = stream_new(x, table, format);
  if (!s) {
    atomic_fetch_sub(&x->app->extract_limit->running, 1);
    reply_problem(x, CC_INTERNAL, NULL);
    return;
  }
  char next_since[40] = "", snapshot_at[40] = "", wal_lsn[40] = "";
  bool read_pool = x->app->read_pool != x->app->pool;
  enum cc_status status = record_export(x, table, format, since, next_since, sizeof next_since,
                                        wal_lsn, sizeof wal_lsn);
  bool recorded = status == CC_OK;
  if (status == CC_OK)
    status = open_snapshot(s, x->app->read_pool, read_pool ? wal_lsn : NULL,
                           x->app->config->read_catch_up_ms, since, snapshot_at,
                           sizeof snapshot_at);
  if (status != CC_OK && recorded) {
    /* The slot's connection goes back before the event is written on the other pool. */
    tx_end(&s->tx);
    record_export_failed(x, table, status);
  }
  if (status == CC_OK) {
    reply_header(x, "Extract-Snapshot-At", snapshot_at);
    reply_header(x, "Extract-Next-Since", next_since);
    s->streaming = reply_stream(x, 200, CONTENT_TYPES[format], stream_read, stream_release, s);
    if (s->streaming) return; /* the response releases it */
    status = CC_INTERNAL;
  }
  stream_release(s);
  reply_problem(x, status, NULL);
}
