// Drives better-auth's official organizationClient() against a running Portcullis server: create,
// check-slug, invite by mail, accept as the verified recipient, list members, change roles, ask
// permissions, the active organization, teams, roles, leave and delete.
//
//   PORTCULLIS_URL=http://127.0.0.1:8080 PORTCULLIS_MAILBOX_URL=... node --test organizations.test.mjs
//
// Sessions travel as Bearer tokens (compat.test.mjs covers cookies).
import { test } from "node:test";
import assert from "node:assert/strict";
import { randomBytes, randomUUID } from "node:crypto";
import { createAuthClient } from "better-auth/client";
import { organizationClient } from "better-auth/client/plugins";

const BASE_URL = (process.env.PORTCULLIS_URL ?? "").replace(/\/+$/, "");
const MAILBOX = process.env.PORTCULLIS_MAILBOX_URL;
if (!BASE_URL || !MAILBOX) {
  console.error("PORTCULLIS_URL and PORTCULLIS_MAILBOX_URL must be set");
  process.exit(2);
}

function bearerClient() {
  const holder = { token: null };
  const client = createAuthClient({
    baseURL: BASE_URL,
    plugins: [organizationClient()],
    fetchOptions: {
      onRequest(ctx) {
        if (holder.token) ctx.headers.set("authorization", `Bearer ${holder.token}`);
        return ctx;
      },
    },
  });
  return { client, holder };
}

function ok(result, what) {
  assert.equal(result.error, null, `${what} failed: ${JSON.stringify(result.error)}`);
  return result.data;
}

function refused(result, status, code, what) {
  assert.ok(result.error, `${what}: an error was expected, got ${JSON.stringify(result.data)}`);
  assert.equal(result.error.status, status, `${what}: status (${JSON.stringify(result.error)})`);
  assert.equal(result.error.code, code, `${what}: code`);
}

async function waitForMail(to, subjectPart) {
  const deadline = Date.now() + 20_000;
  while (Date.now() < deadline) {
    const mails = await (await fetch(MAILBOX)).json();
    const found = mails.filter((m) => m.to === to && m.subject.includes(subjectPart));
    if (found.length > 0) return found[found.length - 1];
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error(`no mail "${subjectPart}" to ${to}`);
}

async function signUp(name) {
  const { client, holder } = bearerClient();
  const email = `org-${randomUUID().slice(0, 12)}@example.com`;
  const data = ok(
    await client.signUp.email({ name, email, password: randomBytes(15).toString("base64url") }),
    `sign-up ${name}`,
  );
  holder.token = data.token;
  return { client, email, id: data.user.id };
}

async function verifyEmail(user) {
  ok(await user.client.sendVerificationEmail({ email: user.email }), "send-verification-email");
  const mail = await waitForMail(user.email, "Confirm your email");
  const token = new URL(mail.text.match(/https?:\/\/\S+verify-email\?\S+/)[0]).searchParams.get("token");
  ok(await user.client.verifyEmail({ query: { token } }), "verify-email");
}

test("organizationClient: the whole organization flow", async () => {
  const owner = await signUp("Olga Owner");
  const slug = `acme-${randomUUID().slice(0, 8)}`;

  const created = ok(await owner.client.organization.create({ name: "Acme", slug }), "create");
  assert.equal(created.slug, slug);
  assert.equal(created.members[0].role, "owner");
  assert.equal(created.members[0].userId, owner.id);
  refused(await owner.client.organization.checkSlug({ slug }), 400, "ORGANIZATION_SLUG_ALREADY_TAKEN", "check-slug");
  assert.equal(ok(await owner.client.organization.checkSlug({ slug: `${slug}-free` }), "check-slug free").status, true);
  refused(await owner.client.organization.create({ name: "Again", slug }), 400, "ORGANIZATION_ALREADY_EXISTS", "duplicate slug");

  const session = ok(await owner.client.getSession(), "get-session");
  assert.equal(session.session.activeOrganizationId, created.id, "the new organization is active");
  const full = ok(await owner.client.organization.getFullOrganization(), "get-full-organization");
  assert.equal(full.id, created.id);
  assert.equal(full.members[0].user.email, owner.email);
  assert.deepEqual(ok(await owner.client.organization.list(), "list").map((o) => o.id), [created.id]);
  const renamed = ok(await owner.client.organization.update({ data: { name: "Acme Inc" } }), "update");
  assert.equal(renamed.name, "Acme Inc");

  // Invite by mail; the recipient verifies their address, reads and accepts.
  const invitee = await signUp("Ivan Invitee");
  const invitation = ok(
    await owner.client.organization.inviteMember({ email: invitee.email, role: "admin" }),
    "invite-member",
  );
  assert.equal(invitation.status, "pending");
  const mail = await waitForMail(invitee.email, "Acme Inc");
  assert.ok(mail.text.includes(invitation.id), "the mail names the invitation");
  refused(
    await invitee.client.organization.acceptInvitation({ invitationId: invitation.id }),
    403,
    "EMAIL_VERIFICATION_REQUIRED_BEFORE_ACCEPTING_OR_REJECTING_INVITATION",
    "accept unverified",
  );
  await verifyEmail(invitee);
  const mine = ok(await invitee.client.organization.listUserInvitations(), "list-user-invitations");
  assert.equal(mine[0].id, invitation.id);
  assert.equal(mine[0].organizationName, "Acme Inc");
  const details = ok(await invitee.client.organization.getInvitation({ query: { id: invitation.id } }), "get-invitation");
  assert.equal(details.organizationSlug, slug);
  assert.equal(details.inviterEmail, owner.email);
  const accepted = ok(await invitee.client.organization.acceptInvitation({ invitationId: invitation.id }), "accept");
  assert.equal(accepted.member.role, "admin");
  assert.equal(
    ok(await invitee.client.getSession(), "invitee session").session.activeOrganizationId,
    created.id,
  );
  refused(
    await invitee.client.organization.acceptInvitation({ invitationId: invitation.id }),
    404,
    "INVITATION_NOT_FOUND",
    "accept twice",
  );

  // Members, roles and permissions.
  const page = ok(await owner.client.organization.listMembers({ query: { limit: 10, sortBy: "createdAt" } }), "list-members");
  assert.equal(page.total, 2);
  assert.equal(page.members.length, 2);
  const member = page.members.find((m) => m.userId === invitee.id);
  assert.equal(member.user.email, invitee.email);
  const active = ok(await invitee.client.organization.getActiveMember(), "get-active-member");
  assert.equal(active.id, member.id);
  let can = ok(await invitee.client.organization.hasPermission({ permissions: { invitation: ["create"] } }), "has-permission");
  assert.equal(can.success, true);
  ok(await owner.client.organization.updateMemberRole({ memberId: member.id, role: ["member"] }), "update-member-role");
  assert.equal(ok(await invitee.client.organization.getActiveMemberRole(), "get-active-member-role").role, "member");
  can = ok(await invitee.client.organization.hasPermission({ permissions: { invitation: ["create"] } }), "has-permission");
  assert.equal(can.success, false, "the role change applies on the next request");
  refused(
    await invitee.client.organization.inviteMember({ email: `x-${randomUUID()}@example.com`, role: "member" }),
    403,
    "YOU_ARE_NOT_ALLOWED_TO_INVITE_USERS_TO_THIS_ORGANIZATION",
    "member invites",
  );
  refused(
    await invitee.client.organization.removeMember({ memberIdOrEmail: owner.email }),
    403,
    "YOU_ARE_NOT_ALLOWED_TO_DELETE_THIS_MEMBER",
    "member removes the owner (better-auth: 401)",
  );

  // Cancelled and rejected invitations.
  const other = ok(
    await owner.client.organization.inviteMember({ email: `y-${randomUUID()}@example.com`, role: "member" }),
    "invite another",
  );
  assert.equal(ok(await owner.client.organization.listInvitations(), "list-invitations").length, 2);
  assert.equal(ok(await owner.client.organization.cancelInvitation({ invitationId: other.id }), "cancel").status, "canceled");

  // Teams and an organization's own role.
  const team = ok(await owner.client.organization.createTeam({ name: "Platform" }), "create-team");
  assert.deepEqual(ok(await owner.client.organization.listTeams(), "list-teams").map((t) => t.id), [team.id]);
  ok(await owner.client.organization.addTeamMember({ teamId: team.id, userId: invitee.id }), "add-team-member");
  const activeTeam = ok(await invitee.client.organization.setActiveTeam({ teamId: team.id }), "set-active-team");
  assert.equal(activeTeam.id, team.id);
  const role = ok(
    await owner.client.organization.createRole({ role: "auditor", permission: { ac: ["read"] } }),
    "create-role",
  );
  assert.equal(role.roleData.role, "auditor");

  // The active organization can be cleared; the last owner cannot leave; members can.
  assert.equal(ok(await invitee.client.organization.setActive({ organizationId: null }), "set-active null") ?? null, null);
  assert.equal(ok(await invitee.client.getSession(), "session").session.activeOrganizationId, null);
  refused(
    await owner.client.organization.leave({ organizationId: created.id }),
    400,
    "YOU_CANNOT_LEAVE_THE_ORGANIZATION_AS_THE_ONLY_OWNER",
    "the last owner leaves",
  );
  ok(await invitee.client.organization.leave({ organizationId: created.id }), "leave");
  assert.deepEqual(ok(await invitee.client.organization.list(), "list after leaving"), []);

  ok(await owner.client.organization.delete({ organizationId: created.id }), "delete");
  assert.deepEqual(ok(await owner.client.organization.list(), "list after delete"), []);
});
