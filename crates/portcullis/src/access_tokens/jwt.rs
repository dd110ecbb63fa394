//! Access tokens as JWTs (RFC 9068): issuing and verifying them.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use jsonwebtoken::{Algorithm, Header, Validation};
use serde::{Deserialize, Serialize};

use crate::crypto::tokens::random_id;

use crate::state::AppState;
use crate::users::User;

pub const TYPE: &str = "at+jwt";
/// Clock skew tolerated on `exp`, `nbf` and `iat`.
pub const LEEWAY_SECS: u64 = 5;

#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct AccessClaims {
    pub iss: String,
    pub sub: String,
    pub aud: String,
    pub exp: i64,
    pub iat: i64,
    pub nbf: i64,
    pub jti: String,
    /// The session this token belongs to: revoking the session revokes the token.
    pub sid: String,
    pub email: String,
    pub email_verified: bool,
    pub role: String,
    /// The session's active organization (absent without one).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub org_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub org_slug: Option<String>,
    /// The member's roles in it, comma-separated, as stored.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub org_role: Option<String>,
    /// The session's active team.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub team_id: Option<String>,
}

/// What a token says about the session's active organization (read when it is issued).
#[derive(Debug, Clone)]
pub struct OrganizationClaims {
    pub org_id: String,
    pub org_slug: String,
    pub org_role: String,
    pub team_id: Option<String>,
}

/// Signs an access token for the live session `session_id` of `user`, which ends at
/// `session_ends_at` (unix ms). The token never outlives the session (idle or absolute expiry), so
/// a session that lapses unrevoked leaves no live token behind.
pub async fn issue(
    state: &AppState,
    session_id: &str,
    session_ends_at: i64,
    user: &User,
    organization: Option<OrganizationClaims>,
) -> anyhow::Result<(String, AccessClaims)> {
    let keys = state.keys.keys().await;
    let now_secs = state.clock.now_secs();
    let ttl = i64::try_from(state.config.access_tokens.access_ttl.as_secs()).unwrap_or(i64::MAX);
    let claims = AccessClaims {
        iss: state.config.issuer(),
        sub: user.id.clone(),
        aud: state.config.access_tokens.audience.clone(),
        exp: (now_secs + ttl).min(session_ends_at / 1000),
        iat: now_secs,
        nbf: now_secs,
        jti: random_id(),
        sid: session_id.to_owned(),
        email: user.email.clone(),
        email_verified: user.email_verified,
        role: user.role.clone(),
        org_id: organization.as_ref().map(|o| o.org_id.clone()),
        org_slug: organization.as_ref().map(|o| o.org_slug.clone()),
        org_role: organization.as_ref().map(|o| o.org_role.clone()),
        team_id: organization.and_then(|o| o.team_id),
    };
    let mut header = Header::new(keys.signing.alg);
    header.typ = Some(TYPE.to_owned());
    header.kid = Some(keys.signing.kid.clone());
    // The compact serialization (RFC 7515 §7.1), signed by the key pair held in memory.
    let message = format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(serde_json::to_vec(&header)?),
        URL_SAFE_NO_PAD.encode(serde_json::to_vec(&claims)?)
    );
    let signature = keys.signing.sign(message.as_bytes())?;
    let token = format!("{message}.{}", URL_SAFE_NO_PAD.encode(signature));
    Ok((token, claims))
}

/// True for a string shaped like a compact JWS (three base64url parts, a JSON header).
pub fn looks_like_jwt(token: &str) -> bool {
    token.starts_with("eyJ") && token.split('.').count() == 3
}

/// Verifies an access token this server issued: header rules first, signature before any claim,
/// then type, issuer, audience and times. Revocation (is the session live?) is the caller's.
pub async fn verify(state: &AppState, token: &str) -> Option<AccessClaims> {
    let header = strict_header(token)?;
    let keys = state.keys.keys().await;
    let (key_alg, key) = keys.verifying.get(header.kid.as_deref()?)?;
    if *key_alg != header.alg {
        return None;
    }
    let mut validation = Validation::new(*key_alg);
    // Times are checked below against the server's clock, not the library's reading of the
    // system clock: one clock decides every lifetime.
    validation.validate_exp = false;
    validation.validate_nbf = false;
    validation.set_issuer(&[state.config.issuer()]);
    validation.set_audience(&[&state.config.access_tokens.audience]);
    validation.set_required_spec_claims(&["exp", "iat", "nbf", "iss", "aud", "sub"]);
    let data = jsonwebtoken::decode::<AccessClaims>(token, key, &validation).ok()?;
    within_lifetime(&data.claims, state.clock.now_secs()).then_some(data.claims)
}

/// `exp` not passed, `nbf` and `iat` not in the future, each with `LEEWAY_SECS` of clock skew.
fn within_lifetime(claims: &AccessClaims, now_secs: i64) -> bool {
    let leeway = i64::try_from(LEEWAY_SECS).unwrap_or(0);
    now_secs < claims.exp + leeway
        && claims.nbf <= now_secs + leeway
        && claims.iat <= now_secs + leeway
}

/// The header, if it is one we accept: EdDSA or ES256, `typ: at+jwt`, a sane `kid`, and none of
/// the members that would let a token choose its own key (`jku`, `jwk`, `x5u`, `x5c`) or demand
/// extensions (`crit`).
fn strict_header(token: &str) -> Option<Header> {
    let raw = URL_SAFE_NO_PAD.decode(token.split('.').next()?).ok()?;
    let json: serde_json::Value = serde_json::from_slice(&raw).ok()?;
    let object = json.as_object()?;
    if ["jku", "jwk", "x5u", "x5c", "crit"]
        .iter()
        .any(|m| object.contains_key(*m))
    {
        return None;
    }
    if !matches!(object.get("alg")?.as_str()?, "EdDSA" | "ES256") {
        return None;
    }
    let typ = object.get("typ")?.as_str()?;
    if !(typ.eq_ignore_ascii_case(TYPE) || typ.eq_ignore_ascii_case("application/at+jwt")) {
        return None;
    }
    let kid = object.get("kid")?.as_str()?;
    if kid.is_empty()
        || kid.len() > 128
        || !kid
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    {
        return None;
    }
    let header: Header = serde_json::from_value(json).ok()?;
    matches!(header.alg, Algorithm::EdDSA | Algorithm::ES256).then_some(header)
}
