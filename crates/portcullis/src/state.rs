//! What every request handler can reach.

use std::sync::Arc;

use crate::config::Config;
use crate::crypto::passwords::PasswordHasher;
use crate::db::Db;
use crate::http::cookies::SessionCookie;

#[derive(Clone)]
pub struct AppState {
    pub config: Arc<Config>,
    pub db: Db,
    pub passwords: PasswordHasher,
    pub session_cookie: Arc<SessionCookie>,
    /// The base URL's origin followed by the configured trusted origins.
    pub trusted_origins: Arc<Vec<String>>,
}

impl AppState {
    pub fn new(config: Config, db: Db, passwords: PasswordHasher) -> Self {
        let mut trusted_origins = vec![config.base_origin()];
        trusted_origins.extend(config.trusted_origins.iter().cloned());
        Self {
            session_cookie: Arc::new(SessionCookie::from_config(&config)),
            trusted_origins: Arc::new(trusted_origins),
            config: Arc::new(config),
            db,
            passwords,
        }
    }

    /// Exact comparison of serialised origins (`scheme://host[:port]`).
    pub fn is_trusted_origin(&self, origin: &str) -> bool {
        self.trusted_origins.iter().any(|trusted| trusted == origin)
    }
}
