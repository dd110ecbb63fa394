use serde::Serialize;

use crate::http::timestamp::Timestamp;

/// A user as better-auth's client sees it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct User {
    pub id: String,
    pub name: String,
    pub email: String,
    pub email_verified: bool,
    pub image: Option<String>,
    /// `user` unless an administrator says otherwise; carried in access tokens.
    pub role: String,
    /// Password sign-ins need a second factor (TOTP or a backup code).
    pub two_factor_enabled: bool,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
    /// Refused at every sign-in while true (see the admin API's ban-user).
    pub banned: bool,
    pub ban_reason: Option<String>,
    /// When the ban lifts itself; `null`: never.
    pub ban_expires: Option<Timestamp>,
}

impl User {
    /// Banned at `now`: a ban whose expiry has passed no longer counts.
    pub fn is_banned(&self, now: i64) -> bool {
        self.banned && self.ban_expires.is_none_or(|at| at.0 > now)
    }
}
