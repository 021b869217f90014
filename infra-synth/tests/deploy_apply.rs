//! Plan once, apply exactly that, from another machine, against real moto and terraform: a
//! bundle planned from other config is refused and the difference named; the bundle applies
//! from a fresh working directory; it applies once; `diff` reads the applied record from the
//! state bucket; `drift` names an attribute changed out of band and the stack key behind it.

mod deploy_support;

use std::path::Path;
use std::process::{Command, Stdio};

use deploy_support::{infra_synth, plugin_dir, stderr, stdout, workspace, Moto};
use infra_synth::deploy::aws::{block_on, AwsTarget};
use infra_synth::deploy::bundle::{PlanBundle, RehearsalRecord, RehearsalStep};

/// A copy of `stacks/<name>.toml` in `dir` with `lambda_extra` added to its `[lambda]` table.
fn write_stack(dir: &Path, name: &str, lambda_extra: &str) {
    let file = format!("{name}.toml");
    let original = std::fs::read_to_string(workspace().join("stacks").join(&file)).expect("stack");
    let content = workspace().join("site/content/portfolio.toml");
    let text = format!(
        "content = {:?}\n{}",
        content.display().to_string(),
        original.replace("[lambda]\n", &format!("[lambda]\n{lambda_extra}\n"))
    );
    std::fs::write(dir.join(file), text).expect("write stack");
}

#[test]
fn a_bundle_applies_once_on_another_machine_and_drift_names_the_stack_key() {
    const TEST: &str = "a_bundle_applies_once_on_another_machine_and_drift_names_the_stack_key";
    let Some(moto) = Moto::with_terraform(TEST) else {
        return;
    };
    let stacks = tempfile::tempdir().expect("tempdir");
    let stacks_dir = stacks.path().to_str().expect("utf-8");
    // Three machines: one plans, one applies, one only looks.
    let (planner, applier, looker) = (
        tempfile::tempdir().expect("tempdir"),
        tempfile::tempdir().expect("tempdir"),
        tempfile::tempdir().expect("tempdir"),
    );
    let bundle = planner.path().join("local.cfxplan");
    let bundle_arg = bundle.to_str().expect("utf-8");
    let plugins = plugin_dir().unwrap_or_default();
    let envs = [("CFX_TF_PLUGIN_DIR", plugins.as_str())];
    let run = |command: &str, machine: &Path, extra: &[&str]| {
        let mut args = vec![
            command,
            "--stack",
            "local",
            "--stacks-dir",
            stacks_dir,
            "--out-dir",
            machine.to_str().expect("utf-8"),
            "--endpoint-url",
            moto.endpoint.as_str(),
        ];
        args.extend_from_slice(extra);
        infra_synth(&args, &envs)
    };

    write_stack(stacks.path(), "local", "memory_mb = 256");
    assert!(run("bootstrap", planner.path(), &[]).status.success());
    let planned = run("plan", planner.path(), &["--out", bundle_arg]);
    assert_eq!(planned.status.code(), Some(2), "changes to add");
    assert!(stdout(&planned).contains("+ aws_lambda_function.eve"));

    // The config changes after the plan was reviewed: the bundle is refused, naming what moved.
    write_stack(stacks.path(), "local", "memory_mb = 512");
    let refused = run("apply", applier.path(), &["--plan", bundle_arg]);
    assert_eq!(refused.status.code(), Some(1));
    assert!(
        stderr(&refused).contains("was planned from something else")
            && stderr(&refused).contains("configuration changed since the plan"),
        "{}",
        stderr(&refused)
    );
    assert!(!stderr(&refused).contains("Lambda package changed"));
    let applied_here = applier.path().join("local/last-applied.json");
    assert!(!applied_here.exists(), "nothing was applied");
    let unrehearsed = run(
        "apply",
        applier.path(),
        &["--plan", bundle_arg, "--require-rehearsal"],
    );
    assert_eq!(unrehearsed.status.code(), Some(1));
    assert!(stderr(&unrehearsed).contains("no passed rehearsal of this plan"));

    // A rehearsal that passed for exactly this plan (what `rehearse --plan` records) lets
    // `--require-rehearsal` through; the reviewed config again, so another machine rebuilds
    // the same assets and applies the bundle.
    let mut rehearsed = PlanBundle::read(&bundle).expect("bundle");
    rehearsed.rehearsal = Some(RehearsalRecord {
        fingerprint: rehearsed.fingerprint.clone(),
        steps: vec![RehearsalStep {
            name: "destroy".into(),
            passed: true,
            detail: String::new(),
            seconds: 1,
        }],
    });
    rehearsed.write(&bundle).expect("record the rehearsal");
    write_stack(stacks.path(), "local", "memory_mb = 256");
    let applied = run(
        "apply",
        applier.path(),
        &["--plan", bundle_arg, "--require-rehearsal"],
    );
    assert!(applied.status.success(), "the bundle applies elsewhere");
    assert!(stdout(&applied).contains("+ aws_lambda_function.eve"));
    assert!(stdout(&applied).contains("rehearsal: passed (1 steps)"));

    // A plan applies once: the state moved on, so Terraform refuses the same bundle again, and
    // a failed apply leaves the applied record as it was.
    let record = std::fs::read_to_string(&applied_here).expect("applied record");
    let again = run("apply", applier.path(), &["--plan", bundle_arg]);
    assert_eq!(again.status.code(), Some(1));
    assert!(
        stderr(&again).contains("Saved plan is stale"),
        "{}",
        stderr(&again)
    );
    assert_eq!(std::fs::read_to_string(&applied_here).ok(), Some(record));

    // A machine that never applied publishes the site (where to, Terraform's outputs in the
    // state say), sees the record beside the state, and no drift.
    let published = run("publish", looker.path(), &[]);
    assert!(published.status.success(), "{}", stderr(&published));
    assert!(
        stdout(&published).contains("site s3://cloudforgex-local-site: 0 uploaded"),
        "the applier published the same site: {}",
        stdout(&published)
    );
    let diff = run("diff", looker.path(), &[]);
    assert_eq!(diff.status.code(), Some(0), "{}", stdout(&diff));
    assert!(
        stderr(&diff).contains("applied record: s3://")
            && stderr(&diff).contains("/local/last-applied.json"),
        "{}",
        stderr(&diff)
    );
    let clean = run("drift", looker.path(), &[]);
    assert_eq!(clean.status.code(), Some(0), "{}", stdout(&clean));
    assert!(stdout(&clean).contains("No drift"));

    // Someone changes the function's memory by hand.
    let aws = AwsTarget {
        region: "us-east-1".into(),
        endpoint_url: Some(moto.endpoint.clone()),
    };
    block_on(async {
        aws_sdk_lambda::Client::new(&aws.sdk_config().await)
            .update_function_configuration()
            .function_name("cloudforgex-local-eve")
            .memory_size(1024)
            .send()
            .await
            .expect("change memory out of band")
    })
    .expect("runtime");
    let drifted = run("drift", looker.path(), &[]);
    assert_eq!(drifted.status.code(), Some(2), "{}", stdout(&drifted));
    let table = stdout(&drifted);
    let row = table
        .lines()
        .find(|line| line.contains("aws_lambda_function.eve") && line.contains("memory_size"))
        .map(|line| line.split_whitespace().collect::<Vec<_>>())
        .unwrap_or_else(|| panic!("no memory row:\n{table}"));
    assert_eq!(
        row,
        [
            "aws_lambda_function.eve",
            "memory_size",
            "256",
            "1024",
            "lambda.memory_mb"
        ]
    );
}

#[test]
fn diff_without_credentials_uses_the_local_record_and_says_so() {
    let stacks = tempfile::tempdir().expect("tempdir");
    let out = tempfile::tempdir().expect("tempdir");
    let home = tempfile::tempdir().expect("tempdir");
    // A real account's stack, which this machine has no keys for.
    write_stack(stacks.path(), "dev", "");
    let stacks_dir = stacks.path().to_str().expect("utf-8");
    let synth = infra_synth(
        &[
            "synth",
            "--stack",
            "dev",
            "--stacks-dir",
            stacks_dir,
            "--out",
            out.path().to_str().expect("utf-8"),
        ],
        &[],
    );
    assert!(synth.status.success());
    std::fs::copy(
        out.path().join("dev/main.tf.json"),
        out.path().join("dev/last-applied.json"),
    )
    .expect("a record of an apply from this machine");
    let diff = Command::new(env!("CARGO_BIN_EXE_infra-synth"))
        .args(["diff", "--stack", "dev", "--stacks-dir", stacks_dir])
        .arg("--out-dir")
        .arg(out.path())
        .current_dir(workspace())
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", home.path())
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .stdin(Stdio::null())
        .output()
        .expect("run diff");
    let err = String::from_utf8_lossy(&diff.stderr);
    assert_eq!(diff.status.code(), Some(0), "{err}");
    assert!(
        err.contains("last-applied.json (applied from this machine): no AWS credentials"),
        "{err}"
    );
}

/// A state that holds nothing (never applied, or another account's backend): a drift check
/// compares nothing, so it must not pass as "no drift"; publish has nowhere to publish to, and
/// says so before it builds anything; nor has a recovery drill anything to restore.
#[test]
fn a_stack_never_applied_neither_passes_drift_nor_builds_to_publish() {
    const TEST: &str = "a_stack_never_applied_neither_passes_drift_nor_builds_to_publish";
    let Some(moto) = Moto::with_terraform(TEST) else {
        return;
    };
    let out = tempfile::tempdir().expect("tempdir");
    let plugins = plugin_dir().unwrap_or_default();
    let run = |command: &[&str]| {
        let mut args = command.to_vec();
        args.extend([
            "--stack",
            "local",
            "--out-dir",
            out.path().to_str().expect("utf-8"),
            "--endpoint-url",
            moto.endpoint.as_str(),
        ]);
        infra_synth(&args, &[("CFX_TF_PLUGIN_DIR", plugins.as_str())])
    };
    assert!(run(&["bootstrap"]).status.success());
    let drift = run(&["drift"]);
    assert_eq!(drift.status.code(), Some(1));
    assert!(
        stderr(&drift).contains("nothing of stack `local` is deployed"),
        "{}",
        stderr(&drift)
    );
    assert!(!stdout(&drift).contains("No drift"), "{}", stdout(&drift));
    let publish = run(&["publish"]);
    assert_eq!(publish.status.code(), Some(1));
    assert!(
        stderr(&publish).contains("has no `site_bucket` output; has the stack been applied?"),
        "{}",
        stderr(&publish)
    );
    assert!(
        !stderr(&publish).contains("Lambda package"),
        "{}",
        stderr(&publish)
    );
    let drill = run(&["dr", "drill"]);
    assert_eq!(drill.status.code(), Some(1));
    assert!(
        stderr(&drill).contains(
            "table cloudforgex-local-conversations does not exist; has stack `local` been applied"
        ),
        "{}",
        stderr(&drill)
    );
}
