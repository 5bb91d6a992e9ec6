#!/usr/bin/env node
// Mints a JWT with the `jose` npm package, for the API tests' interoperability checks (tokens
// made by a widely used JavaScript library must verify exactly like those made by PyJWT).
//
//   node tests/support/mint_jose.mjs --alg RS256|ES256 --claims '{"sub":"x",...}'
//        [--kid KID] [--key FILE]            # without --key (or with --key -) the key is read from stdin
//
// The key is a private key as PKCS#8 PEM ("-----BEGIN PRIVATE KEY-----") or a private JWK (JSON).
// The claims are signed as given (no iat/exp are added). Prints the compact JWS and a newline.
// Exit status: 0 ok, 2 usage error, 1 any other failure (message on stderr).
import { readFileSync } from 'node:fs';
import { SignJWT, importJWK, importPKCS8 } from 'jose';

const ALGS = new Set(['RS256', 'RS384', 'RS512', 'PS256', 'ES256', 'ES384', 'EdDSA']);

function usage(message) {
  process.stderr.write(`mint_jose: ${message}\n` +
    'usage: mint_jose.mjs --alg ALG --claims JSON [--kid KID] [--key FILE|-]\n');
  process.exit(2);
}

function parseArgs(argv) {
  const opts = { key: '-' };
  for (let i = 0; i < argv.length; i += 1) {
    const name = argv[i];
    if (!['--alg', '--claims', '--kid', '--key'].includes(name)) usage(`unknown argument ${name}`);
    if (i + 1 >= argv.length) usage(`${name} needs a value`);
    opts[name.slice(2)] = argv[i + 1];
    i += 1;
  }
  if (!opts.alg || !ALGS.has(opts.alg)) usage('--alg must be one of ' + [...ALGS].join(', '));
  if (opts.claims === undefined) usage('--claims is required');
  return opts;
}

async function main() {
  const opts = parseArgs(process.argv.slice(2));
  let claims;
  try {
    claims = JSON.parse(opts.claims);
  } catch (err) {
    usage(`--claims is not JSON: ${err.message}`);
  }
  if (claims === null || typeof claims !== 'object' || Array.isArray(claims)) {
    usage('--claims must be a JSON object');
  }
  const text = readFileSync(opts.key === '-' ? 0 : opts.key, 'utf8').trim();
  if (!text) usage('no key given');
  const key = text.startsWith('{')
    ? await importJWK(JSON.parse(text), opts.alg)
    : await importPKCS8(text, opts.alg);
  const header = { alg: opts.alg, typ: 'JWT' };
  if (opts.kid) header.kid = opts.kid;
  const token = await new SignJWT(claims).setProtectedHeader(header).sign(key);
  process.stdout.write(`${token}\n`);
}

main().catch((err) => {
  process.stderr.write(`mint_jose: ${err && err.message ? err.message : err}\n`);
  process.exit(1);
});
