//! The `validate`, `synth` and `graph` commands as a user runs them.

mod common;

use std::path::{Path, PathBuf};

fn write_stack(dir: &Path, name: &str, extra: &str) {
    let content = common::fixtures().join("portfolio.toml");
    let text = format!(
        "env = \"test\"\nregion = \"eu-west-1\"\ndomain = \"example.com\"\ncontent = {:?}\n{extra}",
        content.display().to_string()
    );
    std::fs::write(dir.join(format!("{name}.toml")), text).expect("write stack");
}

/// Runs `infra-synth <args> --stacks-dir <stacks_dir>`.
fn run(args: &[&str], stacks_dir: &Path) -> std::process::Output {
    common::infra_synth()
        .args(args)
        .arg("--stacks-dir")
        .arg(stacks_dir)
        .output()
        .expect("infra-synth runs")
}

/// `synth --stack prod` into `out` with the output-directory flag given; its stdout.
fn synth_prod(flag: &str, out: &Path) -> String {
    let output = run(
        &["synth", "--stack", "prod", flag, &out.display().to_string()],
        &common::fixtures(),
    );
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

#[test]
fn synth_writes_main_tf_json_and_manifest_under_the_stack_name() {
    let out = tempfile::tempdir().expect("tempdir");
    let stdout = synth_prod("--out", out.path());
    let main = std::fs::read_to_string(out.path().join("prod/main.tf.json")).expect("main.tf.json");
    let golden = std::fs::read_to_string(common::fixtures().join("../golden/prod.main.tf.json"))
        .expect("golden");
    assert!(
        main == golden,
        "the CLI must write exactly the golden bytes (tests/golden.rs shows the first difference)"
    );
    let manifest: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(out.path().join("prod/manifest.json")).expect("manifest"),
    )
    .expect("manifest JSON");
    assert_eq!(manifest["stack"], "prod");
    assert!(stdout.contains("prod/main.tf.json"));
    // Counted as Terraform counts them (a plan's `N to add`): data sources apart. The line
    // called all 203 blocks resources, 19 of them data sources.
    let document: serde_json::Value = serde_json::from_str(&main).expect("main.tf.json is JSON");
    let blocks = |kind: &str| -> usize {
        document[kind].as_object().map_or(0, |types| {
            types
                .values()
                .filter_map(|v| v.as_object())
                .map(|named| named.len())
                .sum()
        })
    };
    let counts = format!(
        "({} resources, {} data sources, sha256 ",
        blocks("resource"),
        blocks("data")
    );
    assert!(stdout.contains(&counts), "`{counts}` not in: {stdout}");

    // `plan`, `apply`, `package` and the rest name the directory `--out-dir`; `synth` knew only
    // `--out`, so `synth --out-dir DIR` failed as an unknown argument.
    let other = tempfile::tempdir().expect("tempdir");
    synth_prod("--out-dir", other.path());
    let same = std::fs::read_to_string(other.path().join("prod/main.tf.json")).expect("written");
    assert!(same == main, "--out-dir writes what --out writes");
}

/// `validate --format json` of a stack `broken` with `sections` after the common lines: it
/// exits 1 and prints JSON.
fn validate_json_of_broken(sections: &str) -> serde_json::Value {
    let dir = tempfile::tempdir().expect("tempdir");
    write_stack(dir.path(), "broken", sections);
    let output = run(
        &["validate", "--stack", "broken", "--format", "json"],
        dir.path(),
    );
    assert_eq!(output.status.code(), Some(1));
    serde_json::from_slice(&output.stdout).expect("JSON on stdout")
}

#[test]
fn validate_reports_all_errors_as_json_and_exits_1() {
    let report = validate_json_of_broken("[lambda]\nmemory_mb = 64\ntimeout_s = 30\n");
    assert_eq!(report["ok"], false);
    assert_eq!(report["count"], 2);
    assert_eq!(report["errors"][0]["key"], "lambda.memory_mb");
    assert_eq!(report["errors"][0]["line"], 6);
    assert_eq!(report["errors"][1]["key"], "lambda.timeout_s");
}

/// JSON output is for programs: a value it quotes keeps its characters, and the output stays
/// JSON. (Escaping a right-to-left mark the way the text output does, `\u{200f}`, wrote an
/// escape that JSON does not have.)
#[test]
fn validate_json_keeps_what_it_quotes_and_stays_json() {
    let report = validate_json_of_broken("[eve]\nmodel_id = \"abc\\u200Fdef\"\n");
    assert_eq!(report["errors"][0]["key"], "eve.model_id");
    let message = report["errors"][0]["message"].as_str().expect("message");
    assert!(message.contains("`abc\u{200f}def`"), "{message:?}");
}

#[test]
fn validate_text_names_file_line_and_key() {
    let dir = tempfile::tempdir().expect("tempdir");
    write_stack(dir.path(), "broken", "[alarms]\nemail = \"nobody\"\n");
    let output = run(&["validate", "--stack", "broken"], dir.path());
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("broken.toml:6:9: `alarms.email`: `nobody` is not an email address"),
        "{stderr}"
    );
    assert!(stderr.contains("1 error"), "{stderr}");
}

#[test]
fn missing_stack_is_a_clear_error() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("staging.toml"), "").expect("write");
    std::fs::write(dir.path().join("notes.txt"), "").expect("write");
    // The commands that go on to deploy report it as the others do: once, not
    // `error: error: ...` (the problems already carry their prefix).
    for command in ["synth", "plan", "package", "drift"] {
        let output = run(&[command, "--stack", "nope"], dir.path());
        assert_eq!(output.status.code(), Some(1), "{command}");
        let stderr = String::from_utf8_lossy(&output.stderr);
        let first = stderr.lines().next().unwrap_or_default();
        assert!(
            first.starts_with("error: ")
                && first.ends_with("nope.toml: no stack `nope`; the stacks here are staging"),
            "{command}: {stderr}"
        );
        assert!(!stderr.contains("error: error:"), "{command}: {stderr}");
    }
    // `validate --stack <name>` from `stacks_dir` fails, saying `said`.
    let refused_saying = |name: &str, stacks_dir: &Path, said: String| {
        let output = run(&["validate", "--stack", name], stacks_dir);
        assert_eq!(output.status.code(), Some(1));
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(stderr.contains(&said), "`{said}` not in: {stderr}");
    };
    let nowhere = dir.path().join("no-such-folder");
    refused_saying(
        "dev",
        &nowhere,
        format!(
            "no stack `dev`: there is no folder {} (run from the repository root, or pass \
             --stacks-dir)",
            nowhere.display()
        ),
    );
    // The stack file itself given as the folder: said to be a file, with the folder to pass.
    let file = dir.path().join("staging.toml");
    refused_saying(
        "staging",
        &file,
        format!(
            "no stack `staging`: {} is a file, not a folder of stack files (pass its folder: \
             --stacks-dir {})",
            file.display(),
            dir.path().display()
        ),
    );
    // A folder a shell would split is quoted in the flag told.
    let spaced = dir.path().join("my stacks");
    std::fs::create_dir(&spaced).expect("mkdir");
    let file = spaced.join("staging.toml");
    std::fs::write(&file, "").expect("write");
    refused_saying(
        "staging",
        &file,
        format!("(pass its folder: --stacks-dir '{}')", spaced.display()),
    );
}

/// A stack file that is a link to nowhere was called missing while the list of stacks named it.
#[test]
fn a_stack_file_that_is_a_broken_link_says_where_it_leads() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::os::unix::fs::symlink("moved/staging.toml", dir.path().join("staging.toml"))
        .expect("link");
    let output = run(&["validate", "--stack", "staging"], dir.path());
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains(
            "staging.toml: cannot read file: it is a link to moved/staging.toml, which is not there"
        ),
        "{stderr}"
    );
}

/// An output folder that could not be made was told in the OS's own words and with its error
/// number: `Not a directory (os error 20)`.
#[test]
fn an_os_error_is_told_in_our_words() {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("a-file");
    std::fs::write(&file, "").expect("write");
    let out = file.join("out").display().to_string();
    let output = run(
        &["synth", "--stack", "prod", "--out", &out],
        &common::fixtures(),
    );
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(
        stderr,
        format!("error: cannot create {out}/prod: not a directory\n")
    );
}

/// A path or an argument quoted back, in an error or in a success line (`wrote <path>`), was
/// printed as given: one holding a terminal's escape sequence recoloured (or cleared) the
/// reader's terminal.
#[test]
fn an_argument_quoted_in_any_line_cannot_drive_the_terminal() {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("a-file");
    std::fs::write(&file, "").expect("write");
    let escape = "\u{1b}[2J\u{202e}";
    let out = file.join(escape).display().to_string();
    // A folder that can be made: the command succeeds and names it in its own lines.
    let made = dir.path().join(escape).display().to_string();
    let cases: [(&[&str], i32); 4] = [
        (&["synth", "--stack", "prod", "--out", &out], 1),
        (&["synth", "--stack", escape], 2),
        (&["synth", "--stack", "prod", "--out", &made], 0),
        (&["site", "build", "--stack", "prod", "--out", &made], 0),
    ];
    for (args, code) in cases {
        let output = run(args, &common::fixtures());
        assert_eq!(output.status.code(), Some(code), "{args:?}");
        let printed = format!(
            "{}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        assert!(
            !printed.contains('\u{1b}') && !printed.contains('\u{202e}'),
            "{args:?}: {printed:?}"
        );
        assert!(
            printed.contains("\\u{1b}[2J\\u{202e}"),
            "{args:?}: {printed:?}"
        );
    }
}

#[test]
fn a_stack_name_is_a_name_not_a_path() {
    let dir = tempfile::tempdir().expect("tempdir");
    for name in ["../prod", "a/b", "", "dev.toml"] {
        let output = run(&["synth", "--stack", name], dir.path());
        assert_eq!(output.status.code(), Some(2), "{name}");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(
            stderr.contains("a stack name is 1-64 letters, digits, '-' or '_'"),
            "{name}: {stderr}"
        );
    }
}

/// A stack file given where its name goes is answered with the flags that read it.
#[test]
fn a_stack_file_given_as_the_name_is_told_the_flags_that_read_it() {
    let dir = tempfile::tempdir().expect("tempdir");
    for (value, told) in [
        (
            "stacks/prod.toml",
            "pass `--stack prod --stacks-dir stacks`",
        ),
        (
            "../other/dev.toml",
            "pass `--stack dev --stacks-dir ../other`",
        ),
        (
            "my stacks/it's/dev.toml",
            r"pass `--stack dev --stacks-dir 'my stacks/it'\''s'`",
        ),
        (
            "prod.toml",
            "`--stack prod` reads prod.toml from the folder `--stacks-dir` names",
        ),
    ] {
        let output = run(&["validate", "--stack", value], dir.path());
        assert_eq!(output.status.code(), Some(2), "{value}");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(stderr.contains(told), "{value}: {stderr}");
    }
}

/// A number a command cannot use is refused at its flag, in our words: minutes past what a
/// duration holds panicked the drill (`attempt to multiply with overflow`), and for a number
/// that is not whole clap passed on the standard library's `invalid digit found in string`.
#[test]
fn numeric_flags_take_whole_numbers_in_their_range() {
    // The real stacks, so that a flag let through reaches the command.
    let stacks = common::repo_stacks();
    for (args, expected) in [
        (
            &[
                "dr",
                "drill",
                "--stack",
                "prod",
                "--restore-timeout",
                "999999999999999999",
            ][..],
            "for '--restore-timeout <MINUTES>': expected a whole number from 1 to 10080",
        ),
        (
            &["dr", "drill", "--stack", "prod", "--replication-wait", "0"][..],
            "for '--replication-wait <MINUTES>': expected a whole number from 1 to 1440",
        ),
        (
            &["dr", "drill", "--stack", "prod", "--sample", "x"][..],
            "for '--sample <N>': expected a whole number from 1 to 65535",
        ),
        (
            &["cost", "--stack", "prod", "--visitors", "1.5"][..],
            "for '--visitors <N>': expected a whole number from 0 to 1000000000",
        ),
    ] {
        let output = run(args, &stacks);
        assert_eq!(
            output.status.code(),
            Some(2),
            "{args:?}: {}",
            failure(&output)
        );
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(stderr.contains(expected), "{args:?}: {stderr}");
    }
}

#[test]
fn graph_prints_mermaid_with_references() {
    let output = run(&["graph", "--stack", "prod"], &common::fixtures());
    assert!(output.status.success());
    let graph = String::from_utf8_lossy(&output.stdout);
    assert!(graph.starts_with("flowchart LR\n"));
    let id_of = |address: &str| {
        graph
            .lines()
            .find(|l| l.ends_with(&format!("[\"{address}\"]")))
            .and_then(|l| l.trim().split('[').next())
            .map(str::to_string)
            .unwrap_or_else(|| panic!("{address} not in graph"))
    };
    let distribution = id_of("aws_cloudfront_distribution.site");
    let bucket = id_of("aws_s3_bucket.site");
    assert!(
        graph.contains(&format!("{distribution} --> {bucket}")),
        "{graph}"
    );
}

/// Runs `infra-synth <args> --stacks-dir <fixtures>` with one of its streams, set by `unread`,
/// the write end of a pipe whose reader has gone (as after `| head`).
fn run_unread(
    args: &[&str],
    unread: impl FnOnce(&mut std::process::Command, std::io::PipeWriter),
) -> std::process::Output {
    let (reader, writer) = std::io::pipe().expect("pipe");
    drop(reader);
    let mut command = common::infra_synth();
    command
        .args(args)
        .arg("--stacks-dir")
        .arg(common::fixtures())
        .env_remove("AWS_ACCESS_KEY_ID")
        .env_remove("AWS_PROFILE");
    unread(&mut command, writer);
    command.output().expect("infra-synth runs")
}

/// A reader that goes away (`infra-synth graph | head`) is no error: the command does all its
/// work, drops what it would have printed, and exits as it would have. `println!` and
/// `eprintln!` panicked (exit 101).
#[test]
fn a_closed_stdout_or_stderr_is_not_a_panic() {
    let out = tempfile::tempdir().expect("tempdir");
    let out_dir = out.path().display().to_string();
    // With the exit code each has when its reader stays: `diff` says 2, "there are changes".
    let commands: [(&[&str], i32); 5] = [
        (&["graph", "--stack", "prod"], 0),
        (&["validate", "--stack", "prod"], 0),
        (&["cost", "--stack", "prod"], 0),
        (&["synth", "--stack", "prod", "--out-dir", &out_dir], 0),
        (&["diff", "--stack", "prod", "--out-dir", &out_dir], 2),
    ];
    for (args, code) in commands {
        let output = run_unread(args, |command, unread| {
            command.stdout(unread);
        });
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(
            output.status.code() == Some(code) && !stderr.contains("panicked"),
            "{args:?}: {:?}\n{stderr}",
            output.status
        );
    }
    assert!(out.path().join("prod/main.tf.json").is_file());

    // An error that cannot be read is still an error: exit 1, as when it is read. One the
    // command reports (a missing stack) and one it returns (an output directory that is a file).
    let not_a_dir = out.path().join("prod/manifest.json").display().to_string();
    let failing: [&[&str]; 2] = [
        &["validate", "--stack", "missing"],
        &["synth", "--stack", "prod", "--out-dir", &not_a_dir],
    ];
    for args in failing {
        let output = run_unread(args, |command, unread| {
            command.stderr(unread);
        });
        assert_eq!(
            output.status.code(),
            Some(1),
            "{args:?}: {:?}",
            output.status
        );
    }
}

#[test]
fn every_command_has_help_with_examples() {
    for command in ["validate", "synth", "graph"] {
        let output = common::infra_synth()
            .args([command, "--help"])
            .output()
            .expect("runs");
        let help = String::from_utf8_lossy(&output.stdout);
        assert!(
            output.status.success() && help.contains("Examples:"),
            "{command}: {help}"
        );
        assert!(help.contains("--stacks-dir"), "{command}: {help}");
    }
}

/// The stderr of a run that must have failed (exit 1).
fn failure(output: &std::process::Output) -> String {
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    stderr
}

/// An endpoint on loopback that nothing listens on (a port bound, then released).
fn unreachable_endpoint() -> String {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .map(|address| address.port())
        .expect("free port");
    format!("http://127.0.0.1:{port}")
}

/// `drift` on the stack `test` in `dir` (output in `dir/out`) against `endpoint`.
fn drift_against(endpoint: &str, dir: &Path) -> std::process::Output {
    let out = dir.join("out").display().to_string();
    run(
        &[
            "drift",
            "--stack",
            "test",
            "--out-dir",
            &out,
            "--endpoint-url",
            endpoint,
        ],
        dir,
    )
}

/// A state backend that could not be asked is not reported as missing ("run bootstrap"), and
/// what stopped the call reads as words, not the SDK's debug dump: first an endpoint nothing
/// listens on, then no credentials anywhere.
#[test]
fn a_backend_that_cannot_be_asked_is_not_called_missing() {
    let dir = tempfile::tempdir().expect("tempdir");
    write_stack(dir.path(), "test", "");
    let endpoint = unreachable_endpoint();
    let out = dir.path().join("out");
    let out = out.to_str().expect("utf-8 path");
    let unreachable = drift_against(&endpoint, dir.path());
    let mut command = common::infra_synth();
    for (key, _) in std::env::vars().filter(|(key, _)| key.starts_with("AWS_")) {
        command.env_remove(key);
    }
    let nowhere = dir.path().join("no-such-file");
    let no_credentials = command
        .args(["drift", "--stack", "test", "--out-dir", out, "--stacks-dir"])
        .arg(dir.path())
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("AWS_CONFIG_FILE", &nowhere)
        .env("AWS_SHARED_CREDENTIALS_FILE", &nowhere)
        .output()
        .expect("infra-synth runs");
    for (case, output, cause) in [
        ("unreachable", unreachable, "Connection refused"),
        ("no credentials", no_credentials, "no AWS credentials"),
    ] {
        let stderr = failure(&output);
        assert!(
            stderr.contains("cannot read the state backend stack `cloudforgex-test-tfstate`"),
            "{case}: {stderr}"
        );
        assert!(stderr.contains(cause), "{case}: {stderr}");
        // The endpoint tried, where it was set, and the command that would start moto there.
        let port = endpoint.rsplit(':').next().expect("port");
        let named = format!(
            "nothing listens at the AWS endpoint {endpoint} (from `--endpoint-url` or \
             CFX_AWS_ENDPOINT); for an emulator stack, start the emulator first \
             (`moto_server -H 127.0.0.1 -p {port}`)"
        );
        assert_eq!(
            stderr.contains(&named),
            case == "unreachable",
            "{case}: {stderr}"
        );
        for wrong in ["bootstrap` first", "DispatchFailure", "ConnectorError", "{"] {
            assert!(!stderr.contains(wrong), "{case}: {stderr}");
        }
    }
}

/// An endpoint that takes connections and never answers (a paused emulator, a network that
/// drops replies) held `drift` for ever, printing nothing. Each attempt now waits 30 s for an
/// answer to start, and the error says what happened.
#[test]
fn a_backend_that_never_answers_fails_in_bounded_time_and_says_so() {
    let dir = tempfile::tempdir().expect("tempdir");
    write_stack(dir.path(), "test", "");
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("listener");
    let endpoint = format!("http://{}", listener.local_addr().expect("address"));
    std::thread::spawn(move || {
        let held: Vec<_> = listener.incoming().map_while(Result::ok).collect();
        drop(held);
    });
    let out = dir.path().join("out");
    let mut child = common::infra_synth()
        .args(["drift", "--stack", "test", "--endpoint-url", &endpoint])
        .arg("--out-dir")
        .arg(&out)
        .arg("--stacks-dir")
        .arg(dir.path())
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("infra-synth runs");
    // Three attempts of 30 s and the SDK's backoff between them.
    let started = std::time::Instant::now();
    while child.try_wait().expect("wait").is_none() {
        if started.elapsed() > std::time::Duration::from_secs(150) {
            let _ = child.kill();
            panic!("still waiting on the backend after 150 s");
        }
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
    let output = child.wait_with_output().expect("output");
    let stderr = failure(&output);
    assert!(
        stderr.contains("cannot read the state backend stack `cloudforgex-test-tfstate`"),
        "{stderr}"
    );
    assert!(
        stderr.contains(&format!(
            "the AWS endpoint {endpoint} (from `--endpoint-url` or CFX_AWS_ENDPOINT) took the \
             connection but did not answer within 30 s"
        )),
        "{stderr}"
    );
}

/// `--endpoint-url` replaces the stack file's `[aws] endpoint` but was not held to its rule: a
/// value without a scheme reached the SDK, which failed at the first call with a dump of its
/// request; plain http to a remote host, or a port that cannot exist, went through as well.
/// Now the flag is refused as the key would be, before anything runs.
#[test]
fn an_endpoint_flag_is_held_to_the_stack_files_rule() {
    let dir = tempfile::tempdir().expect("tempdir");
    write_stack(dir.path(), "test", "");
    for endpoint in [
        "127.0.0.1:5000",
        "http://10.0.0.5:5000",
        "http://127.0.0.1:99999",
    ] {
        let output = drift_against(endpoint, dir.path());
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "{endpoint}: {stderr}");
        assert!(
            stderr.contains(&format!(
                "invalid value '{endpoint}' for '--endpoint-url <URL>': `{endpoint}` must be an \
                 https:// URL (http:// only for localhost or 127.0.0.1)"
            )),
            "{endpoint}: {stderr}"
        );
        assert!(!stderr.contains("Request {"), "{endpoint}: {stderr}");
    }
}

/// One stack's working directory serves one command at a time: while another process holds it,
/// a command stops at once and says so; once it is free, the same command goes on (here to the
/// unreachable backend).
#[test]
fn a_stack_directory_another_command_holds_is_refused_at_once() {
    let dir = tempfile::tempdir().expect("tempdir");
    write_stack(dir.path(), "test", "");
    let out = dir.path().join("out");
    std::fs::create_dir(&out).expect("out");
    let endpoint = unreachable_endpoint();
    let drift = || {
        run(
            &[
                "drift",
                "--stack",
                "test",
                "--out-dir",
                out.to_str().expect("utf-8 path"),
                "--endpoint-url",
                &endpoint,
            ],
            dir.path(),
        )
    };
    let held = std::fs::File::create(out.join("test.lock")).expect("lock file");
    held.try_lock().expect("the test takes the lock");
    let stderr = failure(&drift());
    assert!(
        stderr.contains(&format!(
            "another infra-synth is working in {}",
            out.join("test").display()
        )),
        "{stderr}"
    );
    assert!(!stderr.contains("state backend"), "{stderr}");
    drop(held);
    let stderr = failure(&drift());
    assert!(stderr.contains("cannot read the state backend"), "{stderr}");
}

/// `command` on a stack whose state backend is out of reach (nothing listens at its endpoint),
/// with `extra` arguments naming files in the stack's folder; its stderr, once it failed.
/// None after the SKIP line when terraform is missing.
fn with_the_backend_out_of_reach(
    test: &str,
    command: &str,
    extra: impl FnOnce(&Path) -> Vec<String>,
) -> Option<String> {
    let terraform = common::tool(test, "terraform", "version")?;
    let dir = tempfile::tempdir().expect("tempdir");
    write_stack(dir.path(), "test", "");
    let out = dir.path().join("out").display().to_string();
    let terraform = terraform.display().to_string();
    let endpoint = unreachable_endpoint();
    let mut args = vec![
        command,
        "--stack",
        "test",
        "--out-dir",
        &out,
        "--endpoint-url",
        &endpoint,
        "--terraform",
        &terraform,
    ];
    let extra = extra(dir.path());
    args.extend(extra.iter().map(String::as_str));
    Some(failure(&run(&args, dir.path())))
}

/// `plan`, `apply` and `publish` look for the state backend before building anything: with
/// the emulator down, `plan` stops in seconds, not after the Lambda build.
#[test]
fn plan_finds_the_backend_before_it_builds() {
    let test = "plan_finds_the_backend_before_it_builds";
    let Some(stderr) = with_the_backend_out_of_reach(test, "plan", |_| Vec::new()) else {
        return;
    };
    assert!(stderr.contains("✗ finding the state backend"), "{stderr}");
    assert!(!stderr.contains("Lambda package"), "{stderr}");
}

/// A provider mirror that is missing, or holds no AWS provider, failed only at `terraform
/// init`: after the backend was found and the Lambda package built. It is now refused with
/// Terraform's other prerequisites, first.
#[test]
fn a_plugin_dir_without_the_aws_provider_is_refused_before_anything_else() {
    let test = "a_plugin_dir_without_the_aws_provider_is_refused_before_anything_else";
    let empty = tempfile::tempdir().expect("tempdir");
    let missing = empty.path().join("missing");
    for (mirror, problem) in [
        (empty.path(), "holds no AWS provider: `terraform init -plugin-dir` looks for it in registry.terraform.io/hashicorp/aws/ there"),
        (missing.as_path(), "no such directory"),
    ] {
        let mirror = mirror.display().to_string();
        let Some(stderr) = with_the_backend_out_of_reach(test, "plan", |_| {
            vec!["--plugin-dir".into(), mirror.clone()]
        }) else {
            return;
        };
        assert!(
            stderr.contains(&format!("--plugin-dir {mirror} (or CFX_TF_PLUGIN_DIR)")),
            "{stderr}"
        );
        assert!(stderr.contains(problem), "{stderr}");
        assert!(!stderr.contains("state backend"), "{stderr}");
    }
}

/// `apply` looked for the state backend before it read the bundle it was given, so a
/// corrupt bundle, or one without the rehearsal `--require-rehearsal` asks for, was reported
/// as an unreachable backend whenever the account was out of reach. The bundle is judged first.
#[test]
fn apply_judges_its_bundle_before_it_looks_for_the_backend() {
    let test = "apply_judges_its_bundle_before_it_looks_for_the_backend";
    let garbage = |dir: &Path| {
        let bundle = dir.join("garbage.cfxplan");
        std::fs::write(&bundle, b"not a zip at all").expect("write");
        vec!["--plan".to_owned(), bundle.display().to_string()]
    };
    let Some(stderr) = with_the_backend_out_of_reach(test, "apply", garbage) else {
        return;
    };
    assert!(
        stderr.contains("is not a plan bundle written by `infra-synth plan`"),
        "{stderr}"
    );
    assert!(!stderr.contains("state backend"), "{stderr}");
}

/// A cause is printed once: the site build's errors name what failed, the chain adds why.
#[test]
fn a_failed_site_build_names_its_cause_once() {
    let dir = tempfile::tempdir().expect("tempdir");
    write_stack(dir.path(), "test", "");
    let not_a_dir = dir.path().join("a-file");
    std::fs::write(&not_a_dir, "").expect("write file");
    let output = run(
        &[
            "site",
            "build",
            "--stack",
            "test",
            "--out",
            not_a_dir.to_str().expect("utf-8 path"),
        ],
        dir.path(),
    );
    let stderr = failure(&output);
    assert!(stderr.contains("cannot write"), "{stderr}");
    assert_eq!(stderr.matches("it is a file").count(), 1, "{stderr}");
}

#[test]
fn building_outside_the_workspace_says_where_to_run_it() {
    let elsewhere = tempfile::tempdir().expect("tempdir");
    let at = |path: PathBuf| path.to_str().expect("utf-8 path").to_owned();
    let outside = |args: &[&str]| {
        let output = common::infra_synth()
            .args(args)
            .env_remove("CFX_EVE_SERVER")
            .current_dir(elsewhere.path())
            .output()
            .expect("infra-synth runs");
        failure(&output)
    };
    let (stacks, out) = (at(common::repo_stacks()), at(elsewhere.path().join("out")));
    let stderr = outside(&[
        "package",
        "--stack",
        "local",
        "--stacks-dir",
        &stacks,
        "--out-dir",
        &out,
    ]);
    assert!(
        stderr.contains(&format!(
            "error: {} holds no Cargo.toml, so `eve-function` cannot be built there: run from \
             the repository root, or pass --workspace",
            elsewhere.path().display()
        )),
        "{stderr}"
    );
    assert!(!stderr.contains("could not find `Cargo.toml`"), "{stderr}");

    // `dev` builds eve-server unless given one.
    let content = at(common::repo_root().join("site/content/portfolio.toml"));
    let site = at(elsewhere.path().join("site"));
    let stderr = outside(&[
        "dev",
        "--listen",
        "127.0.0.1:0",
        "--content",
        &content,
        "--site-dir",
        &site,
    ]);
    assert!(
        stderr.contains(&format!(
            "error: {} holds no Cargo.toml, so eve-server cannot be built there: run from the \
             repository root, or pass --eve-server",
            elsewhere.path().display()
        )),
        "{stderr}"
    );
}
