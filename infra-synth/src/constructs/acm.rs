//! ACM: certificates validated through DNS records in a hosted zone.

use serde::Serialize;

use super::route53::{ForEachRecord, HostedZone};
use super::{Id, Scope};
use crate::tf::{Block, Expr, Lifecycle};

#[derive(Debug, Clone, Serialize)]
pub struct CertificateBlock {
    pub domain_name: String,
    pub subject_alternative_names: Vec<String>,
    pub validation_method: &'static str,
    pub key_algorithm: &'static str,
}

impl Block for CertificateBlock {
    const TYPE: &'static str = "aws_acm_certificate";
}

#[derive(Debug, Clone, Serialize)]
pub struct CertificateValidation {
    pub certificate_arn: Expr,
    pub validation_record_fqdns: Expr,
}

impl Block for CertificateValidation {
    const TYPE: &'static str = "aws_acm_certificate_validation";
}

#[derive(Clone)]
pub struct CertificateProps {
    pub domain_name: String,
    pub alternative_names: Vec<String>,
    /// Writes the DNS validation records here and waits for ACM to issue; `None` uses the
    /// certificate unvalidated (an emulator issues it at once).
    pub validate_in: Option<HostedZone>,
}

/// A DNS-validated RSA-2048 certificate. A renewed one is attached before the old one goes.
/// CloudFront reads certificates only in us-east-1: create it under
/// `scope.in_region("us-east-1")` (the checks refuse it elsewhere).
#[derive(Clone)]
pub struct Certificate {
    arn: Expr,
    region: String,
    address: String,
    path: String,
}

impl Certificate {
    pub fn new(scope: &Scope, id: impl Into<Id>, props: CertificateProps) -> Certificate {
        let scope = scope.child(id);
        let certificate = scope.add(CertificateBlock {
            domain_name: props.domain_name,
            subject_alternative_names: props.alternative_names,
            validation_method: "DNS",
            key_algorithm: "RSA_2048",
        });
        scope.set_lifecycle(&certificate, &Lifecycle::create_before_destroy());
        let arn = match props.validate_in {
            None => certificate.arn(),
            Some(zone) => {
                let options = certificate.traverse("domain_validation_options");
                // The records are global (Route 53) and live with the stack's own provider.
                let records = scope.in_default_region().add_suffixed(
                    "validation",
                    ForEachRecord {
                        for_each: Expr::code_over(
                            format!(
                                "{{for option in {options} : option.domain_name => {{ name = option.resource_record_name, \
                                 record = option.resource_record_value, type = option.resource_record_type }}}}"
                            ),
                            &certificate,
                        ),
                        allow_overwrite: true,
                        zone_id: zone.zone_id(),
                        name: Expr::code("each.value.name"),
                        kind: Expr::code("each.value.type"),
                        records: vec![Expr::code("each.value.record")],
                        ttl: 60,
                    },
                );
                scope
                    .add(CertificateValidation {
                        certificate_arn: certificate.arn(),
                        validation_record_fqdns: records.fqdns(),
                    })
                    .attr("certificate_arn")
            }
        };
        Certificate {
            arn,
            region: scope.region().to_string(),
            address: certificate.address(),
            path: scope.path(),
        }
    }

    /// The ARN to attach: the validated certificate's, unless validation is off.
    pub fn arn(&self) -> Expr {
        self.arn.clone()
    }

    /// (construct path, address, region), for the region rules of its users.
    pub(crate) fn placement(&self) -> (&str, &str, &str) {
        (&self.path, &self.address, &self.region)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::constructs::testing::{json_of, stack};

    fn props(zone: Option<HostedZone>) -> CertificateProps {
        CertificateProps {
            domain_name: "example.com".into(),
            alternative_names: vec!["www.example.com".into()],
            validate_in: zone,
        }
    }

    #[test]
    fn validated_certificate_in_us_east_1() {
        let stack = stack();
        let zone = HostedZone::lookup(&stack, "site", "example.com");
        let certificate =
            Certificate::new(&stack.in_region("us-east-1"), "site", props(Some(zone)));
        assert_eq!(
            certificate.arn().as_template(),
            "${aws_acm_certificate_validation.site.certificate_arn}"
        );
        let json = json_of(stack);
        let cert = &json["resource"]["aws_acm_certificate"]["site"];
        assert_eq!(cert["provider"], "aws.us_east_1");
        assert_eq!(cert["lifecycle"]["create_before_destroy"], true);
        assert_eq!(cert["subject_alternative_names"][0], "www.example.com");
        let record = &json["resource"]["aws_route53_record"]["site_validation"];
        assert!(record.get("provider").is_none());
        assert!(record["for_each"]
            .as_str()
            .expect("str")
            .contains("aws_acm_certificate.site.domain_validation_options"));
        assert_eq!(json["provider"]["aws"][1]["region"], "us-east-1");
    }

    #[test]
    fn without_validation_the_certificate_is_used_as_is() {
        let stack = stack();
        let certificate = Certificate::new(&stack.in_region("us-east-1"), "site", props(None));
        assert_eq!(
            certificate.arn().as_template(),
            "${aws_acm_certificate.site.arn}"
        );
    }
}
