//! One controller per SQLite database: `serve` (and the demo) hold an
//! exclusive lock on `<database>.lock` for as long as they run, so a second
//! controller started on the same file stops at once with a message naming
//! the one that holds it, instead of two processes writing one file (SQLite
//! has no way to share it between controllers; several controllers share a
//! PostgreSQL database). The CLI's one-off commands take no lock: they run
//! beside the controller, as the operator expects.
//!
//! The lock is the operating system's (`flock`), released when the process
//! ends however it ends; the file keeps the holder's pid for the message.

use std::fs::{File, OpenOptions, TryLockError};
use std::io::{Read, Seek, Write};
use std::path::PathBuf;

/// The held lock (dropped: released).
#[derive(Debug)]
pub struct Held {
    _file: File,
    pub path: PathBuf,
}

#[derive(Debug, thiserror::Error)]
pub enum LockError {
    #[error(
        "another controller (pid {pid}) is running on the SQLite database {db}: one controller per SQLite file \
         (stop it first, or move to PostgreSQL to run several controllers)"
    )]
    Taken { pid: String, db: String },
    #[error("cannot lock {0}: {1}")]
    Io(String, std::io::Error),
}

/// The SQLite file of a `sqlite://` URL (`None` for PostgreSQL).
pub fn sqlite_path(url: &str) -> Option<PathBuf> {
    let rest = url.strip_prefix("sqlite://").or_else(|| url.strip_prefix("sqlite:"))?;
    let path = rest.split('?').next().unwrap_or(rest);
    (!path.is_empty() && path != ":memory:").then(|| PathBuf::from(path))
}

/// Takes the lock of the SQLite database at `url` (nothing to hold for
/// PostgreSQL).
pub fn hold(url: &str) -> Result<Option<Held>, LockError> {
    let Some(db) = sqlite_path(url) else { return Ok(None) };
    let mut path = db.clone().into_os_string();
    path.push(".lock");
    let path = PathBuf::from(path);
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(|e| LockError::Io(dir.display().to_string(), e))?;
    }
    let mut file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(&path)
        .map_err(|e| LockError::Io(path.display().to_string(), e))?;
    match file.try_lock() {
        Ok(()) => {}
        Err(TryLockError::WouldBlock) => {
            let mut pid = String::new();
            let _ = file.read_to_string(&mut pid);
            let pid = pid.trim().to_string();
            return Err(LockError::Taken {
                pid: if pid.is_empty() { "unknown".into() } else { pid },
                db: db.display().to_string(),
            });
        }
        Err(TryLockError::Error(e)) => return Err(LockError::Io(path.display().to_string(), e)),
    }
    // The holder's pid, for the next one's message.
    let _ = file.set_len(0);
    let _ = file.rewind();
    let _ = writeln!(file, "{}", std::process::id());
    let _ = file.flush();
    Ok(Some(Held { _file: file, path }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_name_their_file() {
        assert_eq!(sqlite_path("sqlite:///var/lib/mast/mast.db"), Some(PathBuf::from("/var/lib/mast/mast.db")));
        assert_eq!(sqlite_path("sqlite://./data/m.db?mode=rwc"), Some(PathBuf::from("./data/m.db")));
        assert_eq!(sqlite_path("postgres://db/mast"), None);
        assert_eq!(sqlite_path("sqlite::memory:"), None);
    }

    /// Held once; a second holder is refused with the first one's pid;
    /// free again once the first lets go. (`flock` locks belong to the open
    /// file, so two opens in one process conflict as two processes do.)
    #[test]
    fn a_second_holder_is_refused_until_the_first_lets_go() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}/mast.db", dir.path().display());
        let first = hold(&url).unwrap().expect("a lock for SQLite");
        match hold(&url) {
            Err(LockError::Taken { pid, db }) => {
                assert_eq!(pid, std::process::id().to_string());
                assert!(db.ends_with("mast.db"));
            }
            other => panic!("{other:?}"),
        }
        drop(first);
        assert!(hold(&url).unwrap().is_some());
        assert!(hold("postgres://x/y").unwrap().is_none());
    }
}
