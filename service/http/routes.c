/* The route table: the one list of everything the service answers. */
#include "auth/roles.h"
#include "http/router.h"
#include "resources/resources.h"

#define CLINICAL ROLES_CLINICAL
#define BODY ROUTE_JSON_BODY
#define PATCH_BODY (ROUTE_JSON_BODY | ROUTE_MERGE_PATCH)
#define PERSON ROUTE_PERSON_RECORD

static const char *const TEAM_QUERY[] = {"type", "limit", "cursor", NULL};
static const char *const STAFF_QUERY[] = {"team_id", "subject", "limit", "cursor", NULL};
static const char *const SERVICE_USER_QUERY[] = {"nhs_number", "name", "team_id", "limit",
                                                 "cursor", NULL};
static const char *const AUDIT_QUERY[] = {"service_user_id", "actor", "action", "resource_type",
                                          "from", "to", "break_glass", "limit", "cursor", NULL};
static const char *const REFERRAL_QUERY[] = {"status", "urgency", "team_id", "overdue",
                                             "service_user_id", "source_type", "limit", "cursor",
                                             NULL};
static const char *const PAGE_QUERY[] = {"limit", "cursor", NULL};
static const char *const DIFF_QUERY[] = {"from", "to", NULL};
static const char *const WORKLIST_QUERY[] = {"kind", "overdue", "due_before", NULL};
static const char *const TEAM_WORKLIST_QUERY[] = {"kind", "overdue", "due_before",
                                                  "holder_staff_id", NULL};
static const char *const REPORT_QUERY[] = {"from", "to", "team_id", NULL};
static const char *const EXTRACT_QUERY[] = {"since", NULL};
static const char *const INBOX_QUERY[] = {"status", "limit", "cursor", NULL};
static const char *const EVENTS_QUERY[] = {"after", "limit", NULL};

const struct route ROUTES[] = {
    {"GET", "/healthz", health_live, 0, ROUTE_PUBLIC, NULL},
    {"GET", "/readyz", health_ready, 0, ROUTE_PUBLIC, NULL},
    {"GET", "/metrics", metrics_scrape, 0, ROUTE_PUBLIC, NULL},
    /* The API reference (README "API reference (/docs)"). */
    {"GET", "/docs", docs_page, 0, ROUTE_PUBLIC, NULL},
    {"GET", "/docs/redoc.standalone.js", docs_redoc_script, 0, ROUTE_PUBLIC, NULL},
    {"GET", "/docs/openapi.yaml", docs_openapi, 0, ROUTE_PUBLIC, NULL},

    {"GET", "/teams", teams_list, CLINICAL, 0, TEAM_QUERY},
    {"POST", "/teams", teams_create, ROLE_MANAGER, BODY, NULL},
    {"GET", "/teams/{id}", teams_get, CLINICAL, 0, NULL},
    {"PATCH", "/teams/{id}", teams_update, ROLE_MANAGER, PATCH_BODY, NULL},

    {"GET", "/staff", staff_list, CLINICAL, 0, STAFF_QUERY},
    {"POST", "/staff", staff_create, ROLE_MANAGER, BODY, NULL},
    {"GET", "/staff/{id}", staff_get, CLINICAL, 0, NULL},
    {"PATCH", "/staff/{id}", staff_update, ROLE_MANAGER, PATCH_BODY, NULL},

    {"GET", "/service-users", service_users_list, CLINICAL, PERSON, SERVICE_USER_QUERY},
    {"POST", "/service-users", service_users_create, CLINICAL, BODY | PERSON, NULL},
    {"GET", "/service-users/{id}", service_users_get, CLINICAL, PERSON, NULL},
    {"PATCH", "/service-users/{id}", service_users_update, CLINICAL, PATCH_BODY | PERSON, NULL},
    {"GET", "/service-users/{id}/access-log", service_users_access_log, ROLE_MANAGER, 0,
     PAGE_QUERY},
    {"GET", "/service-users/{id}/episodes", service_users_episodes, CLINICAL, PERSON, PAGE_QUERY},
    {"GET", "/service-users/{id}/risk-summary", service_users_risk_summary, CLINICAL, PERSON,
     NULL},
    {"GET", "/service-users/{id}/carers", carers_list, CLINICAL, PERSON, PAGE_QUERY},
    {"POST", "/service-users/{id}/carers", carers_create, CLINICAL, BODY | PERSON, NULL},
    {"GET", "/service-users/{id}/carers/{carer_id}", carers_get, CLINICAL, PERSON, NULL},
    {"PATCH", "/service-users/{id}/carers/{carer_id}", carers_update, CLINICAL,
     PATCH_BODY | PERSON, NULL},

    {"GET", "/referrals", referrals_list, CLINICAL | ROLE_PARTNER, PERSON, REFERRAL_QUERY},
    {"POST", "/referrals", referrals_create, CLINICAL | ROLE_PARTNER, BODY | PERSON, NULL},
    {"GET", "/referrals/{id}", referrals_get, CLINICAL | ROLE_PARTNER, PERSON, NULL},
    {"POST", "/referrals/{id}/triage", referrals_triage, ROLE_MANAGER, BODY | PERSON, NULL},
    {"POST", "/referrals/{id}/decision", referrals_decide, CLINICAL | ROLE_PARTNER,
     BODY | PERSON, NULL},

    {"GET", "/episodes/{id}", episodes_get, CLINICAL, PERSON, NULL},
    {"GET", "/episodes/{id}/allocations", allocations_list, CLINICAL, PERSON, PAGE_QUERY},
    {"POST", "/episodes/{id}/allocations", allocations_create, ROLE_MANAGER, BODY | PERSON, NULL},
    {"GET", "/episodes/{id}/allocations/{allocation_id}", allocations_get, CLINICAL, PERSON,
     NULL},
    {"PATCH", "/episodes/{id}/allocations/{allocation_id}", allocations_update, ROLE_MANAGER,
     PATCH_BODY | PERSON, NULL},
    {"GET", "/episodes/{id}/allocation-change-requests", change_requests_list, CLINICAL, PERSON,
     PAGE_QUERY},
    {"POST", "/episodes/{id}/allocation-change-requests", change_requests_create, CLINICAL,
     BODY | PERSON, NULL},
    {"GET", "/episodes/{id}/allocation-change-requests/{request_id}", change_requests_get,
     CLINICAL, PERSON, NULL},
    {"POST", "/episodes/{id}/allocation-change-requests/{request_id}/decision",
     change_requests_decide, ROLE_MANAGER, BODY | PERSON, NULL},
    {"GET", "/episodes/{id}/assessments", assessments_list, CLINICAL, PERSON, PAGE_QUERY},
    {"POST", "/episodes/{id}/assessments", assessments_create, CLINICAL, BODY | PERSON, NULL},
    {"GET", "/episodes/{id}/assessments/{assessment_id}", assessments_get, CLINICAL, PERSON,
     NULL},
    {"PATCH", "/episodes/{id}/assessments/{assessment_id}", assessments_update, CLINICAL,
     PATCH_BODY | PERSON, NULL},
    {"POST", "/episodes/{id}/assessments/{assessment_id}/complete", assessments_complete,
     CLINICAL, PERSON, NULL},
    {"GET", "/episodes/{id}/reviews", reviews_list, CLINICAL, PERSON, PAGE_QUERY},
    {"POST", "/episodes/{id}/reviews", reviews_create, CLINICAL, BODY | PERSON, NULL},
    {"GET", "/episodes/{id}/reviews/{review_id}", reviews_get, CLINICAL, PERSON, NULL},
    {"PATCH", "/episodes/{id}/reviews/{review_id}", reviews_update, CLINICAL,
     PATCH_BODY | PERSON, NULL},
    {"POST", "/episodes/{id}/reviews/{review_id}/outcome", reviews_record_outcome, CLINICAL,
     BODY | PERSON, NULL},
    {"GET", "/episodes/{id}/transfers", transfers_list, CLINICAL, PERSON, PAGE_QUERY},
    {"POST", "/episodes/{id}/transfers", transfers_create, CLINICAL, BODY | PERSON, NULL},
    {"GET", "/episodes/{id}/transfers/{transfer_id}", transfers_get, CLINICAL, PERSON, NULL},
    {"POST", "/episodes/{id}/transfers/{transfer_id}/decision", transfers_decide, ROLE_MANAGER,
     BODY | PERSON, NULL},
    {"POST", "/episodes/{id}/transfers/{transfer_id}/complete", transfers_complete, CLINICAL,
     PERSON, NULL},
    {"POST", "/episodes/{id}/transfers/{transfer_id}/cancel", transfers_cancel, CLINICAL,
     BODY | PERSON, NULL},
    {"PATCH", "/episodes/{id}/transfers/{transfer_id}", transfers_update, CLINICAL,
     PATCH_BODY | PERSON, NULL},
    {"GET", "/episodes/{id}/transfers/{transfer_id}/contacts", transfer_contacts_list, CLINICAL,
     PERSON, NULL},
    {"POST", "/episodes/{id}/transfers/{transfer_id}/contacts", transfer_contacts_create,
     CLINICAL, BODY | PERSON, NULL},

    {"GET", "/episodes/{id}/care-plans", care_plans_list, CLINICAL, PERSON, PAGE_QUERY},
    {"POST", "/episodes/{id}/care-plans", care_plans_create, CLINICAL, BODY | PERSON, NULL},
    {"GET", "/episodes/{id}/care-plans/{care_plan_id}", care_plans_get, CLINICAL, PERSON, NULL},
    {"PATCH", "/episodes/{id}/care-plans/{care_plan_id}", care_plans_update, CLINICAL,
     PATCH_BODY | PERSON, NULL},
    {"POST", "/episodes/{id}/care-plans/{care_plan_id}/activate", care_plans_activate, CLINICAL,
     PERSON, NULL},
    {"POST", "/episodes/{id}/care-plans/{care_plan_id}/agreement", care_plans_agreement,
     CLINICAL, BODY | PERSON, NULL},
    {"GET", "/episodes/{id}/care-plans/{care_plan_id}/versions", care_plans_versions, CLINICAL,
     PERSON, NULL},
    {"GET", "/episodes/{id}/care-plans/{care_plan_id}/versions/{number}", care_plans_version,
     CLINICAL, PERSON, NULL},
    {"GET", "/episodes/{id}/care-plans/{care_plan_id}/diff", care_plans_diff, CLINICAL, PERSON,
     DIFF_QUERY},
    {"GET", "/episodes/{id}/care-plans/{care_plan_id}/distributions", care_plans_distributions,
     CLINICAL, PERSON, NULL},
    {"POST", "/episodes/{id}/care-plans/{care_plan_id}/distributions", care_plans_distribute,
     CLINICAL, BODY | PERSON, NULL},

    {"GET", "/episodes/{id}/partner-shares", partner_shares_list, CLINICAL, PERSON, PAGE_QUERY},
    {"POST", "/episodes/{id}/partner-shares", partner_shares_create, CLINICAL, BODY | PERSON,
     NULL},
    {"GET", "/episodes/{id}/partner-shares/{share_id}", partner_shares_get, CLINICAL, PERSON,
     NULL},
    {"POST", "/episodes/{id}/partner-shares/{share_id}/withdraw", partner_shares_withdraw,
     CLINICAL, BODY | PERSON, NULL},

    {"GET", "/me/worklist", worklist_mine, CLINICAL, 0, WORKLIST_QUERY},
    {"GET", "/teams/{id}/worklist", worklist_team, ROLE_MANAGER, 0, TEAM_WORKLIST_QUERY},
    {"GET", "/teams/{id}/caseloads", caseloads_team, ROLE_MANAGER, 0, NULL},

    {"GET", "/reports", reports_list, ROLE_MANAGER | ROLE_REPORTING, 0, NULL},
    {"GET", "/reports/{measure}", reports_get, ROLE_MANAGER | ROLE_REPORTING, 0, REPORT_QUERY},
    /* Every person's records, pseudonymised: a refusal is audited as for a person's record. */
    {"GET", "/extracts/{table}", extracts_stream, ROLE_REPORTING, PERSON, EXTRACT_QUERY},

    {"GET", "/partners", partners_list, CLINICAL, 0, NULL},
    {"GET", "/partners/me", partners_me, ROLE_PARTNER, 0, NULL},
    {"GET", "/partners/me/events", partners_events, ROLE_PARTNER, 0, EVENTS_QUERY},
    /* What is addressed to the caller's organisation: another's is not found (and audited). */
    {"GET", "/partners/me/shares", partner_inbox_list, ROLE_PARTNER, 0, INBOX_QUERY},
    {"GET", "/partners/me/shares/{id}", partner_inbox_get, ROLE_PARTNER, PERSON, NULL},
    {"POST", "/partners/me/shares/{id}/acknowledgement", partner_inbox_acknowledge, ROLE_PARTNER,
     PERSON, NULL},
    {"POST", "/partners/me/shares/{id}/decision", partner_inbox_decide, ROLE_PARTNER,
     BODY | PERSON, NULL},
    {"PUT", "/partners/me/webhook", webhooks_put, ROLE_PARTNER, BODY, NULL},
    {"GET", "/partners/me/webhook", webhooks_get, ROLE_PARTNER, 0, NULL},
    {"DELETE", "/partners/me/webhook", webhooks_delete, ROLE_PARTNER, 0, NULL},

    {"GET", "/audit-events", audit_events_list, ROLE_MANAGER, 0, AUDIT_QUERY},
    {"GET", "/audit-events/verify", audit_events_verify, ROLE_MANAGER, 0, NULL},
};

const size_t ROUTE_COUNT = sizeof ROUTES / sizeof ROUTES[0];
