//! CloudFront: the one front door. Static files from S3, `/api/*` to API Gateway with the key
//! added at the edge, strict security headers on every response.

use serde::Serialize;

use super::apigateway::{Api, API_KEY_HEADER};
use super::iam::Statement;
use super::s3::{Bucket, Buckets};
use crate::config::Stack;
use crate::tf::{Block, Document, Expr, Ref};

/// AWS-managed cache policy `Managed-CachingOptimized`.
pub const CACHING_OPTIMIZED: &str = "658327ea-f89d-4fab-a63d-7e88639e58f6";
/// AWS-managed cache policy `Managed-CachingDisabled`.
pub const CACHING_DISABLED: &str = "4135ea2d-6df8-44a3-9df3-4b5a84be39ad";
/// AWS-managed origin request policy `Managed-AllViewerExceptHostHeader` (API Gateway needs its own Host).
pub const ALL_VIEWER_EXCEPT_HOST: &str = "b689b0a8-53d0-40ab-baf2-68738e2966ac";

/// HSTS for two years, the preload list's minimum is one.
pub const HSTS_MAX_AGE_SECONDS: u32 = 63_072_000;

/// Browser features the site never uses.
pub const PERMISSIONS_POLICY: &str =
    "accelerometer=(), camera=(), geolocation=(), gyroscope=(), magnetometer=(), microphone=(), payment=(), usb=()";

const SITE_ORIGIN: &str = "site";
const API_ORIGIN: &str = "api";

#[derive(Debug, Clone, Serialize)]
pub struct OriginAccessControl {
    pub name: String,
    pub description: &'static str,
    pub origin_access_control_origin_type: &'static str,
    pub signing_behavior: &'static str,
    pub signing_protocol: &'static str,
}

impl Block for OriginAccessControl {
    const TYPE: &'static str = "aws_cloudfront_origin_access_control";
}

#[derive(Debug, Clone, Serialize)]
pub struct ResponseHeadersPolicy {
    pub name: String,
    pub comment: &'static str,
    pub security_headers_config: SecurityHeaders,
    pub custom_headers_config: CustomHeaders,
}

#[derive(Debug, Clone, Serialize)]
pub struct SecurityHeaders {
    pub content_security_policy: Csp,
    pub strict_transport_security: Hsts,
    pub content_type_options: Override,
    pub frame_options: FrameOptions,
    pub referrer_policy: ReferrerPolicy,
}

#[derive(Debug, Clone, Serialize)]
pub struct Csp {
    pub content_security_policy: &'static str,
    #[serde(rename = "override")]
    pub override_origin: bool,
}

#[derive(Debug, Clone, Serialize)]
pub struct Hsts {
    pub access_control_max_age_sec: u32,
    pub include_subdomains: bool,
    pub preload: bool,
    #[serde(rename = "override")]
    pub override_origin: bool,
}

#[derive(Debug, Clone, Serialize)]
pub struct Override {
    #[serde(rename = "override")]
    pub override_origin: bool,
}

#[derive(Debug, Clone, Serialize)]
pub struct FrameOptions {
    pub frame_option: &'static str,
    #[serde(rename = "override")]
    pub override_origin: bool,
}

#[derive(Debug, Clone, Serialize)]
pub struct ReferrerPolicy {
    pub referrer_policy: &'static str,
    #[serde(rename = "override")]
    pub override_origin: bool,
}

#[derive(Debug, Clone, Serialize)]
pub struct CustomHeaders {
    pub items: Vec<CustomHeader>,
}

#[derive(Debug, Clone, Serialize)]
pub struct CustomHeader {
    pub header: &'static str,
    pub value: &'static str,
    #[serde(rename = "override")]
    pub override_origin: bool,
}

impl Block for ResponseHeadersPolicy {
    const TYPE: &'static str = "aws_cloudfront_response_headers_policy";
}

#[derive(Debug, Clone, Serialize)]
pub struct Distribution {
    pub comment: String,
    pub enabled: bool,
    pub is_ipv6_enabled: bool,
    pub http_version: &'static str,
    pub price_class: &'static str,
    pub default_root_object: &'static str,
    pub aliases: Vec<String>,
    pub origin: Vec<Origin>,
    pub default_cache_behavior: CacheBehavior,
    pub ordered_cache_behavior: Vec<CacheBehavior>,
    pub custom_error_response: Vec<ErrorResponse>,
    pub logging_config: LoggingConfig,
    pub restrictions: Restrictions,
    pub viewer_certificate: ViewerCertificate,
}

#[derive(Debug, Clone, Serialize)]
pub struct Origin {
    pub origin_id: &'static str,
    pub domain_name: Expr,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub origin_access_control_id: Option<Expr>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub origin_path: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub custom_origin_config: Vec<CustomOriginConfig>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub custom_header: Vec<OriginHeader>,
}

#[derive(Debug, Clone, Serialize)]
pub struct CustomOriginConfig {
    pub http_port: u16,
    pub https_port: u16,
    pub origin_protocol_policy: &'static str,
    pub origin_ssl_protocols: Vec<&'static str>,
}

#[derive(Debug, Clone, Serialize)]
pub struct OriginHeader {
    pub name: &'static str,
    pub value: Expr,
}

#[derive(Debug, Clone, Serialize)]
pub struct CacheBehavior {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub path_pattern: Option<&'static str>,
    pub target_origin_id: &'static str,
    pub viewer_protocol_policy: &'static str,
    pub allowed_methods: Vec<&'static str>,
    pub cached_methods: Vec<&'static str>,
    pub compress: bool,
    pub cache_policy_id: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub origin_request_policy_id: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub response_headers_policy_id: Option<Expr>,
}

#[derive(Debug, Clone, Serialize)]
pub struct ErrorResponse {
    pub error_code: u16,
    pub response_code: u16,
    pub response_page_path: &'static str,
    pub error_caching_min_ttl: u32,
}

#[derive(Debug, Clone, Serialize)]
pub struct LoggingConfig {
    pub bucket: Expr,
    pub prefix: &'static str,
    pub include_cookies: bool,
}

#[derive(Debug, Clone, Serialize)]
pub struct Restrictions {
    pub geo_restriction: GeoRestriction,
}

#[derive(Debug, Clone, Serialize)]
pub struct GeoRestriction {
    pub restriction_type: &'static str,
}

#[derive(Debug, Clone, Serialize)]
pub struct ViewerCertificate {
    pub acm_certificate_arn: Expr,
    pub ssl_support_method: &'static str,
    pub minimum_protocol_version: &'static str,
}

impl Block for Distribution {
    const TYPE: &'static str = "aws_cloudfront_distribution";
}

impl Ref<Distribution> {
    pub fn domain_name(&self) -> Expr {
        self.attr("domain_name")
    }

    pub fn hosted_zone_id(&self) -> Expr {
        self.attr("hosted_zone_id")
    }
}

/// Everything else the distribution points at.
pub struct Targets<'a> {
    pub buckets: &'a Buckets,
    pub api: &'a Api,
    pub certificate_arn: Expr,
}

/// The headers policy, or `None` where the stack turns it off (emulators lack it).
fn headers_policy(doc: &mut Document, stack: &Stack) -> anyhow::Result<Option<Expr>> {
    if !stack.features.response_headers_policy {
        return Ok(None);
    }
    let policy = doc.add(
        "site",
        ResponseHeadersPolicy {
            name: format!("{}-security-headers", stack.prefix()),
            comment: "CSP without unsafe-*, two-year HSTS with preload, no framing or sniffing",
            security_headers_config: SecurityHeaders {
                content_security_policy: Csp {
                    content_security_policy: portfolio::CONTENT_SECURITY_POLICY,
                    override_origin: true,
                },
                strict_transport_security: Hsts {
                    access_control_max_age_sec: HSTS_MAX_AGE_SECONDS,
                    include_subdomains: true,
                    preload: true,
                    override_origin: true,
                },
                content_type_options: Override {
                    override_origin: true,
                },
                frame_options: FrameOptions {
                    frame_option: "DENY",
                    override_origin: true,
                },
                referrer_policy: ReferrerPolicy {
                    referrer_policy: "strict-origin-when-cross-origin",
                    override_origin: true,
                },
            },
            custom_headers_config: CustomHeaders {
                items: vec![CustomHeader {
                    header: "Permissions-Policy",
                    value: PERMISSIONS_POLICY,
                    override_origin: true,
                }],
            },
        },
    )?;
    Ok(Some(policy.id()))
}

pub fn distribution(
    doc: &mut Document,
    stack: &Stack,
    targets: Targets<'_>,
) -> anyhow::Result<Ref<Distribution>> {
    let oac = doc.add(
        "site",
        OriginAccessControl {
            name: format!("{}-site", stack.prefix()),
            description: "CloudFront signs every request to the site bucket",
            origin_access_control_origin_type: "s3",
            signing_behavior: "always",
            signing_protocol: "sigv4",
        },
    )?;
    let headers = headers_policy(doc, stack)?;
    let site_bucket: &Ref<Bucket> = &targets.buckets.site;
    let behavior = |path_pattern, target_origin_id, api: bool| CacheBehavior {
        path_pattern,
        target_origin_id,
        viewer_protocol_policy: if api {
            "https-only"
        } else {
            "redirect-to-https"
        },
        allowed_methods: if api {
            vec!["DELETE", "GET", "HEAD", "OPTIONS", "PATCH", "POST", "PUT"]
        } else {
            vec!["GET", "HEAD"]
        },
        cached_methods: vec!["GET", "HEAD"],
        compress: true,
        cache_policy_id: if api {
            CACHING_DISABLED
        } else {
            CACHING_OPTIMIZED
        },
        origin_request_policy_id: api.then_some(ALL_VIEWER_EXCEPT_HOST),
        response_headers_policy_id: headers.clone(),
    };
    // With OAC and no ListBucket, S3 answers 403 for a missing object: both mean "not found".
    let not_found = |code| ErrorResponse {
        error_code: code,
        response_code: 404,
        response_page_path: "/404.html",
        error_caching_min_ttl: 60,
    };
    doc.add(
        "site",
        Distribution {
            comment: format!("{} ({})", stack.domain, stack.env),
            enabled: true,
            is_ipv6_enabled: true,
            http_version: "http2and3",
            price_class: stack.cdn.price_class.as_str(),
            default_root_object: "index.html",
            aliases: vec![stack.domain.clone(), stack.www_domain()],
            origin: vec![
                Origin {
                    origin_id: SITE_ORIGIN,
                    domain_name: site_bucket.regional_domain_name(),
                    origin_access_control_id: Some(oac.id()),
                    origin_path: None,
                    custom_origin_config: Vec::new(),
                    custom_header: Vec::new(),
                },
                Origin {
                    origin_id: API_ORIGIN,
                    domain_name: targets.api.origin_domain(stack),
                    origin_access_control_id: None,
                    origin_path: Some(format!("/{}", stack.stage_name())),
                    custom_origin_config: vec![CustomOriginConfig {
                        http_port: 80,
                        https_port: 443,
                        origin_protocol_policy: "https-only",
                        origin_ssl_protocols: vec!["TLSv1.2"],
                    }],
                    custom_header: vec![OriginHeader {
                        name: API_KEY_HEADER,
                        value: targets.api.key.value(),
                    }],
                },
            ],
            default_cache_behavior: behavior(None, SITE_ORIGIN, false),
            ordered_cache_behavior: vec![behavior(Some("/api/*"), API_ORIGIN, true)],
            custom_error_response: vec![not_found(403), not_found(404)],
            logging_config: LoggingConfig {
                bucket: targets.buckets.logs.domain_name(),
                prefix: "cloudfront/",
                include_cookies: false,
            },
            restrictions: Restrictions {
                geo_restriction: GeoRestriction {
                    restriction_type: "none",
                },
            },
            viewer_certificate: ViewerCertificate {
                acm_certificate_arn: targets.certificate_arn,
                ssl_support_method: "sni-only",
                minimum_protocol_version: "TLSv1.2_2021",
            },
        },
    )
}

/// Lets only this distribution read the site bucket (OAC signs as the CloudFront service).
pub fn site_read_grant(site: &Ref<Bucket>, distribution: &Ref<Distribution>) -> Statement {
    Statement::allow(
        "CloudFrontRead",
        &["s3:GetObject"],
        vec![site.all_objects_arn()],
    )
    .principal("Service", "cloudfront.amazonaws.com")
    .when("StringEquals", "AWS:SourceArn", distribution.arn())
}

#[cfg(test)]
mod tests {
    use crate::config::test_stack;

    fn distribution_json(stack: &crate::config::Stack) -> serde_json::Value {
        let assembly = crate::synth::assemble(stack).expect("assemble");
        assembly.doc.to_json("t").expect("json")
    }

    #[test]
    fn api_behind_cloudfront_with_key_header_and_strict_headers() {
        let json = distribution_json(&test_stack());
        let dist = &json["resource"]["aws_cloudfront_distribution"]["site"];
        assert_eq!(
            dist["aliases"],
            serde_json::json!(["example.com", "www.example.com"])
        );
        assert_eq!(
            dist["viewer_certificate"]["minimum_protocol_version"],
            "TLSv1.2_2021"
        );
        let api = &dist["origin"][1];
        assert_eq!(api["custom_header"][0]["name"], "x-api-key");
        assert_eq!(
            api["custom_header"][0]["value"],
            "${aws_api_gateway_api_key.cloudfront.value}"
        );
        assert_eq!(dist["ordered_cache_behavior"][0]["path_pattern"], "/api/*");
        assert_eq!(
            dist["ordered_cache_behavior"][0]["cache_policy_id"],
            super::CACHING_DISABLED
        );
        assert_eq!(
            dist["default_cache_behavior"]["viewer_protocol_policy"],
            "redirect-to-https"
        );
        let headers = &json["resource"]["aws_cloudfront_response_headers_policy"]["site"]
            ["security_headers_config"];
        let csp = headers["content_security_policy"]["content_security_policy"]
            .as_str()
            .expect("csp");
        assert_eq!(csp, portfolio::CONTENT_SECURITY_POLICY);
        assert!(!csp.contains("unsafe-inline") && !csp.contains("unsafe-eval"));
        assert_eq!(
            headers["strict_transport_security"]["access_control_max_age_sec"],
            63_072_000
        );
        assert_eq!(headers["strict_transport_security"]["preload"], true);
        assert_eq!(headers["frame_options"]["frame_option"], "DENY");
    }

    #[test]
    fn headers_policy_can_be_turned_off_for_emulators() {
        let mut stack = test_stack();
        stack.features.response_headers_policy = false;
        let json = distribution_json(&stack);
        assert!(json["resource"]
            .get("aws_cloudfront_response_headers_policy")
            .is_none());
        let dist = &json["resource"]["aws_cloudfront_distribution"]["site"];
        assert!(dist["default_cache_behavior"]
            .get("response_headers_policy_id")
            .is_none());
    }
}
