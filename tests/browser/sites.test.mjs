// Apps on other sites, in a real browser: an app page that loads the official better-auth client
// (tests/compat's pinned package, served as ES modules with an import map, no bundler) signs in
// to servers the Rust test (tests/api/pages_browser.rs) started with the README's setups, and
// Chromium decides what its cookies do.
//
// Environment: APP_PORT (this file serves the app there), LAX_URL (a server on 127.0.0.1 with the
// default cookies), NONE_URL (a server with `session.cookie_same_site = none`, reached as
// http://localhost: Chromium treats localhost as a secure context, so it keeps the Secure cookies
// an https base URL gives), SUBDOMAIN_URL (http://auth.example.test:<port> with
// `session.cookie_domain = example.test`), CHROMIUM. The app origins are in each server's
// trusted origins.

import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { createServer } from "node:http";
import { mkdtemp, mkdir, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { fileURLToPath } from "node:url";
import puppeteer from "puppeteer-core";

const APP_PORT = Number(process.env.APP_PORT);
const MODULES = fileURLToPath(new URL("../compat/node_modules/", import.meta.url));

// The client's bare imports, resolved as a bundler would (the packages' "default"/"import" exports).
const IMPORTS = {
  "better-auth/client": "/node_modules/better-auth/dist/client/index.mjs",
  "@better-auth/core/utils/string": "/node_modules/@better-auth/core/dist/utils/string.mjs",
  "@better-auth/core/utils/url": "/node_modules/@better-auth/core/dist/utils/url.mjs",
  "@better-auth/core/env": "/node_modules/@better-auth/core/dist/env/index.mjs",
  "@better-auth/core/error": "/node_modules/@better-auth/core/dist/error/index.mjs",
  "@better-fetch/fetch": "/node_modules/@better-fetch/fetch/dist/index.js",
  "better-call/error": "/node_modules/better-call/dist/error.mjs",
  defu: "/node_modules/defu/dist/defu.mjs",
  nanostores: "/node_modules/nanostores/index.js",
};

const APP_PAGE = `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>App</title>
<script>globalThis.process = { env: {} }; // what a bundler substitutes for process.env</script>
<script type="importmap">${JSON.stringify({ imports: IMPORTS })}</script>
<script type="module">
  import { createAuthClient } from "better-auth/client";
  window.makeClient = (baseURL, token) => createAuthClient({
    baseURL,
    fetchOptions: token
      ? { auth: { type: "Bearer", token: () => token } }
      : { credentials: "include" },
  });
  window.ready = true;
</script></head><body>app</body></html>`;

let app;
let browser;
let profile;

before(async () => {
  app = createServer(async (request, response) => {
    const path = new URL(request.url, "http://app").pathname;
    if (path === "/") {
      response.writeHead(200, { "content-type": "text/html" }).end(APP_PAGE);
    } else if (path === "/cookies") {
      // What the app's own server receives: with a shared cookie domain, the session cookie.
      response
        .writeHead(200, { "content-type": "application/json" })
        .end(JSON.stringify({ cookie: request.headers.cookie ?? "" }));
    } else if (path.startsWith("/node_modules/") && !path.includes("..")) {
      try {
        const body = await readFile(MODULES + path.slice("/node_modules/".length));
        response.writeHead(200, { "content-type": "text/javascript" }).end(body);
      } catch {
        response.writeHead(404).end();
      }
    } else {
      response.writeHead(404).end();
    }
  });
  await new Promise((resolve) => app.listen(APP_PORT, "127.0.0.1", resolve));
  // A profile that allows third-party cookies (Chrome's setting for ordinary windows; this
  // headless Chromium blocks them by default). Pages that should block them say so over CDP.
  profile = await mkdtemp(`${tmpdir()}/portcullis-sites-`);
  await mkdir(`${profile}/Default`);
  await writeFile(
    `${profile}/Default/Preferences`,
    JSON.stringify({ profile: { cookie_controls_mode: 0 } }),
  );
  browser = await puppeteer.launch({
    userDataDir: profile,
    executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
    headless: true,
    args: [
      "--no-sandbox",
      "--disable-dev-shm-usage",
      "--disable-gpu",
      // app.example.test and auth.example.test: two subdomains of one site, both on loopback.
      "--host-resolver-rules=MAP *.example.test 127.0.0.1",
    ],
  });
});

after(async () => {
  await browser?.close();
  app?.close();
  if (profile) await rm(profile, { recursive: true, force: true });
});

const credentials = () => ({
  name: "Ada",
  email: `site-${randomBytes(6).toString("hex")}@example.com`,
  password: `Violet ${randomBytes(6).toString("hex")} lantern 42!`,
});

/// Opens the app at `appOrigin`, signs up and in with the official client against `server`
/// (cookies, or Bearer with the token from the sign-in's body when `bearer`), in a browser that
/// allows third-party cookies or not, and reports what the client then sees.
async function signInFromApp(appOrigin, server, { bearer = false, thirdPartyCookies = true } = {}) {
  const page = await browser.newPage();
  try {
    if (!thirdPartyCookies) {
      const cdp = await page.createCDPSession();
      await cdp.send("Network.enable");
      await cdp.send("Network.setCookieControls", {
        enableThirdPartyCookieRestriction: true,
        disableThirdPartyCookieMetadata: false,
        disableThirdPartyCookieHeuristics: true,
      });
    }
    const errors = [];
    page.on("pageerror", (error) => errors.push(String(error)));
    await page.goto(`${appOrigin}/`, { waitUntil: "load" });
    await page.waitForFunction(() => window.ready === true, { timeout: 10_000 });
    const result = await page.evaluate(
      async (server, user, bearer) => {
        const anonymous = window.makeClient(server);
        const signUp = await anonymous.signUp.email(user);
        const signIn = await anonymous.signIn.email({ email: user.email, password: user.password });
        const client = bearer ? window.makeClient(server, signIn.data?.token) : anonymous;
        const session = await client.getSession();
        const sessions = await client.listSessions();
        return {
          signedUp: !signUp.error,
          signedIn: !signIn.error && Boolean(signIn.data?.user),
          email: session.data?.user?.email ?? null,
          sessions: sessions.data?.length ?? 0,
        };
      },
      server,
      credentials(),
      bearer,
    );
    assert.deepEqual(errors, [], "no script error on the app page");
    const appServerSaw = await page.evaluate(async () => (await fetch("/cookies")).json());
    return { ...result, appServerSaw: appServerSaw.cookie };
  } finally {
    await page.close();
  }
}

test("different sites, default cookies: signs in, but Chromium drops the cookie", async () => {
  // The report: an app on localhost, Portcullis on 127.0.0.1.
  const result = await signInFromApp(`http://localhost:${APP_PORT}`, process.env.LAX_URL);
  assert.equal(result.signedUp, true);
  assert.equal(result.signedIn, true);
  assert.equal(result.email, null, "a SameSite=Lax cookie from another site is not kept");
});

test("different sites, token mode: the token from the body as a Bearer token works", async () => {
  const result = await signInFromApp(`http://localhost:${APP_PORT}`, process.env.LAX_URL, {
    bearer: true,
  });
  assert.equal(result.signedIn, true);
  assert.match(result.email, /^site-/);
  assert.ok(result.sessions >= 1);
});

test("different sites with session.cookie_same_site = none: the session sticks", async () => {
  const result = await signInFromApp(`http://127.0.0.1:${APP_PORT}`, process.env.NONE_URL);
  assert.equal(result.signedIn, true);
  assert.match(result.email, /^site-/, "getSession sees the cross-site session");
  assert.ok(result.sessions >= 1);
  assert.equal(result.appServerSaw, "", "the app's own server never sees the cookie");
});

test("different sites with SameSite=None: a browser that blocks third-party cookies drops it", async () => {
  // As Safari, Firefox's strict mode, private windows and users who turn them off do.
  const result = await signInFromApp(`http://127.0.0.1:${APP_PORT}`, process.env.NONE_URL, {
    thirdPartyCookies: false,
  });
  assert.equal(result.signedIn, true);
  assert.equal(result.email, null);
});

test("subdomains with session.cookie_domain: the session sticks and the app's server sees it", async () => {
  const result = await signInFromApp(`http://app.example.test:${APP_PORT}`, process.env.SUBDOMAIN_URL);
  assert.equal(result.signedIn, true);
  assert.match(result.email, /^site-/);
  assert.match(result.appServerSaw, /portcullis\.session_token=/);
});
