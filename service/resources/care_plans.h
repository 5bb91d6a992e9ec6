/* How a care plan's agreement and distribution are read, written once for resources/care_plans.c.
 * The episode summary's care_plan is kept with the episode facts
 * (db/migrations/0011_episode_facts.sql), by the same rules. */
#ifndef CARECOORD_CARE_PLANS_H
#define CARECOORD_CARE_PLANS_H

/* The agreement in force for version V of plan P: the latest recorded. */
#define AGREEMENT_OF(P, V)                                                                       \
  "(SELECT g.agreement || jsonb_build_object('recorded_at', g.recorded_at, 'recorded_by',"       \
  " g.recorded_by) FROM care_plan_agreements g WHERE g.care_plan_id = " P ".id"                  \
  " AND g.plan_version = " V " ORDER BY g.recorded_at DESC, g.id DESC LIMIT 1)"

#define SENT_TO(P, WHO)                                                                          \
  "EXISTS (SELECT 1 FROM care_plan_distributions d WHERE d.care_plan_id = " P ".id"              \
  " AND d.plan_version = " P ".plan_version AND d.recipient_type = '" WHO "')"

#endif
