// Verifies a dossier receipt with an independent library, as a citizen's or an auditor's tool
// would from the QR code on paper: keys fetched from our JWKS, algorithm pinned to ES256, `typ`
// dossier-receipt+jwt, our issuer.
//
// Usage: node verify-receipt.mjs <jwks_url> <receipt> <issuer>
// Prints the verified payload as JSON and exits 0, or prints the error and exits 1.

import { createRemoteJWKSet, jwtVerify } from 'jose';

const [jwksUrl, receipt, issuer] = process.argv.slice(2);
if (!jwksUrl || !receipt || !issuer) {
  console.error('usage: node verify-receipt.mjs <jwks_url> <receipt> <issuer>');
  process.exit(2);
}

try {
  const jwks = createRemoteJWKSet(new URL(jwksUrl));
  const { payload } = await jwtVerify(receipt, jwks, {
    issuer,
    typ: 'dossier-receipt+jwt',
    algorithms: ['ES256'],
  });
  console.log(JSON.stringify(payload));
} catch (err) {
  console.error(`${err.code ?? err.name}: ${err.message}`);
  process.exit(1);
}
