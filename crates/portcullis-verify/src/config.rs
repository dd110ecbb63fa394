//! Verifier configuration.

use std::time::Duration;

/// How a [`Verifier`](crate::Verifier) finds and checks Portcullis tokens.
///
/// Build it with [`VerifierConfig::new`], which fills every default from the
/// issuer, then adjust the public fields:
///
/// ```
/// use std::time::Duration;
/// let mut config = portcullis_verify::VerifierConfig::new("https://auth.example.com/");
/// assert_eq!(config.issuer, "https://auth.example.com");
/// assert_eq!(config.audience, "https://auth.example.com");
/// assert_eq!(config.jwks_url, "https://auth.example.com/api/auth/jwks");
/// config.audience = "https://api.example.com".into();
/// config.feed_token = Some("s3cret".into());
/// config.leeway = Duration::from_secs(2);
/// ```
#[derive(Clone)]
#[non_exhaustive]
pub struct VerifierConfig {
    /// The Portcullis base URL, without trailing `/`; the `iss` claim must
    /// equal it exactly.
    pub issuer: String,
    /// The `aud` value this service accepts (default: the issuer, which is
    /// the server's default audience).
    pub audience: String,
    /// Where the signing keys are published (default
    /// `{issuer}/api/auth/jwks`). Keys are only ever taken from here, never
    /// from a token header.
    pub jwks_url: String,
    /// The revocation feed (default `{issuer}/api/auth/revocations`).
    pub revocations_url: String,
    /// Sent as `Authorization: Bearer …` to the revocation feed when the
    /// server requires a feed token.
    pub feed_token: Option<String>,
    /// Clock skew tolerated on `exp`, `nbf` and `iat` (default 5 s). Keep it
    /// small.
    pub leeway: Duration,
    /// Follow the revocation feed (default true). When false, revoked
    /// sessions stay valid until their tokens expire.
    pub follow_revocations: bool,
    /// Delay between two polls of the revocation feed (default 500 ms).
    pub poll_interval: Duration,
    /// Timeout of each HTTP request to Portcullis (default 5 s).
    pub http_timeout: Duration,
    /// A token with an unknown `kid` triggers a JWKS refetch at most once per
    /// this interval (default 10 s), so random `kid`s cannot turn the
    /// verifier into a request amplifier.
    pub jwks_refetch_min_interval: Duration,
    /// The JWKS is also refreshed in the background this often (default 5
    /// min), so keys withdrawn by the server stop being accepted.
    pub jwks_refresh_interval: Duration,
    /// How long a revocation entry is remembered after it was issued
    /// (default 1 h). Must be at least the longest access-token lifetime plus
    /// the leeway; entries older than that can no longer concern a valid
    /// token.
    pub revocation_retention: Duration,
    /// If set, tokens are refused with
    /// [`VerifyError::FeedUnavailable`](crate::VerifyError::FeedUnavailable)
    /// once the revocation feed has not been read successfully for this
    /// long (fail closed). Default `None`: keep accepting unrevoked-looking
    /// tokens while the feed is unreachable (fail open, logged), bounded by
    /// the tokens' own short lifetime.
    pub max_feed_staleness: Option<Duration>,
    /// Extra trusted root certificates (a PEM bundle) for reaching an issuer
    /// behind a private CA. The public WebPKI roots are always trusted.
    pub root_certificates_pem: Option<Vec<u8>>,
}

impl VerifierConfig {
    /// A configuration with every default derived from `issuer` (a trailing
    /// `/` is removed, as the server does for its `iss`).
    pub fn new(issuer: impl Into<String>) -> Self {
        let issuer = issuer.into().trim_end_matches('/').to_string();
        VerifierConfig {
            audience: issuer.clone(),
            jwks_url: format!("{issuer}/api/auth/jwks"),
            revocations_url: format!("{issuer}/api/auth/revocations"),
            issuer,
            feed_token: None,
            leeway: Duration::from_secs(5),
            follow_revocations: true,
            poll_interval: Duration::from_millis(500),
            http_timeout: Duration::from_secs(5),
            jwks_refetch_min_interval: Duration::from_secs(10),
            jwks_refresh_interval: Duration::from_secs(300),
            revocation_retention: Duration::from_secs(3600),
            max_feed_staleness: None,
            root_certificates_pem: None,
        }
    }
}

impl std::fmt::Debug for VerifierConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VerifierConfig")
            .field("issuer", &self.issuer)
            .field("audience", &self.audience)
            .field("jwks_url", &self.jwks_url)
            .field("revocations_url", &self.revocations_url)
            .field(
                "feed_token",
                &self.feed_token.as_ref().map(|_| "<redacted>"),
            )
            .field("leeway", &self.leeway)
            .field("follow_revocations", &self.follow_revocations)
            .field("poll_interval", &self.poll_interval)
            .field("http_timeout", &self.http_timeout)
            .field("jwks_refetch_min_interval", &self.jwks_refetch_min_interval)
            .field("jwks_refresh_interval", &self.jwks_refresh_interval)
            .field("revocation_retention", &self.revocation_retention)
            .field("max_feed_staleness", &self.max_feed_staleness)
            .field(
                "root_certificates_pem",
                &self.root_certificates_pem.is_some(),
            )
            .finish()
    }
}
