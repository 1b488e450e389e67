//! The key-encryption key (KEK): where it comes from, and the check that
//! refuses to start with the wrong one.
//!
//! Order of lookup: the `HOLDFAST_KEK` environment variable (32 bytes,
//! base64url), else the KEK file (see [`crate::config::StorageLocation`]).
//! The file is created, mode 0600, only when the database has never been
//! used with a KEK; if the database has a KEK check value and no KEK can be
//! found, or the KEK found does not match, Holdfast stops with a message and
//! changes nothing. The server and the CLI both go through [`load_kek`].

use std::io::Write;
use std::path::{Path, PathBuf};

use holdfast_crypto::aead::Kek;
use holdfast_store::Store;

/// Environment variable holding the KEK.
pub const KEK_ENV: &str = "HOLDFAST_KEK";

/// Why the KEK could not be loaded. Every message says what to do.
#[derive(Debug, thiserror::Error)]
pub enum KekError {
    /// `HOLDFAST_KEK` is set but malformed.
    #[error(
        "HOLDFAST_KEK is not a valid key: it must be 32 random bytes, base64url-encoded (43 characters)"
    )]
    BadEnv,
    /// The KEK file exists but is malformed.
    #[error("the key file {0} does not hold a valid key (32 bytes, base64url); refusing to start")]
    BadFile(PathBuf),
    /// The database was initialised with a KEK, and none was found.
    #[error(
        "this database's signing keys are encrypted with a key-encryption key, but none was found: \
         set HOLDFAST_KEK or restore the key file {0}. Nothing was changed."
    )]
    Missing(PathBuf),
    /// The KEK found does not match the one the database was initialised with.
    #[error(
        "the key-encryption key from {0} does not match the one this database was initialised with; \
         refusing to start so that nothing is changed. Use the original HOLDFAST_KEK or key file."
    )]
    Mismatch(String),
    /// Reading or writing the key file failed.
    #[error("key file {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The IO error.
        source: std::io::Error,
    },
    /// The store failed.
    #[error(transparent)]
    Store(#[from] holdfast_store::StoreError),
    /// Randomness or encryption failed.
    #[error(transparent)]
    Crypto(#[from] holdfast_crypto::CryptoError),
}

/// Finds (or, for a fresh database, creates) the KEK and checks it against
/// the database. `env_value` is the value of `HOLDFAST_KEK`, if set.
pub async fn load_kek(
    store: &dyn Store,
    env_value: Option<&str>,
    file: &Path,
) -> Result<Kek, KekError> {
    let stored_check = store.kek_check().await?;
    let (kek, source) = match env_value {
        Some(value) => (
            Kek::from_base64url(value).map_err(|_| KekError::BadEnv)?,
            KEK_ENV.to_owned(),
        ),
        None => match std::fs::read_to_string(file) {
            Ok(text) => (
                Kek::from_base64url(&text).map_err(|_| KekError::BadFile(file.to_path_buf()))?,
                file.display().to_string(),
            ),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                if stored_check.is_some() {
                    return Err(KekError::Missing(file.to_path_buf()));
                }
                let kek = create_kek_file(file)?;
                tracing::warn!(
                    path = %file.display(),
                    "created a new key-encryption key file; back it up: without it the signing keys cannot be read"
                );
                (kek, file.display().to_string())
            }
            Err(source) => {
                return Err(KekError::Io {
                    path: file.to_path_buf(),
                    source,
                });
            }
        },
    };
    let check = match stored_check {
        Some(check) => check,
        // Two processes may initialise at once; the store keeps the first.
        None => store.init_kek_check(&kek.make_check()?).await?,
    };
    if !kek.verify_check(&check) {
        return Err(KekError::Mismatch(source));
    }
    tracing::info!(source = %source, "key-encryption key loaded");
    Ok(kek)
}

fn create_kek_file(path: &Path) -> Result<Kek, KekError> {
    let io = |source| KekError::Io {
        path: path.to_path_buf(),
        source,
    };
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent).map_err(io)?;
    }
    let (kek, encoded) = Kek::generate()?;
    let mut options = std::fs::OpenOptions::new();
    // create_new: never overwrite a key file that appeared meanwhile.
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut f = options.open(path).map_err(io)?;
    f.write_all(encoded.as_bytes()).map_err(io)?;
    f.write_all(b"\n").map_err(io)?;
    f.sync_all().map_err(io)?;
    Ok(kek)
}
