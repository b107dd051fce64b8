//! Password hashing and strength, and who a request comes from.

pub mod client_address;
pub mod password;
pub mod strength;

pub use password::{NewPasswordError, PasswordHasher, Verdict};
