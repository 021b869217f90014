//! One test per validation rule: the error names file, line, key and what is allowed.

mod common;

use config_diagnostics::{Diagnostic, Diagnostics};
use infra_synth::config;

/// A valid stack; each test appends the lines that break one rule (from line 5 on).
fn base() -> String {
    stack_with_content(&common::fixtures().join("portfolio.toml"))
}

/// The valid stack's four lines, naming `content`.
fn stack_with_content(content: &std::path::Path) -> String {
    format!(
        "env = \"test\"\nregion = \"eu-west-1\"\ndomain = \"example.com\"\ncontent = {:?}\n",
        content.display().to_string()
    )
}

/// Validates `text` as `test.toml` from a fresh stacks dir, as `validate` does: the file,
/// then the checks over the tree it builds.
fn load_text(text: &str) -> Result<config::Stack, Diagnostics> {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("test.toml"), text).expect("write");
    validate(dir.path())
}

fn validate(dir: &std::path::Path) -> Result<config::Stack, Diagnostics> {
    let stack = config::load(dir, "test")?;
    infra_synth::synth::assemble(&stack)?;
    Ok(stack)
}

fn load(extra: &str) -> Result<config::Stack, Diagnostics> {
    load_text(&format!("{}{extra}", base()))
}

/// The single error `extra` causes.
fn error_for(extra: &str) -> Diagnostic {
    error_for_text(&format!("{}{extra}", base()))
}

/// The single error the stack file `text` causes.
fn error_for_text(text: &str) -> Diagnostic {
    let errors = load_text(text).expect_err("should be rejected");
    assert_eq!(errors.len(), 1, "expected one error, got:\n{errors}");
    let error = errors.0[0].clone();
    assert!(error.file.ends_with("test.toml"), "{error}");
    error
}

fn assert_error(extra: &str, key: &str, line: usize, text: &str) {
    assert_error_in(&format!("{}{extra}", base()), key, line, text);
}

/// The single error of the stack file `stack` is at `key` and `line`, and says `text`.
fn assert_error_in(stack: &str, key: &str, line: usize, text: &str) {
    let error = error_for_text(stack);
    assert_eq!((error.key.as_str(), error.line), (key, line), "{error}");
    assert!(error.message.contains(text), "`{text}` not in: {error}");
}

#[test]
fn the_base_stack_is_valid() {
    let stack = load("").expect("valid");
    assert_eq!(
        stack.certificate_keys,
        ["certificates/aws-saa.pdf", "certificates/cka.pdf"]
    );
}

#[test]
fn domain_must_be_a_dns_name() {
    let errors =
        load_text(&base().replace("example.com", "bad_domain.com")).expect_err("bad domain");
    let error = errors
        .iter()
        .find(|d| d.key == "domain")
        .expect("domain error");
    assert_eq!(error.line, 3);
    assert!(
        error.message.contains("`bad_domain.com` is not a DNS name"),
        "{error}"
    );
}

#[test]
fn region_must_be_a_real_aws_region() {
    let errors = load_text(&base().replace("eu-west-1", "eu-west-9")).expect_err("bad region");
    assert_eq!(errors.len(), 1, "{errors}");
    assert_eq!((errors.0[0].key.as_str(), errors.0[0].line), ("region", 2));
    assert!(errors.0[0]
        .message
        .contains("`eu-west-9` is not an AWS region id"));
}

#[test]
fn bucket_names_follow_s3_rules() {
    let errors = load("[buckets]\nprefix = \"Bad_Prefix\"\n").expect_err("bad prefix");
    assert_eq!(errors.len(), 4, "one per bucket:\n{errors}");
    let error = &errors.0[0];
    assert_eq!((error.key.as_str(), error.line), ("buckets.prefix", 6));
    assert!(
        error
            .message
            .contains("bucket name `Bad_Prefix-site` is invalid: only lowercase letters"),
        "{error}"
    );
}

#[test]
fn an_env_that_cannot_name_resources_is_reported_once_at_env() {
    let errors = load_text(&base().replace("\"test\"", "\"Test\"")).expect_err("upper case");
    assert_eq!(
        errors.len(),
        1,
        "not once per bucket named from it:\n{errors}"
    );
    assert_eq!((errors.0[0].key.as_str(), errors.0[0].line), ("env", 1));
}

/// `-test` breaks no rule the message used to state (letters, digits, dashes): the message
/// says every rule the check holds.
#[test]
fn an_env_ending_in_a_dash_is_told_so() {
    let error = error_for_text(&base().replace("\"test\"", "\"test-\""));
    assert_eq!(error.key, "env");
    assert_eq!(
        error.message,
        "`test-` must be 1-24 lowercase letters, digits or dashes, not starting or ending with \
         a dash (it prefixes resource names)"
    );
}

/// A stack file copied from another without a new `env` would plan, apply and destroy over the
/// other's Terraform state and resource names: it is refused at its `env`, naming the other.
#[test]
fn a_stack_whose_names_another_stack_file_has_is_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let write = |name: &str, text: String| {
        std::fs::write(dir.path().join(format!("{name}.toml")), text).expect("write")
    };
    write("prod", base().replace("\"test\"", "\"prod\""));
    write("staging", base().replace("\"test\"", "\"prod\""));
    // A file that is not a stack, or not TOML, is no stack to collide with.
    write("notes", "not = [toml".to_string());
    let errors = config::load(dir.path(), "staging").expect_err("same names as prod");
    assert_eq!(errors.len(), 1, "{errors}");
    let error = &errors.0[0];
    assert!(error.file.ends_with("staging.toml"), "{error}");
    assert_eq!((error.key.as_str(), error.line), ("env", 1), "{error}");
    let other = dir.path().join("prod.toml").display().to_string();
    assert!(
        error.message.contains("`cloudforgex-prod`") && error.message.contains(&other),
        "{error}"
    );
    // The same names through a different split of `<app>-<env>`.
    write(
        "staging",
        base().replace("env = \"test\"", "app = \"cloudforgex-prod\"\nenv = \"x\""),
    );
    write(
        "other",
        base().replace("env = \"test\"", "app = \"cloudforgex\"\nenv = \"prod-x\""),
    );
    let errors = config::load(dir.path(), "staging").expect_err("same names as other");
    assert!(errors.iter().any(|e| e.key == "env"), "{errors}");
    // An `env` of its own, or a link to the same file under a second name, is fine.
    write("staging", base().replace("\"test\"", "\"staging\""));
    config::load(dir.path(), "staging").expect("an env of its own");
    #[cfg(unix)]
    {
        std::os::unix::fs::symlink(
            dir.path().join("staging.toml"),
            dir.path().join("stage.toml"),
        )
        .expect("link");
        config::load(dir.path(), "stage").expect("the same file under a second name");
        std::fs::hard_link(dir.path().join("staging.toml"), dir.path().join("st.toml"))
            .expect("hard link");
        config::load(dir.path(), "st").expect("the same file under a third name");
    }
}

#[test]
fn a_stack_id_too_long_for_a_derived_name_is_reported_at_env() {
    // `<app>-<env>` of the longest app and env: every bucket name fits in S3's 63, but the
    // site's access-log delivery source does not fit in CloudWatch Logs' 60.
    let long = format!(
        "app = \"{}\"\nenv = \"{}\"\n",
        "a".repeat(24),
        "e".repeat(24)
    );
    let errors = load_text(&base().replace("env = \"test\"\n", &long)).expect_err("too long");
    let error = errors
        .iter()
        .find(|d| d.message.contains("aws_cloudwatch_log_delivery_source"))
        .unwrap_or_else(|| panic!("no delivery source name error:\n{errors}"));
    assert_eq!((error.key.as_str(), error.line), ("env", 2), "{error}");
    assert!(error.message.contains("AWS takes at most 60"), "{error}");
    assert!(errors.iter().all(|d| d.key == "env"), "{errors}");
}

#[test]
fn numbers_that_are_not_finite_are_refused_at_their_key() {
    for literal in ["inf", "nan", "1e999"] {
        assert_error(
            &format!("[api]\nthrottle_rate_limit = {literal}\n"),
            "api.throttle_rate_limit",
            6,
            "is not a finite number",
        );
    }
}

#[test]
fn tags_follow_aws_tag_rules_and_leave_the_stack_tags_alone() {
    for (tag, text) in [
        ("\"aws:team\" = \"x\"", "the `aws:` prefix is reserved"),
        ("stack = \"other\"", "the stack sets `stack` itself"),
        ("owner = \"a<b>\"", "letters, digits, spaces"),
    ] {
        let error = error_for(&format!("[tags]\n{tag}\n"));
        assert_eq!(error.line, 6, "{error}");
        assert!(error.key.starts_with("tags."), "{error}");
        assert!(error.message.contains(text), "`{text}` not in: {error}");
    }
    load("[tags]\nowner = \"Ops team: ops@example.com\"\n\"cost-centre\" = \"4_2\"\n")
        .expect("tags AWS accepts");
}

#[test]
fn lambda_memory_within_lambda_limits() {
    assert_error(
        "[lambda]\nmemory_mb = 64\n",
        "lambda.memory_mb",
        6,
        "64 MB is outside Lambda's 128-10240 MB",
    );
}

#[test]
fn lambda_timeout_below_api_gateway_limit() {
    assert_error(
        "[lambda]\ntimeout_s = 29\n",
        "lambda.timeout_s",
        6,
        "29 s is not allowed: 1-28 s (API Gateway stops waiting at 29 s)",
    );
}

#[test]
fn log_retention_is_a_cloudwatch_period() {
    for key in [
        "lambda.log_retention_days",
        "api.log_retention_days",
        "waf.log_retention_days",
        "network.flow_log_retention_days",
    ] {
        let (section, name) = key.split_once('.').expect("section.key");
        assert_error(
            &format!("[{section}]\n{name} = 13\n"),
            key,
            6,
            "13 is not a CloudWatch retention period",
        );
    }
}

#[test]
fn ttl_days_positive() {
    assert_error(
        "[eve]\nconversation_ttl_days = 0\n",
        "eve.conversation_ttl_days",
        6,
        "`0` is not allowed: EVE refuses it at start-up (expected a number from 1 to 3650)",
    );
}

#[test]
fn log_expiry_days_within_s3s_range() {
    assert_error(
        "[buckets]\nlog_expiry_days = 0\n",
        "buckets.log_expiry_days",
        6,
        "0 is not allowed: S3 expires objects after 1 to 2147483647 days",
    );
    // Past a 32-bit integer, the provider refused at plan what `validate` passed.
    assert_error(
        "[buckets]\nlog_expiry_days = 2147483648\n",
        "buckets.log_expiry_days",
        6,
        "2147483648 is not allowed",
    );
}

/// API Gateway keeps a burst as a 32-bit integer: past it, `validate` and `terraform validate`
/// passed what the provider would wrap into a negative burst at apply.
#[test]
fn a_key_missing_or_set_twice_is_named_in_the_files_words() {
    assert_error_in(
        &base().replace("region = \"eu-west-1\"\n", ""),
        "region",
        1,
        "required, and not set here",
    );
    assert_error(
        "[api]\ndaily_quota = 10\ndaily_quota = 20\n",
        "api.daily_quota",
        7,
        "set twice: first at line 6",
    );
}

#[test]
fn api_burst_fits_api_gateways_integer() {
    assert_error(
        "[api]\nthrottle_burst_limit = 0\n",
        "api.throttle_burst_limit",
        6,
        "0 is not allowed: API Gateway takes a burst of 1 to 2147483647 requests",
    );
    assert_error(
        "[api]\nthrottle_burst_limit = 2147483648\n",
        "api.throttle_burst_limit",
        6,
        "2147483648 is not allowed",
    );
    load("[api]\nthrottle_burst_limit = 2147483647\n").expect("the largest burst is valid");
}

#[test]
fn origins_are_https_except_localhost() {
    assert_error(
        "[eve]\nallowed_origins = [\"https://example.com\", \"http://example.com\"]\n",
        "eve.allowed_origins[1]",
        6,
        "`http://example.com` must be an https:// origin",
    );
    assert!(load("[eve]\nallowed_origins = [\"http://localhost:8080\"]\n").is_ok());
    assert_error(
        "[aws]\nendpoint = \"http://10.0.0.5:5000\"\n",
        "aws.endpoint",
        6,
        "must be an https:// URL (http:// only for localhost or 127.0.0.1)",
    );
    assert!(load("[aws]\nendpoint = \"http://127.0.0.1:5000\"\n").is_ok());
    // A port no endpoint can have, or none at all, was taken and failed only at the first
    // AWS call, in the SDK's words.
    for endpoint in ["http://127.0.0.1:99999", "http://127.0.0.1:0", "https://"] {
        assert_error(
            &format!("[aws]\nendpoint = \"{endpoint}\"\n"),
            "aws.endpoint",
            6,
            "with a port from 1 to 65535 if it has one",
        );
    }
}

/// EVE reads its origins as one comma-separated value: a blank entry vanished from it and one
/// holding a comma became two, so neither reached EVE as the file wrote it.
#[test]
fn each_origin_is_one_non_blank_entry() {
    assert_error(
        "[eve]\nallowed_origins = [\"https://example.com\", \" \"]\n",
        "eve.allowed_origins[1]",
        6,
        "an origin cannot be blank: remove the entry, or name an origin",
    );
    assert_error(
        "[eve]\nallowed_origins = [\"https://a.example,https://b.example\"]\n",
        "eve.allowed_origins[0]",
        6,
        "one origin per entry: `https://a.example,https://b.example` holds a comma",
    );
}

#[test]
fn model_id_has_bedrock_shape() {
    assert_error(
        "[eve]\nmodel_id = \"gpt-4o\"\n",
        "eve.model_id",
        6,
        "`gpt-4o` is not allowed: EVE refuses it at start-up (expected `offline`, a Bedrock model id",
    );
    assert!(load(
        "[eve]\nmodel_id = \"eu.anthropic.claude-3-haiku-20240307-v1:0\"\nmodel_regions = [\"eu-west-1\", \"eu-west-3\"]\n"
    )
    .is_ok());
}

#[test]
fn an_inference_profile_lists_the_regions_it_routes_to() {
    // Without them, only the stack's region would be granted, and calls the profile routes
    // elsewhere would be refused: intermittent offline answers.
    assert_error(
        "[eve]\nmodel_id = \"eu.anthropic.claude-3-haiku-20240307-v1:0\"\n",
        "eve.model_regions",
        5,
        "list the regions it routes to",
    );
    // Any other model is only ever called in the stack's region: more would be granted for
    // nothing.
    assert_error(
        "[eve]\nmodel_id = \"anthropic.claude-3-haiku-20240307-v1:0\"\nmodel_regions = [\"eu-west-3\"]\n",
        "eve.model_regions",
        7,
        "is not a cross-region inference profile, so EVE calls it in the stack's region only",
    );
    assert_error(
        "[eve]\nmodel_id = \"offline\"\nmodel_regions = [\"eu-west-3\"]\n",
        "eve.model_regions",
        7,
        "remove `model_regions`",
    );
}

#[test]
fn alarm_thresholds_are_sane() {
    assert_error(
        "[alarms]\nlambda_error_rate_percent = 150.0\n",
        "alarms.lambda_error_rate_percent",
        6,
        "150 is not a usable rate: a percentage above 0 and below 100",
    );
    assert_error(
        "[alarms]\nlambda_duration_ms = 25000.0\n",
        "alarms.lambda_duration_ms",
        6,
        "below the function timeout (25000 ms)",
    );
    assert_error(
        "[alarms]\nperiod_seconds = 45\n",
        "alarms.period_seconds",
        6,
        "10, 30 or a multiple of 60",
    );
}

/// A number far from the usual scale is quoted the way it is written (`1e300`), not as the
/// 301 digits of its expansion, nor the 300 zeros of `1e-300`.
#[test]
fn numbers_far_out_of_range_are_shown_short_in_errors() {
    for (extra, key, shown) in [
        (
            "[alarms]\nlambda_error_rate_percent = 1e300\n",
            "alarms.lambda_error_rate_percent",
            "1e300 is not a usable rate",
        ),
        (
            "[alarms]\nlambda_duration_ms = -1e-300\n",
            "alarms.lambda_duration_ms",
            "-1e-300 ms is not allowed",
        ),
        (
            "[traffic]\ncache_hit_percent = 1e300\n",
            "traffic.cache_hit_percent",
            "got 1e300",
        ),
        (
            "[traffic]\nvisitors_per_month = 2.5e200\n",
            "traffic.visitors_per_month",
            "got 2.5e200",
        ),
        (
            "[cost]\nmonthly_ceiling_usd = 1e300\n",
            "cost.monthly_ceiling_usd",
            "got 1e300",
        ),
        (
            "[eve]\ntemperature = 1e300\n",
            "eve.temperature",
            "`1e300` is not allowed",
        ),
        (
            "[eve]\ntemperature = -1e-300\n",
            "eve.temperature",
            "`-1e-300` is not allowed",
        ),
    ] {
        let error = error_for(extra);
        assert_eq!(error.key, key, "{error}");
        assert!(error.message.contains(shown), "`{shown}` not in: {error}");
        assert!(error.message.len() < 160, "too long: {error}");
    }
    // Numbers of the usual scale read as before.
    assert_error(
        "[alarms]\nlambda_error_rate_percent = 100.25\n",
        "alarms.lambda_error_rate_percent",
        6,
        "100.25 is not a usable rate",
    );
}

#[test]
fn eve_settings_within_the_bounds_eve_enforces() {
    assert_error(
        "[eve]\nmodel_timeout_ms = 30000\n",
        "eve.model_timeout_ms",
        6,
        "`30000` is not allowed: EVE refuses it at start-up (expected a number from 100 to 25000)",
    );
    assert_error(
        "[eve]\nmax_tokens = 9000\n",
        "eve.max_tokens",
        6,
        "`9000` is not allowed: EVE refuses it at start-up (expected a number from 1 to 8192)",
    );
    assert_error(
        "[eve]\nhistory_turns = 51\n",
        "eve.history_turns",
        6,
        "`51` is not allowed: EVE refuses it at start-up (expected a number from 0 to 50)",
    );
    assert_error(
        "[eve]\nip_rate_per_minute = 0\n",
        "eve.ip_rate_per_minute",
        6,
        "`0` is not allowed: EVE refuses it at start-up (expected a number from 1 to 1000000)",
    );
    assert_error(
        "[lambda]\ntimeout_s = 15\n",
        "lambda.timeout_s",
        6,
        "EVE's model timeout (20000 ms) must be below the function timeout (15000 ms)",
    );
}

#[test]
fn alarm_email_is_an_email_address() {
    assert_error(
        "[alarms]\nemail = \"ops-at-example\"\n",
        "alarms.email",
        6,
        "`ops-at-example` is not an email address",
    );
}

#[test]
fn zone_must_contain_the_domain() {
    assert_error(
        "[dns]\nzone_name = \"other.org\"\n",
        "dns.zone_name",
        6,
        "that `example.com` is in",
    );
}

#[test]
fn iam_statements_have_no_wildcards() {
    let dir = tempfile::tempdir().expect("tempdir");
    let content = std::fs::read_to_string(common::fixtures().join("portfolio.toml"))
        .expect("fixture")
        .replace("certificates/cka.pdf", "certificates/*.pdf");
    let content_path = dir.path().join("portfolio.toml");
    std::fs::write(&content_path, content).expect("write content");
    let stack = base().replace(
        &format!(
            "{:?}",
            common::fixtures()
                .join("portfolio.toml")
                .display()
                .to_string()
        ),
        "\"portfolio.toml\"",
    );
    std::fs::write(dir.path().join("test.toml"), stack).expect("write");
    let errors = validate(dir.path()).expect_err("wildcard");
    // Once for each function the certificates are granted to.
    assert_eq!(errors.len(), 2, "{errors}");
    for (error, function) in errors.0.iter().zip(["eve", "eve-stream"]) {
        assert_eq!(error.key, "lambda");
        assert!(
            error.message.contains(&format!(
                "test/{function}: IAM statement `CertificatesObjects` grants resource `${{aws_s3_bucket.certificates.arn}}/certificates/*.pdf`; use exact ARNs"
            )),
            "{errors}"
        );
    }
}

#[test]
fn unknown_keys_and_type_errors_are_located() {
    let error = error_for("[lambda]\nmemroy_mb = 512\n");
    assert_eq!(
        (error.key.as_str(), error.line),
        ("lambda.memroy_mb", 6),
        "{error}"
    );
    assert!(
        error
            .message
            .contains("unknown key `memroy_mb`, expected one of `memory_mb`"),
        "{error}"
    );
    let error = error_for("[lambda]\nmemory_mb = \"lots\"\n");
    assert_eq!(
        (error.key.as_str(), error.line),
        ("lambda.memory_mb", 6),
        "{error}"
    );
}

/// A section written as an array was read by position: `api = [20.0, 40, 20000]` passed as
/// the three throttling settings, and `[[api]]` failed about "f64".
#[test]
fn a_section_written_as_an_array_is_refused_in_the_files_words() {
    let error = error_for("api = [20.0, 40, 20000]\n");
    assert_eq!((error.key.as_str(), error.line), ("api", 5), "{error}");
    assert_eq!(error.message, "must be a table, not an array", "{error}");
    let error = error_for("[[api]]\nthrottle_rate_limit = 20.0\n");
    assert_eq!((error.key.as_str(), error.line), ("api", 5), "{error}");
    let error = error_for("[api]\nthrottle_burst_limit = 40.5\n");
    assert_eq!(
        error.message, "must be a whole number from 0 to 4294967295, not `40.5`",
        "{error}"
    );
}

#[test]
fn every_error_is_reported_at_once_in_file_order() {
    let errors = load("[lambda]\nmemory_mb = 64\ntimeout_s = 60\n\n[eve]\nmodel_id = \"nope\"\npresign_seconds = 900\ntemperature = 1.5\n")
        .expect_err("five errors");
    let keys: Vec<&str> = errors.iter().map(|d| d.key.as_str()).collect();
    assert_eq!(
        keys,
        [
            "lambda.memory_mb",
            "lambda.timeout_s",
            "eve.model_id",
            "eve.presign_seconds",
            "eve.temperature"
        ],
        "{errors}"
    );
    let lines: Vec<usize> = errors.iter().map(|d| d.line).collect();
    assert_eq!(lines, [6, 7, 10, 11, 12]);
}

#[test]
fn a_content_file_that_cannot_be_read_is_reported_at_the_key_that_names_it() {
    let missing = error_for_text(&base().replace("portfolio.toml", "missing.toml"));
    assert_eq!(
        (missing.key.as_str(), missing.line),
        ("content", 4),
        "{missing}"
    );
    assert!(
        missing.message.contains("missing.toml")
            && missing.message.contains("there is no such file"),
        "{missing}"
    );
    let folder = error_for_text(&base().replace("portfolio.toml", ""));
    assert_eq!(
        (folder.key.as_str(), folder.line),
        ("content", 4),
        "{folder}"
    );
    assert!(folder.message.contains("it is a folder"), "{folder}");
    // A FIFO would block the read until something wrote to it: refused unopened.
    let dir = tempfile::tempdir().expect("tempdir");
    let fifo = dir.path().join("content.toml");
    let made = std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .expect("mkfifo");
    assert!(made.success());
    let fifo = error_for_text(&stack_with_content(&fifo));
    assert_eq!(fifo.key, "content", "{fifo}");
    assert!(fifo.message.contains("not a regular file"), "{fifo}");
    // Not set, so the default (beside no stacks folder here) is named, at the file.
    let default =
        error_for_text("env = \"test\"\nregion = \"eu-west-1\"\ndomain = \"example.com\"\n");
    assert_eq!(
        (default.key.as_str(), default.line),
        ("content", 0),
        "{default}"
    );
    assert!(
        default.message.contains("../site/content/portfolio.toml"),
        "{default}"
    );
}

#[test]
fn errors_inside_the_content_file_point_at_the_content_file() {
    let dir = tempfile::tempdir().expect("tempdir");
    let content = dir.path().join("content.toml");
    std::fs::write(&content, "[profile]\nname = 3\n").expect("write");
    let errors = load_text(&stack_with_content(&content)).expect_err("broken content");
    assert!(errors.0[0].file.ends_with("content.toml"), "{errors}");
    assert!(errors.0[0].line > 0, "{errors}");
}

#[test]
fn ignore_changes_is_for_emulator_stacks_only() {
    assert_error(
        "[aws.ignore_changes]\n\"aws_lambda_function.eve\" = [\"logging_config\"]\n",
        "aws.ignore_changes",
        5,
        "emulator stacks only",
    );
}

#[test]
fn ignore_changes_names_resources_and_attribute_paths() {
    const EMULATOR: &str = "[aws]\nendpoint = \"http://127.0.0.1:5000\"\n";
    assert_error(
        &format!("{EMULATOR}[aws.ignore_changes]\n\"lambda.eve\" = [\"logging_config\"]\n"),
        "aws.ignore_changes",
        7,
        "not a resource address",
    );
    assert_error(
        &format!("{EMULATOR}[aws.ignore_changes]\n\"aws_lambda_function.eve\" = [\"a b\"]\n"),
        "aws.ignore_changes",
        7,
        "attribute paths",
    );
    let nested = format!(
        "{EMULATOR}[aws.ignore_changes]\n\"aws_cloudfront_distribution.site\" = \
         [\"default_cache_behavior[0].forwarded_values\"]\n"
    );
    let stack = load(&nested).expect("an indexed path is accepted");
    let synthesized = infra_synth::synth::synthesize(&stack).expect("synth");
    assert!(synthesized
        .main_tf_json
        .contains("\"default_cache_behavior[0].forwarded_values\""));

    // A resource the stack does not have is caught once the model is built.
    assert_error(
        &format!(
            "{EMULATOR}[aws.ignore_changes]\n\"aws_lambda_function.missing\" = [\"logging_config\"]\n"
        ),
        "aws.ignore_changes",
        7,
        "no resource `aws_lambda_function.missing`",
    );
}

/// The settings contract: for every bounded number EVE reads, the first value past each bound
/// is refused by `validate` at its file, line and key, and refused by EVE too; the values a
/// valid stack writes are ones EVE starts with.
#[test]
fn a_value_eve_would_refuse_is_refused_by_validate() {
    use eve_contract::settings::{Setting, ALL};
    use eve_function::core::settings::Settings;
    let eve_accepts = |name: &str, value: &str| {
        let env = std::collections::BTreeMap::from([(
            eve_contract::settings::env_name(name),
            value.to_string(),
        )]);
        Settings::resolve(&env, &Default::default(), "").is_ok()
    };
    let mut checked = 0;
    for setting in ALL {
        let Setting::Integer(bounds) = setting else {
            continue;
        };
        let past: Vec<u64> = [bounds.min.checked_sub(1), bounds.max.checked_add(1)]
            .into_iter()
            .flatten()
            .filter(|v| *v <= u64::from(u32::MAX))
            .collect();
        for value in past {
            let value = value.to_string();
            assert!(
                !eve_accepts(bounds.name, &value),
                "EVE accepts {} = {value}",
                bounds.name
            );
            assert_error(
                &format!("[eve]\n{} = {value}\n", bounds.name),
                &format!("eve.{}", bounds.name),
                6,
                &format!("`{value}` is not allowed: EVE refuses it at start-up"),
            );
            checked += 1;
        }
    }
    assert!(checked >= 10, "only {checked} bounds checked");
    // The case that once validated and then stopped EVE at start-up.
    assert_error(
        "[eve]\nconversation_ttl_days = 5000\n",
        "eve.conversation_ttl_days",
        6,
        "(expected a number from 1 to 3650)",
    );
    for name in ["prod", "dev", "local"] {
        let stack = config::load(&common::repo_stacks(), name).expect("repo stack is valid");
        let stored = stack
            .eve_settings()
            .into_iter()
            .map(|s| (s.name.to_string(), s.value))
            .collect();
        Settings::resolve(&Default::default(), &stored, "ssm:")
            .expect("EVE starts with what the stack writes");
    }
}

#[test]
fn network_cidrs_are_private_inside_the_vpc_and_apart() {
    assert_error(
        "[network]\nvpc_cidr = \"8.8.0.0/16\"\n",
        "network.vpc_cidr",
        6,
        "is not private",
    );
    assert_error(
        "[network]\nprivate_subnets = [\"10.42.0.0/24\", \"10.43.1.0/24\"]\n",
        "network.private_subnets",
        6,
        "`10.43.1.0/24` is not inside the VPC's `10.42.0.0/16`",
    );
    assert_error(
        "[network]\nprivate_subnets = [\"10.42.0.0/23\", \"10.42.1.0/24\"]\n",
        "network.private_subnets",
        6,
        "`10.42.1.0/24` overlaps `10.42.0.0/23`",
    );
    assert_error(
        "[network]\nprivate_subnets = [\"10.42.0.1/24\", \"10.42.1.0/24\"]\n",
        "network.private_subnets",
        6,
        "has host bits set",
    );
}

#[test]
fn network_needs_a_subnet_in_each_of_two_zones() {
    let errors =
        load("[network]\nprivate_subnets = [\"10.42.0.0/24\"]\n").expect_err("one zone is refused");
    let keys: Vec<(&str, usize)> = errors.iter().map(|e| (e.key.as_str(), e.line)).collect();
    assert!(keys.contains(&("network.private_subnets", 6)), "{errors}");
    assert_error(
        "[network]\navailability_zones = [\"eu-west-1a\", \"us-east-1b\"]\n",
        "network.availability_zones",
        6,
        "`us-east-1b` is not a zone of eu-west-1",
    );
    assert_error(
        "[network]\navailability_zones = [\"eu-west-1a\", \"eu-west-1a\"]\n",
        "network.availability_zones",
        6,
        "lists a zone twice",
    );
}

#[test]
fn recovery_needs_another_real_region_and_waf_a_real_limit() {
    assert_error(
        "[dr]\nregion = \"eu-west-1\"\n",
        "dr.region",
        6,
        "the stack's own region",
    );
    assert_error(
        "[dr]\nregion = \"eu-west-9\"\n",
        "dr.region",
        6,
        "not an AWS region",
    );
    assert_error(
        "[waf]\napi_rate_limit = 5\n",
        "waf.api_rate_limit",
        6,
        "5 is outside AWS WAF's range of 10 to 2000000000",
    );
    // Past the provider's range, `terraform plan` refused what `validate` passed.
    assert_error(
        "[waf]\napi_rate_limit = 4294967295\n",
        "waf.api_rate_limit",
        6,
        "4294967295 is outside AWS WAF's range",
    );
    assert_error(
        "[waf]\nblocked_requests_alarm = -1\n",
        "waf.blocked_requests_alarm",
        6,
        "must be 0 or more blocked requests",
    );
}

#[test]
fn traffic_past_any_portfolio_is_refused_at_its_key() {
    for (key, value) in [
        ("visitors_per_month", "1e300"),
        ("input_tokens_per_chat", "1e12"),
        ("model_answer_ms", "1e9"),
        ("container_image_mb", "1e15"),
    ] {
        let error = error_for(&format!("\n[traffic]\n{key} = {value}\n"));
        assert_eq!(error.key, format!("traffic.{key}"));
        assert!(
            error.message.starts_with("must be a number from 0 to "),
            "{}",
            error.message
        );
    }
    let error = error_for("\n[cost]\nmonthly_ceiling_usd = 1e300\n");
    assert_eq!(error.key, "cost.monthly_ceiling_usd");
    assert!(
        error.message.contains("at most 1000000000"),
        "{}",
        error.message
    );
}
