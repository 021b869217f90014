//! The Terraform runner and plan summary against the real `terraform` binary, and the error
//! when there is none.

mod deploy_support;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use deploy_support::{
    children_of, infra_synth, plugin_dir, running, skip, stderr, terraform_available, ChildGuard,
    Moto,
};
use infra_synth::deploy::aws::{block_on, AwsTarget};
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
    stack_beside(dir, "local");
}

/// `stacks/local.toml` in `dir/stacks`, its state in the `backend` given, its content named
/// where it is.
fn stack_beside(dir: &Path, backend: &str) {
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
            stack.replace("backend = \"s3\"", &format!("backend = {backend:?}"))
        ),
    )
    .expect("write stack");
}

/// `infra-synth drift` on that stack from `dir`, with `--out-dir out` (the default) and the
/// provider mirror named relative to it.
fn drift_from(dir: &Path, endpoint: &str) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_infra-synth"));
    command
        .args(["drift", "--stack", "local", "--stacks-dir", "stacks"])
        .args(["--out-dir", "out", "--endpoint-url", endpoint])
        .current_dir(dir)
        .env_remove("CFX_AWS_ENDPOINT")
        .stdin(Stdio::null());
    if let Some(mirror) = plugin_dir() {
        // Named from `dir` too, as a user would name a mirror beside the stacks.
        let beside = dir.join("mirror");
        if !beside.exists() {
            std::os::unix::fs::symlink(mirror, &beside).expect("link the mirror");
        }
        command.args(["--plugin-dir", "mirror"]);
    }
    command
}

/// Terraform runs inside `<out-dir>/<stack>`: the plan file and the mirror were named to it
/// relative to where infra-synth runs, so with the default `--out-dir out` it wrote to
/// `out/local/out/local/`, which does not exist ("Failed to write plan file"), and every plan,
/// drift and destroy failed; a relative `--plugin-dir` failed `init` the same way.
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

/// An endpoint that accepts connections and never answers: Terraform's first AWS call waits.
/// The receiver hears of each connection, the sign that a call is in flight.
fn black_hole() -> (String, std::sync::mpsc::Receiver<()>) {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("listener");
    let endpoint = format!("http://{}", listener.local_addr().expect("address"));
    let (connected, connections) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let held: Vec<_> = listener
            .incoming()
            .map_while(Result::ok)
            .inspect(|_| {
                let _ = connected.send(());
            })
            .collect();
        drop(held);
    });
    (endpoint, connections)
}

/// The child of `parent` whose command line holds `plan`, once it has started.
fn terraform_plan_under(parent: u32, within: Duration) -> Option<u32> {
    let started = Instant::now();
    while started.elapsed() < within {
        for child in children_of(parent) {
            let line = std::fs::read(format!("/proc/{child}/cmdline")).unwrap_or_default();
            if line.split(|b| *b == 0).any(|arg| arg == b"plan") {
                return Some(child);
            }
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    None
}

/// Ctrl-C while Terraform runs: infra-synth used to die at once, and Terraform, which the
/// terminal had interrupted too, went on alone, writing state after the prompt came back and
/// after the stack directory's lock was gone (or never heard of it: a CI job's SIGTERM reaches
/// infra-synth only). Now Terraform is asked once to stop, and infra-synth waits for it.
#[test]
fn an_interrupt_reaches_terraform_and_infra_synth_waits_for_it_to_stop() {
    let test = "an_interrupt_reaches_terraform_and_infra_synth_waits_for_it_to_stop";
    if !terraform_available() {
        return skip(test, "terraform");
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let (mut infra_synth, terraform, log) = terraform_waiting_on_a_black_hole(dir.path());
    interrupt(&infra_synth);
    let status = exit_within(&mut infra_synth, Duration::from_secs(60), &log);
    let text = read(&log);
    let terraform_left = running(terraform);
    if terraform_left {
        let _ = Command::new("kill").arg(terraform.to_string()).status();
    }
    assert!(!terraform_left, "terraform outlived infra-synth: {text}");
    assert_eq!(status.code(), Some(130), "{status}: {text}");
    assert!(
        text.contains("interrupted: Terraform is finishing the calls in flight"),
        "{text}"
    );
    assert!(
        text.contains("error: interrupted: Terraform was asked to stop and has stopped"),
        "{text}"
    );
}

/// Stands in for a Terraform that goes on after the first interrupt (as one waiting out a
/// provider call does) and stops at the second; it logs its calls and the interrupts it gets
/// beside itself, in `calls.log`.
const TERRAFORM_THAT_WAITS_OUT_ONE_INTERRUPT: &str = r#"#!/bin/sh
log="$(dirname "$0")/calls.log"
echo "$@" >> "$log"
for arg in "$@"; do
  case "$arg" in
    plan)
      trap 'echo first >> "$log"; trap "echo second >> \"$log\"; exit 130" INT' INT
      echo waiting >> "$log"
      while :; do sleep 0.05; done ;;
  esac
done
"#;

/// Ctrl-C, as a terminal sends it, to `process`.
fn interrupt(process: &ChildGuard) {
    let pid = process.0.id().to_string();
    let sent = Command::new("kill").args(["-INT", &pid]).status();
    assert!(sent.expect("kill").success());
}

/// How `process` exited, which it must within `limit` (its stderr in `log`).
fn exit_within(process: &mut ChildGuard, limit: Duration, log: &Path) -> std::process::ExitStatus {
    let started = Instant::now();
    loop {
        if let Some(status) = process.0.try_wait().expect("wait") {
            return status;
        }
        assert!(
            started.elapsed() < limit,
            "still running {limit:?} after the interrupt: {}",
            read(log)
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Waits until `path` holds `text`, for a minute at most.
fn until_written(path: &Path, text: &str) {
    let started = Instant::now();
    while !read(path).contains(text) {
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "no `{text}` in {}: {}",
            path.display(),
            read(path)
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// A second interrupt is passed on too, for a Terraform that goes on after the first: it is
/// then told to stop at once, and infra-synth still waits for it before it exits with 130.
#[test]
fn a_second_interrupt_reaches_a_terraform_that_went_on_after_the_first() {
    let dir = tempfile::tempdir().expect("tempdir");
    local_state_stack(dir.path());
    let terraform = fake_terraform(
        &dir.path().join("terraform"),
        TERRAFORM_THAT_WAITS_OUT_ONE_INTERRUPT,
    );
    let (calls, log) = (dir.path().join("calls.log"), dir.path().join("stderr.log"));
    let mut command = drift_from(dir.path(), "http://127.0.0.1:9");
    command
        .arg("--terraform")
        .arg(&terraform)
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).expect("log"));
    let mut infra_synth = ChildGuard(command.spawn().expect("infra-synth starts"));
    until_written(&calls, "waiting");
    interrupt(&infra_synth);
    until_written(&calls, "first");
    std::thread::sleep(Duration::from_millis(300));
    assert!(
        infra_synth.0.try_wait().expect("wait").is_none(),
        "infra-synth left while Terraform ran: {}",
        read(&log)
    );
    interrupt(&infra_synth);
    let status = exit_within(&mut infra_synth, Duration::from_secs(10), &log);
    let text = read(&log);
    assert_eq!(status.code(), Some(130), "{status}: {text}");
    assert!(read(&calls).contains("second"), "{}", read(&calls));
    assert!(
        text.contains("interrupted again: Terraform stops at once"),
        "{text}"
    );
}

/// `script`, executable, at `path`: a Terraform that behaves as a test needs.
fn fake_terraform(path: &Path, script: &str) -> PathBuf {
    use std::os::unix::fs::PermissionsExt;
    std::fs::write(path, script).expect("script");
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755)).expect("executable");
    path.to_path_buf()
}

/// A Terraform killed by a signal (the out-of-memory killer, a crash) was reported as "exit
/// code -1", a code no process exits with.
#[test]
fn a_terraform_killed_by_a_signal_is_named_so() {
    let dir = tempfile::tempdir().expect("tempdir");
    local_state_stack(dir.path());
    let terraform = fake_terraform(
        &dir.path().join("terraform"),
        "#!/bin/sh\ncase \"$1\" in plan|show) kill -SEGV $$ ;; esac\n",
    );
    let output = drift_from(dir.path(), "http://127.0.0.1:9")
        .arg("--terraform")
        .arg(&terraform)
        .output()
        .expect("infra-synth runs");
    let text = stderr(&output);
    assert!(
        text.contains("`terraform plan` was killed by signal 11 (SIGSEGV); see its output above"),
        "{text}"
    );
    assert!(!text.contains("-1"), "{text}");
    assert_eq!(output.status.code(), Some(1), "{text}");
}

/// `--terraform ./bin/terraform` names a file from where infra-synth runs, as a shell would; it
/// was run from inside the stack's working directory instead, and was not found there.
#[test]
fn a_relative_terraform_path_is_found_from_where_infra_synth_runs() {
    let dir = tempfile::tempdir().expect("tempdir");
    local_state_stack(dir.path());
    std::fs::create_dir(dir.path().join("bin")).expect("bin");
    fake_terraform(
        &dir.path().join("bin/terraform"),
        "#!/bin/sh\necho \"$@\" >> \"$(dirname \"$0\")/calls.log\"\necho 'the fake Terraform ran' >&2\nexit 1\n",
    );
    let output = drift_from(dir.path(), "http://127.0.0.1:9")
        .args(["--terraform", "./bin/terraform"])
        .output()
        .expect("infra-synth runs");
    let text = stderr(&output);
    assert!(!text.contains("cannot run"), "{text}");
    assert!(text.contains("the fake Terraform ran"), "{text}");
    assert!(
        read(&dir.path().join("bin/calls.log")).contains("init"),
        "{text}"
    );
    assert_eq!(output.status.code(), Some(1), "{text}");
}

/// `drift` from `dir` against an endpoint that never answers, once Terraform is inside the
/// provider's first call: infra-synth (its stderr in the log), Terraform's pid, and the log.
fn terraform_waiting_on_a_black_hole(dir: &Path) -> (ChildGuard, u32, PathBuf) {
    local_state_stack(dir);
    let log = dir.join("stderr.log");
    let (endpoint, connections) = black_hole();
    let child = drift_from(dir, &endpoint)
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).expect("log"))
        .spawn()
        .expect("infra-synth starts");
    let infra_synth = ChildGuard(child);
    let terraform = terraform_plan_under(infra_synth.0.id(), Duration::from_secs(120))
        .unwrap_or_else(|| panic!("no terraform plan: {}", read(&log)));
    // Into the provider's first call, which the black hole never answers: the provider cancels
    // a call in flight when Terraform is stopped, but not one it starts after the stop, so the
    // connection, not Terraform's "Reading..." printed before the call, says it is time.
    if connections.recv_timeout(Duration::from_secs(120)).is_err() {
        panic!("no AWS call reached the endpoint: {}", read(&log));
    }
    (infra_synth, terraform, log)
}

/// Killed outright (a CI runner's SIGKILL after its grace period, the OOM killer), infra-synth
/// can pass nothing on, and Terraform, waiting on a provider call that never ends, ran on
/// alone with the state lock. Now the kernel hands Terraform the interrupt, and it stops.
#[test]
fn terraform_stops_when_infra_synth_is_killed_outright() {
    let test = "terraform_stops_when_infra_synth_is_killed_outright";
    if !terraform_available() {
        return skip(test, "terraform");
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let (mut infra_synth, terraform, log) = terraform_waiting_on_a_black_hole(dir.path());
    infra_synth.0.kill().expect("SIGKILL infra-synth");
    infra_synth.0.wait().expect("reap infra-synth");
    let killed = Instant::now();
    while running(terraform) && killed.elapsed() < Duration::from_secs(60) {
        std::thread::sleep(Duration::from_millis(100));
    }
    let terraform_left = running(terraform);
    if terraform_left {
        let _ = Command::new("kill")
            .args(["-KILL", &terraform.to_string()])
            .status();
    }
    assert!(
        !terraform_left,
        "terraform ran on a minute after infra-synth was killed: {}",
        read(&log)
    );
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_default()
}

/// A state lock left by a run that died (SIGKILL, a lost CI machine) stops every later plan
/// until someone releases it; Terraform names the lock but not how to release it from where
/// infra-synth ran it. The failure names the lock and the command that releases it, and that
/// command works as given.
#[test]
fn a_state_lock_held_elsewhere_is_named_with_the_command_that_releases_it() {
    let test = "a_state_lock_held_elsewhere_is_named_with_the_command_that_releases_it";
    let Some(moto) = Moto::with_terraform(test) else {
        return;
    };
    let dir = tempfile::tempdir().expect("tempdir");
    stack_beside(dir.path(), "s3");
    let drift = || {
        drift_from(dir.path(), &moto.endpoint)
            .env("AWS_ACCESS_KEY_ID", "testing")
            .env("AWS_SECRET_ACCESS_KEY", "testing")
            .output()
            .expect("infra-synth runs")
    };
    let bootstrap = Command::new(env!("CARGO_BIN_EXE_infra-synth"))
        .args(["bootstrap", "--stack", "local", "--stacks-dir", "stacks"])
        .args(["--out-dir", "out", "--endpoint-url", &moto.endpoint])
        .current_dir(dir.path())
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .output()
        .expect("bootstrap runs");
    assert!(bootstrap.status.success(), "{}", stderr(&bootstrap));
    let unlocked = drift();
    assert!(
        stderr(&unlocked).contains("nothing of stack `local` is deployed"),
        "{}",
        stderr(&unlocked)
    );

    // The lock a dead run left: the object Terraform's S3 lock file is, beside the state.
    let backend: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(dir.path().join("out/local/.terraform/terraform.tfstate"))
            .expect("terraform init wrote its backend"),
    )
    .expect("json");
    let config = &backend["backend"]["config"];
    let (bucket, key) = (
        config["bucket"].as_str().expect("bucket"),
        config["key"].as_str().expect("key"),
    );
    let id = "6a4f1c0e-1111-2222-3333-444455556666";
    let lock = serde_json::json!({
        "ID": id, "Operation": "OperationTypeApply", "Info": "", "Who": "ci@lost-runner",
        "Version": "1.11.4", "Created": "2026-12-06T01:00:00Z", "Path": format!("{bucket}/{key}"),
    });
    let target = AwsTarget {
        region: "us-east-1".into(),
        endpoint_url: Some(moto.endpoint.clone()),
    };
    block_on(async {
        target
            .s3()
            .await
            .put_object()
            .bucket(bucket)
            .key(format!("{key}.tflock"))
            .body(lock.to_string().into_bytes().into())
            .send()
            .await
    })
    .expect("runtime")
    .expect("lock written");

    let locked = drift();
    let text = stderr(&locked);
    assert_eq!(locked.status.code(), Some(1), "{text}");
    let release = text
        .split('`')
        .find(|part| part.contains("force-unlock"))
        .unwrap_or_else(|| panic!("no command to release the lock: {text}"));
    assert!(release.ends_with(&format!("force-unlock {id}")), "{text}");
    assert!(
        text.contains(&format!("another run holds it (lock {id}")),
        "{text}"
    );
    // As a person would run it: Terraform asks first, and only `yes` releases the lock.
    let mut released = Command::new("sh")
        .args(["-c", release])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the command runs");
    released
        .stdin
        .take()
        .expect("stdin")
        .write_all(b"yes\n")
        .expect("answer");
    let released = released.wait_with_output().expect("released");
    assert!(released.status.success(), "{}", stderr(&released));
    let again = drift();
    assert!(
        stderr(&again).contains("nothing of stack `local` is deployed"),
        "{}",
        stderr(&again)
    );
}
