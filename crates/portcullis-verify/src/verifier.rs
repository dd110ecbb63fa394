//! The verifier: JWKS cache, token checks, revocation-feed follower.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, RwLock, Weak};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use tokio::sync::{watch, Mutex};

use crate::claims::{self, Claims, Expect};
use crate::config::VerifierConfig;
use crate::error::VerifyError;
use crate::jwk::{self, VerifyingKey};
use crate::jws::{self, StrictObject};
use crate::revocation::{FeedPage, Revocations};

/// Largest JWKS document read, in bytes.
const MAX_JWKS_BYTES: usize = 256 * 1024;
/// Largest revocation-feed page read, in bytes.
const MAX_FEED_BYTES: usize = 16 * 1024 * 1024;
/// Pages read back to back when the feed has more (then wait for the next
/// poll).
const MAX_PAGES_PER_POLL: usize = 32;
/// Pages read at start-up to load the backlog.
const MAX_PAGES_INITIAL: usize = 10_000;

type KeySet = HashMap<String, Arc<VerifyingKey>>;

/// TLS for the JWKS and feed requests: rustls with ring, trusting the public WebPKI roots
/// (Mozilla's, bundled by `webpki-roots`) plus the configured extra roots. reqwest 0.13 would
/// otherwise use aws-lc-rs and the platform's trust store; this keeps the crate free of C
/// crypto and its trust independent of the host. A process-wide rustls provider, if the
/// application installed one, is used instead of ring.
fn tls_config(extra_roots_pem: Option<&[u8]>) -> Result<rustls::ClientConfig, VerifyError> {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::CertificateDer;

    let mut roots = rustls::RootCertStore::empty();
    if let Some(pem) = extra_roots_pem {
        for cert in CertificateDer::pem_slice_iter(pem) {
            let cert =
                cert.map_err(|e| VerifyError::Config(format!("root_certificates_pem: {e}")))?;
            roots
                .add(cert)
                .map_err(|e| VerifyError::Config(format!("root_certificates_pem: {e}")))?;
        }
    }
    roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    let provider = rustls::crypto::CryptoProvider::get_default()
        .cloned()
        .unwrap_or_else(|| Arc::new(rustls::crypto::ring::default_provider()));
    let mut tls = rustls::ClientConfig::builder_with_provider(provider)
        .with_protocol_versions(rustls::ALL_VERSIONS)
        .map_err(|e| VerifyError::Config(format!("TLS: {e}")))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    // HTTP/1.1 only, as the client speaks no HTTP/2.
    tls.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(tls)
}

/// Verifies Portcullis access tokens locally.
///
/// Cheap to clone (an [`Arc`] inside); share one per process. Building it
/// fetches the JWKS and the revocation feed once, then a background task
/// keeps both fresh; the task stops when the last clone is dropped.
///
/// ```no_run
/// # async fn run() -> Result<(), portcullis_verify::VerifyError> {
/// use portcullis_verify::{Verifier, VerifierConfig};
/// let verifier = Verifier::new(VerifierConfig::new("https://auth.example.com")).await?;
/// let claims = verifier.verify("eyJhbGciOiJFZERTQSIs...").await?;
/// println!("user {} (session {})", claims.sub, claims.sid);
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct Verifier {
    inner: Arc<Inner>,
}

struct Inner {
    config: VerifierConfig,
    http: reqwest::Client,
    keys: RwLock<Arc<KeySet>>,
    /// Serialises unknown-kid refetches and remembers when the last one ran.
    refetch_gate: Mutex<Option<Instant>>,
    revocations: RwLock<Revocations>,
    feed_failures: AtomicU32,
    /// Dropped with the last `Verifier` clone, which wakes and ends the
    /// background tasks.
    shutdown: watch::Sender<()>,
}

impl std::fmt::Debug for Verifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Verifier")
            .field("issuer", &self.inner.config.issuer)
            .field("key_ids", &self.key_ids())
            .finish_non_exhaustive()
    }
}

fn now_unix() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

fn secs(d: Duration) -> i64 {
    i64::try_from(d.as_secs()).unwrap_or(i64::MAX)
}

impl Verifier {
    /// Builds a verifier: checks the configuration, fetches the JWKS (error
    /// if unreachable or without a usable key) and, when following
    /// revocations, reads the feed once (error if unreachable), then spawns
    /// the background refresh. Must be called inside a Tokio runtime.
    pub async fn new(config: VerifierConfig) -> Result<Verifier, VerifyError> {
        if config.issuer.is_empty() {
            return Err(VerifyError::Config("issuer is empty".into()));
        }
        for (name, url) in [
            ("issuer", &config.issuer),
            ("jwks_url", &config.jwks_url),
            ("revocations_url", &config.revocations_url),
        ] {
            let parsed = reqwest::Url::parse(url)
                .map_err(|e| VerifyError::Config(format!("{name} {url:?}: {e}")))?;
            match parsed.scheme() {
                "https" => {}
                "http" => {
                    let host = parsed.host_str().unwrap_or("");
                    let host = host.trim_start_matches('[').trim_end_matches(']');
                    let loopback = host == "localhost"
                        || host
                            .parse::<std::net::IpAddr>()
                            .is_ok_and(|ip| ip.is_loopback());
                    if !loopback {
                        tracing::warn!(%url, "{name} uses plain http: keys and revocations can be tampered with in transit");
                    }
                }
                other => {
                    return Err(VerifyError::Config(format!(
                        "{name}: unsupported scheme {other}"
                    )))
                }
            }
        }
        if config.poll_interval.is_zero() || config.jwks_refresh_interval.is_zero() {
            return Err(VerifyError::Config(
                "poll and refresh intervals must be > 0".into(),
            ));
        }

        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(config.http_timeout)
            .connect_timeout(config.http_timeout)
            .user_agent(concat!("portcullis-verify/", env!("CARGO_PKG_VERSION")))
            .tls_backend_preconfigured(tls_config(config.root_certificates_pem.as_deref())?)
            .build()
            .map_err(|e| VerifyError::Config(format!("HTTP client: {e}")))?;

        let (shutdown, _) = watch::channel(());
        let inner = Arc::new(Inner {
            config,
            http,
            keys: RwLock::new(Arc::new(HashMap::new())),
            refetch_gate: Mutex::new(None),
            revocations: RwLock::new(Revocations::default()),
            feed_failures: AtomicU32::new(0),
            shutdown,
        });

        let count = inner.refresh_jwks().await?;
        if count == 0 {
            return Err(VerifyError::Jwks("no usable EdDSA or ES256 key".into()));
        }
        if inner.config.follow_revocations {
            // The whole backlog, however many pages, before the first token.
            inner
                .poll_feed(MAX_PAGES_INITIAL)
                .await
                .map_err(VerifyError::Feed)?;
            spawn_feed_task(&inner);
        }
        spawn_jwks_task(&inner);
        Ok(Verifier { inner })
    }

    /// Verifies an access token and returns its claims.
    ///
    /// For a token signed by a known key this never waits: the `async` is
    /// only there because an unknown `kid` triggers one JWKS refetch (at most
    /// once per [`VerifierConfig::jwks_refetch_min_interval`]) and one retry.
    ///
    /// Checks, in order: size and shape; header (`alg` allow-list, forbidden
    /// parameters, `typ`, `kid`); key lookup in the JWKS only; signature with
    /// the key's own algorithm; then `iss`, `aud`, `exp`, `nbf`, `iat`,
    /// `sub`, `sid`; then the revocation state.
    pub async fn verify(&self, token: &str) -> Result<Claims, VerifyError> {
        match self.verify_cached(token) {
            Err(VerifyError::UnknownKey(kid)) => {
                self.inner.refetch_for_unknown_kid(&kid).await?;
                self.verify_cached(token)
            }
            other => other,
        }
    }

    /// Like [`verify`](Self::verify) but never does I/O: a token signed with
    /// a key not yet in the cache is refused with
    /// [`VerifyError::UnknownKey`]. For synchronous contexts.
    pub fn verify_cached(&self, token: &str) -> Result<Claims, VerifyError> {
        let inner = &*self.inner;
        let cfg = &inner.config;
        let parts = jws::split(token)?;
        let header = jws::parse_header(parts.header)?;
        if !jws::is_access_token_type(header.typ.as_deref()) {
            return Err(VerifyError::WrongType);
        }
        let kid = header.kid.ok_or(VerifyError::InvalidKeyId)?;
        let key = {
            let keys = inner.keys.read().unwrap_or_else(|p| p.into_inner());
            keys.get(&kid).cloned()
        };
        let key = key.ok_or(VerifyError::UnknownKey(kid))?;
        jws::check_signature(&parts, header.alg, &key)?;

        // Only now is the payload read.
        let StrictObject(raw) = jws::b64_json_object(parts.payload, "payload")?;
        let claims = claims::validate(
            raw,
            &Expect {
                issuer: &cfg.issuer,
                audience: &cfg.audience,
                now: now_unix(),
                leeway: secs(cfg.leeway),
            },
        )?;

        if cfg.follow_revocations {
            let rev = inner.revocations.read().unwrap_or_else(|p| p.into_inner());
            if let Some(max) = cfg.max_feed_staleness {
                let fresh = rev.last_success.is_some_and(|t| t.elapsed() <= max);
                if !fresh {
                    return Err(VerifyError::FeedUnavailable);
                }
            }
            if rev.is_revoked(&claims.sid, &claims.sub, claims.iat) {
                return Err(VerifyError::Revoked);
            }
        }
        Ok(claims)
    }

    /// The configuration this verifier runs with.
    pub fn config(&self) -> &VerifierConfig {
        &self.inner.config
    }

    /// The `kid`s of the keys currently trusted, sorted.
    pub fn key_ids(&self) -> Vec<String> {
        let keys = self.inner.keys.read().unwrap_or_else(|p| p.into_inner());
        let mut ids: Vec<String> = keys.keys().cloned().collect();
        ids.sort();
        ids
    }

    /// The revocation-feed cursor the next poll starts from.
    pub fn revocation_cursor(&self) -> Option<i64> {
        self.inner
            .revocations
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .cursor
    }
}

impl Inner {
    async fn get_capped(
        &self,
        req: reqwest::RequestBuilder,
        cap: usize,
    ) -> Result<Vec<u8>, String> {
        let mut resp = req.send().await.map_err(|e| e.to_string())?;
        let status = resp.status();
        if !status.is_success() {
            return Err(format!("unexpected HTTP status {status}"));
        }
        if resp.content_length().is_some_and(|l| l > cap as u64) {
            return Err("response too large".into());
        }
        let mut body = Vec::new();
        while let Some(chunk) = resp.chunk().await.map_err(|e| e.to_string())? {
            if body.len() + chunk.len() > cap {
                return Err("response too large".into());
            }
            body.extend_from_slice(&chunk);
        }
        Ok(body)
    }

    /// Fetches the JWKS and replaces the key set. Returns the number of
    /// usable keys.
    async fn refresh_jwks(&self) -> Result<usize, VerifyError> {
        let body = self
            .get_capped(self.http.get(&self.config.jwks_url), MAX_JWKS_BYTES)
            .await
            .map_err(VerifyError::Jwks)?;
        let set = jwk::parse_jwks(&body).map_err(VerifyError::Jwks)?;
        let count = set.len();
        if count == 0 {
            tracing::warn!("JWKS holds no usable key: every token will be refused");
        }
        *self.keys.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(set);
        tracing::debug!(count, "JWKS refreshed");
        Ok(count)
    }

    fn has_key(&self, kid: &str) -> bool {
        self.keys
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .contains_key(kid)
    }

    /// One rate-bounded JWKS refetch on behalf of a token with an unknown
    /// `kid`. Ok when the key is known afterwards.
    async fn refetch_for_unknown_kid(&self, kid: &str) -> Result<(), VerifyError> {
        let mut last = self.refetch_gate.lock().await;
        if self.has_key(kid) {
            // Another request refetched while this one waited.
            return Ok(());
        }
        if last.is_some_and(|t| t.elapsed() < self.config.jwks_refetch_min_interval) {
            return Err(VerifyError::UnknownKey(kid.to_string()));
        }
        *last = Some(Instant::now());
        if let Err(e) = self.refresh_jwks().await {
            tracing::warn!(error = %e, "JWKS refetch for an unknown kid failed");
            return Err(e);
        }
        if self.has_key(kid) {
            Ok(())
        } else {
            Err(VerifyError::UnknownKey(kid.to_string()))
        }
    }

    /// Reads the feed from the current cursor until a page brings nothing
    /// new (the server pages its answers) or `max_pages` were read, then
    /// forgets expired entries.
    async fn poll_feed(&self, max_pages: usize) -> Result<(), String> {
        for _ in 0..max_pages {
            let cursor = self
                .revocations
                .read()
                .unwrap_or_else(|p| p.into_inner())
                .cursor;
            let mut req = self.http.get(&self.config.revocations_url);
            if let Some(c) = cursor {
                req = req.query(&[("since", c)]);
            }
            if let Some(token) = &self.config.feed_token {
                req = req.bearer_auth(token);
            }
            let body = self.get_capped(req, MAX_FEED_BYTES).await?;
            let page: FeedPage =
                serde_json::from_slice(&body).map_err(|e| format!("invalid feed JSON: {e}"))?;
            let now = now_unix();
            let mut rev = self.revocations.write().unwrap_or_else(|p| p.into_inner());
            let count = rev.apply(page, now, secs(self.config.revocation_retention));
            rev.prune(now);
            rev.last_success = Some(Instant::now());
            let advanced = rev.cursor != cursor;
            if count > 0 {
                tracing::debug!(count, held = ?rev.len(), "revocations applied");
            }
            drop(rev);
            if count == 0 || !advanced {
                break;
            }
        }
        Ok(())
    }

    async fn poll_feed_logged(&self) {
        match self.poll_feed(MAX_PAGES_PER_POLL).await {
            Ok(()) => {
                let before = self.feed_failures.swap(0, Ordering::Relaxed);
                if before > 0 {
                    tracing::info!(failures = before, "revocation feed reachable again");
                }
            }
            Err(e) => {
                let n = self.feed_failures.fetch_add(1, Ordering::Relaxed);
                // First failure, then about once a minute at the default interval.
                if n.is_multiple_of(120) {
                    tracing::warn!(error = %e, consecutive_failures = n + 1, "revocation feed poll failed");
                }
            }
        }
    }
}

/// Runs `step` every `every` until the last `Verifier` is dropped.
fn spawn_periodic<F>(inner: &Arc<Inner>, every: Duration, step: F)
where
    F: for<'a> Fn(
            &'a Inner,
        ) -> std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send + 'a>>
        + Send
        + 'static,
{
    let weak: Weak<Inner> = Arc::downgrade(inner);
    let mut shutdown = inner.shutdown.subscribe();
    tokio::spawn(async move {
        loop {
            tokio::select! {
                _ = shutdown.changed() => break,
                _ = tokio::time::sleep(every) => {}
            }
            let Some(inner) = weak.upgrade() else { break };
            step(&inner).await;
        }
        tracing::debug!("portcullis-verify background task stopped");
    });
}

fn spawn_feed_task(inner: &Arc<Inner>) {
    spawn_periodic(inner, inner.config.poll_interval, |i| {
        Box::pin(i.poll_feed_logged())
    });
}

fn spawn_jwks_task(inner: &Arc<Inner>) {
    spawn_periodic(inner, inner.config.jwks_refresh_interval, |i| {
        Box::pin(async move {
            if let Err(e) = i.refresh_jwks().await {
                tracing::warn!(error = %e, "periodic JWKS refresh failed; keeping the current keys");
            }
        })
    });
}
