//! `apply` safety against real moto and terraform: a plan made from other config is refused,
//! and an apply that fails leaves the applied manifest exactly as it was.

mod deploy_support;

use std::path::Path;

use deploy_support::{infra_synth, plugin_dir, skip, stderr, terraform_available, workspace, Moto};

/// A copy of `stacks/local.toml` in `dir` with `extra` appended to its `[lambda]` table.
fn write_stack(dir: &Path, lambda_extra: &str) {
    let local = std::fs::read_to_string(workspace().join("stacks/local.toml")).expect("local.toml");
    let content = workspace().join("site/content/portfolio.toml");
    let text = format!(
        "content = {:?}\n{}",
        content.display().to_string(),
        local.replace("[lambda]\n", &format!("[lambda]\n{lambda_extra}\n"))
    );
    std::fs::write(dir.join("local.toml"), text).expect("write stack");
}

#[test]
fn stale_plans_are_refused_and_failed_applies_keep_the_manifest() {
    const TEST: &str = "stale_plans_are_refused_and_failed_applies_keep_the_manifest";
    if !terraform_available() {
        return skip(TEST, "terraform");
    }
    let Some(moto) = Moto::start() else {
        return skip(TEST, "moto_server");
    };
    let endpoint = moto.endpoint.clone();
    let stacks = tempfile::tempdir().expect("tempdir");
    let out = tempfile::tempdir().expect("tempdir");
    let stacks_dir = stacks.path().to_str().expect("utf-8");
    let out_dir = out.path().to_str().expect("utf-8");
    let plugins = plugin_dir().unwrap_or_default();
    let args = vec![
        "--stack",
        "local",
        "--stacks-dir",
        stacks_dir,
        "--out",
        out_dir,
        "--endpoint-url",
        &endpoint,
    ];
    let envs = [("CFX_TF_PLUGIN_DIR", plugins.as_str())];
    let run = |command: &str, args: &[&str]| {
        let mut full = vec![command];
        full.extend_from_slice(args);
        infra_synth(&full, &envs)
    };

    write_stack(stacks.path(), "memory_mb = 256");
    assert!(run("bootstrap", &args).status.success());
    assert_eq!(run("plan", &args).status.code(), Some(2), "changes to add");

    // The config changes after the plan was reviewed: apply must refuse.
    write_stack(stacks.path(), "memory_mb = 512");
    let refused = run("apply", &args);
    assert_eq!(refused.status.code(), Some(1));
    assert!(
        stderr(&refused).contains("the saved plan is stale"),
        "{}",
        stderr(&refused)
    );
    assert!(stderr(&refused).contains("configuration changed since the plan"));
    let manifest = out.path().join("local/last-applied.json");
    assert!(!manifest.exists(), "nothing was applied");

    // A fresh plan, a previously applied manifest, then the cloud goes away mid-deploy.
    assert_eq!(run("plan", &args).status.code(), Some(2));
    let previous = "{\"previous\": \"apply\"}\n";
    std::fs::write(&manifest, previous).expect("seed manifest");
    let plan_file = out.path().join("local/cfx.tfplan");
    assert!(plan_file.exists());
    drop(moto); // same args; only the endpoint stops answering
    let failed = run("apply", &args);
    assert_eq!(
        failed.status.code(),
        Some(1),
        "apply against a dead endpoint fails"
    );
    assert_eq!(
        std::fs::read_to_string(&manifest).expect("manifest kept"),
        previous,
        "a failed apply leaves the applied manifest untouched"
    );
    assert!(plan_file.exists(), "the unapplied plan is kept for a retry");
}
