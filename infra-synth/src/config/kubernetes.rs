//! The `[kubernetes]` section (eve-server on Kubernetes, `synth --target kubernetes`) and its
//! checks.

use config_diagnostics::Checker;
use serde::Deserialize;

use super::rules::is_dns_name;
use super::Stack;

/// The `[kubernetes]` section of a stack file; every field has a default, so stacks that do not
/// run on Kubernetes need not mention it.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Kubernetes {
    /// Image reference with a tag or digest (never `latest`), e.g. the ECR image docker.yml pushes.
    #[serde(default = "default_image")]
    pub image: String,
    /// Namespace for every object; default `<app>-<env>`.
    #[serde(default)]
    pub namespace: Option<String>,
    /// Minimum (and initial) pod count; the HPA scales between this and `max_replicas`.
    #[serde(default = "default_replicas")]
    pub replicas: i32,
    #[serde(default = "default_max_replicas")]
    pub max_replicas: i32,
    /// Average CPU utilisation (percent of the request) the HPA aims for.
    #[serde(default = "default_target_cpu_percent")]
    pub target_cpu_percent: i32,
    #[serde(default)]
    pub resources: Resources,
    /// Ingress host; default the stack's `domain`.
    #[serde(default)]
    pub host: Option<String>,
    #[serde(default = "default_ingress_class")]
    pub ingress_class: String,
    /// TLS secret for the Ingress host; default `<app>-<env>-tls`.
    #[serde(default)]
    pub tls_secret: Option<String>,
    /// IAM role the pods assume through IRSA (DynamoDB, S3, Bedrock access like the Lambda's).
    #[serde(default)]
    pub iam_role_arn: Option<String>,
    /// Where the ingress controller connects from: eve-server takes the visitor's address from
    /// `X-Forwarded-For` on connections from these (`--trusted-proxy`), so that visitors are not
    /// all counted as the controller under the per-IP limit. Default: the private ranges pod
    /// networks are drawn from.
    #[serde(default = "default_trusted_proxies")]
    pub trusted_proxies: Vec<String>,
    /// The namespace the ingress controller runs in. When set, only its pods may reach
    /// eve-server's port, so no other pod of the cluster can connect from a trusted range and
    /// name a client in `X-Forwarded-For`; by default any pod may.
    #[serde(default)]
    pub ingress_namespace: Option<String>,
}

/// Container requests and limits, in Kubernetes quantity syntax (`250m`, `256Mi`).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Resources {
    #[serde(default = "default_cpu_request")]
    pub cpu_request: String,
    #[serde(default = "default_cpu_limit")]
    pub cpu_limit: String,
    #[serde(default = "default_memory_request")]
    pub memory_request: String,
    #[serde(default = "default_memory_limit")]
    pub memory_limit: String,
}

impl Default for Kubernetes {
    fn default() -> Self {
        Kubernetes {
            image: default_image(),
            namespace: None,
            replicas: default_replicas(),
            max_replicas: default_max_replicas(),
            target_cpu_percent: default_target_cpu_percent(),
            resources: Resources::default(),
            host: None,
            ingress_class: default_ingress_class(),
            tls_secret: None,
            iam_role_arn: None,
            trusted_proxies: default_trusted_proxies(),
            ingress_namespace: None,
        }
    }
}

impl Resources {
    /// The CPU request in cores; `None` when it is not a valid quantity (validate says so).
    pub fn cpu_request_cores(&self) -> Option<f64> {
        parse_quantity(&self.cpu_request, Unit::Cpu)
    }

    /// The memory request in bytes.
    pub fn memory_request_bytes(&self) -> Option<f64> {
        parse_quantity(&self.memory_request, Unit::Memory)
    }
}

impl Default for Resources {
    fn default() -> Self {
        Resources {
            cpu_request: default_cpu_request(),
            cpu_limit: default_cpu_limit(),
            memory_request: default_memory_request(),
            memory_limit: default_memory_limit(),
        }
    }
}

fn default_image() -> String {
    format!("cloudforgex/eve-server:{}", env!("CARGO_PKG_VERSION"))
}
fn default_replicas() -> i32 {
    2
}
fn default_max_replicas() -> i32 {
    6
}
fn default_target_cpu_percent() -> i32 {
    70
}
/// RFC 1918, the shared address space of RFC 6598 (EKS's secondary pod ranges) and IPv6
/// unique local addresses.
fn default_trusted_proxies() -> Vec<String> {
    [
        "10.0.0.0/8",
        "172.16.0.0/12",
        "192.168.0.0/16",
        "100.64.0.0/10",
        "fc00::/7",
    ]
    .map(String::from)
    .to_vec()
}
fn default_ingress_class() -> String {
    "nginx".into()
}
fn default_cpu_request() -> String {
    "100m".into()
}
fn default_cpu_limit() -> String {
    "500m".into()
}
fn default_memory_request() -> String {
    "128Mi".into()
}
fn default_memory_limit() -> String {
    "256Mi".into()
}

/// Reports every problem in `[kubernetes]` at its line; called from the stack loader.
pub(super) fn check(stack: &Stack, check: &mut Checker<'_>) {
    let k8s = &stack.kubernetes;
    check.check(k8s.replicas >= 1, "kubernetes.replicas", || {
        format!("must be at least 1, got {}", k8s.replicas)
    });
    check.check(
        k8s.max_replicas >= k8s.replicas,
        "kubernetes.max_replicas",
        || {
            format!(
                "must be at least `replicas` ({}), got {}",
                k8s.replicas, k8s.max_replicas
            )
        },
    );
    check.check(
        (1..=100).contains(&k8s.target_cpu_percent),
        "kubernetes.target_cpu_percent",
        || format!("must be 1..=100, got {}", k8s.target_cpu_percent),
    );
    if let Err(problem) = check_image(&k8s.image) {
        check.error("kubernetes.image", problem);
    }
    if let Some(host) = &k8s.host {
        check.check(is_dns_name(host), "kubernetes.host", || {
            format!("`{host}` is not a lower-case DNS name")
        });
    }
    for (key, namespace) in [
        ("kubernetes.namespace", &k8s.namespace),
        ("kubernetes.ingress_namespace", &k8s.ingress_namespace),
    ] {
        if let Some(namespace) = namespace {
            check.check(is_dns_label(namespace), key, || {
                format!("`{namespace}` is not a DNS label (a-z, 0-9, '-', at most 63)")
            });
        }
    }
    // Both name objects of the cluster's (an IngressClass, a Secret), which the API server
    // refuses unless they are DNS subdomains.
    check.check(
        is_object_name(&k8s.ingress_class),
        "kubernetes.ingress_class",
        || {
            format!(
                "`{}` is not a Kubernetes object name (a-z, 0-9, '-' and '.', at most 253)",
                k8s.ingress_class
            )
        },
    );
    if let Some(secret) = &k8s.tls_secret {
        check.check(is_object_name(secret), "kubernetes.tls_secret", || {
            format!(
                "`{secret}` is not a Kubernetes object name (a-z, 0-9, '-' and '.', at most 253)"
            )
        });
    }
    if let Some(arn) = &k8s.iam_role_arn {
        check.check(is_role_arn(arn), "kubernetes.iam_role_arn", || {
            format!("`{arn}` is not an IAM role ARN (arn:aws:iam::<12-digit account>:role/<name>)")
        });
    }
    for (i, range) in k8s.trusted_proxies.iter().enumerate() {
        if let Err(problem) = eve_contract::routes::proxy_range(range) {
            check.error(&format!("kubernetes.trusted_proxies[{i}]"), problem);
        }
    }
    let r = &k8s.resources;
    check_pair(check, "cpu", &r.cpu_request, &r.cpu_limit, Unit::Cpu);
    check_pair(
        check,
        "memory",
        &r.memory_request,
        &r.memory_limit,
        Unit::Memory,
    );
}

fn check_pair(check: &mut Checker<'_>, kind: &str, request: &str, limit: &str, unit: Unit) {
    let request_key = format!("kubernetes.resources.{kind}_request");
    let limit_key = format!("kubernetes.resources.{kind}_limit");
    let parsed_request = parse_quantity(request, unit);
    let parsed_limit = parse_quantity(limit, unit);
    for (key, text, parsed) in [
        (&request_key, request, parsed_request),
        (&limit_key, limit, parsed_limit),
    ] {
        if parsed.is_none() {
            check.error(
                key,
                format!(
                    "`{text}` is not a {} quantity (e.g. {})",
                    unit.name(),
                    unit.example()
                ),
            );
        }
    }
    if let (Some(request_value), Some(limit_value)) = (parsed_request, parsed_limit) {
        check.check(request_value <= limit_value, &request_key, || {
            format!("request `{request}` is above the limit `{limit}`")
        });
    }
}

fn check_image(image: &str) -> Result<(), String> {
    if image.is_empty() || image.chars().any(char::is_whitespace) {
        return Err(format!("`{image}` is not an image reference"));
    }
    if image.contains("@sha256:") {
        return Ok(());
    }
    let last_segment = image.rsplit('/').next().unwrap_or(image);
    match last_segment.split_once(':') {
        Some((_, "latest")) => Err("`latest` is not a fixed version: use a tag or digest".into()),
        Some((_, tag)) if !tag.is_empty() => Ok(()),
        _ => Err(format!("`{image}` has no tag or digest")),
    }
}

fn is_dns_label(label: &str) -> bool {
    !label.is_empty()
        && label.len() <= 63
        && !label.starts_with('-')
        && !label.ends_with('-')
        && label
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
}

/// A DNS subdomain: the name most Kubernetes objects must have.
fn is_object_name(name: &str) -> bool {
    name.len() <= 253 && name.split('.').all(is_dns_label)
}

/// `arn:<partition>:iam::<12-digit account>:role/<optional path/><name>`, with IAM's
/// characters for paths and names.
fn is_role_arn(arn: &str) -> bool {
    let Some(rest) = ["arn:aws:iam::", "arn:aws-cn:iam::", "arn:aws-us-gov:iam::"]
        .iter()
        .find_map(|prefix| arn.strip_prefix(prefix))
    else {
        return false;
    };
    let Some((account, role)) = rest.split_once(":role/") else {
        return false;
    };
    let name_char = |c: char| c.is_ascii_alphanumeric() || "+=,.@_-".contains(c);
    let name = role.rsplit('/').next().unwrap_or_default();
    account.len() == 12
        && account.bytes().all(|b| b.is_ascii_digit())
        && (1..=64).contains(&name.len())
        && role.len() <= 512
        && role.split('/').all(|step| step.chars().all(name_char))
}

#[derive(Debug, Clone, Copy)]
enum Unit {
    Cpu,
    Memory,
}

impl Unit {
    fn name(self) -> &'static str {
        match self {
            Unit::Cpu => "CPU",
            Unit::Memory => "memory",
        }
    }

    fn example(self) -> &'static str {
        match self {
            Unit::Cpu => "`250m` or `1`",
            Unit::Memory => "`256Mi` or `1Gi`",
        }
    }
}

/// The value of a Kubernetes quantity in base units (cores or bytes), for comparing request and
/// limit; `None` when it is not a positive quantity of the kind the field takes.
fn parse_quantity(text: &str, unit: Unit) -> Option<f64> {
    let digits_end = text
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(text.len());
    let (number, suffix) = text.split_at(digits_end);
    let value: f64 = number.parse().ok()?;
    let scale = match (unit, suffix) {
        (_, "") => 1.0,
        (Unit::Cpu, "m") => 1e-3,
        (Unit::Memory, "k") => 1e3,
        (Unit::Memory, "M") => 1e6,
        (Unit::Memory, "G") => 1e9,
        (Unit::Memory, "Ki") => 1024.0,
        (Unit::Memory, "Mi") => 1024.0 * 1024.0,
        (Unit::Memory, "Gi") => 1024.0 * 1024.0 * 1024.0,
        _ => return None,
    };
    (value > 0.0).then_some(value * scale)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantities_compare_in_base_units() {
        assert_eq!(parse_quantity("500m", Unit::Cpu), Some(0.5));
        assert_eq!(parse_quantity("2", Unit::Cpu), Some(2.0));
        assert_eq!(
            parse_quantity("1Gi", Unit::Memory),
            Some(1024.0 * 1024.0 * 1024.0)
        );
        assert!(parse_quantity("256Mi", Unit::Memory) > parse_quantity("250M", Unit::Memory));
        assert_eq!(parse_quantity("128Mi", Unit::Cpu), None);
        assert_eq!(parse_quantity("0", Unit::Cpu), None);
        assert_eq!(parse_quantity("lots", Unit::Memory), None);
    }

    #[test]
    fn role_arns_name_an_account_and_a_role() {
        assert!(is_role_arn("arn:aws:iam::123456789012:role/eve-server"));
        assert!(is_role_arn(
            "arn:aws-cn:iam::123456789012:role/service/eve_server"
        ));
        assert!(!is_role_arn("arn:aws:iam::1:role/x"));
        assert!(!is_role_arn("arn:aws:iam::123456789012:user/x"));
        assert!(!is_role_arn("arn:aws:iam::123456789012:role/"));
        assert!(!is_role_arn("arn:aws:iam::123456789012:role/a b"));
        assert!(!is_role_arn("arn:awsx:iam::123456789012:role/x"));
    }

    #[test]
    fn images_need_a_fixed_version() {
        assert!(check_image("123.dkr.ecr.eu-west-1.amazonaws.com/eve:abc123").is_ok());
        assert!(check_image("localhost:5000/eve@sha256:0123").is_ok());
        assert!(check_image("eve:latest").is_err());
        assert!(check_image("localhost:5000/eve").is_err());
        assert!(check_image("eve server:1").is_err());
    }
}
