/* What the episode summary (resources/episodes.c) reads of an episode's care plan, written
 * once with resources/care_plans.c. */
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

/* summary.care_plan of the episode e: its active plan's version and whether that version was
 * agreed and sent to the person and the GP (R-CPL-4), or null. */
#define CARE_PLAN_SUMMARY(E)                                                                     \
  "(SELECT json_build_object('id', p.id, 'plan_version', p.plan_version,"                        \
  " 'agreed', (" AGREEMENT_OF("p", "p.plan_version") "->>'agreed')::boolean,"                    \
  " 'signed', COALESCE(" AGREEMENT_OF("p", "p.plan_version") "->>'how' = 'signed', false),"     \
  " 'sent_to_person', " SENT_TO("p", "person") ", 'sent_to_gp', " SENT_TO("p", "gp") ")"         \
  " FROM care_plans p WHERE p.episode_id = " E ".id AND p.status = 'active')"

#endif
