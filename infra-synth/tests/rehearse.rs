//! `rehearse --stack prod` for real: prod's model with local.toml's emulator switches is
//! deployed to its own moto, the packaged bootstrap answers through a local Runtime API, the
//! published site answers in Chromium, a second plan is empty, the stack is destroyed, and the
//! bundle it rehearsed records the pass. A bundle planned from other config is refused.

mod deploy_support;

use deploy_support::{
    find_tool, infra_synth, plugin_dir, skip, stderr, stdout, terraform_available, workspace,
};
use infra_synth::deploy::bundle::PlanBundle;
use infra_synth::deploy::state::{config_sha256, Fingerprint};
use local_moto::find_moto;

/// A bundle as `plan --stack prod` would write it for this checkout's config.
fn prod_bundle(config_sha256: String) -> PlanBundle {
    PlanBundle {
        fingerprint: Fingerprint {
            stack: "prod".into(),
            config_sha256,
            lambda_package_sha256: "planned in the account".into(),
            site_sha256: "planned in the account".into(),
            provider_lock_sha256: "planned in the account".into(),
            destroy: false,
        },
        summary: "+ every resource\n".into(),
        // Rehearse plans on the emulator itself; it never applies the bundle's plan.
        tfplan: b"saved plan".to_vec(),
        rehearsal: None,
    }
}

#[test]
fn prod_rehearses_on_the_emulator_and_the_bundle_records_it() {
    const TEST: &str = "prod_rehearses_on_the_emulator_and_the_bundle_records_it";
    if !terraform_available() {
        return skip(TEST, "terraform");
    }
    if find_moto().is_none() {
        return skip(TEST, "moto_server");
    }
    if find_tool("node", &[]).is_none() {
        return skip(TEST, "node");
    }
    let chromium = std::env::var("CHROME_PATH").unwrap_or_else(|_| "/usr/bin/chromium".into());
    if !std::path::Path::new(&chromium).is_file() {
        return skip(TEST, "chromium");
    }
    let out = tempfile::tempdir().expect("tempdir");
    let out_dir = out.path().to_str().expect("utf-8");
    let prod = infra_synth::config::load(&workspace().join("stacks"), "prod").expect("prod loads");
    let synthesis = infra_synth::synth::synthesize(&prod).expect("prod synthesizes");
    let plugins = plugin_dir().unwrap_or_default();
    let envs = [("CFX_TF_PLUGIN_DIR", plugins.as_str())];

    let rehearse = |bundle: &std::path::Path| {
        let bundle = bundle.to_str().expect("utf-8");
        let args = [
            "rehearse",
            "--stack",
            "prod",
            "--out-dir",
            out_dir,
            "--plan",
            bundle,
        ];
        infra_synth(&args, &envs)
    };

    let stale = out.path().join("stale.cfxplan");
    prod_bundle("0".repeat(64)).write(&stale).expect("write");
    let refused = rehearse(&stale);
    assert_eq!(refused.status.code(), Some(1));
    assert!(
        stderr(&refused).contains("was planned from other config"),
        "{}",
        stderr(&refused)
    );

    let bundle = out.path().join("prod.cfxplan");
    prod_bundle(config_sha256(&synthesis.main_tf_json))
        .write(&bundle)
        .expect("write");
    let rehearsal = rehearse(&bundle);
    let report = stdout(&rehearsal);
    assert_eq!(rehearsal.status.code(), Some(0), "{report}");
    for step in [
        "start the emulator",
        "apply and publish",
        "EVE answers through the Runtime API",
        "the site in Chromium, EVE replying",
        "a second plan is empty",
        "destroy",
    ] {
        assert!(
            report.lines().any(|l| l.contains("ok") && l.contains(step)),
            "step `{step}` passed:\n{report}"
        );
    }
    assert!(report.trim_end().ends_with("rehearsal PASSED"), "{report}");
    let recorded = PlanBundle::read(&bundle).expect("bundle");
    let record = recorded.rehearsal.expect("the rehearsal is recorded");
    assert!(record.passed());
    assert_eq!(record.fingerprint, recorded.fingerprint);
}
