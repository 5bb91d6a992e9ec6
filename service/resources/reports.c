/* Reports (GET /reports, GET /reports/{measure}): the compliance figures of DOMAIN.md "Measures"
 * (seed 000 §5), by team and calendar month, as numerator, denominator and rate; never a name or
 * an identifier of a person. Each measure's definition is in MEASURES below and in the README
 * ("Reports"); the SQL that counts it is beside it.
 *
 * Who sees what: a manager sees their own team's figures in full; the `reporting` role sees every
 * team's (or one's) with small numbers suppressed (rules/report_rules.h). A manager asking for
 * another team is refused (403) and the refusal is audited; every report read is audited too,
 * with no person named, since there is none.
 *
 * Speed: the measures of episodes read the episode facts (db/migrations/0011_episode_facts.sql),
 * one row per episode with its history (days on CPA, reviews held, risk assessments), so a month
 * of one measure across 60 teams and 100,000 people is one pass over an index or a table, not a
 * query per episode. Months are computed by the rules in C and sent as two date arrays ($1 the
 * first days, $2 the days the end-of-month measures are taken: the last day, or today). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "auth/roles.h"
#include "fields.h"
#include "resources/episodes.h"
#include "resources/resources.h"
#include "rules/clocks.h"
#include "rules/report_rules.h"

/* The months of the period, $1 (first days) and $2 (the days measures are taken), with the end
 * of the day d as an instant. */
#define MONTHS_CTE                                                                              \
  "m AS (SELECT m.month, m.d, (m.d + 1)::timestamp AT TIME ZONE 'Europe/London' AS d_end"      \
  "  FROM unnest($1::date[], $2::date[]) AS m(month, d))"
/* The first day a thing done on it is still within INTERVAL before the day m.d, by the rules'
 * calendar (rules/clocks.h): due = done + INTERVAL, clamped to the month's end, and not overdue
 * on m.d means due >= m.d. Where clamping makes the day INTERVAL before m.d fall short (31
 * August less 6 months is 28 February, due 28 August), the window starts a day later. So a
 * clock started on a day s has fallen due before m.d exactly when s is before this day. */
#define WINDOW_START(INTERVAL)                                                                   \
  "CASE WHEN ((m.d - " INTERVAL ")::date + " INTERVAL ")::date >= m.d"                          \
  " THEN (m.d - " INTERVAL ")::date ELSE (m.d - " INTERVAL ")::date + 1 END"
/* The months as MONTHS_CTE, with that first day (window_start) and the days from it to m.d
 * (within_window), computed once a month rather than once an episode (a third of the time of a
 * region's month). */
#define MONTHS_WITH_WINDOW_CTE(INTERVAL)                                                        \
  "m0 AS (SELECT m.month, m.d, " WINDOW_START(INTERVAL) " AS window_start"                     \
  "  FROM unnest($1::date[], $2::date[]) AS m(month, d)),"                                      \
  " m AS (SELECT m0.*, daterange(m0.window_start, m0.d, '[]') AS within_window FROM m0)"
/* Whether the episode facts f describe an episode open at the end of the day m.d. */
#define OPEN_AT_END_OF_DAY "f.opened_on <= m.d AND (f.closed_on IS NULL OR f.closed_on > m.d)"
/* Only the team $3 when one is asked for. */
#define TEAM_FILTER(COLUMN) "($3::uuid IS NULL OR " COLUMN " = $3::uuid)"
/* Every team in scope, every month and every indicator, with the counts x found (0 when none),
 * so a month with nothing to count still shows. */
#define EVERY_TEAM_MONTH(INDICATORS)                                                            \
  " SELECT t.id, t.name, to_char(m.month, 'YYYY-MM'), i.indicator,"                             \
  "   COALESCE(x.numerator, 0), COALESCE(x.denominator, 0), NULL::json, x.statistics"           \
  " FROM teams t CROSS JOIN m CROSS JOIN (VALUES " INDICATORS ") AS i(indicator)"               \
  " LEFT JOIN x ON x.team_id = t.id AND x.month = m.month AND x.indicator = i.indicator"        \
  " WHERE " TEAM_FILTER("t.id") " ORDER BY t.name, t.id, m.month, i.indicator"

/* Every statement answers: team id, team name, month (YYYY-MM), indicator, numerator,
 * denominator, breakdown (json or NULL), statistics (json or NULL). */
enum { TEAM_ID, TEAM_NAME, MONTH, INDICATOR, NUMERATOR, DENOMINATOR, BREAKDOWN, STATISTICS };

/* R-REV-1, at the end of each month: episodes open and on CPA whose first review fell due before
 * that day; of them, those whose review is not overdue (one was held within the policy interval
 * before the day, $4 months). */
static const struct db_stmt CPA_REVIEWS = {
    "report_cpa_reviews",
    "WITH " MONTHS_WITH_WINDOW_CTE("make_interval(months => $4::int)") ","
    " x AS (SELECT f.team_id, m.month, 'reviewed_within_interval' AS indicator,"
    "   count(*) FILTER (WHERE f.review_days && m.within_window) AS numerator,"
    "   count(*) AS denominator, NULL::json AS statistics"
    " FROM episode_facts f JOIN m ON " OPEN_AT_END_OF_DAY " AND f.cpa_days @> m.d"
    "   AND f.clock_started_on < m.window_start"
    " WHERE f.cpa_days && daterange((SELECT min(month) FROM m), (SELECT max(d) FROM m), '[]')"
    "   AND " TEAM_FILTER("f.team_id") " GROUP BY f.team_id, m.month)"
    EVERY_TEAM_MONTH("('reviewed_within_interval')"),
    4};

/* R-ASM-1 and R-CPL-1, by the month the clock started (the first co-ordinating allocation):
 * those whose holistic assessment was completed ($4 days) and whose care plan was activated ($5
 * days) by the due day; the denominator leaves out those still pending (not done, not yet
 * overdue on $6, today), whom statistics.pending counts. */
static const struct db_stmt FIRST_28_DAYS = {
    "report_first_28_days",
    "WITH " MONTHS_CTE ","
    " c AS (SELECT f.team_id, m.month, i.indicator, london_date(i.done) <= i.due AS on_time,"
    "         i.done IS NULL AND i.due >= $6::date AS pending"
    "   FROM episode_facts f JOIN m ON f.clock_started_on BETWEEN m.month AND m.d"
    "   CROSS JOIN LATERAL (VALUES"
    "     ('holistic_assessment_on_time', f.holistic_completed_at,"
    "      f.clock_started_on + $4::int),"
    "     ('care_plan_on_time', f.plan_activated_at, f.clock_started_on + $5::int)"
    "   ) AS i(indicator, done, due)"
    "   WHERE " TEAM_FILTER("f.team_id") "),"
    " x AS (SELECT team_id, month, indicator, count(*) FILTER (WHERE on_time) AS numerator,"
    "   count(*) FILTER (WHERE NOT pending) AS denominator,"
    "   json_build_object('pending', count(*) FILTER (WHERE pending)) AS statistics"
    "   FROM c GROUP BY team_id, month, indicator)"
    EVERY_TEAM_MONTH("('care_plan_on_time'), ('holistic_assessment_on_time')"),
    6};

/* R-ASM-6, at the end of each month: open episodes whose first risk assessment (with the
 * holistic assessment, $4 days after the clock started) fell due before that day; of them,
 * those with an assessment with a risk section completed within $5 months before it. */
static const struct db_stmt RISK_REVIEWS = {
    "report_risk_reviews",
    "WITH " MONTHS_WITH_WINDOW_CTE("make_interval(months => $5::int)") ","
    " x AS (SELECT f.team_id, m.month, 'risk_reviewed_within_interval' AS indicator,"
    "   count(*) FILTER (WHERE f.risk_days && m.within_window) AS numerator,"
    "   count(*) AS denominator, NULL::json AS statistics"
    " FROM episode_facts f JOIN m ON " OPEN_AT_END_OF_DAY
    "   AND f.clock_started_on < m.d - $4::int"
    " WHERE " TEAM_FILTER("f.team_id") " GROUP BY f.team_id, m.month)"
    EVERY_TEAM_MONTH("('risk_reviewed_within_interval')"),
    5};

/* R-CAR-2, by the month a carer was identified: the carers of people with an episode of the team
 * open that day; of them, those offered an assessment of their own needs and those assessed (so
 * far). */
static const struct db_stmt CARERS = {
    "report_carers",
    "WITH " MONTHS_CTE ","
    " c AS (SELECT DISTINCT f.team_id, m.month, c.id,"
    "         c.assessment->>'offered_on' IS NOT NULL AS offered,"
    "         c.assessment->>'completed_on' IS NOT NULL AS assessed"
    "   FROM carers c JOIN m ON c.identified_on BETWEEN m.month AND m.d"
    "   JOIN episode_facts f ON f.service_user_id = c.service_user_id"
    "     AND f.opened_on <= c.identified_on"
    "     AND (f.closed_on IS NULL OR f.closed_on > c.identified_on)"
    "   WHERE " TEAM_FILTER("f.team_id") "),"
    " x AS (SELECT team_id, month, i.indicator, count(*) FILTER (WHERE i.met) AS numerator,"
    "   count(*) AS denominator, NULL::json AS statistics"
    "   FROM c CROSS JOIN LATERAL (VALUES ('offered_assessment', c.offered),"
    "     ('assessed', c.assessed)) AS i(indicator, met)"
    "   GROUP BY team_id, month, i.indicator)"
    EVERY_TEAM_MONTH("('assessed'), ('offered_assessment')"),
    3};

/* R-TRF-3, by the month of discharge from hospital (a completed hospital_discharge transfer):
 * those with a face-to-face follow-up on or after the discharge day and at most $4 days after
 * it; the denominator leaves out those still pending on $5 (today). */
static const struct db_stmt FOLLOW_UPS = {
    "report_follow_ups",
    "WITH " MONTHS_CTE ","
    " d AS (SELECT t.id, t.episode_id, COALESCE((t.details->>'discharged_on')::date,"
    "         london_date(t.completed_at)) AS discharged_on"
    "   FROM transfers t WHERE t.type = 'hospital_discharge' AND t.status = 'completed'),"
    " c AS (SELECT f.team_id, m.month, fu.first_on <= d.discharged_on + $4::int AS on_time,"
    "         fu.first_on IS NULL AND d.discharged_on + $4::int >= $5::date AS pending"
    "   FROM d JOIN m ON d.discharged_on BETWEEN m.month AND m.d"
    "   JOIN episode_facts f ON f.episode_id = d.episode_id"
    "   CROSS JOIN LATERAL (SELECT min(tc.contact_on) AS first_on FROM transfer_contacts tc"
    "     WHERE tc.transfer_id = d.id AND tc.kind = 'follow_up' AND tc.face_to_face"
    "       AND tc.contact_on >= d.discharged_on) fu"
    "   WHERE " TEAM_FILTER("f.team_id") "),"
    " x AS (SELECT team_id, month, 'followed_up_on_time' AS indicator,"
    "   count(*) FILTER (WHERE on_time) AS numerator,"
    "   count(*) FILTER (WHERE NOT pending) AS denominator,"
    "   json_build_object('pending', count(*) FILTER (WHERE pending)) AS statistics"
    "   FROM c GROUP BY team_id, month)"
    EVERY_TEAM_MONTH("('followed_up_on_time')"),
    5};

/* R-REF-1, by the month received (London), the team that responds (none before triage), the
 * source and the urgency given at referral: those answered (accepted, declined or redirected) by
 * the time a response was due, out of those answered or overdue (withdrawn ones are left out),
 * with the median and 90th percentile of the hours to an answer. */
#define ANSWERED "r.status IN ('accepted', 'declined', 'redirected')"
#define HOURS_TO_ANSWER "extract(epoch FROM r.decided_at - r.received_at) / 3600"
static const struct db_stmt REFERRALS = {
    "report_referrals",
    "WITH " MONTHS_CTE
    " SELECT r.responding_team_id, t.name, to_char(m.month, 'YYYY-MM'), 'responded_on_time',"
    "   count(*) FILTER (WHERE " ANSWERED " AND r.decided_at <= r.response_due_at),"
    "   count(*) FILTER (WHERE " ANSWERED " OR (r.status <> 'withdrawn'"
    "     AND r.response_due_at < now())),"
    "   json_build_object('source_type', r.source_type, 'urgency', r.urgency),"
    "   json_build_object('received', count(*), 'answered', count(*) FILTER (WHERE " ANSWERED "),"
    "     'median_hours_to_answer', round((percentile_cont(0.5) WITHIN GROUP (ORDER BY "
    HOURS_TO_ANSWER ") FILTER (WHERE " ANSWERED "))::numeric, 1),"
    "     'p90_hours_to_answer', round((percentile_cont(0.9) WITHIN GROUP (ORDER BY "
    HOURS_TO_ANSWER ") FILTER (WHERE " ANSWERED "))::numeric, 1))"
    " FROM referrals r JOIN m ON r.received_at >= m.month::timestamp AT TIME ZONE 'Europe/London'"
    "   AND r.received_at < (m.d + 1)::timestamp AT TIME ZONE 'Europe/London'"
    " LEFT JOIN teams t ON t.id = r.responding_team_id"
    " WHERE " TEAM_FILTER("r.responding_team_id")
    " GROUP BY r.responding_team_id, t.name, m.month, r.source_type, r.urgency"
    " ORDER BY t.name NULLS LAST, r.responding_team_id, m.month, r.source_type, r.urgency",
    3};

/* Caseloads at the end of each month: the allocations current at the end of that day of the
 * team's open episodes, by the episode's care level then: episodes (numerator), holders
 * (denominator: staff, or the external holder by name), the mean per holder (rate) and the
 * largest. The holder then is the current one when its allocation had started by then (the
 * facts say so: most episodes, for recent months). The others held an allocation that has
 * ended since: for one team they are found from its episodes, for every team from the
 * allocations ended since the earliest month's end (a range of an index, bounded by a value the
 * planner can use), so a region's month is one pass over the facts, not two; the branch that
 * does not apply is skipped by its condition on $3. (Allocations of an episode do not overlap:
 * the service ends one at the instant it starts the next.) The facts' columns read here are all
 * in episode_facts_caseload_idx (migration 0018): the pass is an index-only scan. */
static const struct db_stmt CASELOADS = {
    "report_caseloads",
    "WITH " MONTHS_CTE ","
    " held AS (SELECT f.team_id, m.month, f.cpa_days @> m.d AS on_cpa,"
    "     f.holder_staff_id AS staff_id, f.external_holder_name AS external_name"
    "   FROM episode_facts f JOIN m ON " OPEN_AT_END_OF_DAY
    "     AND f.current_allocation_started_at < m.d_end"
    "   WHERE " TEAM_FILTER("f.team_id")
    "   UNION ALL SELECT f.team_id, m.month, f.cpa_days @> m.d, a.holder_staff_id,"
    "     a.external_holder_name"
    "   FROM episode_facts f JOIN m ON " OPEN_AT_END_OF_DAY
    "     AND NOT COALESCE(f.current_allocation_started_at < m.d_end, false)"
    "   JOIN allocations a ON a.episode_id = f.episode_id AND a.started_at < m.d_end"
    "     AND a.ended_at >= m.d_end"
    "   WHERE $3::uuid IS NOT NULL AND f.team_id = $3::uuid"
    "   UNION ALL SELECT f.team_id, m.month, f.cpa_days @> m.d, a.holder_staff_id,"
    "     a.external_holder_name"
    "   FROM m JOIN allocations a ON a.started_at < m.d_end AND a.ended_at >= m.d_end"
    "     AND a.ended_at >= (SELECT min(d_end) FROM m)"
    "   JOIN episode_facts f ON f.episode_id = a.episode_id AND " OPEN_AT_END_OF_DAY
    "   WHERE $3::uuid IS NULL),"
    " per_holder AS (SELECT team_id, month, on_cpa, count(*) AS episodes FROM held"
    "   GROUP BY team_id, month, on_cpa, staff_id, external_name),"
    " x AS (SELECT team_id, month,"
    "   CASE WHEN on_cpa THEN 'cpa_caseload' ELSE 'non_cpa_caseload' END AS indicator,"
    "   sum(episodes)::bigint AS numerator, count(*) AS denominator,"
    "   json_build_object('largest', max(episodes)) AS statistics"
    "   FROM per_holder GROUP BY team_id, month, on_cpa)"
    EVERY_TEAM_MONTH("('cpa_caseload'), ('non_cpa_caseload')"),
    3};

/* Records missing mandatory items, as at today (the current month only: past states of these
 * records are not kept): of the team's open episodes, the person's address and GP practice
 * (000 §4.9) and a current allocation (R-ALC-1, R-ALC-2); of those allocated, the preferences
 * asked for (R-ALC-3); of those with an active care plan, the person's agreement to its current
 * version (R-CPL-4). One pass counts every item per team; the rows are made from the counts. */
static const struct db_stmt DATA_QUALITY = {
    "report_data_quality",
    "WITH " MONTHS_CTE ","
    " c AS (SELECT f.team_id, count(*) AS open,"
    "   count(*) FILTER (WHERE f.person_address_missing) AS no_address,"
    "   count(*) FILTER (WHERE f.person_gp_practice_missing) AS no_gp_practice,"
    "   count(*) FILTER (WHERE f.current_allocation_role IS NULL) AS no_allocation,"
    "   count(*) FILTER (WHERE NOT f.allocation_preferences_recorded) AS no_preferences,"
    "   count(f.care_plan_agreement_recorded) AS plans,"
    "   count(*) FILTER (WHERE NOT f.care_plan_agreement_recorded) AS no_agreement"
    "   FROM episode_facts f"
    "   WHERE f.status = 'open' AND " TEAM_FILTER("f.team_id") " GROUP BY f.team_id),"
    " x AS (SELECT c.team_id, (SELECT month FROM m) AS month, i.indicator,"
    "   i.missing AS numerator, i.applies AS denominator, NULL::json AS statistics"
    "   FROM c CROSS JOIN LATERAL (VALUES ('address_missing', c.no_address, c.open),"
    "     ('gp_practice_missing', c.no_gp_practice, c.open),"
    "     ('allocation_missing', c.no_allocation, c.open),"
    "     ('allocation_preferences_missing', c.no_preferences, c.open - c.no_allocation),"
    "     ('care_plan_agreement_missing', c.no_agreement, c.plans)"
    "   ) AS i(indicator, missing, applies))"
    EVERY_TEAM_MONTH("('address_missing'), ('allocation_missing'),"
                     " ('allocation_preferences_missing'), ('care_plan_agreement_missing'),"
                     " ('gp_practice_missing')"),
    3};

/* What a statement's parameters after the first three ($1 months, $2 days, $3 team) are. */
enum report_param {
  PARAM_NONE,
  PARAM_TODAY,
  PARAM_REVIEW_CPA_MONTHS,
  PARAM_ASSESSMENT_DAYS,
  PARAM_CARE_PLAN_DAYS,
  PARAM_RISK_REVIEW_MONTHS,
  PARAM_FOLLOW_UP_DAYS
};

/* How small numbers are hidden from the reporting role. */
enum report_shape {
  SHAPE_SHARE,     /* numerator out of denominator people (complement suppressed too) */
  SHAPE_CASELOAD,  /* numerator people among denominator holders (staff) */
  SHAPE_REFERRALS, /* a share with counts and times in statistics */
};

struct measure {
  const char *name, *title, *rules, *definition;
  const struct db_stmt *stmt;
  enum report_param params[3];
  enum report_shape shape;
  bool today_only; /* only the current month can be reported */
};

static const struct measure MEASURES[] = {
    {"cpa-review-compliance", "CPA reviews within the policy interval", "R-REV-1",
     "At the end of each month (today for the current month): the team's open episodes on CPA "
     "whose first review fell due before that day (the policy interval after the first "
     "co-ordinating allocation); numerator: those with a review held within the interval "
     "before the day, so not overdue.",
     &CPA_REVIEWS, {PARAM_REVIEW_CPA_MONTHS}, SHAPE_SHARE, false},
    {"assessment-and-care-plan-timeliness",
     "Holistic assessments and care plans completed within 28 days of allocation",
     "R-ASM-1 R-CPL-1",
     "By the month of the episode's first co-ordinating allocation: episodes whose holistic "
     "assessment was completed (holistic_assessment_on_time), or whose first care plan was "
     "activated (care_plan_on_time), by the due day (policy, 28 days after allocation); the "
     "denominator leaves out those not yet done and not yet overdue (statistics.pending).",
     &FIRST_28_DAYS, {PARAM_ASSESSMENT_DAYS, PARAM_CARE_PLAN_DAYS, PARAM_TODAY}, SHAPE_SHARE,
     false},
    {"risk-review-compliance", "Risk assessments reviewed within 12 months", "R-ASM-6",
     "At the end of each month: the team's open episodes whose first risk assessment (due with "
     "the holistic assessment) fell due before that day; numerator: those with an assessment "
     "with a risk section completed within the policy interval (12 months) before the day.",
     &RISK_REVIEWS, {PARAM_ASSESSMENT_DAYS, PARAM_RISK_REVIEW_MONTHS}, SHAPE_SHARE, false},
    {"carers", "Carers identified, offered an assessment and assessed", "R-CAR-2",
     "By the month a carer was identified: the carers of people with an episode of the team "
     "open that day (denominator); numerator: those offered an assessment of their own needs "
     "(offered_assessment), those whose assessment is completed (assessed), so far.",
     &CARERS, {PARAM_NONE}, SHAPE_SHARE, false},
    {"follow-up-after-discharge", "Face-to-face follow-up within 7 days of hospital discharge",
     "R-TRF-3",
     "By the month of discharge from hospital (completed hospital_discharge transfers): "
     "numerator: those with a face-to-face follow-up contact on or after the discharge day and "
     "at most the policy interval (7 days) after it; the denominator leaves out those still "
     "within the interval with no contact yet (statistics.pending).",
     &FOLLOW_UPS, {PARAM_FOLLOW_UP_DAYS, PARAM_TODAY}, SHAPE_SHARE, false},
    {"referrals", "Referrals by source and urgency, with response times", "R-REF-1",
     "By the month received, the responding team (none before triage), the source and the "
     "urgency given at referral: numerator: those answered (accepted, declined or redirected) "
     "by the time a response was due; denominator: those answered or overdue (withdrawn ones "
     "are left out); statistics: received, answered, and the median and 90th percentile of "
     "the hours from receipt to answer.",
     &REFERRALS, {PARAM_NONE}, SHAPE_REFERRALS, false},
    {"caseloads", "Caseload sizes by care level", "R-ALC-1 R-ALC-2",
     "At the end of each month: the allocations of the team's open episodes current at the end "
     "of that day, by the episode's care level then: numerator: episodes; denominator: "
     "holders; rate: the mean caseload; statistics.largest: the largest.",
     &CASELOADS, {PARAM_NONE}, SHAPE_CASELOAD, false},
    {"data-quality", "Records missing mandatory items", "R-ALC-1 R-ALC-3 R-CPL-4",
     "As at today (the current month only): numerator: the team's open episodes missing the "
     "item; denominator: those the item applies to: every open episode for the person's "
     "address and GP practice and for a current allocation; the allocated ones for the "
     "preferences asked for (R-ALC-3); those with an active care plan for the person's "
     "agreement to its current version (R-CPL-4).",
     &DATA_QUALITY, {PARAM_NONE}, SHAPE_SHARE, true},
};
#define MEASURE_COUNT (sizeof MEASURES / sizeof *MEASURES)

/* Whether the staff member ($1 subject) is active and in which team; and whether team $2 exists
 * (NULL: not asked). */
static const struct db_stmt CALLER_TEAM = {
    "report_caller_team",
    "SELECT (SELECT s.team_id FROM staff s WHERE s.subject = $1 AND s.active),"
    " $2::uuid IS NULL OR EXISTS (SELECT 1 FROM teams WHERE id = $2::uuid)",
    2};

void reports_list(struct exchange *x) {
  json_t *measures = json_array();
  for (size_t i = 0; i < MEASURE_COUNT; i++)
    json_array_append_new(measures,
                          json_pack("{s:s, s:s, s:s, s:s, s:b}", "measure", MEASURES[i].name,
                                    "title", MEASURES[i].title, "rules", MEASURES[i].rules,
                                    "definition", MEASURES[i].definition, "today_only",
                                    MEASURES[i].today_only));
  reply_json(x, 200, json_pack("{s:o}", "measures", measures));
}

static const struct measure *measure_named(const char *name) {
  for (size_t i = 0; i < MEASURE_COUNT; i++)
    if (strcmp(MEASURES[i].name, name) == 0) return &MEASURES[i];
  return NULL;
}

/* What was asked: the period and the team. */
struct report_request {
  const struct measure *measure;
  char today[11];
  struct report_month from, to;
  const char *team; /* NULL: every team in scope */
  bool suppress;    /* the reporting role's view */
};

/* Reads the measure, from, to (YYYY-MM; both default to the current month, one alone to the
 * other) and team_id. Replies and returns false on a bad value. */
static bool read_request(struct exchange *x, struct report_request *r) {
  *r = (struct report_request){.measure = measure_named(x->params[0])};
  if (!r->measure) {
    reply_problem(x, CC_NOT_FOUND, "No report has this name; GET /reports lists them.");
    return false;
  }
  uk_local_date(time(NULL), r->today);
  const char *from = NULL, *to = NULL;
  if (query_text(x, "from", 7, &from) != CC_OK || query_text(x, "to", 7, &to) != CC_OK ||
      query_uuid(x, "team_id", &r->team) != CC_OK)
    return false;
  r->from = r->to = report_month_of(r->today);
  if ((from && !report_month_parse(from, &r->from)) || (to && !report_month_parse(to, &r->to))) {
    reply_problem(x, CC_BAD_REQUEST, "from and to must be months, YYYY-MM.");
    return false;
  }
  if (from && !to) r->to = r->from;
  if (to && !from) r->from = r->to;
  const char *problem = report_period_problem(r->from, r->to, r->today);
  if (!problem && r->measure->today_only &&
      (report_month_count(r->from, r->to) != 1 ||
       report_month_count(r->to, report_month_of(r->today)) != 1))
    problem = "This report is known only as at today: ask for the current month.";
  if (problem) {
    reply_problem(x, CC_BAD_REQUEST, "%s", problem);
    return false;
  }
  r->suppress = (x->principal.roles & ROLE_REPORTING) != 0;
  return true;
}

/* Settles whose figures the caller sees: the reporting role any team's (404 for an unknown
 * one), a manager their own team's only (403 and an audited refusal otherwise). Returns false
 * after replying. */
static bool settle_scope(struct exchange *x, struct tx *tx, struct report_request *r,
                         char own_team[UUID_TEXT_SIZE]) {
  PGresult *res = NULL;
  enum cc_status status =
      tx_exec(tx, &CALLER_TEAM, (const char *const[]){x->principal.subject, r->team}, &res);
  if (status != CC_OK) {
    reply_problem(x, status, NULL);
    return false;
  }
  bool known = strcmp(PQgetvalue(res, 0, 1), "t") == 0;
  snprintf(own_team, UUID_TEXT_SIZE, "%s", PQgetvalue(res, 0, 0));
  PQclear(res);
  if (!known) {
    reply_problem(x, CC_NOT_FOUND, "No team has this id.");
    return false;
  }
  if (r->suppress) return true;
  if (own_team[0] && (!r->team || strcmp(r->team, own_team) == 0)) {
    r->team = own_team;
    return true;
  }
  struct audit_event event = {.action = "deny", .resource_type = "report",
                              .resource_id = r->measure->name, .outcome = "denied"};
  status = audit_append(tx, &x->actor, &event);
  if (status == CC_OK) status = tx_commit(tx);
  reply_problem(x, status == CC_OK ? CC_FORBIDDEN : status,
                status == CC_OK ? "A manager sees the reports of their own team only." : NULL);
  return false;
}

/* {a,b,...}: the period's first days (firsts) or the days its measures are taken. */
static void month_days(const struct report_request *r, bool firsts, char *out, size_t size) {
  size_t used = 0;
  int n = report_month_count(r->from, r->to);
  out[used++] = '{';
  for (int i = 0; i < n && used + 12 < size; i++) {
    char day[11];
    struct report_month m = report_month_add(r->from, i);
    if (firsts)
      report_first_day(m, day);
    else
      report_snapshot_day(m, r->today, day);
    used += (size_t)snprintf(out + used, size - used, "%s%s", i ? "," : "", day);
  }
  snprintf(out + used, size - used, "}");
}

static const char *param_value(const struct report_request *r, const struct policy *p,
                               enum report_param param, char buf[16]) {
  int value = 0;
  switch (param) {
    case PARAM_NONE: return NULL;
    case PARAM_TODAY: return r->today;
    case PARAM_REVIEW_CPA_MONTHS: value = p->review_cpa_months; break;
    case PARAM_ASSESSMENT_DAYS: value = p->assessment_due_days; break;
    case PARAM_CARE_PLAN_DAYS: value = p->care_plan_due_days; break;
    case PARAM_RISK_REVIEW_MONTHS: value = p->risk_review_months; break;
    case PARAM_FOLLOW_UP_DAYS: value = p->discharge_follow_up_days; break;
  }
  snprintf(buf, 16, "%d", value);
  return buf;
}

/* A count, or null when the reporting role may not see it. */
static json_t *count_new(long value, bool shown) {
  return shown ? json_integer(value) : json_null();
}

/* numerator / denominator to 4 decimal places (rounded half up), or null. */
static json_t *rate_new(long numerator, long denominator, bool shown) {
  if (!shown || denominator <= 0 || numerator < 0) return json_null();
  long scaled = (numerator * 20000 / denominator + 1) / 2;
  return json_real((double)scaled / 10000.0);
}

/* Hides the statistics' counts of people (and what they tell) in the reporting role's view. */
static bool suppress_statistics(json_t *statistics, enum report_shape shape, bool episodes_shown) {
  bool hidden = false;
  if (shape == SHAPE_CASELOAD && !episodes_shown && json_object_get(statistics, "largest")) {
    json_object_set_new(statistics, "largest", json_null());
    hidden = true;
  }
  const char *counts[] = {"pending", "received"};
  for (size_t i = 0; i < sizeof counts / sizeof *counts; i++) {
    json_t *v = json_object_get(statistics, counts[i]);
    if (json_is_integer(v) && report_count_suppressed(json_integer_value(v))) {
      json_object_set_new(statistics, counts[i], json_null());
      hidden = true;
    }
  }
  json_t *answered = json_object_get(statistics, "answered");
  if (json_is_integer(answered) && report_count_suppressed(json_integer_value(answered))) {
    json_object_set_new(statistics, "answered", json_null());
    json_object_set_new(statistics, "median_hours_to_answer", json_null());
    json_object_set_new(statistics, "p90_hours_to_answer", json_null());
    hidden = true;
  }
  return hidden;
}

/* One row of the report, suppressed as the caller's role needs. */
static json_t *row_new(const struct report_request *r, PGresult *res, int row) {
  long numerator = atol(PQgetvalue(res, row, NUMERATOR));
  long denominator = atol(PQgetvalue(res, row, DENOMINATOR));
  struct report_visibility seen = {true, true, true};
  enum report_shape shape = r->measure->shape;
  if (r->suppress && shape == SHAPE_CASELOAD) {
    bool shown = !report_count_suppressed(numerator);
    seen = (struct report_visibility){shown, true, shown};
  } else if (r->suppress) {
    seen = report_ratio_visibility(numerator, denominator);
  }
  json_t *statistics = PQgetisnull(res, row, STATISTICS)
                           ? json_null()
                           : json_loads(PQgetvalue(res, row, STATISTICS), 0, NULL);
  bool hidden = !seen.numerator || !seen.denominator;
  if (r->suppress && json_is_object(statistics))
    hidden = suppress_statistics(statistics, shape, seen.numerator) || hidden;
  json_t *team = PQgetisnull(res, row, TEAM_ID)
                     ? json_null()
                     : json_pack("{s:s, s:s}", "id", PQgetvalue(res, row, TEAM_ID), "name",
                                 PQgetvalue(res, row, TEAM_NAME));
  json_t *out = json_pack("{s:o, s:s, s:s, s:o, s:o, s:o, s:b}", "team", team, "month",
                          PQgetvalue(res, row, MONTH), "indicator",
                          PQgetvalue(res, row, INDICATOR), "numerator",
                          count_new(numerator, seen.numerator), "denominator",
                          count_new(denominator, seen.denominator), "rate",
                          rate_new(numerator, denominator, seen.rate), "suppressed", hidden);
  if (!PQgetisnull(res, row, BREAKDOWN))
    json_object_set_new(out, "breakdown", json_loads(PQgetvalue(res, row, BREAKDOWN), 0, NULL));
  if (json_is_object(statistics)) json_object_set(out, "statistics", statistics);
  json_decref(statistics);
  return out;
}

static json_t *report_new(const struct report_request *r, PGresult *res) {
  char from[REPORT_MONTH_TEXT_LEN], to[REPORT_MONTH_TEXT_LEN];
  report_month_format(r->from, from);
  report_month_format(r->to, to);
  json_t *rows = json_array();
  for (int i = 0; i < PQntuples(res); i++) json_array_append_new(rows, row_new(r, res, i));
  return json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s?, s:b, s:o}", "measure",
                   r->measure->name, "title", r->measure->title, "rules", r->measure->rules,
                   "definition", r->measure->definition, "from", from, "to", to, "today",
                   r->today, "team_id", r->team, "small_numbers_suppressed", r->suppress,
                   "rows", rows);
}

/* Counts the report on the read pool (a standby), in a transaction of its own. A read cannot
 * conflict with another transaction: a conflict there is a standby cancelling the query to
 * replay its primary's changes, which a retry may not meet. */
static enum cc_status count_on_read_pool(struct db_pool *read_pool, const struct measure *measure,
                                         const char *const *params, PGresult **res) {
  struct tx read;
  enum cc_status status = tx_begin(read_pool, &read);
  /* One team or every team, one month or twelve: each is best planned for itself. */
  if (status == CC_OK) status = tx_plan_for_values(&read);
  if (status == CC_OK) status = tx_exec(&read, measure->stmt, params, res);
  if (status == CC_OK) status = tx_commit(&read);
  tx_end(&read);
  if (status != CC_OK) {
    PQclear(*res);
    *res = NULL;
  }
  return status == CC_CONFLICT ? CC_UNAVAILABLE : status;
}

/* Where the report is counted: with the main pool alone, in one transaction with the scope check
 * and the read event, as every read. With a read pool (CARECOORD_READ_DATABASE_URL), the scope is
 * settled on the primary, whose connection is given back while the standby counts; then the read
 * event is committed on the primary, and only then is the report sent. So a report is never sent
 * without its committed event (an event that cannot be written means a 503 and nothing sent),
 * and a count that fails on the standby (503) leaves no event, as a failed read does anyway. */
void reports_get(struct exchange *x) {
  struct report_request r;
  if (!read_request(x, &r)) return;
  bool read_pool = x->app->read_pool != x->app->pool;
  struct tx tx = {0};
  PGresult *res = NULL;
  char own_team[UUID_TEXT_SIZE] = "";
  enum cc_status status = tx_begin(x->app->pool, &tx);
  /* One team or every team, one month or twelve: each is best planned for itself. */
  if (status == CC_OK && !read_pool) status = tx_plan_for_values(&tx);
  if (status != CC_OK) {
    reply_problem(x, status, NULL);
    goto done;
  }
  if (!settle_scope(x, &tx, &r, own_team)) goto done;
  char firsts[REPORT_MAX_MONTHS * 12 + 4], days[REPORT_MAX_MONTHS * 12 + 4], buf[3][16];
  month_days(&r, true, firsts, sizeof firsts);
  month_days(&r, false, days, sizeof days);
  const char *params[6] = {firsts, days, r.team};
  for (int i = 0; i < 3 && r.measure->params[i] != PARAM_NONE; i++)
    params[3 + i] = param_value(&r, &x->app->config->policy, r.measure->params[i], buf[i]);
  if (read_pool) {
    status = tx_commit(&tx);
    tx_end(&tx);
    if (status == CC_OK) status = count_on_read_pool(x->app->read_pool, r.measure, params, &res);
    if (status == CC_OK) status = tx_begin(x->app->pool, &tx);
  } else {
    status = tx_exec(&tx, r.measure->stmt, params, &res);
  }
  char from[REPORT_MONTH_TEXT_LEN], to[REPORT_MONTH_TEXT_LEN];
  report_month_format(r.from, from);
  report_month_format(r.to, to);
  json_t *details = json_pack("{s:s, s:s, s:s?, s:b}", "from", from, "to", to, "team_id", r.team,
                              "small_numbers_suppressed", r.suppress);
  struct audit_event event = {.action = "read", .resource_type = "report",
                              .resource_id = r.measure->name, .outcome = "success",
                              .details = details};
  if (status == CC_OK) status = audit_append(&tx, &x->actor, &event);
  json_decref(details);
  if (status == CC_OK) status = tx_commit(&tx);
  if (status != CC_OK)
    reply_problem(x, status, NULL);
  else
    reply_json(x, 200, report_new(&r, res));
done:
  PQclear(res);
  tx_end(&tx);
}
