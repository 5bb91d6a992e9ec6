/* What resources/allocations.c shares with the episode summary and with the decisions on change
 * requests (an approval makes the new allocation in the same transaction). */
#ifndef CARECOORD_ALLOCATIONS_H
#define CARECOORD_ALLOCATIONS_H

#include "fields.h"
#include "resources/episodes.h"

/* The roles that co-ordinate care (rules/allocation_rules.h, allocation_role_coordinates): the
 * episode's first allocation with one of them starts the assessment and care-plan clocks. */
#define COORDINATING_ROLES_SQL "('care_coordinator', 'lead_professional')"

/* The representation of the allocation row aliased A (json), built by PostgreSQL. */
#define ALLOCATION_JSON(A)                                                                       \
  "json_build_object('id', " A ".id, 'episode_id', " A ".episode_id, 'role', " A ".role,"        \
  " 'holder_staff_id', " A ".holder_staff_id,"                                                   \
  " 'external_holder', CASE WHEN " A ".external_holder_name IS NULL THEN NULL"                   \
  "   ELSE json_build_object('name', " A ".external_holder_name, 'organisation', " A             \
  ".external_holder_organisation, 'contact', " A ".external_holder_contact) END,"                \
  " 'holder_name', COALESCE((SELECT h.name FROM staff h WHERE h.id = " A ".holder_staff_id), " A \
  ".external_holder_name),"                                                                      \
  " 'deputy_staff_id', " A ".deputy_staff_id,"                                                   \
  " 'deputy_name', (SELECT d.name FROM staff d WHERE d.id = " A ".deputy_staff_id),"             \
  " 'preferences', CASE WHEN " A ".preferences_met IS NULL THEN NULL"                            \
  "   ELSE json_build_object('coordinator_gender', " A ".preferred_coordinator_gender,"          \
  "   'cultural_religious_needs', " A ".preferred_cultural_religious_needs, 'met', " A           \
  ".preferences_met, 'not_met_reason', " A ".preferences_not_met_reason) END,"                   \
  " 'replaces_allocation_id', " A ".replaces_allocation_id,"                                     \
  " 'replaced_by_allocation_id', (SELECT n.id FROM allocations n"                                \
  "   WHERE n.replaces_allocation_id = " A ".id),"                                               \
  " 'started_at', " A ".started_at, 'ended_at', " A ".ended_at, 'end_reason', " A ".end_reason," \
  " 'current', " A ".ended_at IS NULL, 'created_by', " A ".created_by,"                          \
  " 'updated_at', " A ".updated_at, 'version', " A ".version)"

/* The members of POST /episodes/{id}/allocations (and of an approval's `allocation`). */
extern const struct field_spec ALLOCATION_CREATE_FIELDS[];

/* Rules across the members of an allocation body that need no database (R-ALC-1: end_reason
 * with replaces_allocation_id; R-ALC-2: an interim named nurse is staff; R-ALC-3; R-ALC-4; one
 * holder). pointer is the JSON Pointer of the body ("" or e.g. "/allocation"); create says
 * whether body is a create body (else a stored allocation after a merge patch). */
void allocation_check_body(const json_t *body, const char *pointer, bool create,
                           struct field_errors *errors);

struct allocation_made {
  char id[UUID_TEXT_SIZE];
  char version[16];
  char *json; /* the representation (owned) */
};

/* Makes the allocation a validated create body describes on ep, which the caller has locked
 * (episode_access with lock) and may allocate: checks the episode is open, the staff named are
 * active, the role fits the episode (R-ALC-2) and replaces_allocation_id names its current
 * allocation (R-ALC-1), ends that one with end_reason, inserts the new one, and appends their
 * audit events. With holder_must_change, the new holder must not be the current holder (the
 * service user asked for a change). Returns true with *made filled (free it with
 * allocation_made_free); otherwise it has replied (409, 422 with pointers under `pointer`, or
 * the failure). */
bool allocation_make(struct exchange *x, struct tx *tx, const struct episode *ep,
                     const json_t *body, const char *pointer, bool holder_must_change,
                     struct allocation_made *made);
void allocation_made_free(struct allocation_made *made);

#endif
