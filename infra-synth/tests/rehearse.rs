//! `rehearse --stack prod` for real: prod's model with local.toml's emulator switches is
//! deployed to its own moto, the packaged bootstrap answers through a local Runtime API, the
//! published site answers in Chromium, a second plan is empty, the stack is destroyed, and the
//! bundle it rehearsed records the pass. A bundle planned from other config is refused.

mod deploy_support;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use deploy_support::{
    children_of, find_tool, infra_synth, plugin_dir, running, skip, stderr, stdout,
    terraform_available, workspace,
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

/// A rehearsal killed outright (a CI runner's SIGKILL, a closed laptop's OOM) left its moto
/// serving and its build running, orphaned, for as long as they liked. Everything it starts
/// now stops with it. Its build here is a `cargo` that never finishes, so the kill finds the
/// rehearsal with both children running.
#[test]
fn a_rehearsal_killed_outright_leaves_no_emulator_or_build_behind() {
    const TEST: &str = "a_rehearsal_killed_outright_leaves_no_emulator_or_build_behind";
    if !terraform_available() {
        return skip(TEST, "terraform");
    }
    if find_moto().is_none() {
        return skip(TEST, "moto_server");
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let bin = dir.path().join("bin");
    std::fs::create_dir(&bin).expect("bin");
    let started_file = dir.path().join("cargo.pid");
    let cargo = bin.join("cargo");
    std::fs::write(
        &cargo,
        format!(
            "#!/bin/sh\n[ \"$1\" = lambda ] && exit 1\necho $$ > {:?}\nexec sleep 300\n",
            started_file.display().to_string()
        ),
    )
    .expect("write cargo");
    std::fs::set_permissions(&cargo, std::os::unix::fs::PermissionsExt::from_mode(0o755))
        .expect("chmod");
    let path = std::env::join_paths(std::iter::once(bin.clone()).chain(std::env::split_paths(
        &std::env::var_os("PATH").unwrap_or_default(),
    )))
    .expect("PATH");
    let out_dir = dir.path().join("out");
    let mut rehearsal = Command::new(env!("CARGO_BIN_EXE_infra-synth"))
        .args(["rehearse", "--stack", "local", "--out-dir"])
        .arg(&out_dir)
        .current_dir(workspace())
        .env("PATH", path)
        .env_remove("CFX_AWS_ENDPOINT")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("infra-synth starts");
    let waiting = Instant::now();
    let build: Option<u32> = loop {
        let pid = std::fs::read_to_string(&started_file)
            .ok()
            .and_then(|text| text.trim().parse().ok());
        if pid.is_some() || waiting.elapsed() > Duration::from_secs(180) {
            break pid;
        }
        if let Ok(Some(status)) = rehearsal.try_wait() {
            panic!("the rehearsal ended ({status}) before it built");
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    let children = children_of(rehearsal.id());
    rehearsal.kill().expect("SIGKILL the rehearsal");
    rehearsal.wait().expect("reap it");
    let build = build.expect("the rehearsal reached its build within 3 minutes");
    assert!(
        children.contains(&build),
        "the build {build} is among {children:?}"
    );
    assert!(
        children.len() >= 2,
        "moto and the build run under the rehearsal: {children:?}"
    );
    let killed = Instant::now();
    while children.iter().any(|&pid| running(pid)) && killed.elapsed() < Duration::from_secs(10) {
        std::thread::sleep(Duration::from_millis(50));
    }
    let left: Vec<(u32, String)> = children
        .iter()
        .filter(|&&pid| running(pid))
        .map(|&pid| (pid, command_line(pid)))
        .collect();
    for (pid, _) in &left {
        let _ = Command::new("kill")
            .args(["-KILL", &pid.to_string()])
            .status();
    }
    assert!(left.is_empty(), "outlived the killed rehearsal: {left:?}");
}

/// The start of `pid`'s command line (moto's is its whole serve script).
fn command_line(pid: u32) -> String {
    let line = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
    String::from_utf8_lossy(&line)
        .replace('\0', " ")
        .chars()
        .take(60)
        .collect()
}
