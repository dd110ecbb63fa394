//! The OAuth 2 / OpenID Connect client side: PKCE, the authorization URL, the code exchange, ID
//! token verification and the profile each kind of provider gives.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde::Deserialize;
use serde_json::Value;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use super::providers::{Endpoints, Fault, Provider, Social};
use super::settings::{Kind, Mapping};
use crate::clock::Clock;

/// Leeway for `exp` and `iat` against the provider's clock.
const LEEWAY_SECS: i64 = 60;
/// Only these signature algorithms are accepted in ID tokens (never `none`, never HMAC).
const ALGORITHMS: &[Algorithm] = &[
    Algorithm::RS256,
    Algorithm::RS384,
    Algorithm::RS512,
    Algorithm::PS256,
    Algorithm::PS384,
    Algorithm::PS512,
    Algorithm::ES256,
    Algorithm::ES384,
    Algorithm::EdDSA,
];

/// Query parameters the server sets itself; `additionalParams` may not name them.
pub const RESERVED_PARAMS: &[&str] = &[
    "state",
    "client_id",
    "redirect_uri",
    "response_type",
    "response_mode",
    "code_challenge",
    "code_challenge_method",
    "nonce",
    "scope",
    "client_secret",
    "code",
    "code_verifier",
];

/// RFC 7636 S256: base64url(SHA-256(verifier)).
pub fn code_challenge(verifier: &str) -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()))
}

pub struct AuthorizationRequest<'a> {
    pub redirect_uri: &'a str,
    pub state: &'a str,
    pub code_verifier: &'a str,
    pub nonce: &'a str,
    pub scopes: &'a [String],
    pub login_hint: Option<&'a str>,
    pub extra: &'a [(String, String)],
}

pub fn authorization_url(
    provider: &Provider,
    endpoints: &Endpoints,
    request: &AuthorizationRequest<'_>,
) -> String {
    let settings = &provider.settings;
    let mut url = endpoints.authorization.clone();
    {
        let mut query = url.query_pairs_mut();
        query
            .append_pair("response_type", "code")
            .append_pair("client_id", &settings.client_id)
            .append_pair("redirect_uri", request.redirect_uri)
            .append_pair("state", request.state)
            .append_pair("code_challenge", &code_challenge(request.code_verifier))
            .append_pair("code_challenge_method", "S256");
        if !request.scopes.is_empty() {
            query.append_pair("scope", &request.scopes.join(" "));
        }
        if matches!(settings.kind, Kind::Oidc { .. }) {
            query.append_pair("nonce", request.nonce);
        }
        if settings.form_post {
            query.append_pair("response_mode", "form_post");
        }
        if let Some(hint) = request.login_hint {
            let name = match settings.kind {
                Kind::Github { .. } => "login",
                _ => "login_hint",
            };
            query.append_pair(name, hint);
        }
        for (name, value) in request.extra {
            query.append_pair(name, value);
        }
    }
    url.to_string()
}

/// What the token endpoint answered.
#[derive(Debug, Default, Deserialize)]
pub struct TokenSet {
    pub access_token: Option<String>,
    pub refresh_token: Option<String>,
    pub id_token: Option<String>,
    pub expires_in: Option<i64>,
    pub scope: Option<String>,
}

/// Exchanges the code (with the PKCE verifier) at the token endpoint.
pub async fn exchange_code(
    social: &Social,
    provider: &Provider,
    endpoints: &Endpoints,
    client_secret: Option<&str>,
    code: &str,
    code_verifier: &str,
    redirect_uri: &str,
) -> Result<TokenSet, Fault> {
    let mut form = vec![
        ("grant_type", "authorization_code"),
        ("code", code),
        ("redirect_uri", redirect_uri),
        ("code_verifier", code_verifier),
        ("client_id", provider.settings.client_id.as_str()),
    ];
    if let Some(secret) = client_secret {
        form.push(("client_secret", secret));
    }
    let answer = social.post_form(&endpoints.token, &form).await?;
    // GitHub answers some errors with 200 and an `error` field.
    if let Some(error) = answer.get("error").and_then(Value::as_str) {
        return Err(Fault::Refused(error.chars().take(64).collect()));
    }
    serde_json::from_value(answer).map_err(|e| Fault::Unavailable(format!("token answer: {e}")))
}

/// The claims of a verified ID token this server reads.
#[derive(Debug, Clone, Deserialize)]
pub struct IdClaims {
    pub sub: String,
    pub iss: String,
    pub aud: Value,
    pub exp: i64,
    pub iat: i64,
    pub azp: Option<String>,
    pub nonce: Option<String>,
    pub email: Option<String>,
    /// A boolean, or Apple's `"true"`.
    pub email_verified: Option<Value>,
    pub name: Option<String>,
    pub given_name: Option<String>,
    pub family_name: Option<String>,
    pub picture: Option<String>,
}

/// Why an ID token was refused (for the log; callers answer one generic error).
#[derive(Debug)]
pub enum IdTokenError {
    Fault(Fault),
    Invalid(&'static str),
}

impl From<Fault> for IdTokenError {
    fn from(fault: Fault) -> Self {
        IdTokenError::Fault(fault)
    }
}

/// What an ID token must say.
pub struct Expected<'a> {
    pub issuer: &'a str,
    /// Accepted audiences: the client id, and for native sign-in the extra configured ones.
    pub audiences: &'a [&'a str],
    pub nonce: Option<&'a str>,
}

/// Verifies an ID token: the signature with a key from the provider's JWKS (the algorithm from
/// an allow-list, matching the key), then `iss`, `aud`, `azp`, `exp`, `iat` and `nonce`. Times are
/// the server clock's.
pub async fn verify_id_token(
    social: &Social,
    provider: &Provider,
    token: &str,
    expected: &Expected<'_>,
    clock: &Clock,
) -> Result<IdClaims, IdTokenError> {
    let header =
        jsonwebtoken::decode_header(token).map_err(|_| IdTokenError::Invalid("malformed"))?;
    if !ALGORITHMS.contains(&header.alg) {
        return Err(IdTokenError::Invalid("algorithm not allowed"));
    }
    let kid = header.kid.as_deref();
    if kid.is_some_and(|k| k.len() > 256 || k.chars().any(|c| c.is_control())) {
        return Err(IdTokenError::Invalid("bad kid"));
    }
    let keys = social.keys(provider, kid, clock).await?;
    let jwk = match kid {
        Some(kid) => keys.find(kid),
        None if keys.keys.len() == 1 => keys.keys.first(),
        None => None,
    }
    .ok_or(IdTokenError::Invalid("no key for kid"))?;
    if let Some(key_alg) = jwk.common.key_algorithm {
        if format!("{key_alg:?}") != format!("{:?}", header.alg) {
            return Err(IdTokenError::Invalid("algorithm does not match the key"));
        }
    }
    let key = DecodingKey::from_jwk(jwk).map_err(|_| IdTokenError::Invalid("unusable key"))?;
    let mut validation = Validation::new(header.alg);
    // Times, audience and issuer are checked below, against the server clock.
    validation.validate_exp = false;
    validation.validate_nbf = false;
    validation.validate_aud = false;
    validation.required_spec_claims.clear();
    let claims = jsonwebtoken::decode::<IdClaims>(token, &key, &validation)
        .map_err(|_| IdTokenError::Invalid("signature or claims"))?
        .claims;
    // Google documents both spellings of its issuer in ID tokens.
    let google_short =
        expected.issuer == "https://accounts.google.com" && claims.iss == "accounts.google.com";
    if claims.iss != expected.issuer && !google_short {
        return Err(IdTokenError::Invalid("issuer"));
    }
    let audiences: Vec<&str> = match &claims.aud {
        Value::String(one) => vec![one.as_str()],
        Value::Array(many) => many.iter().filter_map(Value::as_str).collect(),
        _ => vec![],
    };
    if !audiences.iter().any(|a| expected.audiences.contains(a)) {
        return Err(IdTokenError::Invalid("audience"));
    }
    // OIDC Core §3.1.3.7: with several audiences, azp names the client it was issued to.
    match &claims.azp {
        Some(azp) if !expected.audiences.contains(&azp.as_str()) => {
            return Err(IdTokenError::Invalid("azp"))
        }
        None if audiences.len() > 1 => return Err(IdTokenError::Invalid("azp missing")),
        _ => {}
    }
    let now = clock.now_secs();
    if claims.exp + LEEWAY_SECS <= now {
        return Err(IdTokenError::Invalid("expired"));
    }
    if claims.iat > now + LEEWAY_SECS {
        return Err(IdTokenError::Invalid("issued in the future"));
    }
    if let Some(nonce) = expected.nonce {
        let given = claims.nonce.as_deref().unwrap_or("");
        if !bool::from(given.as_bytes().ct_eq(nonce.as_bytes())) {
            return Err(IdTokenError::Invalid("nonce"));
        }
    }
    if claims.sub.is_empty() || claims.sub.len() > 255 {
        return Err(IdTokenError::Invalid("sub"));
    }
    Ok(claims)
}

/// Who the provider says the user is.
#[derive(Debug, Clone, Default)]
pub struct Profile {
    /// The provider's subject: the account's key, with the provider id.
    pub subject: String,
    pub email: Option<String>,
    pub email_verified: bool,
    pub name: Option<String>,
    pub image: Option<String>,
    /// The provider's own profile document (account-info).
    pub raw: Value,
}

pub fn truthy(value: Option<&Value>) -> bool {
    match value {
        Some(Value::Bool(b)) => *b,
        Some(Value::String(s)) => s.eq_ignore_ascii_case("true"),
        _ => false,
    }
}

impl Profile {
    pub fn from_id_claims(claims: &IdClaims) -> Self {
        let name = claims.name.clone().or_else(|| {
            let parts: Vec<&str> = [claims.given_name.as_deref(), claims.family_name.as_deref()]
                .into_iter()
                .flatten()
                .collect();
            (!parts.is_empty()).then(|| parts.join(" "))
        });
        Self {
            subject: claims.sub.clone(),
            email: claims.email.clone(),
            email_verified: truthy(claims.email_verified.as_ref()),
            name,
            image: claims.picture.clone(),
            raw: serde_json::json!({
                "sub": claims.sub,
                "email": claims.email,
                "email_verified": truthy(claims.email_verified.as_ref()),
                "name": claims.name,
                "picture": claims.picture,
            }),
        }
    }
}

/// The profile after a code exchange, by the provider's kind.
pub async fn fetch_profile(
    social: &Social,
    provider: &Provider,
    endpoints: &Endpoints,
    tokens: &TokenSet,
    nonce: &str,
    clock: &Clock,
) -> Result<Profile, ProfileError> {
    let settings = &provider.settings;
    match &settings.kind {
        Kind::Oidc { .. } => {
            let id_token = tokens.id_token.as_deref().ok_or(ProfileError::NoIdToken)?;
            let issuer = endpoints.issuer.as_deref().unwrap_or_default();
            let claims = verify_id_token(
                social,
                provider,
                id_token,
                &Expected {
                    issuer,
                    audiences: &[settings.client_id.as_str()],
                    nonce: Some(nonce),
                },
                clock,
            )
            .await
            .map_err(ProfileError::IdToken)?;
            let mut profile = Profile::from_id_claims(&claims);
            // The ID token may carry only `sub`: the rest comes from userinfo, for the same subject.
            if let (Some(url), Some(access)) = (&endpoints.userinfo, &tokens.access_token) {
                if profile.email.is_none() || profile.name.is_none() {
                    let info = social.get_json(url, Some(access)).await?;
                    if info.get("sub").and_then(Value::as_str) == Some(profile.subject.as_str()) {
                        let text = |n: &str| info.get(n).and_then(Value::as_str).map(str::to_owned);
                        if profile.email.is_none() {
                            profile.email = text("email");
                            profile.email_verified = truthy(info.get("email_verified"));
                        }
                        profile.name = profile.name.or_else(|| text("name"));
                        profile.image = profile.image.or_else(|| text("picture"));
                        profile.raw = info;
                    }
                }
            }
            Ok(profile)
        }
        Kind::Github { .. } => {
            let access = tokens
                .access_token
                .as_deref()
                .ok_or(ProfileError::NoAccessToken)?;
            let userinfo = endpoints
                .userinfo
                .as_ref()
                .ok_or(ProfileError::NoAccessToken)?;
            let user = social.get_json(userinfo, Some(access)).await?;
            let subject = id_text(user.get("id")).ok_or(ProfileError::NoSubject)?;
            let mut email = None;
            let mut email_verified = false;
            if let Some(url) = &endpoints.emails {
                let emails = social.get_json(url, Some(access)).await?;
                let list = emails.as_array().cloned().unwrap_or_default();
                let primary = list
                    .iter()
                    .find(|e| truthy(e.get("primary")))
                    .or_else(|| list.first());
                if let Some(entry) = primary {
                    email = entry
                        .get("email")
                        .and_then(Value::as_str)
                        .map(str::to_owned);
                    email_verified = truthy(entry.get("primary")) && truthy(entry.get("verified"));
                }
            }
            let email =
                email.or_else(|| user.get("email").and_then(Value::as_str).map(str::to_owned));
            let text = |n: &str| user.get(n).and_then(Value::as_str).map(str::to_owned);
            Ok(Profile {
                subject,
                email,
                email_verified,
                name: text("name").or_else(|| text("login")),
                image: text("avatar_url"),
                raw: user,
            })
        }
        Kind::OAuth2 { mapping, .. } => {
            let access = tokens
                .access_token
                .as_deref()
                .ok_or(ProfileError::NoAccessToken)?;
            let url = endpoints
                .userinfo
                .as_ref()
                .ok_or(ProfileError::NoAccessToken)?;
            let info = social.get_json(url, Some(access)).await?;
            mapped_profile(info, mapping)
        }
    }
}

fn mapped_profile(info: Value, mapping: &Mapping) -> Result<Profile, ProfileError> {
    let at = |pointer: &Option<String>| pointer.as_deref().and_then(|p| info.pointer(p));
    let text = |pointer: &Option<String>| at(pointer).and_then(Value::as_str).map(str::to_owned);
    let subject = id_text(info.pointer(&mapping.id)).ok_or(ProfileError::NoSubject)?;
    Ok(Profile {
        subject,
        email: info
            .pointer(&mapping.email)
            .and_then(Value::as_str)
            .map(str::to_owned),
        email_verified: truthy(at(&mapping.email_verified)),
        name: text(&mapping.name),
        image: text(&mapping.image),
        raw: info.clone(),
    })
}

/// A subject as text: providers send strings or numbers (GitHub).
fn id_text(value: Option<&Value>) -> Option<String> {
    match value? {
        Value::String(s) if !s.is_empty() && s.len() <= 255 => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

#[derive(Debug)]
pub enum ProfileError {
    Fault(Fault),
    IdToken(IdTokenError),
    NoIdToken,
    NoAccessToken,
    NoSubject,
}

impl From<Fault> for ProfileError {
    fn from(fault: Fault) -> Self {
        ProfileError::Fault(fault)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pkce_s256_matches_rfc_7636_appendix_b() {
        assert_eq!(
            code_challenge("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"),
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
        );
    }

    #[test]
    fn mapped_profiles_read_pointers() {
        let mapping = Mapping {
            id: "/data/id".into(),
            email: "/data/mail".into(),
            email_verified: Some("/data/ok".into()),
            name: Some("/data/name".into()),
            image: None,
        };
        let info =
            serde_json::json!({"data": {"id": 42, "mail": "a@b.example", "ok": true, "name": "A"}});
        let profile = mapped_profile(info, &mapping).unwrap();
        assert_eq!(profile.subject, "42");
        assert!(profile.email_verified);
        assert_eq!(profile.name.as_deref(), Some("A"));
        assert!(mapped_profile(serde_json::json!({}), &mapping).is_err());
    }
}
