//! Route 53: the hosted zone (looked up or created) and the site's alias records.

use serde::Serialize;

use crate::config::{Stack, ZoneSource};
use crate::tf::{Block, Document, Expr, Ref};

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
        Expr::code(format!("[for record in {} : record.fqdn]", self.address()))
    }
}

/// The zone id, whichever way the zone came to be.
#[derive(Debug, Clone)]
pub struct HostedZone {
    pub zone_id: Expr,
}

pub fn hosted_zone(doc: &mut Document, stack: &Stack) -> anyhow::Result<HostedZone> {
    let zone_id = match stack.dns.zone {
        ZoneSource::Lookup => doc
            .add(
                "site",
                ZoneLookup {
                    name: stack.zone_name().to_string(),
                    private_zone: false,
                },
            )?
            .attr("zone_id"),
        ZoneSource::Create => doc
            .add(
                "site",
                Zone {
                    name: stack.zone_name().to_string(),
                    comment: "CloudForgeX site",
                },
            )?
            .attr("zone_id"),
    };
    Ok(HostedZone { zone_id })
}

/// A and AAAA aliases for the apex and www, pointing at `target`'s (name, zone id).
pub fn site_aliases(
    doc: &mut Document,
    stack: &Stack,
    zone: &HostedZone,
    target_name: Expr,
    target_zone_id: Expr,
) -> anyhow::Result<()> {
    for (label, name) in [("apex", stack.domain.clone()), ("www", stack.www_domain())] {
        for kind in ["A", "AAAA"] {
            doc.add(
                &format!("{label}_{}", kind.to_lowercase()),
                AliasRecord {
                    zone_id: zone.zone_id.clone(),
                    name: name.clone(),
                    kind,
                    alias: Alias {
                        name: target_name.clone(),
                        zone_id: target_zone_id.clone(),
                        evaluate_target_health: false,
                    },
                },
            )?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::test_stack;

    #[test]
    fn lookup_or_create_and_four_aliases() {
        let mut stack = test_stack();
        let mut doc = Document::default();
        let zone = hosted_zone(&mut doc, &stack).expect("zone");
        assert_eq!(
            zone.zone_id.as_template(),
            "${data.aws_route53_zone.site.zone_id}"
        );
        site_aliases(
            &mut doc,
            &stack,
            &zone,
            Expr::lit("d.example"),
            Expr::lit("Z2FDTNDATAQYW2"),
        )
        .expect("aliases");
        let json = doc.to_json("t").expect("json");
        let records = json["resource"]["aws_route53_record"]
            .as_object()
            .expect("records");
        assert_eq!(records.len(), 4);
        assert_eq!(records["www_aaaa"]["name"], "www.example.com");
        assert_eq!(records["www_aaaa"]["type"], "AAAA");

        stack.dns.zone = ZoneSource::Create;
        let mut doc = Document::default();
        let zone = hosted_zone(&mut doc, &stack).expect("zone");
        assert_eq!(
            zone.zone_id.as_template(),
            "${aws_route53_zone.site.zone_id}"
        );
    }
}
