#include "rules/transfer_rules.h"

#include <string.h>
#include <time.h>

#include "rules/clocks.h"
#include "rules/review_rules.h"

static const char *const TYPE_NAMES[TRANSFER_TYPE_COUNT] = {
    "internal_team", "out_of_area",  "hospital_admission", "hospital_discharge", "prison",
    "primary_care_discharge", "step_down", "step_up", "partner_agency"};

static const char *const STATUS_NAMES[TRANSFER_STATUS_COUNT] = {"proposed", "accepted", "rejected",
                                                                "completed", "cancelled"};

static bool parse_name(const char *const *names, int count, const char *name, int *out) {
  for (int i = 0; name && i < count; i++)
    if (strcmp(name, names[i]) == 0) {
      *out = i;
      return true;
    }
  return false;
}

bool transfer_type_parse(const char *name, enum transfer_type *out) {
  int i;
  if (!parse_name(TYPE_NAMES, TRANSFER_TYPE_COUNT, name, &i)) return false;
  *out = (enum transfer_type)i;
  return true;
}

bool transfer_status_parse(const char *name, enum transfer_status *out) {
  int i;
  if (!parse_name(STATUS_NAMES, TRANSFER_STATUS_COUNT, name, &i)) return false;
  *out = (enum transfer_status)i;
  return true;
}

const char *transfer_type_name(enum transfer_type type) {
  return (unsigned)type < TRANSFER_TYPE_COUNT ? TYPE_NAMES[type] : NULL;
}

const char *transfer_status_name(enum transfer_status status) {
  return (unsigned)status < TRANSFER_STATUS_COUNT ? STATUS_NAMES[status] : NULL;
}

/* ---- R-TRF-1: the lifecycle ---- */

bool transfer_may_become(enum transfer_status from, enum transfer_status to) {
  switch (from) {
  case TRANSFER_PROPOSED:
    return to == TRANSFER_ACCEPTED || to == TRANSFER_REJECTED || to == TRANSFER_CANCELLED;
  case TRANSFER_ACCEPTED:
    /* Accepted is not yet moved: the sender may still call it off. */
    return to == TRANSFER_COMPLETED || to == TRANSFER_CANCELLED;
  default:
    return false; /* rejected, completed and cancelled are final */
  }
}

/* ---- what each type needs and does ---- */

static const struct transfer_kind KINDS[TRANSFER_TYPE_COUNT] = {
    [TRANSFER_INTERNAL_TEAM] = {.team = RECEIVING_TEAM_OTHER, .staff = true,
                                .decided_by_receiving_team = true,
                                .completion = COMPLETION_MOVES_TEAM},
    [TRANSFER_OUT_OF_AREA] = {.external = true, .completion = COMPLETION_KEEPS_HOLDER,
                              .clock = TRANSFER_CLOCK_LIAISON},
    /* The co-ordinator keeps the role; the ward's named nurse is recorded beside them. */
    [TRANSFER_HOSPITAL_ADMISSION] = {.team = RECEIVING_TEAM_INPATIENT_WARD, .named_nurse = true,
                                     .decided_by_receiving_team = true,
                                     .completion = COMPLETION_KEEPS_HOLDER},
    [TRANSFER_HOSPITAL_DISCHARGE] = {.discharged_on = true,
                                     .completion = COMPLETION_KEEPS_HOLDER,
                                     .clock = TRANSFER_CLOCK_FOLLOW_UP},
    [TRANSFER_PRISON] = {.external = true, .completion = COMPLETION_MOVES_TO_EXTERNAL},
    [TRANSFER_PRIMARY_CARE_DISCHARGE] = {.external = true, .completion = COMPLETION_DISCHARGES},
    [TRANSFER_STEP_DOWN] = {.team = RECEIVING_TEAM_OWN, .staff = true,
                            .decided_by_receiving_team = true,
                            .completion = COMPLETION_CHANGES_CARE_LEVEL},
    [TRANSFER_STEP_UP] = {.team = RECEIVING_TEAM_OWN, .staff = true,
                          .decided_by_receiving_team = true,
                          .completion = COMPLETION_CHANGES_CARE_LEVEL},
    [TRANSFER_PARTNER_AGENCY] = {.external = true, .completion = COMPLETION_MOVES_TO_EXTERNAL},
};

const struct transfer_kind *transfer_kind_of(enum transfer_type type) {
  return (unsigned)type < TRANSFER_TYPE_COUNT ? &KINDS[type] : NULL;
}

bool transfer_care_level(enum transfer_type type, enum care_level current, enum care_level *next,
                         const char **problem) {
  if (type != TRANSFER_STEP_DOWN && type != TRANSFER_STEP_UP) {
    if (problem) *problem = NULL;
    *next = current;
    return true;
  }
  /* The same rule as a review's outcome: one step, in the direction the level allows. */
  return review_outcome_care_level(type == TRANSFER_STEP_DOWN ? REVIEW_STEP_DOWN : REVIEW_STEP_UP,
                                   current, next, problem);
}

/* ---- R-TRF-3, R-TRF-4: the clocks ---- */

/* Reads an optional date argument: *present when given and valid; false when given but not a
 * valid date (it then counts as absent). */
static bool read_date(const char *text, struct civil_date *out, bool *present) {
  *out = (struct civil_date){0};
  *present = text && civil_date_parse(text, out);
  return !text || *present;
}

static struct civil_date add_days(struct civil_date d, int days) {
  long day = days_from_civil(d.year, d.month, d.day) + days;
  /* Noon UTC of that day: its UTC date is the calendar date wanted. */
  time_t noon = (time_t)(day * 86400L + 43200L);
  struct tm tm;
  gmtime_r(&noon, &tm);
  return (struct civil_date){tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday};
}

static void show_dates(struct clock_state *out, bool has_due, struct civil_date due,
                       bool has_completed, struct civil_date completed) {
  *out = (struct clock_state){0};
  if (has_due) {
    out->has_due = true;
    civil_date_format(due, out->due);
  }
  if (has_completed) {
    out->has_completed = true;
    civil_date_format(completed, out->completed);
  }
}

bool follow_up_clock(const char *discharged_on, const char *first_face_to_face_on, int days,
                     const char *today, struct clock_state *out) {
  struct civil_date discharged, contact, today_date;
  bool has_discharged, has_contact, has_today;
  bool ok = read_date(discharged_on, &discharged, &has_discharged);
  ok = read_date(first_face_to_face_on, &contact, &has_contact) && ok;
  ok = read_date(today, &today_date, &has_today) && ok;
  /* A contact before the discharge was not a follow-up of it. */
  has_contact = has_contact && has_discharged && civil_date_compare(contact, discharged) >= 0;
  struct civil_date due = has_discharged ? add_days(discharged, days) : discharged;
  show_dates(out, has_discharged, due, has_contact, contact);
  /* Done once: a follow-up made satisfies the clock for good. */
  out->overdue = !has_contact && has_discharged && has_today &&
                 civil_date_compare(today_date, due) > 0;
  return ok;
}

bool liaison_clock(const char *placement_started_on, const char *last_liaison_on,
                   const char *placement_ended_on, int months, const char *today,
                   struct clock_state *out) {
  struct civil_date started, last, ended, today_date;
  bool has_started, has_last, has_ended, has_today;
  bool ok = read_date(placement_started_on, &started, &has_started);
  ok = read_date(last_liaison_on, &last, &has_last) && ok;
  ok = read_date(placement_ended_on, &ended, &has_ended) && ok;
  ok = read_date(today, &today_date, &has_today) && ok;
  bool from_last = has_last && (!has_started || civil_date_compare(last, started) > 0);
  bool has_due = !has_ended && (has_started || has_last);
  struct civil_date due = civil_date_add_months(from_last ? last : started, months);
  show_dates(out, has_due, due, has_last, last);
  /* Never satisfied for good while the placement lasts: the next liaison is always due. */
  out->overdue = has_due && has_today && civil_date_compare(today_date, due) > 0;
  return ok;
}
