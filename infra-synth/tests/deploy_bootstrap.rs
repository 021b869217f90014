//! `bootstrap` against a real moto server: the backend stack is created once through a change
//! set and a second run changes nothing; the template passes cfn-lint.

mod deploy_support;

use aws_sdk_cloudformation::types::StackStatus;
use deploy_support::{find_tool, infra_synth, skip, stderr, stdout, Moto};
use infra_synth::deploy::aws::{block_on, AwsTarget};

#[test]
fn bootstrap_is_idempotent_through_change_sets() {
    let Some(moto) = Moto::start() else {
        return skip("bootstrap_is_idempotent_through_change_sets", "moto_server");
    };
    let out = tempfile::tempdir().expect("tempdir");
    let out_dir = out.path().to_str().expect("utf-8 path");
    let on_moto = |command| {
        [
            command,
            "--stack",
            "local",
            "--endpoint-url",
            &moto.endpoint,
            "--out-dir",
            out_dir,
        ]
    };
    let args = on_moto("bootstrap");

    // Before it: a backend moto says does not exist is missing, with the way out.
    let before = infra_synth(&on_moto("drift"), &[]);
    assert_eq!(before.status.code(), Some(1));
    assert!(
        stderr(&before).contains(
            "no state backend stack `cloudforgex-local-tfstate`; run `infra-synth bootstrap` first"
        ),
        "{}",
        stderr(&before)
    );

    let first = infra_synth(&args, &[]);
    assert!(first.status.success());
    assert!(stdout(&first).contains("created/updated; bucket cloudforgex-local-artifacts"));
    assert!(
        stdout(&first).contains("use_path_style = true"),
        "prints the backend config"
    );

    let second = infra_synth(&args, &[]);
    assert!(second.status.success());
    assert!(
        stdout(&second).contains("is up to date (no changes)"),
        "second run must change nothing"
    );

    let target = AwsTarget {
        region: "us-east-1".into(),
        endpoint_url: Some(moto.endpoint.clone()),
    };
    block_on(async {
        let cfn = target.cloudformation().await;
        let stacks = cfn
            .describe_stacks()
            .stack_name("cloudforgex-local-tfstate")
            .send()
            .await
            .expect("stack exists");
        let stack = &stacks.stacks()[0];
        // Still the status of the one executed change set: the second run executed nothing.
        assert_eq!(stack.stack_status(), Some(&StackStatus::CreateComplete));
        let change_sets = cfn
            .list_change_sets()
            .stack_name("cloudforgex-local-tfstate")
            .send()
            .await
            .expect("list change sets");
        assert_eq!(
            change_sets.summaries().len(),
            1,
            "only the creating change set"
        );

        let s3 = target.s3().await;
        let encryption = s3
            .get_bucket_encryption()
            .bucket("cloudforgex-local-artifacts")
            .send()
            .await
            .expect("bucket is encrypted");
        let rule = &encryption
            .server_side_encryption_configuration()
            .expect("configuration")
            .rules()[0];
        assert_eq!(
            rule.apply_server_side_encryption_by_default()
                .map(|d| d.sse_algorithm().as_str()),
            Some("AES256")
        );
    })
    .expect("runtime");
}

#[test]
fn bootstrap_template_passes_cfn_lint() {
    let Some(cfn_lint) = find_tool("cfn-lint", &["/root/.cache/cloudforgex/venv/bin/cfn-lint"])
    else {
        return skip("bootstrap_template_passes_cfn_lint", "cfn-lint");
    };
    let printed = infra_synth(&["bootstrap", "--stack", "prod", "--print-template"], &[]);
    assert!(printed.status.success());
    let dir = tempfile::tempdir().expect("tempdir");
    let template = dir.path().join("bootstrap.json");
    std::fs::write(&template, &printed.stdout).expect("write template");
    let lint = std::process::Command::new(cfn_lint)
        .arg(&template)
        .output()
        .expect("run cfn-lint");
    assert!(
        lint.status.success(),
        "cfn-lint findings:\n{}",
        String::from_utf8_lossy(&lint.stdout)
    );
}
