//! The configured providers at run time: their endpoints (discovered for OpenID Connect, fixed for
//! GitHub and plain OAuth 2), their signing keys, and the one HTTP client that talks to them.
//!
//! The client follows no redirects, has a connect and a total timeout, reads at most
//! [`MAX_RESPONSE_BYTES`] of an answer, and reaches only https URLs (plain http only to loopback
//! addresses with `social.allow_insecure_loopback`). A provider that cannot be reached is a
//! [`Fault::Unavailable`]: sign-ins answer a clear error, never a 5xx; discovery is retried.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use jsonwebtoken::jwk::JwkSet;
use serde_json::Value;
use tokio::sync::RwLock;
use url::Url;

use super::settings::{check_provider_url, Kind, ProviderSettings, SocialSettings};
use crate::clock::Clock;
use crate::crypto::keys::Sealer;
use crate::http::cookies::CredentialCookie;

/// Discovery documents, key sets, tokens and profiles are small.
pub const MAX_RESPONSE_BYTES: usize = 256 * 1024;
/// An unknown `kid` refetches the key set, at most this often.
const JWKS_REFETCH_MS: i64 = 60_000;
/// Start-up discovery retries this often until it succeeds.
const DISCOVERY_RETRY: Duration = Duration::from_secs(30);

/// Why a provider request failed.
#[derive(Debug)]
pub enum Fault {
    /// Not reached, too slow, a 5xx, an answer too large or not JSON.
    Unavailable(String),
    /// The provider answered and refused (a 4xx, an OAuth error).
    Refused(String),
}

impl std::fmt::Display for Fault {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Fault::Unavailable(why) => write!(f, "provider unavailable: {why}"),
            Fault::Refused(why) => write!(f, "provider refused: {why}"),
        }
    }
}

/// Where a provider's endpoints are.
#[derive(Debug, Clone)]
pub struct Endpoints {
    /// The issuer ID tokens and RFC 9207 `iss` must name (OpenID Connect only).
    pub issuer: Option<String>,
    pub authorization: Url,
    pub token: Url,
    pub userinfo: Option<Url>,
    pub jwks: Option<Url>,
    /// GitHub's `/user/emails`.
    pub emails: Option<Url>,
    /// The provider promises `iss` in every authorization response (RFC 9207).
    pub iss_required: bool,
}

pub struct Provider {
    pub settings: ProviderSettings,
    endpoints: RwLock<Option<Arc<Endpoints>>>,
    keys: RwLock<Option<(Arc<JwkSet>, i64)>>,
    /// Apple's generated client secret and when it expires (unix seconds).
    pub(super) apple_secret: Mutex<Option<(String, i64)>>,
}

/// Every configured provider, the HTTP client, and the state cookie.
pub struct Social {
    providers: HashMap<String, Arc<Provider>>,
    http: reqwest::Client,
    pub allow_insecure_loopback: bool,
    /// Binds a sign-in transaction to the browser that started it.
    pub state_cookie: CredentialCookie,
    /// Seals PKCE verifiers and nonces in flight, and stored provider tokens.
    pub sealer: Sealer,
}

impl Social {
    pub fn new(
        settings: &SocialSettings,
        providers: &[ProviderSettings],
        state_cookie: CredentialCookie,
        sealer: Sealer,
    ) -> anyhow::Result<Self> {
        if settings.allow_insecure_loopback {
            tracing::warn!(
                "social.allow_insecure_loopback is on: providers on loopback addresses are \
                 reached over plain http (tests and local development only)"
            );
        }
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .connect_timeout(settings.http_timeout)
            .timeout(settings.http_timeout)
            .user_agent(concat!("portcullis/", env!("CARGO_PKG_VERSION")))
            .tls_backend_preconfigured(tls_config()?)
            .build()
            .map_err(|e| anyhow::anyhow!("social: HTTP client: {e}"))?;
        let providers = providers
            .iter()
            .map(|p| {
                let endpoints = fixed_endpoints(p);
                (
                    p.id.clone(),
                    Arc::new(Provider {
                        settings: p.clone(),
                        endpoints: RwLock::new(endpoints.map(Arc::new)),
                        keys: RwLock::new(None),
                        apple_secret: Mutex::new(None),
                    }),
                )
            })
            .collect();
        Ok(Self {
            providers,
            http,
            allow_insecure_loopback: settings.allow_insecure_loopback,
            state_cookie,
            sealer,
        })
    }

    /// The origins of the providers' sign-in pages (their issuer's or configured authorization
    /// URL's, and the discovered authorization endpoint's once known): a social button's form is
    /// redirected there, so the hosted pages' `form-action` must allow them.
    pub fn authorization_origins(&self) -> Vec<String> {
        let mut origins = Vec::new();
        for provider in self.providers.values() {
            let configured = match &provider.settings.kind {
                Kind::Oidc { issuer } => issuer,
                Kind::Github { web_url, .. } => web_url,
                Kind::OAuth2 {
                    authorization_url, ..
                } => authorization_url,
            };
            origins.push(configured.origin().ascii_serialization());
            if let Ok(slot) = provider.endpoints.try_read() {
                if let Some(endpoints) = slot.as_ref() {
                    origins.push(endpoints.authorization.origin().ascii_serialization());
                }
            }
        }
        origins.sort_unstable();
        origins.dedup();
        origins
    }

    /// The configured providers' ids, sorted (the order the hosted pages show their buttons).
    pub fn provider_ids(&self) -> Vec<&str> {
        let mut ids: Vec<&str> = self.providers.keys().map(String::as_str).collect();
        ids.sort_unstable();
        ids
    }

    pub fn provider(&self, id: &str) -> Option<Arc<Provider>> {
        self.providers.get(id).cloned()
    }

    /// Discovers every OpenID Connect provider's endpoints, retrying those that fail until they
    /// answer (run once at start-up, in the background).
    pub async fn discover_all(self: Arc<Self>) {
        loop {
            let mut pending = 0;
            for provider in self.providers.values() {
                if let Err(fault) = self.endpoints(provider).await {
                    pending += 1;
                    tracing::warn!(
                        provider = %provider.settings.id,
                        error = %fault,
                        "social: provider discovery failed; its sign-ins answer \
                         PROVIDER_UNAVAILABLE until it succeeds (retrying)"
                    );
                }
            }
            if pending == 0 {
                return;
            }
            tokio::time::sleep(DISCOVERY_RETRY).await;
        }
    }

    /// The provider's endpoints, discovering them first if needed.
    pub async fn endpoints(&self, provider: &Provider) -> Result<Arc<Endpoints>, Fault> {
        if let Some(endpoints) = provider.endpoints.read().await.as_ref() {
            return Ok(Arc::clone(endpoints));
        }
        let Kind::Oidc { issuer } = &provider.settings.kind else {
            unreachable!("only OpenID Connect providers are discovered");
        };
        let mut slot = provider.endpoints.write().await;
        if let Some(endpoints) = slot.as_ref() {
            return Ok(Arc::clone(endpoints));
        }
        let discovered = Arc::new(self.discover(issuer).await?);
        *slot = Some(Arc::clone(&discovered));
        Ok(discovered)
    }

    async fn discover(&self, issuer: &Url) -> Result<Endpoints, Fault> {
        let expected = issuer.as_str().trim_end_matches('/').to_owned();
        let url = Url::parse(&format!("{expected}/.well-known/openid-configuration"))
            .map_err(|e| Fault::Unavailable(format!("discovery URL: {e}")))?;
        let doc = self.get_json(&url, None).await?;
        let text = |name: &str| doc.get(name).and_then(Value::as_str);
        let url_of = |name: &str| -> Result<Option<Url>, Fault> {
            text(name)
                .map(|raw| {
                    let url = Url::parse(raw)
                        .map_err(|e| Fault::Unavailable(format!("discovery {name}: {e}")))?;
                    check_provider_url(&url, self.allow_insecure_loopback)
                        .map_err(|e| Fault::Unavailable(format!("discovery {name}: {e}")))?;
                    Ok(url)
                })
                .transpose()
        };
        // OpenID Connect Discovery §4.3: the document's issuer is exactly the configured one.
        if text("issuer").map(|i| i.trim_end_matches('/')) != Some(expected.as_str()) {
            return Err(Fault::Unavailable(format!(
                "discovery names issuer {:?}, expected {expected}",
                text("issuer")
            )));
        }
        let missing = |name: &str| Fault::Unavailable(format!("discovery has no {name}"));
        Ok(Endpoints {
            issuer: text("issuer").map(str::to_owned),
            authorization: url_of("authorization_endpoint")?
                .ok_or_else(|| missing("authorization_endpoint"))?,
            token: url_of("token_endpoint")?.ok_or_else(|| missing("token_endpoint"))?,
            userinfo: url_of("userinfo_endpoint")?,
            jwks: Some(url_of("jwks_uri")?.ok_or_else(|| missing("jwks_uri"))?),
            emails: None,
            iss_required: doc
                .get("authorization_response_iss_parameter_supported")
                .and_then(Value::as_bool)
                .unwrap_or(false),
        })
    }

    /// The provider's signing keys; fetched again when `kid` is not among them (at most once a
    /// minute).
    pub async fn keys(
        &self,
        provider: &Provider,
        kid: Option<&str>,
        clock: &Clock,
    ) -> Result<Arc<JwkSet>, Fault> {
        let now = clock.now_ms();
        if let Some((keys, fetched)) = provider.keys.read().await.as_ref() {
            let known = kid.is_none_or(|kid| keys.find(kid).is_some());
            if known || now - fetched < JWKS_REFETCH_MS {
                return Ok(Arc::clone(keys));
            }
        }
        let endpoints = self.endpoints(provider).await?;
        let url = endpoints
            .jwks
            .as_ref()
            .ok_or_else(|| Fault::Refused("the provider publishes no keys".into()))?;
        let doc = self.get_json(url, None).await?;
        let keys: JwkSet =
            serde_json::from_value(doc).map_err(|e| Fault::Unavailable(format!("key set: {e}")))?;
        let keys = Arc::new(keys);
        *provider.keys.write().await = Some((Arc::clone(&keys), now));
        Ok(keys)
    }

    /// GET a JSON document (with a bearer token, for profiles).
    pub async fn get_json(&self, url: &Url, bearer: Option<&str>) -> Result<Value, Fault> {
        let mut request = self
            .http
            .get(url.clone())
            .header("accept", "application/json");
        if let Some(token) = bearer {
            request = request.header("authorization", format!("Bearer {token}"));
        }
        self.send(url, request).await
    }

    /// POST a form (the token endpoint).
    pub async fn post_form(&self, url: &Url, form: &[(&str, &str)]) -> Result<Value, Fault> {
        let body = url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs(form)
            .finish();
        let request = self
            .http
            .post(url.clone())
            .header("accept", "application/json")
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body);
        self.send(url, request).await
    }

    async fn send(&self, url: &Url, request: reqwest::RequestBuilder) -> Result<Value, Fault> {
        check_provider_url(url, self.allow_insecure_loopback).map_err(Fault::Refused)?;
        let mut response = request
            .send()
            .await
            .map_err(|e| Fault::Unavailable(describe(&e)))?;
        let status = response.status();
        if response
            .content_length()
            .is_some_and(|len| len > MAX_RESPONSE_BYTES as u64)
        {
            return Err(Fault::Unavailable("answer too large".into()));
        }
        let mut body = Vec::new();
        while let Some(chunk) = response
            .chunk()
            .await
            .map_err(|e| Fault::Unavailable(describe(&e)))?
        {
            if body.len() + chunk.len() > MAX_RESPONSE_BYTES {
                return Err(Fault::Unavailable("answer too large".into()));
            }
            body.extend_from_slice(&chunk);
        }
        let json: Option<Value> = serde_json::from_slice(&body).ok();
        if status.is_server_error() || status.is_redirection() || status.is_informational() {
            return Err(Fault::Unavailable(format!("status {}", status.as_u16())));
        }
        if status.is_client_error() {
            let error = json
                .as_ref()
                .and_then(|j| j.get("error"))
                .and_then(Value::as_str)
                .unwrap_or("");
            return Err(Fault::Refused(format!(
                "status {} {}",
                status.as_u16(),
                error.chars().take(64).collect::<String>()
            )));
        }
        json.ok_or_else(|| Fault::Unavailable("answer is not JSON".into()))
    }
}

fn describe(e: &reqwest::Error) -> String {
    if e.is_timeout() {
        "timed out".into()
    } else if e.is_connect() {
        "cannot connect".into()
    } else {
        "request failed".into()
    }
}

/// Endpoints known without discovery: GitHub's and plain OAuth 2 providers'.
fn fixed_endpoints(settings: &ProviderSettings) -> Option<Endpoints> {
    let join = |base: &Url, path: &str| {
        Url::parse(&format!("{}{path}", base.as_str().trim_end_matches('/')))
            .expect("a valid base URL and a fixed path")
    };
    match &settings.kind {
        Kind::Oidc { .. } => None,
        Kind::Github { web_url, api_url } => Some(Endpoints {
            issuer: None,
            authorization: join(web_url, "/login/oauth/authorize"),
            token: join(web_url, "/login/oauth/access_token"),
            userinfo: Some(join(api_url, "/user")),
            jwks: None,
            emails: Some(join(api_url, "/user/emails")),
            iss_required: false,
        }),
        Kind::OAuth2 {
            authorization_url,
            token_url,
            userinfo_url,
            ..
        } => Some(Endpoints {
            issuer: None,
            authorization: authorization_url.clone(),
            token: token_url.clone(),
            userinfo: Some(userinfo_url.clone()),
            jwks: None,
            emails: None,
            iss_required: false,
        }),
    }
}

/// rustls with ring and the WebPKI roots, as portcullis-verify configures it (no platform trust
/// store, no C crypto).
fn tls_config() -> anyhow::Result<rustls::ClientConfig> {
    let mut roots = rustls::RootCertStore::empty();
    roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    let provider = rustls::crypto::CryptoProvider::get_default()
        .cloned()
        .unwrap_or_else(|| Arc::new(rustls::crypto::ring::default_provider()));
    let mut tls = rustls::ClientConfig::builder_with_provider(provider)
        .with_protocol_versions(rustls::ALL_VERSIONS)
        .map_err(|e| anyhow::anyhow!("social: TLS: {e}"))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    tls.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(tls)
}
