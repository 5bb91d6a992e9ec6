#!/usr/bin/env node
/* Validates Kubernetes objects offline, for tests/contract/test_deploy.py.
 *
 *   node tests/support/validate-k8s.js < objects.json
 *
 * stdin: a JSON array of {"source": "deploy/x.yaml#1", "object": {...}} (the YAML is parsed by
 * the caller). Each object is checked twice against the Kubernetes API of its apiVersion and
 * kind, as the npm package kubernetes-models (pinned in package.json) describes it:
 *   1. its JSON schema (types, required fields, formats), with the model's validate(); and
 *   2. its TypeScript interface, by type-checking the object as a literal of that type: unlike
 *      the schemas, this rejects fields the API does not have (a misspelt `readinesProbe` would
 *      otherwise pass here and be dropped silently by the API server).
 * An apiVersion/kind without a model is an error. Prints one line per problem; exit status 0
 * when there is none, 1 otherwise, 2 on bad input. Touches no file and no network. */
"use strict";

const path = require("path");
const ts = require("typescript");

/* The model's module: kubernetes-models/<group>/<version>/<Kind>, or v1/<Kind> for the core
 * group. */
function modelModule(apiVersion, kind) {
  if (!/^([a-z0-9.-]+\/)?v[0-9]+((alpha|beta)[0-9]+)?$/.test(apiVersion)) return null;
  if (!/^[A-Z][A-Za-z0-9]*$/.test(kind)) return null;
  return `kubernetes-models/${apiVersion}/${kind}`;
}

function schemaProblems(item) {
  const { apiVersion, kind } = item.object;
  const module = typeof apiVersion === "string" && typeof kind === "string" &&
    modelModule(apiVersion, kind);
  if (!module) return [`${item.source}: no Kubernetes model for apiVersion ${apiVersion}, kind ${kind}`];
  let Model;
  try {
    Model = require(module)[kind];
  } catch (e) {
    if (e.code !== "MODULE_NOT_FOUND" && e.code !== "ERR_PACKAGE_PATH_NOT_EXPORTED") throw e;
  }
  if (typeof Model !== "function") {
    return [`${item.source}: no Kubernetes model for apiVersion ${apiVersion}, kind ${kind}`];
  }
  try {
    new Model(item.object).validate();
  } catch (e) {
    return [`${item.source}: ${apiVersion} ${kind}: ${e.message}`];
  }
  return [];
}

/* Type-checks every object in one program. The sources are virtual files beside this script
 * (so that `kubernetes-models` resolves from the repository's node_modules); nothing is written. */
function typeProblems(items) {
  const dir = __dirname;
  const files = new Map();
  items.forEach((item, i) => {
    const { apiVersion, kind } = item.object;
    const module = modelModule(apiVersion, kind);
    const text = `import type { I${kind} } from "${module}";\n` +
      `// ${item.source}\n` +
      `export const object: I${kind} = ${JSON.stringify(item.object, null, 2)};\n`;
    files.set(path.join(dir, `__k8s_object_${i}.ts`), { text, item });
  });
  const options = {
    strict: true, noEmit: true, skipLibCheck: true, types: [],
    module: ts.ModuleKind.CommonJS, moduleResolution: ts.ModuleResolutionKind.Node10,
    target: ts.ScriptTarget.ES2020,
  };
  const host = ts.createCompilerHost(options);
  const realGetSourceFile = host.getSourceFile.bind(host);
  const realFileExists = host.fileExists.bind(host);
  const realReadFile = host.readFile.bind(host);
  host.fileExists = (name) => files.has(path.resolve(name)) || realFileExists(name);
  host.readFile = (name) => files.has(path.resolve(name)) ? files.get(path.resolve(name)).text : realReadFile(name);
  host.getSourceFile = (name, languageVersion, ...rest) => {
    const virtual = files.get(path.resolve(name));
    return virtual ? ts.createSourceFile(name, virtual.text, languageVersion, true)
                   : realGetSourceFile(name, languageVersion, ...rest);
  };
  const program = ts.createProgram([...files.keys()], options, host);
  return ts.getPreEmitDiagnostics(program).map((d) => {
    const message = ts.flattenDiagnosticMessageText(d.messageText, " ");
    const virtual = d.file && files.get(path.resolve(d.file.fileName));
    if (!virtual) return `typescript: ${message}`;
    const { line } = d.file.getLineAndCharacterOfPosition(d.start);
    const where = virtual.text.split("\n")[line].trim();
    return `${virtual.item.source}: ${message} (at ${where})`;
  });
}

function main() {
  let items;
  try {
    items = JSON.parse(require("fs").readFileSync(0, "utf8"));
    if (!Array.isArray(items)) throw new Error("expected a JSON array");
    for (const item of items) {
      if (!item || typeof item.source !== "string" || !item.object || typeof item.object !== "object") {
        throw new Error("each item needs a source and an object");
      }
    }
  } catch (e) {
    console.error(`validate-k8s: bad input: ${e.message}`);
    return 2;
  }
  const problems = items.flatMap(schemaProblems);
  if (problems.length === 0) problems.push(...typeProblems(items));
  for (const p of problems) console.log(p);
  if (problems.length === 0) {
    console.log(`validate-k8s: ${items.length} objects valid (kubernetes-models ` +
      `${require("kubernetes-models/package.json").version}, typescript ${ts.version})`);
  }
  return problems.length === 0 ? 0 : 1;
}

process.exitCode = main();
