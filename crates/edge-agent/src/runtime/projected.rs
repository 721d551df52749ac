//! Projected volumes (ConfigMap, Secret, downward API files) on the host, written the way
//! kubelet's atomic writer does, so a container never sees a half-updated set of files:
//!
//! ```text
//! <dir>/..<digest>/          the files of one version (nested paths allowed)
//! <dir>/..data -> ..<digest> swapped atomically (symlink + rename) on every update
//! <dir>/<name> -> ..data/<name>   one link per top-level entry
//! ```
//!
//! The digest names the version, so [`observe`] can tell from a `readlink` whether the files
//! on disk are the plan's, and writing the same files twice does nothing. Runtimes bind-mount
//! `<dir>` read-only; updates show up inside running containers without a restart.
//!
//! These functions block (filesystem calls): run them off the async threads.

use std::io;
use std::path::{Component, Path, PathBuf};

use shoal_transport::wire::FilePlan;

const DATA_LINK: &str = "..data";
const DATA_TMP: &str = "..data_tmp";

/// A stable digest of the files (FNV-1a 64 over paths, modes and contents), as 16 hex digits.
pub fn digest(files: &[FilePlan]) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    let mut eat = |bytes: &[u8]| {
        for b in bytes {
            h ^= u64::from(*b);
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
    };
    for f in files {
        eat(&(f.path.len() as u64).to_le_bytes());
        eat(f.path.as_bytes());
        eat(&f.mode.to_le_bytes());
        eat(&(f.data.len() as u64).to_le_bytes());
        eat(&f.data);
    }
    format!("{h:016x}")
}

/// (volume name, digest) of every projected volume of `plan`: what a runtime that wrote them
/// observes on disk.
pub fn plan_digests(plan: &shoal_transport::wire::PodPlan) -> Vec<(String, String)> {
    plan.volumes
        .iter()
        .filter_map(|v| match v {
            shoal_transport::wire::VolumePlan::Files { name, files } => {
                Some((name.clone(), digest(files)))
            }
            _ => None,
        })
        .collect()
}

/// The digest of the version `dir` currently shows, if it holds one.
pub fn observe(dir: &Path) -> Option<String> {
    let target = std::fs::read_link(dir.join(DATA_LINK)).ok()?;
    target.to_str()?.strip_prefix("..").map(str::to_string)
}

/// A relative path of plain components only.
fn safe(path: &str) -> Option<PathBuf> {
    let p = Path::new(path);
    (!path.is_empty() && p.components().all(|c| matches!(c, Component::Normal(_))))
        .then(|| p.to_path_buf())
}

/// Makes `dir` show exactly `files`. Idempotent; an update replaces the whole set atomically.
pub fn write(dir: &Path, files: &[FilePlan]) -> io::Result<()> {
    let d = digest(files);
    std::fs::create_dir_all(dir)?;
    if observe(dir).as_deref() == Some(d.as_str()) {
        return Ok(());
    }
    let version = format!("..{d}");
    let version_dir = dir.join(&version);
    if version_dir.exists() {
        std::fs::remove_dir_all(&version_dir)?;
    }
    std::fs::create_dir(&version_dir)?;
    let mut top = Vec::new();
    for f in files {
        let rel = safe(&f.path).ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("file path {:?} must be relative without '..'", f.path),
            )
        })?;
        let target = version_dir.join(&rel);
        if let Some(parent) = target.parent() {
            std::fs::create_dir_all(parent)?;
        }
        std::fs::write(&target, &f.data)?;
        set_mode(&target, f.mode & 0o777)?;
        if let Some(Component::Normal(first)) = rel.components().next() {
            top.push(first.to_os_string());
        }
    }
    // Swap the version in: a new link, renamed over the old one (rename is atomic).
    let tmp = dir.join(DATA_TMP);
    let _ = std::fs::remove_file(&tmp);
    symlink(Path::new(&version), &tmp)?;
    std::fs::rename(&tmp, dir.join(DATA_LINK))?;
    // Top-level links: add the new ones, drop the ones no version has any more.
    for name in &top {
        let link = dir.join(name);
        if std::fs::symlink_metadata(&link).is_err() {
            symlink(&Path::new(DATA_LINK).join(name), &link)?;
        }
    }
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let name = entry.file_name();
        let Some(text) = name.to_str() else { continue };
        if text.starts_with("..") {
            if text != DATA_LINK && text != version && entry.file_type()?.is_dir() {
                std::fs::remove_dir_all(entry.path())?;
            }
        } else if !top.contains(&name) && entry.file_type()?.is_symlink() {
            std::fs::remove_file(entry.path())?;
        }
    }
    Ok(())
}

#[cfg(unix)]
fn symlink(target: &Path, link: &Path) -> io::Result<()> {
    std::os::unix::fs::symlink(target, link)
}

#[cfg(unix)]
fn set_mode(path: &Path, mode: u32) -> io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(path: &str, data: &str, mode: u32) -> FilePlan {
        FilePlan {
            path: path.into(),
            data: data.as_bytes().to_vec(),
            mode,
        }
    }

    fn read(dir: &Path, p: &str) -> String {
        std::fs::read_to_string(dir.join(p)).expect("read")
    }

    #[test]
    fn writes_swaps_and_cleans_up() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let dir = tmp.path().join("cfg");
        let v1 = vec![file("a.conf", "one", 0o644), file("sub/b", "two", 0o400)];
        write(&dir, &v1).expect("write v1");
        assert_eq!(read(&dir, "a.conf"), "one");
        assert_eq!(read(&dir, "sub/b"), "two");
        assert_eq!(observe(&dir), Some(digest(&v1)));
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(dir.join("sub/b"))
            .expect("meta")
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o400);
        // Same files again: nothing changes (the version dir is the same).
        write(&dir, &v1).expect("write v1 again");
        // An update replaces the set: a.conf changes, sub/ goes, c appears.
        let v2 = vec![file("a.conf", "uno", 0o644), file("c", "three", 0o644)];
        write(&dir, &v2).expect("write v2");
        assert_eq!(read(&dir, "a.conf"), "uno");
        assert_eq!(read(&dir, "c"), "three");
        assert!(std::fs::symlink_metadata(dir.join("sub")).is_err());
        assert_eq!(observe(&dir), Some(digest(&v2)));
        let versions: Vec<_> = std::fs::read_dir(&dir)
            .expect("ls")
            .filter_map(|e| e.ok()?.file_name().into_string().ok())
            .filter(|n| n.starts_with("..") && n != DATA_LINK)
            .collect();
        assert_eq!(versions, vec![format!("..{}", digest(&v2))]);
    }

    #[test]
    fn refuses_escaping_paths() {
        let tmp = tempfile::tempdir().expect("tempdir");
        for bad in ["../x", "/etc/passwd", "a/../../x", ""] {
            let err = write(&tmp.path().join("v"), &[file(bad, "x", 0o644)]);
            assert!(err.is_err(), "{bad:?} must be refused");
        }
        assert!(!tmp.path().join("x").exists());
    }

    #[test]
    fn digest_depends_on_everything() {
        let a = digest(&[file("a", "1", 0o644)]);
        assert_ne!(a, digest(&[file("a", "2", 0o644)]));
        assert_ne!(a, digest(&[file("b", "1", 0o644)]));
        assert_ne!(a, digest(&[file("a", "1", 0o600)]));
        assert_eq!(a, digest(&[file("a", "1", 0o644)]));
    }
}
