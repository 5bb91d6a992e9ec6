/* The authenticated caller of a request. */
#ifndef CARECOORD_PRINCIPAL_H
#define CARECOORD_PRINCIPAL_H

#define PRINCIPAL_SUBJECT_MAX 200
#define PRINCIPAL_ORG_MAX 128

struct principal {
  char subject[PRINCIPAL_SUBJECT_MAX + 1]; /* token `sub`: a staff member or a partner system */
  unsigned roles;                          /* ROLE_* bits of the token's known roles */
  char roles_literal[96];                  /* the same as a PostgreSQL array literal, for audit */
  char org[PRINCIPAL_ORG_MAX + 1];         /* partner organisation (`org`), or "" */
};

#endif
