//! Accounts: sign-up with email and password, profile updates, password change and account
//! deletion (the endpoints a signed-up user manages their account with).

pub mod routes;

pub use routes::router;
