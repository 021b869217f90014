//! The Terraform runner and plan summary against the real `terraform` binary, and the error
//! when there is none.

mod deploy_support;

use std::path::Path;
use std::process::{Command, Stdio};

use deploy_support::{infra_synth, plugin_dir, skip, stderr, terraform_available, Moto};
use infra_synth::deploy::plan_summary::{Action, PlanSummary};
use infra_synth::deploy::terraform::{BackendConfig, PlanMode, PlanOutcome, Terraform};

#[test]
fn missing_terraform_is_a_clear_error_before_any_work() {
    let empty = tempfile::tempdir().expect("tempdir");
    let path = empty.path().to_str().expect("utf-8");
    for (program, named) in [("terraform", "`terraform`"), ("tofu", "`tofu`")] {
        let output = infra_synth(
            &["plan", "--stack", "local", "--terraform", program],
            &[("PATH", path)],
        );
        assert_eq!(output.status.code(), Some(1));
        let text = stderr(&output);
        assert!(
            text.contains(&format!("{named} was not found on PATH")),
            "{text}"
        );
        assert!(text.contains("Install Terraform"), "{text}");
        assert!(!text.contains("building"), "fails before packaging: {text}");
    }
}

fn write_config(dir: &std::path::Path, resources: &str) {
    std::fs::write(
        dir.join("main.tf.json"),
        format!(r#"{{"resource":{{"terraform_data":{{{resources}}}}}}}"#),
    )
    .expect("write config");
}

#[test]
fn plan_summary_of_a_real_plan_counts_each_kind_of_change() {
    if !terraform_available() {
        return skip(
            "plan_summary_of_a_real_plan_counts_each_kind_of_change",
            "terraform",
        );
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let terraform = Terraform::locate("terraform", dir.path(), None).expect("terraform");
    let plan = dir.path().join("cfx.tfplan");
    let no_backend = BackendConfig {
        settings: Vec::new(),
    };
    write_config(
        dir.path(),
        r#""kept":{"input":"k"},"changed":{"input":"v1"},"replaced":{"triggers_replace":["a"]},"removed":{"input":"x"}"#,
    );
    terraform.init(&no_backend).expect("init");
    assert_eq!(
        terraform.plan(&[], &plan, PlanMode::Apply).expect("plan"),
        PlanOutcome::Changes
    );
    let first = PlanSummary::parse(&terraform.show_json(&plan).expect("show")).expect("parse");
    assert_eq!(first.count(Action::Create), 4);
    terraform.apply(&plan).expect("apply");

    write_config(
        dir.path(),
        r#""kept":{"input":"k"},"changed":{"input":"v2"},"replaced":{"triggers_replace":["b"]},"added":{"input":"n"}"#,
    );
    terraform.plan(&[], &plan, PlanMode::Apply).expect("plan");
    let second = PlanSummary::parse(&terraform.show_json(&plan).expect("show")).expect("parse");
    let actions: Vec<(&str, Action)> = second
        .changes
        .iter()
        .map(|c| (c.address.as_str(), c.action))
        .collect();
    assert_eq!(
        actions,
        vec![
            ("terraform_data.added", Action::Create),
            ("terraform_data.changed", Action::Update),
            ("terraform_data.removed", Action::Delete),
            ("terraform_data.replaced", Action::Replace),
        ]
    );
    terraform.apply(&plan).expect("apply");
    assert_eq!(
        terraform.plan(&[], &plan, PlanMode::Apply).expect("plan"),
        PlanOutcome::NoChanges,
        "applied config plans clean"
    );
}

/// `stacks/local.toml` with its state kept by Terraform in the working directory, so Terraform
/// runs without `bootstrap`; written into `dir/stacks`.
fn local_state_stack(dir: &Path) {
    let repo = deploy_support::workspace();
    let stack = std::fs::read_to_string(repo.join("stacks/local.toml")).expect("local stack");
    assert!(
        stack.contains("backend = \"s3\""),
        "local.toml keeps its state in S3"
    );
    let content = repo.join("site/content/portfolio.toml");
    let stacks = dir.join("stacks");
    std::fs::create_dir(&stacks).expect("stacks dir");
    std::fs::write(
        stacks.join("local.toml"),
        format!(
            "content = {:?}\n{}",
            content.display().to_string(),
            stack.replace("backend = \"s3\"", "backend = \"local\"")
        ),
    )
    .expect("write stack");
}

/// `infra-synth drift` on that stack from `dir`, with `--out-dir out` relative to it, as the
/// default `out` is.
fn drift_from(dir: &Path, endpoint: &str) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_infra-synth"));
    command
        .args(["drift", "--stack", "local", "--stacks-dir", "stacks"])
        .args(["--out-dir", "out", "--endpoint-url", endpoint])
        .current_dir(dir)
        .env_remove("CFX_AWS_ENDPOINT")
        .stdin(Stdio::null());
    if let Some(mirror) = plugin_dir() {
        command.args(["--plugin-dir", &mirror]);
    }
    command
}

/// Terraform runs inside `<out-dir>/<stack>`: the plan file was named to it relative to where
/// infra-synth runs, so with the default `--out-dir out` it wrote to `out/local/out/local/`,
/// which does not exist ("Failed to write plan file"), and every plan, drift and destroy failed.
#[test]
fn a_relative_out_dir_is_where_terraform_writes_its_plan() {
    let test = "a_relative_out_dir_is_where_terraform_writes_its_plan";
    let Some(moto) = Moto::with_terraform(test) else {
        return;
    };
    let dir = tempfile::tempdir().expect("tempdir");
    local_state_stack(dir.path());
    let output = drift_from(dir.path(), &moto.endpoint)
        .output()
        .expect("infra-synth runs");
    let text = stderr(&output);
    assert!(!text.contains("Failed to write plan file"), "{text}");
    // The plan ran and was read: an empty state holds nothing to compare.
    assert!(
        text.contains("nothing of stack `local` is deployed"),
        "{text}"
    );
    assert_eq!(output.status.code(), Some(1), "{text}");
}
