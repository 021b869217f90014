//! ACM: the site certificate, in us-east-1 because CloudFront only reads certificates there.

use serde::Serialize;

use super::route53::{ForEachRecord, HostedZone};
use crate::config::Stack;
use crate::tf::{Block, CreateBeforeDestroy, Document, Expr, ProviderRef, CREATE_BEFORE_DESTROY};

/// The provider alias every us-east-1 resource uses.
pub const US_EAST_1: &str = "us_east_1";

#[derive(Debug, Clone, Serialize)]
pub struct Certificate {
    pub provider: ProviderRef,
    pub domain_name: String,
    pub subject_alternative_names: Vec<String>,
    pub validation_method: &'static str,
    pub key_algorithm: &'static str,
    /// A renewed certificate is attached before the old one goes.
    pub lifecycle: CreateBeforeDestroy,
}

impl Block for Certificate {
    const TYPE: &'static str = "aws_acm_certificate";
}

#[derive(Debug, Clone, Serialize)]
pub struct CertificateValidation {
    pub provider: ProviderRef,
    pub certificate_arn: Expr,
    pub validation_record_fqdns: Expr,
}

impl Block for CertificateValidation {
    const TYPE: &'static str = "aws_acm_certificate_validation";
}

/// The certificate ARN CloudFront should use: the validated one unless validation is off.
pub fn certificate(doc: &mut Document, stack: &Stack, zone: &HostedZone) -> anyhow::Result<Expr> {
    let cert = doc.add(
        "site",
        Certificate {
            provider: ProviderRef::aws_alias(US_EAST_1),
            domain_name: stack.domain.clone(),
            subject_alternative_names: vec![stack.www_domain()],
            validation_method: "DNS",
            key_algorithm: "RSA_2048",
            lifecycle: CREATE_BEFORE_DESTROY,
        },
    )?;
    if !stack.features.certificate_validation {
        return Ok(cert.arn());
    }
    let options = cert.traverse("domain_validation_options");
    let records = doc.add(
        "certificate_validation",
        ForEachRecord {
            for_each: Expr::code(format!(
                "{{for option in {options} : option.domain_name => {{ name = option.resource_record_name, \
                 record = option.resource_record_value, type = option.resource_record_type }}}}"
            )),
            allow_overwrite: true,
            zone_id: zone.zone_id.clone(),
            name: Expr::code("each.value.name"),
            kind: Expr::code("each.value.type"),
            records: vec![Expr::code("each.value.record")],
            ttl: 60,
        },
    )?;
    let validation = doc.add(
        "site",
        CertificateValidation {
            provider: ProviderRef::aws_alias(US_EAST_1),
            certificate_arn: cert.arn(),
            validation_record_fqdns: records.fqdns(),
        },
    )?;
    Ok(validation.attr("certificate_arn"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::test_stack;

    #[test]
    fn validated_certificate_in_us_east_1() {
        let mut stack = test_stack();
        let zone = HostedZone {
            zone_id: Expr::lit("Z1"),
        };
        let mut doc = Document::default();
        let arn = certificate(&mut doc, &stack, &zone).expect("cert");
        assert_eq!(
            arn.as_template(),
            "${aws_acm_certificate_validation.site.certificate_arn}"
        );
        let json = doc.to_json("t").expect("json");
        let cert = &json["resource"]["aws_acm_certificate"]["site"];
        assert_eq!(cert["provider"], "aws.us_east_1");
        assert_eq!(cert["lifecycle"]["create_before_destroy"], true);
        assert_eq!(cert["subject_alternative_names"][0], "www.example.com");
        let record = &json["resource"]["aws_route53_record"]["certificate_validation"];
        assert!(record["for_each"]
            .as_str()
            .expect("str")
            .contains("aws_acm_certificate.site.domain_validation_options"));

        stack.features.certificate_validation = false;
        let mut doc = Document::default();
        let arn = certificate(&mut doc, &stack, &zone).expect("cert");
        assert_eq!(arn.as_template(), "${aws_acm_certificate.site.arn}");
    }
}
