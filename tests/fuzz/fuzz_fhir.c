/* FHIR renderings (service/fhir/fhir.c) of arbitrary JSON: a partner share as a Bundle and a
 * partner's referral as a ServiceRequest. The input is JSON text; as an object it is rendered
 * both as a share and as a referral, and the members "share" and "referral" of it are too (the
 * form of tests/support/fhir_samples.c), so seeds can hold real views.
 *
 * Properties: a rendering is NULL or an object of the promised resourceType that serialises to
 * JSON; and rendering is pure: the same input renders the same output twice. */
#include "fhir/fhir.h"
#include "fuzz.h"

static void check(json_t *(*render)(const json_t *), const json_t *input, const char *type) {
  json_t *output = render(input);
  if (output) {
    FUZZ_REQUIRE(json_is_object(output));
    const char *resource_type = json_string_value(json_object_get(output, "resourceType"));
    FUZZ_REQUIRE(resource_type && strcmp(resource_type, type) == 0);
    char *text = json_dumps(output, JSON_COMPACT);
    FUZZ_REQUIRE(text);
    free(text);
  }
  json_t *again = render(input);
  FUZZ_REQUIRE(output ? again && json_equal(output, again) : !again);
  json_decref(again);
  json_decref(output);
}

static void render_all(const json_t *value) {
  check(fhir_share_bundle, value, "Bundle");
  check(fhir_referral_service_request, value, "ServiceRequest");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  json_t *input = json_loadb((const char *)data, size, JSON_DECODE_ANY, NULL);
  if (!input) return 0;
  render_all(input);
  json_t *share = json_object_get(input, "share");
  if (share) render_all(share);
  json_t *referral = json_object_get(input, "referral");
  if (referral) render_all(referral);
  json_decref(input);
  return 0;
}
