/* Renders inputs with service/fhir, so that tests can check the C output against the FHIR
 * schema (tests/api/test_fhir_samples.py runs it, then tests/support/validate-fhir.js).
 *
 *   fhir_samples < inputs.json
 *
 * Reads a JSON array whose items are {"share": <partner view of a share>} or
 * {"referral": <partner view of a referral>}; prints a JSON array of the renderings in the same
 * order (fhir_share_bundle or fhir_referral_service_request), null where one returned NULL.
 * Exit status: 0 ok, 2 input that is not such an array. */
#include <jansson.h>
#include <stdio.h>

#include "fhir/fhir.h"

static json_t *render(const json_t *input) {
  const json_t *share = json_object_get(input, "share");
  if (share) return fhir_share_bundle(share);
  const json_t *referral = json_object_get(input, "referral");
  if (referral) return fhir_referral_service_request(referral);
  return NULL;
}

int main(void) {
  json_error_t error;
  json_t *inputs = json_loadf(stdin, 0, &error);
  if (!json_is_array(inputs)) {
    fprintf(stderr, "fhir_samples: stdin is not a JSON array (%s)\n", error.text);
    json_decref(inputs);
    return 2;
  }
  json_t *outputs = json_array();
  size_t i;
  json_t *input;
  json_array_foreach(inputs, i, input) {
    json_t *output = render(input);
    json_array_append_new(outputs, output ? output : json_null());
  }
  int failed = json_dumpf(outputs, stdout, JSON_INDENT(1)) != 0 || fputc('\n', stdout) == EOF;
  json_decref(outputs);
  json_decref(inputs);
  return failed ? 1 : 0;
}
