//! Password hashing with argon2id (m = 19 MiB, t = 2, p = 1, the OWASP
//! minimum), run on the blocking pool so sign-ins never stall the runtime.

use crate::errors::AppError;
use argon2::password_hash::{
    PasswordHash, PasswordHasher, PasswordVerifier, SaltString, rand_core::OsRng,
};
use argon2::{Algorithm, Argon2, Params, Version};
use std::sync::OnceLock;

fn hasher() -> Argon2<'static> {
    let params = Params::new(19_456, 2, 1, None).expect("valid argon2 parameters");
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
}

/// A new password from a form: it meets the rules and the repeat field
/// agrees (else `mismatch`, on `password_repeat`).
pub fn chosen(
    password: &str,
    repeat: &str,
    mismatch: &str,
) -> Result<patchport_core::Password, AppError> {
    let pw = patchport_core::Password::parse(password)?;
    if password != repeat {
        return Err(AppError::invalid("password_repeat", mismatch));
    }
    Ok(pw)
}

/// Hashes a password into a PHC string.
pub async fn hash(password: &patchport_core::Password) -> Result<String, AppError> {
    let secret = password.expose().to_owned();
    tokio::task::spawn_blocking(move || hash_blocking(&secret))
        .await
        .map_err(|e| {
            tracing::error!(error = %e, "hashing task failed");
            AppError::Internal
        })?
}

/// Hashes on the current thread (for the CLI).
pub fn hash_blocking(secret: &str) -> Result<String, AppError> {
    let salt = SaltString::generate(&mut OsRng);
    hasher()
        .hash_password(secret.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| {
            tracing::error!(error = %e, "hashing failed");
            AppError::Internal
        })
}

/// Checks a password against a PHC string. `None` for the hash checks
/// against a dummy, so unknown users cost as much time as known ones.
pub async fn verify(phc: Option<String>, candidate: String) -> bool {
    tokio::task::spawn_blocking(move || {
        let phc = phc.unwrap_or_else(|| dummy_hash().to_owned());
        match PasswordHash::new(&phc) {
            // Verify with the parameters in the PHC string, so hashes made
            // with older parameters keep working.
            Ok(parsed) => hasher()
                .verify_password(candidate.as_bytes(), &parsed)
                .is_ok(),
            Err(_) => false,
        }
    })
    .await
    .unwrap_or(false)
}

fn dummy_hash() -> &'static str {
    static DUMMY: OnceLock<String> = OnceLock::new();
    DUMMY.get_or_init(|| {
        hash_blocking("dummy password that nobody has").expect("hash dummy password")
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn hashes_are_argon2id_with_policy_parameters_and_verify() {
        let pw = patchport_core::Password::parse("correct horse battery").unwrap();
        let phc = hash(&pw).await.unwrap();
        assert!(phc.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{phc}");
        assert!(verify(Some(phc.clone()), "correct horse battery".into()).await);
        assert!(!verify(Some(phc), "correct horse batterz".into()).await);
        assert!(!verify(None, "dummy password".into()).await);
        assert!(!verify(Some("not a phc string".into()), "x".into()).await);
    }
}
