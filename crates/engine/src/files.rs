//! Content-addressed file storage in the data directory: a file is stored once under its
//! SHA-256 (`attachments/ab/cdef...`), written to a temporary name and renamed, so a crash
//! never leaves half a file under a real name.

use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

/// Where stored files live.
#[derive(Clone, Debug)]
pub struct Files {
    root: PathBuf,
}

impl Files {
    pub fn new(data_dir: &Path) -> Self {
        Self {
            root: data_dir.join("attachments"),
        }
    }

    /// The path of a stored file, or `None` for anything that is not a SHA-256 in hex (so a
    /// request can never name a path outside the store).
    pub fn path(&self, sha256: &str) -> Option<PathBuf> {
        let valid = sha256.len() == 64
            && sha256
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
        valid.then(|| self.root.join(&sha256[..2]).join(&sha256[2..]))
    }

    /// Stores `bytes` and returns their SHA-256 in hex.
    pub async fn put(&self, bytes: &[u8]) -> std::io::Result<String> {
        let sha256: String = Sha256::digest(bytes)
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        let path = self
            .path(&sha256)
            .ok_or_else(|| std::io::Error::other("bad hash"))?;
        if tokio::fs::try_exists(&path).await? {
            return Ok(sha256);
        }
        let dir = path
            .parent()
            .ok_or_else(|| std::io::Error::other("no parent"))?;
        tokio::fs::create_dir_all(dir).await?;
        let temporary = dir.join(format!(".{}.tmp", uuid::Uuid::new_v4().simple()));
        tokio::fs::write(&temporary, bytes).await?;
        tokio::fs::File::open(&temporary).await?.sync_all().await?;
        tokio::fs::rename(&temporary, &path).await?;
        Ok(sha256)
    }

    pub async fn get(&self, sha256: &str) -> std::io::Result<Vec<u8>> {
        let path = self
            .path(sha256)
            .ok_or_else(|| std::io::Error::new(std::io::ErrorKind::NotFound, "not a hash"))?;
        tokio::fs::read(path).await
    }
}

/// How long a file link works: longer than any send's retries.
const LINK_LIFETIME_SECS: i64 = 24 * 3600;

/// What a file link's signature covers.
pub fn link_payload(sha256: &str, expires: i64, mime: &str) -> String {
    format!("{sha256}:{expires}:{mime}")
}

/// A link to a stored file for a channel to fetch.
pub fn file_link(state: &crate::Engine, sha256: &str, mime: Option<&str>) -> String {
    let expires = jiff::Timestamp::now().as_second() + LINK_LIFETIME_SECS;
    let mime = mime.unwrap_or("application/octet-stream");
    let signature = state
        .sealer
        .sign(link_payload(sha256, expires, mime).as_bytes());
    let base = format!("{}/files/{sha256}", state.public_url.trim_end_matches('/'));
    reqwest::Url::parse_with_params(
        &base,
        &[
            ("expires", expires.to_string()),
            ("type", mime.to_string()),
            ("signature", signature),
        ],
    )
    .map(|u| u.to_string())
    .unwrap_or(base)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn files_are_stored_once_under_their_hash() {
        let dir = std::env::temp_dir().join(format!("switchboard-files-{}", uuid::Uuid::new_v4()));
        let files = Files::new(&dir);
        let sha = files.put(b"hello").await.unwrap();
        assert_eq!(
            sha,
            "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824"
        );
        assert_eq!(files.put(b"hello").await.unwrap(), sha);
        assert_eq!(files.get(&sha).await.unwrap(), b"hello");
        assert!(files.path("../../etc/passwd").is_none());
        assert!(files.path(&"A".repeat(64)).is_none(), "lower-case hex only");
        let _ = std::fs::remove_dir_all(dir);
    }
}
