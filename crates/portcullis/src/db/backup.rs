//! `portcullis backup`: a consistent copy of a SQLite database, taken while the server serves.

use std::path::Path;

use super::{Backend, Db};

impl Db {
    /// Writes a copy of the database to `to`, a file that must not exist yet.
    ///
    /// `VACUUM INTO` reads one snapshot of the database, so the copy is consistent even while the
    /// server keeps writing (under WAL, readers and the writer do not block each other), and it is
    /// compacted. The file is created empty and private (0600) first, because it holds password
    /// hashes; SQLite accepts an empty file as the target. PostgreSQL has its own tools.
    pub async fn backup_to(&self, to: &Path) -> anyhow::Result<()> {
        if self.backend != Backend::Sqlite {
            anyhow::bail!(
                "backup copies SQLite databases; for PostgreSQL use pg_dump or your provider's \
                 snapshots (docs/operations.md)"
            );
        }
        let target = to
            .to_str()
            .ok_or_else(|| anyhow::anyhow!("{} is not a UTF-8 path", to.display()))?;
        create_private_empty_file(to)?;
        let copied = sqlx::query("VACUUM INTO $1")
            .bind(target)
            .execute(&self.pool)
            .await;
        if let Err(e) = copied {
            // Leave no half-written copy that could be mistaken for a backup.
            let _ = std::fs::remove_file(to);
            anyhow::bail!("backup to {} failed: {e}", to.display());
        }
        Ok(())
    }
}

fn create_private_empty_file(path: &Path) -> anyhow::Result<()> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    options.open(path).map(drop).map_err(|e| match e.kind() {
        std::io::ErrorKind::AlreadyExists => {
            anyhow::anyhow!(
                "{} exists; a backup never overwrites a file",
                path.display()
            )
        }
        _ => anyhow::anyhow!("cannot create {}: {e}", path.display()),
    })
}
