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

/// better-auth's `{"success": true}` (sign-out, admin session and user removals, role deletion).
#[derive(Serialize, utoipa::ToSchema)]
pub struct SuccessAnswer {
    success: bool,
}

impl SuccessAnswer {
    pub const OK: Self = Self { success: true };
}
