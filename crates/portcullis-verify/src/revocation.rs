//! The revocation feed: wire format and the in-memory revocation state.

use std::collections::HashMap;
use std::time::Instant;

use serde::Deserialize;
use serde_json::Value;

/// One page of `GET /api/auth/revocations[?since=cursor]`.
#[derive(Deserialize)]
pub(crate) struct FeedPage {
    pub(crate) revocations: Vec<Value>,
    #[serde(default)]
    pub(crate) next: Option<i64>,
}

/// One revocation entry. Either `sid` (one session) or `sub` + `not_before`
/// (all of a user's tokens issued before that time).
///
/// Parsed leniently: a member of an unexpected type is treated as absent, so
/// that a revocation is never dropped because of, say, a cursor sent as a
/// string.
struct Entry {
    cursor: Option<i64>,
    sid: Option<String>,
    sub: Option<String>,
    not_before: Option<f64>,
    /// Unix milliseconds.
    at: Option<f64>,
}

impl Entry {
    fn from_json(v: &Value) -> Option<Entry> {
        let o = v.as_object()?;
        let string = |k: &str| o.get(k).and_then(Value::as_str).map(str::to_string);
        let number = |k: &str| {
            o.get(k).and_then(|v| match v {
                Value::Number(n) => n.as_f64(),
                Value::String(s) => s.parse::<f64>().ok(),
                _ => None,
            })
        };
        let cursor = o.get("cursor").and_then(|v| match v {
            Value::Number(n) => n.as_i64(),
            Value::String(s) => s.parse::<i64>().ok(),
            _ => None,
        });
        Some(Entry {
            cursor,
            sid: string("sid"),
            sub: string("sub"),
            not_before: number("not_before").filter(|f| f.is_finite()),
            at: number("at").filter(|f| f.is_finite()),
        })
    }
}

/// What the verifier remembers of the feed.
#[derive(Default)]
pub(crate) struct Revocations {
    /// Revoked session id → when the entry may be forgotten (unix s).
    sessions: HashMap<String, i64>,
    /// User id → (not_before unix s, when the entry may be forgotten).
    users: HashMap<String, (i64, i64)>,
    /// Where the next poll starts; `None` until the first page with a cursor.
    pub(crate) cursor: Option<i64>,
    /// When the feed was last read successfully.
    pub(crate) last_success: Option<Instant>,
}

impl Revocations {
    /// Is a token of session `sid`, user `sub`, issued at `iat`, revoked?
    pub(crate) fn is_revoked(&self, sid: &str, sub: &str, iat: i64) -> bool {
        if self.sessions.contains_key(sid) {
            return true;
        }
        matches!(self.users.get(sub), Some((not_before, _)) if iat < *not_before)
    }

    /// Merges one feed page. Returns how many entries it held.
    pub(crate) fn apply(&mut self, page: FeedPage, now: i64, retention: i64) -> usize {
        let count = page.revocations.len();
        let mut max_cursor = self.cursor;
        for raw in page.revocations {
            let Some(entry) = Entry::from_json(&raw) else {
                tracing::error!("revocation entry is not a JSON object; ignored");
                continue;
            };
            if let Some(c) = entry.cursor {
                max_cursor = Some(max_cursor.map_or(c, |m| m.max(c)));
            }
            let at = entry.at.map_or(now, |ms| (ms / 1000.0).floor() as i64);
            let mut understood = false;
            if let Some(sid) = entry.sid.filter(|s| !s.is_empty()) {
                let forget = at.saturating_add(retention);
                let slot = self.sessions.entry(sid).or_insert(forget);
                *slot = (*slot).max(forget);
                understood = true;
            }
            if let (Some(sub), Some(nb)) = (entry.sub.filter(|s| !s.is_empty()), entry.not_before) {
                // Tokens with iat < not_before are refused; a fractional
                // not_before rounds up so that it never lets one through.
                let nb = nb.ceil() as i64;
                let forget = at.max(nb).saturating_add(retention);
                let slot = self.users.entry(sub).or_insert((nb, forget));
                slot.0 = slot.0.max(nb);
                slot.1 = slot.1.max(forget);
                understood = true;
            }
            if !understood {
                tracing::error!(
                    cursor = ?entry.cursor,
                    "revocation entry has neither sid nor sub+not_before; ignored"
                );
            }
        }
        self.cursor = match (page.next, max_cursor) {
            (Some(n), _) => Some(n),
            (None, m) => m,
        };
        count
    }

    /// Forgets entries that can no longer concern an unexpired token.
    pub(crate) fn prune(&mut self, now: i64) {
        self.sessions.retain(|_, forget| *forget > now);
        self.users.retain(|_, (_, forget)| *forget > now);
    }

    /// How many entries are held (sessions, users).
    pub(crate) fn len(&self) -> (usize, usize) {
        (self.sessions.len(), self.users.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn page(v: Value) -> FeedPage {
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn applies_sessions_users_and_cursor() {
        let mut r = Revocations::default();
        let now = 1_700_000_000;
        let n = r.apply(
            page(serde_json::json!({"revocations":[
                {"cursor":12,"sid":"s1","at":1_700_000_000_000u64},
                {"cursor":13,"sub":"u1","not_before":1_699_999_990,"at":1_700_000_000_000u64},
                {"cursor":14,"weird":true},
                "not an object",
                {"cursor":"15","sid":"s3","at":"1700000000000"}
            ],"next":15})),
            now,
            3600,
        );
        assert_eq!(n, 5);
        assert_eq!(r.cursor, Some(15));
        assert!(r.is_revoked("s3", "anyone", now));
        assert!(r.is_revoked("s1", "anyone", now));
        assert!(!r.is_revoked("s2", "u1", 1_699_999_990));
        assert!(r.is_revoked("s2", "u1", 1_699_999_989));
        // A later, older not_before never weakens the earlier one.
        r.apply(
            page(serde_json::json!({"revocations":[
                {"cursor":16,"sub":"u1","not_before":1_600_000_000,"at":1_700_000_001_000u64}
            ],"next":16})),
            now,
            3600,
        );
        assert!(r.is_revoked("s2", "u1", 1_699_999_989));
        r.prune(now + 3599);
        assert_eq!(r.len(), (2, 1));
        r.prune(now + 3601);
        assert_eq!(r.len(), (0, 0));
    }

    #[test]
    fn next_missing_uses_max_cursor_and_empty_page_keeps_it() {
        let mut r = Revocations::default();
        r.apply(
            page(
                serde_json::json!({"revocations":[{"cursor":7,"sid":"a"},{"cursor":5,"sid":"b"}]}),
            ),
            0,
            10,
        );
        assert_eq!(r.cursor, Some(7));
        r.apply(page(serde_json::json!({"revocations":[]})), 0, 10);
        assert_eq!(r.cursor, Some(7));
    }
}
