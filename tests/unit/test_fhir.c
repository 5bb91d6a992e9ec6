/* FHIR R4 renderings of partner shares and partners' referrals (service/fhir): the resources
 * made for each kind and item, their codes, identifiers, references and meta; nothing from an
 * item that was not shared; NULL for anything that is not a share or a referral. (The schema
 * check of the same output is tests/api/test_fhir_samples.py.) */
#include <stdbool.h>
#include <stdlib.h>

#include "check.h"
#include "fhir/fhir.h"

/* Merges the members of JSON text (single quotes) into object. */
static void update(json_t *object, const char *text);

/* JSON written with single quotes, for readable inputs (no apostrophes in the values). */
static json_t *json_of(const char *text) {
  char *copy = strdup(text);
  for (char *c = copy; *c; c++)
    if (*c == '\'') *c = '"';
  json_error_t error;
  json_t *value = json_loads(copy, JSON_DECODE_ANY, &error);
  if (!value) fprintf(stderr, "bad test JSON: %s at %d\n", error.text, error.position);
  free(copy);
  return value;
}

static void update(json_t *object, const char *text) {
  json_t *members = json_of(text);
  json_object_update(object, members);
  json_decref(members);
}

#define SHARE_ID "5d3c3f7e-1a2b-4c5d-8e9f-0a1b2c3d4e09"
#define PERSON_ID "3f1c1b8e-3c0a-4a59-9b7e-2f3f1d0c9a01"
#define EPISODE_ID "8a5e2d7c-6b4f-4e3a-9c2d-1b0a9f8e7d02"
#define CARER_ID "f0e1d2c3-b4a5-4968-8776-655443322106"
#define PLAN_ID "a9b8c7d6-e5f4-4a3b-9c2d-1e0f9a8b7c07"
#define TRANSFER_ID "b1c2d3e4-f5a6-4b7c-8d9e-0f1a2b3c4d08"
#define STAFF_ID "d1e2f3a4-b5c6-4d7e-8f90-a1b2c3d4e504"
#define CARE_TEAM_ID "5d3c3f7e-1a2b-8c5d-8e9f-0a1b2c3d4e09" /* the share's id, version 8 */
#define UPDATED "2026-11-30T10:15:00.123456+00:00"

static const char *const PERSON =
    "{'id': '" PERSON_ID
    "', 'nhs_number': '9434765919', 'given_name': 'Ann',"
    " 'family_name': 'Smith', 'date_of_birth': '1980-01-02', 'gender': 'female'}";
static const char *const PERSON_CONTACT =
    "{'address': {'lines': ['1 High St', 'Leeds'], 'postcode': 'LS1 1AA'},"
    " 'gp_practice': {'ods_code': 'B86001', 'name': 'Park Surgery'}}";
static const char *const EPISODE =
    "{'id': '" EPISODE_ID
    "', 'status': 'open', 'care_level': 'cpa',"
    " 'opened_at': '2026-01-05T09:00:00+00:00', 'closed_at': null,"
    " 'team': {'id': 'c0ffee00-1111-4222-8333-444455556603', 'name': 'Leeds North CMHT'}}";
static const char *const CARE_TEAM =
    "{'team': {'id': 'c0ffee00-1111-4222-8333-444455556603', 'name': 'Leeds North CMHT'},"
    " 'holder': {'role': 'care_coordinator', 'name': 'Jo Bloggs', 'staff_id': '" STAFF_ID
    "',"
    "            'organisation': null, 'since': '2026-01-06T12:00:00+00:00'},"
    " 'deputy': {'name': 'Sam Deputy', 'staff_id': null}}";
static const char *const CARER =
    "{'id': '" CARER_ID
    "', 'name': 'Mary Smith', 'relationship': 'mother',"
    " 'contact': {'phone': '0113 496 0000', 'email': null}, 'under_18': true,"
    " 'date_of_birth': null, 'lives_with_person': false}";
static const char *const CARE_PLAN =
    "{'id': '" PLAN_ID
    "', 'plan_version': 2, 'status': 'active',"
    " 'activated_at': '2026-02-01T10:00:00+00:00',"
    " 'needs': [{'domain': 'housing', 'description': 'Rent arrears'}],"
    " 'goals': [{'in_own_words': 'Keep my flat', 'target_date': '2026-06-30'},"
    "           {'in_own_words': 'Sleep better', 'target_date': null}],"
    " 'interventions': [{'what': 'Benefits advice', 'delivered_by': 'agency',"
    "                    'provider_name': 'Citizens Advice', 'frequency': 'monthly',"
    "                    'from': '2026-02-01', 'to': null}],"
    " 'crisis_plan': {'early_warning_signs': 'Not sleeping', 'what_person_should_do': 'Call',"
    "                 'what_others_should_do': 'Call the crisis line',"
    "                 'contacts_24_7': [{'name': 'Crisis line', 'number': '0800 000 0000'}]},"
    " 'contingency_plan': {'contact_name': 'Pat Duty', 'contact_role': null,"
    "                      'contact_phone': '0113 000 0000', 'arrangements': 'Daily calls'},"
    " 'risk_management_plan': {'plan': 'Weekly review', 'risk_categories': ['self_harm']}}";
static const char *const TRANSFER =
    "{'id': '" TRANSFER_ID
    "', 'type': 'partner_agency', 'status': 'proposed',"
    " 'reason': 'Social care needs now primary', 'proposed_at': '2026-11-29T15:00:00+00:00'}";

/* A share of kind with the items named (space-separated) in its content and data_set. */
static json_t *share_of(const char *kind, const char *items) {
  json_t *share = json_of(
      "{'id': '" SHARE_ID
      "', 'org': 'ASC-LEEDS', 'status': 'sent', 'message': 'Please call',"
      " 'lawful_basis': {'basis': 'consent', 'consent_given_on': '2026-11-30', 'note': null},"
      " 'data_set': [], 'content': {}, 'created_at': '2026-11-30T10:00:00+00:00',"
      " 'updated_at': '" UPDATED
      "', 'acknowledged_at': null, 'decided_at': null,"
      " 'rejection_reason': null, 'version': 3}");
  json_object_set_new(share, "kind", json_string(kind));
  static const struct {
    const char *name, *json;
  } ITEMS[] = {{"person", PERSON},
               {"person_contact", PERSON_CONTACT},
               {"episode", EPISODE},
               {"care_team", CARE_TEAM},
               {"carer", CARER},
               {"care_plan", CARE_PLAN},
               {"transfer", TRANSFER},
               {"needs_summary", "'Help with housing'"},
               {"risk_summary", "'Low risk'"}};
  json_t *content = json_object_get(share, "content"),
         *data_set = json_object_get(share, "data_set");
  for (size_t i = 0; i < sizeof ITEMS / sizeof *ITEMS; i++) {
    char word[32];
    snprintf(word, sizeof word, " %s ", ITEMS[i].name);
    char padded[256];
    snprintf(padded, sizeof padded, " %s ", items);
    if (!strstr(padded, word)) continue;
    json_object_set_new(content, ITEMS[i].name, json_of(ITEMS[i].json));
    json_array_append_new(data_set, json_string(ITEMS[i].name));
  }
  return share;
}

static const char *const EVERY_ITEM =
    "person person_contact episode care_team carer care_plan transfer needs_summary risk_summary";

/* The value at a path of member names and array indexes ("entry/0/resource/id"), or NULL. */
static const json_t *at(const json_t *value, const char *path) {
  char copy[256];
  snprintf(copy, sizeof copy, "%s", path);
  char *rest = copy;
  for (char *step; value && (step = strsep(&rest, "/"));)
    value = json_is_array(value) ? json_array_get(value, strtoul(step, NULL, 10))
                                 : json_object_get(value, step);
  return value;
}

static const char *text_at(const json_t *value, const char *path) {
  return json_string_value(at(value, path));
}

/* The first resource of type in the bundle, or NULL. */
static const json_t *resource_of(const json_t *bundle, const char *type) {
  size_t i;
  const json_t *entry;
  json_array_foreach(json_object_get(bundle, "entry"), i, entry) {
    const json_t *resource = json_object_get(entry, "resource");
    if (strcmp(text_at(resource, "resourceType"), type) == 0) return resource;
  }
  return NULL;
}

static size_t entry_count(const json_t *bundle) {
  return json_array_size(json_object_get(bundle, "entry"));
}

/* Whether any note of the resource holds text. */
static bool has_note(const json_t *resource, const char *text) {
  size_t i;
  const json_t *note;
  json_array_foreach(json_object_get(resource, "note"), i, note) {
    if (strstr(text_at(note, "text"), text)) return true;
  }
  return false;
}

static bool dump_contains(const json_t *value, const char *text) {
  char *dump = json_dumps(value, 0);
  bool found = dump && strstr(dump, text);
  free(dump);
  return found;
}

static void check_references(const json_t *value, const json_t *bundle, const json_t *owner);

static void check_members(const json_t *object, const json_t *bundle, const json_t *owner) {
  const char *key;
  const json_t *member;
  json_object_foreach((json_t *)object, key, member) {
    if (strcmp(key, "contained") != 0) {
      check_references(member, bundle, owner);
      continue;
    }
    size_t i;
    const json_t *contained;
    json_array_foreach(member, i, contained) check_members(contained, bundle, owner);
  }
}

/* Every reference in value names an entry's fullUrl or (#id) a resource contained in owner. */
static void check_references(const json_t *value, const json_t *bundle, const json_t *owner) {
  if (json_is_array(value)) {
    size_t i;
    const json_t *item;
    json_array_foreach(value, i, item) check_references(item, bundle, owner);
    return;
  }
  if (!json_is_object(value)) return;
  if (json_object_get(value, "resourceType")) owner = value;
  const char *ref = json_string_value(json_object_get(value, "reference"));
  if (ref) {
    bool found = false;
    size_t i;
    const json_t *item;
    if (ref[0] == '#') {
      json_array_foreach(json_object_get(owner, "contained"), i, item) {
        found = found || strcmp(text_at(item, "id"), ref + 1) == 0;
      }
    } else {
      json_array_foreach(json_object_get(bundle, "entry"), i, item) {
        found = found || strcmp(text_at(item, "fullUrl"), ref) == 0;
      }
    }
    if (!found) fprintf(stderr, "unresolved reference %s\n", ref);
    CHECK(found);
  }
  check_members(value, bundle, owner);
}

/* Every entry: fullUrl urn:uuid:<id>, meta from the share. */
static void check_entries(const json_t *bundle) {
  size_t i;
  const json_t *entry;
  json_array_foreach(json_object_get(bundle, "entry"), i, entry) {
    const json_t *resource = json_object_get(entry, "resource");
    char url[64];
    snprintf(url, sizeof url, "urn:uuid:%s", text_at(resource, "id"));
    CHECK_STR(text_at(entry, "fullUrl"), url);
    CHECK_STR(text_at(resource, "meta/versionId"), "3");
    CHECK_STR(text_at(resource, "meta/lastUpdated"), UPDATED);
    char profile[128];
    snprintf(profile, sizeof profile, "https://fhir.hl7.org.uk/StructureDefinition/UKCore-%s",
             text_at(resource, "resourceType"));
    CHECK_STR(text_at(resource, "meta/profile/0"), profile);
  }
  check_references(bundle, bundle, NULL);
}

static void test_bundle_of_a_care_act_referral(void) {
  json_t *share = share_of("care_act_assessment_referral", "person needs_summary risk_summary");
  json_t *bundle = fhir_share_bundle(share);
  CHECK(bundle != NULL);
  CHECK_STR(text_at(bundle, "resourceType"), "Bundle");
  CHECK_STR(text_at(bundle, "id"), SHARE_ID);
  CHECK_STR(text_at(bundle, "type"), "collection");
  CHECK_STR(text_at(bundle, "timestamp"), UPDATED);
  CHECK_STR(text_at(bundle, "meta/lastUpdated"), UPDATED);
  CHECK(entry_count(bundle) == 2);
  const json_t *request = at(bundle, "entry/0/resource");
  CHECK_STR(text_at(request, "resourceType"), "ServiceRequest");
  CHECK_STR(text_at(request, "id"), SHARE_ID);
  CHECK_STR(text_at(request, "status"), "active");
  CHECK_STR(text_at(request, "intent"), "order");
  CHECK_STR(text_at(request, "code/text"), "Care Act 2014 assessment of needs");
  CHECK_STR(text_at(request, "subject/reference"), "urn:uuid:" PERSON_ID);
  CHECK_STR(text_at(request, "authoredOn"), "2026-11-30T10:00:00+00:00");
  CHECK_STR(text_at(request, "performer/0/identifier/system"),
            "https://carecoord.nhs.uk/Id/partner-organisation");
  CHECK_STR(text_at(request, "performer/0/identifier/value"), "ASC-LEEDS");
  CHECK_STR(text_at(request, "reasonCode/0/text"), "Help with housing");
  CHECK(has_note(request, "Lawful basis for sharing: consent (consent given on 2026-11-30)."));
  CHECK(has_note(request, "Message from the sender: Please call"));
  CHECK(has_note(request, "Summary of risks: Low risk"));
  CHECK(at(request, "supportingInfo") == NULL);
  const json_t *patient = at(bundle, "entry/1/resource");
  CHECK_STR(text_at(patient, "resourceType"), "Patient");
  CHECK_STR(text_at(patient, "identifier/0/system"), "https://fhir.nhs.uk/Id/nhs-number");
  CHECK_STR(text_at(patient, "identifier/0/value"), "9434765919");
  CHECK_STR(text_at(patient, "name/0/family"), "Smith");
  CHECK_STR(text_at(patient, "name/0/given/0"), "Ann");
  CHECK_STR(text_at(patient, "birthDate"), "1980-01-02");
  CHECK_STR(text_at(patient, "gender"), "female");
  check_entries(bundle);
  json_decref(bundle);
  json_decref(share);
}

static void test_share_statuses_map_to_request_statuses(void) {
  static const char *const CASES[][2] = {{"sent", "active"},
                                         {"acknowledged", "active"},
                                         {"accepted", "active"},
                                         {"rejected", "revoked"},
                                         {"withdrawn", "revoked"}};
  for (size_t i = 0; i < sizeof CASES / sizeof *CASES; i++) {
    json_t *share = share_of("care_act_assessment_referral", "person");
    json_object_set_new(share, "status", json_string(CASES[i][0]));
    json_object_set_new(share, "rejection_reason", json_string("Not eligible"));
    json_t *bundle = fhir_share_bundle(share);
    const json_t *request = at(bundle, "entry/0/resource");
    CHECK_STR(text_at(request, "status"), CASES[i][1]);
    /* the rejection's reason only when the share was rejected */
    CHECK(has_note(request, "Rejected by the partner: Not eligible") == (i == 3));
    json_decref(bundle);
    json_decref(share);
  }
}

/* Caldicott: an item left out of the share leaves no resource and none of its data. */
static void test_items_not_shared_leave_no_trace(void) {
  json_t *share = share_of("care_act_assessment_referral", "person");
  json_object_set_new(share, "message", json_null());
  json_t *bundle = fhir_share_bundle(share);
  CHECK(entry_count(bundle) == 2);
  const json_t *patient = resource_of(bundle, "Patient");
  CHECK(patient && !json_object_get(patient, "address"));
  CHECK(patient && !json_object_get(patient, "generalPractitioner"));
  const char *absent[] = {
      "LS1 1AA",    "High St",        "B86001",      "Park Surgery",      "Mary",
      "mother",     CARER_ID,         EPISODE_ID,    "Jo Bloggs",         "CMHT",
      PLAN_ID,      "Keep my flat",   TRANSFER_ID,   "Help with housing", "Low risk",
      "reasonCode", "supportingInfo", "Message from"};
  for (size_t i = 0; i < sizeof absent / sizeof *absent; i++) {
    if (dump_contains(bundle, absent[i])) fprintf(stderr, "found %s\n", absent[i]);
    CHECK(!dump_contains(bundle, absent[i]));
  }
  CHECK(!resource_of(bundle, "RelatedPerson") && !resource_of(bundle, "EpisodeOfCare"));
  CHECK(!resource_of(bundle, "CareTeam") && !resource_of(bundle, "CarePlan"));
  CHECK(!resource_of(bundle, "Task"));
  json_decref(bundle);

  /* The contact details shared: the address and practice are there, and only then. */
  json_object_set_new(json_object_get(share, "content"), "person_contact", json_of(PERSON_CONTACT));
  json_array_append_new(json_object_get(share, "data_set"), json_string("person_contact"));
  bundle = fhir_share_bundle(share);
  patient = resource_of(bundle, "Patient");
  CHECK_STR(text_at(patient, "address/0/line/1"), "Leeds");
  CHECK_STR(text_at(patient, "address/0/postalCode"), "LS1 1AA");
  CHECK_STR(text_at(patient, "generalPractitioner/0/identifier/system"),
            "https://fhir.nhs.uk/Id/ods-organization-code");
  CHECK_STR(text_at(patient, "generalPractitioner/0/identifier/value"), "B86001");
  CHECK_STR(text_at(patient, "generalPractitioner/0/display"), "Park Surgery");
  json_decref(bundle);
  json_decref(share);
}

/* Content beyond what data_set lists is refused rather than sent. */
static void test_content_beyond_the_data_set_is_refused(void) {
  json_t *share = share_of("care_act_assessment_referral", "person");
  json_object_set_new(json_object_get(share, "content"), "risk_summary", json_string("Risky"));
  CHECK(fhir_share_bundle(share) == NULL);
  json_object_set_new(json_object_get(share, "content"), "risk_summary", json_null());
  json_t *bundle = fhir_share_bundle(share); /* null is absent */
  CHECK(bundle != NULL && !dump_contains(bundle, "Risky"));
  json_decref(bundle);
  json_decref(share);
}

static void test_bundle_of_a_carer_referral(void) {
  json_t *share = share_of("carer_assessment_referral", "person carer");
  json_t *bundle = fhir_share_bundle(share);
  CHECK(entry_count(bundle) == 3);
  const json_t *request = at(bundle, "entry/0/resource");
  CHECK_STR(text_at(request, "code/text"), "Carer's assessment (Care Act 2014)");
  CHECK_STR(text_at(request, "subject/reference"), "urn:uuid:" PERSON_ID);
  CHECK_STR(text_at(request, "supportingInfo/0/reference"), "urn:uuid:" CARER_ID);
  CHECK(has_note(request, "About the carer: under 18 (a young carer); does not live with"));
  const json_t *carer = at(bundle, "entry/2/resource");
  CHECK_STR(text_at(carer, "resourceType"), "RelatedPerson");
  CHECK_STR(text_at(carer, "id"), CARER_ID);
  CHECK_STR(text_at(carer, "patient/reference"), "urn:uuid:" PERSON_ID);
  CHECK_STR(text_at(carer, "relationship/0/text"), "mother");
  CHECK_STR(text_at(carer, "name/0/text"), "Mary Smith");
  CHECK_STR(text_at(carer, "telecom/0/system"), "phone");
  CHECK_STR(text_at(carer, "telecom/0/value"), "0113 496 0000");
  CHECK(json_array_size(json_object_get(carer, "telecom")) == 1); /* no email recorded */
  CHECK(!json_object_get(carer, "birthDate"));
  check_entries(bundle);
  json_decref(bundle);
  json_decref(share);
}

static void test_episode_and_care_team(void) {
  json_t *share = share_of("care_plan", "person episode care_team care_plan");
  json_t *bundle = fhir_share_bundle(share);
  const json_t *episode = resource_of(bundle, "EpisodeOfCare");
  CHECK_STR(text_at(episode, "id"), EPISODE_ID);
  CHECK_STR(text_at(episode, "status"), "active");
  CHECK_STR(text_at(episode, "type/0/text"), "Care Programme Approach (CPA)");
  CHECK_STR(text_at(episode, "patient/reference"), "urn:uuid:" PERSON_ID);
  CHECK_STR(text_at(episode, "period/start"), "2026-01-05T09:00:00+00:00");
  CHECK(!at(episode, "period/end"));
  CHECK_STR(text_at(episode, "careManager/display"), "Jo Bloggs");
  CHECK_STR(text_at(episode, "careManager/identifier/value"), STAFF_ID);
  CHECK_STR(text_at(episode, "team/0/reference"), "urn:uuid:" CARE_TEAM_ID);
  const json_t *team = resource_of(bundle, "CareTeam");
  CHECK_STR(text_at(team, "id"), CARE_TEAM_ID);
  CHECK_STR(text_at(team, "status"), "active");
  CHECK_STR(text_at(team, "name"), "Leeds North CMHT");
  CHECK_STR(text_at(team, "subject/reference"), "urn:uuid:" PERSON_ID);
  CHECK_STR(text_at(team, "participant/0/role/0/text"), "Care co-ordinator");
  CHECK_STR(text_at(team, "participant/0/member/display"), "Jo Bloggs");
  CHECK_STR(text_at(team, "participant/0/period/start"), "2026-01-06T12:00:00+00:00");
  CHECK_STR(text_at(team, "participant/1/role/0/text"), "Deputy");
  CHECK_STR(text_at(team, "participant/1/member/display"), "Sam Deputy");
  CHECK(!at(team, "participant/1/member/identifier"));
  CHECK_STR(text_at(resource_of(bundle, "CarePlan"), "careTeam/0/reference"),
            "urn:uuid:" CARE_TEAM_ID);
  check_entries(bundle);
  json_decref(bundle);

  /* Closed, not on CPA; without the care team, the team by name and no care manager. */
  json_t *content = json_object_get(share, "content");
  update(json_object_get(content, "episode"),
         "{'status': 'closed', 'care_level': 'non_cpa', 'closed_at': '2026-11-01T09:00:00Z'}");
  json_object_del(content, "care_team");
  bundle = fhir_share_bundle(share);
  episode = resource_of(bundle, "EpisodeOfCare");
  CHECK_STR(text_at(episode, "status"), "finished");
  CHECK_STR(text_at(episode, "type/0/text"), "Not on the Care Programme Approach");
  CHECK_STR(text_at(episode, "period/end"), "2026-11-01T09:00:00Z");
  CHECK_STR(text_at(episode, "team/0/display"), "Leeds North CMHT");
  CHECK(!at(episode, "team/0/reference") && !at(episode, "careManager"));
  CHECK(!resource_of(bundle, "CareTeam") && !dump_contains(bundle, "Jo Bloggs"));
  check_entries(bundle);
  json_decref(bundle);
  json_decref(share);
}

static void test_care_plan(void) {
  json_t *share = share_of("care_plan", "person care_plan needs_summary");
  json_t *bundle = fhir_share_bundle(share);
  CHECK(entry_count(bundle) == 2);
  const json_t *plan = at(bundle, "entry/0/resource"); /* the share's own resource */
  CHECK_STR(text_at(plan, "resourceType"), "CarePlan");
  CHECK_STR(text_at(plan, "id"), PLAN_ID);
  CHECK_STR(text_at(plan, "status"), "active");
  CHECK_STR(text_at(plan, "intent"), "plan");
  CHECK_STR(text_at(plan, "title"), "Care plan, version 2");
  CHECK_STR(text_at(plan, "description"), "Needs:\n- housing: Rent arrears");
  CHECK_STR(text_at(plan, "subject/reference"), "urn:uuid:" PERSON_ID);
  CHECK_STR(text_at(plan, "period/start"), "2026-02-01T10:00:00+00:00");
  CHECK(json_array_size(json_object_get(plan, "contained")) == 2);
  CHECK_STR(text_at(plan, "contained/0/resourceType"), "Goal");
  CHECK_STR(text_at(plan, "contained/0/lifecycleStatus"), "active");
  CHECK_STR(text_at(plan, "contained/0/description/text"), "Keep my flat");
  CHECK_STR(text_at(plan, "contained/0/target/0/dueDate"), "2026-06-30");
  CHECK(!at(plan, "contained/1/target"));
  CHECK(!at(plan, "contained/0/meta")); /* contained resources have no versionId (dom-4) */
  CHECK_STR(text_at(plan, "goal/1/reference"), "#goal-2");
  CHECK_STR(text_at(plan, "activity/0/detail/status"), "in-progress");
  CHECK_STR(text_at(plan, "activity/0/detail/description"), "Benefits advice");
  CHECK_STR(text_at(plan, "activity/0/detail/scheduledTiming/code/text"), "monthly");
  CHECK_STR(text_at(plan, "activity/0/detail/scheduledTiming/repeat/boundsPeriod/start"),
            "2026-02-01");
  CHECK_STR(text_at(plan, "activity/0/detail/performer/0/display"), "Citizens Advice");
  /* the share's notes first, then the plan's own */
  CHECK_STR(text_at(plan, "note/0/text"),
            "Lawful basis for sharing: consent (consent given on 2026-11-30).");
  CHECK(has_note(plan, "Summary of needs: Help with housing"));
  CHECK(has_note(plan, "Crisis plan\nEarly warning signs: Not sleeping"));
  CHECK(has_note(plan, "Contacts day and night (24/7): Crisis line, 0800 000 0000"));
  CHECK(has_note(plan, "Contingency plan\nContact: Pat Duty, 0113 000 0000"));
  CHECK(has_note(plan, "Risk management plan\nWeekly review\nRisks: self harm"));
  check_entries(bundle);
  json_decref(bundle);

  json_t *content_plan = json_object_get(json_object_get(share, "content"), "care_plan");
  json_object_set_new(content_plan, "status", json_string("superseded"));
  bundle = fhir_share_bundle(share);
  CHECK_STR(text_at(bundle, "entry/0/resource/status"), "revoked");
  CHECK_STR(text_at(bundle, "entry/0/resource/activity/0/detail/status"), "stopped");
  json_decref(bundle);
  json_object_set_new(content_plan, "status", json_string("active"));
  json_object_set_new(content_plan, "activated_at", json_null());
  bundle = fhir_share_bundle(share);
  CHECK_STR(text_at(bundle, "entry/0/resource/activity/0/detail/status"), "not-started");
  json_decref(bundle);
  json_decref(share);
}

static void test_transfer_task(void) {
  static const char *const CASES[][2] = {{"proposed", "requested"},
                                         {"accepted", "accepted"},
                                         {"rejected", "rejected"},
                                         {"completed", "completed"},
                                         {"cancelled", "cancelled"}};
  for (size_t i = 0; i < sizeof CASES / sizeof *CASES; i++) {
    json_t *share = share_of("transfer", "person episode transfer");
    json_object_set_new(share, "rejection_reason", json_string("No capacity"));
    json_object_set_new(json_object_get(json_object_get(share, "content"), "transfer"), "status",
                        json_string(CASES[i][0]));
    json_t *bundle = fhir_share_bundle(share);
    const json_t *task = at(bundle, "entry/0/resource");
    CHECK_STR(text_at(task, "resourceType"), "Task");
    CHECK_STR(text_at(task, "id"), TRANSFER_ID);
    CHECK_STR(text_at(task, "status"), CASES[i][1]);
    CHECK_STR(text_at(task, "intent"), "order");
    CHECK_STR(text_at(task, "description"), "Social care needs now primary");
    CHECK_STR(text_at(task, "focus/reference"), "urn:uuid:" EPISODE_ID);
    CHECK_STR(text_at(task, "for/reference"), "urn:uuid:" PERSON_ID);
    CHECK_STR(text_at(task, "owner/identifier/value"), "ASC-LEEDS");
    CHECK_STR(text_at(task, "authoredOn"), "2026-11-29T15:00:00+00:00");
    CHECK_STR(text_at(task, "lastModified"), UPDATED);
    if (i == 2)
      CHECK_STR(text_at(task, "statusReason/text"), "No capacity");
    else
      CHECK(!at(task, "statusReason"));
    check_entries(bundle);
    json_decref(bundle);
    json_decref(share);
  }
  /* Only the transfer shared: a Task naming neither person nor episode. */
  json_t *share = share_of("transfer", "transfer");
  json_t *bundle = fhir_share_bundle(share);
  CHECK(entry_count(bundle) == 1);
  CHECK(!at(bundle, "entry/0/resource/for") && !at(bundle, "entry/0/resource/focus"));
  json_decref(bundle);
  json_decref(share);
}

static void test_every_item_at_once(void) {
  static const char *const KINDS[] = {"care_act_assessment_referral", "carer_assessment_referral",
                                      "care_plan", "transfer"};
  static const char *const OWN_TYPES[] = {"ServiceRequest", "ServiceRequest", "CarePlan", "Task"};
  for (size_t i = 0; i < 4; i++) {
    json_t *share = share_of(KINDS[i], EVERY_ITEM);
    json_t *bundle = fhir_share_bundle(share);
    CHECK(bundle != NULL);
    CHECK_STR(text_at(bundle, "entry/0/resource/resourceType"), OWN_TYPES[i]);
    CHECK(entry_count(bundle) == (i < 2 ? 7 : 6)); /* each item once, a referral's request */
    check_entries(bundle);
    json_decref(bundle);
    json_decref(share);
  }
}

static void test_free_text_is_made_valid_fhir_strings(void) {
  json_t *share = share_of("care_act_assessment_referral", "person needs_summary");
  json_t *content = json_object_get(share, "content");
  /* A no-break space, a form feed and an ideographic space become plain spaces. */
  json_object_set_new(content, "needs_summary",
                      json_string("Rent\xc2\xa0"
                                  "arrears\f"
                                  "now\xe3\x80\x80!"));
  json_object_set_new(json_object_get(content, "person"), "given_name", json_string("  "));
  json_t *bundle = fhir_share_bundle(share);
  CHECK_STR(text_at(bundle, "entry/0/resource/reasonCode/0/text"), "Rent arrears now !");
  CHECK(!at(bundle, "entry/1/resource/name/0/given")); /* blank: left out */
  json_decref(bundle);
  json_decref(share);
}

static void test_timestamps_must_be_fhir_instants(void) {
  static const char *const GOOD[] = {"2026-11-30T10:15:00Z", "2026-11-30T10:15:00+05:30",
                                     "2026-11-30T10:15:00.123456789-03:00",
                                     "2028-02-29T23:59:60+14:00"};
  static const char *const BAD[] = {"2026-11-30T10:15:00.1234567891+00:00",
                                    "2026-11-30T10:15:00",
                                    "2026-11-30 10:15:00+00",
                                    "2026-11-30T24:00:00Z",
                                    "2026-11-30T10:15:00+14:30",
                                    "2026-02-29T10:15:00Z",
                                    "0000-01-01T00:00:00Z",
                                    "2026-11-30T10:15Z",
                                    "infinity",
                                    ""};
  for (size_t i = 0; i < sizeof GOOD / sizeof *GOOD + sizeof BAD / sizeof *BAD; i++) {
    bool good = i < sizeof GOOD / sizeof *GOOD;
    json_t *share = share_of("transfer", "transfer");
    json_object_set_new(share, "updated_at",
                        json_string(good ? GOOD[i] : BAD[i - sizeof GOOD / sizeof *GOOD]));
    json_t *bundle = fhir_share_bundle(share);
    CHECK((bundle != NULL) == good);
    if (good) CHECK_STR(text_at(bundle, "meta/lastUpdated"), GOOD[i]);
    json_decref(bundle);
    json_decref(share);
  }
}

/* Each change makes the share something the rendering must refuse. */
static void test_what_is_not_a_share_gives_null(void) {
  CHECK(fhir_share_bundle(NULL) == NULL);
  json_t *scalar = json_integer(7), *array = json_array(), *empty = json_object();
  CHECK(!fhir_share_bundle(scalar) && !fhir_share_bundle(array) && !fhir_share_bundle(empty));
  json_decref(scalar);
  json_decref(array);
  json_decref(empty);
  static const struct {
    const char *items, *change;
  } CASES[] = {
      {"person", "{'id': null}"},
      {"person", "{'id': 'not-a-uuid'}"},
      {"person", "{'id': '5D3C3F7E-1A2B-4C5D-8E9F-0A1B2C3D4E09'}"},
      {"person", "{'kind': null}"},
      {"person", "{'kind': 'gossip'}"},
      {"person", "{'kind': 7}"},
      {"person", "{'status': 'lost'}"},
      {"person", "{'org': ''}"},
      {"person", "{'version': 0}"},
      {"person", "{'version': '3'}"},
      {"person", "{'created_at': null}"},
      {"person", "{'lawful_basis': null}"},
      {"person", "{'lawful_basis': {'basis': 'whim'}}"},
      {"person", "{'lawful_basis': {'basis': 'consent', 'consent_given_on': '2026-13-01'}}"},
      {"person", "{'content': []}"},
      {"person", "{'data_set': null}"},
      {"person", "{'message': 5}"},
      {"", "{}"},                                          /* a referral names the person */
      {"person", "{'kind': 'carer_assessment_referral'}"}, /* and a carer's, the carer */
      {"person", "{'kind': 'care_plan'}"},                 /* a care plan share, the plan */
      {"person", "{'kind': 'transfer'}"},                  /* a transfer share, the transfer */
      {"person_contact", "{}"},                            /* contact details of no one */
      {"transfer episode", "{'kind': 'transfer'}"},        /* an episode of no one */
  };
  for (size_t i = 0; i < sizeof CASES / sizeof *CASES; i++) {
    json_t *share = share_of("care_act_assessment_referral", CASES[i].items);
    update(share, CASES[i].change);
    json_t *bundle = fhir_share_bundle(share);
    if (bundle) fprintf(stderr, "case %zu rendered\n", i);
    CHECK(bundle == NULL);
    json_decref(bundle);
    json_decref(share);
  }
}

/* Malformed items: a wrong type or value anywhere refuses the share, without a crash. */
static void test_malformed_items_give_null(void) {
  static const struct {
    const char *item, *change;
  } CASES[] = {
      {"person", "{'nhs_number': null}"},
      {"person", "{'gender': 'x'}"},
      {"person", "{'date_of_birth': '1980-02-30'}"},
      {"person", "{'family_name': ['Smith']}"},
      {"person_contact", "{'address': {'lines': [1]}}"},
      {"person_contact", "{'gp_practice': {'name': 'No code'}}"},
      {"episode", "{'status': 'paused'}"},
      {"episode", "{'opened_at': '2026-01-05'}"},
      {"episode", "{'care_level': null}"},
      {"care_team", "{'holder': {'role': 'boss'}}"},
      {"care_team", "{'deputy': {'staff_id': 'x', 'name': 'Sam'}}"},
      {"carer", "{'id': 'x'}"},
      {"carer", "{'contact': {'phone': 7}}"},
      {"care_plan", "{'goals': 'none'}"},
      {"care_plan", "{'goals': [7]}"},
      {"care_plan", "{'interventions': [{'what': ''}]}"},
      {"care_plan", "{'needs': [{'description': 'no domain'}]}"},
      {"care_plan", "{'crisis_plan': {'contacts_24_7': [{'name': 'A'}]}}"},
      {"care_plan", "{'risk_management_plan': {'plan': 'p', 'risk_categories': [null]}}"},
      {"care_plan", "{'plan_version': 'two'}"},
      {"transfer", "{'status': 'lost'}"},
      {"transfer", "{'proposed_at': null}"},
  };
  for (size_t i = 0; i < sizeof CASES / sizeof *CASES; i++) {
    json_t *share = share_of("care_plan", EVERY_ITEM);
    update(json_object_get(json_object_get(share, "content"), CASES[i].item), CASES[i].change);
    json_t *bundle = fhir_share_bundle(share);
    if (bundle) fprintf(stderr, "case %zu rendered\n", i);
    CHECK(bundle == NULL);
    json_decref(bundle);
    json_decref(share);
  }
  /* An item of the wrong type altogether. */
  json_t *share = share_of("care_plan", EVERY_ITEM);
  json_object_set_new(json_object_get(share, "content"), "care_team", json_string("Jo"));
  CHECK(fhir_share_bundle(share) == NULL);
  json_decref(share);
}

static json_t *referral_of(const char *status, const char *urgency) {
  json_t *referral = json_of(
      "{'id': '7e6d5c4b-3a29-4817-9f6e-5d4c3b2a1f10', 'external_reference': 'ASC/2026/42',"
      " 'source_type': 'local_authority', 'source_org': 'ASC LEEDS/1',"
      " 'received_at': '2026-11-30T10:15:00+00:00', 'response_due_at': '2026-12-28T10:15:00+00:00',"
      " 'decision_reason': null, 'redirected_to': null, 'decided_at': null,"
      " 'created_at': '2026-11-30T10:15:00+00:00', 'updated_at': '" UPDATED "', 'version': 4}");
  json_object_set_new(referral, "status", json_string(status));
  json_object_set_new(referral, "urgency", json_string(urgency));
  return referral;
}

static void test_partner_referral_as_a_service_request(void) {
  json_t *referral = referral_of("received", "urgent");
  json_t *request = fhir_referral_service_request(referral);
  CHECK_STR(text_at(request, "resourceType"), "ServiceRequest");
  CHECK_STR(text_at(request, "id"), "7e6d5c4b-3a29-4817-9f6e-5d4c3b2a1f10");
  CHECK_STR(text_at(request, "meta/versionId"), "4");
  CHECK_STR(text_at(request, "meta/lastUpdated"), UPDATED);
  CHECK_STR(text_at(request, "meta/profile/0"),
            "https://fhir.hl7.org.uk/StructureDefinition/UKCore-ServiceRequest");
  CHECK_STR(text_at(request, "identifier/0/system"),
            "https://carecoord.nhs.uk/Id/partner-referral/ASC%20LEEDS%2F1");
  CHECK_STR(text_at(request, "identifier/0/value"), "ASC/2026/42");
  CHECK_STR(text_at(request, "intent"), "order");
  CHECK_STR(text_at(request, "priority"), "urgent");
  CHECK_STR(text_at(request, "authoredOn"), "2026-11-30T10:15:00+00:00");
  CHECK_STR(text_at(request, "requester/identifier/value"), "ASC LEEDS/1");
  CHECK(text_at(request, "subject/display") && !at(request, "subject/reference"));
  CHECK(!at(request, "note"));
  json_decref(request);

  json_object_set_new(referral, "external_reference", json_null());
  json_object_set_new(referral, "decision_reason", json_string("Needs are social care"));
  json_object_set_new(referral, "redirected_to", json_string("Adult social care"));
  request = fhir_referral_service_request(referral);
  CHECK(!at(request, "identifier"));
  CHECK(has_note(request, "Reason for the decision: Needs are social care"));
  CHECK(has_note(request, "Redirected to: Adult social care"));
  json_decref(request);
  json_decref(referral);

  static const char *const STATUSES[][2] = {{"received", "active"},    {"triaged", "active"},
                                            {"accepted", "completed"}, {"declined", "revoked"},
                                            {"redirected", "revoked"}, {"withdrawn", "revoked"}};
  static const char *const PRIORITIES[][2] = {
      {"emergency", "stat"}, {"urgent", "urgent"}, {"routine", "routine"}};
  for (size_t i = 0; i < 6; i++) {
    referral = referral_of(STATUSES[i][0], PRIORITIES[i % 3][0]);
    request = fhir_referral_service_request(referral);
    CHECK_STR(text_at(request, "status"), STATUSES[i][1]);
    CHECK_STR(text_at(request, "priority"), PRIORITIES[i % 3][1]);
    json_decref(request);
    json_decref(referral);
  }
}

static void test_what_is_not_a_referral_gives_null(void) {
  CHECK(fhir_referral_service_request(NULL) == NULL);
  json_t *scalar = json_string("referral");
  CHECK(fhir_referral_service_request(scalar) == NULL);
  json_decref(scalar);
  static const char *const CHANGES[] = {"{'id': null}",
                                        "{'status': 'lost'}",
                                        "{'urgency': 'soon'}",
                                        "{'urgency': null}",
                                        "{'source_org': null}",
                                        "{'received_at': 'today'}",
                                        "{'updated_at': null}",
                                        "{'version': null}",
                                        "{'external_reference': 42}",
                                        "{'decision_reason': false}"};
  for (size_t i = 0; i < sizeof CHANGES / sizeof *CHANGES; i++) {
    json_t *referral = referral_of("received", "routine");
    update(referral, CHANGES[i]);
    json_t *request = fhir_referral_service_request(referral);
    if (request) fprintf(stderr, "case %zu rendered\n", i);
    CHECK(request == NULL);
    json_decref(request);
    json_decref(referral);
  }
}

int main(void) {
  test_bundle_of_a_care_act_referral();
  test_share_statuses_map_to_request_statuses();
  test_items_not_shared_leave_no_trace();
  test_content_beyond_the_data_set_is_refused();
  test_bundle_of_a_carer_referral();
  test_episode_and_care_team();
  test_care_plan();
  test_transfer_task();
  test_every_item_at_once();
  test_free_text_is_made_valid_fhir_strings();
  test_timestamps_must_be_fhir_instants();
  test_what_is_not_a_share_gives_null();
  test_malformed_items_give_null();
  test_partner_referral_as_a_service_request();
  test_what_is_not_a_referral_gives_null();
  return checks_report();
}
