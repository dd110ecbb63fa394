//! Small answer bodies several features share.

use serde::Serialize;

/// better-auth's `{"status": true}`.
#[derive(Serialize, utoipa::ToSchema)]
pub struct StatusAnswer {
    status: bool,
}

impl StatusAnswer {
    pub const OK: Self = Self { status: true };
}
