//! Kubernetes manifests from the stack model, checked against the real stacks and the real
//! validators (`kubernetes-validate --strict`, checkov's kubernetes framework).

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;

use infra_synth::config::{self, Stack};
use infra_synth::emit::kubernetes;
use serde::Deserialize;
use serde_json::Value;

fn repo_root() -> PathBuf {
    Path::new(&std::env::var_os("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR"))
        .parent()
        .expect("workspace root")
        .to_path_buf()
}

fn stack_names() -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(repo_root().join("stacks"))
        .expect("stacks/")
        .filter_map(|entry| {
            let path = entry.expect("dir entry").path();
            (path.extension()? == "toml").then(|| path.file_stem()?.to_str().map(String::from))?
        })
        .collect();
    names.sort();
    assert!(!names.is_empty(), "no stacks in stacks/");
    names
}

fn load(name: &str) -> Stack {
    config::load(&repo_root().join("stacks"), name).unwrap_or_else(|e| panic!("{name}: {e}"))
}

/// Every YAML document of a manifest file, as JSON values.
fn documents(yaml: &str) -> Vec<Value> {
    serde_yaml_ng::Deserializer::from_str(yaml)
        .map(|doc| Value::deserialize(doc).expect("valid YAML document"))
        .collect()
}

fn by_kind<'a>(docs: &'a [Value], kind: &str) -> &'a Value {
    let found: Vec<&Value> = docs.iter().filter(|d| d["kind"] == kind).collect();
    assert_eq!(found.len(), 1, "expected one {kind}");
    found[0]
}

/// A temp dir whose name does not start with a dot: checkov skips hidden directories.
fn scratch_dir() -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix("cfx-kubernetes-")
        .tempdir()
        .expect("temp dir")
}

/// A stack file in a temp dir, pointing at the real portfolio content.
fn temp_stack(extra: &str) -> tempfile::TempDir {
    let dir = scratch_dir();
    let content = repo_root().join("site/content/portfolio.toml");
    let text = format!(
        "env = \"test\"\nregion = \"eu-west-1\"\ndomain = \"example.com\"\ncontent = {:?}\n{extra}",
        content.display().to_string()
    );
    std::fs::write(dir.path().join("k8s.toml"), text).expect("write stack");
    dir
}

/// `name` on PATH, else in the CI venv (.ci/env.sh); `None` prints the SKIP line.
fn tool(test: &str, name: &str) -> Option<PathBuf> {
    let venv = std::env::var_os("CFX_VENV")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(std::env::var_os("HOME").unwrap_or_default())
                .join(".cache/cloudforgex/venv")
        });
    let candidates = std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
        .unwrap_or_default()
        .into_iter()
        .chain([venv.join("bin")])
        .map(|dir| dir.join(name));
    let found = candidates.into_iter().find(|p| p.is_file());
    if found.is_none() {
        // Straight to the stderr handle: libtest captures `println!` of passing tests, and CI
        // must show (and count) every skip.
        let _ = writeln!(std::io::stderr(), "SKIP: {test} needs {name}");
    }
    found
}

#[test]
fn every_stack_renders_deterministically_and_consistently() {
    for name in stack_names() {
        let stack = load(&name);
        let yaml = kubernetes::render(&stack).expect("render");
        assert_eq!(
            yaml,
            kubernetes::render(&stack).expect("render"),
            "{name}: not deterministic"
        );
        let docs = documents(&yaml);
        let kinds: Vec<&str> = docs
            .iter()
            .map(|d| d["kind"].as_str().expect("kind"))
            .collect();
        assert_eq!(
            kinds,
            [
                "Namespace",
                "ServiceAccount",
                "ConfigMap",
                "Deployment",
                "Service",
                "HorizontalPodAutoscaler",
                "PodDisruptionBudget",
                "Ingress",
                "NetworkPolicy"
            ],
            "{name}"
        );
        let namespace = by_kind(&docs, "Namespace")["metadata"]["name"].clone();
        for doc in docs.iter().filter(|d| d["kind"] != "Namespace") {
            assert_eq!(
                doc["metadata"]["namespace"], namespace,
                "{name}: {}",
                doc["kind"]
            );
        }

        // The ConfigMap carries exactly the settings the Lambda gets from SSM.
        let config_map = by_kind(&docs, "ConfigMap");
        let mut expected: serde_json::Map<String, Value> = stack
            .eve_settings()
            .into_iter()
            .map(|s| {
                (
                    format!("EVE_{}", s.name.to_uppercase()),
                    Value::String(s.value),
                )
            })
            .collect();
        expected.insert("EVE_STAGE".into(), Value::String(stack.env.clone()));
        assert_eq!(config_map["data"], Value::Object(expected), "{name}");

        let deployment = by_kind(&docs, "Deployment");
        let pod = &deployment["spec"]["template"];
        let container = &pod["spec"]["containers"][0];
        assert_eq!(
            container["envFrom"][0]["configMapRef"]["name"],
            config_map["metadata"]["name"]
        );
        // Only the ConfigMap sets EVE_* variables: no Service links in the environment.
        assert_eq!(pod["spec"]["enableServiceLinks"], false, "{name}");
        assert_eq!(container["image"], stack.kubernetes.image.as_str());
        assert_eq!(
            container["readinessProbe"]["httpGet"]["path"],
            "/api/health/ready"
        );
        assert_eq!(container["livenessProbe"]["httpGet"]["path"], "/api/health");
        assert_eq!(
            container["resources"]["limits"]["memory"],
            stack.kubernetes.resources.memory_limit.as_str()
        );
        let security = &container["securityContext"];
        assert_eq!(security["readOnlyRootFilesystem"], true, "{name}");
        assert_eq!(security["allowPrivilegeEscalation"], false, "{name}");
        assert_eq!(security["runAsNonRoot"], true, "{name}");
        assert_eq!(
            security["capabilities"]["drop"],
            serde_json::json!(["ALL"]),
            "{name}"
        );

        // Cross-references: every selector/target names what the Deployment actually is.
        let deployment_name = &deployment["metadata"]["name"];
        let pod_labels = pod["metadata"]["labels"].as_object().expect("pod labels");
        let selects_pods = |selector: &Value| {
            let selector = selector.as_object().expect("selector");
            !selector.is_empty() && selector.iter().all(|(k, v)| pod_labels.get(k) == Some(v))
        };
        assert!(selects_pods(&deployment["spec"]["selector"]["matchLabels"]));
        let service = by_kind(&docs, "Service");
        assert!(
            selects_pods(&service["spec"]["selector"]),
            "{name}: Service selector"
        );
        let pdb = by_kind(&docs, "PodDisruptionBudget");
        assert!(
            selects_pods(&pdb["spec"]["selector"]["matchLabels"]),
            "{name}: PDB selector"
        );
        let policy = by_kind(&docs, "NetworkPolicy");
        assert!(
            selects_pods(&policy["spec"]["podSelector"]["matchLabels"]),
            "{name}: policy"
        );
        let hpa = by_kind(&docs, "HorizontalPodAutoscaler");
        assert_eq!(hpa["spec"]["scaleTargetRef"]["name"], *deployment_name);
        assert_eq!(hpa["spec"]["minReplicas"], stack.kubernetes.replicas);
        let ingress = by_kind(&docs, "Ingress");
        let backend = &ingress["spec"]["rules"][0]["http"]["paths"][0]["backend"]["service"];
        assert_eq!(backend["name"], service["metadata"]["name"]);
        assert_eq!(backend["port"]["name"], service["spec"]["ports"][0]["name"]);
        let account = by_kind(&docs, "ServiceAccount");
        assert_eq!(
            pod["spec"]["serviceAccountName"],
            account["metadata"]["name"]
        );
    }
}

/// The manifests of a valid stack with `extra` appended, as JSON documents.
fn rendered(extra: &str) -> Vec<Value> {
    let dir = temp_stack(extra);
    let stack = config::load(dir.path(), "k8s").expect("valid stack");
    documents(&kubernetes::render(&stack).expect("render"))
}

#[test]
fn settings_change_rolls_the_pods() {
    let hash = |extra: &str| {
        let docs = rendered(extra);
        by_kind(&docs, "Deployment")["spec"]["template"]["metadata"]["annotations"].clone()
    };
    assert_eq!(hash(""), hash(""));
    assert_ne!(hash(""), hash("[eve]\nmax_tokens = 700\n"));
}

#[test]
fn irsa_role_annotates_the_service_account() {
    let docs = rendered("[kubernetes]\niam_role_arn = \"arn:aws:iam::123456789012:role/eve\"\n");
    let account = by_kind(&docs, "ServiceAccount");
    assert_eq!(
        account["metadata"]["annotations"]["eks.amazonaws.com/role-arn"],
        "arn:aws:iam::123456789012:role/eve"
    );
    assert_eq!(account["automountServiceAccountToken"], false);
}

/// Behind the Ingress every visitor reaches eve-server from the controller's address, so the
/// per-IP limit counted them all as one until eve-server was told to read `X-Forwarded-For`
/// from it.
#[test]
fn eve_server_takes_the_visitor_address_from_the_ingress_controller() {
    let args = |extra: &str| {
        let docs = rendered(extra);
        let container = &by_kind(&docs, "Deployment")["spec"]["template"]["spec"]["containers"][0];
        let args: Vec<String> = serde_json::from_value(container["args"].clone()).expect("args");
        args
    };
    let default = args("");
    for range in ["10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "fc00::/7"] {
        let flagged = default
            .windows(2)
            .any(|pair| pair[0] == "--trusted-proxy" && pair[1] == range);
        assert!(flagged, "{range} in {default:?}");
    }
    let narrowed = args("[kubernetes]\ntrusted_proxies = [\"10.42.0.0/16\"]\n");
    assert_eq!(
        narrowed[narrowed.len() - 2..],
        ["--trusted-proxy".to_string(), "10.42.0.0/16".to_string()]
    );
    assert_eq!(
        narrowed.iter().filter(|a| *a == "--trusted-proxy").count(),
        1,
        "{narrowed:?}"
    );
    let none = args("[kubernetes]\ntrusted_proxies = []\n");
    assert!(!none.contains(&"--trusted-proxy".to_string()), "{none:?}");
}

/// Any pod of the cluster could reach eve-server's port, and from a trusted range name any
/// client in `X-Forwarded-For`; with `ingress_namespace`, only the controller's pods may.
#[test]
fn the_ingress_namespace_is_the_only_way_in_when_named() {
    let from = |extra: &str| {
        let docs = rendered(extra);
        by_kind(&docs, "NetworkPolicy")["spec"]["ingress"][0]["from"].clone()
    };
    assert_eq!(from(""), Value::Null, "any pod by default");
    assert_eq!(
        from("[kubernetes]\ningress_namespace = \"ingress-nginx\"\n"),
        serde_json::json!([{ "namespaceSelector": { "matchLabels": {
            "kubernetes.io/metadata.name": "ingress-nginx"
        } } }])
    );
}

#[test]
fn bad_kubernetes_section_names_file_line_and_key() {
    let dir = temp_stack(
        "[kubernetes]\nreplicas = 0\nimage = \"eve:latest\"\ningress_class = \"Nginx\"\ntls_secret = \"../tls\"\ntrusted_proxies = [\"10.0.0.0/8\", \"10.0.0.1/8\"]\ningress_namespace = \"Ingress_NGINX\"\n\n[kubernetes.resources]\ncpu_request = \"2\"\ncpu_limit = \"500m\"\nmemory_limit = \"lots\"\n",
    );
    let errors = config::load(dir.path(), "k8s").expect_err("invalid [kubernetes]");
    let found: Vec<(usize, &str)> = errors.iter().map(|d| (d.line, d.key.as_str())).collect();
    for expected in [
        (6, "kubernetes.replicas"),
        (7, "kubernetes.image"),
        (8, "kubernetes.ingress_class"),
        (9, "kubernetes.tls_secret"),
        (10, "kubernetes.trusted_proxies[1]"),
        (11, "kubernetes.ingress_namespace"),
        (14, "kubernetes.resources.cpu_request"),
        (16, "kubernetes.resources.memory_limit"),
    ] {
        assert!(
            found.contains(&expected),
            "missing {expected:?} in {errors}"
        );
    }
    assert!(
        errors.iter().all(|d| d.file.ends_with("k8s.toml")),
        "{errors}"
    );
}

#[test]
fn cli_writes_one_manifest_file_per_stack() {
    let out = scratch_dir();
    let name = &stack_names()[0];
    let status = Command::new(env!("CARGO_BIN_EXE_infra-synth"))
        .current_dir(repo_root())
        .args(["synth", "--target", "kubernetes", "--stack", name, "--out"])
        .arg(out.path())
        .output()
        .expect("run infra-synth");
    assert!(
        status.status.success(),
        "{}",
        String::from_utf8_lossy(&status.stderr)
    );
    let written = std::fs::read_to_string(out.path().join(name).join("kubernetes/manifests.yaml"))
        .expect("manifests.yaml");
    assert_eq!(written, kubernetes::render(&load(name)).expect("render"));

    let dir = temp_stack("[kubernetes]\nmax_replicas = 0\n");
    let failed = Command::new(env!("CARGO_BIN_EXE_infra-synth"))
        .args([
            "synth",
            "--target",
            "kubernetes",
            "--stack",
            "k8s",
            "--stacks-dir",
        ])
        .arg(dir.path())
        .arg("--out")
        .arg(out.path())
        .output()
        .expect("run infra-synth");
    let stderr = String::from_utf8_lossy(&failed.stderr);
    assert!(!failed.status.success());
    assert!(
        stderr.contains("k8s.toml:6:") && stderr.contains("kubernetes.max_replicas"),
        "{stderr}"
    );
}

/// Every stack's manifests, written to a temp dir for the external validators.
fn written_manifests(out: &Path) -> Vec<PathBuf> {
    stack_names()
        .iter()
        .map(|name| kubernetes::write(&load(name), out).expect("write manifests"))
        .collect()
}

#[test]
fn manifests_pass_kubernetes_validate_strict() {
    let Some(validator) = tool(
        "manifests_pass_kubernetes_validate_strict",
        "kubernetes-validate",
    ) else {
        return;
    };
    let out = scratch_dir();
    let files = written_manifests(out.path());
    let run = Command::new(validator)
        .args(["--strict", "--no-warn"])
        .args(&files)
        .output()
        .expect("run kubernetes-validate");
    let report = String::from_utf8_lossy(&run.stdout);
    assert!(
        run.status.success(),
        "{report}{}",
        String::from_utf8_lossy(&run.stderr)
    );
    // One "passed" line per object: the validator really looked at every document.
    assert_eq!(
        report.matches(" passed for resource ").count(),
        files.len() * 9,
        "{report}"
    );
}

/// checkov's summary for one directory: (passed, failed).
fn checkov_summary(checkov: &Path, dir: &Path, config_file: Option<&Path>) -> (u64, u64) {
    let mut command = Command::new(checkov);
    command
        .args([
            "--framework",
            "kubernetes",
            "--skip-download",
            "--output",
            "json",
            "--directory",
        ])
        .arg(dir);
    if let Some(config) = config_file {
        command.arg("--config-file").arg(config);
    }
    let run = command.output().expect("run checkov");
    let report: Value = serde_json::from_slice(&run.stdout).unwrap_or_else(|e| {
        panic!(
            "checkov JSON: {e}: {}",
            String::from_utf8_lossy(&run.stdout)
        )
    });
    let summary = &report["summary"];
    let passed = summary["passed"].as_u64().expect("passed");
    let failed = summary["failed"].as_u64().expect("failed");
    assert_eq!(summary["parsing_errors"], 0, "{report}");
    if failed > 0 {
        let failures: Vec<&Value> = report["results"]["failed_checks"]
            .as_array()
            .map(|a| a.iter().map(|c| &c["check_id"]).collect())
            .unwrap_or_default();
        panic!("checkov failed checks: {failures:?}");
    }
    (passed, failed)
}

#[test]
fn manifests_pass_checkov_with_the_justified_skips() {
    let Some(checkov) = tool("manifests_pass_checkov_with_the_justified_skips", "checkov") else {
        return;
    };
    let out = scratch_dir();
    written_manifests(out.path());
    let config = repo_root().join(".ci/checkov-kubernetes.yaml");
    let (passed, failed) = checkov_summary(&checkov, out.path(), Some(&config));
    assert_eq!(failed, 0);
    assert!(passed > 50, "checkov ran only {passed} checks");
}

#[test]
fn digest_pinned_image_passes_checkov_without_skips() {
    let Some(checkov) = tool(
        "digest_pinned_image_passes_checkov_without_skips",
        "checkov",
    ) else {
        return;
    };
    let digest = "a".repeat(64);
    let dir = temp_stack(&format!(
        "[kubernetes]\nimage = \"123456789012.dkr.ecr.eu-west-1.amazonaws.com/eve-server@sha256:{digest}\"\n"
    ));
    let stack = config::load(dir.path(), "k8s").expect("valid stack");
    let out = scratch_dir();
    kubernetes::write(&stack, out.path()).expect("write");
    let (passed, failed) = checkov_summary(&checkov, out.path(), None);
    assert_eq!(failed, 0);
    assert!(passed > 50, "checkov ran only {passed} checks");
}
