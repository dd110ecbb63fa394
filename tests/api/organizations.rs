//! Organizations: members and roles, permissions, invitations through a real SMTP server, teams,
//! roles defined per organization, isolation between organizations, and the active organization
//! in sessions and access tokens.

use std::time::Duration;

use serde_json::{json, Value};

use crate::both_backends;
use crate::helpers::{random_email, Auth, Backend, Reply, TestApp};
use crate::smtp_sink::SmtpSink;
use crate::tokens::claims;

both_backends!(
    organizations_are_created_updated_listed_and_deleted,
    bad_organization_inputs_are_refused_with_their_codes,
    the_active_organization_is_per_session_and_in_access_tokens,
    invitations_travel_by_mail_and_only_their_recipient_can_use_them,
    invitations_expire_are_single_use_and_resend_replaces_them,
    two_concurrent_accepts_make_one_member,
    every_endpoint_checks_the_callers_permission,
    team_role_and_invitation_endpoints_check_the_callers_permission,
    ids_of_another_organization_find_nothing,
    the_last_owner_stays_and_only_owners_handle_owners,
    admins_change_other_admins_only_with_manage_admins,
    organization_events_name_their_organization_in_the_audit_trail,
    expired_invitations_are_swept_in_batches,
    a_role_change_applies_on_the_next_request_and_token,
    member_pages_sort_filter_and_count_a_thousand_members,
    a_members_page_reads_as_the_members_of_the_full_organization,
    a_kept_members_page_follows_every_change_on_every_server,
    the_member_total_follows_every_way_in_and_out,
    teams_and_organization_roles,
    remember_active_picks_the_last_organization_at_sign_in,
    deleting_a_user_or_an_organization_removes_memberships,
    the_official_organization_client_drives_the_whole_flow,
);

/// A test server whose sessions are never answered from memory (tests change users directly).
async fn spawn(backend: Backend, extra: &[(&str, &str)]) -> TestApp {
    let mut settings = vec![("session.cache_ttl", "0s")];
    settings.extend_from_slice(extra);
    TestApp::spawn_with(backend, &settings).await
}

struct User {
    email: String,
    password: String,
    token: String,
    id: String,
}

async fn user(app: &TestApp) -> User {
    let (email, password, token) = app.new_user().await;
    let id = app.get("/get-session", Auth::Bearer(&token)).await.body["user"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    User {
        email,
        password,
        token,
        id,
    }
}

/// A user whose email is verified (as if they had opened the link).
async fn verified_user(app: &TestApp) -> User {
    let user = user(app).await;
    verify(app, &user.email).await;
    user
}

async fn verify(app: &TestApp, email: &str) {
    let mut db = app.db().await;
    sqlx::query("UPDATE users SET email_verified = 1 WHERE email = $1")
        .bind(email)
        .execute(&mut db)
        .await
        .unwrap();
}

async fn post(app: &TestApp, user: &User, path: &str, body: Value) -> Reply {
    app.post(
        &format!("/organization/{path}"),
        Auth::Bearer(&user.token),
        body,
    )
    .await
}

async fn get(app: &TestApp, user: &User, path_and_query: &str) -> Reply {
    app.get(
        &format!("/organization/{path_and_query}"),
        Auth::Bearer(&user.token),
    )
    .await
}

#[track_caller]
fn ok(reply: &Reply) -> &Value {
    assert_eq!(reply.status, 200, "{}", reply.body);
    &reply.body
}

/// Creates an organization owned by `owner` (it becomes their active one); answers its id.
async fn organization(app: &TestApp, owner: &User, slug: &str) -> String {
    let reply = post(
        app,
        owner,
        "create",
        json!({"name": format!("Org {slug}"), "slug": slug}),
    )
    .await;
    ok(&reply)["id"].as_str().unwrap().to_owned()
}

/// Adds `user` to the organization with `role` through an invitation they accept.
async fn join(app: &TestApp, owner: &User, user: &User, org: &str, role: Value) -> String {
    verify(app, &user.email).await;
    let invitation = post(
        app,
        owner,
        "invite-member",
        json!({"email": user.email, "role": role, "organizationId": org}),
    )
    .await;
    let id = ok(&invitation)["id"].as_str().unwrap().to_owned();
    let accepted = post(app, user, "accept-invitation", json!({"invitationId": id})).await;
    ok(&accepted)["member"]["id"].as_str().unwrap().to_owned()
}

async fn active_organization(app: &TestApp, token: &str) -> Value {
    app.get("/get-session", Auth::Bearer(token)).await.body["session"]["activeOrganizationId"]
        .clone()
}

async fn access_claims(app: &TestApp, user: &User) -> Value {
    let reply = app.get("/token", Auth::Bearer(&user.token)).await;
    claims(ok(&reply)["token"].as_str().unwrap())
}

async fn organizations_are_created_updated_listed_and_deleted(backend: Backend) {
    let app = spawn(backend, &[]).await;
    let owner = user(&app).await;

    let created = post(
        &app,
        &owner,
        "create",
        json!({"name": "Acme", "slug": "acme", "logo": "https://acme.example/logo.png", "metadata": {"plan": "pro"}}),
    )
    .await;
    let body = ok(&created);
    let org = body["id"].as_str().unwrap().to_owned();
    assert_eq!(body["slug"], "acme");
    assert_eq!(body["metadata"]["plan"], "pro");
    assert_eq!(body["members"][0]["role"], "owner");
    assert_eq!(body["members"][0]["userId"], owner.id.as_str());
    assert_eq!(active_organization(&app, &owner.token).await, org.as_str());

    post(&app, &owner, "check-slug", json!({"slug": "acme"}))
        .await
        .assert_error(400, "ORGANIZATION_SLUG_ALREADY_TAKEN");
    assert_eq!(
        ok(&post(&app, &owner, "check-slug", json!({"slug": "free-slug"})).await)["status"],
        true
    );
    post(
        &app,
        &owner,
        "create",
        json!({"name": "Again", "slug": "acme"}),
    )
    .await
    .assert_error(400, "ORGANIZATION_ALREADY_EXISTS");
    let other = organization(&app, &owner, "other").await;

    let updated = post(
        &app,
        &owner,
        "update",
        json!({"organizationId": org, "data": {"name": "Acme Inc", "slug": "acme-inc", "logo": null}}),
    )
    .await;
    assert_eq!(ok(&updated)["name"], "Acme Inc");
    assert_eq!(updated.body["slug"], "acme-inc");
    assert_eq!(updated.body["logo"], Value::Null);
    assert_eq!(
        updated.body["metadata"]["plan"], "pro",
        "untouched fields stay"
    );
    post(
        &app,
        &owner,
        "update",
        json!({"organizationId": org, "data": {"slug": "other"}}),
    )
    .await
    .assert_error(400, "ORGANIZATION_SLUG_ALREADY_TAKEN");

    let listed = get(&app, &owner, "list").await;
    assert_eq!(ok(&listed).as_array().unwrap().len(), 2);

    let full = get(
        &app,
        &owner,
        "get-full-organization?organizationSlug=acme-inc",
    )
    .await;
    assert_eq!(ok(&full)["id"], org.as_str());
    assert_eq!(
        full.body["members"][0]["user"]["email"],
        owner.email.as_str()
    );
    assert_eq!(full.body["invitations"], json!([]));
    assert_eq!(full.body["teams"], json!([]));

    // `other` is active (the last created); deleting it clears the session's active organization.
    assert_eq!(
        active_organization(&app, &owner.token).await,
        other.as_str()
    );
    let deleted = post(&app, &owner, "delete", json!({"organizationId": other})).await;
    assert_eq!(ok(&deleted)["id"], other.as_str());
    assert_eq!(active_organization(&app, &owner.token).await, Value::Null);
    assert_eq!(
        ok(&get(&app, &owner, "list").await)
            .as_array()
            .unwrap()
            .len(),
        1
    );
    let full = get(&app, &owner, "get-full-organization").await;
    assert_eq!(ok(&full), &Value::Null, "no active organization: null");
    assert_eq!(app.count("organization_members").await, 1);
    for (kind, n) in [
        ("organization_created", 2),
        ("organization_updated", 1),
        ("organization_deleted", 1),
    ] {
        let query = format!(
            "audit_events WHERE kind = '{kind}' AND user_id = '{}'",
            owner.id
        );
        assert_eq!(app.count(&query).await, n, "{kind}");
    }
}

async fn bad_organization_inputs_are_refused_with_their_codes(backend: Backend) {
    let app = spawn(backend, &[]).await;
    let owner = user(&app).await;
    for (body, status, code) in [
        (json!({"name": "", "slug": "x"}), 400, "INVALID_NAME"),
        (
            json!({"name": "A\r\nBcc: x", "slug": "x"}),
            400,
            "INVALID_NAME",
        ),
        (
            json!({"name": "A", "slug": "has space"}),
            400,
            "VALIDATION_ERROR",
        ),
        (json!({"name": "A", "slug": ""}), 400, "VALIDATION_ERROR"),
        (
            json!({"name": "A", "slug": "x", "logo": "javascript:alert(1)"}),
            400,
            "INVALID_IMAGE",
        ),
        (
            json!({"name": "A", "slug": "x", "metadata": [1]}),
            400,
            "VALIDATION_ERROR",
        ),
        (json!({"name": "A"}), 400, "VALIDATION_ERROR"),
        (json!({"name": 5, "slug": "x"}), 400, "VALIDATION_ERROR"),
    ] {
        post(&app, &owner, "create", body.clone())
            .await
            .assert_error(status, code);
    }
    app.post(
        "/organization/create",
        Auth::None,
        json!({"name": "A", "slug": "x"}),
    )
    .await
    .assert_error(401, "UNAUTHORIZED");
    app.get("/organization/list", Auth::None)
        .await
        .assert_error(401, "UNAUTHORIZED");
    // A cookie-authenticated write from a foreign origin is refused (CSRF).
    let foreign = app
        .http
        .post(app.api("/organization/create"))
        .header(
            "cookie",
            format!("{}={}", crate::helpers::cookie_name(&app), owner.token),
        )
        .header("origin", "https://evil.example")
        .json(&json!({"name": "A", "slug": "x"}))
        .send()
        .await
        .unwrap();
    assert_eq!(foreign.status(), 403);

    let org = organization(&app, &owner, "acme").await;
    for (path, body, code) in [
        (
            "update-member-role",
            json!({"memberId": "x", "role": []}),
            "VALIDATION_ERROR",
        ),
        (
            "update-member-role",
            json!({"memberId": "x", "role": "no,such"}),
            "ROLE_NOT_FOUND",
        ),
        (
            "invite-member",
            json!({"email": "not-an-email", "role": "member"}),
            "INVALID_EMAIL",
        ),
        (
            "invite-member",
            json!({"email": random_email(), "role": "ghost"}),
            "ROLE_NOT_FOUND",
        ),
        (
            "invite-member",
            json!({"email": random_email(), "role": "member", "teamId": "nope"}),
            "TEAM_NOT_FOUND",
        ),
        ("has-permission", json!({}), "VALIDATION_ERROR"),
        (
            "has-permission",
            json!({"permissions": {"member": "create"}}),
            "VALIDATION_ERROR",
        ),
        (
            "remove-member",
            json!({"memberIdOrEmail": "nobody@example.com"}),
            "MEMBER_NOT_FOUND",
        ),
        (
            "create-role",
            json!({"role": "x", "permission": {"billing": ["read"]}}),
            "INVALID_RESOURCE",
        ),
        (
            "create-role",
            json!({"role": "owner", "permission": {"ac": ["read"]}}),
            "ROLE_NAME_IS_ALREADY_TAKEN",
        ),
        (
            "create-role",
            json!({"role": "a b", "permission": {"ac": ["read"]}}),
            "VALIDATION_ERROR",
        ),
        (
            "delete-role",
            json!({"roleName": "admin"}),
            "CANNOT_DELETE_A_PRE_DEFINED_ROLE",
        ),
        ("delete-role", json!({}), "VALIDATION_ERROR"),
        ("create-team", json!({"name": ""}), "INVALID_NAME"),
        (
            "accept-invitation",
            json!({"invitationId": "unknown"}),
            "INVITATION_NOT_FOUND",
        ),
        ("check-slug", json!({"slug": ""}), "VALIDATION_ERROR"),
    ] {
        // What names nothing the caller can see is 404; a malformed request 400.
        let status = if code.ends_with("_NOT_FOUND") {
            404
        } else {
            400
        };
        post(&app, &owner, path, body.clone())
            .await
            .assert_error(status, code);
    }
    for query in [
        "list-members?limit=0",
        "list-members?limit=1001",
        "list-members?offset=-1",
        "list-members?limit=ten",
        "list-members?sortBy=password_hash",
        "list-members?sortDirection=sideways",
        "list-members?filterField=role",
        "list-members?filterField=role&filterValue=x&filterOperator=like",
        "list-user-invitations?email=someone@example.com",
        "get-full-organization?membersLimit=0",
        "get-full-organization?membersLimit=1001",
    ] {
        get(&app, &owner, query)
            .await
            .assert_error(400, "VALIDATION_ERROR");
    }
    // Without an active organization, operations that default to it say so.
    post(&app, &owner, "set-active", json!({"organizationId": null})).await;
    get(&app, &owner, "list-members")
        .await
        .assert_error(400, "NO_ACTIVE_ORGANIZATION");
    post(
        &app,
        &owner,
        "invite-member",
        json!({"email": random_email(), "role": "member"}),
    )
    .await
    .assert_error(400, "NO_ACTIVE_ORGANIZATION");
    get(&app, &owner, "get-active-member")
        .await
        .assert_error(400, "NO_ACTIVE_ORGANIZATION");
    post(
        &app,
        &owner,
        "set-active",
        json!({"organizationSlug": "nope"}),
    )
    .await
    .assert_error(404, "ORGANIZATION_NOT_FOUND");
    assert_eq!(
        ok(&post(&app, &owner, "set-active", json!({"organizationId": org})).await)["id"],
        org.as_str()
    );
}

async fn the_active_organization_is_per_session_and_in_access_tokens(backend: Backend) {
    let app = spawn(backend, &[]).await;
    let owner = user(&app).await;
    let second_session = app.sign_in_token(&owner.email, &owner.password).await;
    let acme = organization(&app, &owner, "acme").await;
    let globex = post(
        &app,
        &owner,
        "create",
        json!({"name": "Globex", "slug": "globex", "keepCurrentActiveOrganization": true}),
    )
    .await;
    let globex = ok(&globex)["id"].as_str().unwrap().to_owned();
    assert_eq!(active_organization(&app, &owner.token).await, acme.as_str());
    assert_eq!(
        active_organization(&app, &second_session).await,
        Value::Null
    );

    // Each session has its own; a cookie session too.
    let reply = app
        .post(
            "/organization/set-active",
            Auth::Cookie(&second_session),
            json!({"organizationSlug": "globex"}),
        )
        .await;
    assert_eq!(ok(&reply)["id"], globex.as_str());
    assert_eq!(
        active_organization(&app, &second_session).await,
        globex.as_str()
    );
    assert_eq!(active_organization(&app, &owner.token).await, acme.as_str());
    let session = app.get("/get-session", Auth::Cookie(&second_session)).await;
    assert_eq!(session.body["session"]["activeTeamId"], Value::Null);

    // Access tokens carry the active organization, and follow set-active.
    let claims = access_claims(&app, &owner).await;
    assert_eq!(claims["org_id"], acme.as_str());
    assert_eq!(claims["org_slug"], "acme");
    assert_eq!(claims["org_role"], "owner");
    assert!(claims.get("team_id").is_none());
    let grant = crate::tokens::password_grant(&app, &owner.email, &owner.password).await;
    let refresh_token = ok(&grant)["refresh_token"].as_str().unwrap().to_owned();
    assert!(
        claims_of(&grant).get("org_id").is_none(),
        "a new session starts without one"
    );
    let access = grant.body["access_token"].as_str().unwrap().to_owned();
    let reply = app
        .post(
            "/organization/set-active",
            Auth::Bearer(&access),
            json!({"organizationId": globex}),
        )
        .await;
    ok(&reply);
    let refreshed = crate::tokens::refresh(&app, &refresh_token).await;
    assert_eq!(claims_of(&refreshed)["org_id"], globex.as_str());
    assert_eq!(claims_of(&refreshed)["org_slug"], "globex");

    post(&app, &owner, "set-active", json!({"organizationId": null})).await;
    assert_eq!(active_organization(&app, &owner.token).await, Value::Null);
    assert!(access_claims(&app, &owner).await.get("org_id").is_none());
    // Nothing named and nothing active: null.
    assert_eq!(
        ok(&post(&app, &owner, "set-active", json!({})).await),
        &Value::Null
    );
}

fn claims_of(reply: &Reply) -> Value {
    assert_eq!(reply.status, 200, "{}", reply.body);
    claims(reply.body["access_token"].as_str().unwrap())
}

async fn invitations_travel_by_mail_and_only_their_recipient_can_use_them(backend: Backend) {
    let sink = SmtpSink::start().await;
    let smtp = sink.url();
    let app = spawn(
        backend,
        &[
            ("smtp_url", smtp.as_str()),
            ("mail.product_name", "Acme Auth"),
            (
                "organization.invitation_url",
                "https://app.example.com/invite/{id}",
            ),
        ],
    )
    .await;
    let owner = user(&app).await;
    let org = organization(&app, &owner, "acme").await;
    let invitee = user(&app).await;
    let stranger = verified_user(&app).await;

    let invited = post(
        &app,
        &owner,
        "invite-member",
        json!({"email": invitee.email.to_uppercase(), "role": ["admin", "member"]}),
    )
    .await;
    let invitation = ok(&invited).clone();
    let id = invitation["id"].as_str().unwrap().to_owned();
    assert!(id.len() >= 22, "at least 128 random bits: {id}");
    assert_eq!(invitation["email"], invitee.email.as_str());
    assert_eq!(invitation["role"], "admin,member");
    assert_eq!(invitation["status"], "pending");
    assert_eq!(invitation["organizationId"], org.as_str());

    let mail = sink.wait_for(&invitee.email, 1).await.remove(0);
    assert!(mail.subject.contains("Org acme"), "{}", mail.subject);
    assert!(
        mail.text
            .contains(&format!("https://app.example.com/invite/{id}")),
        "{}",
        mail.text
    );

    // Not verified yet: refused, and so is everyone else.
    post(
        &app,
        &invitee,
        "accept-invitation",
        json!({"invitationId": id}),
    )
    .await
    .assert_error(
        403,
        "EMAIL_VERIFICATION_REQUIRED_BEFORE_ACCEPTING_OR_REJECTING_INVITATION",
    );
    get(&app, &invitee, &format!("get-invitation?id={id}"))
        .await
        .assert_error(403, "EMAIL_VERIFICATION_REQUIRED_FOR_INVITATION");
    get(&app, &invitee, "list-user-invitations")
        .await
        .assert_error(403, "EMAIL_VERIFICATION_REQUIRED_FOR_INVITATION");
    for path in ["accept-invitation", "reject-invitation"] {
        post(&app, &stranger, path, json!({"invitationId": id}))
            .await
            .assert_error(403, "YOU_ARE_NOT_THE_RECIPIENT_OF_THE_INVITATION");
    }
    get(&app, &stranger, &format!("get-invitation?id={id}"))
        .await
        .assert_error(403, "YOU_ARE_NOT_THE_RECIPIENT_OF_THE_INVITATION");

    verify(&app, &invitee.email).await;
    let details = get(&app, &invitee, &format!("get-invitation?id={id}")).await;
    assert_eq!(ok(&details)["organizationSlug"], "acme");
    assert_eq!(details.body["inviterEmail"], owner.email.as_str());
    let mine = get(&app, &invitee, "list-user-invitations").await;
    assert_eq!(ok(&mine)[0]["organizationName"], "Org acme");
    let listed = get(&app, &owner, "list-invitations").await;
    assert_eq!(ok(&listed)[0]["id"], id.as_str());

    let accepted = post(
        &app,
        &invitee,
        "accept-invitation",
        json!({"invitationId": id}),
    )
    .await;
    assert_eq!(ok(&accepted)["invitation"]["status"], "accepted");
    assert_eq!(accepted.body["member"]["role"], "admin,member");
    assert_eq!(accepted.body["member"]["userId"], invitee.id.as_str());
    assert_eq!(
        active_organization(&app, &invitee.token).await,
        org.as_str()
    );
    let role = get(&app, &invitee, "get-active-member-role").await;
    assert_eq!(ok(&role)["role"], "admin,member");
    let role = get(
        &app,
        &owner,
        &format!("get-active-member-role?userId={}", invitee.id),
    )
    .await;
    assert_eq!(ok(&role)["role"], "admin,member");

    post(
        &app,
        &invitee,
        "accept-invitation",
        json!({"invitationId": id}),
    )
    .await
    .assert_error(404, "INVITATION_NOT_FOUND");
    post(
        &app,
        &owner,
        "invite-member",
        json!({"email": invitee.email, "role": "member"}),
    )
    .await
    .assert_error(400, "USER_IS_ALREADY_A_MEMBER_OF_THIS_ORGANIZATION");
    assert_eq!(app.count("organization_members").await, 2);

    // Reject and cancel.
    let other = user(&app).await;
    verify(&app, &other.email).await;
    let first = post(
        &app,
        &owner,
        "invite-member",
        json!({"email": other.email, "role": "member"}),
    )
    .await;
    let first = ok(&first)["id"].as_str().unwrap().to_owned();
    let rejected = post(
        &app,
        &other,
        "reject-invitation",
        json!({"invitationId": first}),
    )
    .await;
    assert_eq!(ok(&rejected)["invitation"]["status"], "rejected");
    assert_eq!(rejected.body["member"], Value::Null);
    let second = post(
        &app,
        &owner,
        "invite-member",
        json!({"email": other.email, "role": "member"}),
    )
    .await;
    let second = ok(&second)["id"].as_str().unwrap().to_owned();
    let canceled = post(
        &app,
        &owner,
        "cancel-invitation",
        json!({"invitationId": second}),
    )
    .await;
    assert_eq!(ok(&canceled)["status"], "canceled");
    post(
        &app,
        &other,
        "accept-invitation",
        json!({"invitationId": second}),
    )
    .await
    .assert_error(404, "INVITATION_NOT_FOUND");
    assert_eq!(
        ok(&get(&app, &other, "list-user-invitations").await),
        &json!([])
    );
    assert_eq!(app.count("organization_members").await, 2);
    for kind in [
        "invitation_sent",
        "invitation_accepted",
        "member_added",
        "invitation_rejected",
        "invitation_canceled",
    ] {
        assert!(
            app.count(&format!("audit_events WHERE kind = '{kind}'"))
                .await
                >= 1,
            "{kind}"
        );
    }
}

async fn invitations_expire_are_single_use_and_resend_replaces_them(backend: Backend) {
    let app = spawn(backend, &[("organization.invitation_limit", "2")]).await;
    let owner = user(&app).await;
    organization(&app, &owner, "acme").await;
    let invitee = verified_user(&app).await;

    let first = post(
        &app,
        &owner,
        "invite-member",
        json!({"email": invitee.email, "role": "member"}),
    )
    .await;
    let first = ok(&first)["id"].as_str().unwrap().to_owned();
    post(
        &app,
        &owner,
        "invite-member",
        json!({"email": invitee.email, "role": "member"}),
    )
    .await
    .assert_error(400, "USER_IS_ALREADY_INVITED_TO_THIS_ORGANIZATION");
    let resent = post(
        &app,
        &owner,
        "invite-member",
        json!({"email": invitee.email, "role": "member", "resend": true}),
    )
    .await;
    let resent = ok(&resent)["id"].as_str().unwrap().to_owned();
    assert_ne!(resent, first, "resend replaces the invitation");
    post(
        &app,
        &invitee,
        "accept-invitation",
        json!({"invitationId": first}),
    )
    .await
    .assert_error(404, "INVITATION_NOT_FOUND");

    // The limit counts pending invitations.
    post(
        &app,
        &owner,
        "invite-member",
        json!({"email": random_email(), "role": "member"}),
    )
    .await;
    post(
        &app,
        &owner,
        "invite-member",
        json!({"email": random_email(), "role": "member"}),
    )
    .await
    .assert_error(403, "INVITATION_LIMIT_REACHED");

    // 48 hours by default.
    app.clock.advance(Duration::from_secs(47 * 3600));
    ok(&get(&app, &invitee, &format!("get-invitation?id={resent}")).await);
    app.clock.advance(Duration::from_secs(3600 + 1));
    post(
        &app,
        &invitee,
        "accept-invitation",
        json!({"invitationId": resent}),
    )
    .await
    .assert_error(404, "INVITATION_NOT_FOUND");
    get(&app, &invitee, &format!("get-invitation?id={resent}"))
        .await
        .assert_error(404, "INVITATION_NOT_FOUND");
    // Expired invitations no longer count against the limit.
    ok(&post(
        &app,
        &owner,
        "invite-member",
        json!({"email": random_email(), "role": "member"}),
    )
    .await);
}

async fn two_concurrent_accepts_make_one_member(backend: Backend) {
    let app = spawn(backend, &[]).await;
    let owner = user(&app).await;
    organization(&app, &owner, "acme").await;
    let invitee = verified_user(&app).await;
    let other_session = app.sign_in_token(&invitee.email, &invitee.password).await;
    let invited = post(
        &app,
        &owner,
        "invite-member",
        json!({"email": invitee.email, "role": "member"}),
    )
    .await;
    let id = ok(&invited)["id"].as_str().unwrap().to_owned();
    let body = json!({"invitationId": id});
    let (a, b) = tokio::join!(
        app.post(
            "/organization/accept-invitation",
            Auth::Bearer(&invitee.token),
            body.clone()
        ),
        app.post(
            "/organization/accept-invitation",
            Auth::Bearer(&other_session),
            body.clone()
        ),
    );
    let statuses = [a.status, b.status];
    assert_eq!(
        statuses.iter().filter(|s| **s == 200).count(),
        1,
        "{} / {}",
        a.body,
        b.body
    );
    assert!(statuses.contains(&404), "{} / {}", a.body, b.body);
    assert_eq!(
        app.count(&format!(
            "organization_members WHERE user_id = '{}'",
            invitee.id
        ))
        .await,
        1
    );
}

/// (owner, admin, member, deployer (a configured role), outsider) and the organization.
struct Cast {
    owner: User,
    admin: User,
    member: User,
    deployer: User,
    outsider: User,
    org: String,
    member_id: String,
}

async fn cast(app: &TestApp) -> Cast {
    let owner = user(app).await;
    let org = organization(app, &owner, "acme").await;
    let admin = user(app).await;
    let member = user(app).await;
    let deployer = user(app).await;
    let outsider = user(app).await;
    join(app, &owner, &admin, &org, json!("admin")).await;
    let member_id = join(app, &owner, &member, &org, json!("member")).await;
    join(app, &owner, &deployer, &org, json!("deployer")).await;
    // The outsider has an organization of their own.
    organization(app, &outsider, "outside").await;
    Cast {
        owner,
        admin,
        member,
        deployer,
        outsider,
        org,
        member_id,
    }
}

const CUSTOM_ROLES: [(&str, &str); 2] = [
    (
        "organization.statements",
        r#"{"project": ["create", "deploy"]}"#,
    ),
    (
        "organization.roles",
        r#"{"deployer": {"project": ["deploy"], "ac": ["read"]}}"#,
    ),
];

async fn every_endpoint_checks_the_callers_permission(backend: Backend) {
    let app = spawn(backend, &CUSTOM_ROLES).await;
    let c = cast(&app).await;
    let org = c.org.as_str();
    let who = [
        ("owner", &c.owner),
        ("admin", &c.admin),
        ("member", &c.member),
        ("deployer", &c.deployer),
        ("outsider", &c.outsider),
    ];

    // Reads every member may do; outsiders never.
    for (name, caller) in who {
        let member = name != "outsider";
        for query in [
            format!("list-members?organizationId={org}"),
            format!("get-full-organization?organizationId={org}"),
            format!("get-active-member-role?organizationId={org}"),
            format!("list-teams?organizationId={org}"),
            format!("list-roles?organizationId={org}"),
        ] {
            let reply = get(&app, caller, &query).await;
            if member {
                ok(&reply);
            } else {
                assert_eq!(reply.status, 403, "{name} {query}: {}", reply.body);
                assert!(reply.body.get("members").is_none());
            }
        }
        let asked = |permissions: Value| json!({"organizationId": org, "permissions": permissions});
        let reply = post(
            &app,
            caller,
            "has-permission",
            asked(json!({"project": ["deploy"]})),
        )
        .await;
        if member {
            assert_eq!(ok(&reply)["success"], name == "deployer", "{name}");
        } else {
            reply.assert_error(403, "USER_IS_NOT_A_MEMBER_OF_THE_ORGANIZATION");
        }
    }
    // The deprecated `permission` works too (better-auth ignores it).
    let reply = post(
        &app,
        &c.admin,
        "has-permission",
        json!({"organizationId": org, "permission": {"member": ["create"]}}),
    )
    .await;
    assert_eq!(ok(&reply)["success"], true);
    let reply = post(
        &app,
        &c.member,
        "has-permission",
        json!({"organizationId": org, "permissions": {"organization": {"actions": ["delete", "update"], "connector": "OR"}}}),
    )
    .await;
    assert_eq!(ok(&reply)["success"], false);

    // Writes: (endpoint, body, allowed roles, code for the others).
    let writes: Vec<(&str, Value, &[&str], &str)> = vec![
        (
            "update",
            json!({"organizationId": org, "data": {"name": "Renamed"}}),
            &["owner", "admin"],
            "YOU_ARE_NOT_ALLOWED_TO_UPDATE_THIS_ORGANIZATION",
        ),
        (
            "invite-member",
            json!({"organizationId": org, "email": "EMAIL", "role": "member"}),
            &["owner", "admin"],
            "YOU_ARE_NOT_ALLOWED_TO_INVITE_USERS_TO_THIS_ORGANIZATION",
        ),
        (
            "create-team",
            json!({"organizationId": org, "name": "Team NAME"}),
            &["owner", "admin"],
            "YOU_ARE_NOT_ALLOWED_TO_CREATE_TEAMS_IN_THIS_ORGANIZATION",
        ),
        (
            "create-role",
            json!({"organizationId": org, "role": "auditor-NAME", "permission": {"ac": ["read"]}}),
            &["owner", "admin"],
            "YOU_ARE_NOT_ALLOWED_TO_CREATE_A_ROLE",
        ),
        (
            "update-member-role",
            json!({"organizationId": org, "memberId": c.member_id, "role": "member"}),
            &["owner", "admin"],
            "YOU_ARE_NOT_ALLOWED_TO_UPDATE_THIS_MEMBER",
        ),
    ];
    for (path, body, allowed, code) in &writes {
        for (name, caller) in who {
            let body = serde_json::to_string(body)
                .unwrap()
                .replace("EMAIL", &random_email())
                .replace("NAME", name);
            let reply = post(&app, caller, path, serde_json::from_str(&body).unwrap()).await;
            if allowed.contains(&name) {
                assert_eq!(reply.status, 200, "{name} {path}: {}", reply.body);
            } else if name == "outsider" {
                assert_eq!(reply.status, 403, "{name} {path}: {}", reply.body);
            } else {
                reply.assert_error(403, code);
            }
        }
    }
    let reply = get(
        &app,
        &c.member,
        &format!("list-invitations?organizationId={org}"),
    )
    .await;
    reply.assert_error(403, "YOU_ARE_NOT_ALLOWED_TO_LIST_INVITATIONS");
    let full = get(
        &app,
        &c.member,
        &format!("get-full-organization?organizationId={org}"),
    )
    .await;
    assert_eq!(
        ok(&full)["invitations"],
        json!([]),
        "members who cannot invite see no invitation ids"
    );
    let full = get(
        &app,
        &c.admin,
        &format!("get-full-organization?organizationId={org}"),
    )
    .await;
    assert!(!ok(&full)["invitations"].as_array().unwrap().is_empty());

    // Cancelling, removing members and deleting the organization.
    let invitation = post(
        &app,
        &c.owner,
        "invite-member",
        json!({"email": random_email(), "role": "member"}),
    )
    .await;
    let invitation = ok(&invitation)["id"].as_str().unwrap().to_owned();
    for caller in [&c.member, &c.deployer, &c.outsider] {
        post(
            &app,
            caller,
            "cancel-invitation",
            json!({"invitationId": invitation}),
        )
        .await
        .assert_error(403, "YOU_ARE_NOT_ALLOWED_TO_CANCEL_THIS_INVITATION");
    }
    ok(&post(
        &app,
        &c.admin,
        "cancel-invitation",
        json!({"invitationId": invitation}),
    )
    .await);
    for caller in [&c.member, &c.deployer] {
        post(
            &app,
            caller,
            "remove-member",
            json!({"organizationId": org, "memberIdOrEmail": c.admin.email}),
        )
        .await
        .assert_error(403, "YOU_ARE_NOT_ALLOWED_TO_DELETE_THIS_MEMBER");
    }
    post(
        &app,
        &c.outsider,
        "remove-member",
        json!({"organizationId": org, "memberIdOrEmail": c.member.email}),
    )
    .await
    .assert_error(403, "YOU_ARE_NOT_A_MEMBER_OF_THIS_ORGANIZATION");
    ok(&post(
        &app,
        &c.admin,
        "remove-member",
        json!({"organizationId": org, "memberIdOrEmail": c.deployer.email}),
    )
    .await);
    for caller in [&c.admin, &c.member, &c.outsider] {
        let reply = post(&app, caller, "delete", json!({"organizationId": org})).await;
        assert_eq!(reply.status, 403, "{}", reply.body);
    }
    ok(&post(&app, &c.owner, "delete", json!({"organizationId": org})).await);
    assert_eq!(
        app.count(&format!(
            "organization_members WHERE organization_id = '{org}'"
        ))
        .await,
        0
    );
}

async fn ids_of_another_organization_find_nothing(backend: Backend) {
    let app = spawn(backend, &[]).await;
    let alice = user(&app).await;
    let bob = user(&app).await;
    let carol = user(&app).await;
    let a = organization(&app, &alice, "alpha").await;
    let b = organization(&app, &bob, "beta").await;
    let carol_in_b = join(&app, &bob, &carol, &b, json!("member")).await;
    let b_invitation = post(
        &app,
        &bob,
        "invite-member",
        json!({"email": random_email(), "role": "admin"}),
    )
    .await;
    let b_invitation = ok(&b_invitation)["id"].as_str().unwrap().to_owned();
    let b_team = post(&app, &bob, "create-team", json!({"name": "Beta team"})).await;
    let b_team = ok(&b_team)["id"].as_str().unwrap().to_owned();
    let b_role = post(
        &app,
        &bob,
        "create-role",
        json!({"role": "beta-role", "permission": {"ac": ["read"]}}),
    )
    .await;
    let b_role = ok(&b_role)["roleData"]["id"].as_str().unwrap().to_owned();

    // Naming B directly: refused.
    for (path, body) in [
        (
            "update",
            json!({"organizationId": b, "data": {"name": "Mine"}}),
        ),
        ("delete", json!({"organizationId": b})),
        ("set-active", json!({"organizationId": b})),
        ("set-active", json!({"organizationSlug": "beta"})),
        (
            "remove-member",
            json!({"organizationId": b, "memberIdOrEmail": carol_in_b}),
        ),
        (
            "update-member-role",
            json!({"organizationId": b, "memberId": carol_in_b, "role": "admin"}),
        ),
        (
            "invite-member",
            json!({"organizationId": b, "email": random_email(), "role": "member"}),
        ),
        ("cancel-invitation", json!({"invitationId": b_invitation})),
        ("create-team", json!({"organizationId": b, "name": "Mine"})),
        (
            "update-team",
            json!({"teamId": b_team, "data": {"organizationId": b, "name": "Mine"}}),
        ),
        (
            "remove-team",
            json!({"organizationId": b, "teamId": b_team}),
        ),
        (
            "create-role",
            json!({"organizationId": b, "role": "mine", "permission": {"ac": ["read"]}}),
        ),
        (
            "delete-role",
            json!({"organizationId": b, "roleId": b_role}),
        ),
        (
            "has-permission",
            json!({"organizationId": b, "permissions": {"ac": ["read"]}}),
        ),
        ("leave", json!({"organizationId": b})),
    ] {
        let reply = post(&app, &alice, path, body.clone()).await;
        assert!(
            [403, 404].contains(&reply.status) && reply.body.get("code").is_some(),
            "{path} {body}: {} {}",
            reply.status,
            reply.body
        );
    }
    for query in [
        format!("get-full-organization?organizationId={b}"),
        "get-full-organization?organizationSlug=beta".to_owned(),
        format!("list-members?organizationId={b}"),
        format!("list-invitations?organizationId={b}"),
        format!("list-teams?organizationId={b}"),
        format!("list-roles?organizationId={b}"),
        format!("get-role?organizationId={b}&roleId={b_role}"),
        format!("get-active-member-role?organizationId={b}"),
        format!("list-team-members?teamId={b_team}"),
        format!("get-invitation?id={b_invitation}"),
    ] {
        let reply = get(&app, &alice, &query).await;
        assert!(
            [403, 404].contains(&reply.status) && reply.body.get("code").is_some(),
            "{query}: {} {}",
            reply.status,
            reply.body
        );
    }
    // B's ids used inside A (A is Alice's): they find nothing.
    for (path, body, code) in [
        (
            "remove-member",
            json!({"organizationId": a, "memberIdOrEmail": carol_in_b}),
            "MEMBER_NOT_FOUND",
        ),
        (
            "remove-member",
            json!({"organizationId": a, "memberIdOrEmail": carol.email}),
            "MEMBER_NOT_FOUND",
        ),
        (
            "update-member-role",
            json!({"organizationId": a, "memberId": carol_in_b, "role": "owner"}),
            "MEMBER_NOT_FOUND",
        ),
        (
            "update-team",
            json!({"teamId": b_team, "data": {"organizationId": a, "name": "Mine"}}),
            "TEAM_NOT_FOUND",
        ),
        (
            "remove-team",
            json!({"organizationId": a, "teamId": b_team}),
            "TEAM_NOT_FOUND",
        ),
        (
            "add-team-member",
            json!({"teamId": b_team, "userId": alice.id}),
            "TEAM_NOT_FOUND",
        ),
        (
            "delete-role",
            json!({"organizationId": a, "roleId": b_role}),
            "ROLE_NOT_FOUND",
        ),
        (
            "invite-member",
            json!({"organizationId": a, "email": random_email(), "role": "beta-role"}),
            "ROLE_NOT_FOUND",
        ),
        (
            "invite-member",
            json!({"organizationId": a, "email": random_email(), "role": "member", "teamId": b_team}),
            "TEAM_NOT_FOUND",
        ),
    ] {
        post(&app, &alice, path, body).await.assert_error(404, code);
    }
    get(
        &app,
        &alice,
        &format!("get-role?organizationId={a}&roleId={b_role}"),
    )
    .await
    .assert_error(404, "ROLE_NOT_FOUND");
    // Nothing in B changed.
    let full = get(&app, &bob, "get-full-organization").await;
    assert_eq!(ok(&full)["name"], "Org beta");
    assert_eq!(full.body["members"].as_array().unwrap().len(), 2);
    let pending = full.body["invitations"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["id"] == b_invitation.as_str())
        .unwrap();
    assert_eq!(pending["status"], "pending");
    assert_eq!(full.body["teams"][0]["name"], "Beta team");
    assert_eq!(
        app.count(&format!(
            "organization_members WHERE user_id = '{}'",
            alice.id
        ))
        .await,
        1,
        "Alice is in her organization only"
    );
}

async fn the_last_owner_stays_and_only_owners_handle_owners(backend: Backend) {
    let app = spawn(backend, &[]).await;
    let owner = user(&app).await;
    let org = organization(&app, &owner, "acme").await;
    let admin = user(&app).await;
    let admin_id = join(&app, &owner, &admin, &org, json!("admin")).await;
    let owner_id = ok(&get(&app, &owner, "get-active-member").await)["id"]
        .as_str()
        .unwrap()
        .to_owned();

    post(&app, &owner, "leave", json!({"organizationId": org}))
        .await
        .assert_error(400, "YOU_CANNOT_LEAVE_THE_ORGANIZATION_AS_THE_ONLY_OWNER");
    post(
        &app,
        &owner,
        "update-member-role",
        json!({"memberId": owner_id, "role": "admin"}),
    )
    .await
    .assert_error(400, "YOU_CANNOT_LEAVE_THE_ORGANIZATION_WITHOUT_AN_OWNER");
    post(
        &app,
        &admin,
        "remove-member",
        json!({"memberIdOrEmail": owner.email}),
    )
    .await
    .assert_error(403, "YOU_ARE_NOT_ALLOWED_TO_DELETE_THIS_MEMBER");
    post(
        &app,
        &admin,
        "update-member-role",
        json!({"memberId": owner_id, "role": "member"}),
    )
    .await
    .assert_error(403, "YOU_ARE_NOT_ALLOWED_TO_UPDATE_THIS_MEMBER");
    post(
        &app,
        &admin,
        "update-member-role",
        json!({"memberId": admin_id, "role": ["admin", "owner"]}),
    )
    .await
    .assert_error(403, "YOU_ARE_NOT_ALLOWED_TO_UPDATE_THIS_MEMBER");
    post(
        &app,
        &admin,
        "invite-member",
        json!({"email": random_email(), "role": "owner"}),
    )
    .await
    .assert_error(403, "YOU_ARE_NOT_ALLOWED_TO_INVITE_USER_WITH_THIS_ROLE");

    // With a second owner, the first may go; then the second is the last one.
    let promoted = post(
        &app,
        &owner,
        "update-member-role",
        json!({"memberId": admin_id, "role": ["admin", "owner"]}),
    )
    .await;
    assert_eq!(ok(&promoted)["role"], "admin,owner");
    let left = post(&app, &owner, "leave", json!({"organizationId": org})).await;
    assert_eq!(ok(&left)["id"], owner_id.as_str());
    assert_eq!(active_organization(&app, &owner.token).await, Value::Null);
    post(&app, &admin, "leave", json!({"organizationId": org}))
        .await
        .assert_error(400, "YOU_CANNOT_LEAVE_THE_ORGANIZATION_AS_THE_ONLY_OWNER");
    post(
        &app,
        &admin,
        "remove-member",
        json!({"memberIdOrEmail": admin_id}),
    )
    .await
    .assert_error(400, "YOU_CANNOT_LEAVE_THE_ORGANIZATION_AS_THE_ONLY_OWNER");
    post(&app, &owner, "leave", json!({"organizationId": org}))
        .await
        .assert_error(404, "MEMBER_NOT_FOUND");

    // Two owners demoting each other at once: one owner always remains.
    let second = user(&app).await;
    let second_id = join(&app, &admin, &second, &org, json!("owner")).await;
    let admin_member = ok(&get(&app, &admin, "get-active-member").await)["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let (a, b) = tokio::join!(
        post(
            &app,
            &admin,
            "update-member-role",
            json!({"memberId": second_id, "role": "member"})
        ),
        post(
            &app,
            &second,
            "update-member-role",
            json!({"memberId": admin_member, "role": "member", "organizationId": org})
        ),
    );
    assert!(
        a.status == 200 || b.status == 200,
        "{} / {}",
        a.body,
        b.body
    );
    let owners = app
        .count(&format!(
            "organization_members WHERE organization_id = '{org}' AND role LIKE '%owner%'"
        ))
        .await;
    assert_eq!(owners, 1, "{} / {}", a.body, b.body);
}

async fn admins_change_other_admins_only_with_manage_admins(backend: Backend) {
    let app = spawn(backend, &[]).await;
    let owner = user(&app).await;
    let org = organization(&app, &owner, "acme").await;
    let (admin, other_admin, member) = (user(&app).await, user(&app).await, user(&app).await);
    let admin_id = join(&app, &owner, &admin, &org, json!("admin")).await;
    let other_admin_id = join(&app, &owner, &other_admin, &org, json!("admin")).await;
    let member_id = join(&app, &owner, &member, &org, json!("member")).await;
    let manage = json!({"permissions": {"member": ["manage-admins"]}});
    assert_eq!(
        ok(&post(&app, &owner, "has-permission", manage.clone()).await)["success"],
        true
    );
    assert_eq!(
        ok(&post(&app, &admin, "has-permission", manage).await)["success"],
        false
    );

    // An admin handles members, and themselves, but not another admin.
    let promoted = post(
        &app,
        &admin,
        "update-member-role",
        json!({"memberId": member_id, "role": ["member", "admin"]}),
    )
    .await;
    assert_eq!(ok(&promoted)["role"], "member,admin");
    for (path, body, code) in [
        (
            "update-member-role",
            json!({"memberId": other_admin_id, "role": "member"}),
            "YOU_ARE_NOT_ALLOWED_TO_UPDATE_THIS_MEMBER",
        ),
        // Promoted a moment ago: an admin now, out of reach too.
        (
            "update-member-role",
            json!({"memberId": member_id, "role": "member"}),
            "YOU_ARE_NOT_ALLOWED_TO_UPDATE_THIS_MEMBER",
        ),
        (
            "remove-member",
            json!({"memberIdOrEmail": other_admin.email}),
            "YOU_ARE_NOT_ALLOWED_TO_DELETE_THIS_MEMBER",
        ),
        (
            "remove-member",
            json!({"memberIdOrEmail": other_admin_id}),
            "YOU_ARE_NOT_ALLOWED_TO_DELETE_THIS_MEMBER",
        ),
    ] {
        post(&app, &admin, path, body).await.assert_error(403, code);
    }
    // Nor can an admin get the statement another way: a role granting it, made or given.
    post(
        &app,
        &admin,
        "create-role",
        json!({"role": "keeper", "permission": {"member": ["manage-admins"]}}),
    )
    .await
    .assert_error(403, "YOU_ARE_NOT_ALLOWED_TO_CREATE_A_ROLE");
    let created = post(
        &app,
        &owner,
        "create-role",
        json!({"role": "keeper", "permission": {"member": ["update", "delete", "manage-admins"]}}),
    )
    .await;
    ok(&created);
    post(
        &app,
        &admin,
        "update-member-role",
        json!({"memberId": admin_id, "role": ["admin", "keeper"]}),
    )
    .await
    .assert_error(403, "YOU_ARE_NOT_ALLOWED_TO_UPDATE_THIS_MEMBER");
    post(
        &app,
        &admin,
        "invite-member",
        json!({"email": random_email(), "role": "keeper"}),
    )
    .await
    .assert_error(403, "YOU_ARE_NOT_ALLOWED_TO_INVITE_USER_WITH_THIS_ROLE");
    let untouched = get(&app, &owner, "list-members?sortBy=createdAt").await;
    let mut roles: Vec<&str> = ok(&untouched)["members"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["role"].as_str().unwrap())
        .collect();
    roles.sort_unstable();
    assert_eq!(roles, ["admin", "admin", "member,admin", "owner"]);

    // Given the statement by an owner, the admin may; owners stay out of reach.
    let granted = post(
        &app,
        &owner,
        "update-member-role",
        json!({"memberId": admin_id, "role": ["admin", "keeper"]}),
    )
    .await;
    assert_eq!(ok(&granted)["role"], "admin,keeper");
    let demoted = post(
        &app,
        &admin,
        "update-member-role",
        json!({"memberId": other_admin_id, "role": "member"}),
    )
    .await;
    assert_eq!(ok(&demoted)["role"], "member");
    let removed = post(
        &app,
        &admin,
        "remove-member",
        json!({"memberIdOrEmail": member_id}),
    )
    .await;
    assert_eq!(ok(&removed)["member"]["id"], member_id.as_str());
    post(
        &app,
        &admin,
        "remove-member",
        json!({"memberIdOrEmail": owner.email}),
    )
    .await
    .assert_error(403, "YOU_ARE_NOT_ALLOWED_TO_DELETE_THIS_MEMBER");
    // An admin may still step down.
    let owner_changes_keeper = post(
        &app,
        &owner,
        "update-member-role",
        json!({"memberId": admin_id, "role": "admin"}),
    )
    .await;
    ok(&owner_changes_keeper);
    let self_demoted = post(
        &app,
        &admin,
        "update-member-role",
        json!({"memberId": admin_id, "role": "member"}),
    )
    .await;
    assert_eq!(ok(&self_demoted)["role"], "member");
}

/// The audit events of `query` (an admin's view of the trail).
async fn audit_events(app: &TestApp, admin_token: &str, query: &str) -> Vec<Value> {
    let reply = app
        .get(
            &format!("/admin/audit-log?limit=1000&{query}"),
            Auth::Bearer(admin_token),
        )
        .await;
    ok(&reply)["events"].as_array().unwrap().clone()
}

async fn organization_events_name_their_organization_in_the_audit_trail(backend: Backend) {
    let app = spawn(backend, &[]).await;
    let (_, admin_token) = crate::admin::user_with_role(&app, "admin").await;
    let owner = user(&app).await;
    let org = organization(&app, &owner, "acme").await;
    let elsewhere = organization(&app, &owner, "elsewhere").await;
    post(&app, &owner, "set-active", json!({"organizationId": org})).await;
    let member = user(&app).await;
    let member_id = join(&app, &owner, &member, &org, json!("member")).await;
    let changed = post(
        &app,
        &owner,
        "update-member-role",
        json!({"memberId": member_id, "role": "admin"}),
    )
    .await;
    ok(&changed);
    let invited = post(
        &app,
        &owner,
        "invite-member",
        json!({"email": random_email(), "role": "member"}),
    )
    .await;
    let invitation = ok(&invited)["id"].as_str().unwrap().to_owned();
    ok(&post(
        &app,
        &owner,
        "cancel-invitation",
        json!({"invitationId": invitation}),
    )
    .await);
    let team = post(&app, &owner, "create-team", json!({"name": "Core"})).await;
    let team = ok(&team)["id"].as_str().unwrap().to_owned();
    ok(&post(
        &app,
        &owner,
        "remove-member",
        json!({"memberIdOrEmail": member_id}),
    )
    .await);

    let events = audit_events(&app, &admin_token, &format!("organizationId={org}")).await;
    let mut kinds: Vec<&str> = events.iter().map(|e| e["kind"].as_str().unwrap()).collect();
    kinds.sort_unstable();
    assert_eq!(
        kinds,
        [
            "invitation_accepted",
            "invitation_canceled",
            "invitation_sent",
            "invitation_sent",
            "member_added",
            "member_removed",
            "member_role_changed",
            "organization_created",
            "team_changed",
        ]
    );
    assert!(events.iter().all(|e| e["organizationId"] == org.as_str()));
    let find = |kind: &str| {
        events
            .iter()
            .find(|e| e["kind"] == kind)
            .unwrap_or_else(|| panic!("{kind}"))
    };
    // Acting on someone else: the event is about them, the caller is its actor.
    let role_changed = find("member_role_changed");
    assert_eq!(role_changed["userId"], member.id.as_str());
    assert_eq!(role_changed["actor"], owner.id.as_str());
    assert_eq!(
        role_changed["detail"],
        format!("member {member_id} role member -> admin")
    );
    assert_eq!(find("member_removed")["userId"], member.id.as_str());
    assert_eq!(
        find("member_added")["detail"]
            .as_str()
            .unwrap()
            .split(' ')
            .take(2)
            .collect::<Vec<_>>(),
        ["member", member_id.as_str()]
    );
    assert_eq!(find("member_added")["actor"], Value::Null, "they joined");
    assert_eq!(
        find("invitation_canceled")["detail"],
        format!("invitation {invitation} role member")
    );
    assert_eq!(
        find("team_changed")["detail"],
        format!("team {team} created")
    );
    assert_eq!(find("organization_created")["userId"], owner.id.as_str());
    // Another organization's trail is its own; filters combine.
    let other = audit_events(&app, &admin_token, &format!("organizationId={elsewhere}")).await;
    assert_eq!(other.len(), 1);
    assert_eq!(other[0]["kind"], "organization_created");
    let about_member = audit_events(
        &app,
        &admin_token,
        &format!("organizationId={org}&userId={}", member.id),
    )
    .await;
    assert_eq!(about_member.len(), 4, "{about_member:?}");

    // The command line filters the same way.
    let lines = crate::admin::succeeded(&app.cli(&[
        "audit",
        "list",
        "--organization",
        &org,
        "--kind",
        "member_removed",
        "--json",
    ]));
    let line: Value = serde_json::from_str(lines.trim()).unwrap();
    assert_eq!(line["organizationId"], org.as_str());
    assert_eq!(line["detail"], format!("member {member_id} removed"));
}

async fn expired_invitations_are_swept_in_batches(backend: Backend) {
    let app = spawn(
        backend,
        &[
            ("organization.invitation_ttl", "1h"),
            ("session.sweep_interval", "100ms"),
        ],
    )
    .await;
    let owner = user(&app).await;
    let org = organization(&app, &owner, "acme").await;
    let invited = post(
        &app,
        &owner,
        "invite-member",
        json!({"email": random_email(), "role": "member"}),
    )
    .await;
    let live = ok(&invited)["id"].as_str().unwrap().to_owned();
    // More expired ones than one batch holds, written directly (the API caps pending ones).
    let past = app.clock.now_ms() - 1;
    let mut db = app.db().await;
    for chunk in 0..5 {
        let values: Vec<String> = (0..250)
            .map(|i| {
                format!(
                    "('old-{chunk}-{i}', '{org}', 'old{chunk}-{i}@example.com', 'member', 'pending', '{}', {past}, {past})",
                    owner.id
                )
            })
            .collect();
        // AssertSqlSafe: values written by the test itself.
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "INSERT INTO organization_invitations
             (id, organization_id, email, role, status, inviter_id, created_at, expires_at)
             VALUES {}",
            values.join(", ")
        )))
        .execute(&mut db)
        .await
        .unwrap();
    }
    crate::helpers::eventually(
        "expired invitations are swept, batch after batch",
        || async { app.count("organization_invitations").await == 1 },
    )
    .await;
    assert_eq!(
        app.count(&format!("organization_invitations WHERE id = '{live}'"))
            .await,
        1,
        "the live one stays"
    );
    app.clock.advance(Duration::from_secs(3601));
    crate::helpers::eventually("once expired, it goes too", || async {
        app.count("organization_invitations").await == 0
    })
    .await;
}

async fn a_role_change_applies_on_the_next_request_and_token(backend: Backend) {
    let app = spawn(backend, &[]).await;
    let owner = user(&app).await;
    let org = organization(&app, &owner, "acme").await;
    let member = user(&app).await;
    let member_id = join(&app, &owner, &member, &org, json!("member")).await;
    let invite = json!({"email": random_email(), "role": "member"});

    post(&app, &member, "invite-member", invite.clone())
        .await
        .assert_error(
            403,
            "YOU_ARE_NOT_ALLOWED_TO_INVITE_USERS_TO_THIS_ORGANIZATION",
        );
    assert_eq!(access_claims(&app, &member).await["org_role"], "member");
    ok(&post(
        &app,
        &owner,
        "update-member-role",
        json!({"memberId": member_id, "role": "admin"}),
    )
    .await);
    ok(&post(&app, &member, "invite-member", invite.clone()).await);
    assert_eq!(access_claims(&app, &member).await["org_role"], "admin");
    ok(&post(
        &app,
        &owner,
        "update-member-role",
        json!({"memberId": member_id, "role": "member"}),
    )
    .await);
    post(
        &app,
        &member,
        "invite-member",
        json!({"email": random_email(), "role": "member"}),
    )
    .await
    .assert_error(
        403,
        "YOU_ARE_NOT_ALLOWED_TO_INVITE_USERS_TO_THIS_ORGANIZATION",
    );

    // Removed: the next request knows, and the next token says nothing about the organization.
    let removed = post(
        &app,
        &owner,
        "remove-member",
        json!({"memberIdOrEmail": member_id}),
    )
    .await;
    assert_eq!(ok(&removed)["member"]["id"], member_id.as_str());
    get(&app, &member, "list-members")
        .await
        .assert_error(400, "NO_ACTIVE_ORGANIZATION");
    get(&app, &member, &format!("list-members?organizationId={org}"))
        .await
        .assert_error(403, "YOU_ARE_NOT_A_MEMBER_OF_THIS_ORGANIZATION");
    assert!(access_claims(&app, &member).await.get("org_id").is_none());
}

async fn member_pages_sort_filter_and_count_a_thousand_members(backend: Backend) {
    let app = spawn(backend, &[]).await;
    let owner = user(&app).await;
    let org = organization(&app, &owner, "acme").await;
    // 999 more members, written directly: signing up a thousand users would test Argon2.
    let mut db = app.db().await;
    for i in 0..999 {
        seed_member(
            &mut db,
            &org,
            &SeededMember {
                index: &format!("{i:04}"),
                name: &format!("Seed {i:04}"),
                image: None,
                role: if i % 10 == 0 { "admin" } else { "member" },
                joined_at: 1_000_000_000_000_i64 + i64::from(i),
            },
        )
        .await;
    }
    let page = get(&app, &owner, "list-members").await;
    assert_eq!(ok(&page)["total"], 1000);
    assert_eq!(
        page.body["members"].as_array().unwrap().len(),
        100,
        "100 by default"
    );
    let page = get(&app, &owner, "list-members?limit=1000&offset=0").await;
    let members = ok(&page)["members"].as_array().unwrap();
    assert_eq!(members.len(), 1000);
    assert!(members.iter().all(|m| m["user"]["email"].is_string()));
    let page = get(
        &app,
        &owner,
        "list-members?limit=100&offset=950&sortBy=email&sortDirection=desc",
    )
    .await;
    assert_eq!(ok(&page)["members"].as_array().unwrap().len(), 50);
    assert_eq!(page.body["total"], 1000);
    let first = get(
        &app,
        &owner,
        "list-members?limit=1&sortBy=email&sortDirection=desc",
    )
    .await;
    assert!(ok(&first)["members"][0]["user"]["email"]
        .as_str()
        .unwrap()
        .starts_with("user-"));
    let admins = get(
        &app,
        &owner,
        "list-members?filterField=role&filterValue=admin&limit=1000",
    )
    .await;
    assert_eq!(ok(&admins)["total"], 100);
    assert!(admins.body["members"]
        .as_array()
        .unwrap()
        .iter()
        .all(|m| m["role"] == "admin"));
    let some = get(
        &app,
        &owner,
        "list-members?filterField=email&filterOperator=starts_with&filterValue=SEED-000",
    )
    .await;
    assert_eq!(ok(&some)["total"], 10, "case-insensitive on both databases");
    let tricky = get(
        &app,
        &owner,
        "list-members?filterField=name&filterOperator=contains&filterValue=%25_",
    )
    .await;
    assert_eq!(ok(&tricky)["total"], 0, "wildcards are literal");
    let listed = get(&app, &owner, "list-members?filterField=userId&filterOperator=in&filterValue=seed-user-0001,seed-user-0002").await;
    assert_eq!(ok(&listed)["total"], 2);
    let beyond = get(&app, &owner, "list-members?offset=5000").await;
    assert_eq!(ok(&beyond)["total"], 1000);
    assert_eq!(beyond.body["members"], json!([]));
    let full = get(&app, &owner, "get-full-organization?membersLimit=5").await;
    assert_eq!(ok(&full)["members"].as_array().unwrap().len(), 5);
}

/// A user and their membership of `org`, written straight into the database (signing up many
/// users through the API would test Argon2): user `seed-user-{index}` (`seed-{index}@example.com`),
/// member `seed-member-{index}`.
struct SeededMember<'a> {
    index: &'a str,
    name: &'a str,
    image: Option<&'a str>,
    role: &'a str,
    joined_at: i64,
}

async fn seed_member(db: &mut sqlx::AnyConnection, org: &str, member: &SeededMember<'_>) {
    let user_id = format!("seed-user-{}", member.index);
    sqlx::query(
        "INSERT INTO users (id, name, email, email_verified, image, created_at, updated_at)
         VALUES ($1, $2, $3, 1, $4, 0, 0)",
    )
    .bind(&user_id)
    .bind(member.name)
    .bind(format!("seed-{}@example.com", member.index))
    .bind(member.image)
    .execute(&mut *db)
    .await
    .unwrap();
    sqlx::query(
        "INSERT INTO organization_members (id, organization_id, user_id, role, created_at)
         VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(format!("seed-member-{}", member.index))
    .bind(org)
    .bind(&user_id)
    .bind(member.role)
    .bind(member.joined_at)
    .execute(&mut *db)
    .await
    .unwrap();
}

/// list-members writes its page as JSON in SQL (one row instead of a hundred); every other answer
/// serialises members from Rust. Both must say the same, byte for byte once parsed: names that
/// need escaping, non-ASCII, an image and none, times with leading-zero milliseconds.
async fn a_members_page_reads_as_the_members_of_the_full_organization(backend: Backend) {
    let app = spawn(backend, &[]).await;
    let owner = user(&app).await;
    let org = organization(&app, &owner, "acme").await;
    let mut db = app.db().await;
    let names = [
        "Quote \" and backslash \\",
        "Line\nbreak\ttab\u{1}control",
        "Zoë 山田 🦀",
        "</script><b>",
    ];
    for (i, name) in names.iter().enumerate() {
        let image = format!("https://img.example/{i}.png?a=1&b=\"x\"");
        seed_member(
            &mut db,
            &org,
            &SeededMember {
                index: &i.to_string(),
                name,
                image: (i % 2 == 0).then_some(image.as_str()),
                role: if i == 1 { "admin,member" } else { "member" },
                // Milliseconds .007, .070, .700 and a whole second: leading and trailing zeros.
                joined_at: 1_700_000_000_000_i64 + [7, 70, 700, 1_000][i],
            },
        )
        .await;
    }
    let page = get(&app, &owner, "list-members?limit=1000").await;
    let listed = ok(&page)["members"].clone();
    let full = get(&app, &owner, "get-full-organization?membersLimit=1000").await;
    assert_eq!(
        listed,
        ok(&full)["members"],
        "the same members, said the same way"
    );
    assert_eq!(listed.as_array().unwrap().len(), 5);
    assert_eq!(
        listed[0],
        json!({
            "id": "seed-member-0", "organizationId": org, "userId": "seed-user-0",
            "role": "member", "createdAt": "2023-11-14T22:13:20.007Z",
            "user": {"id": "seed-user-0", "name": names[0], "email": "seed-0@example.com",
                     "image": "https://img.example/0.png?a=1&b=\"x\""}
        })
    );
    assert_eq!(listed[1]["createdAt"], "2023-11-14T22:13:20.070Z");
    assert_eq!(listed[1]["role"], "admin,member");
    assert_eq!(listed[1]["user"]["image"], Value::Null);
    assert_eq!(listed[2]["createdAt"], "2023-11-14T22:13:20.700Z");
    assert_eq!(listed[3]["createdAt"], "2023-11-14T22:13:21.000Z");
    for (i, name) in names.iter().enumerate() {
        assert_eq!(listed[i]["user"]["name"], *name);
    }
    // Descending and filtered pages are the same members in reverse, and a slice of them.
    let reversed = get(&app, &owner, "list-members?limit=1000&sortDirection=desc").await;
    let mut expected = listed.as_array().unwrap().clone();
    expected.reverse();
    assert_eq!(ok(&reversed)["members"], Value::Array(expected));
    let admins = get(
        &app,
        &owner,
        "list-members?filterField=role&filterOperator=contains&filterValue=admin",
    )
    .await;
    assert_eq!(ok(&admins)["members"], json!([listed[1]]));
    assert_eq!(admins.body["total"], 1);
    let none = get(
        &app,
        &owner,
        "list-members?filterField=createdAt&filterValue=soon",
    )
    .await;
    assert_eq!(ok(&none)["members"], json!([]));
    assert_eq!(none.body["total"], 0);
}

/// The members of `org`'s first page as (email, name, role) and the total, as `user` reads them.
async fn page_of(app: &TestApp, user: &User, org: &str) -> (Vec<(String, String, String)>, i64) {
    let page = get(app, user, &format!("list-members?organizationId={org}")).await;
    let members = ok(&page)["members"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            let text = |v: &Value| v.as_str().unwrap().to_owned();
            (
                text(&m["user"]["email"]),
                text(&m["user"]["name"]),
                text(&m["role"]),
            )
        })
        .collect();
    (members, page.body["total"].as_i64().unwrap())
}

/// A server keeps the members pages it rendered and answers them again while the organization's
/// `members_version` stays: every change a page shows moves it, whether made through this
/// server, another one on the same database, or straight in the database, so a page read after a
/// change shows it. Turning the version back by hand (no API can) shows the page is really kept.
async fn a_kept_members_page_follows_every_change_on_every_server(backend: Backend) {
    let app = spawn(backend, &[]).await;
    let other = TestApp::start(app.storage.clone(), &[("session.cache_ttl", "0s")]).await;
    let owner = user(&app).await;
    let member = user(&app).await;
    let org = organization(&app, &owner, "acme").await;
    let elsewhere = organization(&app, &owner, "elsewhere").await;
    let member_id = join(&app, &owner, &member, &org, json!("member")).await;
    let name_of = |page: &(Vec<(String, String, String)>, i64), email: &str| {
        page.0
            .iter()
            .find(|m| m.0 == email)
            .map(|m| (m.1.clone(), m.2.clone()))
    };
    let first = page_of(&app, &owner, &org).await;
    assert_eq!(first.1, 2);
    assert_eq!(
        page_of(&app, &owner, &org).await,
        first,
        "read again, same answer"
    );
    assert_eq!(
        page_of(&app, &owner, &elsewhere).await.1,
        1,
        "another organization's page"
    );

    // Through the other server: a name, then a role.
    let renamed = other
        .post(
            "/update-user",
            Auth::Bearer(&member.token),
            json!({"name": "Renamed"}),
        )
        .await;
    ok(&renamed);
    let page = page_of(&app, &owner, &org).await;
    assert_eq!(
        name_of(&page, &member.email),
        Some(("Renamed".into(), "member".into()))
    );
    let promoted = other
        .post(
            "/organization/update-member-role",
            Auth::Bearer(&owner.token),
            json!({"memberId": member_id, "role": "admin", "organizationId": org}),
        )
        .await;
    ok(&promoted);
    let page = page_of(&app, &owner, &org).await;
    assert_eq!(
        name_of(&page, &member.email),
        Some(("Renamed".into(), "admin".into()))
    );

    // Straight in the database: an email, a new membership, a deleted user.
    let mut db = app.db().await;
    let new_email = format!("moved-{}", member.email);
    sqlx::query("UPDATE users SET email = $1 WHERE id = $2")
        .bind(&new_email)
        .bind(&member.id)
        .execute(&mut db)
        .await
        .unwrap();
    let page = page_of(&app, &owner, &org).await;
    assert!(name_of(&page, &new_email).is_some() && name_of(&page, &member.email).is_none());
    let third = user(&app).await;
    sqlx::query(
        "INSERT INTO organization_members (id, organization_id, user_id, role, created_at)
         VALUES ('direct-member', $1, $2, 'member', 1)",
    )
    .bind(&org)
    .bind(&third.id)
    .execute(&mut db)
    .await
    .unwrap();
    let page = page_of(&app, &owner, &org).await;
    assert_eq!(page.1, 3);
    assert_eq!(page.0[0].0, third.email, "the earliest first");
    sqlx::query("DELETE FROM users WHERE id = $1")
        .bind(&third.id)
        .execute(&mut db)
        .await
        .unwrap();
    assert_eq!(page_of(&app, &owner, &org).await.1, 2);

    // Through the API of the other server: the member leaves; the page of the first says so.
    let removed = other
        .post(
            "/organization/remove-member",
            Auth::Bearer(&owner.token),
            json!({"memberIdOrEmail": member_id, "organizationId": org}),
        )
        .await;
    ok(&removed);
    let (members, total) = page_of(&app, &owner, &org).await;
    assert_eq!((members.len(), total), (1, 1));
    get(&app, &member, &format!("list-members?organizationId={org}"))
        .await
        .assert_error(403, "YOU_ARE_NOT_A_MEMBER_OF_THIS_ORGANIZATION");

    // Kept, really: a change whose version is turned back by hand is not seen by the server that
    // kept the page, and is by a server that keeps none.
    let before = members_version(&mut db, &org).await;
    sqlx::query("UPDATE users SET name = 'Behind its back' WHERE id = $1")
        .bind(&owner.id)
        .execute(&mut db)
        .await
        .unwrap();
    assert_eq!(
        members_version(&mut db, &org).await,
        before + 1,
        "the trigger moved it"
    );
    sqlx::query("UPDATE organizations SET members_version = $1 WHERE id = $2")
        .bind(before)
        .bind(&org)
        .execute(&mut db)
        .await
        .unwrap();
    assert_ne!(page_of(&app, &owner, &org).await.0[0].1, "Behind its back");
    let keeps_none = TestApp::start(
        app.storage.clone(),
        &[
            ("session.cache_ttl", "0s"),
            ("organization.member_page_cache_mb", "0"),
        ],
    )
    .await;
    assert_eq!(
        page_of(&keeps_none, &owner, &org).await.0[0].1,
        "Behind its back"
    );
    // What a page does not show leaves the version alone.
    sqlx::query("UPDATE organization_members SET last_active_at = 5 WHERE organization_id = $1")
        .bind(&org)
        .execute(&mut db)
        .await
        .unwrap();
    sqlx::query("UPDATE users SET updated_at = 5 WHERE id = $1")
        .bind(&owner.id)
        .execute(&mut db)
        .await
        .unwrap();
    assert_eq!(members_version(&mut db, &org).await, before);
}

async fn members_version(db: &mut sqlx::AnyConnection, org: &str) -> i64 {
    sqlx::query_scalar::<_, i64>("SELECT members_version FROM organizations WHERE id = $1")
        .bind(org)
        .fetch_one(db)
        .await
        .unwrap()
}

/// The unfiltered total of `org`'s members page (the maintained count), checked against the
/// membership rows themselves and against the total of a filtered page (a COUNT).
async fn member_total(app: &TestApp, user: &User, org: &str) -> i64 {
    let page = get(app, user, &format!("list-members?organizationId={org}")).await;
    let total = ok(&page)["total"].as_i64().unwrap();
    let rows = app
        .count(&format!(
            "organization_members WHERE organization_id = '{org}'"
        ))
        .await;
    assert_eq!(total, rows, "the maintained total is the number of members");
    let counted = get(
        app,
        user,
        &format!(
            "list-members?organizationId={org}&filterField=role&filterOperator=ne&filterValue=none"
        ),
    )
    .await;
    assert_eq!(ok(&counted)["total"].as_i64().unwrap(), rows);
    total
}

async fn accept(app: &TestApp, token: &str, body: &Value) -> Reply {
    app.post(
        "/organization/accept-invitation",
        Auth::Bearer(token),
        body.clone(),
    )
    .await
}

async fn the_member_total_follows_every_way_in_and_out(backend: Backend) {
    let app = spawn(backend, &[]).await;
    let owner = user(&app).await;
    let org = organization(&app, &owner, "acme").await;
    let other = organization(&app, &owner, "other").await;
    assert_eq!(member_total(&app, &owner, &org).await, 1, "the creator");

    // Four invitees accept at once; one of them twice, from two sessions.
    let mut invitees = Vec::new();
    let mut invitations = Vec::new();
    for _ in 0..4 {
        let invitee = verified_user(&app).await;
        let invited = post(
            &app,
            &owner,
            "invite-member",
            json!({"email": invitee.email, "role": "member", "organizationId": org}),
        )
        .await;
        invitations.push(json!({"invitationId": ok(&invited)["id"]}));
        invitees.push(invitee);
    }
    let second_session = app
        .sign_in_token(&invitees[0].email, &invitees[0].password)
        .await;
    let (a, b, c, d, twice) = tokio::join!(
        accept(&app, &invitees[0].token, &invitations[0]),
        accept(&app, &invitees[1].token, &invitations[1]),
        accept(&app, &invitees[2].token, &invitations[2]),
        accept(&app, &invitees[3].token, &invitations[3]),
        accept(&app, &second_session, &invitations[0]),
    );
    for reply in [&b, &c, &d] {
        ok(reply);
    }
    assert_eq!(
        [a.status, twice.status]
            .iter()
            .filter(|s| **s == 200)
            .count(),
        1,
        "{} / {}",
        a.body,
        twice.body
    );
    assert_eq!(member_total(&app, &owner, &org).await, 5);

    // The same user in the second organization too: its total is its own.
    join(&app, &owner, &invitees[3], &other, json!("member")).await;
    assert_eq!(member_total(&app, &owner, &other).await, 2);

    let removed = post(
        &app,
        &owner,
        "remove-member",
        json!({"memberIdOrEmail": invitees[1].email, "organizationId": org}),
    )
    .await;
    ok(&removed);
    assert_eq!(member_total(&app, &owner, &org).await, 4, "after a removal");
    ok(&post(&app, &invitees[2], "leave", json!({"organizationId": org})).await);
    assert_eq!(member_total(&app, &owner, &org).await, 3, "after leaving");

    // Deleting a user removes their memberships everywhere (a cascade in the database).
    let deleted = app
        .post(
            "/delete-user",
            Auth::Bearer(&invitees[3].token),
            json!({"password": invitees[3].password}),
        )
        .await;
    ok(&deleted);
    assert_eq!(
        member_total(&app, &owner, &org).await,
        2,
        "after a deleted user"
    );
    assert_eq!(member_total(&app, &owner, &other).await, 1);

    // A membership written straight into the database (as an import would) counts too.
    let mut db = app.db().await;
    sqlx::query(
        "INSERT INTO organization_members (id, organization_id, user_id, role, created_at)
         VALUES ('direct-member', $1, $2, 'member', 0)",
    )
    .bind(&other)
    .bind(&invitees[1].id)
    .execute(&mut db)
    .await
    .unwrap();
    assert_eq!(
        member_total(&app, &owner, &other).await,
        2,
        "a direct write"
    );

    // Deleting an organization leaves the others' totals alone.
    ok(&post(&app, &owner, "delete", json!({"organizationId": other})).await);
    assert_eq!(member_total(&app, &owner, &org).await, 2);
    let invitee = verified_user(&app).await;
    join(&app, &owner, &invitee, &org, json!("member")).await;
    assert_eq!(member_total(&app, &owner, &org).await, 3, "after a join");
}

async fn teams_and_organization_roles(backend: Backend) {
    let app = spawn(backend, &[]).await;
    let owner = user(&app).await;
    let org = organization(&app, &owner, "acme").await;
    let member = user(&app).await;
    let member_id = join(&app, &owner, &member, &org, json!("member")).await;

    let team = post(&app, &owner, "create-team", json!({"name": "Platform"})).await;
    let team = ok(&team)["id"].as_str().unwrap().to_owned();
    let renamed = post(
        &app,
        &owner,
        "update-team",
        json!({"teamId": team, "data": {"name": "Infra"}}),
    )
    .await;
    assert_eq!(ok(&renamed)["name"], "Infra");
    assert_eq!(
        ok(&get(&app, &member, "list-teams").await)[0]["id"],
        team.as_str()
    );
    post(&app, &member, "set-active-team", json!({"teamId": team}))
        .await
        .assert_error(403, "USER_IS_NOT_A_MEMBER_OF_THE_TEAM");
    post(
        &app,
        &member,
        "add-team-member",
        json!({"teamId": team, "userId": member.id}),
    )
    .await
    .assert_error(403, "YOU_ARE_NOT_ALLOWED_TO_CREATE_A_NEW_TEAM_MEMBER");
    let outsider = user(&app).await;
    post(
        &app,
        &owner,
        "add-team-member",
        json!({"teamId": team, "userId": outsider.id}),
    )
    .await
    .assert_error(403, "USER_IS_NOT_A_MEMBER_OF_THE_ORGANIZATION");
    let added = post(
        &app,
        &owner,
        "add-team-member",
        json!({"teamId": team, "userId": member.id}),
    )
    .await;
    assert_eq!(ok(&added)["userId"], member.id.as_str());
    let active = post(&app, &member, "set-active-team", json!({"teamId": team})).await;
    assert_eq!(ok(&active)["id"], team.as_str());
    let session = app.get("/get-session", Auth::Bearer(&member.token)).await;
    assert_eq!(session.body["session"]["activeTeamId"], team.as_str());
    assert_eq!(access_claims(&app, &member).await["team_id"], team.as_str());
    let members = get(&app, &member, "list-team-members").await;
    assert_eq!(ok(&members).as_array().unwrap().len(), 1);
    assert_eq!(
        ok(&get(&app, &member, "list-user-teams").await)[0]["name"],
        "Infra"
    );

    // A role of the organization's own, assigned to a member.
    post(
        &app,
        &member,
        "create-role",
        json!({"role": "auditor", "permission": {"ac": ["read"]}}),
    )
    .await
    .assert_error(403, "YOU_ARE_NOT_ALLOWED_TO_CREATE_A_ROLE");
    let created = post(
        &app,
        &owner,
        "create-role",
        json!({"role": "Inviter", "permission": {"invitation": ["create"]}}),
    )
    .await;
    assert_eq!(ok(&created)["roleData"]["role"], "inviter");
    post(
        &app,
        &owner,
        "create-role",
        json!({"role": "inviter", "permission": {"ac": ["read"]}}),
    )
    .await
    .assert_error(400, "ROLE_NAME_IS_ALREADY_TAKEN");
    ok(&post(
        &app,
        &owner,
        "update-member-role",
        json!({"memberId": member_id, "role": ["member", "inviter"]}),
    )
    .await);
    let can = post(
        &app,
        &member,
        "has-permission",
        json!({"permissions": {"invitation": ["create"]}}),
    )
    .await;
    assert_eq!(ok(&can)["success"], true);
    ok(&post(
        &app,
        &member,
        "invite-member",
        json!({"email": random_email(), "role": "member"}),
    )
    .await);
    post(&app, &owner, "delete-role", json!({"roleName": "inviter"}))
        .await
        .assert_error(400, "ROLE_IS_ASSIGNED_TO_MEMBERS");
    let changed = post(
        &app,
        &owner,
        "update-role",
        json!({"roleName": "inviter", "data": {"permission": {"team": ["create"]}}}),
    )
    .await;
    assert_eq!(ok(&changed)["roleData"]["permission"]["team"][0], "create");
    let can = post(
        &app,
        &member,
        "has-permission",
        json!({"permissions": {"invitation": ["create"]}}),
    )
    .await;
    assert_eq!(
        ok(&can)["success"],
        false,
        "the changed role applies at once"
    );
    let listed = get(&app, &member, "list-roles").await;
    assert_eq!(ok(&listed).as_array().unwrap().len(), 1);
    let one = get(&app, &member, "get-role?roleName=inviter").await;
    assert_eq!(ok(&one)["role"], "inviter");
    ok(&post(
        &app,
        &owner,
        "update-member-role",
        json!({"memberId": member_id, "role": "member"}),
    )
    .await);
    assert_eq!(
        ok(&post(&app, &owner, "delete-role", json!({"roleName": "inviter"})).await)["success"],
        true
    );
    get(&app, &member, "get-role?roleName=inviter")
        .await
        .assert_error(404, "ROLE_NOT_FOUND");

    // Removing the team ends its memberships and the active team.
    post(&app, &member, "remove-team", json!({"teamId": team}))
        .await
        .assert_error(403, "YOU_ARE_NOT_ALLOWED_TO_DELETE_THIS_TEAM");
    ok(&post(
        &app,
        &owner,
        "remove-team-member",
        json!({"teamId": team, "userId": member.id}),
    )
    .await);
    post(
        &app,
        &owner,
        "remove-team-member",
        json!({"teamId": team, "userId": member.id}),
    )
    .await
    .assert_error(403, "USER_IS_NOT_A_MEMBER_OF_THE_TEAM");
    ok(&post(&app, &owner, "remove-team", json!({"teamId": team})).await);
    let session = app.get("/get-session", Auth::Bearer(&member.token)).await;
    assert_eq!(session.body["session"]["activeTeamId"], Value::Null);
    assert_eq!(ok(&get(&app, &member, "list-teams").await), &json!([]));
}

async fn remember_active_picks_the_last_organization_at_sign_in(backend: Backend) {
    let app = spawn(backend, &[("organization.remember_active", "true")]).await;
    let owner = user(&app).await;
    let acme = organization(&app, &owner, "acme").await;
    organization(&app, &owner, "globex").await;
    ok(&post(&app, &owner, "set-active", json!({"organizationId": acme})).await);
    let token = app.sign_in_token(&owner.email, &owner.password).await;
    assert_eq!(active_organization(&app, &token).await, acme.as_str());
    let grant = crate::tokens::password_grant(&app, &owner.email, &owner.password).await;
    assert_eq!(claims_of(&grant)["org_id"], acme.as_str());

    let off = spawn(backend, &[]).await;
    let someone = user(&off).await;
    organization(&off, &someone, "acme").await;
    let token = off.sign_in_token(&someone.email, &someone.password).await;
    assert_eq!(
        active_organization(&off, &token).await,
        Value::Null,
        "off by default"
    );
}

async fn deleting_a_user_or_an_organization_removes_memberships(backend: Backend) {
    let app = spawn(backend, &[]).await;
    let (operator_id, operator_token) = crate::admin::user_with_role(&app, "admin").await;
    let owner = user(&app).await;
    let org = organization(&app, &owner, "acme").await;
    let admin = user(&app).await;
    join(&app, &owner, &admin, &org, json!("admin")).await;
    ok(&post(&app, &owner, "create-team", json!({"name": "T"})).await);
    ok(&post(
        &app,
        &owner,
        "create-role",
        json!({"role": "r", "permission": {"ac": ["read"]}}),
    )
    .await);
    ok(&post(
        &app,
        &owner,
        "invite-member",
        json!({"email": random_email(), "role": "member"}),
    )
    .await);

    let deleted = app
        .post(
            "/delete-user",
            Auth::Bearer(&owner.token),
            json!({"password": owner.password}),
        )
        .await;
    ok(&deleted);
    let full = get(
        &app,
        &admin,
        &format!("get-full-organization?organizationId={org}"),
    )
    .await;
    assert_eq!(
        ok(&full)["members"].as_array().unwrap().len(),
        1,
        "the admins stay"
    );
    ok(&post(
        &app,
        &admin,
        "update",
        json!({"data": {"name": "Still here"}}),
    )
    .await);
    post(&app, &admin, "delete", json!({"organizationId": org}))
        .await
        .assert_error(403, "YOU_ARE_NOT_ALLOWED_TO_DELETE_THIS_ORGANIZATION");
    // The trail says the organization lost its last owner, and, when an operator deletes the
    // admin too, who did it.
    ok(&app
        .post(
            "/admin/remove-user",
            Auth::Bearer(&operator_token),
            json!({"userId": admin.id}),
        )
        .await);
    let events = audit_events(&app, &operator_token, &format!("organizationId={org}")).await;
    let departure = |user_id: &str| {
        events
            .iter()
            .find(|e| e["kind"] == "member_removed" && e["userId"] == user_id)
            .unwrap_or_else(|| panic!("no member_removed for {user_id}: {events:?}"))
    };
    let owner_left = departure(&owner.id);
    assert!(
        owner_left["detail"]
            .as_str()
            .unwrap()
            .ends_with("account deleted, the last owner"),
        "{owner_left}"
    );
    assert_eq!(
        owner_left["actor"],
        Value::Null,
        "the owner deleted themselves"
    );
    let admin_left = departure(&admin.id);
    assert!(
        admin_left["detail"]
            .as_str()
            .unwrap()
            .ends_with(" account deleted"),
        "{admin_left}"
    );
    assert_eq!(admin_left["actor"], operator_id.as_str());

    let second = user(&app).await;
    let other = organization(&app, &second, "other").await;
    ok(&post(&app, &second, "create-team", json!({"name": "T"})).await);
    ok(&post(&app, &second, "delete", json!({"organizationId": other})).await);
    for table in [
        "organization_members",
        "organization_teams",
        "organization_roles",
        "organization_invitations",
    ] {
        assert_eq!(
            app.count(&format!("{table} WHERE organization_id = '{other}'"))
                .await,
            0,
            "{table}"
        );
    }
}

/// better-auth's own `organizationClient()` (tests/compat/organizations.test.mjs) against the
/// server, with a real SMTP server for the invitation and verification mails.
async fn the_official_organization_client_drives_the_whole_flow(backend: Backend) {
    let sink = SmtpSink::start().await;
    let smtp = sink.url();
    let app = spawn(backend, &[("smtp_url", smtp.as_str())]).await;
    let mailbox = crate::compat::serve_mailbox(sink).await;
    let run = crate::compat::run_node_args(
        &["--test", "organizations.test.mjs"],
        &[
            ("PORTCULLIS_URL", &app.url),
            ("PORTCULLIS_MAILBOX_URL", &mailbox),
        ],
    )
    .await;
    assert!(
        run.success,
        "organizationClient flow failed:\n{}",
        run.report
    );
    assert!(run.report.contains("# pass 1"), "{}", run.report);
    assert!(run.report.contains("# fail 0"), "{}", run.report);
}

async fn team_role_and_invitation_endpoints_check_the_callers_permission(backend: Backend) {
    let app = spawn(backend, &CUSTOM_ROLES).await;
    let c = cast(&app).await;
    let org = c.org.as_str();
    let who = [
        ("owner", &c.owner),
        ("admin", &c.admin),
        ("member", &c.member),
        ("deployer", &c.deployer),
        ("outsider", &c.outsider),
    ];
    let team = post(
        &app,
        &c.owner,
        "create-team",
        json!({"organizationId": org, "name": "T"}),
    )
    .await;
    let team = ok(&team)["id"].as_str().unwrap().to_owned();
    let role = json!({"organizationId": org, "role": "r1", "permission": {"ac": ["read"]}});
    ok(&post(&app, &c.owner, "create-role", role).await);

    // (endpoint, body, allowed, code for members without the permission, status for outsiders)
    let rows: Vec<(&str, Value, &[&str], &str, u16)> = vec![
        (
            "update-team",
            json!({"teamId": team, "data": {"organizationId": org, "name": "T2"}}),
            &["owner", "admin"],
            "YOU_ARE_NOT_ALLOWED_TO_UPDATE_THIS_TEAM",
            403,
        ),
        (
            "add-team-member",
            json!({"teamId": team, "userId": c.member.id}),
            &["owner", "admin"],
            "YOU_ARE_NOT_ALLOWED_TO_CREATE_A_NEW_TEAM_MEMBER",
            404,
        ),
        (
            "update-role",
            json!({"organizationId": org, "roleName": "r1", "data": {"permission": {"ac": ["read"]}}}),
            &["owner", "admin"],
            "YOU_ARE_NOT_ALLOWED_TO_UPDATE_A_ROLE",
            403,
        ),
        (
            "set-active",
            json!({"organizationId": org}),
            &["owner", "admin", "member", "deployer"],
            "",
            403,
        ),
        (
            "has-permission",
            json!({"organizationId": org, "permissions": {"ac": ["read"]}}),
            &["owner", "admin", "member", "deployer"],
            "",
            403,
        ),
    ];
    for (path, body, allowed, code, outsider) in &rows {
        for (name, caller) in who {
            let reply = post(&app, caller, path, body.clone()).await;
            if allowed.contains(&name) {
                assert_eq!(reply.status, 200, "{name} {path}: {}", reply.body);
            } else if name == "outsider" {
                assert_eq!(reply.status, *outsider, "{name} {path}: {}", reply.body);
                assert!(reply.body.get("code").is_some());
            } else {
                reply.assert_error(403, code);
            }
        }
    }
    for (query, allowed, code) in [
        (
            format!("list-invitations?organizationId={org}"),
            &["owner", "admin"][..],
            "YOU_ARE_NOT_ALLOWED_TO_LIST_INVITATIONS",
        ),
        (
            format!("get-role?organizationId={org}&roleName=r1"),
            &["owner", "admin", "member", "deployer"][..],
            "",
        ),
        (
            format!("list-team-members?teamId={team}"),
            &["member"][..],
            "USER_IS_NOT_A_MEMBER_OF_THE_TEAM",
        ),
    ] {
        for (name, caller) in who {
            let reply = get(&app, caller, &query).await;
            if allowed.contains(&name) {
                assert_eq!(reply.status, 200, "{name} {query}: {}", reply.body);
            } else if name == "outsider" || code.is_empty() {
                assert_eq!(reply.status, 403, "{name} {query}: {}", reply.body);
            } else {
                reply.assert_error(403, code);
            }
        }
    }
    // Destructive ones last: members without the permission first, then one who has it.
    for (path, body, code) in [
        (
            "remove-team-member",
            json!({"teamId": team, "userId": c.member.id}),
            "YOU_ARE_NOT_ALLOWED_TO_REMOVE_A_TEAM_MEMBER",
        ),
        (
            "remove-team",
            json!({"organizationId": org, "teamId": team}),
            "YOU_ARE_NOT_ALLOWED_TO_DELETE_THIS_TEAM",
        ),
        (
            "delete-role",
            json!({"organizationId": org, "roleName": "r1"}),
            "YOU_ARE_NOT_ALLOWED_TO_DELETE_A_ROLE",
        ),
    ] {
        for caller in [&c.member, &c.deployer] {
            post(&app, caller, path, body.clone())
                .await
                .assert_error(403, code);
        }
        // Another organization's team or role: 403 or 404, never 400.
        let reply = post(&app, &c.outsider, path, body.clone()).await;
        assert!(
            [403, 404].contains(&reply.status) && reply.body.get("code").is_some(),
            "outsider {path}: {}",
            reply.body
        );
        ok(&post(&app, &c.admin, path, body.clone()).await);
    }
}
