//! Writing what the commands produce (Terraform JSON, manifests, zips, plan state) so that an
//! interrupted run never leaves half a file for the next `terraform` or `apply` to read.

use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use anyhow::{Context, Result};

/// Writes through a temporary file beside `path` and a rename, so readers see the old file or
/// the new one, never part of it, even after a crash (the data is on disk before the rename).
/// A write that fails leaves no temporary behind. Creates the parent folders; the file gets the
/// mode `std::fs::write` would give it.
pub fn write_atomically(path: &Path, bytes: &[u8]) -> Result<()> {
    let parent = match path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent,
        _ => Path::new("."),
    };
    std::fs::create_dir_all(parent)
        .with_context(|| format!("cannot create {}", parent.display()))?;
    let mut file = tempfile::Builder::new()
        .prefix(".")
        .suffix(".tmp")
        .permissions(std::fs::Permissions::from_mode(0o666))
        .tempfile_in(parent)
        .with_context(|| format!("cannot write into {}", parent.display()))?;
    // Through the `File`: NamedTempFile's own writer names the temporary in its errors.
    file.as_file_mut()
        .write_all(bytes)
        .and_then(|()| file.as_file().sync_all())
        .with_context(|| format!("cannot write {}", path.display()))?;
    file.persist(path)
        .map_err(|failed| failed.error)
        .with_context(|| format!("cannot replace {}", path.display()))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replaces_the_file_whole_and_leaves_no_temporary_behind() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("out/dev/main.tf.json");
        write_atomically(&path, b"first").expect("write");
        write_atomically(&path, b"second").expect("replace");
        assert_eq!(std::fs::read(&path).expect("read"), b"second");
        let names: Vec<_> = std::fs::read_dir(path.parent().expect("parent"))
            .expect("list")
            .map(|entry| entry.expect("entry").file_name())
            .collect();
        assert_eq!(names, ["main.tf.json"]);
        let written = dir.path().join("plain");
        std::fs::write(&written, b"x").expect("write");
        let mode = |path: &Path| std::fs::metadata(path).expect("stat").permissions().mode();
        assert_eq!(mode(&path), mode(&written));
    }

    /// A write that failed (here the rename, onto a folder) left its `.tmp` file behind, and
    /// on a full disk that file held the space the next run needed.
    #[test]
    fn a_failed_write_leaves_no_temporary_behind() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("main.tf.json");
        std::fs::create_dir_all(path.join("in-the-way")).expect("a folder in the way");
        let error = write_atomically(&path, b"new").expect_err("a folder cannot be replaced");
        assert!(error.to_string().contains("cannot replace"), "{error:#}");
        let names: Vec<_> = std::fs::read_dir(dir.path())
            .expect("list")
            .map(|entry| entry.expect("entry").file_name())
            .collect();
        assert_eq!(names, ["main.tf.json"]);
    }
}
