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
}
