/* Handlers of every resource, one file each under resources/. */
#ifndef CARECOORD_RESOURCES_H
#define CARECOORD_RESOURCES_H

struct exchange;

/* resources/health.c */
void health_live(struct exchange *x);
void health_ready(struct exchange *x);
void metrics_scrape(struct exchange *x);

/* resources/docs.c */
void docs_page(struct exchange *x);
void docs_redoc_script(struct exchange *x);
void docs_openapi(struct exchange *x);

/* resources/teams.c */
void teams_list(struct exchange *x);
void teams_create(struct exchange *x);
void teams_get(struct exchange *x);
void teams_update(struct exchange *x);

/* resources/staff.c */
void staff_list(struct exchange *x);
void staff_create(struct exchange *x);
void staff_get(struct exchange *x);
void staff_update(struct exchange *x);

/* resources/service_users.c */
void service_users_list(struct exchange *x);
void service_users_create(struct exchange *x);
void service_users_get(struct exchange *x);
void service_users_update(struct exchange *x);

/* resources/referrals.c */
void referrals_list(struct exchange *x);
void referrals_create(struct exchange *x);
void referrals_get(struct exchange *x);
void referrals_triage(struct exchange *x);
void referrals_decide(struct exchange *x);

/* resources/episodes.c */
void episodes_get(struct exchange *x);
void service_users_episodes(struct exchange *x);

/* resources/allocations.c */
void allocations_list(struct exchange *x);
void allocations_create(struct exchange *x);
void allocations_get(struct exchange *x);
void allocations_update(struct exchange *x);

/* resources/allocation_change_requests.c */
void change_requests_list(struct exchange *x);
void change_requests_create(struct exchange *x);
void change_requests_get(struct exchange *x);
void change_requests_decide(struct exchange *x);

/* resources/assessments.c */
void assessments_list(struct exchange *x);
void assessments_create(struct exchange *x);
void assessments_get(struct exchange *x);
void assessments_update(struct exchange *x);
void assessments_complete(struct exchange *x);
void service_users_risk_summary(struct exchange *x);
/* resources/care_plans.c */
void care_plans_list(struct exchange *x);
void care_plans_create(struct exchange *x);
void care_plans_get(struct exchange *x);
void care_plans_update(struct exchange *x);
void care_plans_activate(struct exchange *x);
void care_plans_agreement(struct exchange *x);
void care_plans_versions(struct exchange *x);
void care_plans_version(struct exchange *x);
void care_plans_diff(struct exchange *x);
void care_plans_distributions(struct exchange *x);
void care_plans_distribute(struct exchange *x);
/* resources/reviews.c */
void reviews_list(struct exchange *x);
void reviews_create(struct exchange *x);
void reviews_get(struct exchange *x);
void reviews_update(struct exchange *x);
void reviews_record_outcome(struct exchange *x);
/* resources/carers.c */
void carers_list(struct exchange *x);
void carers_create(struct exchange *x);
void carers_get(struct exchange *x);
void carers_update(struct exchange *x);
/* resources/transfer_contacts.c */
void transfer_contacts_list(struct exchange *x);
void transfer_contacts_create(struct exchange *x);
void transfers_update(struct exchange *x);
/* resources/transfers.c */
void transfers_list(struct exchange *x);
void transfers_create(struct exchange *x);
void transfers_get(struct exchange *x);
void transfers_decide(struct exchange *x);
void transfers_complete(struct exchange *x);
void transfers_cancel(struct exchange *x);
/* resources/reports.c */
void reports_list(struct exchange *x);
void reports_get(struct exchange *x);
/* resources/worklist.c */
void worklist_mine(struct exchange *x);
void worklist_team(struct exchange *x);
void caseloads_team(struct exchange *x);
/* resources/partners.c */
void partners_list(struct exchange *x);
void partners_me(struct exchange *x);
void partners_events(struct exchange *x);
/* resources/partner_shares.c */
void partner_shares_create(struct exchange *x);
void partner_shares_list(struct exchange *x);
void partner_shares_get(struct exchange *x);
void partner_shares_withdraw(struct exchange *x);
void partner_inbox_list(struct exchange *x);
void partner_inbox_get(struct exchange *x);
void partner_inbox_acknowledge(struct exchange *x);
void partner_inbox_decide(struct exchange *x);
/* resources/webhooks.c */
void webhooks_put(struct exchange *x);
void webhooks_get(struct exchange *x);
void webhooks_delete(struct exchange *x);
/* resources/extracts.c */
void extracts_stream(struct exchange *x);
/* How many extracts stream at once: at most `concurrency`, and never more than half the pool
 * (at least one). Made at start-up (caller frees with extract_limit_free). */
struct extract_limit;
struct extract_limit *extract_limit_new(int concurrency, int pool_size);
void extract_limit_free(struct extract_limit *limit);
int extract_limit_max(const struct extract_limit *limit);
/* resources/audit_events.c */
void audit_events_list(struct exchange *x);
void audit_events_verify(struct exchange *x);
void service_users_access_log(struct exchange *x);

#endif
