//! The server's master secret: generated on first start into `<data_dir>/master.key` (mode 0600)
//! unless configured. Later features derive encryption keys from it.

use std::io::Write;
use std::path::Path;

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use rand::rand_core::UnwrapErr;
use rand::rngs::SysRng;
use rand::Rng;

const FILE_NAME: &str = "master.key";
const MIN_BYTES: usize = 32;

/// The master key: the configured secret, else the one in the data directory (made on first use).
pub fn master_key(config: &crate::config::Config) -> anyhow::Result<super::keys::MasterKey> {
    use secrecy::ExposeSecret;
    Ok(match &config.secret {
        Some(secret) => super::keys::MasterKey::new(secret.expose_secret()),
        None => super::keys::MasterKey::new(&load_or_create(&config.data_dir)?),
    })
}

pub fn decode_secret(raw: &str) -> Result<Vec<u8>, String> {
    let bytes = STANDARD
        .decode(raw.trim())
        .map_err(|_| "must be base64".to_owned())?;
    if bytes.len() < MIN_BYTES {
        return Err(format!("must decode to at least {MIN_BYTES} bytes"));
    }
    Ok(bytes)
}

/// Reads the master secret from the data directory, creating it (0600) on first start.
pub fn load_or_create(data_dir: &Path) -> anyhow::Result<Vec<u8>> {
    let path = data_dir.join(FILE_NAME);
    match std::fs::read_to_string(&path) {
        Ok(text) => {
            warn_if_readable_by_others(&path);
            decode_secret(&text).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => create(&path),
        Err(e) => Err(anyhow::anyhow!("cannot read {}: {e}", path.display())),
    }
}

fn create(path: &Path) -> anyhow::Result<Vec<u8>> {
    let mut secret = vec![0u8; MIN_BYTES];
    UnwrapErr(SysRng).fill_bytes(&mut secret);
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    match options.open(path) {
        Ok(mut file) => {
            file.write_all(STANDARD.encode(&secret).as_bytes())?;
            file.sync_all()?;
            tracing::info!(path = %path.display(), "generated a new master secret");
            Ok(secret)
        }
        // Another instance sharing the data directory won the race: use its secret.
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            load_or_create(path.parent().expect("the key file has a parent directory"))
        }
        Err(e) => Err(anyhow::anyhow!("cannot create {}: {e}", path.display())),
    }
}

fn warn_if_readable_by_others(path: &Path) {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        if let Ok(meta) = std::fs::metadata(path) {
            if meta.permissions().mode() & 0o077 != 0 {
                tracing::warn!(path = %path.display(), "master secret is readable by other users; chmod 600 it");
            }
        }
    }
}
