//! Password hashing and (later) request limits.

pub mod password;

pub use password::{PasswordHasher, Verdict};
