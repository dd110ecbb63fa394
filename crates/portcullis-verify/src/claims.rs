//! The claims of a Portcullis access token and their validation.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::error::VerifyError;

/// The claims of a verified Portcullis access token (RFC 9068 profile).
///
/// Only returned by [`Verifier::verify`](crate::Verifier::verify) after the
/// signature, issuer, audience, times and revocation state were checked.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Claims {
    /// Issuer: the Portcullis base URL.
    pub iss: String,
    /// Subject: the user id.
    pub sub: String,
    /// Audience(s). Serialized as a string when there is exactly one.
    #[serde(with = "audience")]
    pub aud: Vec<String>,
    /// Expiry, seconds since the Unix epoch.
    pub exp: i64,
    /// Issued at, seconds since the Unix epoch.
    pub iat: i64,
    /// Not before, seconds since the Unix epoch.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nbf: Option<i64>,
    /// Unique token id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jti: Option<String>,
    /// The Portcullis session the token belongs to.
    pub sid: String,
    /// The user's email address.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    /// Whether the email address was verified.
    #[serde(default)]
    pub email_verified: bool,
    /// The user's role (e.g. `user`, `admin`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role: Option<String>,
    /// Any other claims, untouched.
    #[serde(flatten)]
    pub extra: serde_json::Map<String, Value>,
}

impl Claims {
    fn extra_str(&self, name: &str) -> Option<&str> {
        self.extra.get(name).and_then(Value::as_str)
    }

    /// The session's active organization, if it has one (`org_id`).
    pub fn org_id(&self) -> Option<&str> {
        self.extra_str("org_id")
    }

    /// The active organization's slug (`org_slug`).
    pub fn org_slug(&self) -> Option<&str> {
        self.extra_str("org_slug")
    }

    /// The user's roles in the active organization, comma-separated as stored (`org_role`).
    pub fn org_role(&self) -> Option<&str> {
        self.extra_str("org_role")
    }

    /// The session's active team (`team_id`).
    pub fn team_id(&self) -> Option<&str> {
        self.extra_str("team_id")
    }

    /// Whether the token's roles in its active organization allow `request`, by `roles` (e.g.
    /// [`access::organization::default_roles`](crate::access::organization::default_roles) plus
    /// the application's own): false without an active organization. Roles an organization
    /// defined for itself through the API are not in the token; ask the server for those.
    pub fn has_permission(
        &self,
        roles: &portcullis_access::Roles,
        request: &portcullis_access::Request,
    ) -> bool {
        self.org_role()
            .is_some_and(|role_list| roles.allow(role_list, request))
    }
}

mod audience {
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    pub fn serialize<S: Serializer>(aud: &[String], s: S) -> Result<S::Ok, S::Error> {
        match aud {
            [one] => one.serialize(s),
            many => many.serialize(s),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum OneOrMany {
            One(String),
            Many(Vec<String>),
        }
        Ok(match OneOrMany::deserialize(d)? {
            OneOrMany::One(a) => vec![a],
            OneOrMany::Many(a) => a,
        })
    }
}

/// What the claim checks need to know.
pub(crate) struct Expect<'a> {
    pub(crate) issuer: &'a str,
    pub(crate) audience: &'a str,
    pub(crate) now: i64,
    pub(crate) leeway: i64,
}

fn string_claim(v: Option<&Value>, name: &'static str) -> Result<Option<String>, VerifyError> {
    match v {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(_) => Err(VerifyError::Malformed(format!("{name} is not a string"))),
    }
}

/// A NumericDate (RFC 7519 §2): a JSON number of seconds, possibly
/// fractional (rounded down here).
fn date_claim(v: Option<&Value>, name: &'static str) -> Result<Option<i64>, VerifyError> {
    match v {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Number(n)) => match (n.as_i64(), n.as_f64()) {
            (Some(i), _) => Ok(Some(i)),
            (None, Some(f)) if f.is_finite() && f.abs() < 1e15 => Ok(Some(f.floor() as i64)),
            _ => Err(VerifyError::Malformed(format!("{name} is out of range"))),
        },
        Some(_) => Err(VerifyError::Malformed(format!("{name} is not a number"))),
    }
}

/// Checks the claims of a token whose signature was already verified, in the
/// order iss, aud, exp, nbf, iat, sub, sid, and builds [`Claims`].
pub(crate) fn validate(c: BTreeMap<String, Value>, e: &Expect<'_>) -> Result<Claims, VerifyError> {
    // iss: exact string match.
    match c.get("iss") {
        Some(Value::String(iss)) if iss == e.issuer => {}
        _ => return Err(VerifyError::WrongIssuer),
    }
    // aud: a string equal to ours, or an array containing it.
    let aud_ok = match c.get("aud") {
        Some(Value::String(a)) => a == e.audience,
        Some(Value::Array(list)) => list.iter().any(|a| a.as_str() == Some(e.audience)),
        _ => false,
    };
    if !aud_ok {
        return Err(VerifyError::WrongAudience);
    }
    let exp = date_claim(c.get("exp"), "exp")?.ok_or(VerifyError::MissingClaim("exp"))?;
    if e.now >= exp.saturating_add(e.leeway) {
        return Err(VerifyError::Expired);
    }
    let nbf = date_claim(c.get("nbf"), "nbf")?;
    if let Some(nbf) = nbf {
        if nbf > e.now.saturating_add(e.leeway) {
            return Err(VerifyError::NotYetValid);
        }
    }
    let iat = date_claim(c.get("iat"), "iat")?.ok_or(VerifyError::MissingClaim("iat"))?;
    if iat > e.now.saturating_add(e.leeway) {
        return Err(VerifyError::NotYetValid);
    }
    for name in ["sub", "sid"] {
        match string_claim(c.get(name), name)? {
            Some(s) if !s.is_empty() => {}
            _ => return Err(VerifyError::MissingClaim(name)),
        }
    }
    let mut map: serde_json::Map<String, Value> = c.into_iter().collect();
    // Normalise the dates to integers so that the i64 fields accept them.
    map.insert("exp".into(), exp.into());
    map.insert("iat".into(), iat.into());
    match nbf {
        Some(nbf) => map.insert("nbf".into(), nbf.into()),
        None => map.remove("nbf"),
    };
    serde_json::from_value(Value::Object(map))
        .map_err(|err| VerifyError::Malformed(format!("claims: {err}")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use portcullis_access::{organization, Request};

    fn claims(extra: Value) -> Claims {
        let mut base = serde_json::json!({
            "iss": "https://auth.example.com", "sub": "u1", "aud": "api", "exp": 2, "iat": 1, "sid": "s1"
        });
        for (k, v) in extra.as_object().unwrap() {
            base[k] = v.clone();
        }
        serde_json::from_value(base).unwrap()
    }

    #[test]
    fn organization_claims_and_permissions_read_offline() {
        let roles = organization::default_roles();
        let invite = Request::all([("invitation", ["create"])]);
        let admin = claims(serde_json::json!({
            "org_id": "o1", "org_slug": "acme", "org_role": "member,admin", "team_id": "t1"
        }));
        assert_eq!(admin.org_id(), Some("o1"));
        assert_eq!(admin.org_slug(), Some("acme"));
        assert_eq!(admin.team_id(), Some("t1"));
        assert!(admin.has_permission(&roles, &invite));
        let member = claims(serde_json::json!({"org_id": "o1", "org_role": "member"}));
        assert!(!member.has_permission(&roles, &invite));
        let none = claims(serde_json::json!({}));
        assert_eq!(none.org_id(), None);
        assert!(!none.has_permission(&roles, &invite));
    }
}
