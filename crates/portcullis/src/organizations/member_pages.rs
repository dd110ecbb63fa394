//! Members pages kept in memory: list-members answers a page it rendered before again while the
//! organization's `members_version` has not moved.
//!
//! Every list-members request reads the caller's membership and that version in one statement
//! (it has to read the membership anyway), so a kept page is answered only if nothing it shows
//! has changed since: database triggers move the version in the statement that adds, removes or
//! changes a membership, or changes a member's name, email or image (migration 0012), whichever
//! server or tool makes the change. Each server keeps its own pages; none can serve another's
//! stale page, because the version comes from the database on every request.
//!
//! Why: a page of 100 members is one statement, but SQLite walks every index entry before the
//! page (OFFSET) and builds 100 JSON objects, ~0.5 ms per page at 10,000 members, against ~0.05 ms
//! for the membership alone (bench/README.md, "The organizations table").

use std::sync::Arc;

use quick_cache::sync::Cache;
use quick_cache::Weighter;

/// A rendered page: its members as JSON, the total, and the version they were read at.
pub struct CachedPage {
    pub version: i64,
    pub members: String,
    pub total: i64,
}

/// Pages by key ([`page_key`]), weighed by their bytes; `None` when turned off.
pub struct MemberPageCache {
    pages: Option<Cache<String, Arc<CachedPage>, ByBytes>>,
}

#[derive(Clone)]
struct ByBytes;

impl Weighter<String, Arc<CachedPage>> for ByBytes {
    fn weight(&self, key: &String, page: &Arc<CachedPage>) -> u64 {
        // The text, plus the entry's own bookkeeping.
        u64::try_from(key.len() + page.members.len() + 64).unwrap_or(u64::MAX)
    }
}

/// A page of members is about 25 KB.
const TYPICAL_PAGE_BYTES: u64 = 25 * 1024;

impl MemberPageCache {
    /// Keeps pages up to `budget_bytes` in all (least recently useful out first); 0: none.
    pub fn new(budget_bytes: u64) -> Self {
        let pages = (budget_bytes > 0).then(|| {
            let items = usize::try_from(budget_bytes / TYPICAL_PAGE_BYTES + 1).unwrap_or(1);
            Cache::with_weighter(items, budget_bytes, ByBytes)
        });
        Self { pages }
    }

    /// The page kept under `key`, if it was read at `version`.
    pub fn get(&self, key: &str, version: i64) -> Option<Arc<CachedPage>> {
        let page = self.pages.as_ref()?.get(key)?;
        (page.version == version).then_some(page)
    }

    pub fn put(&self, key: String, page: CachedPage) {
        if let Some(pages) = &self.pages {
            pages.insert(key, Arc::new(page));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn page(version: i64, members: &str) -> CachedPage {
        CachedPage {
            version,
            members: members.to_owned(),
            total: 1,
        }
    }

    #[test]
    fn a_page_is_answered_only_at_the_version_it_was_read_at() {
        let cache = MemberPageCache::new(1 << 20);
        cache.put("org\0p1".into(), page(7, "[1]"));
        assert_eq!(cache.get("org\0p1", 7).unwrap().members, "[1]");
        assert!(cache.get("org\0p1", 8).is_none(), "moved on: read again");
        assert!(cache.get("org\0p2", 7).is_none());
        cache.put("org\0p1".into(), page(8, "[2]"));
        assert_eq!(cache.get("org\0p1", 8).unwrap().members, "[2]");
        assert!(cache.get("org\0p1", 7).is_none());
    }

    #[test]
    fn the_budget_bounds_what_is_kept_and_zero_keeps_nothing() {
        let cache = MemberPageCache::new(64 * 1024);
        let big = "x".repeat(10 * 1024);
        for i in 0..100 {
            cache.put(format!("org\0{i}"), page(1, &big));
        }
        let kept = (0..100)
            .filter(|i| cache.get(&format!("org\0{i}"), 1).is_some())
            .count();
        assert!((1..=6).contains(&kept), "{kept} pages of 10 KiB in 64 KiB");

        let off = MemberPageCache::new(0);
        off.put("org\0p1".into(), page(1, "[]"));
        assert!(off.get("org\0p1", 1).is_none());
    }
}
