// Verifies one of our access tokens (RFC 9068) with an independent library, as a resource
// server written in another language would: keys fetched from our JWKS, algorithm pinned to
// ES256, `typ` at+jwt, our issuer and audience.
//
// Usage: node verify-token.mjs <jwks_url> <token> <issuer> <audience>
// Prints the verified payload as JSON and exits 0, or prints the error and exits 1.

import { createRemoteJWKSet, jwtVerify } from 'jose';

const [jwksUrl, token, issuer, audience] = process.argv.slice(2);
if (!jwksUrl || !token || !issuer || !audience) {
  console.error('usage: node verify-token.mjs <jwks_url> <token> <issuer> <audience>');
  process.exit(2);
}

try {
  const jwks = createRemoteJWKSet(new URL(jwksUrl));
  const { payload } = await jwtVerify(token, jwks, {
    issuer,
    audience,
    typ: 'at+jwt',
    algorithms: ['ES256'],
  });
  console.log(JSON.stringify(payload));
} catch (err) {
  console.error(`${err.code ?? err.name}: ${err.message}`);
  process.exit(1);
}
