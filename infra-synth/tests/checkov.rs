//! checkov finds no failed checks in the prod output (skips live in infra-synth/checkov.yaml,
//! each with its reason).

mod common;

use std::process::Command;

/// checkov's terraform_json parser cannot read a `terraform` block whose `required_version`
/// is a plain string (it expects only nested blocks), nor a list of `moved` blocks, so the
/// scanned copy drops both; they hold version constraints, the backend and state renames,
/// no resources.
fn without_terraform_block(main_tf_json: &str) -> String {
    let mut doc: serde_json::Value = serde_json::from_str(main_tf_json).expect("json");
    let root = doc.as_object_mut().expect("object");
    root.remove("terraform");
    root.remove("moved");
    serde_json::to_string_pretty(&doc).expect("json")
}

#[test]
fn checkov_passes_on_prod() {
    let venv = std::env::var("CFX_VENV").unwrap_or_else(|_| "/root/.cache/cloudforgex/venv".into());
    let program = format!("{venv}/bin/checkov");
    let Some(checkov) = common::tool("checkov_passes_on_prod", &program, "--version") else {
        return;
    };
    let synthesis = common::synth(&common::repo_stacks(), "prod");
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(
        dir.path().join("main.tf.json"),
        without_terraform_block(&synthesis.main_tf_json),
    )
    .expect("write");
    let config = common::repo_root().join("infra-synth/checkov.yaml");
    let output = Command::new(&checkov)
        .arg("-d")
        .arg(dir.path())
        .args([
            "--framework",
            "terraform_json",
            "--skip-download",
            "-o",
            "json",
            "--config-file",
        ])
        .arg(&config)
        .output()
        .expect("checkov runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let report: serde_json::Value = serde_json::from_str(&stdout).unwrap_or_else(|e| {
        panic!(
            "checkov JSON ({e}):\n{stdout}\n{}",
            String::from_utf8_lossy(&output.stderr)
        )
    });
    let summary = &report["summary"];
    let failed: Vec<String> = report["results"]["failed_checks"]
        .as_array()
        .map(|checks| {
            checks
                .iter()
                .map(|c| format!("{} {} ({})", c["check_id"], c["resource"], c["check_name"]))
                .collect()
        })
        .unwrap_or_default();
    assert_eq!(summary["parsing_errors"], 0, "{summary}");
    assert_eq!(
        summary["failed"],
        0,
        "failed checks:\n{}",
        failed.join("\n")
    );
    assert!(
        summary["passed"].as_u64().unwrap_or(0) > 150,
        "too few checks ran: {summary}"
    );
    assert!(
        output.status.success(),
        "checkov exit status {:?}",
        output.status
    );
}
