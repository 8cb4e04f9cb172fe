//! Passwords: hashing for a users file (argon2id, RustCrypto), and constant-time checks.

use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::error::{Error, Result};

/// A clear password kept only to be compared (`--requirepass-file`): its SHA-256, so the compare
/// takes the same time whatever the lengths.
#[derive(Clone)]
pub struct Plain([u8; 32]);

impl Plain {
    /// Keeps `password` for later compares.
    pub fn new(password: &[u8]) -> Plain {
        Plain(Sha256::digest(password).into())
    }

    /// Whether `given` is the password, in constant time.
    pub fn matches(&self, given: &[u8]) -> bool {
        let digest: [u8; 32] = Sha256::digest(given).into();
        self.0.ct_eq(&digest).into()
    }
}

/// The argon2id hash of `password` with a fresh random salt, as a PHC string
/// (`$argon2id$v=19$m=19456,t=2,p=1$...`): what a users file holds.
///
/// # Errors
/// [`Error::BadRequest`] if argon2 refuses the input (a password longer than 4 GiB).
pub fn hash(password: &[u8]) -> Result<String> {
    let salt = SaltString::generate(&mut OsRng);
    Argon2::default()
        .hash_password(password, &salt)
        .map(|h| h.to_string())
        .map_err(|e| Error::BadRequest(format!("cannot hash the password: {e}")))
}

/// Checks that `phc` is a password hash this build can verify (argon2id, argon2i or argon2d).
///
/// # Errors
/// [`Error::BadRequest`] naming what is wrong with it.
pub fn check_hash(phc: &str) -> Result<()> {
    let parsed = PasswordHash::new(phc)
        .map_err(|e| Error::BadRequest(format!("not a PHC password hash ({e})")))?;
    match parsed.algorithm.as_str() {
        "argon2id" | "argon2i" | "argon2d" => Ok(()),
        other => Err(Error::BadRequest(format!(
            "unsupported hash algorithm '{other}' (use `ringkv passwd` to make an argon2id hash)"
        ))),
    }
}

/// Whether `password` matches the PHC hash `phc` (argon2 compares in constant time). A hash that
/// does not parse matches nothing. Slow on purpose (tens of milliseconds): call it off the
/// async threads.
pub fn verify(phc: &str, password: &[u8]) -> bool {
    match PasswordHash::new(phc) {
        Ok(parsed) => Argon2::default().verify_password(password, &parsed).is_ok(),
        Err(_) => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_hash_verifies_its_password_only() {
        let phc = hash(b"correct horse").expect("hash");
        assert!(phc.starts_with("$argon2id$"));
        check_hash(&phc).expect("valid");
        assert!(verify(&phc, b"correct horse"));
        assert!(!verify(&phc, b"correct hors"));
        assert!(!verify("not a hash", b"correct horse"));
        assert_ne!(hash(b"correct horse").expect("hash"), phc, "fresh salt");
    }

    #[test]
    fn plain_passwords_compare_exactly() {
        let plain = Plain::new(b"s3cret");
        assert!(plain.matches(b"s3cret"));
        assert!(!plain.matches(b"s3cret "));
        assert!(!plain.matches(b""));
    }

    #[test]
    fn other_algorithms_are_refused() {
        let e = check_hash("$scrypt$ln=16,r=8,p=1$aM15713r3Xsvxbi31lqr1Q$nFNh2CVHVjNldFVKDHDlm4CbdRSCdEBsjjJxD+iCs5E");
        assert!(e.is_err());
        assert!(check_hash("hunter2").is_err());
    }
}
