//! `infra-synth site build` — renders the portfolio site into `out/<stack>/site/`.
//! The rendering lives in `portfolio::render`; this command only picks paths and prints the report.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use portfolio::render::{self, BuildOptions};
use portfolio::Content;

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
#[derive(Debug, clap::Args)]
#[command(after_help = "Examples:
  infra-synth site build --stack dev --base-url http://127.0.0.1:8080
  infra-synth site build --stack prod --base-url https://alex.example.com --out /tmp/site
  infra-synth site build --stack prod --base-url https://alex.example.com --json")]
pub struct BuildArgs {
    /// Stack name; the site goes to `out/<stack>/site/` unless --out is given.
    #[arg(long)]
    stack: String,
    /// Origin the site is served from (canonical links, sitemap, Open Graph).
    #[arg(long, value_name = "URL")]
    base_url: String,
    /// Output folder.
    #[arg(long, value_name = "DIR")]
    out: Option<PathBuf>,
    /// The content file; its folder is where media such as the profile photo are read from.
    #[arg(long, value_name = "FILE", default_value = portfolio::DEFAULT_CONTENT_PATH)]
    content: PathBuf,
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
    anyhow::ensure!(
        portfolio::content::is_slug(&args.stack),
        "stack name `{}` must be lowercase letters, digits or dashes",
        args.stack
    );
    let content = match Content::load(&args.content) {
        Ok(content) => content,
        Err(diagnostics) => {
            eprintln!("{diagnostics}");
            return Ok(ExitCode::FAILURE);
        }
    };
    let media_dir = args.content.parent().map(PathBuf::from).unwrap_or_default();
    let opts = BuildOptions::new(&args.base_url)?.with_media_dir(media_dir);
    let out = args
        .out
        .unwrap_or_else(|| PathBuf::from("out").join(&args.stack).join("site"));
    let report = render::build(&content, &opts, &out)
        .with_context(|| format!("building the site into {}", out.display()))?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        for file in &report.files {
            let cache = if file.immutable {
                "immutable"
            } else {
                "revalidate"
            };
            println!("{:>8}  {:<10}  {}", file.bytes, cache, file.path);
        }
        println!("site: {} files in {}", report.files.len(), out.display());
    }
    Ok(ExitCode::SUCCESS)
}
