//! Users: who has an account. The `users` table, the user as clients see it, and the rules for
//! the values a user gives us (email address, password). Every other feature builds on this one;
//! it builds on none.

pub mod email;
pub mod model;
pub mod password_policy;
pub mod profile;
pub mod settings;
pub mod store;

pub use model::User;
