#include "check.h"
#include "audit/chain.h"

/* Expected values computed independently: sha256("\n" + content), then
 * sha256(previous hash + "\n" + content). */
static void test_first_and_second_link(void) {
  char first[AUDIT_HASH_HEX_LEN + 1], second[AUDIT_HASH_HEX_LEN + 1];
  CHECK(audit_chain_hash(NULL, "{\"id\": 1}", first));
  CHECK_STR(first, "f33118694ee6bcdf083014d56b244bbb33796b38c51e4fdc78347ce9edb2a28f");
  CHECK(audit_chain_hash(first, "{\"id\": 2}", second));
  CHECK_STR(second, "987791727f6088e10059ef88a980d7f7b3ba45bd520f0c6ce39b4650bd9d3b03");
}

static void test_any_change_changes_the_hash(void) {
  char a[AUDIT_HASH_HEX_LEN + 1], b[AUDIT_HASH_HEX_LEN + 1], c[AUDIT_HASH_HEX_LEN + 1];
  CHECK(audit_chain_hash(NULL, "{\"id\": 1}", a));
  CHECK(audit_chain_hash(NULL, "{\"id\": 1} ", b));
  CHECK(audit_chain_hash(a, "{\"id\": 1}", c));
  CHECK(strcmp(a, b) != 0 && strcmp(a, c) != 0 && strcmp(b, c) != 0);
}

int main(void) {
  test_first_and_second_link();
  test_any_change_changes_the_hash();
  return checks_report();
}
