//! `infra-synth site build` — renders the portfolio site into `out/<stack>/site/`.
//! The rendering lives in `portfolio::render`; this command only picks paths and prints the report.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use portfolio::render::{self, BuildOptions};
use portfolio::Content;

use super::StackArgs;

/// Build the static portfolio site from the content file.
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(subcommand)]
    action: Action,
}

#[derive(Debug, clap::Subcommand)]
enum Action {
    Build(BuildArgs),
}

/// Render pages, hashed assets, robots.txt, sitemap.xml and the CSP into one folder.
///
/// The content file is the one the stack names; the base URL is `https://<stack domain>`
/// unless --base-url overrides it (e.g. for a local server).
#[derive(Debug, clap::Args)]
#[command(after_help = "Examples:
  infra-synth site build --stack prod                       # out/prod/site/, https://<domain>
  infra-synth site build --stack local --base-url http://127.0.0.1:8080
  infra-synth site build --stack dev --out /tmp/site --json # report for scripts")]
pub struct BuildArgs {
    #[command(flatten)]
    stack: StackArgs,
    /// Origin the site is served from (canonical links, sitemap, Open Graph).
    #[arg(long, value_name = "URL")]
    base_url: Option<String>,
    /// Output folder [default: out/<stack>/site].
    #[arg(long, value_name = "DIR")]
    out: Option<PathBuf>,
    /// Print the build report as JSON instead of a table.
    #[arg(long)]
    json: bool,
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    match args.action {
        Action::Build(args) => build(args),
    }
}

fn build(args: BuildArgs) -> anyhow::Result<ExitCode> {
    let stack = match args.stack.load() {
        Ok(stack) => stack,
        Err(diagnostics) => return Ok(super::report(&diagnostics)),
    };
    let content = match Content::load(&stack.content_path) {
        Ok(content) => content,
        Err(diagnostics) => return Ok(super::report(&diagnostics)),
    };
    let base_url = args
        .base_url
        .unwrap_or_else(|| format!("https://{}", stack.domain));
    let opts = BuildOptions::new(&base_url)?.with_media_dir(stack.media_dir());
    let out = args
        .out
        .unwrap_or_else(|| PathBuf::from("out").join(&stack.name).join("site"));
    let report = render::build(&content, &opts, &out)
        .with_context(|| format!("building the site into {}", out.display()))?;
    if args.json {
        crate::console::write_json(&report)?;
    } else {
        for file in &report.files {
            let cache = if file.immutable {
                "immutable"
            } else {
                "revalidate"
            };
            outln!("{:>8}  {:<10}  {}", file.bytes, cache, file.path)?;
        }
        outln!("site: {} files in {}", report.files.len(), out.display())?;
    }
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;

    /// The checkout the test runs in. Read when it runs, not when it was built: a target dir
    /// shared between checkouts reuses a test binary built in another one.
    fn repo() -> PathBuf {
        Path::new(&std::env::var_os("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR"))
            .join("..")
    }

    /// A stack dir holding a copy of `stacks/local.toml` whose content file is `content`.
    fn stacks_with_content(dir: &Path, content: &Path) {
        let repo = repo();
        let local = std::fs::read_to_string(repo.join("stacks/local.toml")).expect("local stack");
        let stack = format!("content = {:?}\n{local}", content.display().to_string());
        std::fs::write(dir.join("local.toml"), stack).expect("write stack");
    }

    fn args(stacks_dir: &Path, out: &Path, base_url: Option<&str>) -> BuildArgs {
        BuildArgs {
            stack: StackArgs {
                stack: "local".into(),
                stacks_dir: stacks_dir.to_path_buf(),
            },
            base_url: base_url.map(String::from),
            out: Some(out.to_path_buf()),
            json: false,
        }
    }

    #[test]
    fn builds_for_the_stack_domain_unless_overridden() {
        let repo = repo();
        let content = repo
            .join(portfolio::DEFAULT_CONTENT_PATH)
            .canonicalize()
            .expect("content");
        let dir = tempfile::tempdir().expect("tempdir");
        stacks_with_content(dir.path(), &content);
        let out = dir.path().join("site");

        let code = build(args(dir.path(), &out, None)).expect("builds");
        assert_eq!(code, ExitCode::SUCCESS);
        let sitemap = std::fs::read_to_string(out.join("sitemap.xml")).expect("sitemap");
        assert!(
            sitemap.contains("<loc>https://portfolio.test/</loc>"),
            "{sitemap}"
        );

        build(args(dir.path(), &out, Some("http://127.0.0.1:9999"))).expect("builds");
        let robots = std::fs::read_to_string(out.join("robots.txt")).expect("robots");
        assert!(
            robots.contains("Sitemap: http://127.0.0.1:9999/sitemap.xml"),
            "{robots}"
        );
    }

    #[test]
    fn bad_content_or_base_url_fails_without_writing() {
        let dir = tempfile::tempdir().expect("tempdir");
        let content = dir.path().join("portfolio.toml");
        std::fs::write(&content, "example = true\n[profile]\nname = \"\"\n").expect("write");
        stacks_with_content(dir.path(), &content);
        let out = dir.path().join("site");
        let code = build(args(dir.path(), &out, None)).expect("reports, not errors");
        assert_eq!(code, ExitCode::FAILURE);
        assert!(!out.exists(), "nothing written for invalid content");

        let repo = repo();
        let good = repo
            .join(portfolio::DEFAULT_CONTENT_PATH)
            .canonicalize()
            .expect("content");
        stacks_with_content(dir.path(), &good);
        let err = build(args(dir.path(), &out, Some("javascript:alert(1)"))).expect_err("bad URL");
        assert!(
            err.to_string().contains("base URL `javascript:alert(1)`"),
            "{err}"
        );
        assert!(!out.exists());
    }
}
