//! Sealing channel credentials at rest with XChaCha20-Poly1305. The key comes from the
//! configuration or, when none is given, from `DATA_DIR/secret.key`, created on first start
//! with owner-only permissions. A sealed value is `version byte || nonce || ciphertext`, so
//! a later key rotation can tell old values from new.

use std::path::Path;

use base64::{engine::general_purpose::STANDARD, Engine};
use chacha20poly1305::{
    aead::{Aead, AeadCore, KeyInit, OsRng},
    XChaCha20Poly1305, XNonce,
};
use hmac::{Hmac, Mac};
use sha2::Digest;

const VERSION: u8 = 1;
const NONCE_LEN: usize = 24;

/// Why the key could not be loaded or a value not be opened.
#[derive(Debug, thiserror::Error)]
pub enum SecretsError {
    #[error("the secret key must be 32 bytes, base64-encoded: {0}")]
    BadKey(String),
    #[error("cannot read or create the key file {path}: {source}")]
    KeyFile {
        path: String,
        source: std::io::Error,
    },
    #[error("a sealed value could not be opened (wrong key or damaged data)")]
    Open,
    #[error("sealing failed")]
    Seal,
}

/// Seals and opens small secrets.
#[derive(Clone)]
pub struct Sealer {
    cipher: XChaCha20Poly1305,
    /// Signs links that expire (files a channel fetches by URL); derived from the key.
    link_key: [u8; 32],
}

impl std::fmt::Debug for Sealer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Sealer(<key>)")
    }
}

impl Sealer {
    pub fn from_base64(key: &str) -> Result<Self, SecretsError> {
        let bytes = STANDARD
            .decode(key.trim())
            .map_err(|e| SecretsError::BadKey(e.to_string()))?;
        Self::from_key(&bytes)
    }

    fn from_key(bytes: &[u8]) -> Result<Self, SecretsError> {
        let cipher = XChaCha20Poly1305::new_from_slice(bytes)
            .map_err(|_| SecretsError::BadKey(format!("got {} bytes", bytes.len())))?;
        let mut derive = sha2::Sha256::new();
        derive.update(b"switchboard file links v1");
        derive.update(bytes);
        Ok(Self {
            cipher,
            link_key: derive.finalize().into(),
        })
    }

    /// The configured key, else the key file in `data_dir`, created when missing.
    pub fn load(configured: Option<&str>, data_dir: &Path) -> Result<Self, SecretsError> {
        if let Some(key) = configured {
            return Self::from_base64(key);
        }
        let path = data_dir.join("secret.key");
        let io = |source| SecretsError::KeyFile {
            path: path.display().to_string(),
            source,
        };
        match std::fs::read_to_string(&path) {
            Ok(key) => Self::from_base64(&key),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                std::fs::create_dir_all(data_dir).map_err(io)?;
                let key = XChaCha20Poly1305::generate_key(&mut OsRng);
                write_private(&path, STANDARD.encode(key).as_bytes()).map_err(io)?;
                tracing::info!(path = %path.display(), "created the key that encrypts channel credentials; back it up with the database");
                Self::from_key(&key)
            }
            Err(e) => Err(io(e)),
        }
    }

    /// A signature of `data` (hex HMAC-SHA256 with the link key).
    pub fn sign(&self, data: &[u8]) -> String {
        let mut mac = <Hmac<sha2::Sha256> as Mac>::new_from_slice(&self.link_key)
            .unwrap_or_else(|_| unreachable!("HMAC takes any key length"));
        mac.update(data);
        mac.finalize()
            .into_bytes()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect()
    }

    /// Whether `signature` is [`Sealer::sign`] of `data`, compared in constant time.
    pub fn verify(&self, data: &[u8], signature: &str) -> bool {
        use subtle::ConstantTimeEq;
        bool::from(self.sign(data).as_bytes().ct_eq(signature.as_bytes()))
    }

    pub fn seal(&self, plaintext: &[u8]) -> Result<Vec<u8>, SecretsError> {
        let nonce = XChaCha20Poly1305::generate_nonce(&mut OsRng);
        let ciphertext = self
            .cipher
            .encrypt(&nonce, plaintext)
            .map_err(|_| SecretsError::Seal)?;
        let mut sealed = Vec::with_capacity(1 + NONCE_LEN + ciphertext.len());
        sealed.push(VERSION);
        sealed.extend_from_slice(&nonce);
        sealed.extend_from_slice(&ciphertext);
        Ok(sealed)
    }

    pub fn open(&self, sealed: &[u8]) -> Result<Vec<u8>, SecretsError> {
        if sealed.len() < 1 + NONCE_LEN || sealed[0] != VERSION {
            return Err(SecretsError::Open);
        }
        let nonce = XNonce::from_slice(&sealed[1..=NONCE_LEN]);
        self.cipher
            .decrypt(nonce, &sealed[1 + NONCE_LEN..])
            .map_err(|_| SecretsError::Open)
    }
}

#[cfg(unix)]
fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::{io::Write, os::unix::fs::OpenOptionsExt};
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)?;
    file.write_all(bytes)?;
    file.sync_all()
}

#[cfg(not(unix))]
fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    std::fs::write(path, bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sealed_values_open_only_with_their_key() {
        let dir =
            std::env::temp_dir().join(format!("switchboard-secrets-{}", uuid::Uuid::new_v4()));
        let sealer = Sealer::load(None, &dir).unwrap();
        let sealed = sealer.seal(b"123456:token").unwrap();
        assert!(
            !sealed.windows(6).any(|w| w == b"123456"),
            "not stored in clear"
        );
        assert_eq!(sealer.open(&sealed).unwrap(), b"123456:token");
        assert_eq!(
            Sealer::load(None, &dir).unwrap().open(&sealed).unwrap(),
            b"123456:token",
            "the key file is reused"
        );
        let other = Sealer::from_base64(&STANDARD.encode([7u8; 32])).unwrap();
        assert!(matches!(other.open(&sealed), Err(SecretsError::Open)));
        let mut tampered = sealed.clone();
        *tampered.last_mut().unwrap() ^= 1;
        assert!(matches!(sealer.open(&tampered), Err(SecretsError::Open)));
        assert!(Sealer::from_base64("c2hvcnQ=").is_err());
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(dir.join("secret.key"))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        let _ = std::fs::remove_dir_all(dir);
    }
}
