/* NHS number validation: 10 digits, the last a Modulus 11 check digit over the first nine
 * (weights 10..2). A remainder giving check value 10 means the number was never issued. */
#ifndef CARECOORD_NHS_NUMBER_H
#define CARECOORD_NHS_NUMBER_H

#include <stdbool.h>

/* True when text is exactly ten ASCII digits with a valid check digit. */
bool nhs_number_is_valid(const char *text);

/* The check digit for nine leading digits, or -1 when none exists (remainder gives 10). */
int nhs_number_check_digit(const char *first_nine);

#endif
