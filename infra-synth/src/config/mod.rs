//! The typed stack config (`stacks/<name>.toml`): schema, loading and validation.
//!
//! Every field not set in a stack file takes the shared default defined here (serde defaults),
//! so `dev.toml` and `prod.toml` only say where the environments differ.

pub mod cost;
pub mod kubernetes;
pub mod resilience;
pub mod rules;
mod schema;

use std::path::{Path, PathBuf};

use config_diagnostics::{Checker, Diagnostic, Diagnostics, TomlSource};
use portfolio::Content;

pub use schema::*;

/// Where `--stacks-dir` points by default.
pub const DEFAULT_STACKS_DIR: &str = "stacks";

/// Where the stack `name` is written: `<stacks_dir>/<name>.toml`.
pub fn stack_file(stacks_dir: &Path, name: &str) -> PathBuf {
    stacks_dir.join(format!("{name}.toml"))
}

/// Loads `<stacks_dir>/<name>.toml` and the portfolio content it names, and validates both;
/// all problems come back at once, each with file, line and key.
pub fn load(stacks_dir: &Path, name: &str) -> Result<Stack, Diagnostics> {
    let path = stack_file(stacks_dir, name);
    // A link that leads nowhere is there, but cannot be read: reading it says why.
    if path.symlink_metadata().is_err() {
        return Err(missing_stack(stacks_dir, &path, name));
    }
    let source = TomlSource::read(&path)?;
    let mut stack: Stack = source.deserialize()?;
    stack.name = name.to_string();
    stack.content_path = resolve_content_path(&path, &stack.content);
    let mut diagnostics = Diagnostics::default();
    let same_names = stacks_with_same_names(stacks_dir, &path, &stack);
    if !same_names.is_empty() {
        let others: Vec<String> = same_names.iter().map(|p| p.display().to_string()).collect();
        diagnostics.push(source.diagnostic(
            "env",
            format!(
                "`{}` (`<app>-<env>`) also names the resources of {}: the stacks would plan, \
                 apply and destroy the same resources in one Terraform state; give this stack \
                 an `env` of its own",
                stack.prefix(),
                others.join(", ")
            ),
        ));
    }
    // Told before reading, so that the stack file's key that named it is the one reported.
    if let Err(unreadable) =
        config_diagnostics::check_readable(&stack.content_path, config_diagnostics::MAX_FILE_BYTES)
    {
        diagnostics.push(source.diagnostic(
            "content",
            format!(
                "cannot read the content file {}: {unreadable} (`content` is relative to this \
                 file; by default {})",
                stack.content_path.display(),
                schema::default_content().display()
            ),
        ));
    } else {
        match Content::load(&stack.content_path) {
            Ok(content) => {
                stack.certificate_keys = content.certificates.into_iter().map(|c| c.file).collect()
            }
            Err(errors) => diagnostics.extend(errors),
        }
    }
    let mut check = Checker::new(&source);
    rules::check_stack(&stack, &mut check);
    kubernetes::check(&stack, &mut check);
    resilience::check(&stack, &mut check);
    cost::check(&stack, &mut check);
    if let Err(errors) = check.finish() {
        diagnostics.extend(errors);
    }
    stack.source = Some(std::sync::Arc::new(source));
    if diagnostics.is_empty() {
        Ok(stack)
    } else {
        Err(diagnostics)
    }
}

/// The other stack files in `stacks_dir` whose resources `stack`'s would share names with (a
/// file copied without a new `env`), and so one Terraform state and every global bucket name.
/// A file that is not a stack, or the same file linked under another name, is none.
fn stacks_with_same_names(stacks_dir: &Path, path: &Path, stack: &Stack) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(stacks_dir) else {
        return Vec::new();
    };
    // The file itself, however named (a symbolic or a hard link): its device and inode.
    let identity = |file: &Path| {
        use std::os::unix::fs::MetadataExt;
        std::fs::metadata(file).ok().map(|m| (m.dev(), m.ino()))
    };
    let this = identity(path);
    let prefix = stack.prefix();
    let names_of = |file: &Path| -> Option<String> {
        config_diagnostics::check_readable(file, config_diagnostics::MAX_FILE_BYTES).ok()?;
        let text = std::fs::read_to_string(file).ok()?;
        Some(toml::from_str::<StackNames>(&text).ok()?.prefix())
    };
    let mut same: Vec<PathBuf> = entries
        .filter_map(Result::ok)
        .map(|entry| entry.path())
        .filter(|file| file.extension().is_some_and(|ext| ext == "toml"))
        .filter(|file| this.is_none() || identity(file) != this)
        .filter(|file| names_of(file).is_some_and(|other| other == prefix))
        .collect();
    same.sort();
    same
}

/// `text` as one word a POSIX shell reads back as it is, for the flags a message tells: quoted
/// when it holds anything but letters, digits and `-._/:`.
pub fn shell_word(text: &str) -> String {
    if text
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || "-._/:".contains(c))
    {
        text.to_string()
    } else {
        format!("'{}'", text.replace('\'', r"'\''"))
    }
}

/// Why `<stacks_dir>/<name>.toml` is not there: the stacks that are, or a folder that is not.
fn missing_stack(stacks_dir: &Path, path: &Path, name: &str) -> Diagnostics {
    let message = match std::fs::read_dir(stacks_dir) {
        Ok(entries) => {
            let mut stacks: Vec<String> = entries
                .filter_map(|entry| entry.ok())
                .filter_map(|entry| {
                    let file = entry.file_name().into_string().ok()?;
                    file.strip_suffix(".toml").map(str::to_string)
                })
                .collect();
            stacks.sort();
            if stacks.is_empty() {
                format!(
                    "no stack `{name}`: {} holds no stack files",
                    stacks_dir.display()
                )
            } else {
                format!(
                    "no stack `{name}`; the stacks here are {}",
                    stacks.join(", ")
                )
            }
        }
        Err(_) if stacks_dir.is_file() => format!(
            "no stack `{name}`: {} is a file, not a folder of stack files (pass its folder: \
             --stacks-dir {})",
            stacks_dir.display(),
            shell_word(
                &stacks_dir
                    .parent()
                    .filter(|parent| !parent.as_os_str().is_empty())
                    .unwrap_or(Path::new("."))
                    .display()
                    .to_string()
            )
        ),
        Err(_) => format!(
            "no stack `{name}`: there is no folder {} (run from the repository root, or pass \
             --stacks-dir)",
            stacks_dir.display()
        ),
    };
    Diagnostics(vec![Diagnostic::unlocated(
        path.display().to_string(),
        "",
        message,
    )])
}

/// The content path is relative to the stack file, so a stacks dir can be moved with its content.
fn resolve_content_path(stack_file: &Path, content: &Path) -> PathBuf {
    if content.is_absolute() {
        content.to_path_buf()
    } else {
        stack_file
            .parent()
            .unwrap_or_else(|| Path::new("."))
            .join(content)
    }
}
