// Drives better-auth's official `adminClient()` against a running Portcullis server: every admin
// endpoint, the way a dashboard would call it. The Rust side (tests/api/admin.rs) makes the
// administrator and passes its credentials.
//
//   PORTCULLIS_URL=… ADMIN_EMAIL=… ADMIN_PASSWORD=… node --test tests/compat/admin.test.mjs
import { test } from "node:test";
import assert from "node:assert/strict";
import { randomBytes, randomUUID } from "node:crypto";
import { createAuthClient } from "better-auth/client";
import { adminClient } from "better-auth/client/plugins";

const BASE_URL = (process.env.PORTCULLIS_URL ?? "").replace(/\/+$/, "");
const ADMIN_EMAIL = process.env.ADMIN_EMAIL;
const ADMIN_PASSWORD = process.env.ADMIN_PASSWORD;
if (!BASE_URL || !ADMIN_EMAIL || !ADMIN_PASSWORD) {
  console.error("PORTCULLIS_URL, ADMIN_EMAIL and ADMIN_PASSWORD must be set");
  process.exit(2);
}
const ORIGIN = new URL(BASE_URL).origin;

/** Node's fetch keeps no cookies: a small jar that honours deletions. */
class CookieJar {
  constructor() {
    this.cookies = new Map();
  }
  store(response) {
    for (const line of response.headers.getSetCookie()) {
      const [pair, ...rest] = line.split(";");
      const eq = pair.indexOf("=");
      if (eq <= 0) continue;
      const name = pair.slice(0, eq).trim();
      const value = pair.slice(eq + 1).trim();
      const expired = rest.some((p) => /^\s*max-age\s*=\s*0\s*$/i.test(p));
      if (expired) this.cookies.delete(name);
      else this.cookies.set(name, value);
    }
  }
  header() {
    return [...this.cookies].map(([n, v]) => `${n}=${v}`).join("; ");
  }
}

function makeClient() {
  const jar = new CookieJar();
  const client = createAuthClient({
    baseURL: BASE_URL,
    plugins: [adminClient()],
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

function ok(result, what) {
  assert.equal(result.error, null, `${what} failed: ${JSON.stringify(result.error)}`);
  assert.ok(result.data, `${what}: data expected`);
  return result.data;
}

function refused(result, status, code, what) {
  assert.equal(result.data, null, `${what}: data should be null`);
  assert.ok(result.error, `${what}: an error was expected`);
  assert.equal(result.error.status, status, `${what}: status (${JSON.stringify(result.error)})`);
  assert.equal(result.error.code, code, `${what}: code`);
}

const { client: admin } = makeClient();
const tag = randomUUID().slice(0, 8);
const userEmail = `admin-compat-${tag}@example.com`;
const userPassword = randomBytes(15).toString("base64url");
let adminId;
let userId;

test("the administrator signs in", async () => {
  const data = ok(await admin.signIn.email({ email: ADMIN_EMAIL, password: ADMIN_PASSWORD }), "sign-in");
  assert.equal(data.user.role, "admin");
  adminId = data.user.id;
});

test("createUser, getUser, listUsers, updateUser", async () => {
  const created = ok(
    await admin.admin.createUser({ email: userEmail, password: userPassword, name: "Compat User", role: "user" }),
    "createUser",
  );
  userId = created.user.id;
  assert.equal(created.user.role, "user");
  assert.equal(created.user.banned, false);

  const got = ok(await admin.admin.getUser({ query: { id: userId } }), "getUser");
  assert.equal(got.email, userEmail);

  const list = ok(
    await admin.admin.listUsers({ query: { searchValue: tag, limit: 10, sortBy: "email", sortDirection: "asc" } }),
    "listUsers",
  );
  assert.equal(list.total, 1);
  assert.equal(list.users[0].id, userId);
  assert.equal(list.limit, 10);

  const updated = ok(await admin.admin.updateUser({ userId, data: { name: "Renamed" } }), "updateUser");
  assert.equal(updated.name, "Renamed");

  refused(await admin.admin.listUsers({ query: { sortBy: "password" } }), 400, "VALIDATION_ERROR", "unknown sortBy");
  refused(await admin.admin.setRole({ userId, role: "emperor" }), 400, "YOU_ARE_NOT_ALLOWED_TO_SET_NON_EXISTENT_VALUE", "unknown role");
});

test("setRole and hasPermission", async () => {
  const set = ok(await admin.admin.setRole({ userId, role: ["user"] }), "setRole");
  assert.equal(set.user.role, "user");
  const yes = ok(await admin.admin.hasPermission({ permissions: { user: ["ban"] } }), "hasPermission");
  assert.equal(yes.success, true);
  const no = ok(await admin.admin.hasPermission({ permissions: { user: ["impersonate-admins"] } }), "hasPermission");
  assert.equal(no.success, false);
  // The client-side check uses the same statements.
  assert.equal(admin.admin.checkRolePermission({ role: "admin", permissions: { user: ["ban"] } }), true);
});

test("listUserSessions gives ids that revokeUserSession accepts; no secret leaves", async () => {
  const { client: user } = makeClient();
  const signedIn = ok(await user.signIn.email({ email: userEmail, password: userPassword }), "user sign-in");
  const { sessions } = ok(await admin.admin.listUserSessions({ userId }), "listUserSessions");
  assert.equal(sessions.length, 1);
  assert.equal(sessions[0].token, sessions[0].id);
  assert.notEqual(sessions[0].token, signedIn.token);
  ok(await admin.admin.revokeUserSession({ sessionToken: sessions[0].token }), "revokeUserSession");
  assert.equal((await user.getSession()).data, null);
  ok(await admin.admin.revokeUserSessions({ userId }), "revokeUserSessions");
});

test("banUser refuses sign-in with BANNED_USER; unbanUser lets it back", async () => {
  const banned = ok(await admin.admin.banUser({ userId, banReason: "compat", banExpiresIn: 3600 }), "banUser");
  assert.equal(banned.user.banned, true);
  assert.equal(banned.user.banReason, "compat");
  const { client: user } = makeClient();
  refused(await user.signIn.email({ email: userEmail, password: userPassword }), 403, "BANNED_USER", "banned sign-in");
  refused(await admin.admin.banUser({ userId: adminId }), 400, "YOU_CANNOT_BAN_YOURSELF", "self-ban");
  const unbanned = ok(await admin.admin.unbanUser({ userId }), "unbanUser");
  assert.equal(unbanned.user.banned, false);
  ok(await user.signIn.email({ email: userEmail, password: userPassword }), "sign-in after unban");
});

test("setUserPassword", async () => {
  const fresh = randomBytes(15).toString("base64url");
  const set = ok(await admin.admin.setUserPassword({ userId, newPassword: fresh }), "setUserPassword");
  assert.equal(set.status, true);
  const { client: user } = makeClient();
  ok(await user.signIn.email({ email: userEmail, password: fresh }), "sign-in with the new password");
});

test("impersonateUser and stopImpersonating", async () => {
  refused(await admin.admin.impersonateUser({ userId }), 400, "IMPERSONATION_REASON_REQUIRED", "no reason");
  const started = ok(await admin.admin.impersonateUser({ userId, reason: "compat ticket" }), "impersonateUser");
  assert.equal(started.user.id, userId);
  assert.equal(started.session.impersonatedBy, adminId);
  const during = ok(await admin.getSession(), "getSession while impersonating");
  assert.equal(during.user.id, userId);
  assert.equal(during.session.impersonatedBy, adminId);
  refused(await admin.admin.listUsers({ query: {} }), 403, "IMPERSONATED_SESSION_RESTRICTED", "admin API while impersonating");
  const stopped = ok(await admin.admin.stopImpersonating(), "stopImpersonating");
  assert.equal(stopped.user.id, adminId);
  const after = ok(await admin.getSession(), "getSession after");
  assert.equal(after.user.id, adminId);
});

test("removeUser", async () => {
  refused(await admin.admin.removeUser({ userId: adminId }), 400, "YOU_CANNOT_REMOVE_YOURSELF", "self-removal");
  const removed = ok(await admin.admin.removeUser({ userId }), "removeUser");
  assert.equal(removed.success, true);
  refused(await admin.admin.getUser({ query: { id: userId } }), 404, "USER_NOT_FOUND", "removed user");
});
