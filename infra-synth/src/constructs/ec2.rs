//! EC2 networking: a VPC of private subnets with no route out (AWS APIs through endpoints
//! only), its flow logs, a closed default security group, and security groups whose rules
//! name the exact peer (a group or an endpoint's prefix list), never `0.0.0.0/0`.

use serde::Serialize;

use super::cloudwatch::{LogGroup, LogGroupProps};
use super::iam::{Role, RoleProps};
use super::kms::Key;
use super::{Id, Scope};
use crate::tf::{Block, Expr, Ref};

const HTTPS: u16 = 443;

#[derive(Debug, Clone, Serialize)]
pub struct VpcBlock {
    pub cidr_block: String,
    /// Both on, or interface endpoints' private DNS names do not resolve.
    pub enable_dns_support: bool,
    pub enable_dns_hostnames: bool,
}

impl Block for VpcBlock {
    const TYPE: &'static str = "aws_vpc";
}

/// Taking over the VPC's default group with no rules closes it: nothing may use it by accident.
#[derive(Debug, Clone, Serialize)]
pub struct DefaultSecurityGroup {
    pub vpc_id: Expr,
    pub ingress: Vec<serde_json::Value>,
    pub egress: Vec<serde_json::Value>,
}

impl Block for DefaultSecurityGroup {
    const TYPE: &'static str = "aws_default_security_group";
}

#[derive(Debug, Clone, Serialize)]
pub struct Subnet {
    pub vpc_id: Expr,
    pub cidr_block: String,
    pub availability_zone: String,
    pub map_public_ip_on_launch: bool,
}

impl Block for Subnet {
    const TYPE: &'static str = "aws_subnet";
}

/// A route table with only the local route (and the gateway endpoints' prefix lists).
#[derive(Debug, Clone, Serialize)]
pub struct RouteTable {
    pub vpc_id: Expr,
}

impl Block for RouteTable {
    const TYPE: &'static str = "aws_route_table";
}

#[derive(Debug, Clone, Serialize)]
pub struct RouteTableAssociation {
    pub subnet_id: Expr,
    pub route_table_id: Expr,
}

impl Block for RouteTableAssociation {
    const TYPE: &'static str = "aws_route_table_association";
}

#[derive(Debug, Clone, Serialize)]
pub struct FlowLog {
    pub vpc_id: Expr,
    pub traffic_type: &'static str,
    pub log_destination_type: &'static str,
    pub log_destination: Expr,
    pub iam_role_arn: Expr,
    pub max_aggregation_interval: u32,
}

impl Block for FlowLog {
    const TYPE: &'static str = "aws_flow_log";
}

#[derive(Debug, Clone, Serialize)]
pub struct VpcEndpoint {
    pub vpc_id: Expr,
    pub service_name: String,
    pub vpc_endpoint_type: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub private_dns_enabled: Option<bool>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub subnet_ids: Vec<Expr>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub security_group_ids: Vec<Expr>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub route_table_ids: Vec<Expr>,
}

impl Block for VpcEndpoint {
    const TYPE: &'static str = "aws_vpc_endpoint";
}

#[derive(Debug, Clone, Serialize)]
pub struct SecurityGroupBlock {
    pub name: String,
    pub description: &'static str,
    pub vpc_id: Expr,
}

impl Block for SecurityGroupBlock {
    const TYPE: &'static str = "aws_security_group";
}

#[derive(Debug, Clone, Serialize)]
pub struct IngressRule {
    pub security_group_id: Expr,
    pub description: String,
    pub ip_protocol: &'static str,
    pub from_port: u16,
    pub to_port: u16,
    pub referenced_security_group_id: Expr,
}

impl Block for IngressRule {
    const TYPE: &'static str = "aws_vpc_security_group_ingress_rule";
}

#[derive(Debug, Clone, Serialize)]
pub struct EgressRule {
    pub security_group_id: Expr,
    pub description: String,
    pub ip_protocol: &'static str,
    pub from_port: u16,
    pub to_port: u16,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub referenced_security_group_id: Option<Expr>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub prefix_list_id: Option<Expr>,
}

impl Block for EgressRule {
    const TYPE: &'static str = "aws_vpc_security_group_egress_rule";
}

#[derive(Clone)]
pub struct VpcProps {
    pub cidr: String,
    /// (availability zone, CIDR) of each private subnet. Zones are named, not looked up, so
    /// a zone AWS adds later never moves a subnet.
    pub private_subnets: Vec<(String, String)>,
    pub flow_log_retention_days: u32,
    /// Encrypts the flow log group.
    pub encryption_key: Option<Key>,
}

/// A VPC of private subnets only: no internet or NAT gateway, so traffic leaves only through
/// the endpoints added to it.
#[derive(Clone)]
pub struct Vpc {
    scope: Scope,
    vpc: Ref<VpcBlock>,
    subnets: Vec<Ref<Subnet>>,
    route_table: Ref<RouteTable>,
}

impl Vpc {
    pub fn new(scope: &Scope, id: impl Into<Id>, props: VpcProps) -> Vpc {
        let scope = scope.child(id);
        let vpc = scope.add(VpcBlock {
            cidr_block: props.cidr,
            enable_dns_support: true,
            enable_dns_hostnames: true,
        });
        scope.add(DefaultSecurityGroup {
            vpc_id: vpc.id(),
            ingress: Vec::new(),
            egress: Vec::new(),
        });
        let route_table = scope.add_suffixed("private", RouteTable { vpc_id: vpc.id() });
        let subnets = props
            .private_subnets
            .into_iter()
            .enumerate()
            .map(|(index, (availability_zone, cidr_block))| {
                let subnet = scope.add_suffixed(
                    &format!("private_{index}"),
                    Subnet {
                        vpc_id: vpc.id(),
                        cidr_block,
                        availability_zone,
                        map_public_ip_on_launch: false,
                    },
                );
                scope.add_suffixed(
                    &format!("private_{index}"),
                    RouteTableAssociation {
                        subnet_id: subnet.id(),
                        route_table_id: route_table.id(),
                    },
                );
                subnet
            })
            .collect();
        flow_logs(
            &scope,
            &vpc,
            props.flow_log_retention_days,
            props.encryption_key,
        );
        Vpc {
            scope,
            vpc,
            subnets,
            route_table,
        }
    }

    pub fn subnet_ids(&self) -> Vec<Expr> {
        self.subnets.iter().map(Ref::id).collect()
    }

    /// A security group in this VPC with no rules: it admits and sends nothing until rules
    /// name a peer.
    pub fn security_group(&self, id: &str, description: &'static str) -> SecurityGroup {
        let scope = self.scope.child(id);
        let group = scope.add(SecurityGroupBlock {
            name: scope.physical_name(),
            description,
            vpc_id: self.vpc.id(),
        });
        SecurityGroup { scope, group }
    }

    /// A gateway endpoint (S3, DynamoDB: free) on the private route table; `clients` may reach
    /// it on 443 through its prefix list.
    pub fn add_gateway_endpoint(&self, service: &str, clients: &SecurityGroup) {
        let scope = self.scope.child(service);
        let endpoint = scope.add(VpcEndpoint {
            vpc_id: self.vpc.id(),
            service_name: service_name(&scope, service),
            vpc_endpoint_type: "Gateway",
            private_dns_enabled: None,
            subnet_ids: Vec::new(),
            security_group_ids: Vec::new(),
            route_table_ids: vec![self.route_table.id()],
        });
        clients.add_egress(
            service,
            &format!("HTTPS to {service} through its gateway endpoint"),
            Peer::PrefixList(endpoint.attr("prefix_list_id")),
        );
    }

    /// Interface endpoints for `services` in every subnet, with private DNS, behind one group
    /// that admits 443 from `clients` only.
    pub fn add_interface_endpoints(&self, services: &[&str], clients: &SecurityGroup) {
        if services.is_empty() {
            return;
        }
        let endpoints = self.security_group(
            "endpoints",
            "Interface endpoints: HTTPS from the groups that use them",
        );
        endpoints.add_ingress(clients, "HTTPS from the endpoints' clients");
        clients.add_egress(
            "endpoints",
            "HTTPS to the interface endpoints",
            Peer::Group(endpoints.id()),
        );
        for service in services {
            let scope = self.scope.child(*service);
            scope.add(VpcEndpoint {
                vpc_id: self.vpc.id(),
                service_name: service_name(&scope, service),
                vpc_endpoint_type: "Interface",
                private_dns_enabled: Some(true),
                subnet_ids: self.subnet_ids(),
                security_group_ids: vec![endpoints.id()],
                route_table_ids: Vec::new(),
            });
        }
    }
}

fn service_name(scope: &Scope, service: &str) -> String {
    format!("com.amazonaws.{}.{service}", scope.region())
}

/// All traffic, accepted and rejected, to an encrypted log group.
fn flow_logs(scope: &Scope, vpc: &Ref<VpcBlock>, retention_days: u32, key: Option<Key>) {
    let scope = scope.child("flow-logs");
    let group = LogGroup::in_scope(
        &scope,
        LogGroupProps {
            name: Some(format!("/vpc/{}", scope.physical_name())),
            retention_days,
            encryption_key: key,
        },
    );
    let role = Role::in_scope(
        scope.clone(),
        RoleProps {
            service: "vpc-flow-logs.amazonaws.com",
            description: "VPC flow logs write to their log group",
        },
    );
    group.grant_write(&role);
    scope.add(FlowLog {
        vpc_id: vpc.id(),
        traffic_type: "ALL",
        log_destination_type: "cloud-watch-logs",
        log_destination: group.arn(),
        iam_role_arn: role.arn(),
        max_aggregation_interval: 60,
    });
}

/// Where an egress rule may send traffic.
pub enum Peer {
    Group(Expr),
    PrefixList(Expr),
}

#[derive(Clone)]
pub struct SecurityGroup {
    scope: Scope,
    group: Ref<SecurityGroupBlock>,
}

impl SecurityGroup {
    pub fn id(&self) -> Expr {
        self.group.id()
    }

    /// Admit HTTPS from `peer`'s members.
    pub fn add_ingress(&self, peer: &SecurityGroup, description: &str) {
        self.scope.add_suffixed(
            &format!("from_{}", peer.scope.address_name()),
            IngressRule {
                security_group_id: self.id(),
                description: description.to_string(),
                ip_protocol: "tcp",
                from_port: HTTPS,
                to_port: HTTPS,
                referenced_security_group_id: peer.id(),
            },
        );
    }

    /// Send HTTPS to `peer`.
    pub fn add_egress(&self, id: &str, description: &str, peer: Peer) {
        let (referenced_security_group_id, prefix_list_id) = match peer {
            Peer::Group(group) => (Some(group), None),
            Peer::PrefixList(list) => (None, Some(list)),
        };
        self.scope.add_suffixed(
            &format!("to_{}", id.replace('-', "_")),
            EgressRule {
                security_group_id: self.id(),
                description: description.to_string(),
                ip_protocol: "tcp",
                from_port: HTTPS,
                to_port: HTTPS,
                referenced_security_group_id,
                prefix_list_id,
            },
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::constructs::testing::{json_of, stack};

    #[test]
    fn a_private_vpc_reaches_aws_only_through_its_endpoints() {
        let stack = stack();
        let vpc = Vpc::new(
            &stack,
            "network",
            VpcProps {
                cidr: "10.0.0.0/16".into(),
                private_subnets: vec![
                    ("eu-west-1a".into(), "10.0.0.0/24".into()),
                    ("eu-west-1b".into(), "10.0.1.0/24".into()),
                ],
                flow_log_retention_days: 30,
                encryption_key: None,
            },
        );
        let eve = vpc.security_group("eve", "EVE");
        vpc.add_gateway_endpoint("s3", &eve);
        vpc.add_interface_endpoints(&["ssm"], &eve);
        let json = json_of(stack);
        let res = &json["resource"];
        for (index, cidr) in ["10.0.0.0/24", "10.0.1.0/24"].iter().enumerate() {
            let subnet = &res["aws_subnet"][format!("network_private_{index}")];
            assert_eq!(subnet["cidr_block"], *cidr);
            assert_eq!(subnet["map_public_ip_on_launch"], false);
            assert_eq!(
                subnet["availability_zone"],
                ["eu-west-1a", "eu-west-1b"][index]
            );
        }
        assert!(res.get("aws_internet_gateway").is_none());
        assert!(res.get("aws_nat_gateway").is_none());
        assert!(res.get("aws_route").is_none(), "no route out");
        let default = &res["aws_default_security_group"]["network"];
        assert_eq!(default["ingress"], serde_json::json!([]));
        assert_eq!(default["egress"], serde_json::json!([]));
        let ssm = &res["aws_vpc_endpoint"]["network_ssm"];
        assert_eq!(ssm["service_name"], "com.amazonaws.eu-west-1.ssm");
        assert_eq!(ssm["private_dns_enabled"], true);
        assert_eq!(
            ssm["security_group_ids"][0],
            "${aws_security_group.network_endpoints.id}"
        );
        assert_eq!(
            res["aws_vpc_endpoint"]["network_s3"]["vpc_endpoint_type"],
            "Gateway"
        );
        let ingress =
            &res["aws_vpc_security_group_ingress_rule"]["network_endpoints_from_network_eve"];
        assert_eq!(ingress["from_port"], 443);
        assert_eq!(
            ingress["referenced_security_group_id"],
            "${aws_security_group.network_eve.id}"
        );
        let to_s3 = &res["aws_vpc_security_group_egress_rule"]["network_eve_to_s3"];
        assert_eq!(
            to_s3["prefix_list_id"],
            "${aws_vpc_endpoint.network_s3.prefix_list_id}"
        );
        let egress = res["aws_vpc_security_group_egress_rule"]
            .as_object()
            .expect("egress rules");
        assert!(egress.values().all(|r| r.get("cidr_ipv4").is_none()));
        let flow = &res["aws_flow_log"]["network_flow_logs"];
        assert_eq!(flow["traffic_type"], "ALL");
        assert_eq!(
            flow["log_destination"],
            "${aws_cloudwatch_log_group.network_flow_logs.arn}"
        );
    }
}
