// A local stand-in for the national eID (VNeID) OpenID Provider, built on the certified
// `oidc-provider` library. It serves discovery, JWKS, authorization (PKCE required), token and
// userinfo, with demo citizens at identity levels 1 and 2. Its login form is plain HTML that a
// test can complete with one form POST: `login=<citizen>` to /interaction/<uid>/login.
//
// Environment: EID_SIM_PORT (8090), EID_SIM_ISSUER (http://127.0.0.1:<port>),
// EID_SIM_CLIENT_ID / EID_SIM_CLIENT_SECRET (motcua's registration).

import http from 'node:http';
import { URL } from 'node:url';
import { generateKeyPairSync } from 'node:crypto';
import Provider, { errors } from 'oidc-provider';
import { citizens, subjectOf, loginOfSubject } from './citizens.js';

const port = Number(process.env.EID_SIM_PORT || 8090);
const issuer = process.env.EID_SIM_ISSUER || `http://127.0.0.1:${port}`;
const clientId = process.env.EID_SIM_CLIENT_ID || 'motcua';
const clientSecret = process.env.EID_SIM_CLIENT_SECRET || 'motcua-dev-secret-change-me';
const callbackPath = '/v1/auth/eid/callback';

// Fresh signing keys per start: relying parties must fetch them from the JWKS.
const es256 = generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey.export({ format: 'jwk' });
const rs256 = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey.export({ format: 'jwk' });

const configuration = {
  clients: [
    {
      client_id: clientId,
      client_secret: clientSecret,
      redirect_uris: [`http://127.0.0.1:8080${callbackPath}`],
      response_types: ['code'],
      grant_types: ['authorization_code'],
      token_endpoint_auth_method: 'client_secret_basic',
      id_token_signed_response_alg: 'ES256',
    },
  ],
  jwks: { keys: [{ ...es256, kid: `es-${Date.now()}`, use: 'sig', alg: 'ES256' }, { ...rs256, kid: `rs-${Date.now()}`, use: 'sig', alg: 'RS256' }] },
  pkce: { required: () => true },
  acrValues: ['1', '2'],
  scopes: ['openid', 'profile', 'phone', 'address', 'offline_access'],
  claims: {
    openid: ['sub'],
    profile: ['name', 'given_name', 'family_name', 'birthdate', 'gender', 'identification_number'],
    phone: ['phone_number', 'phone_number_verified'],
    address: ['address'],
    acr: null,
  },
  // VNeID puts the identity attributes in the ID token as well as in userinfo.
  conformIdTokenClaims: false,
  features: {
    devInteractions: { enabled: false },
    claimsParameter: { enabled: true },
    rpInitiatedLogout: { enabled: false },
  },
  ttl: { AccessToken: 600, AuthorizationCode: 60, IdToken: 600, Interaction: 600, Session: 3600, Grant: 3600 },
  interactions: { url: (ctx, interaction) => `/interaction/${interaction.uid}` },
  cookies: { keys: ['eid-sim-cookie-key-not-secret'] },
  async findAccount(ctx, sub) {
    const login = loginOfSubject(sub);
    const citizen = login && citizens[login];
    if (!citizen) return undefined;
    return {
      accountId: sub,
      async claims() {
        return { sub, ...citizen.claims };
      },
    };
  },
  // Citizens consent when they enrol with the eID app; the simulator grants what is asked.
  async loadExistingGrant(ctx) {
    const grant = new ctx.oidc.provider.Grant({ clientId: ctx.oidc.client.clientId, accountId: ctx.oidc.session.accountId });
    grant.addOIDCScope(ctx.oidc.requestParamScopes ? [...ctx.oidc.requestParamScopes].join(' ') : 'openid');
    grant.addOIDCClaims(['identification_number', 'acr']);
    await grant.save();
    return grant;
  },
  renderError(ctx, out) {
    ctx.type = 'html';
    ctx.body = `<!doctype html><title>eID error</title><h1>${escape(out.error)}</h1><p>${escape(out.error_description || '')}</p>`;
  },
};

const provider = new Provider(issuer, configuration);
provider.proxy = true;

// VNeID always states the identity level: ask the library to put `acr` in every ID token.
provider.use(async (ctx, next) => {
  if (ctx.path === '/auth' && ctx.method === 'GET' && !ctx.query.claims) {
    ctx.query = { ...ctx.query, claims: JSON.stringify({ id_token: { acr: null } }) };
  }
  await next();
});

// Any loopback port may host motcua's callback: tests start it on a random port.
const clientPrototype = Object.getPrototypeOf(await provider.Client.find(clientId));
const originalAllowed = clientPrototype.redirectUriAllowed;
clientPrototype.redirectUriAllowed = function redirectUriAllowed(value) {
  try {
    const url = new URL(value);
    if (url.protocol === 'http:' && ['127.0.0.1', 'localhost', '[::1]'].includes(url.hostname) && url.pathname === callbackPath && !url.search && !url.hash) {
      return true;
    }
  } catch {
    return false;
  }
  return originalAllowed.call(this, value);
};

function escape(text) {
  return String(text).replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]);
}

function loginPage(uid, params) {
  const wanted = params.acr_values ? `<p>Requested identity level: ${escape(params.acr_values)}</p>` : '';
  const options = Object.entries(citizens)
    .map(([login, c]) => `<option value="${login}">${escape(c.claims.name)} (level ${c.acr})</option>`)
    .join('');
  return `<!doctype html><html lang="vi"><meta charset="utf-8"><title>VNeID (simulator)</title>
<h1>Đăng nhập VNeID (simulator)</h1>${wanted}
<form method="post" action="/interaction/${uid}/login">
<label>Citizen <select name="login">${options}</select></label>
<button type="submit">Đăng nhập</button></form>
<form method="post" action="/interaction/${uid}/abort"><button type="submit">Huỷ</button></form></html>`;
}

async function readForm(req) {
  let body = '';
  for await (const chunk of req) {
    body += chunk;
    if (body.length > 10000) break;
  }
  return new URLSearchParams(body);
}

const callback = provider.callback();

const server = http.createServer(async (req, res) => {
  const url = new URL(req.url, issuer);
  const match = url.pathname.match(/^\/interaction\/([\w-]+)(?:\/(login|abort))?$/);
  if (!match) {
    callback(req, res);
    return;
  }
  try {
    const details = await provider.interactionDetails(req, res);
    if (details.uid !== match[1]) throw new errors.SessionNotFound('interaction mismatch');
    const action = match[2];
    if (!action && req.method === 'GET') {
      res.writeHead(200, { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store' });
      res.end(loginPage(details.uid, details.params));
      return;
    }
    if (req.method !== 'POST') {
      res.writeHead(405).end();
      return;
    }
    if (action === 'abort') {
      await provider.interactionFinished(req, res, { error: 'access_denied', error_description: 'The citizen cancelled the sign-in' }, { mergeWithLastSubmission: false });
      return;
    }
    const form = await readForm(req);
    const login = form.get('login');
    const citizen = citizens[login];
    if (!citizen) {
      res.writeHead(400, { 'content-type': 'text/html; charset=utf-8' });
      res.end(loginPage(details.uid, details.params).replace('<form', '<p>Unknown citizen</p><form'));
      return;
    }
    await provider.interactionFinished(req, res, {
      login: { accountId: subjectOf(login), acr: citizen.acr, amr: ['pwd'] },
    }, { mergeWithLastSubmission: false });
  } catch (err) {
    res.writeHead(400, { 'content-type': 'text/plain' });
    res.end(`interaction failed: ${err.message}`);
  }
});

server.listen(port, '127.0.0.1', () => {
  console.error(`eID simulator: ${issuer} (client ${clientId})`);
});

for (const signal of ['SIGINT', 'SIGTERM']) {
  process.on(signal, () => server.close(() => process.exit(0)));
}
