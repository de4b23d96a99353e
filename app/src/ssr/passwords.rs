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

/// A new password: it meets the length rules and is not a commonly leaked
/// one. zxcvbn (Dropbox's estimator) knows the 30,000 most frequent
/// passwords of the xato.net corpus of leaked passwords, also in upper
/// case, reversed and with the usual symbol-for-letter swaps (`P@ssw0rd`):
/// a password that is one of them whole is refused, and so is one it
/// estimates to fall within a million guesses (such a word with a few
/// digits or a year: `letmein123`, `sunshine2020`). Signing in with an
/// existing password never checks this.
pub fn new_password(raw: &str) -> Result<patchport_core::Password, AppError> {
    let pw = patchport_core::Password::parse(raw)?;
    match weakness(raw) {
        Some(Weakness::Leaked) => Err(AppError::invalid(
            "password",
            "this password is on a list of commonly leaked passwords: choose another",
        )),
        Some(Weakness::Guessable) => Err(AppError::invalid(
            "password",
            "this password is too easy to guess (a common word or password with a few \
             digits): choose a longer or less common one",
        )),
        None => Ok(pw),
    }
}

/// Why a new password is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Weakness {
    /// It is, whole, on the leaked-password list.
    Leaked,
    /// zxcvbn finds it within a million guesses.
    Guessable,
}

/// What is wrong with `raw` as a new password, if anything. Only the first
/// 64 characters are analysed (zxcvbn's work grows fast with length; no
/// list entry is that long).
pub fn weakness(raw: &str) -> Option<Weakness> {
    use zxcvbn::matching::patterns::MatchPattern;
    let head: String = raw.chars().take(64).collect();
    let entropy = zxcvbn::zxcvbn(&head, &[]);
    let chars = head.chars().count();
    let leaked = entropy.sequence().iter().any(|m| {
        m.i == 0
            && m.j + 1 == chars
            // zxcvbn does not export its dictionary type; its default
            // variant is the passwords list.
            && matches!(&m.pattern, MatchPattern::Dictionary(d)
                if d.dictionary_name == Default::default())
    });
    if leaked {
        Some(Weakness::Leaked)
    } else if entropy.guesses() < 1_000_000 {
        Some(Weakness::Guessable)
    } else {
        None
    }
}

/// A new password from a form: it meets the rules and the repeat field
/// agrees (else `mismatch`, on `password_repeat`).
pub fn chosen(
    password: &str,
    repeat: &str,
    mismatch: &str,
) -> Result<patchport_core::Password, AppError> {
    let pw = new_password(password)?;
    if password != repeat {
        return Err(AppError::invalid("password_repeat", mismatch));
    }
    Ok(pw)
}

/// Tells the account's owner (notification and mail, which cannot be
/// switched off) that its password was changed, and how: if it was not
/// them, they know at once.
pub async fn tell_changed(
    conn: &mut patchport_db::Conn,
    account: &crate::accounts::UserView,
    how: patchport_core::notice::PasswordChange,
    now: patchport_core::Timestamp,
) -> Result<(), AppError> {
    let notice = patchport_core::notice::Notice::PasswordChanged {
        username: account.username.clone(),
        how,
        at: now,
    };
    patchport_db::mail::notify(conn, account.id, &notice, now).await?;
    Ok(())
}

/// How long a sign-in waits for one of the portal's hashing slots before
/// it is told to try again (429).
const HASH_WAIT: std::time::Duration = std::time::Duration::from_secs(2);

/// One of the portal's hashing slots (`AuthSettings::hashes`): each hash
/// takes 19 MiB and a core for a while, so only so many run at once, and
/// a flood of sign-ins gets 429 instead of the portal's memory. Outside a
/// request (the CLI, unit tests) there is no cap.
async fn slot() -> Result<Option<tokio::sync::OwnedSemaphorePermit>, AppError> {
    let Some(state) = leptos::prelude::use_context::<crate::ssr::AppState>() else {
        return Ok(None);
    };
    match tokio::time::timeout(HASH_WAIT, state.auth.hashes.clone().acquire_owned()).await {
        Ok(Ok(permit)) => Ok(Some(permit)),
        _ => Err(AppError::TooManyRequests(
            "Too many sign-ins at once. Try again in a moment.".into(),
        )),
    }
}

/// Hashes a password into a PHC string.
pub async fn hash(password: &patchport_core::Password) -> Result<String, AppError> {
    let secret = password.expose().to_owned();
    let permit = slot().await?;
    tokio::task::spawn_blocking(move || {
        let _permit = permit;
        hash_blocking(&secret)
    })
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
/// Waits for a hashing slot; 429 when none frees up in time.
pub async fn verify(phc: Option<String>, candidate: String) -> Result<bool, AppError> {
    let permit = slot().await?;
    Ok(tokio::task::spawn_blocking(move || {
        let _permit = permit;
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
    .unwrap_or(false))
}

/// Whether a stored hash was made with weaker parameters than today's
/// (or another algorithm): it is made again at the next sign-in.
pub fn needs_rehash(phc: &str) -> bool {
    let Ok(parsed) = PasswordHash::new(phc) else {
        return false;
    };
    let current = hasher();
    let params = current.params();
    let get = |name: &str| parsed.params.get_decimal(name);
    parsed.algorithm.as_str() != "argon2id"
        || get("m").is_none_or(|m| m < params.m_cost())
        || get("t").is_none_or(|t| t < params.t_cost())
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

    #[test]
    fn commonly_leaked_and_easily_guessed_passwords_are_refused() {
        for leaked in [
            "password",
            "qwertyuiop",
            "1234567890",
            "1q2w3e4r5t",
            "welcome123",
            "PASSWORD",
            "P@ssw0rd",
            "drowssap",
        ] {
            assert_eq!(weakness(leaked), Some(Weakness::Leaked), "{leaked}");
        }
        for guessable in [
            "letmein123",
            "Password1!",
            "sunshine2020",
            "monkey12345",
            "admin12345",
        ] {
            assert_eq!(
                weakness(guessable),
                Some(Weakness::Guessable),
                "{guessable}"
            );
        }
        for fine in [
            "correct horse battery",
            "test-password-1",
            "patchport-demo",
            "password and then some more words",
        ] {
            assert_eq!(weakness(fine), None, "{fine}");
        }
        assert!(new_password("qwertyuiop").is_err());
        assert!(new_password("letmein123").is_err());
        assert!(new_password("correct horse battery").is_ok());
        assert!(
            new_password(&"a long passphrase ".repeat(14)).is_ok(),
            "long ones are fine and quick"
        );
    }

    #[tokio::test]
    async fn hashes_are_argon2id_with_policy_parameters_and_verify() {
        let pw = patchport_core::Password::parse("correct horse battery").unwrap();
        let phc = hash(&pw).await.unwrap();
        assert!(phc.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{phc}");
        assert!(
            verify(Some(phc.clone()), "correct horse battery".into())
                .await
                .unwrap()
        );
        assert!(
            !verify(Some(phc.clone()), "correct horse batterz".into())
                .await
                .unwrap()
        );
        assert!(!verify(None, "dummy password".into()).await.unwrap());
        assert!(
            !verify(Some("not a phc string".into()), "x".into())
                .await
                .unwrap()
        );
        assert!(!needs_rehash(&phc), "made with today's parameters");
        // An argon2id hash with the older, weaker m = 4 MiB, t = 1.
        let weak = Argon2::new(
            Algorithm::Argon2id,
            Version::V0x13,
            Params::new(4096, 1, 1, None).unwrap(),
        )
        .hash_password(b"correct horse battery", &SaltString::generate(&mut OsRng))
        .unwrap()
        .to_string();
        assert!(needs_rehash(&weak));
        assert!(
            verify(Some(weak), "correct horse battery".into())
                .await
                .unwrap(),
            "still accepted"
        );
    }
}
