/* FHIR R4 (4.0.1) renderings of what the service exchanges with partner organisations. Pure:
 * JSON values in, JSON values out; no I/O, no clock (every time shown comes from the input).
 *
 * The JSON is valid against the base R4 JSON schema; resources name the UK Core profile of
 * their type in meta.profile where UK Core has one. Inputs are the partner views that the API
 * returns as plain JSON. A required member missing, or a member rendered of another type or in
 * another format than the view promises (timestamps must be FHIR instants, ids lower-case
 * UUIDs, codes known ones), makes the whole rendering fail (NULL): a half-rendered record is
 * never sent. Members that nothing renders are not read. Free text is copied as it is, except
 * characters that FHIR's string type refuses (control characters other than tab and line ends, and
 * Unicode spaces other than the plain space), which become a plain space.
 *
 * A share: only the items present (not null) in its "content" are rendered; an item present
 * in content but not listed in its "data_set" makes the rendering fail rather than send more
 * than was agreed (Caldicott: the minimum necessary).
 *
 * Where a share's parts go. The share's own resource carries, as notes, the lawful basis
 * ("Lawful basis for sharing: ..."), the sender's message, the risk summary, a rejection's
 * reason and, unless it is a referral (whose reasonCode holds it), the needs summary. A care
 * plan's needs are its description (no Condition records exist to point "addresses" at), its
 * goals contained Goals, its interventions activities, and its crisis, contingency and risk
 * management plans one note each. The care team, which the service keeps as an allocation
 * rather than a record, is a CareTeam whose id is the share's UUID marked as version 8.
 * Statuses: share sent, acknowledged, accepted -> ServiceRequest active; rejected, withdrawn ->
 * revoked. Episode open -> active, closed -> finished. Plan active -> active, superseded ->
 * revoked. Transfer proposed -> Task requested, the others by the same name. Referral received,
 * triaged -> active; accepted -> completed; declined, redirected, withdrawn -> revoked. */
#ifndef CARECOORD_FHIR_H
#define CARECOORD_FHIR_H

#include <jansson.h>

/* A partner share (its partner view) as a Bundle of type "collection": the share's own
 * resource first (a ServiceRequest for the two assessment referrals, the CarePlan for a care
 * plan, the Task for a transfer), then one resource per item shared. Entries are named
 * "urn:uuid:<id>" and refer to one another by those names. Returns a new reference, or NULL
 * when share is not a share (see above). */
json_t *fhir_share_bundle(const json_t *share);

/* A referral that a partner sent (its partner view) as a ServiceRequest. Returns a new
 * reference, or NULL when referral is not a referral. */
json_t *fhir_referral_service_request(const json_t *referral);

#endif
