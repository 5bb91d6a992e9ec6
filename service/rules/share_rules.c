/* What may be shared with a partner agency, with whom and on which basis (rules/share_rules.h). */
#include "rules/share_rules.h"

#include <string.h>

static const char *const KIND_NAMES[SHARE_KIND_COUNT] = {
    "care_act_assessment_referral", "carer_assessment_referral", "care_plan", "transfer"};
static const char *const ITEM_NAMES[SHARE_ITEM_COUNT] = {
    "person",        "person_contact", "episode",   "care_team", "needs_summary",
    "risk_summary",  "carer",          "care_plan", "transfer"};
static const char *const STATUS_NAMES[SHARE_STATUS_COUNT] = {"sent", "acknowledged", "accepted",
                                                             "rejected", "withdrawn"};
static const char *const BASIS_NAMES[LAWFUL_BASIS_COUNT] = {
    "consent",    "safeguarding",     "care_act_duty",
    "court_order", "crime_prevention", "vital_interests"};
static const char *const PARTNER_NAMES[PARTNER_KIND_COUNT] = {"adult_social_care", "probation",
                                                              "drug_and_alcohol", "other"};

static bool parse(const char *name, const char *const *names, int count, int *out) {
  if (!name) return false;
  for (int i = 0; i < count; i++) {
    if (strcmp(name, names[i]) == 0) {
      *out = i;
      return true;
    }
  }
  return false;
}

#define PARSER(FN, TYPE, NAMES, COUNT)                                                           \
  bool FN(const char *name, TYPE *out) {                                                         \
    int i;                                                                                       \
    if (!parse(name, NAMES, COUNT, &i)) return false;                                            \
    *out = (TYPE)i;                                                                              \
    return true;                                                                                 \
  }
PARSER(share_kind_parse, enum share_kind, KIND_NAMES, SHARE_KIND_COUNT)
PARSER(share_item_parse, enum share_item, ITEM_NAMES, SHARE_ITEM_COUNT)
PARSER(share_status_parse, enum share_status, STATUS_NAMES, SHARE_STATUS_COUNT)
PARSER(lawful_basis_parse, enum lawful_basis, BASIS_NAMES, LAWFUL_BASIS_COUNT)
PARSER(partner_kind_parse, enum partner_kind, PARTNER_NAMES, PARTNER_KIND_COUNT)

#define NAMER(FN, TYPE, NAMES, COUNT)                                                            \
  const char *FN(TYPE value) { return (unsigned)value < COUNT ? NAMES[value] : NULL; }
NAMER(share_kind_name, enum share_kind, KIND_NAMES, SHARE_KIND_COUNT)
NAMER(share_item_name, enum share_item, ITEM_NAMES, SHARE_ITEM_COUNT)
NAMER(share_status_name, enum share_status, STATUS_NAMES, SHARE_STATUS_COUNT)
NAMER(lawful_basis_name, enum lawful_basis, BASIS_NAMES, LAWFUL_BASIS_COUNT)

#define BIT(ITEM) (1u << (ITEM))

/* Each kind's minimum: who the person is and what the share is for. */
static const share_items REQUIRED[SHARE_KIND_COUNT] = {
    [SHARE_CARE_ACT_ASSESSMENT] = BIT(ITEM_PERSON) | BIT(ITEM_NEEDS_SUMMARY),
    [SHARE_CARER_ASSESSMENT] = BIT(ITEM_PERSON) | BIT(ITEM_CARER),
    [SHARE_CARE_PLAN] = BIT(ITEM_PERSON) | BIT(ITEM_CARE_PLAN),
    /* Whoever takes over co-ordination needs to know the episode and who holds it now. */
    [SHARE_TRANSFER] = BIT(ITEM_PERSON) | BIT(ITEM_TRANSFER) | BIT(ITEM_EPISODE) |
                       BIT(ITEM_CARE_TEAM),
};
static const share_items OPTIONAL[SHARE_KIND_COUNT] = {
    [SHARE_CARE_ACT_ASSESSMENT] = BIT(ITEM_PERSON_CONTACT) | BIT(ITEM_EPISODE) |
                                  BIT(ITEM_CARE_TEAM) | BIT(ITEM_RISK_SUMMARY),
    /* The carer's assessment is about the carer: the person's care team, not their needs. */
    [SHARE_CARER_ASSESSMENT] = BIT(ITEM_CARE_TEAM) | BIT(ITEM_NEEDS_SUMMARY),
    [SHARE_CARE_PLAN] = BIT(ITEM_PERSON_CONTACT) | BIT(ITEM_EPISODE) | BIT(ITEM_CARE_TEAM) |
                        BIT(ITEM_RISK_SUMMARY),
    [SHARE_TRANSFER] = BIT(ITEM_PERSON_CONTACT) | BIT(ITEM_NEEDS_SUMMARY) |
                       BIT(ITEM_RISK_SUMMARY) | BIT(ITEM_CARE_PLAN),
};

share_items share_required_items(enum share_kind kind) {
  return (unsigned)kind < SHARE_KIND_COUNT ? REQUIRED[kind] : 0;
}

share_items share_optional_items(enum share_kind kind) {
  return (unsigned)kind < SHARE_KIND_COUNT ? OPTIONAL[kind] : 0;
}

enum share_items_problem share_items_check(enum share_kind kind, share_items items,
                                           enum share_item *item) {
  share_items required = share_required_items(kind);
  share_items allowed = required | share_optional_items(kind);
  for (int i = 0; i < SHARE_ITEM_COUNT; i++) {
    if ((required & BIT(i)) && !(items & BIT(i))) {
      *item = (enum share_item)i;
      return SHARE_ITEMS_MISSING;
    }
  }
  for (int i = 0; i < SHARE_ITEM_COUNT; i++) {
    if ((items & BIT(i)) && !(allowed & BIT(i))) {
      *item = (enum share_item)i;
      return SHARE_ITEMS_NOT_ALLOWED;
    }
  }
  return SHARE_ITEMS_OK;
}

bool share_may_go_to(enum share_kind kind, enum partner_kind partner) {
  switch (kind) {
    case SHARE_CARE_ACT_ASSESSMENT:
    case SHARE_CARER_ASSESSMENT:
      return partner == PARTNER_ADULT_SOCIAL_CARE;
    case SHARE_TRANSFER:
      return partner == PARTNER_PROBATION || partner == PARTNER_DRUG_AND_ALCOHOL;
    case SHARE_CARE_PLAN:
      return (unsigned)partner < PARTNER_KIND_COUNT;
    default:
      return false;
  }
}

bool share_basis_fits(enum share_kind kind, enum lawful_basis basis) {
  if ((unsigned)kind >= SHARE_KIND_COUNT || (unsigned)basis >= LAWFUL_BASIS_COUNT) return false;
  if (kind == SHARE_CARER_ASSESSMENT)
    return basis == BASIS_CONSENT || basis == BASIS_CARE_ACT_DUTY;
  return true;
}

bool share_kind_is_answered(enum share_kind kind) {
  return kind == SHARE_CARE_ACT_ASSESSMENT || kind == SHARE_CARER_ASSESSMENT ||
         kind == SHARE_TRANSFER;
}

bool share_may_become(enum share_status from, enum share_status to) {
  bool open = from == SHARE_SENT || from == SHARE_ACKNOWLEDGED;
  switch (to) {
    case SHARE_ACKNOWLEDGED:
      return from == SHARE_SENT;
    case SHARE_ACCEPTED:
    case SHARE_REJECTED:
    case SHARE_WITHDRAWN:
      return open;
    default:
      return false;
  }
}
