// A real OpenID Connect provider for the social sign-in tests: panva's `oidc-provider` on a free
// loopback port, plus GitHub-style routes for the plain OAuth 2 path. Started by
// tests/api/social.rs; prints one JSON line `{"issuer": ...}` when it listens.
//
// - Clients are registered by the test once it knows its server's callback URLs:
//   POST /test/clients {client_id, client_secret, redirect_uris}.
// - Who signs in is chosen by the `login_hint` (GitHub path: `login`): base64url JSON of the
//   account's claims `{sub, email, email_verified, name, picture}`, or `{"deny": true}` for a user
//   who refuses (the callback gets `error=access_denied`).
// - POST /test/mint {claims, forge?}: an ID token signed with the provider's key (or, with
//   `forge`, with another key under the same `kid`), for the native ID-token sign-in tests.
// - GitHub routes: GET /login/oauth/authorize (to /auth), POST /login/oauth/access_token (the
//   token endpoint, answered as JSON), GET /user and GET /user/emails (by access token).
// - GET /slow: answers nothing for a minute (the "provider is slow" case).
// - POST /test/nonce {mode}: makes the provider misbehave for the test that calls it: with
//   `"wrong"` the ID tokens it issues carry another nonce than the authorization request's, with
//   `"missing"` none at all; `"honest"` (the default) undoes it.
// - POST /test/account {claims}: the account that signs in when a request carries no
//   `login_hint` (a browser pressing a sign-in button sends none); `{}` makes it refuse again.
// - With PORTCULLIS_OIDC_TIMING=1 (the benchmark), every request it answers is printed to
//   stdout as one JSON line `{"timing": {method, path, ms}}`: the provider's own time, from the
//   request's arrival to its answer being handed over.
import http from 'node:http';
import Provider from 'oidc-provider';
import * as jose from 'jose';

const server = http.createServer();
await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
const { port } = server.address();
const issuer = `http://127.0.0.1:${port}`;

const { privateKey } = await jose.generateKeyPair('RS256', { extractable: true });
const signingJwk = { ...(await jose.exportJWK(privateKey)), kid: 'test-rs256', alg: 'RS256', use: 'sig' };
const { privateKey: forgeKey } = await jose.generateKeyPair('RS256', { extractable: true });

const accounts = new Map();

const provider = new Provider(issuer, {
  clients: [],
  jwks: { keys: [signingJwk] },
  cookies: { keys: ['portcullis-test-cookie-key'] },
  pkce: { required: () => true },
  conformIdTokenClaims: false,
  claims: {
    openid: ['sub'],
    email: ['email', 'email_verified'],
    profile: ['name', 'picture'],
  },
  features: { devInteractions: { enabled: false } },
  interactions: { url: (ctx, interaction) => `/interaction/${interaction.uid}` },
  async findAccount(ctx, sub) {
    const claims = accounts.get(sub);
    if (!claims) return undefined;
    return { accountId: sub, claims: async () => ({ ...claims, sub }) };
  },
});
// The nonce switch of POST /test/nonce: every ID token's `nonce` passes through `set`.
let nonceMode = 'honest';
const honestSet = provider.IdToken.prototype.set;
provider.IdToken.prototype.set = function set(key, value) {
  if (key === 'nonce' && nonceMode === 'wrong') return honestSet.call(this, key, `not-${value}`);
  if (key === 'nonce' && nonceMode === 'missing') return honestSet.call(this, key, undefined);
  return honestSet.call(this, key, value);
};
provider.on('server_error', (ctx, err) => console.error('provider server_error', err));

/// Who signs in without a `login_hint` (POST /test/account); nobody until a test says.
let defaultClaims = null;

function decodeHint(hint) {
  try {
    return JSON.parse(Buffer.from(hint, 'base64url').toString('utf8'));
  } catch {
    return null;
  }
}

async function readBody(req) {
  const chunks = [];
  for await (const chunk of req) chunks.push(chunk);
  return Buffer.concat(chunks).toString('utf8');
}

function json(res, status, body) {
  res.writeHead(status, { 'content-type': 'application/json' });
  res.end(JSON.stringify(body));
}

async function bearerAccount(req) {
  const auth = req.headers.authorization ?? '';
  const token = auth.startsWith('Bearer ') ? auth.slice(7) : '';
  const found = token ? await provider.AccessToken.find(token) : undefined;
  return found ? { sub: found.accountId, ...accounts.get(found.accountId) } : undefined;
}

const callback = provider.callback();

if (process.env.PORTCULLIS_OIDC_TIMING === '1') {
  server.prependListener('request', (req, res) => {
    const start = process.hrtime.bigint();
    const end = res.end;
    // Printed (synchronously: stdout is a file) before the answer leaves, so the line is there
    // by the time the client has the answer.
    res.end = function timedEnd(...args) {
      res.end = end;
      const ms = Number(process.hrtime.bigint() - start) / 1e6;
      const path = req.url.split('?')[0];
      console.log(JSON.stringify({ timing: { method: req.method, path, ms } }));
      return end.apply(this, args);
    };
  });
}

server.on('request', async (req, res) => {
  const url = new URL(req.url, issuer);
  try {
    if (req.method === 'POST' && url.pathname === '/test/clients') {
      const client = JSON.parse(await readBody(req));
      await provider.Client.adapter.upsert(client.client_id, {
        token_endpoint_auth_method: 'client_secret_post',
        grant_types: ['authorization_code', 'refresh_token'],
        response_types: ['code'],
        ...client,
      });
      return json(res, 200, { ok: true });
    }
    if (req.method === 'POST' && url.pathname === '/test/nonce') {
      const { mode } = JSON.parse(await readBody(req));
      if (!['honest', 'wrong', 'missing'].includes(mode)) return json(res, 400, { error: 'mode' });
      nonceMode = mode;
      return json(res, 200, { ok: true });
    }
    if (req.method === 'POST' && url.pathname === '/test/account') {
      const { claims } = JSON.parse(await readBody(req));
      defaultClaims = claims && claims.sub ? claims : null;
      return json(res, 200, { ok: true });
    }
    if (req.method === 'POST' && url.pathname === '/test/mint') {
      const { claims, forge } = JSON.parse(await readBody(req));
      const jwt = await new jose.SignJWT(claims)
        .setProtectedHeader({ alg: 'RS256', kid: 'test-rs256', typ: 'JWT' })
        .sign(forge ? forgeKey : privateKey);
      return json(res, 200, { id_token: jwt });
    }
    if (url.pathname.startsWith('/slow')) {
      setTimeout(() => json(res, 200, {}), 60_000).unref();
      return undefined;
    }
    if (req.method === 'GET' && url.pathname.startsWith('/interaction/')) {
      const details = await provider.interactionDetails(req, res);
      const hint = details.params.login_hint;
      const claims = hint ? decodeHint(hint) : defaultClaims;
      if (!claims || claims.deny) {
        return provider.interactionFinished(req, res, {
          error: 'access_denied',
          error_description: '<script>alert("provider text")</script>',
        }, { mergeWithLastSubmission: false });
      }
      const { sub, ...rest } = claims;
      accounts.set(sub, rest);
      const grant = new provider.Grant({ accountId: sub, clientId: details.params.client_id });
      grant.addOIDCScope(details.params.scope ?? 'openid');
      const grantId = await grant.save();
      return provider.interactionFinished(req, res, {
        login: { accountId: sub },
        consent: { grantId },
      }, { mergeWithLastSubmission: false });
    }
    // GitHub-style plain OAuth 2.
    if (req.method === 'GET' && url.pathname === '/login/oauth/authorize') {
      const params = new URLSearchParams(url.search);
      params.set('scope', 'openid');
      if (params.has('login')) {
        params.set('login_hint', params.get('login'));
        params.delete('login');
      }
      res.writeHead(302, { location: `/auth?${params}` });
      return res.end();
    }
    if (req.method === 'POST' && url.pathname === '/login/oauth/access_token') {
      const body = await readBody(req);
      const answer = await fetch(`${issuer}/token`, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body,
      });
      const tokens = await answer.json();
      if (!answer.ok) return json(res, 200, { error: tokens.error ?? 'bad_verification_code' });
      return json(res, 200, {
        access_token: tokens.access_token,
        token_type: 'bearer',
        scope: 'read:user,user:email',
      });
    }
    if (req.method === 'GET' && url.pathname === '/user') {
      const account = await bearerAccount(req);
      if (!account) return json(res, 401, { message: 'Bad credentials' });
      return json(res, 200, {
        id: account.github_id ?? account.sub,
        login: account.login,
        name: account.name,
        email: account.public_email ?? null,
        avatar_url: account.picture,
      });
    }
    if (req.method === 'GET' && url.pathname === '/user/emails') {
      const account = await bearerAccount(req);
      if (!account) return json(res, 401, { message: 'Bad credentials' });
      return json(res, 200, [
        { email: `other-${account.email}`, primary: false, verified: true, visibility: null },
        { email: account.email, primary: true, verified: !!account.email_verified, visibility: 'public' },
      ]);
    }
    return callback(req, res);
  } catch (error) {
    console.error(error);
    if (!res.headersSent) json(res, 500, { error: 'test_server_error' });
    return undefined;
  }
});

console.log(JSON.stringify({ issuer }));
