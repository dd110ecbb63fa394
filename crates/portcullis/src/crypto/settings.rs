//! Password hashing costs (`[password]`; the policy is the users feature's).

use crate::settings::parse::number_in;
use crate::settings_group;

settings_group! {
    /// `[password]`: how passwords are hashed.
    pub struct HashingSettings {
        /// Argon2id memory cost (OWASP floor; lower is refused).
        argon2_memory_kib: u32 = Plain("password.argon2_memory_kib", Value("19456"), number_in(19456..=4194304)),
        /// Argon2id time cost (floor 2). Raising a cost re-hashes each password at its owner's
        /// next sign-in.
        argon2_iterations: u32 = Plain("password.argon2_iterations", Value("2"), number_in(2..=100)),
        /// Argon2id lanes.
        argon2_parallelism: u32 = Plain("password.argon2_parallelism", Value("1"), number_in(1..=64)),
        /// Threads that hash passwords (`0`: one per core), at low scheduling priority so session
        /// checks stay fast during a sign-in storm.
        hash_threads: usize = Plain("password.hash_threads", Value("0"), number_in(0..=1024)),
    }
}
