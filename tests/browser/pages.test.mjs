// The hosted pages in a real browser: Debian's Chromium driven by puppeteer-core (both pinned in
// package-lock.json), against a server the Rust test (tests/api/pages_browser.rs) started.
//
// Environment: PORTCULLIS_URL (the server), PORTCULLIS_MAILBOX_URL (what the SMTP sink received,
// as JSON), PORTCULLIS_CLOCK_OFFSET_MS (how far the server's clock is from the wall clock: TOTP
// codes are computed for the server's time), PORTCULLIS_OIDC_ISSUER (the loopback OpenID Connect
// provider configured as `acme`), CHROMIUM (default /usr/bin/chromium), SCREENSHOTS (a directory: if set,
// each main page is saved there at 375 px and 1280 px wide).

import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { createHmac, randomBytes } from "node:crypto";
import { readFileSync, mkdirSync } from "node:fs";
import { createRequire } from "node:module";
import puppeteer from "puppeteer-core";

const BASE = process.env.PORTCULLIS_URL;
const MAILBOX = process.env.PORTCULLIS_MAILBOX_URL;
const CLOCK_OFFSET_MS = Number(process.env.PORTCULLIS_CLOCK_OFFSET_MS || 0);
/// The server's current 30-second TOTP step.
const serverStep = () => Math.floor((Date.now() + CLOCK_OFFSET_MS) / 30_000);
const SCREENSHOTS = process.env.SCREENSHOTS;
const ISSUER = process.env.PORTCULLIS_OIDC_ISSUER;
const AXE = readFileSync(createRequire(import.meta.url).resolve("axe-core/axe.min.js"), "utf8");

let browser;

before(async () => {
  browser = await puppeteer.launch({
    executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
    headless: true,
    args: ["--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu"],
  });
});

after(async () => {
  await browser?.close();
});

// ---- helpers --------------------------------------------------------------------------------

const email = () => `page-${randomBytes(6).toString("hex")}@example.com`;
const password = () => `Violet ${randomBytes(6).toString("hex")} lantern 42!`;

/// RFC 6238 (SHA-1, 6 digits) for a base32 secret at a 30-second step.
function totp(secret, step) {
  const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
  let bits = "";
  for (const c of secret.replace(/=+$/, "").toUpperCase()) {
    bits += alphabet.indexOf(c).toString(2).padStart(5, "0");
  }
  const key = Buffer.from(bits.match(/.{8}/g).map((b) => parseInt(b, 2)));
  const counter = Buffer.alloc(8);
  counter.writeBigUInt64BE(BigInt(step));
  const mac = createHmac("sha1", key).update(counter).digest();
  const offset = mac[19] & 0x0f;
  const binary = mac.readUInt32BE(offset) & 0x7fffffff;
  return String(binary % 1_000_000).padStart(6, "0");
}

/// A page that records CSP violations and script errors.
async function open(context, { javascript = true } = {}) {
  const page = await context.newPage();
  await page.setJavaScriptEnabled(javascript);
  page.problems = [];
  page.on("console", (message) => {
    if (/Content Security Policy|Refused to/i.test(message.text())) page.problems.push(message.text());
  });
  page.on("pageerror", (error) => page.problems.push(String(error)));
  if (javascript) {
    await page.evaluateOnNewDocument(() => {
      document.addEventListener("securitypolicyviolation", (e) => {
        console.error(`Refused to load: CSP violation of ${e.violatedDirective} by ${e.blockedURI}`);
      });
    });
  }
  return page;
}

async function go(page, path) {
  const response = await page.goto(new URL(path, BASE).href, { waitUntil: "load" });
  return response;
}

/// Fills a form's fields by label, as a user would, and submits it.
async function fill(page, fields) {
  for (const [label, value] of Object.entries(fields)) {
    const id = await page.$$eval("label", (labels, text) => {
      const found = labels.find((l) => l.textContent.trim() === text);
      return found?.htmlFor;
    }, label);
    assert.ok(id, `a label "${label}" on ${page.url()}`);
    await page.$eval(`#${id}`, (input) => {
      input.value = "";
    });
    await page.type(`#${id}`, value);
  }
}

async function submit(page, buttonText) {
  const buttons = await page.$$("button[type=submit]");
  for (const button of buttons) {
    const text = await button.evaluate((b) => b.textContent.trim());
    if (text === buttonText) {
      await Promise.all([page.waitForNavigation({ waitUntil: "load" }), button.click()]);
      return;
    }
  }
  assert.fail(`no button "${buttonText}" on ${page.url()}`);
}

const path = (page) => new URL(page.url()).pathname;

/// axe-core on the page (run through the DevTools protocol, which the page's CSP does not
/// govern): no serious or critical violation; plus the basics checked directly.
async function accessible(page) {
  await page.evaluate(AXE);
  const result = await page.evaluate(async () => {
    const { violations } = await window.axe.run(document, { resultTypes: ["violations"] });
    return violations.map((v) => ({ id: v.id, impact: v.impact, nodes: v.nodes.map((n) => n.html) }));
  });
  const bad = result.filter((v) => v.impact === "serious" || v.impact === "critical");
  assert.deepEqual(bad, [], `axe on ${page.url()}`);
  const basics = await page.evaluate(() => ({
    lang: document.documentElement.lang,
    title: document.title,
    unlabeled: [...document.querySelectorAll("input:not([type=hidden]), select, textarea")]
      .filter((i) => !i.hidden && !(i.labels && i.labels.length) && !i.getAttribute("aria-label"))
      .map((i) => i.outerHTML),
    h1: document.querySelectorAll("h1").length,
  }));
  assert.equal(basics.lang, "en");
  assert.ok(basics.title.length > 0);
  assert.deepEqual(basics.unlabeled, [], `inputs without labels on ${page.url()}`);
  assert.equal(basics.h1, 1);
}

async function screenshot(page, name) {
  if (!SCREENSHOTS) return;
  mkdirSync(SCREENSHOTS, { recursive: true });
  for (const width of [375, 1280]) {
    await page.setViewport({ width, height: 800 });
    await page.screenshot({ path: `${SCREENSHOTS}/${name}-${width}.png`, fullPage: true });
  }
  await page.setViewport({ width: 1280, height: 800 });
}

async function mails(to) {
  for (let i = 0; i < 100; i++) {
    const all = await (await fetch(MAILBOX)).json();
    const mine = all.filter((m) => m.to === to);
    if (mine.length) return mine;
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`no mail for ${to}`);
}

/// The first mail to `to` whose text matches `pattern` (waiting for it).
async function mailMatching(to, pattern) {
  for (let i = 0; i < 100; i++) {
    const found = (await (await fetch(MAILBOX)).json()).find((m) => m.to === to && pattern.test(m.text));
    if (found) return found;
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`no mail for ${to} matching ${pattern}`);
}

async function signUp(page, name, address, secret) {
  await go(page, "/sign-up");
  await fill(page, { Name: name, Email: address, Password: secret });
  await submit(page, "Create account");
  assert.equal(path(page), "/account");
}

async function signIn(page, address, secret) {
  await go(page, "/sign-in");
  await fill(page, { Email: address, Password: secret });
  await submit(page, "Sign in");
}

async function signOut(page) {
  await go(page, "/sign-out");
  await submit(page, "Sign out");
  assert.equal(path(page), "/sign-in");
}

// ---- the flows ------------------------------------------------------------------------------

test("sign-up, sign-in, two-factor enrolment, sign-out, sign-in with a TOTP code", async () => {
  const context = await browser.createBrowserContext();
  const page = await open(context);
  const address = email();
  const secret = password();

  await go(page, "/sign-up");
  await accessible(page);
  await screenshot(page, "sign-up");
  const hint = await page.$eval("#password-hint", (p) => p.textContent);
  assert.match(hint, /8 to 128 characters/);
  // A refused form keeps what was typed, except the password, and says why next to the field.
  await fill(page, { Name: "Ada", Email: address, Password: "password" });
  await submit(page, "Create account");
  assert.equal(await page.$eval("#email", (i) => i.value), address);
  assert.equal(await page.$eval("#password", (i) => i.value), "");
  const error = await page.$eval("#password-error", (p) => p.textContent);
  assert.match(error, /Password/);
  await accessible(page);

  await fill(page, { Password: secret });
  await submit(page, "Create account");
  assert.equal(path(page), "/account");
  await accessible(page);
  await screenshot(page, "account");

  await go(page, "/account/security");
  await fill(page, { Password: secret });
  await submit(page, "Set up two-factor");
  await accessible(page);
  const key = await page.$eval("#totp-secret", (c) => c.textContent.trim());
  assert.equal(await page.$$eval("#backup-codes li", (l) => l.length), 10);
  assert.ok(await page.$(".qr svg"), "the QR code is shown");
  // Each code works once, and only later steps after it: enrol with the previous step's code,
  // sign in with the current one (a later step than the first, however long this takes).
  await fill(page, { "Code from the app": totp(key, serverStep() - 1) });
  await submit(page, "Turn on two-factor");
  assert.match(await page.$eval("main", (m) => m.textContent), /is\s+on/);

  await signOut(page);
  await signIn(page, address, secret);
  assert.equal(path(page), "/two-factor");
  await accessible(page);
  await screenshot(page, "two-factor");
  await fill(page, { Code: totp(key, serverStep()) });
  await submit(page, "Verify");
  assert.equal(path(page), "/account");
  assert.deepEqual(page.problems, []);
  await context.close();
});

test("keyboard only: sign in without a pointer, focus always visible", async () => {
  const context = await browser.createBrowserContext();
  const page = await open(context);
  const address = email();
  const secret = password();
  await signUp(page, "Keys", address, secret);
  await signOut(page);
  await go(page, "/sign-in");
  await accessible(page);
  await screenshot(page, "sign-in");
  // Tab from the top: skip link, then the email field.
  const focused = async () =>
    page.evaluate(() => {
      const el = document.activeElement;
      const style = getComputedStyle(el);
      return { id: el.id, tag: el.tagName, outline: style.outlineStyle, width: style.outlineWidth };
    });
  await page.keyboard.press("Tab");
  const skip = await focused();
  assert.equal(skip.tag, "A");
  assert.notEqual(skip.outline, "none", "focus is visible");
  await page.keyboard.press("Tab");
  assert.equal((await focused()).id, "email");
  await page.keyboard.type(address);
  await page.keyboard.press("Tab");
  assert.equal((await focused()).id, "password");
  await page.keyboard.type(secret);
  await Promise.all([page.waitForNavigation(), page.keyboard.press("Enter")]);
  assert.equal(path(page), "/account");
  assert.deepEqual(page.problems, []);
  await context.close();
});

test("password reset by the mailed link", async () => {
  const context = await browser.createBrowserContext();
  const page = await open(context);
  const address = email();
  await signUp(page, "Reset", address, password());
  await signOut(page);

  await go(page, "/forgot-password");
  await accessible(page);
  await fill(page, { Email: address });
  await submit(page, "Send the link");
  assert.match(await page.$eval("h1", (h) => h.textContent), /Check your email/);
  const [mail] = (await mails(address)).filter((m) => /reset/i.test(m.subject));
  const link = mail.text.match(/https?:\/\/\S+reset-password\/\S+/)[0];
  await page.goto(link, { waitUntil: "load" });
  assert.equal(path(page), "/reset-password");
  await accessible(page);
  const fresh = password();
  await fill(page, { "New password": fresh });
  await submit(page, "Change password");
  assert.match(await page.$eval("h1", (h) => h.textContent), /Password changed/);
  await signIn(page, address, fresh);
  assert.equal(path(page), "/account");
  assert.deepEqual(page.problems, []);
  await context.close();
});

test("the sessions page signs another browser out", async () => {
  const laptop = await browser.createBrowserContext();
  const phone = await browser.createBrowserContext();
  const first = await open(laptop);
  const second = await open(phone);
  const address = email();
  const secret = password();
  await signUp(first, "Two", address, secret);
  await signIn(second, address, secret);
  assert.equal(path(second), "/account");

  await go(first, "/account/sessions");
  await accessible(first);
  await screenshot(first, "sessions");
  assert.equal(await first.$$eval(".sessions > li", (l) => l.length), 2);
  assert.equal(await first.$$eval("[aria-current=true]", (l) => l.length), 1);
  await submit(first, "Sign out");
  assert.equal(path(first), "/account/sessions");
  assert.equal(await first.$$eval(".sessions > li", (l) => l.length), 1);

  await go(second, "/account");
  assert.equal(path(second), "/sign-in", "the other browser lost its session");
  assert.deepEqual([...first.problems, ...second.problems], []);
  await laptop.close();
  await phone.close();
});

test("every page works with JavaScript off", async () => {
  const context = await browser.createBrowserContext();
  const page = await open(context, { javascript: false });
  const address = email();
  const secret = password();
  await signUp(page, "NoScript", address, secret);
  await go(page, "/account");
  await fill(page, { Name: "No Script" });
  await submit(page, "Save profile");
  assert.equal(await page.$eval("#name", (i) => i.value), "No Script");
  await go(page, "/account/sessions");
  await go(page, "/account/security");
  await go(page, "/account/organizations");
  await fill(page, {
    "Organization name": "No Script Inc",
    "Short name for links": `noscript-${randomBytes(4).toString("hex")}`,
  });
  await submit(page, "Create organization");
  assert.match(await page.$eval("main", (m) => m.textContent), /Members of No Script Inc/);
  await signOut(page);
  await signIn(page, address, secret);
  assert.equal(path(page), "/account");
  for (const p of ["/forgot-password", "/sign-up", "/error?error=INVALID_TOKEN"]) {
    const response = await go(page, p);
    assert.ok(response.status() < 500, p);
  }
  await context.close();
});

test("the pages cannot be framed by another site", async () => {
  const context = await browser.createBrowserContext();
  const page = await open(context);
  await page.setContent(`<iframe src="${BASE}/sign-in"></iframe>`);
  await new Promise((r) => setTimeout(r, 500));
  const frame = page.frames().find((f) => f.url().includes("/sign-in"));
  const framed = frame ? await frame.$("form").catch(() => null) : null;
  assert.equal(framed, null, "the sign-in form does not render in a frame");
  await context.close();
});

test("sign-up shows the password policy's reasons before submit", async () => {
  const context = await browser.createBrowserContext();
  const page = await open(context);
  await go(page, "/sign-up");
  await fill(page, { Name: "Ada", Email: email(), Password: "password" });
  await page.waitForFunction(
    () => document.querySelector("#password-verdict").dataset.verdict === "PASSWORD_TOO_WEAK",
  );
  const reason = await page.$eval("#password-verdict", (p) => p.textContent);
  assert.match(reason, /Password too weak: .+/);
  const described = await page.$eval("#password", (i) => i.getAttribute("aria-describedby"));
  assert.match(described, /password-verdict/, "the reason is read with the field");
  await accessible(page);
  await fill(page, { Password: password() });
  await page.waitForFunction(
    () => document.querySelector("#password-verdict").dataset.verdict === "ok",
  );
  assert.match(await page.$eval("#password-verdict", (p) => p.textContent), /meets the rules/);
  assert.equal(path(page), "/sign-up", "nothing was submitted");
  assert.deepEqual(page.problems, []);
  await context.close();
});

test("social sign-in with the provider's button keeps return_to", async () => {
  const context = await browser.createBrowserContext();
  const page = await open(context);
  const address = email();
  const account = { sub: `sub-${address}`, email: address, email_verified: true, name: "Grace Hopper" };
  const told = await fetch(`${ISSUER}/test/account`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ claims: account }),
  });
  assert.ok(told.ok);
  await go(page, "/sign-in?return_to=/account/sessions");
  await accessible(page);
  await submit(page, "Acme");
  assert.equal(path(page), "/account/sessions");
  await go(page, "/account");
  assert.equal(await page.$eval("#name", (i) => i.value), "Grace Hopper");
  assert.deepEqual(page.problems, [], "no CSP violation on the way to the provider and back");
  await context.close();
});

test("an organization invitation accepted from the mail link", async () => {
  const owners = await browser.createBrowserContext();
  const invitees = await browser.createBrowserContext();
  const owner = await open(owners);
  const invitee = await open(invitees);
  const suffix = randomBytes(4).toString("hex");
  await signUp(owner, "Olive", email(), password());
  await go(owner, "/account/organizations");
  await accessible(owner);
  await fill(owner, { "Organization name": "Acme", "Short name for links": `acme-${suffix}` });
  await submit(owner, "Create organization");
  assert.equal(path(owner), "/account/organizations");
  const address = email();
  await fill(owner, { "Email of the person to invite": address });
  await submit(owner, "Send invitation");
  assert.match(await owner.$eval("main", (m) => m.textContent), new RegExp(address));
  await accessible(owner);

  const invitation = await mailMatching(address, /\/invitations\//);
  const link = invitation.text.match(/https?:\/\/\S+\/invitations\/\S+/)[0];
  await invitee.goto(link, { waitUntil: "load" });
  await accessible(invitee);
  await Promise.all([invitee.waitForNavigation(), invitee.click("a[href*='/sign-up']")]);
  await fill(invitee, { Name: "Ivy", Email: address, Password: password() });
  await submit(invitee, "Create account");
  assert.equal(invitee.url(), link, "back to the invitation after signing up");
  await accessible(invitee);
  await submit(invitee, "Send the confirmation link");
  const confirmation = await mailMatching(address, /verify-email\S+invitations/);
  const verify = confirmation.text.match(/https?:\/\/\S+verify-email\S+/)[0];
  await invitee.goto(verify, { waitUntil: "load" });
  assert.equal(invitee.url(), link, "the confirmation link comes back to the invitation");
  assert.match(await invitee.$eval("h1", (h) => h.textContent), /Join Acme/);
  await accessible(invitee);
  await screenshot(invitee, "invitation");
  await submit(invitee, "Accept invitation");
  assert.equal(path(invitee), "/account/organizations");
  assert.match(await invitee.$eval("main", (m) => m.textContent), /Members of Acme/);

  await go(owner, "/account/organizations");
  assert.match(await owner.$eval(".members", (m) => m.textContent), /Ivy/);
  await accessible(owner);
  await screenshot(owner, "organizations");
  assert.deepEqual([...owner.problems, ...invitee.problems], []);
  await owners.close();
  await invitees.close();
});
