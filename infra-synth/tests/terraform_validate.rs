//! Every stack's output passes real `terraform validate` against the real AWS provider schema.

mod common;

use std::process::Command;

const TERRAFORM: &str = "/usr/local/bin/terraform";
const PLUGIN_DIR: &str = "/opt/tf-plugins";

#[test]
fn every_stack_passes_terraform_validate() {
    let Some(terraform) = common::tool(
        "every_stack_passes_terraform_validate",
        TERRAFORM,
        "version",
    ) else {
        return;
    };
    let out = tempfile::tempdir().expect("tempdir");
    // An empty CLI config: no user settings leak in, and no "missing .terraformrc" warning.
    let cli_config = out.path().join("terraformrc");
    std::fs::write(&cli_config, "").expect("write cli config");
    for name in ["dev", "prod", "local"] {
        let dir = common::synth(&common::repo_stacks(), name)
            .write(out.path())
            .expect("write");
        let run = |args: &[&str]| {
            let output = Command::new(&terraform)
                .args(args)
                .current_dir(&dir)
                .env("TF_IN_AUTOMATION", "1")
                .env("CHECKPOINT_DISABLE", "1")
                .env("TF_CLI_CONFIG_FILE", &cli_config)
                .output()
                .expect("terraform runs");
            let text = format!(
                "{}{}",
                String::from_utf8_lossy(&output.stdout),
                String::from_utf8_lossy(&output.stderr)
            );
            assert!(
                output.status.success(),
                "{name}: terraform {args:?} failed:\n{text}"
            );
            text
        };
        let plugin_dir = format!("-plugin-dir={PLUGIN_DIR}");
        run(&[
            "init",
            "-backend=false",
            "-input=false",
            "-no-color",
            &plugin_dir,
        ]);
        let validated = run(&["validate", "-no-color", "-json"]);
        let report: serde_json::Value = serde_json::from_str(&validated)
            .unwrap_or_else(|e| panic!("{name}: validate -json is not JSON ({e}):\n{validated}"));
        assert_eq!(report["valid"], true, "{name}: {validated}");
        assert_eq!(report["error_count"], 0, "{name}: {validated}");
        assert_eq!(report["warning_count"], 0, "{name}: {validated}");
    }
}
