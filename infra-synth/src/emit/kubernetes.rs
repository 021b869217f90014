//! Kubernetes manifests for `eve-server`, from the same stack model as the Terraform.
//!
//! The container gets exactly the EVE settings the Lambda reads from SSM
//! ([`Stack::eve_settings`]), as `EVE_<NAME>` variables from a ConfigMap, so both runtimes are
//! configured from one place. Objects are typed (`k8s-openapi`) so a misspelt field is a compile
//! error, and every name/label a second object refers to comes from one [`Names`] value.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use eve_contract::routes;
use eve_contract::settings::{env_name, STAGE_VAR};
use k8s_openapi::api::apps::v1::{
    Deployment, DeploymentSpec, DeploymentStrategy, RollingUpdateDeployment,
};
use k8s_openapi::api::autoscaling::v2::{
    CrossVersionObjectReference, HorizontalPodAutoscaler, HorizontalPodAutoscalerSpec, MetricSpec,
    MetricTarget, ResourceMetricSource,
};
use k8s_openapi::api::core::v1::{
    Capabilities, ConfigMap, ConfigMapEnvSource, Container, ContainerPort, EmptyDirVolumeSource,
    EnvFromSource, EnvVar, HTTPGetAction, Namespace, PodSecurityContext, PodSpec, PodTemplateSpec,
    Probe, ResourceRequirements, SeccompProfile, SecurityContext, Service, ServiceAccount,
    ServicePort, ServiceSpec, Volume, VolumeMount,
};
use k8s_openapi::api::networking::v1::{
    HTTPIngressPath, HTTPIngressRuleValue, Ingress, IngressBackend, IngressRule,
    IngressServiceBackend, IngressSpec, IngressTLS, NetworkPolicy, NetworkPolicyEgressRule,
    NetworkPolicyIngressRule, NetworkPolicyPeer, NetworkPolicyPort, NetworkPolicySpec,
    ServiceBackendPort,
};
use k8s_openapi::api::policy::v1::{PodDisruptionBudget, PodDisruptionBudgetSpec};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use serde::Serialize;

use crate::config::Stack;

/// Port `eve-server` listens on inside the pod (the image's `EXPOSE`).
pub const CONTAINER_PORT: i32 = 8080;
/// Where the image keeps the rendered site (`eve-function/Dockerfile`).
const SITE_DIR: &str = "/srv/site";
/// The distroless `nonroot` user of the image; above 10000 so it never maps to a host account.
const RUN_AS_USER: i64 = 65532;
const PORT_NAME: &str = "http";
const CONTAINER_NAME: &str = "eve-server";
/// IRSA: the EKS pod identity webhook exchanges the pod's projected token for this role.
const IRSA_ROLE_ANNOTATION: &str = "eks.amazonaws.com/role-arn";

/// Names and labels shared between objects: a Service selector, an HPA target or a PDB selector
/// is always built from here, never retyped.
struct Names {
    namespace: String,
    /// `<app>-<env>-eve`: Deployment, Service, HPA, PDB, ServiceAccount, ConfigMap.
    workload: String,
    tls_secret: String,
    /// Identify the pods; immutable in a Deployment, so only stable keys.
    selector: BTreeMap<String, String>,
    /// `selector` plus descriptive labels, on every object.
    labels: BTreeMap<String, String>,
}

impl Names {
    fn new(stack: &Stack) -> Self {
        let prefix = stack.prefix();
        let selector = BTreeMap::from([
            (
                "app.kubernetes.io/name".to_string(),
                CONTAINER_NAME.to_string(),
            ),
            ("app.kubernetes.io/instance".to_string(), prefix.clone()),
        ]);
        let mut labels = selector.clone();
        labels.insert("app.kubernetes.io/part-of".into(), stack.app.clone());
        labels.insert("app.kubernetes.io/managed-by".into(), "infra-synth".into());
        labels.insert(
            "app.kubernetes.io/version".into(),
            env!("CARGO_PKG_VERSION").into(),
        );
        Names {
            namespace: stack
                .kubernetes
                .namespace
                .clone()
                .unwrap_or_else(|| prefix.clone()),
            workload: format!("{prefix}-eve"),
            tls_secret: stack
                .kubernetes
                .tls_secret
                .clone()
                .unwrap_or_else(|| format!("{prefix}-tls")),
            selector,
            labels,
        }
    }

    fn meta(&self, name: &str) -> ObjectMeta {
        ObjectMeta {
            name: Some(name.to_string()),
            namespace: Some(self.namespace.clone()),
            labels: Some(self.labels.clone()),
            ..ObjectMeta::default()
        }
    }

    fn workload_meta(&self) -> ObjectMeta {
        self.meta(&self.workload)
    }

    fn pod_selector(&self) -> LabelSelector {
        LabelSelector {
            match_labels: Some(self.selector.clone()),
            ..LabelSelector::default()
        }
    }
}

/// `out/<stack>/kubernetes/manifests.yaml` under `out_dir` (the stack's own output folder's parent).
pub fn manifest_path(out_dir: &Path, stack: &Stack) -> PathBuf {
    out_dir
        .join(&stack.name)
        .join("kubernetes")
        .join("manifests.yaml")
}

/// Writes the manifests for `stack` and returns the file written.
pub fn write(stack: &Stack, out_dir: &Path) -> Result<PathBuf> {
    let path = manifest_path(out_dir, stack);
    crate::files::write_atomically(&path, render(stack)?.as_bytes())?;
    Ok(path)
}

/// Every object as one multi-document YAML string, in apply order (namespace first).
/// Byte-for-byte deterministic: maps are sorted and nothing depends on time or the machine.
pub fn render(stack: &Stack) -> Result<String> {
    let names = Names::new(stack);
    let config_map = config_map(stack, &names);
    let config_hash = crate::digest::sha256_hex(&serde_json::to_vec(&config_map.data)?);
    let mut out =
        String::from("# Generated by `infra-synth synth --target kubernetes`; do not edit.\n");
    push_document(&mut out, &namespace(&names))?;
    push_document(&mut out, &service_account(stack, &names))?;
    push_document(&mut out, &config_map)?;
    push_document(&mut out, &deployment(stack, &names, &config_hash))?;
    push_document(&mut out, &service(&names))?;
    push_document(&mut out, &autoscaler(stack, &names))?;
    push_document(&mut out, &disruption_budget(&names))?;
    push_document(&mut out, &ingress(stack, &names))?;
    push_document(&mut out, &network_policy(&names, stack))?;
    Ok(out)
}

fn push_document(out: &mut String, object: &impl Serialize) -> Result<()> {
    out.push_str("---\n");
    out.push_str(&serde_yaml_ng::to_string(object).context("cannot serialize a manifest")?);
    Ok(())
}

fn namespace(names: &Names) -> Namespace {
    let mut labels = names.labels.clone();
    // The pods satisfy the `restricted` Pod Security Standard; the namespace enforces it.
    labels.insert(
        "pod-security.kubernetes.io/enforce".into(),
        "restricted".into(),
    );
    Namespace {
        metadata: ObjectMeta {
            name: Some(names.namespace.clone()),
            labels: Some(labels),
            ..ObjectMeta::default()
        },
        ..Namespace::default()
    }
}

fn service_account(stack: &Stack, names: &Names) -> ServiceAccount {
    let mut metadata = names.workload_meta();
    metadata.annotations = stack.kubernetes.iam_role_arn.as_ref().map(|arn| {
        BTreeMap::from([
            (IRSA_ROLE_ANNOTATION.to_string(), arn.clone()),
            (
                "eks.amazonaws.com/sts-regional-endpoints".to_string(),
                "true".to_string(),
            ),
        ])
    });
    ServiceAccount {
        metadata,
        // IRSA uses its own projected token; the API-server token is never needed.
        automount_service_account_token: Some(false),
        ..ServiceAccount::default()
    }
}

/// `EVE_<NAME>` → value for every non-secret setting, plus the stage (docs/eve-settings.md).
fn config_map(stack: &Stack, names: &Names) -> ConfigMap {
    let mut data: BTreeMap<String, String> = stack
        .eve_settings()
        .into_iter()
        .filter(|setting| !setting.secret)
        .map(|setting| (env_name(setting.name), setting.value))
        .collect();
    data.insert(STAGE_VAR.into(), stack.env.clone());
    ConfigMap {
        metadata: names.workload_meta(),
        data: Some(data),
        ..ConfigMap::default()
    }
}

fn deployment(stack: &Stack, names: &Names, config_hash: &str) -> Deployment {
    let mut pod_meta = ObjectMeta {
        labels: Some(names.labels.clone()),
        ..ObjectMeta::default()
    };
    // A changed ConfigMap changes the pod template, so pods roll and pick the new settings up.
    pod_meta.annotations = Some(BTreeMap::from([(
        "cloudforgex.dev/config-sha256".to_string(),
        config_hash.to_string(),
    )]));
    Deployment {
        metadata: names.workload_meta(),
        spec: Some(DeploymentSpec {
            // No `replicas`: the HPA owns the count, and re-applying must not reset it.
            revision_history_limit: Some(5),
            selector: names.pod_selector(),
            strategy: Some(DeploymentStrategy {
                type_: Some("RollingUpdate".into()),
                rolling_update: Some(RollingUpdateDeployment {
                    max_surge: Some(IntOrString::Int(1)),
                    max_unavailable: Some(IntOrString::Int(0)),
                }),
            }),
            template: PodTemplateSpec {
                metadata: Some(pod_meta),
                spec: Some(pod_spec(stack, names)),
            },
            ..DeploymentSpec::default()
        }),
        ..Deployment::default()
    }
}

fn pod_spec(stack: &Stack, names: &Names) -> PodSpec {
    PodSpec {
        service_account_name: Some(names.workload.clone()),
        automount_service_account_token: Some(false),
        // EVE reads every `EVE_*` variable as its own (and names the ones it does not know):
        // Service links would add `<SERVICE>_PORT`-style variables for every Service in the
        // namespace, `EVE_SERVICE_HOST` for one named `eve`. It finds nothing through them.
        enable_service_links: Some(false),
        security_context: Some(PodSecurityContext {
            run_as_non_root: Some(true),
            run_as_user: Some(RUN_AS_USER),
            run_as_group: Some(RUN_AS_USER),
            fs_group: Some(RUN_AS_USER),
            seccomp_profile: Some(runtime_default_seccomp()),
            ..PodSecurityContext::default()
        }),
        containers: vec![container(stack, names)],
        // The root filesystem is read-only; the server's scratch space is memory-backed.
        volumes: Some(vec![Volume {
            name: "tmp".into(),
            empty_dir: Some(EmptyDirVolumeSource {
                medium: Some("Memory".into()),
                size_limit: Some(Quantity("16Mi".into())),
            }),
            ..Volume::default()
        }]),
        termination_grace_period_seconds: Some(30),
        ..PodSpec::default()
    }
}

fn container(stack: &Stack, names: &Names) -> Container {
    let resources = &stack.kubernetes.resources;
    let quantities = |cpu: &str, memory: &str| {
        BTreeMap::from([
            ("cpu".to_string(), Quantity(cpu.to_string())),
            ("memory".to_string(), Quantity(memory.to_string())),
        ])
    };
    Container {
        name: CONTAINER_NAME.into(),
        image: Some(stack.kubernetes.image.clone()),
        image_pull_policy: Some("Always".into()),
        args: Some(
            [
                "--listen".into(),
                format!("0.0.0.0:{CONTAINER_PORT}"),
                "--site-dir".into(),
                SITE_DIR.into(),
            ]
            .into_iter()
            .chain(
                stack
                    .kubernetes
                    .trusted_proxies
                    .iter()
                    .flat_map(|range| ["--trusted-proxy".into(), range.clone()]),
            )
            .collect(),
        ),
        ports: Some(vec![ContainerPort {
            name: Some(PORT_NAME.into()),
            container_port: CONTAINER_PORT,
            protocol: Some("TCP".into()),
            ..ContainerPort::default()
        }]),
        env: Some(vec![EnvVar {
            name: "AWS_REGION".into(),
            value: Some(stack.region.clone()),
            ..EnvVar::default()
        }]),
        env_from: Some(vec![EnvFromSource {
            config_map_ref: Some(ConfigMapEnvSource {
                name: names.workload.clone(),
                optional: Some(false),
            }),
            ..EnvFromSource::default()
        }]),
        readiness_probe: Some(http_probe(routes::READY.path, 5, 3)),
        liveness_probe: Some(http_probe(routes::HEALTH.path, 10, 3)),
        resources: Some(ResourceRequirements {
            requests: Some(quantities(
                &resources.cpu_request,
                &resources.memory_request,
            )),
            limits: Some(quantities(&resources.cpu_limit, &resources.memory_limit)),
            ..ResourceRequirements::default()
        }),
        security_context: Some(SecurityContext {
            allow_privilege_escalation: Some(false),
            privileged: Some(false),
            read_only_root_filesystem: Some(true),
            run_as_non_root: Some(true),
            run_as_user: Some(RUN_AS_USER),
            run_as_group: Some(RUN_AS_USER),
            capabilities: Some(Capabilities {
                drop: Some(vec!["ALL".into()]),
                ..Capabilities::default()
            }),
            seccomp_profile: Some(runtime_default_seccomp()),
            ..SecurityContext::default()
        }),
        volume_mounts: Some(vec![VolumeMount {
            name: "tmp".into(),
            mount_path: "/tmp".into(),
            ..VolumeMount::default()
        }]),
        ..Container::default()
    }
}

fn runtime_default_seccomp() -> SeccompProfile {
    SeccompProfile {
        type_: "RuntimeDefault".into(),
        ..SeccompProfile::default()
    }
}

fn http_probe(path: &str, period_seconds: i32, failure_threshold: i32) -> Probe {
    Probe {
        http_get: Some(HTTPGetAction {
            path: Some(path.into()),
            port: IntOrString::String(PORT_NAME.into()),
            ..HTTPGetAction::default()
        }),
        period_seconds: Some(period_seconds),
        failure_threshold: Some(failure_threshold),
        timeout_seconds: i32::try_from(routes::PROBE_TIMEOUT.as_secs()).ok(),
        ..Probe::default()
    }
}

fn service(names: &Names) -> Service {
    Service {
        metadata: names.workload_meta(),
        spec: Some(ServiceSpec {
            type_: Some("ClusterIP".into()),
            selector: Some(names.selector.clone()),
            ports: Some(vec![ServicePort {
                name: Some(PORT_NAME.into()),
                port: 80,
                target_port: Some(IntOrString::String(PORT_NAME.into())),
                protocol: Some("TCP".into()),
                ..ServicePort::default()
            }]),
            ..ServiceSpec::default()
        }),
        ..Service::default()
    }
}

fn autoscaler(stack: &Stack, names: &Names) -> HorizontalPodAutoscaler {
    HorizontalPodAutoscaler {
        metadata: names.workload_meta(),
        spec: HorizontalPodAutoscalerSpec {
            scale_target_ref: CrossVersionObjectReference {
                api_version: Some("apps/v1".into()),
                kind: "Deployment".into(),
                name: names.workload.clone(),
            },
            min_replicas: Some(stack.kubernetes.replicas),
            max_replicas: stack.kubernetes.max_replicas,
            metrics: Some(vec![MetricSpec {
                type_: "Resource".into(),
                resource: Some(ResourceMetricSource {
                    name: "cpu".into(),
                    target: MetricTarget {
                        type_: "Utilization".into(),
                        average_utilization: Some(stack.kubernetes.target_cpu_percent),
                        ..MetricTarget::default()
                    },
                }),
                ..MetricSpec::default()
            }]),
            ..HorizontalPodAutoscalerSpec::default()
        },
        ..HorizontalPodAutoscaler::default()
    }
}

/// One pod at a time may be evicted, which works for any replica count (even 1).
fn disruption_budget(names: &Names) -> PodDisruptionBudget {
    PodDisruptionBudget {
        metadata: names.workload_meta(),
        spec: Some(PodDisruptionBudgetSpec {
            max_unavailable: Some(IntOrString::Int(1)),
            selector: Some(names.pod_selector()),
            ..PodDisruptionBudgetSpec::default()
        }),
        ..PodDisruptionBudget::default()
    }
}

fn ingress(stack: &Stack, names: &Names) -> Ingress {
    let host = stack
        .kubernetes
        .host
        .clone()
        .unwrap_or_else(|| stack.domain.clone());
    Ingress {
        metadata: names.workload_meta(),
        spec: Some(IngressSpec {
            ingress_class_name: Some(stack.kubernetes.ingress_class.clone()),
            tls: Some(vec![IngressTLS {
                hosts: Some(vec![host.clone()]),
                secret_name: Some(names.tls_secret.clone()),
            }]),
            rules: Some(vec![IngressRule {
                host: Some(host),
                http: Some(HTTPIngressRuleValue {
                    paths: vec![HTTPIngressPath {
                        path: Some("/".into()),
                        path_type: "Prefix".into(),
                        backend: IngressBackend {
                            service: Some(IngressServiceBackend {
                                name: names.workload.clone(),
                                port: Some(ServiceBackendPort {
                                    name: Some(PORT_NAME.into()),
                                    ..ServiceBackendPort::default()
                                }),
                            }),
                            ..IngressBackend::default()
                        },
                    }],
                }),
            }]),
            ..IngressSpec::default()
        }),
        ..Ingress::default()
    }
}

/// The pods of `[kubernetes] ingress_namespace`, by the name label Kubernetes puts on every
/// namespace; `None` (any pod) without one.
fn ingress_controller(stack: &Stack) -> Option<Vec<NetworkPolicyPeer>> {
    let namespace = stack.kubernetes.ingress_namespace.as_ref()?;
    Some(vec![NetworkPolicyPeer {
        namespace_selector: Some(LabelSelector {
            match_labels: Some(BTreeMap::from([(
                "kubernetes.io/metadata.name".to_string(),
                namespace.clone(),
            )])),
            ..LabelSelector::default()
        }),
        ..NetworkPolicyPeer::default()
    }])
}

/// Inbound only to the HTTP port (from the ingress controller's namespace, when named);
/// outbound only DNS and HTTPS (AWS APIs: DynamoDB, S3, Bedrock).
fn network_policy(names: &Names, stack: &Stack) -> NetworkPolicy {
    let port = |protocol: &str, port: IntOrString| NetworkPolicyPort {
        protocol: Some(protocol.into()),
        port: Some(port),
        ..NetworkPolicyPort::default()
    };
    NetworkPolicy {
        metadata: names.workload_meta(),
        spec: Some(NetworkPolicySpec {
            pod_selector: Some(names.pod_selector()),
            policy_types: Some(vec!["Ingress".into(), "Egress".into()]),
            ingress: Some(vec![NetworkPolicyIngressRule {
                ports: Some(vec![port("TCP", IntOrString::String(PORT_NAME.into()))]),
                from: ingress_controller(stack),
            }]),
            egress: Some(vec![NetworkPolicyEgressRule {
                ports: Some(vec![
                    port("UDP", IntOrString::Int(53)),
                    port("TCP", IntOrString::Int(53)),
                    port("TCP", IntOrString::Int(443)),
                ]),
                ..NetworkPolicyEgressRule::default()
            }]),
        }),
    }
}
