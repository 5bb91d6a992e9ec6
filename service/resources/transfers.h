/* What resources/transfers.c shares with the routes under a transfer that others write (its
 * contacts, the end of an out-of-area placement): the representation and its clock. */
#ifndef CARECOORD_TRANSFERS_H
#define CARECOORD_TRANSFERS_H

#include "http/exchange.h"

/* id, version, the representation (JSON text) of the transfers row aliased T: its `clock` is
 * null here, and set by transfer_add_clock from the TRANSFER_CLOCK_FACTS columns. */
#define TRANSFER_COLUMNS(T)                                                                      \
  T ".id, " T ".version, json_build_object('id', " T ".id, 'episode_id', " T ".episode_id,"       \
  " 'service_user_id', (SELECT e.service_user_id FROM episodes e WHERE e.id = " T ".episode_id)," \
  " 'type', " T ".type, 'status', " T ".status, 'reason', " T ".reason,"                         \
  " 'receiving_team', (SELECT json_build_object('id', rt.id, 'name', rt.name, 'type', rt.type)"   \
  "   FROM teams rt WHERE rt.id = " T ".receiving_team_id),"                                      \
  " 'receiving_staff_id', " T ".receiving_staff_id,"                                             \
  " 'receiving_external', " T ".receiving_external, 'details', " T ".details,"                   \
  " 'handover', " T ".handover, 'proposed_at', " T ".proposed_at,"                               \
  " 'proposed_by', " T ".proposed_by, 'decided_at', " T ".decided_at,"                           \
  " 'decided_by', " T ".decided_by, 'rejection_reason', " T ".rejection_reason,"                 \
  " 'completed_at', " T ".completed_at, 'completed_by', " T ".completed_by,"                     \
  " 'ended_allocation_id', " T ".ended_allocation_id,"                                           \
  " 'resulting_allocation_id', " T ".resulting_allocation_id,"                                   \
  " 'cancelled_at', " T ".cancelled_at, 'cancelled_by', " T ".cancelled_by,"                     \
  " 'cancellation_reason', " T ".cancellation_reason,"                                           \
  " 'placement_ended_on', " T ".placement_ended_on, 'clock', NULL,"                              \
  " 'updated_at', " T ".updated_at, 'version', " T ".version)::text"

/* The three columns that follow TRANSFER_COLUMNS and one more column of the caller's (fourth:
 * the status, or a list's cursor id): when the transfer was completed (whole seconds since the
 * epoch, NULL before), the first face-to-face follow-up on or after the discharge (R-TRF-3) and
 * the last liaison (R-TRF-4), as YYYY-MM-DD or NULL. */
#define TRANSFER_CLOCK_FACTS(T)                                                                  \
  "floor(extract(epoch FROM " T ".completed_at))::bigint,"                                        \
  " (SELECT to_char(min(c.contact_on), 'YYYY-MM-DD') FROM transfer_contacts c"                   \
  "   WHERE c.transfer_id = " T ".id AND c.kind = 'follow_up' AND c.face_to_face"                \
  "     AND c.contact_on >= (" T ".details ->> 'discharged_on')::date),"                         \
  " (SELECT to_char(max(c.contact_on), 'YYYY-MM-DD') FROM transfer_contacts c"                   \
  "   WHERE c.transfer_id = " T ".id AND c.kind = 'liaison')"

/* Sets transfer.clock from row `row` of res (TRANSFER_COLUMNS, a fourth column, then
 * TRANSFER_CLOCK_FACTS): R-TRF-3 for a completed hospital discharge, R-TRF-4 for a completed
 * out-of-area placement, as of today in London; null otherwise. A page_item_fn
 * (resources/person_page.h). */
enum cc_status transfer_add_clock(struct exchange *x, PGresult *res, int row, json_t *transfer);

#endif
