//! The Terraform runner and plan summary against the real `terraform` binary, and the error
//! when there is none.

mod deploy_support;

use deploy_support::{infra_synth, skip, stderr, terraform_available};
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
