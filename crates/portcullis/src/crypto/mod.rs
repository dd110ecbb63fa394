//! Cryptographic plumbing: password hashing, random tokens and the master secret.

pub mod keys;
pub mod master_key;
pub mod passwords;
pub mod settings;
pub mod tokens;
