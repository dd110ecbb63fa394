// Social sign-in through the official better-auth client: `signIn.social`, `linkSocial`,
// `listAccounts` and `unlinkAccount`, against a Portcullis server configured with the test
// OpenID Connect provider (tests/oidc-provider) as provider `acme`.
//
//   PORTCULLIS_URL=http://127.0.0.1:8080 OIDC_ISSUER=http://127.0.0.1:9000 node --test social.test.mjs
//
// The browser part (the provider's redirects and its sign-in) is played with fetch; the client
// is used exactly as an app would use it.
import { test } from "node:test";
import assert from "node:assert/strict";
import { randomBytes, randomUUID } from "node:crypto";
import { createAuthClient } from "better-auth/client";

const BASE_URL = (process.env.PORTCULLIS_URL ?? "").replace(/\/+$/, "");
const ISSUER = (process.env.OIDC_ISSUER ?? "").replace(/\/+$/, "");
if (!BASE_URL || !ISSUER) {
  console.error("PORTCULLIS_URL and OIDC_ISSUER must be set");
  process.exit(2);
}
const ORIGIN = new URL(BASE_URL).origin;

/** Cookies by origin, as a browser keeps them for the two servers. */
class Jar {
  constructor() {
    this.cookies = new Map();
  }

  store(response) {
    for (const line of response.headers.getSetCookie()) {
      const [pair, ...attrs] = line.split(";");
      const eq = pair.indexOf("=");
      const name = pair.slice(0, eq).trim();
      const value = pair.slice(eq + 1).trim();
      if (!value || attrs.some((a) => /^\s*max-age=0\s*$/i.test(a))) this.cookies.delete(name);
      else this.cookies.set(name, value);
    }
  }

  header() {
    return [...this.cookies].map(([n, v]) => `${n}=${v}`).join("; ");
  }

  session() {
    for (const [name, value] of this.cookies) if (name.endsWith(".session_token")) return value;
    return undefined;
  }
}

function makeClient() {
  const jar = new Jar();
  const client = createAuthClient({
    baseURL: BASE_URL,
    fetchOptions: {
      onRequest(ctx) {
        ctx.headers.set("origin", ORIGIN);
        const cookie = jar.header();
        if (cookie) ctx.headers.set("cookie", cookie);
        return ctx;
      },
      onResponse(ctx) {
        jar.store(ctx.response);
      },
    },
  });
  return { client, jar };
}

function hint(claims) {
  return Buffer.from(JSON.stringify(claims)).toString("base64url");
}

/** The browser at the provider: follows its redirects until it sends us back to Portcullis. */
async function throughProvider(url) {
  const providerJar = new Jar();
  let next = url;
  for (let i = 0; i < 10; i += 1) {
    if (next.startsWith(BASE_URL)) return next;
    const response = await fetch(next, {
      redirect: "manual",
      headers: { cookie: providerJar.header() },
    });
    providerJar.store(response);
    assert.ok(response.status >= 300 && response.status < 400, `provider answered ${response.status}`);
    next = new URL(response.headers.get("location"), next).toString();
  }
  throw new Error("too many redirects at the provider");
}

/** The browser back at Portcullis: opens the callback with the app's cookies. */
async function openCallback(jar, url) {
  const response = await fetch(url, { redirect: "manual", headers: { cookie: jar.header() } });
  jar.store(response);
  assert.equal(response.status, 302);
  return response.headers.get("location");
}

const tag = randomUUID().slice(0, 12);

test("signIn.social: redirect, provider, callback, session", async () => {
  const { client, jar } = makeClient();
  const email = `social-${tag}@example.com`;
  const result = await client.signIn.social({
    provider: "acme",
    callbackURL: "/dashboard",
    newUserCallbackURL: "/welcome",
    loginHint: hint({ sub: `s-${tag}`, email, email_verified: true, name: "Social Compat" }),
    disableRedirect: true,
  });
  assert.equal(result.error, null, JSON.stringify(result.error));
  assert.equal(result.data.redirect, false);
  assert.ok(result.data.url.startsWith(`${ISSUER}/auth?`), result.data.url);
  assert.ok(result.data.url.includes("code_challenge_method=S256"));
  const callback = await throughProvider(result.data.url);
  assert.equal(await openCallback(jar, callback), "/welcome");
  assert.ok(jar.session(), "a session cookie");
  const session = await client.getSession();
  assert.equal(session.error, null);
  assert.equal(session.data.user.email, email);
  assert.equal(session.data.user.emailVerified, true);
  const accounts = await client.listAccounts();
  assert.equal(accounts.error, null);
  assert.deepEqual(accounts.data.map((a) => a.providerId), ["acme"]);
  // The only way in cannot be unlinked.
  const unlink = await client.unlinkAccount({ accountId: accounts.data[0].id });
  assert.equal(unlink.error.status, 400);
  assert.equal(unlink.error.code, "FAILED_TO_UNLINK_LAST_ACCOUNT");
});

test("signIn.social: an unknown provider and a foreign callbackURL are refused", async () => {
  const { client } = makeClient();
  const unknown = await client.signIn.social({ provider: "nobody", disableRedirect: true });
  assert.equal(unknown.error.status, 404);
  assert.equal(unknown.error.code, "PROVIDER_NOT_FOUND");
  const foreign = await client.signIn.social({
    provider: "acme",
    callbackURL: "https://evil.example/",
    disableRedirect: true,
  });
  assert.equal(foreign.error.status, 403);
  assert.equal(foreign.error.code, "INVALID_CALLBACK_URL");
});

test("linkSocial adds the provider to a password account; unlinkAccount removes it", async () => {
  const { client, jar } = makeClient();
  const email = `link-${tag}@example.com`;
  const password = randomBytes(15).toString("base64url");
  const signUp = await client.signUp.email({ name: "Link Compat", email, password });
  assert.equal(signUp.error, null, JSON.stringify(signUp.error));
  const link = await client.linkSocial({
    provider: "acme",
    callbackURL: "/settings",
    loginHint: hint({ sub: `l-${tag}`, email, email_verified: true, name: "Link Compat" }),
    disableRedirect: true,
  });
  assert.equal(link.error, null, JSON.stringify(link.error));
  const callback = await throughProvider(link.data.url);
  assert.equal(await openCallback(jar, callback), "/settings");
  const accounts = await client.listAccounts();
  assert.equal(accounts.error, null);
  const providers = accounts.data.map((a) => a.providerId).sort();
  assert.deepEqual(providers, ["acme", "credential"]);
  const acme = accounts.data.find((a) => a.providerId === "acme");
  assert.equal(acme.accountId, `l-${tag}`);
  for (const account of accounts.data) {
    assert.equal(account.accessToken, undefined, "never tokens");
    assert.equal(account.refreshToken, undefined, "never tokens");
  }
  const unlink = await client.unlinkAccount({ accountId: acme.id });
  assert.equal(unlink.error, null, JSON.stringify(unlink.error));
  const after = await client.listAccounts();
  assert.deepEqual(after.data.map((a) => a.providerId), ["credential"]);
});
