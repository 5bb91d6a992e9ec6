/* What clinical staff may share with a partner agency, and what the partner may do with it
 * (seed 000 §2.5, seed 004; Caldicott principles: justify the purpose, use the minimum
 * necessary, know the law). Pure: no database, no clock.
 *
 * A share has a kind, which says whom it may go to and which items of the record it must and may
 * carry (the minimum data set); the clinician picks the items (the required ones and any of the
 * optional ones) and names the lawful basis. Then the partner acknowledges receipt and, for a
 * referral or a transfer, accepts or rejects it; the sender may withdraw it until it is decided. */
#ifndef CARECOORD_SHARE_RULES_H
#define CARECOORD_SHARE_RULES_H

#include <stdbool.h>
#include <stddef.h>

/* As stored and shown: "care_act_assessment_referral", "carer_assessment_referral",
 * "care_plan", "transfer". */
enum share_kind {
  SHARE_CARE_ACT_ASSESSMENT,
  SHARE_CARER_ASSESSMENT,
  SHARE_CARE_PLAN,
  SHARE_TRANSFER,
  SHARE_KIND_COUNT
};

/* The items of the record a share can carry: "person" (NHS number, name, date of birth,
 * gender), "person_contact" (address, GP practice), "episode", "care_team" (the holder and the
 * deputy), "needs_summary" and "risk_summary" (written for this share by the clinician),
 * "carer", "care_plan" (the active version: needs, goals, interventions and the crisis,
 * contingency and risk management plans), "transfer". */
enum share_item {
  ITEM_PERSON,
  ITEM_PERSON_CONTACT,
  ITEM_EPISODE,
  ITEM_CARE_TEAM,
  ITEM_NEEDS_SUMMARY,
  ITEM_RISK_SUMMARY,
  ITEM_CARER,
  ITEM_CARE_PLAN,
  ITEM_TRANSFER,
  SHARE_ITEM_COUNT
};

/* "sent", "acknowledged", "accepted", "rejected", "withdrawn". */
enum share_status {
  SHARE_SENT,
  SHARE_ACKNOWLEDGED,
  SHARE_ACCEPTED,
  SHARE_REJECTED,
  SHARE_WITHDRAWN,
  SHARE_STATUS_COUNT
};

/* The lawful bases: "consent" (with the date it was given), or a legal gateway named in a
 * note: "safeguarding", "care_act_duty", "court_order", "crime_prevention", "vital_interests". */
enum lawful_basis {
  BASIS_CONSENT,
  BASIS_SAFEGUARDING,
  BASIS_CARE_ACT_DUTY,
  BASIS_COURT_ORDER,
  BASIS_CRIME_PREVENTION,
  BASIS_VITAL_INTERESTS,
  LAWFUL_BASIS_COUNT
};

/* "adult_social_care", "probation", "drug_and_alcohol", "other" (partner_organisations.kind). */
enum partner_kind {
  PARTNER_ADULT_SOCIAL_CARE,
  PARTNER_PROBATION,
  PARTNER_DRUG_AND_ALCOHOL,
  PARTNER_OTHER,
  PARTNER_KIND_COUNT
};

bool share_kind_parse(const char *name, enum share_kind *out);
bool share_item_parse(const char *name, enum share_item *out);
bool share_status_parse(const char *name, enum share_status *out);
bool lawful_basis_parse(const char *name, enum lawful_basis *out);
bool partner_kind_parse(const char *name, enum partner_kind *out);
const char *share_kind_name(enum share_kind kind);
const char *share_item_name(enum share_item item);
const char *share_status_name(enum share_status status);
const char *lawful_basis_name(enum lawful_basis basis);

/* A set of items, one bit each (1u << item). */
typedef unsigned share_items;

/* The items a kind must carry, and those it may carry besides. */
share_items share_required_items(enum share_kind kind);
share_items share_optional_items(enum share_kind kind);

/* Why a data set is refused, or SHARE_ITEMS_OK. */
enum share_items_problem {
  SHARE_ITEMS_OK,
  SHARE_ITEMS_MISSING,     /* a required item is not in the set (*item says which) */
  SHARE_ITEMS_NOT_ALLOWED, /* an item the kind may not carry (*item) */
};
/* Whether `items` is a data set the kind may carry: every required item, nothing outside the
 * required and optional ones. *item names the first item at fault. */
enum share_items_problem share_items_check(enum share_kind kind, share_items items,
                                           enum share_item *item);

/* Whether the kind may go to an organisation of this kind: a Care Act or carer's assessment to
 * Adult Social Care (the Care Act 2014 duty is the local authority's); a transfer of care
 * co-ordination to probation (a community drug rehabilitation requirement, seed 004) or a drug
 * and alcohol service; a care plan to any partner named in it as a recipient. */
bool share_may_go_to(enum share_kind kind, enum partner_kind partner);

/* Whether a basis fits the kind: a care plan or an assessment referral needs consent or a named
 * gateway; a carer's own assessment is offered under the Care Act duty or with the carer's
 * consent (it is the carer's data), so safeguarding and the others do not apply to it. */
bool share_basis_fits(enum share_kind kind, enum lawful_basis basis);

/* Whether the partner answers this kind (accepts or rejects it): referrals and transfers; a
 * care plan is only acknowledged. */
bool share_kind_is_answered(enum share_kind kind);

/* Whether a share in status `from` may become `to`: acknowledged from sent; accepted or
 * rejected from sent or acknowledged (an answer implies receipt); withdrawn from sent or
 * acknowledged (an answered share is the partner's to act on: a withdrawal would not undo it). */
bool share_may_become(enum share_status from, enum share_status to);

#endif
