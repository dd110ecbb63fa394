//! The error type of this crate.

/// Why a token was refused, or why the verifier could not be built.
///
/// Every variant is a distinct reason so that services can log precisely; the
/// [`code`](VerifyError::code) gives the stable machine-readable code used in
/// HTTP answers. The `Display` text never echoes more than a few characters of
/// attacker-controlled input.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum VerifyError {
    /// Not a three-part JWS compact serialization of base64url JSON objects,
    /// too long, duplicate JSON members, or a claim of the wrong JSON type.
    #[error("malformed token: {0}")]
    Malformed(String),
    /// The header `alg` is not `EdDSA` or `ES256` (this includes `none` in
    /// any spelling, every `HS*`, `RS*` and `PS*`), or it does not match the
    /// algorithm bound to the key named by `kid`.
    #[error("unsupported or mismatched algorithm: {0}")]
    UnsupportedAlgorithm(String),
    /// The header carries a parameter this verifier refuses
    /// (`jku`, `x5u`, `jwk`, `x5c`, `crit`, `cty`, ...).
    #[error("forbidden header parameter: {0}")]
    ForbiddenHeader(String),
    /// The header `kid` is missing, longer than 128 characters or contains
    /// characters outside the base64url alphabet.
    #[error("missing or invalid key id")]
    InvalidKeyId,
    /// No key with this `kid` is published in the JWKS, even after a refetch.
    #[error("unknown signing key {0:?}")]
    UnknownKey(String),
    /// The signature does not verify with the published key.
    #[error("bad signature")]
    BadSignature,
    /// The header `typ` is not `at+jwt` (refresh tokens, ID tokens and plain
    /// JWTs are never access tokens).
    #[error("not an access token (typ must be at+jwt)")]
    WrongType,
    /// `iss` is missing or differs from the configured issuer.
    #[error("wrong issuer")]
    WrongIssuer,
    /// `aud` is missing or does not contain the configured audience.
    #[error("wrong audience")]
    WrongAudience,
    /// `exp` is in the past (beyond the leeway).
    #[error("token expired")]
    Expired,
    /// `nbf` or `iat` is in the future (beyond the leeway).
    #[error("token not yet valid")]
    NotYetValid,
    /// A required claim (`sub`, `sid`, `exp`, `iat`) is missing or empty.
    #[error("missing claim {0}")]
    MissingClaim(&'static str),
    /// The session (`sid`) was revoked, or the user's tokens issued before a
    /// time were revoked.
    #[error("token revoked")]
    Revoked,
    /// [`VerifierConfig::max_feed_staleness`](crate::VerifierConfig::max_feed_staleness)
    /// is set and the revocation feed has not been read successfully for longer.
    #[error("revocation feed unavailable")]
    FeedUnavailable,
    /// Fetching or parsing the JWKS failed.
    #[error("JWKS: {0}")]
    Jwks(String),
    /// Fetching or parsing the revocation feed failed.
    #[error("revocation feed: {0}")]
    Feed(String),
    /// The configuration is invalid (bad URL, bad PEM, ...).
    #[error("configuration: {0}")]
    Config(String),
}

impl VerifyError {
    /// A stable machine-readable code, as sent in the `code` member of the
    /// extractor's JSON error body.
    ///
    /// `TOKEN_EXPIRED` and `TOKEN_REVOKED` are distinguished because clients
    /// act differently on them (refresh vs. sign in again); every other token
    /// problem is `INVALID_TOKEN`. Errors that are the verifier's fault, not
    /// the token's, are `TOKEN_VERIFICATION_UNAVAILABLE`.
    pub fn code(&self) -> &'static str {
        match self {
            VerifyError::Expired => "TOKEN_EXPIRED",
            VerifyError::Revoked => "TOKEN_REVOKED",
            VerifyError::FeedUnavailable
            | VerifyError::Jwks(_)
            | VerifyError::Feed(_)
            | VerifyError::Config(_) => "TOKEN_VERIFICATION_UNAVAILABLE",
            _ => "INVALID_TOKEN",
        }
    }

    /// True when the failure is on the verifier's side (JWKS or feed
    /// unreachable, bad configuration) rather than a problem with the token.
    pub fn is_unavailable(&self) -> bool {
        self.code() == "TOKEN_VERIFICATION_UNAVAILABLE"
    }
}

/// Shortens attacker-controlled text before it goes into an error message.
pub(crate) fn snippet(s: &str) -> String {
    const MAX: usize = 32;
    let clean: String = s
        .chars()
        .map(|c| if c.is_control() { '?' } else { c })
        .take(MAX + 1)
        .collect();
    if clean.chars().count() > MAX {
        let mut t: String = clean.chars().take(MAX).collect();
        t.push('…');
        t
    } else {
        clean
    }
}
