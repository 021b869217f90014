//! The `[dr]`, `[waf]` and `[network]` sections (the design's recovery table, its edge
//! firewall and EVE's private network) and their checks.

use std::net::Ipv4Addr;

use config_diagnostics::Checker;
use ipnet::Ipv4Net;
use serde::Deserialize;

use super::rules::AWS_REGIONS;
use super::Stack;

/// Cross-region recovery: replicas of the site and certificate buckets in `region`, which
/// CloudFront fails over to, and optionally a replica of the conversations table. Off when the
/// section is absent.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Dr {
    /// The recovery region (not the stack's own).
    pub region: String,
    /// A DynamoDB global-table replica of the conversations there (PITR covers the rest).
    #[serde(default)]
    pub table_replica: bool,
    /// S3 Replication Time Control: 99.99 % of objects replicated within 15 minutes, with
    /// replication metrics. Off: best effort (usually minutes, no bound).
    #[serde(default = "yes")]
    pub replication_time_control: bool,
}

/// The web ACL in front of CloudFront.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Waf {
    #[serde(default = "yes")]
    pub enabled: bool,
    /// Requests one client IP may send to `/api/` in any 5 minutes before it is blocked: the
    /// cross-instance per-IP limit EVE cannot keep in process.
    #[serde(default = "default_api_rate_limit")]
    pub api_rate_limit: u32,
    /// Blocked requests in one alarm period that page someone.
    #[serde(default = "default_blocked_requests")]
    pub blocked_requests_alarm: f64,
    #[serde(default = "default_retention")]
    pub log_retention_days: u32,
}

impl Default for Waf {
    fn default() -> Self {
        Waf {
            enabled: true,
            api_rate_limit: default_api_rate_limit(),
            blocked_requests_alarm: default_blocked_requests(),
            log_retention_days: default_retention(),
        }
    }
}

/// EVE's function in private subnets with no route out: AWS APIs only through endpoints.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Network {
    #[serde(default = "yes")]
    pub enabled: bool,
    #[serde(default = "default_vpc_cidr")]
    pub vpc_cidr: String,
    /// One private subnet per availability zone, in zone order; at least two.
    #[serde(default = "default_subnets")]
    pub private_subnets: Vec<String>,
    /// The zones of those subnets, by name; default `<region>a`, `<region>b`, ...
    #[serde(default)]
    pub availability_zones: Vec<String>,
    #[serde(default = "default_retention")]
    pub flow_log_retention_days: u32,
}

impl Default for Network {
    fn default() -> Self {
        Network {
            enabled: true,
            vpc_cidr: default_vpc_cidr(),
            private_subnets: default_subnets(),
            availability_zones: Vec::new(),
            flow_log_retention_days: default_retention(),
        }
    }
}

/// AWS WAF's smallest rate-based limit (per five minutes).
pub const WAF_MIN_RATE_LIMIT: u32 = 10;
/// AWS WAF's largest rate-based limit (per five minutes); the provider refuses more at plan.
pub const WAF_MAX_RATE_LIMIT: u32 = 2_000_000_000;
/// A Lambda function's VPC config takes at most 16 subnets.
const MAX_SUBNETS: usize = 16;

pub fn check(stack: &Stack, check: &mut Checker<'_>) {
    if let Some(dr) = &stack.dr {
        check.check(
            AWS_REGIONS.contains(&dr.region.as_str()),
            "dr.region",
            || format!("`{}` is not an AWS region, e.g. `eu-west-2`", dr.region),
        );
        check.check(dr.region != stack.region, "dr.region", || {
            format!(
                "`{}` is the stack's own region; recovery needs another one",
                dr.region
            )
        });
    }
    check.check(
        stack.waf.blocked_requests_alarm >= 0.0,
        "waf.blocked_requests_alarm",
        || "must be 0 or more blocked requests (below 0 the alarm never stops firing)".into(),
    );
    check.check(
        (WAF_MIN_RATE_LIMIT..=WAF_MAX_RATE_LIMIT).contains(&stack.waf.api_rate_limit),
        "waf.api_rate_limit",
        || {
            format!(
                "{} is outside AWS WAF's range of {WAF_MIN_RATE_LIMIT} to {WAF_MAX_RATE_LIMIT} \
                 requests per 5 minutes",
                stack.waf.api_rate_limit
            )
        },
    );
    check_network(&stack.network, check);
    let zones = stack.availability_zones();
    let subnets = stack.network.private_subnets.len();
    check.check(zones.len() == subnets, "network.availability_zones", || {
        format!(
            "names {} zones for {subnets} subnets; give one zone per subnet",
            zones.len()
        )
    });
    for zone in &zones {
        let letter = zone.strip_prefix(stack.region.as_str()).unwrap_or_default();
        check.check(
            letter.len() == 1 && letter.chars().all(|c| c.is_ascii_lowercase()),
            "network.availability_zones",
            || {
                format!(
                    "`{zone}` is not a zone of {}, like `{}a`",
                    stack.region, stack.region
                )
            },
        );
    }
    let mut distinct = zones.clone();
    distinct.sort();
    distinct.dedup();
    check.check(
        distinct.len() == zones.len(),
        "network.availability_zones",
        || "lists a zone twice; each subnet needs its own zone".to_string(),
    );
}

impl Stack {
    /// The zone of each private subnet, in order.
    pub fn availability_zones(&self) -> Vec<String> {
        let network = &self.network;
        if !network.availability_zones.is_empty() {
            return network.availability_zones.clone();
        }
        (b'a'..=b'z')
            .take(network.private_subnets.len())
            .map(|letter| format!("{}{}", self.region, letter as char))
            .collect()
    }
}

fn check_network(network: &Network, check: &mut Checker<'_>) {
    let vpc = match parse_private(&network.vpc_cidr) {
        Ok(vpc) => Some(vpc),
        Err(problem) => {
            check.error(
                "network.vpc_cidr",
                format!("`{}` {problem}", network.vpc_cidr),
            );
            None
        }
    };
    if let Some(vpc) = vpc {
        check.check(
            (16..=28).contains(&vpc.prefix_len()),
            "network.vpc_cidr",
            || format!("`{vpc}`: a VPC's prefix must be /16 to /28"),
        );
    }
    let subnets = &network.private_subnets;
    check.check(
        (2..=MAX_SUBNETS).contains(&subnets.len()),
        "network.private_subnets",
        || {
            format!(
                "needs one subnet per availability zone, 2 to {MAX_SUBNETS}; {} given",
                subnets.len()
            )
        },
    );
    let mut parsed: Vec<Ipv4Net> = Vec::new();
    for cidr in subnets {
        let subnet = match parse_private(cidr) {
            Ok(subnet) => subnet,
            Err(problem) => {
                check.error("network.private_subnets", format!("`{cidr}` {problem}"));
                continue;
            }
        };
        if let Some(vpc) = vpc {
            check.check(vpc.contains(&subnet), "network.private_subnets", || {
                format!("`{subnet}` is not inside the VPC's `{vpc}`")
            });
        }
        check.check(subnet.prefix_len() <= 28, "network.private_subnets", || {
            format!("`{subnet}`: a subnet's prefix must be /28 or larger")
        });
        if let Some(other) = parsed
            .iter()
            .find(|p| p.contains(&subnet) || subnet.contains(*p))
        {
            check.error(
                "network.private_subnets",
                format!("`{subnet}` overlaps `{other}`"),
            );
        }
        parsed.push(subnet);
    }
}

/// A network in canonical form (no host bits) inside the RFC 1918 ranges.
fn parse_private(cidr: &str) -> Result<Ipv4Net, &'static str> {
    let net: Ipv4Net = cidr
        .parse()
        .map_err(|_| "is not an IPv4 CIDR like `10.0.0.0/16`")?;
    if net.network() != net.addr() {
        return Err("has host bits set; write the network address");
    }
    let private = |ip: Ipv4Addr| ip.is_private();
    if !(private(net.network()) && private(net.broadcast())) {
        return Err("is not private (RFC 1918: 10/8, 172.16/12, 192.168/16)");
    }
    Ok(net)
}

fn yes() -> bool {
    true
}
/// One API request a second per IP for five minutes: twice EVE's own per-IP chat limit
/// (30 a minute), so the edge only stops what EVE would refuse anyway.
fn default_api_rate_limit() -> u32 {
    300
}
fn default_blocked_requests() -> f64 {
    100.0
}
fn default_retention() -> u32 {
    365
}
fn default_vpc_cidr() -> String {
    "10.42.0.0/16".into()
}
fn default_subnets() -> Vec<String> {
    vec!["10.42.0.0/24".into(), "10.42.1.0/24".into()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn private_cidrs_are_accepted_and_others_explained() {
        assert!(parse_private("10.42.0.0/16").is_ok());
        assert!(parse_private("192.168.4.0/24").is_ok());
        assert_eq!(
            parse_private("10.42.0.1/16").expect_err("refused"),
            "has host bits set; write the network address"
        );
        assert!(parse_private("8.8.8.0/24")
            .expect_err("refused")
            .contains("not private"));
        // Straddles the end of 172.16/12.
        assert!(parse_private("172.0.0.0/8")
            .expect_err("refused")
            .contains("not private"));
        assert!(parse_private("10.0.0.0/33").is_err());
        assert!(parse_private("ten").is_err());
    }
}
