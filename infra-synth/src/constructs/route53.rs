//! Route 53: the hosted zone (looked up or created) and the site's alias records.

use serde::Serialize;

use super::{Id, Scope};
use crate::tf::{Block, Expr, Ref};

#[derive(Debug, Clone, Serialize)]
pub struct Zone {
    pub name: String,
    pub comment: &'static str,
}

impl Block for Zone {
    const TYPE: &'static str = "aws_route53_zone";
}

#[derive(Debug, Clone, Serialize)]
pub struct ZoneLookup {
    pub name: String,
    pub private_zone: bool,
}

impl Block for ZoneLookup {
    const TYPE: &'static str = "aws_route53_zone";
    const DATA: bool = true;
}

/// An alias record (A or AAAA) pointing at another AWS endpoint.
#[derive(Debug, Clone, Serialize)]
pub struct AliasRecord {
    pub zone_id: Expr,
    pub name: String,
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub alias: Alias,
}

#[derive(Debug, Clone, Serialize)]
pub struct Alias {
    pub name: Expr,
    pub zone_id: Expr,
    pub evaluate_target_health: bool,
}

impl Block for AliasRecord {
    const TYPE: &'static str = "aws_route53_record";
}

/// One record per entry of a `for_each` map whose values carry `name`, `type` and `record`.
#[derive(Debug, Clone, Serialize)]
pub struct ForEachRecord {
    pub for_each: Expr,
    pub allow_overwrite: bool,
    pub zone_id: Expr,
    pub name: Expr,
    #[serde(rename = "type")]
    pub kind: Expr,
    pub records: Vec<Expr>,
    pub ttl: u32,
}

impl Block for ForEachRecord {
    const TYPE: &'static str = "aws_route53_record";
}

impl Ref<ForEachRecord> {
    /// `[for r in <records> : r.fqdn]`, e.g. for certificate validation.
    pub fn fqdns(&self) -> Expr {
        Expr::code_over(
            format!("[for record in {} : record.fqdn]", self.address()),
            self,
        )
    }
}

/// A public hosted zone, looked up or created by the stack.
#[derive(Debug, Clone)]
pub struct HostedZone {
    zone_id: Expr,
}

impl HostedZone {
    /// An existing public zone (the registrar already delegates to it).
    pub fn lookup(scope: &Scope, id: impl Into<Id>, name: &str) -> HostedZone {
        let zone = scope.child(id).add(ZoneLookup {
            name: name.to_string(),
            private_zone: false,
        });
        HostedZone {
            zone_id: zone.attr("zone_id"),
        }
    }

    /// A zone the stack creates.
    pub fn create(
        scope: &Scope,
        id: impl Into<Id>,
        name: &str,
        comment: &'static str,
    ) -> HostedZone {
        let zone = scope.child(id).add(Zone {
            name: name.to_string(),
            comment,
        });
        HostedZone {
            zone_id: zone.attr("zone_id"),
        }
    }

    pub fn zone_id(&self) -> Expr {
        self.zone_id.clone()
    }
}

/// What an alias record points at: an AWS endpoint's DNS name and hosted zone id.
#[derive(Debug, Clone)]
pub struct AliasTarget {
    pub name: Expr,
    pub zone_id: Expr,
}

/// A and AAAA alias records for `name` (`<id>_a`, `<id>_aaaa`).
pub fn alias_records(
    scope: &Scope,
    id: impl Into<Id>,
    zone: &HostedZone,
    name: &str,
    target: &AliasTarget,
) {
    let scope = scope.child(id);
    for kind in ["A", "AAAA"] {
        scope.add_suffixed(
            &kind.to_lowercase(),
            AliasRecord {
                zone_id: zone.zone_id(),
                name: name.to_string(),
                kind,
                alias: Alias {
                    name: target.name.clone(),
                    zone_id: target.zone_id.clone(),
                    evaluate_target_health: false,
                },
            },
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::constructs::testing::{json_of, stack};

    #[test]
    fn lookup_or_create_and_aliases() {
        let stack = stack();
        let zone = HostedZone::lookup(&stack, "site", "example.com");
        assert_eq!(
            zone.zone_id().as_template(),
            "${data.aws_route53_zone.site.zone_id}"
        );
        let target = AliasTarget {
            name: Expr::lit("d.example"),
            zone_id: Expr::lit("Z2FDTNDATAQYW2"),
        };
        alias_records(&stack, "apex", &zone, "example.com", &target);
        alias_records(&stack, "www", &zone, "www.example.com", &target);
        let created = HostedZone::create(&stack, "other", "example.org", "test");
        assert_eq!(
            created.zone_id().as_template(),
            "${aws_route53_zone.other.zone_id}"
        );
        let json = json_of(stack);
        let records = json["resource"]["aws_route53_record"]
            .as_object()
            .expect("records");
        assert_eq!(records.len(), 4);
        assert_eq!(records["www_aaaa"]["name"], "www.example.com");
        assert_eq!(records["www_aaaa"]["type"], "AAAA");
    }
}
