//! The recording's files on disk: created private (0600 files, a 0700 body folder), never
//! opened through a symbolic link, written to a temporary name and then renamed.

use crate::redact::record::{self as redact, Scrubber};
use std::io::Write;
use std::path::{Path, PathBuf};

/// How [`open_private`] opens a file for writing.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Create {
    /// The recording: created if missing, else appended to.
    OrAppend,
    /// A body file under a fresh temporary name: it must not exist yet.
    New,
    /// An output the user named (`-o`): created or truncated; it may be a device such as
    /// `/dev/null`, but not a link.
    Replace,
}

/// Opens a file for writing: created with mode 0600, never through a symbolic link in its last
/// component; a recording or body only as a regular file (a FIFO or device is refused without
/// blocking on it).
pub fn open_private(path: &Path, how: Create) -> std::io::Result<std::fs::File> {
    let mut o = std::fs::OpenOptions::new();
    match how {
        Create::OrAppend => o.create(true).append(true),
        Create::New => o.create_new(true).write(true),
        Create::Replace => o.create(true).write(true).truncate(true),
    };
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        let flags = match how {
            Create::Replace => libc::O_NOFOLLOW,
            _ => libc::O_NOFOLLOW | libc::O_NONBLOCK,
        };
        o.mode(0o600).custom_flags(flags);
    }
    #[cfg(not(unix))]
    if std::fs::symlink_metadata(path).is_ok_and(|m| m.file_type().is_symlink()) {
        return Err(link_error(path));
    }
    let f = o.open(path).map_err(|e| {
        if is_link_error(&e) {
            link_error(path)
        } else {
            e
        }
    })?;
    if how != Create::Replace && !f.metadata()?.is_file() {
        return Err(std::io::Error::other(format!(
            "{} is not a regular file",
            path.display()
        )));
    }
    Ok(f)
}

/// Opens a file for reading without following a symbolic link in its last component, and
/// without blocking on a FIFO.
pub fn open_no_follow(path: &Path) -> std::io::Result<std::fs::File> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        std::fs::OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK)
            .open(path)
            .map_err(|e| {
                if is_link_error(&e) {
                    link_error(path)
                } else {
                    e
                }
            })
    }
    #[cfg(not(unix))]
    {
        if std::fs::symlink_metadata(path)?.file_type().is_symlink() {
            return Err(link_error(path));
        }
        std::fs::File::open(path)
    }
}

fn link_error(path: &Path) -> std::io::Error {
    std::io::Error::other(format!(
        "{} is a symbolic link; sigtap neither reads nor writes a recording's files through a link",
        path.display()
    ))
}

/// The error `O_NOFOLLOW` gives for a link (ELOOP on Linux, EMLINK on the BSDs).
pub fn is_link_error(e: &std::io::Error) -> bool {
    #[cfg(unix)]
    {
        matches!(e.raw_os_error(), Some(libc::ELOOP | libc::EMLINK))
    }
    #[cfg(not(unix))]
    {
        let _ = e;
        false
    }
}

/// Makes sure the body folder is a real folder (created 0700 when missing), not a link.
pub fn body_folder(dir: &Path) -> std::io::Result<()> {
    match std::fs::symlink_metadata(dir) {
        Ok(m) if m.file_type().is_symlink() => return Err(link_error(dir)),
        Ok(m) if m.is_dir() => return Ok(()),
        Ok(_) => {
            return Err(std::io::Error::other(format!(
                "{} is not a folder",
                dir.display()
            )))
        }
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(e),
        Err(_) => {}
    }
    let mut b = std::fs::DirBuilder::new();
    b.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut b, 0o700);
    b.create(dir)?;
    // made here or meanwhile by another body: either way it must be a real folder now
    let m = std::fs::symlink_metadata(dir)?;
    if m.file_type().is_symlink() || !m.is_dir() {
        return Err(link_error(dir));
    }
    Ok(())
}

static SEQ: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

/// A fresh temporary name in the body folder (`.TAG-PID-N`).
pub fn temp_name(dir: &Path, tag: &str) -> PathBuf {
    dir.join(format!(
        ".{tag}-{}-{}",
        std::process::id(),
        SEQ.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
    ))
}

/// Reads a stored body through `s`; when something was masked, stores the masked bytes under
/// their own hash, removes the original and returns the new hash.
pub fn scrub_stored(dir: &Path, path: &Path, s: &Scrubber) -> std::io::Result<Option<String>> {
    let mut from = open_no_follow(path)?;
    let tmp = temp_name(dir, "scrub");
    let result = (|| {
        let mut to = std::io::BufWriter::new(open_private(&tmp, Create::New)?);
        let (sha, _, masked) = redact::scrub_stream(s, &mut from, &mut to)?;
        to.flush()?;
        if masked == 0 {
            return Ok(None);
        }
        let new = dir.join(&sha);
        std::fs::rename(&tmp, &new)?;
        if new != path {
            std::fs::remove_file(path)?;
        }
        Ok(Some(sha))
    })();
    if !matches!(result, Ok(Some(_))) {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}
