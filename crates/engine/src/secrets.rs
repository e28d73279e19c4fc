//! Sealing channel credentials at rest with XChaCha20-Poly1305. The key comes from the
//! configuration or, when none is given, from `DATA_DIR/secret.key`, created on first start
//! with owner-only permissions. A sealed value is `version byte || nonce || ciphertext`, so
//! a later key rotation can tell old values from new.
//!
//! Version 2 (written now): the cipher key and the file-link key are derived from the
//! configured key with HKDF-SHA256, each for its own purpose, and every value is sealed with
//! associated data naming what it belongs to (a connection's credentials name the
//! connection): a sealed value copied into another row does not open there. Version 1
//! values (the configured key used directly, no associated data) still open.

use std::path::Path;

use base64::{engine::general_purpose::STANDARD, Engine};
use chacha20poly1305::{
    aead::{Aead, AeadCore, KeyInit, OsRng, Payload},
    XChaCha20Poly1305, XNonce,
};
use hmac::{Hmac, Mac};

const VERSION: u8 = 2;
const LEGACY: u8 = 1;
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
    /// Opens version 1 values (sealed with the configured key itself).
    legacy: XChaCha20Poly1305,
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
        let legacy = XChaCha20Poly1305::new_from_slice(bytes)
            .map_err(|_| SecretsError::BadKey(format!("got {} bytes", bytes.len())))?;
        let hkdf = hkdf::Hkdf::<sha2::Sha256>::new(Some(b"switchboard"), bytes);
        let derive = |purpose: &[u8]| {
            let mut key = [0u8; 32];
            hkdf.expand(purpose, &mut key)
                .unwrap_or_else(|_| unreachable!("32 bytes is a valid HKDF-SHA256 length"));
            key
        };
        let cipher = XChaCha20Poly1305::new_from_slice(&derive(b"sealed values v2"))
            .map_err(|_| SecretsError::BadKey("derived key".into()))?;
        Ok(Self {
            cipher,
            legacy,
            link_key: derive(b"file links v2"),
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

    /// Seals `plaintext` for `context` (what it belongs to: it must be given again to open).
    pub fn seal(&self, plaintext: &[u8], context: &[u8]) -> Result<Vec<u8>, SecretsError> {
        let nonce = XChaCha20Poly1305::generate_nonce(&mut OsRng);
        let ciphertext = self
            .cipher
            .encrypt(
                &nonce,
                Payload {
                    msg: plaintext,
                    aad: context,
                },
            )
            .map_err(|_| SecretsError::Seal)?;
        let mut sealed = Vec::with_capacity(1 + NONCE_LEN + ciphertext.len());
        sealed.push(VERSION);
        sealed.extend_from_slice(&nonce);
        sealed.extend_from_slice(&ciphertext);
        Ok(sealed)
    }

    /// Opens a value sealed for `context`.
    pub fn open(&self, sealed: &[u8], context: &[u8]) -> Result<Vec<u8>, SecretsError> {
        if sealed.len() < 1 + NONCE_LEN {
            return Err(SecretsError::Open);
        }
        let nonce = XNonce::from_slice(&sealed[1..=NONCE_LEN]);
        let ciphertext = &sealed[1 + NONCE_LEN..];
        match sealed[0] {
            VERSION => self.cipher.decrypt(
                nonce,
                Payload {
                    msg: ciphertext,
                    aad: context,
                },
            ),
            LEGACY => self.legacy.decrypt(nonce, ciphertext),
            _ => return Err(SecretsError::Open),
        }
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
        let sealed = sealer.seal(b"123456:token", b"row 1").unwrap();
        assert!(
            !sealed.windows(6).any(|w| w == b"123456"),
            "not stored in clear"
        );
        assert_eq!(sealer.open(&sealed, b"row 1").unwrap(), b"123456:token");
        assert_eq!(
            Sealer::load(None, &dir)
                .unwrap()
                .open(&sealed, b"row 1")
                .unwrap(),
            b"123456:token",
            "the key file is reused"
        );
        assert!(
            matches!(sealer.open(&sealed, b"row 2"), Err(SecretsError::Open)),
            "a value copied into another row does not open there"
        );
        let other = Sealer::from_base64(&STANDARD.encode([7u8; 32])).unwrap();
        assert!(matches!(
            other.open(&sealed, b"row 1"),
            Err(SecretsError::Open)
        ));
        let mut tampered = sealed.clone();
        *tampered.last_mut().unwrap() ^= 1;
        assert!(matches!(
            sealer.open(&tampered, b"row 1"),
            Err(SecretsError::Open)
        ));
        assert!(Sealer::from_base64("c2hvcnQ=").is_err());

        // A version 1 value (the key itself, no context) written before still opens.
        let key: [u8; 32] = [9; 32];
        let raw = XChaCha20Poly1305::new_from_slice(&key).unwrap();
        let nonce = XChaCha20Poly1305::generate_nonce(&mut OsRng);
        let mut v1 = vec![LEGACY];
        v1.extend_from_slice(&nonce);
        v1.extend(raw.encrypt(&nonce, &b"old token"[..]).unwrap());
        let sealer = Sealer::from_base64(&STANDARD.encode(key)).unwrap();
        assert_eq!(sealer.open(&v1, b"any row").unwrap(), b"old token");
        // The derived keys are not the configured key: a v2 value does not open with it.
        let v2 = sealer.seal(b"new token", b"").unwrap();
        assert!(raw
            .decrypt(XNonce::from_slice(&v2[1..=NONCE_LEN]), &v2[1 + NONCE_LEN..])
            .is_err());
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
