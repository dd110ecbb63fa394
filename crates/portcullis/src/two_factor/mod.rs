//! Two-factor authentication: TOTP authenticator apps and backup codes, in the shapes of
//! better-auth's twoFactor plugin (docs/two-factor.md): enrolment, codes, and the completion of
//! the sign-in challenges that the sign-in feature opens for accounts with two-factor on.

pub mod backup_codes;
pub mod factors;
pub mod manage;
pub mod routes;
pub mod settings;
pub mod store;
pub mod totp;

pub use routes::router;
