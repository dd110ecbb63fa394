//! What every request handler can reach.

use std::sync::Arc;

use ring::hmac;
use tokio::sync::watch;

use crate::access_tokens::keys::KeyRing;
use crate::clock::Clock;
use crate::config::Config;
use crate::crypto::keys::{MasterKey, Purpose, Sealer};
use crate::crypto::passwords::PasswordHasher;
use crate::db::Db;
use crate::http::cookies::CredentialCookie;
use crate::i18n::Catalogues;
use crate::mail::Mailer;
use crate::organizations::access::AccessControl;
use crate::organizations::member_pages::MemberPageCache;
use crate::pages::Pages;
use crate::rate_limit::Limits;
use crate::revocations::Hub;
use crate::sessions::cache::SessionCache;
use crate::social::Social;

/// Cloned for every middleware layer and handler of every request, so a clone is one reference
/// count: the handles live once, in `Shared`.
#[derive(Clone)]
pub struct AppState(Arc<Shared>);

impl std::ops::Deref for AppState {
    type Target = Shared;

    fn deref(&self) -> &Shared {
        &self.0
    }
}

pub struct Shared {
    pub config: Arc<Config>,
    /// The one clock every time rule reads (see `clock`).
    pub clock: Clock,
    pub db: Db,
    pub passwords: PasswordHasher,
    pub keys: KeyRing,
    /// MACs refresh tokens (derived from the master secret).
    pub refresh_key: hmac::Key,
    pub revocations: Hub,
    pub session_cache: Arc<SessionCache>,
    pub mailer: Mailer,
    pub limits: Limits,
    pub session_cookie: Arc<CredentialCookie>,
    pub refresh_cookie: Arc<CredentialCookie>,
    pub challenge_cookie: Arc<CredentialCookie>,
    pub trusted_device_cookie: Arc<CredentialCookie>,
    /// Seals TOTP secrets at rest (derived from the master secret).
    pub totp_sealer: Sealer,
    /// The base URL's origin followed by the configured trusted origins.
    pub trusted_origins: Arc<Vec<String>>,
    /// Flips to true when the server begins to shut down (long-lived streams end on it).
    pub stopping: Arc<watch::Sender<bool>>,
    /// Social sign-in: the configured providers, their HTTP client, the state cookie.
    pub social: Arc<Social>,
    /// Organization statements and roles (built-in and from settings).
    pub access: Arc<AccessControl>,
    /// Members pages rendered before, answered again while nothing they show has changed.
    pub member_pages: Arc<MemberPageCache>,
    /// The hosted pages' templates, form-token key and cookies.
    pub pages: Arc<Pages>,
    /// The message catalogues of pages and mails.
    pub catalogues: Arc<Catalogues>,
}

impl AppState {
    pub async fn new(
        config: Config,
        clock: Clock,
        db: Db,
        passwords: PasswordHasher,
        master: &MasterKey,
    ) -> anyhow::Result<Self> {
        let keys = KeyRing::start(
            db.clone(),
            master.sealer(Purpose::SealSigningKeys),
            config.access_tokens.algorithm,
            clock.clone(),
        )
        .await?;
        let mut trusted_origins = vec![config.base_origin()];
        trusted_origins.extend(config.trusted_origins.iter().cloned());
        let access = AccessControl::new(
            config.organization.statements.as_ref(),
            config.organization.roles.as_ref(),
        )?;
        let catalogues = Arc::new(Catalogues::load(&config.i18n)?);
        Ok(Self(Arc::new(Shared {
            access: Arc::new(access),
            member_pages: Arc::new(MemberPageCache::new(
                config.organization.member_page_cache_mb * 1024 * 1024,
            )),
            social: Arc::new(Social::new(
                &config.social,
                &config.social_providers,
                CredentialCookie::social_state(&config),
                master.sealer(Purpose::SealSocial),
            )?),
            session_cookie: Arc::new(CredentialCookie::session(&config)),
            refresh_cookie: Arc::new(CredentialCookie::refresh(&config)),
            challenge_cookie: Arc::new(CredentialCookie::two_factor_challenge(&config)),
            trusted_device_cookie: Arc::new(CredentialCookie::trusted_device(&config)),
            totp_sealer: master.sealer(Purpose::SealTotpSecrets),
            trusted_origins: Arc::new(trusted_origins),
            refresh_key: master.mac_key(Purpose::RefreshTokens),
            revocations: Hub::default(),
            session_cache: Arc::new(SessionCache::new(config.session.cache_ttl)),
            mailer: Mailer::new(&config.mail, clock.clone(), Arc::clone(&catalogues))?,
            limits: Limits::start(&config.rate_limits).await?,
            stopping: Arc::new(watch::channel(false).0),
            pages: Arc::new(Pages::load(&config, master, Arc::clone(&catalogues))?),
            catalogues,
            config: Arc::new(config),
            clock,
            db,
            passwords,
            keys,
        })))
    }

    /// Exact comparison of serialised origins (`scheme://host[:port]`).
    pub fn is_trusted_origin(&self, origin: &str) -> bool {
        self.trusted_origins.iter().any(|trusted| trusted == origin)
    }
}
