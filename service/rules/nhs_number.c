#include "rules/nhs_number.h"

#include <stddef.h>

int nhs_number_check_digit(const char *first_nine) {
  int sum = 0;
  for (int i = 0; i < 9; i++) {
    char c = first_nine[i];
    if (c < '0' || c > '9') return -1;
    sum += (c - '0') * (10 - i);
  }
  int check = 11 - (sum % 11);
  if (check == 11) return 0;
  if (check == 10) return -1;
  return check;
}

bool nhs_number_is_valid(const char *text) {
  if (text == NULL) return false;
  for (int i = 0; i < 10; i++)
    if (text[i] < '0' || text[i] > '9') return false;
  if (text[10] != '\0') return false;
  int check = nhs_number_check_digit(text);
  return check >= 0 && check == text[9] - '0';
}
