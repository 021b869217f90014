//! Runs Terraform (or OpenTofu) from PATH in one working directory.
//!
//! Every call is non-interactive (`-input=false`, `TF_IN_AUTOMATION`). Quick steps whose output
//! only matters on failure (`init`, `show`, `output`) are captured and shown only when they fail;
//! steps the operator wants to watch (`plan`, `apply`, `destroy`) stream Terraform's own output.
//! An interrupt reaches Terraform through [`interrupt`], which lets it stop safely.

use std::ffi::OsString;
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};

use anyhow::{bail, Context, Result};

use super::exit::ended;
use super::interrupt;
use crate::console::pass_on_output;

/// Environment variable naming the Terraform binary (`terraform` or `tofu`).
pub const PROGRAM_ENV: &str = "CFX_TERRAFORM";
/// Environment variable naming a provider mirror directory for offline `terraform init`.
pub const PLUGIN_DIR_ENV: &str = "CFX_TF_PLUGIN_DIR";

/// Where the state lives: the S3 backend settings passed as `-backend-config` at init.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BackendConfig {
    /// `key=value` pairs in the order they are passed, e.g. `bucket=...`.
    pub settings: Vec<(String, String)>,
}

impl BackendConfig {
    /// The same settings as a `backend.hcl` file body, for `terraform init -backend-config=FILE`.
    pub fn to_hcl(&self) -> String {
        self.settings
            .iter()
            .map(|(key, value)| {
                if value.starts_with('{') || value == "true" || value == "false" {
                    format!("{key} = {value}\n")
                } else {
                    format!("{key} = {value:?}\n")
                }
            })
            .collect()
    }
}

/// Which kind of plan to make.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PlanMode {
    /// Make the infrastructure match the configuration.
    Apply,
    /// Remove everything.
    Destroy,
    /// Only read what is deployed now (`-refresh-only`), to compare it with the state.
    RefreshOnly,
}

/// What `terraform plan -detailed-exitcode` found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PlanOutcome {
    NoChanges,
    Changes,
}

/// A Terraform binary bound to one working directory.
#[derive(Debug, Clone)]
pub struct Terraform {
    program: PathBuf,
    dir: PathBuf,
    plugin_dir: Option<PathBuf>,
    extra_env: Vec<(String, String)>,
}

impl Terraform {
    /// Finds `program` (a bare name is searched on PATH) and binds it to `dir`.
    /// Fails with an install hint when it is missing, before any expensive work starts.
    pub fn locate(program: &str, dir: &Path, plugin_dir: Option<PathBuf>) -> Result<Self> {
        let path_var = std::env::var_os("PATH").unwrap_or_default();
        let program = find_executable(program, &path_var).with_context(|| {
            format!(
                "`{program}` was not found on PATH. Install Terraform >= 1.6 \
                 (https://developer.hashicorp.com/terraform/install), or use OpenTofu with \
                 `--terraform tofu` / {PROGRAM_ENV}=tofu"
            )
        })?;
        if let Some(mirror) = &plugin_dir {
            check_plugin_dir(mirror)?;
        }
        Ok(Self {
            program,
            dir: dir.to_path_buf(),
            plugin_dir,
            extra_env: Vec::new(),
        })
    }

    /// Adds an environment variable for every Terraform run (e.g. dummy credentials for an emulator).
    pub fn with_env(mut self, key: &str, value: &str) -> Self {
        self.extra_env.push((key.to_owned(), value.to_owned()));
        self
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// `terraform init` with the given backend, reconfiguring if the backend changed.
    pub fn init(&self, backend: &BackendConfig) -> Result<()> {
        let mut args: Vec<String> = vec!["init".into(), "-reconfigure".into()];
        if let Some(dir) = &self.plugin_dir {
            args.push(format!("-plugin-dir={}", outside_path(dir)?));
        }
        args.extend(
            backend
                .settings
                .iter()
                .map(|(k, v)| format!("-backend-config={k}={v}")),
        );
        self.captured(&args).map(drop)
    }

    /// `terraform plan -out=PLAN` with `vars`; streams Terraform's output to stderr.
    pub fn plan(
        &self,
        vars: &[(String, String)],
        out: &Path,
        mode: PlanMode,
    ) -> Result<PlanOutcome> {
        let mut args: Vec<String> = vec![
            "plan".into(),
            "-detailed-exitcode".into(),
            format!("-out={}", outside_path(out)?),
        ];
        match mode {
            PlanMode::Apply => {}
            PlanMode::Destroy => args.push("-destroy".into()),
            PlanMode::RefreshOnly => args.push("-refresh-only".into()),
        }
        args.extend(var_args(vars));
        let ran = self.streamed(&args)?;
        match ran.status.code() {
            Some(0) => Ok(PlanOutcome::NoChanges),
            Some(2) => Ok(PlanOutcome::Changes),
            _ => Err(self.failure("plan", &ran)),
        }
    }

    /// `terraform show -json PLAN`: the machine-readable plan.
    pub fn show_json(&self, plan: &Path) -> Result<String> {
        let output = self.captured(&["show".into(), "-json".into(), outside_path(plan)?])?;
        String::from_utf8(output.stdout).context("`terraform show -json` printed non-UTF-8 output")
    }

    /// `terraform apply PLAN`: applies exactly the saved plan; streams output.
    pub fn apply(&self, plan: &Path) -> Result<()> {
        let args = ["apply".into(), "-auto-approve".into(), outside_path(plan)?];
        let ran = self.streamed(&args)?;
        if ran.status.success() {
            Ok(())
        } else {
            Err(self.failure("apply", &ran))
        }
    }

    /// `terraform output -json` as a value (empty object when there are no outputs).
    pub fn outputs(&self) -> Result<serde_json::Value> {
        let output = self.captured(&["output".into(), "-json".into()])?;
        serde_json::from_slice(&output.stdout).context("`terraform output -json` is not JSON")
    }

    fn command(&self, args: &[String]) -> Command {
        let mut command = Command::new(&self.program);
        command
            .args(args)
            .current_dir(&self.dir)
            .env("TF_IN_AUTOMATION", "1")
            .env("TF_INPUT", "0")
            .envs(self.extra_env.iter().map(|(k, v)| (k, v)));
        command
    }

    fn captured(&self, args: &[String]) -> Result<Output> {
        // Flags must precede positional arguments, so `-no-color` goes right after the subcommand.
        let mut with_no_color = args.to_vec();
        with_no_color.insert(1.min(args.len()), "-no-color".into());
        let mut command = self.command(&with_no_color);
        command
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let output = interrupt::run(command, Child::wait_with_output)?;
        if !output.status.success() {
            bail!(
                "`terraform {}` {} in {}:\n{}{}",
                args.first().map(String::as_str).unwrap_or_default(),
                ended(output.status),
                self.dir.display(),
                String::from_utf8_lossy(&output.stdout),
                String::from_utf8_lossy(&output.stderr)
            );
        }
        Ok(output)
    }

    /// Runs with Terraform's output copied to our stderr ([`pass_on_output`]), so our own
    /// stdout stays a clean summary. Its errors are read for a state lock held elsewhere
    /// ([`HeldLock`]).
    fn streamed(&self, args: &[String]) -> Result<Streamed> {
        let mut args = args.to_vec();
        if !std::io::stderr().is_terminal() {
            args.insert(1.min(args.len()), "-no-color".into());
        }
        let mut command = self.command(&args);
        command
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let (status, held_lock) = interrupt::run(command, |mut child| {
            let mut lock = HeldLock::default();
            pass_on_output(&mut child, |line| lock.read(line));
            Ok((child.wait()?, lock.id))
        })?;
        Ok(Streamed { status, held_lock })
    }

    /// Why a streamed step failed. A state lock another run holds is named, with how to
    /// release it when that run has died (killed, its machine gone): nothing else ever will.
    fn failure(&self, step: &str, ran: &Streamed) -> anyhow::Error {
        let Some(id) = &ran.held_lock else {
            return anyhow::anyhow!(
                "`terraform {step}` {}; see its output above",
                ended(ran.status)
            );
        };
        let dir = outside_path(&self.dir).unwrap_or_else(|_| self.dir.display().to_string());
        anyhow::anyhow!(
            "`terraform {step}` could not take the state lock: another run holds it (lock {id}, \
             its Lock Info above). If that run is still going, wait for it; if it died, release \
             the lock with `{} -chdir={dir} force-unlock {id}` and run this command again",
            self.program.display()
        )
    }
}

/// How a streamed run ended, and the ID of the state lock another run holds when that is what
/// stopped it.
struct Streamed {
    status: ExitStatus,
    held_lock: Option<String>,
}

/// The state lock another run holds, as Terraform's errors name it: the `ID:` of the Lock Info
/// that follows an "Error acquiring the state lock".
#[derive(Default)]
struct HeldLock {
    named: bool,
    id: Option<String>,
}

impl HeldLock {
    fn read(&mut self, line: &str) {
        self.named |= line.contains("Error acquiring the state lock");
        if self.named && self.id.is_none() {
            self.id = without_decoration(line)
                .strip_prefix("ID:")
                .map(|id| id.trim().to_owned())
                .filter(|id| !id.is_empty());
        }
    }
}

/// A line of Terraform's diagnostics without its colour codes and the box drawn around it on a
/// terminal.
fn without_decoration(line: &str) -> String {
    let mut plain = String::with_capacity(line.len());
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            // An SGR sequence, `ESC [ … m`.
            chars.by_ref().find(|c| *c == 'm');
        } else {
            plain.push(c);
        }
    }
    plain
        .trim_start_matches(|c: char| c == '│' || c.is_whitespace())
        .to_owned()
}

/// Where a provider mirror keeps the AWS provider, packed (`terraform providers mirror`) or
/// unpacked (`<version>/<os>_<arch>/`).
const AWS_PROVIDER_IN_MIRROR: &str = "registry.terraform.io/hashicorp/aws";

/// A mirror without the AWS provider failed only at `terraform init`, after the Lambda build.
fn check_plugin_dir(mirror: &Path) -> Result<()> {
    let flag = format!("--plugin-dir {} (or {PLUGIN_DIR_ENV})", mirror.display());
    if !mirror.is_dir() {
        bail!("{flag}: no such directory");
    }
    if !mirror.join(AWS_PROVIDER_IN_MIRROR).is_dir() {
        bail!(
            "{flag} holds no AWS provider: `terraform init -plugin-dir` looks for it in \
             {AWS_PROVIDER_IN_MIRROR}/ there, as `terraform providers mirror <dir>` writes it"
        );
    }
    Ok(())
}

/// A path as an argument for Terraform, which runs inside its working directory: a relative
/// path (the default `--out-dir out`, a `--plugin-dir` given from here) would be read from
/// there, so it is made absolute.
fn outside_path(path: &Path) -> Result<String> {
    let absolute =
        std::path::absolute(path).with_context(|| format!("cannot resolve {}", path.display()))?;
    Ok(absolute.display().to_string())
}

fn var_args(vars: &[(String, String)]) -> impl Iterator<Item = String> + '_ {
    vars.iter()
        .flat_map(|(k, v)| ["-var".to_owned(), format!("{k}={v}")])
}

/// Resolves `program` like a shell: a path is used as given, a bare name is searched on `path_var`.
/// The result is absolute, as Terraform runs in the stack's directory, not where it was named.
fn find_executable(program: &str, path_var: &OsString) -> Option<PathBuf> {
    let is_executable = |p: &Path| {
        use std::os::unix::fs::PermissionsExt;
        p.metadata()
            .map(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
            .unwrap_or(false)
    };
    let found = if program.contains('/') {
        let path = PathBuf::from(program);
        is_executable(&path).then_some(path)
    } else {
        std::env::split_paths(path_var)
            .map(|dir| dir.join(program))
            .find(|candidate| is_executable(candidate))
    };
    found.and_then(|path| std::path::absolute(path).ok())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::console::testing::{fake_tool, rerun_with_stderr_unread, RERUN_DIR};

    #[test]
    fn a_lock_id_is_read_through_a_terminals_box_and_colours() {
        for line in [
            "  ID:        6a4f1c0e",
            "\u{1b}[31m│\u{1b}[0m   ID:        6a4f1c0e",
        ] {
            assert_eq!(without_decoration(line), "ID:        6a4f1c0e", "{line:?}");
        }
    }

    /// Terraform's output reaches our stderr through us: given our stderr itself, it was
    /// killed by SIGPIPE once that stream's reader had gone (`infra-synth apply 2>&1 | head`).
    #[test]
    fn terraform_outlives_a_reader_that_went_away() {
        if let Some(dir) = std::env::var_os(RERUN_DIR) {
            let dir = PathBuf::from(dir);
            let fake = dir.join("terraform").display().to_string();
            let terraform = Terraform::locate(&fake, &dir, None).expect("the fake Terraform");
            terraform.apply(&dir.join("plan")).expect("applied");
            return;
        }
        let dir = tempfile::tempdir().expect("tempdir");
        fake_tool(dir.path(), "terraform");
        let status = rerun_with_stderr_unread(
            "deploy::terraform::tests::terraform_outlives_a_reader_that_went_away",
            dir.path(),
            &[],
        );
        assert!(status.success(), "{status:?}");
        assert!(
            dir.path().join("done").exists(),
            "Terraform was killed before it finished"
        );
    }

    #[test]
    fn missing_program_names_it_and_how_to_fix() {
        let empty = tempfile::tempdir().expect("tempdir");
        let err = find_executable("terraform", &empty.path().as_os_str().to_owned());
        assert!(err.is_none());
        let err = Terraform::locate("/nonexistent/terraform", empty.path(), None)
            .expect_err("a missing binary must fail");
        let text = format!("{err:#}");
        assert!(
            text.contains("`/nonexistent/terraform` was not found"),
            "{text}"
        );
        assert!(text.contains("tofu"), "{text}");
    }

    #[test]
    fn backend_hcl_quotes_strings_and_keeps_objects() {
        let backend = BackendConfig {
            settings: vec![
                ("bucket".into(), "state".into()),
                ("use_path_style".into(), "true".into()),
                ("endpoints".into(), "{s3=\"http://127.0.0.1:5000\"}".into()),
            ],
        };
        assert_eq!(
            backend.to_hcl(),
            "bucket = \"state\"\nuse_path_style = true\nendpoints = {s3=\"http://127.0.0.1:5000\"}\n"
        );
    }
}
