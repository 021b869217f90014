//! `cost --compare kubernetes`: the container alternative of the Kubernetes target (eve-server
//! on EKS) priced beside the serverless stack. Lambda and API Gateway give way to a cluster,
//! nodes sized for the Deployment's requests and the HPA's bounds, a load balancer and a NAT
//! gateway for the nodes; everything else (site, table, model, keys, logs) is shared.

use serde::Serialize;

use super::prices::{MissingPrice, PriceTable};
use super::usage::HOURS_PER_MONTH;
use super::Estimate;
use crate::config::Stack;

/// The node type: Graviton like the function, 2 vCPU and 4 GiB.
pub const NODE_TYPE: &str = "t4g.medium";
/// What a node leaves pods after the kubelet's reservation and the system daemons (CNI,
/// kube-proxy, CoreDNS).
const NODE_ALLOCATABLE_CORES: f64 = 1.6;
const NODE_ALLOCATABLE_BYTES: f64 = 3.0 * 1024.0 * 1024.0 * 1024.0;
/// Nodes in two zones at least, so one zone's loss leaves the service up.
const MIN_NODES: f64 = 2.0;
const NODE_VOLUME_GB: f64 = 20.0;
/// An ALB at this traffic uses its minimum of about one LCU an hour.
const LCUS_PER_HOUR: f64 = 1.0;

/// Services the container alternative replaces.
pub const REPLACED: &[&str] = &["Lambda", "API Gateway"];

/// One service's monthly cost on either side.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Row {
    pub service: String,
    pub serverless_usd: f64,
    pub kubernetes_usd: f64,
}

/// One line of what the container alternative adds.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AddedLine {
    pub service: &'static str,
    pub item: String,
    pub quantity: f64,
    pub unit: String,
    pub unit_usd: f64,
    pub monthly_usd: f64,
    pub source: String,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Comparison {
    pub stack: String,
    pub currency: &'static str,
    pub node_type: &'static str,
    /// Nodes at the Deployment's replicas, and at the HPA's maximum.
    pub nodes: f64,
    pub nodes_at_max_replicas: f64,
    pub rows: Vec<Row>,
    pub added: Vec<AddedLine>,
    pub serverless_usd: f64,
    pub kubernetes_usd: f64,
    pub kubernetes_at_max_replicas_usd: f64,
}

/// Nodes for `pods` replicas of the Deployment's requests.
pub fn nodes_for(stack: &Stack, pods: f64) -> f64 {
    let resources = &stack.kubernetes.resources;
    let cpu = resources.cpu_request_cores().unwrap_or(0.0);
    let memory = resources.memory_request_bytes().unwrap_or(0.0);
    let by_cpu = (pods * cpu / NODE_ALLOCATABLE_CORES).ceil();
    let by_memory = (pods * memory / NODE_ALLOCATABLE_BYTES).ceil();
    MIN_NODES.max(by_cpu).max(by_memory)
}

/// Prices the container alternative beside `serverless` (the stack's own estimate).
pub fn compare(
    table: &PriceTable,
    stack: &Stack,
    serverless: &Estimate,
) -> Result<Comparison, MissingPrice> {
    let k8s = &stack.kubernetes;
    let nodes = nodes_for(stack, f64::from(k8s.replicas));
    let nodes_at_max = nodes_for(stack, f64::from(k8s.max_replicas));
    let region = stack.region.as_str();
    let line = |service: &'static str, item: String, id: &str, quantity: f64| {
        let price = table.get(id, region)?;
        Ok(AddedLine {
            service,
            item,
            quantity,
            unit: price.unit.clone(),
            unit_usd: price.unit_usd(),
            monthly_usd: quantity * price.unit_usd(),
            source: price.source.clone(),
        })
    };
    let with_nodes = |nodes: f64| -> Result<Vec<AddedLine>, MissingPrice> {
        Ok(vec![
            line(
                "EKS",
                "cluster (standard support)".into(),
                "eks.cluster_hour",
                HOURS_PER_MONTH,
            )?,
            line(
                "EC2",
                format!("{nodes} × {NODE_TYPE} nodes"),
                "ec2.t4g.medium_hour",
                nodes * HOURS_PER_MONTH,
            )?,
            line(
                "EC2",
                format!("{nodes} × {NODE_VOLUME_GB} GB gp3 root volumes"),
                "ebs.gp3",
                nodes * NODE_VOLUME_GB,
            )?,
            line(
                "Elastic Load Balancing",
                "application load balancer".into(),
                "elb.alb_hour",
                HOURS_PER_MONTH,
            )?,
            line(
                "Elastic Load Balancing",
                "load balancer capacity units".into(),
                "elb.alb_lcu_hour",
                LCUS_PER_HOUR * HOURS_PER_MONTH,
            )?,
            line(
                "VPC",
                "NAT gateway for the nodes".into(),
                "vpc.nat_gateway_hour",
                HOURS_PER_MONTH,
            )?,
        ])
    };
    let added = with_nodes(nodes)?;
    let added_at_max: f64 = with_nodes(nodes_at_max)?
        .iter()
        .map(|l| l.monthly_usd)
        .sum();

    let mut rows: Vec<Row> = serverless
        .services
        .iter()
        .map(|s| Row {
            service: s.service.to_string(),
            serverless_usd: s.monthly_usd,
            kubernetes_usd: if REPLACED.contains(&s.service) {
                0.0
            } else {
                s.monthly_usd
            },
        })
        .collect();
    for added in &added {
        match rows.iter_mut().find(|r| r.service == added.service) {
            Some(row) => row.kubernetes_usd += added.monthly_usd,
            None => rows.push(Row {
                service: added.service.to_string(),
                serverless_usd: 0.0,
                kubernetes_usd: added.monthly_usd,
            }),
        }
    }
    let shared: f64 = rows
        .iter()
        .filter(|r| !REPLACED.contains(&r.service.as_str()))
        .map(|r| r.serverless_usd)
        .sum();
    Ok(Comparison {
        stack: serverless.stack.clone(),
        currency: "USD",
        node_type: NODE_TYPE,
        nodes,
        nodes_at_max_replicas: nodes_at_max,
        serverless_usd: serverless.total_usd,
        kubernetes_usd: rows.iter().map(|r| r.kubernetes_usd).sum(),
        kubernetes_at_max_replicas_usd: shared + added_at_max,
        rows,
        added,
    })
}
