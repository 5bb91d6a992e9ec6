#include "check.h"
#include "extract_format.h"
#include "pseudonym.h"

static const char *const NAMES[] = {"Id", "Note", "Agreed", "Version"};
static const enum value_kind KINDS[] = {VALUE_TEXT, VALUE_TEXT, VALUE_BOOL, VALUE_NUMBER};

static char *written(struct text_buffer *b) {
  static char text[512];
  snprintf(text, sizeof text, "%.*s", (int)b->len, b->data);
  return text;
}

static void test_csv_has_a_header_and_quotes_per_rfc_4180(void) {
  struct text_buffer b = {0};
  extract_write_header(&b, EXTRACT_CSV, NAMES, 4);
  const char *row[] = {"a1", "say \"hi\", then\r\nleave", "t", "3"};
  extract_write_row(&b, EXTRACT_CSV, NAMES, KINDS, row, 4);
  const char *nulls[] = {"a2", NULL, NULL, NULL};
  extract_write_row(&b, EXTRACT_CSV, NAMES, KINDS, nulls, 4);
  CHECK_STR(written(&b), "Id,Note,Agreed,Version\r\n"
                         "a1,\"say \"\"hi\"\", then\r\nleave\",true,3\r\n"
                         "a2,,,\r\n");
  text_buffer_free(&b);
}

static void test_ndjson_escapes_strings_and_types_values(void) {
  struct text_buffer b = {0};
  extract_write_header(&b, EXTRACT_NDJSON, NAMES, 4);
  CHECK(b.len == 0);
  const char *row[] = {"a1", "tab\there \"q\" back\\slash \x01 caf\xc3\xa9", "f", "12"};
  extract_write_row(&b, EXTRACT_NDJSON, NAMES, KINDS, row, 4);
  const char *nulls[] = {"a2", NULL, NULL, NULL};
  extract_write_row(&b, EXTRACT_NDJSON, NAMES, KINDS, nulls, 4);
  CHECK_STR(written(&b),
            "{\"Id\":\"a1\",\"Note\":\"tab\\there \\\"q\\\" back\\\\slash \\u0001 caf\xc3\xa9\","
            "\"Agreed\":false,\"Version\":12}\n"
            "{\"Id\":\"a2\",\"Note\":null,\"Agreed\":null,\"Version\":null}\n");
  text_buffer_clear(&b);
  CHECK(b.len == 0);
  text_buffer_free(&b);
}

/* RFC 4231 test case 2. */
static void test_pseudonyms_are_hmac_sha256_in_hex(void) {
  char out[PSEUDONYM_HEX_LEN + 1];
  struct pseudonymiser *p = pseudonymiser_new((const unsigned char *)"Jefe", 4);
  CHECK(p && pseudonymise(p, "what do ya want for nothing?", out));
  CHECK_STR(out, "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
  /* the same input twice: the context is reused, the answer the same */
  CHECK(pseudonymise(p, "what do ya want for nothing?", out));
  CHECK_STR(out, "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
  pseudonymiser_free(p);
}

int main(void) {
  test_csv_has_a_header_and_quotes_per_rfc_4180();
  test_ndjson_escapes_strings_and_types_values();
  test_pseudonyms_are_hmac_sha256_in_hex();
  return checks_report();
}
