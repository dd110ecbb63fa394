//! A short-lived cache of resolved sessions, so the hot path (every authenticated request) does
//! not wait on the database. The database stays the authority:
//! - an entry lives `session.cache_ttl` (5 s by default) and is re-read after that;
//! - expiry is checked on every hit, and anything due a database write (sliding the expiry,
//!   recording activity) goes to the database;
//! - ending a session evicts it at once on this instance, and every instance evicts it when its
//!   revocation poller (250 ms) reads the feed entry, so a revocation reaches all instances within
//!   about a quarter of a second;
//! - a change to a user evicts that user's entries on the instance that made it; other instances
//!   see it within the TTL.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::RwLock;
use std::time::Duration;

use tokio::sync::broadcast::error::RecvError;

use super::Session;
use crate::db::millis;
use crate::revocations::Hub;
use crate::users::User;

/// Beyond this many entries the cache starts over (bounded memory, no eviction bookkeeping).
const CAPACITY: usize = 100_000;

struct Entry {
    session: Session,
    user: User,
    cached_at: i64,
}

pub struct SessionCache {
    entries: RwLock<HashMap<String, Entry>>,
    ttl_ms: i64,
    /// Bumped by every eviction. A reader notes it before reading the database and caches its
    /// result only if it has not moved, so a session ended during the read is never cached.
    revision: AtomicU64,
}

impl SessionCache {
    /// A zero TTL disables the cache.
    pub fn new(ttl: Duration) -> Self {
        Self {
            entries: RwLock::new(HashMap::new()),
            ttl_ms: millis(ttl),
            revision: AtomicU64::new(0),
        }
    }

    pub fn get(&self, token_hash: &str, now: i64) -> Option<(Session, User)> {
        if self.ttl_ms == 0 {
            return None;
        }
        let entries = self.entries.read().unwrap_or_else(|e| e.into_inner());
        let entry = entries.get(token_hash)?;
        (now - entry.cached_at < self.ttl_ms).then(|| (entry.session.clone(), entry.user.clone()))
    }

    /// The revision to pass to `put` for a database read that starts now.
    pub fn revision(&self) -> u64 {
        self.revision.load(Ordering::SeqCst)
    }

    /// Caches a session read from the database, unless anything was evicted since `revision`.
    pub fn put(&self, revision: u64, token_hash: String, session: Session, user: User, now: i64) {
        if self.ttl_ms == 0 {
            return;
        }
        let mut entries = self.entries.write().unwrap_or_else(|e| e.into_inner());
        // Checked under the write lock, which every eviction also takes.
        if self.revision.load(Ordering::SeqCst) != revision {
            return;
        }
        if entries.len() >= CAPACITY {
            entries.clear();
        }
        entries.insert(
            token_hash,
            Entry {
                session,
                user,
                cached_at: now,
            },
        );
    }

    pub fn forget(&self, token_hash: &str) {
        let mut entries = self.entries.write().unwrap_or_else(|e| e.into_inner());
        self.revision.fetch_add(1, Ordering::SeqCst);
        entries.remove(token_hash);
    }

    pub fn forget_sessions(&self, session_ids: &[String]) {
        if session_ids.is_empty() {
            return;
        }
        let mut entries = self.entries.write().unwrap_or_else(|e| e.into_inner());
        self.revision.fetch_add(1, Ordering::SeqCst);
        entries.retain(|_, entry| !session_ids.contains(&entry.session.id));
    }

    pub fn forget_user(&self, user_id: &str) {
        let mut entries = self.entries.write().unwrap_or_else(|e| e.into_inner());
        self.revision.fetch_add(1, Ordering::SeqCst);
        entries.retain(|_, entry| entry.user.id != user_id);
    }

    fn clear(&self) {
        let mut entries = self.entries.write().unwrap_or_else(|e| e.into_inner());
        self.revision.fetch_add(1, Ordering::SeqCst);
        entries.clear();
    }

    /// Evicts whatever the revocation feed reports, including revocations made on other instances.
    pub async fn follow_revocations(self: std::sync::Arc<Self>, hub: Hub) {
        let mut feed = hub.subscribe();
        loop {
            match feed.recv().await {
                Ok(entry) => {
                    if let Some(sid) = entry.sid {
                        self.forget_sessions(&[sid]);
                    }
                    if let Some(sub) = entry.sub {
                        self.forget_user(&sub);
                    }
                }
                // Missed some entries: forget everything rather than guess.
                Err(RecvError::Lagged(_)) => self.clear(),
                Err(RecvError::Closed) => return,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::timestamp::Timestamp;

    fn sample(id: &str, user_id: &str) -> (Session, User) {
        let session = Session {
            id: id.into(),
            user_id: user_id.into(),
            persistent: true,
            ip_address: None,
            user_agent: None,
            created_at: 0,
            updated_at: 0,
            last_active_at: 0,
            expires_at: i64::MAX,
            absolute_expires_at: i64::MAX,
            active_organization_id: None,
            active_team_id: None,
            impersonated_by: None,
        };
        let user = User {
            id: user_id.into(),
            name: "n".into(),
            email: "e@example.com".into(),
            email_verified: false,
            image: None,
            role: "user".into(),
            two_factor_enabled: false,
            created_at: Timestamp(0),
            updated_at: Timestamp(0),
            banned: false,
            ban_reason: None,
            ban_expires: None,
        };
        (session, user)
    }

    #[test]
    fn a_read_that_overlaps_an_eviction_is_not_cached() {
        let cache = SessionCache::new(Duration::from_secs(5));
        let before_read = cache.revision();
        cache.forget_sessions(&["s1".to_owned()]); // a sign-out commits during the read
        let (session, user) = sample("s1", "u1");
        cache.put(before_read, "hash".into(), session, user, 0);
        assert!(cache.get("hash", 1).is_none());
    }

    #[test]
    fn entries_expire_and_evictions_by_session_or_user_apply() {
        let cache = SessionCache::new(Duration::from_secs(5));
        let (session, user) = sample("s1", "u1");
        cache.put(
            cache.revision(),
            "a".into(),
            session.clone(),
            user.clone(),
            0,
        );
        assert!(cache.get("a", 4_999).is_some());
        assert!(cache.get("a", 5_000).is_none());
        cache.put(
            cache.revision(),
            "a".into(),
            session.clone(),
            user.clone(),
            0,
        );
        cache.forget_user("u1");
        assert!(cache.get("a", 1).is_none());
        cache.put(cache.revision(), "a".into(), session, user, 0);
        cache.forget_sessions(&["s1".to_owned()]);
        assert!(cache.get("a", 1).is_none());
        let disabled = SessionCache::new(Duration::ZERO);
        let (session, user) = sample("s2", "u2");
        disabled.put(disabled.revision(), "b".into(), session, user, 0);
        assert!(disabled.get("b", 0).is_none());
    }
}
