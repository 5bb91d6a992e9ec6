/* Transfers of an episode of care (DOMAIN.md care cycle step 8; R-TRF-1..5). Pure: no database,
 * no clock; `today` is always an argument, a Europe/London calendar date (uk_local_date in
 * rules/clocks.h).
 *
 * R-TRF-1: a transfer is proposed, then accepted or rejected by the receiving side, then an
 * accepted one is completed; a proposed or accepted one may be cancelled. Nothing follows
 * rejected, completed or cancelled. The sending holder stays responsible until completion, when
 * what the type does (transfer_completion) happens in one transaction.
 * R-TRF-3: after a hospital discharge a face-to-face follow-up is due `days` (policy, default 7)
 * after the discharge date, satisfied by the first face-to-face follow-up contact on or after it.
 * R-TRF-4: during an out-of-area placement a liaison contact is due every `months` (policy,
 * default 6) after the later of the placement's start and the last liaison, until it ends. */
#ifndef CARECOORD_TRANSFER_RULES_H
#define CARECOORD_TRANSFER_RULES_H

#include <stdbool.h>

#include "rules/allocation_rules.h"
#include "rules/assessment_rules.h"

/* As stored and shown: "internal_team", "out_of_area", "hospital_admission",
 * "hospital_discharge", "prison", "primary_care_discharge", "step_down", "step_up",
 * "partner_agency". */
enum transfer_type {
  TRANSFER_INTERNAL_TEAM,
  TRANSFER_OUT_OF_AREA,
  TRANSFER_HOSPITAL_ADMISSION,
  TRANSFER_HOSPITAL_DISCHARGE,
  TRANSFER_PRISON,
  TRANSFER_PRIMARY_CARE_DISCHARGE,
  TRANSFER_STEP_DOWN,
  TRANSFER_STEP_UP,
  TRANSFER_PARTNER_AGENCY,
  TRANSFER_TYPE_COUNT
};

/* As stored and shown: "proposed", "accepted", "rejected", "completed", "cancelled". */
enum transfer_status {
  TRANSFER_PROPOSED,
  TRANSFER_ACCEPTED,
  TRANSFER_REJECTED,
  TRANSFER_COMPLETED,
  TRANSFER_CANCELLED,
  TRANSFER_STATUS_COUNT
};

/* Parse a name; false when unknown or NULL (out is then unchanged). */
bool transfer_type_parse(const char *name, enum transfer_type *out);
bool transfer_status_parse(const char *name, enum transfer_status *out);
/* The name; NULL for an out-of-range value. */
const char *transfer_type_name(enum transfer_type type);
const char *transfer_status_name(enum transfer_status status);

/* R-TRF-1: whether a transfer in status `from` may move to `to`. */
bool transfer_may_become(enum transfer_status from, enum transfer_status to);

/* Which team a type names in receiving_team_id. */
enum receiving_team {
  RECEIVING_TEAM_NONE,          /* none: must be absent */
  RECEIVING_TEAM_OTHER,         /* required: a team other than the episode's */
  RECEIVING_TEAM_INPATIENT_WARD, /* required: an inpatient ward */
  RECEIVING_TEAM_OWN,           /* the episode's own team (absent, or naming it) */
};

/* What completing an accepted transfer does, in the same transaction (R-TRF-1). */
enum transfer_completion {
  /* The episode moves to the receiving team, the allocation to the receiving staff member. */
  COMPLETION_MOVES_TEAM,
  /* R-REV-3: the care level changes and the matching allocation goes to the receiving staff
   * member, in the episode's team. */
  COMPLETION_CHANGES_CARE_LEVEL,
  /* The allocation moves to the receiving external holder (R-ALC: allocations may be held by
   * someone outside the trust). */
  COMPLETION_MOVES_TO_EXTERNAL,
  /* The co-ordinator keeps the allocation; the transfer records what happened (a hospital
   * admission or discharge, an out-of-area placement starting). */
  COMPLETION_KEEPS_HOLDER,
  /* R-TRF-5: the episode closes and its allocation ends. */
  COMPLETION_DISCHARGES,
};

/* The clock a completed transfer starts. */
enum transfer_clock {
  TRANSFER_CLOCK_NONE,
  TRANSFER_CLOCK_FOLLOW_UP, /* R-TRF-3 */
  TRANSFER_CLOCK_LIAISON,   /* R-TRF-4 */
};

/* What a type needs at proposal, who decides it and what completion does. */
struct transfer_kind {
  enum receiving_team team;
  bool staff;       /* receiving_staff_id required (otherwise it must be absent) */
  bool external;    /* receiving_external required (otherwise it must be absent) */
  bool named_nurse; /* details.named_nurse_staff_id required: a staff member of the ward */
  bool discharged_on; /* details.discharged_on required: a date not in the future */
  /* The receiving team's manager decides; otherwise (a receiver outside the trust) a manager of
   * the team holding the episode records the decision. */
  bool decided_by_receiving_team;
  enum transfer_completion completion;
  enum transfer_clock clock;
};

/* The kind of a type; NULL for an out-of-range value. */
const struct transfer_kind *transfer_kind_of(enum transfer_type type);

/* R-REV-3 for step_down and step_up (review_outcome_care_level): the care level the episode is
 * at after the transfer. Other types keep `current`. False, with *next unchanged and a short
 * reason in *problem (a static string), when the step does not fit the current level. */
bool transfer_care_level(enum transfer_type type, enum care_level current, enum care_level *next,
                         const char **problem);

/* R-TRF-3: due = discharged_on + days; completed = first_face_to_face_on (the first
 * face-to-face follow-up contact's date) when it is on or after discharged_on, else none;
 * overdue = not completed and today > due. Dates are YYYY-MM-DD or NULL (no discharge date: no
 * due date); returns false when one given is not a valid date, which *out then treats as absent.
 */
bool follow_up_clock(const char *discharged_on, const char *first_face_to_face_on, int days,
                     const char *today, struct clock_state *out);

/* R-TRF-4: while the placement lasts (placement_ended_on NULL), due = `months` after the later
 * of placement_started_on and last_liaison_on; completed = last_liaison_on; overdue = due set and
 * today > due. Once the placement has ended nothing is due (and nothing overdue). Dates as for
 * follow_up_clock. */
bool liaison_clock(const char *placement_started_on, const char *last_liaison_on,
                   const char *placement_ended_on, int months, const char *today,
                   struct clock_state *out);

#endif
