//! A rehearsal: a stack's model deployed to a throwaway emulator with the emulator stack's
//! switches on top, then checked the way a visitor and an operator would use it, then a second
//! plan that must be empty, then destroyed. What it found is recorded in the plan bundle it
//! rehearsed, against that plan's fingerprint ([`super::bundle::RehearsalRecord`]).

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::Instant;

use anyhow::{bail, Context, Result};
use aws_sdk_dynamodb::types::AttributeValue;
use serde::Serialize;
use serde_json::{json, Value};

use eve_contract::store;
use local_lambda::{rest_event, LocalFunction};

use super::aws::sdk_error;
use super::bundle::{all_passed, RehearsalStep};
use super::front::{serve_front, Front};
use super::terraform::{PlanMode, PlanOutcome, Terraform};
use super::workflow::{step, Assets, Deployment};
use crate::config::Stack;
use local_moto::{find_moto, Moto, Serving, MOTO_ENV};

/// The browser half of the check, run with node and playwright-core.
const BROWSER_SCRIPT: &str = include_str!("../../assets/rehearse-browser.cjs");

/// Everything a rehearsal ran, in order; it stops at the first step that fails.
#[derive(Debug, Clone, Default, Serialize)]
pub struct RehearsalReport {
    pub stack: String,
    pub steps: Vec<RehearsalStep>,
}

impl RehearsalReport {
    pub fn passed(&self) -> bool {
        all_passed(&self.steps)
    }

    /// Runs one step under a spinner and records it; `None` when it failed.
    fn run<T>(&mut self, name: &str, work: impl FnOnce() -> Result<(T, String)>) -> Option<T> {
        let started = Instant::now();
        let result = step(name, work);
        let seconds = started.elapsed().as_secs();
        let (value, passed, detail) = match result {
            Ok((value, detail)) => (Some(value), true, detail),
            Err(error) => (None, false, format!("{error:#}")),
        };
        self.steps.push(RehearsalStep {
            name: name.to_owned(),
            passed,
            detail,
            seconds,
        });
        value
    }
}

impl fmt::Display for RehearsalReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "rehearsal of `{}` on the emulator", self.stack)?;
        for step in &self.steps {
            let mark = if step.passed { "ok  " } else { "FAIL" };
            writeln!(
                f,
                "  {mark} {:<34} {:>4} s  {}",
                step.name, step.seconds, step.detail
            )?;
        }
        let verdict = if self.passed() { "PASSED" } else { "FAILED" };
        write!(f, "rehearsal {verdict}")
    }
}

/// How a rehearsal builds and runs.
pub struct RehearsalOptions {
    pub workspace: PathBuf,
    pub cargo_profile: String,
    pub terraform_program: String,
    pub plugin_dir: Option<PathBuf>,
    /// Where the rehearsal's working files go (`<out-dir>/rehearsal`).
    pub out_dir: PathBuf,
    /// What the rehearsal asks EVE.
    pub question: String,
}

/// Rehearses `stack` (its model, with `emulator`'s switches) on a fresh moto server.
pub fn rehearse(stack: &Stack, emulator: &Stack, options: &RehearsalOptions) -> RehearsalReport {
    let mut report = RehearsalReport {
        stack: stack.name.clone(),
        ..RehearsalReport::default()
    };
    let Some(moto) = report.run("start the emulator", || {
        let moto_server = find_moto().with_context(|| {
            format!("moto is not installed: `pip install 'moto[server]'` (or set {MOTO_ENV})")
        })?;
        std::fs::create_dir_all(&options.out_dir)
            .with_context(|| format!("cannot create {}", options.out_dir.display()))?;
        let moto = Moto::start(
            &moto_server,
            Serving::Serial,
            &options.out_dir.join("moto.log"),
        )?;
        let detail = format!("moto at {}, its log {}", moto.endpoint, moto.log.display());
        Ok((moto, detail))
    }) else {
        return report;
    };
    let rehearsed = stack
        .clone()
        .with_emulator_switches(emulator, moto.endpoint.clone());
    let Some(deployment) = report.run("take the working directory", || {
        let deployment = Deployment::new(rehearsed, None, &options.out_dir)?;
        let detail = deployment.dir.root().display().to_string();
        Ok((deployment, detail))
    }) else {
        return report;
    };
    let _ = deploy_and_check(&mut report, &deployment, options);
    drop(moto);
    report
}

/// The steps after the emulator is up; `None` once one failed.
fn deploy_and_check(
    report: &mut RehearsalReport,
    deployment: &Deployment,
    options: &RehearsalOptions,
) -> Option<()> {
    let terraform = report.run("find terraform", || {
        let terraform =
            deployment.terraform(&options.terraform_program, options.plugin_dir.clone())?;
        Ok((terraform, String::new()))
    })?;
    report.run("bootstrap the state backend", || {
        let made = deployment.bootstrap()?;
        Ok(((), format!("bucket {}", made.bucket)))
    })?;
    let assets = report.run("package the Lambda and the site", || {
        let assets = deployment.package(&options.workspace, &options.cargo_profile)?;
        let detail = format!(
            "lambda sha256 {}, {} site files",
            &assets.lambda.sha256[..12],
            assets.site.files.len()
        );
        Ok((assets, detail))
    })?;
    let vars = report.run("plan", || {
        let synthesis = deployment.synthesize()?;
        deployment.init(&terraform)?;
        let vars = deployment.vars(&synthesis, &assets.lambda)?;
        let (_, summary) = deployment.plan(&terraform, &vars, PlanMode::Apply)?;
        Ok((vars, plan_line(&summary)))
    })?;
    // The outputs are read once: the site's bucket, and what the checks below start from.
    let outputs = report.run("apply and publish", || {
        deployment.upload_lambda(&assets.lambda)?;
        terraform.apply(&deployment.dir.plan_file())?;
        let outputs = terraform.outputs()?;
        let site = deployment.site_target_in(&outputs)?;
        let published = deployment.publish_site(&site, &assets)?;
        Ok((
            outputs,
            published.lines().next().unwrap_or_default().to_owned(),
        ))
    })?;
    let runtime = report.run("start the packaged function", || {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()?;
        let function = runtime.block_on(start_function(deployment, &assets, &outputs))?;
        Ok(((runtime, Arc::new(function)), String::new()))
    })?;
    let (runtime, function) = runtime;
    report.run("EVE answers through the Runtime API", || {
        runtime.block_on(chat_is_stored(
            deployment,
            &function,
            &outputs,
            &options.question,
        ))
    })?;
    report.run("the site in Chromium, EVE replying", || {
        let front = runtime.block_on(async {
            serve_front(Front {
                function: Arc::clone(&function),
                s3: deployment.target.s3().await,
                site_bucket: output(&outputs, "site_bucket")?,
                site_url: deployment.stack.site_url(),
                stage: deployment.stack.stage_name().to_string(),
            })
            .await
        })?;
        browse(
            &format!("http://{front}/"),
            &options.question,
            &deployment.dir,
        )
    })?;
    drop(function);
    report.run("a second plan is empty", || {
        match deployment.plan(&terraform, &vars, PlanMode::Apply)? {
            (PlanOutcome::NoChanges, _) => Ok(((), "no changes".into())),
            (PlanOutcome::Changes, summary) => bail!("the second plan has changes:\n{summary}"),
        }
    })?;
    report.run("destroy", || destroy(deployment, &terraform))
}

fn output(outputs: &Value, name: &str) -> Result<String> {
    outputs[name]["value"]
        .as_str()
        .map(str::to_owned)
        .with_context(|| format!("terraform output `{name}` is missing"))
}

/// Extracts `bootstrap` from the package and starts it with the deployed function's
/// environment, reaching the emulator.
async fn start_function(
    deployment: &Deployment,
    assets: &Assets,
    outputs: &Value,
) -> Result<LocalFunction> {
    let name = output(outputs, "function_name")?;
    let config = aws_sdk_lambda::Client::new(&deployment.target.sdk_config().await)
        .get_function_configuration()
        .function_name(&name)
        .send()
        .await
        .map_err(sdk_error)
        .with_context(|| format!("cannot read the deployed function {name}"))?;
    let mut environment: BTreeMap<String, String> = config
        .environment()
        .and_then(|e| e.variables())
        .map(|vars| vars.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
        .unwrap_or_default();
    let endpoint = deployment
        .target
        .endpoint_url
        .clone()
        .context("a rehearsal runs on an emulator")?;
    environment.extend([
        ("AWS_ENDPOINT_URL".into(), endpoint),
        ("AWS_REGION".into(), deployment.target.region.clone()),
        ("AWS_ACCESS_KEY_ID".into(), "testing".into()),
        ("AWS_SECRET_ACCESS_KEY".into(), "testing".into()),
        ("AWS_LAMBDA_FUNCTION_NAME".into(), name),
        (
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE".into(),
            config.memory_size().unwrap_or(128).to_string(),
        ),
        ("AWS_LAMBDA_FUNCTION_VERSION".into(), "$LATEST".into()),
        ("AWS_LAMBDA_LOG_STREAM_NAME".into(), "rehearsal".into()),
        ("AWS_LAMBDA_LOG_GROUP_NAME".into(), "rehearsal".into()),
    ]);
    let bootstrap = extract_bootstrap(&assets.lambda.zip_path, &deployment.dir.root().join("run"))?;
    LocalFunction::start(&bootstrap, &environment).await
}

/// Unpacks the zip's `bootstrap` (as Lambda does) and makes it executable.
fn extract_bootstrap(zip: &Path, dir: &Path) -> Result<PathBuf> {
    use std::os::unix::fs::PermissionsExt;
    let file =
        std::fs::File::open(zip).with_context(|| format!("cannot open {}", zip.display()))?;
    let mut archive = zip::ZipArchive::new(file)?;
    let mut entry = archive
        .by_name("bootstrap")
        .with_context(|| format!("{} has no bootstrap", zip.display()))?;
    let mut bytes = Vec::new();
    entry.read_to_end(&mut bytes)?;
    std::fs::create_dir_all(dir)?;
    let path = dir.join("bootstrap");
    std::fs::write(&path, bytes)?;
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755))?;
    Ok(path)
}

/// One chat through API Gateway's event shape; both turns must be in the deployed table.
async fn chat_is_stored(
    deployment: &Deployment,
    function: &LocalFunction,
    outputs: &Value,
    question: &str,
) -> Result<((), String)> {
    let body = json!({ "message": question }).to_string();
    let site_url = deployment.stack.site_url();
    let headers = [
        ("content-type", "application/json"),
        ("origin", site_url.as_str()),
    ];
    let event = rest_event(
        "POST",
        "/api/chat",
        &headers,
        Some(&body),
        deployment.stack.stage_name(),
    );
    let response = function.invoke(event).await?;
    let status = response["statusCode"].as_u64().unwrap_or_default();
    let answer: Value = serde_json::from_str(response["body"].as_str().unwrap_or_default())
        .with_context(|| format!("the chat answer is not JSON: {response}"))?;
    if status != 200 {
        bail!("POST /api/chat answered {status}: {answer}");
    }
    let reply = answer["reply"].as_str().unwrap_or_default();
    let session = answer["session_id"]
        .as_str()
        .context("the answer has no session_id")?;
    if reply.trim().is_empty() {
        bail!("EVE answered with an empty reply");
    }
    let table = output(outputs, "table_name")?;
    let stored = aws_sdk_dynamodb::Client::new(&deployment.target.sdk_config().await)
        .query()
        .table_name(&table)
        .key_condition_expression("#pk = :session")
        .expression_attribute_names("#pk", store::PARTITION_KEY)
        .expression_attribute_values(":session", AttributeValue::S(session.to_owned()))
        .send()
        .await
        .map_err(sdk_error)
        .with_context(|| format!("cannot read the conversation from {table}"))?;
    let text = |item: &HashMap<String, AttributeValue>, name: &str| {
        item.get(name).and_then(|v| v.as_s().ok()).cloned()
    };
    let exchange_stored = stored.items().iter().any(|item| {
        text(item, store::QUESTION_ATTRIBUTE).as_deref() == Some(question)
            && text(item, store::REPLY_ATTRIBUTE).as_deref() == Some(reply)
    });
    if !exchange_stored {
        bail!("the deployed table {table} does not hold the question and the reply shown for session {session}");
    }
    let source = answer["source"].as_str().unwrap_or("?");
    Ok((
        (),
        format!(
            "200, {} chars ({source}), the exchange stored in {table}",
            reply.len()
        ),
    ))
}

/// Opens the site in Chromium through the front and asks EVE once.
fn browse(url: &str, question: &str, dir: &super::state::DeployDir) -> Result<((), String)> {
    let script = dir.root().join("rehearse-browser.cjs");
    std::fs::write(&script, BROWSER_SCRIPT)?;
    let mut node = Command::new("node");
    node.arg(&script)
        .args([url, question])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    // Playwright closes Chromium when node is told to stop.
    let output = child_tether::spawn(node, child_tether::Signal::TERM)
        .and_then(std::process::Child::wait_with_output)
        .context("cannot run node, which drives Chromium (install Node.js 20)")?;
    let stdout = String::from_utf8_lossy(&output.stdout);
    let result: Value = serde_json::from_str(stdout.trim()).with_context(|| {
        format!(
            "the browser check printed no result: {}{}",
            stdout,
            String::from_utf8_lossy(&output.stderr)
        )
    })?;
    if let Some(error) = result["error"].as_str() {
        bail!("the browser check failed: {error} (needs playwright-core and Chromium: `bash .ci/install`)");
    }
    let reply = result["reply"].as_str().unwrap_or_default();
    if reply.is_empty() {
        bail!("EVE's reply bubble stayed empty");
    }
    let problems = result["problems"].as_array().map_or(0, Vec::len);
    Ok((
        (),
        format!(
            "\"{}\": {} chars of reply, {problems} console problem(s)",
            result["title"].as_str().unwrap_or_default(),
            reply.len()
        ),
    ))
}

fn destroy(deployment: &Deployment, terraform: &Terraform) -> Result<((), String)> {
    let synthesis = deployment.synthesize()?;
    let vars = Deployment::placeholder_vars(&synthesis);
    let (_, summary) = deployment.plan(terraform, &vars, PlanMode::Destroy)?;
    terraform.apply(&deployment.dir.plan_file())?;
    deployment.dir.discard_plan()?;
    Ok(((), plan_line(&summary)))
}

/// The `Plan: N to add, …` line of a plan summary.
fn plan_line(summary: &str) -> String {
    summary
        .lines()
        .find(|line| line.starts_with("Plan:"))
        .unwrap_or("no changes")
        .to_owned()
}
