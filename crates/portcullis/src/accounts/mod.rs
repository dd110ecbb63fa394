//! Accounts: sign-up and sign-in with email and password, profile updates, password change,
//! account deletion.

pub mod credentials;
pub mod email;
pub mod model;
pub mod password_policy;
pub mod routes;
pub mod store;
pub mod throttle;

pub use model::User;
pub use routes::router;
