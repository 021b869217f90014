//! CloudFront: the one front door. Static files from S3, `/api/*` to API Gateway with the key
//! added at the edge, a path streamed from a Lambda function URL, strict security headers on
//! every response.

use portfolio::headers;
use serde::Serialize;

use super::acm::Certificate;
use super::core::RegionBound;
use super::iam::Statement;
use super::lambda::FunctionUrl;
use super::s3::Bucket;
use super::wafv2::WebAcl;
use super::{Id, Scope};
use crate::tf::{Block, Expr, Ref};

/// AWS-managed cache policy `Managed-CachingOptimized`.
pub const CACHING_OPTIMIZED: &str = "658327ea-f89d-4fab-a63d-7e88639e58f6";
/// AWS-managed cache policy `Managed-CachingDisabled`.
pub const CACHING_DISABLED: &str = "4135ea2d-6df8-44a3-9df3-4b5a84be39ad";
/// AWS-managed origin request policy `Managed-AllViewerExceptHostHeader` (API Gateway needs its own Host).
pub const ALL_VIEWER_EXCEPT_HOST: &str = "b689b0a8-53d0-40ab-baf2-68738e2966ac";

const SITE_ORIGIN: &str = "site";
const SITE_REPLICA_ORIGIN: &str = "site-replica";
/// The site bucket first, its replica when the first answers with one of [`FAILOVER_STATUS_CODES`].
const SITE_FAILOVER_GROUP: &str = "site-failover";
const API_ORIGIN: &str = "api";
const FUNCTION_URL_ORIGIN: &str = "function-url";

/// Answers from the primary site bucket that send CloudFront to the replica: server errors,
/// and 403/404, which S3 gives through OAC for an object that is not (yet) there.
pub const FAILOVER_STATUS_CODES: &[u16] = &[403, 404, 500, 502, 503, 504];

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
pub struct DistributionBlock {
    pub comment: String,
    pub enabled: bool,
    pub is_ipv6_enabled: bool,
    pub http_version: &'static str,
    pub price_class: &'static str,
    pub default_root_object: &'static str,
    pub aliases: Vec<String>,
    pub origin: Vec<Origin>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub origin_group: Vec<OriginGroup>,
    pub default_cache_behavior: CacheBehavior,
    pub ordered_cache_behavior: Vec<CacheBehavior>,
    pub custom_error_response: Vec<ErrorResponse>,
    pub restrictions: Restrictions,
    pub viewer_certificate: ViewerCertificate,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub web_acl_id: Option<Expr>,
}

#[derive(Debug, Clone, Serialize)]
pub struct OriginGroup {
    pub origin_id: &'static str,
    pub failover_criteria: FailoverCriteria,
    pub member: Vec<OriginGroupMember>,
}

#[derive(Debug, Clone, Serialize)]
pub struct FailoverCriteria {
    pub status_codes: Vec<u16>,
}

#[derive(Debug, Clone, Serialize)]
pub struct OriginGroupMember {
    pub origin_id: &'static str,
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

/// Standard logging (v2): CloudWatch Logs' vended-log delivery, which writes to a bucket with
/// ACLs disabled (the legacy `logging_config` needs them on).
#[derive(Debug, Clone, Serialize)]
pub struct LogDeliverySource {
    pub name: String,
    pub log_type: &'static str,
    pub resource_arn: Expr,
}

impl Block for LogDeliverySource {
    const TYPE: &'static str = "aws_cloudwatch_log_delivery_source";
}

#[derive(Debug, Clone, Serialize)]
pub struct LogDeliveryDestination {
    pub name: String,
    pub output_format: &'static str,
    pub delivery_destination_configuration: Vec<DeliveryDestinationConfiguration>,
}

#[derive(Debug, Clone, Serialize)]
pub struct DeliveryDestinationConfiguration {
    pub destination_resource_arn: Expr,
}

impl Block for LogDeliveryDestination {
    const TYPE: &'static str = "aws_cloudwatch_log_delivery_destination";
}

#[derive(Debug, Clone, Serialize)]
pub struct LogDelivery {
    pub delivery_source_name: Expr,
    pub delivery_destination_arn: Expr,
    pub record_fields: &'static [&'static str],
    /// The delivery service writes only once the bucket policy admits it.
    pub depends_on: Vec<crate::tf::Dependency>,
}

impl Block for LogDelivery {
    const TYPE: &'static str = "aws_cloudwatch_log_delivery";
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

impl Block for DistributionBlock {
    const TYPE: &'static str = "aws_cloudfront_distribution";
}

/// A second origin for API paths: caching off, every method, the viewer's headers except
/// Host, and headers CloudFront adds on the way (e.g. an API key no browser ever sees).
#[derive(Debug, Clone)]
pub struct ApiOrigin {
    pub domain_name: Expr,
    /// Prefix CloudFront adds to the path (e.g. API Gateway's `/<stage>`).
    pub origin_path: String,
    pub path_pattern: &'static str,
    pub headers: Vec<(&'static str, Expr)>,
}

/// A path answered by a Lambda function URL, which CloudFront signs its requests to through an
/// origin access control (so the URL admits this distribution only). Viewers must send a
/// body's SHA-256 in `x-amz-content-sha256`: Lambda takes no unsigned payloads.
#[derive(Clone)]
pub struct FunctionUrlOrigin {
    pub url: FunctionUrl,
    pub path_pattern: &'static str,
}

#[derive(Clone)]
pub struct DistributionProps {
    pub comment: String,
    pub domain_names: Vec<String>,
    /// Must be in us-east-1.
    pub certificate: Certificate,
    pub price_class: &'static str,
    /// Static files, read through an origin access control; only this distribution may.
    pub site: Bucket,
    /// The site bucket's replica in another region, which CloudFront fails over to.
    pub site_replica: Option<Bucket>,
    /// A WAFv2 web ACL in front of every request (us-east-1, CLOUDFRONT scope).
    pub web_acl: Option<WebAcl>,
    pub api: Option<ApiOrigin>,
    /// Matched before `api`, so it may be a path inside the API's pattern.
    pub function_url: Option<FunctionUrlOrigin>,
    /// Standard access logs (v2) into this bucket, under `AWSLogs/<account>/CloudFront/`.
    pub access_logs: Option<Bucket>,
    /// The security-headers policy (CSP, HSTS, ...); an emulator may lack it.
    pub security_headers: bool,
}

/// The site's one front door.
#[derive(Clone)]
pub struct Distribution {
    distribution: Ref<DistributionBlock>,
}

impl Distribution {
    pub fn new(scope: &Scope, id: impl Into<Id>, props: DistributionProps) -> Distribution {
        let scope = scope.child(id);
        let oac = scope.add(OriginAccessControl {
            name: scope.physical_name(),
            description: "CloudFront signs every request to the site bucket",
            origin_access_control_origin_type: "s3",
            signing_behavior: "always",
            signing_protocol: "sigv4",
        });
        let headers = props
            .security_headers
            .then(|| security_headers(&scope).id());
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
        let sites = std::iter::once((SITE_ORIGIN, &props.site))
            .chain(props.site_replica.iter().map(|r| (SITE_REPLICA_ORIGIN, r)));
        let mut origin: Vec<Origin> = sites
            .map(|(origin_id, bucket)| Origin {
                origin_id,
                domain_name: bucket.regional_domain_name(),
                origin_access_control_id: Some(oac.id()),
                origin_path: None,
                custom_origin_config: Vec::new(),
                custom_header: Vec::new(),
            })
            .collect();
        let origin_group: Vec<OriginGroup> = props
            .site_replica
            .iter()
            .map(|_| OriginGroup {
                origin_id: SITE_FAILOVER_GROUP,
                failover_criteria: FailoverCriteria {
                    status_codes: FAILOVER_STATUS_CODES.to_vec(),
                },
                member: [SITE_ORIGIN, SITE_REPLICA_ORIGIN]
                    .map(|origin_id| OriginGroupMember { origin_id })
                    .to_vec(),
            })
            .collect();
        let site_target = if origin_group.is_empty() {
            SITE_ORIGIN
        } else {
            SITE_FAILOVER_GROUP
        };
        let mut ordered_cache_behavior = Vec::new();
        if let Some(function_url) = &props.function_url {
            let lambda_oac = scope.add_suffixed(
                "lambda",
                OriginAccessControl {
                    name: format!("{}-lambda", scope.physical_name()),
                    description: "CloudFront signs every request to the function URL",
                    origin_access_control_origin_type: "lambda",
                    signing_behavior: "always",
                    signing_protocol: "sigv4",
                },
            );
            origin.push(Origin {
                origin_id: FUNCTION_URL_ORIGIN,
                domain_name: function_url.url.domain_name(),
                origin_access_control_id: Some(lambda_oac.id()),
                origin_path: None,
                custom_origin_config: vec![https_only_origin()],
                custom_header: Vec::new(),
            });
            ordered_cache_behavior.push(CacheBehavior {
                // Compressing would hold a stream's events back to fill compression blocks.
                compress: false,
                ..behavior(Some(function_url.path_pattern), FUNCTION_URL_ORIGIN, true)
            });
        }
        if let Some(api) = &props.api {
            origin.push(Origin {
                origin_id: API_ORIGIN,
                domain_name: api.domain_name.clone(),
                origin_access_control_id: None,
                origin_path: Some(api.origin_path.clone()),
                custom_origin_config: vec![https_only_origin()],
                custom_header: api
                    .headers
                    .iter()
                    .map(|(name, value)| OriginHeader {
                        name,
                        value: value.clone(),
                    })
                    .collect(),
            });
            ordered_cache_behavior.push(behavior(Some(api.path_pattern), API_ORIGIN, true));
        }
        let (cert_path, cert_address, cert_region) = props.certificate.placement();
        let bound = RegionBound {
            path: cert_path.to_string(),
            address: cert_address.to_string(),
            what: "a CloudFront certificate",
            required: "us-east-1",
            actual: cert_region.to_string(),
        };
        scope.with_tree(|tree| tree.region_bound.push(bound));
        let distribution = scope.add(DistributionBlock {
            comment: props.comment,
            enabled: true,
            is_ipv6_enabled: true,
            http_version: "http2and3",
            price_class: props.price_class,
            default_root_object: "index.html",
            aliases: props.domain_names,
            origin,
            origin_group,
            default_cache_behavior: behavior(None, site_target, false),
            ordered_cache_behavior,
            custom_error_response: vec![not_found(403), not_found(404)],
            restrictions: Restrictions {
                geo_restriction: GeoRestriction {
                    restriction_type: "none",
                },
            },
            viewer_certificate: ViewerCertificate {
                acm_certificate_arn: props.certificate.arn(),
                ssl_support_method: "sni-only",
                minimum_protocol_version: "TLSv1.2_2021",
            },
            web_acl_id: props.web_acl.as_ref().map(WebAcl::arn),
        });
        // Only this distribution may read the site bucket and its replica (OAC signs as the
        // CloudFront service).
        for bucket in std::iter::once(&props.site).chain(&props.site_replica) {
            bucket.add_to_resource_policy(
                Statement::allow(
                    "CloudFrontRead",
                    &["s3:GetObject"],
                    vec![bucket.all_objects_arn()],
                )
                .principal("Service", "cloudfront.amazonaws.com")
                .when("StringEquals", "AWS:SourceArn", distribution.arn()),
            );
        }
        if let Some(function_url) = &props.function_url {
            function_url
                .url
                .allow_cloudfront(&scope.address_name(), documented_arn(&scope, &distribution));
        }
        if let Some(logs) = &props.access_logs {
            deliver_access_logs(&scope, &distribution, logs);
        }
        Distribution { distribution }
    }

    pub fn id(&self) -> Expr {
        self.distribution.id()
    }

    pub fn domain_name(&self) -> Expr {
        self.distribution.attr("domain_name")
    }

    pub fn hosted_zone_id(&self) -> Expr {
        self.distribution.attr("hosted_zone_id")
    }
}

/// The distribution's ARN as CloudFront documents it (global: no region), built from its id:
/// moto's `arn` attribute drops the empty region field, which the log delivery source and
/// Lambda's permissions refuse as malformed.
fn documented_arn(scope: &Scope, distribution: &Ref<DistributionBlock>) -> Expr {
    Expr::concat([
        &Expr::lit("arn:aws:cloudfront::"),
        &super::iam::account_id(scope),
        &Expr::lit(":distribution/"),
        &distribution.id(),
    ])
}

/// An origin CloudFront reaches over TLS 1.2 only.
fn https_only_origin() -> CustomOriginConfig {
    CustomOriginConfig {
        http_port: 80,
        https_port: 443,
        origin_protocol_policy: "https-only",
        origin_ssl_protocols: vec!["TLSv1.2"],
    }
}

/// Every field of CloudFront's standard log but `cs(Cookie)`: visitors' cookies stay out of
/// the logs, as `include_cookies = false` kept them out of the legacy ones.
pub const ACCESS_LOG_FIELDS: &[&str] = &[
    "date",
    "time",
    "x-edge-location",
    "sc-bytes",
    "c-ip",
    "cs-method",
    "cs(Host)",
    "cs-uri-stem",
    "sc-status",
    "cs(Referer)",
    "cs(User-Agent)",
    "cs-uri-query",
    "x-edge-result-type",
    "x-edge-request-id",
    "x-host-header",
    "cs-protocol",
    "cs-bytes",
    "time-taken",
    "x-forwarded-for",
    "ssl-protocol",
    "ssl-cipher",
    "x-edge-response-result-type",
    "cs-protocol-version",
    "fle-status",
    "fle-encrypted-fields",
    "c-port",
    "time-to-first-byte",
    "x-edge-detailed-result-type",
    "sc-content-type",
    "sc-content-len",
    "sc-range-start",
    "sc-range-end",
];

/// Access logs through CloudWatch Logs' delivery (in us-east-1, where CloudFront's logs are
/// sourced) into `logs`, whose policy admits the delivery service for this source only.
fn deliver_access_logs(scope: &Scope, distribution: &Ref<DistributionBlock>, logs: &Bucket) {
    let edge = scope.in_region("us-east-1");
    let account_id = super::iam::account_id(scope);
    let name = format!("{}-access-logs", scope.physical_name());
    let distribution_arn = documented_arn(scope, distribution);
    let source = edge.add_suffixed(
        "access_logs",
        LogDeliverySource {
            name: name.clone(),
            log_type: "ACCESS_LOGS",
            resource_arn: distribution_arn,
        },
    );
    let destination = edge.add_suffixed(
        "access_logs",
        LogDeliveryDestination {
            name,
            output_format: "json",
            delivery_destination_configuration: vec![DeliveryDestinationConfiguration {
                destination_resource_arn: logs.arn(),
            }],
        },
    );
    logs.add_to_resource_policy(
        Statement::allow(
            "CloudFrontLogDelivery",
            &["s3:PutObject"],
            vec![Expr::concat([
                &logs.arn(),
                &Expr::lit("/AWSLogs/"),
                &account_id,
                &Expr::lit("/CloudFront/*"),
            ])],
        )
        .principal("Service", "delivery.logs.amazonaws.com")
        .when("StringEquals", "aws:SourceAccount", account_id.clone())
        .when("ArnLike", "aws:SourceArn", source.arn()),
    );
    edge.add_suffixed(
        "access_logs",
        LogDelivery {
            delivery_source_name: source.attr("name"),
            delivery_destination_arn: destination.arn(),
            record_fields: ACCESS_LOG_FIELDS,
            depends_on: vec![logs.policy_dependency()],
        },
    );
}

/// CSP without unsafe-*, two-year HSTS with preload, no framing or sniffing.
fn security_headers(scope: &Scope) -> Ref<ResponseHeadersPolicy> {
    scope.add(ResponseHeadersPolicy {
        name: format!("{}-security-headers", scope.physical_name()),
        comment: "CSP without unsafe-*, two-year HSTS with preload, no framing or sniffing",
        security_headers_config: SecurityHeaders {
            content_security_policy: Csp {
                content_security_policy: headers::CONTENT_SECURITY_POLICY,
                override_origin: true,
            },
            strict_transport_security: Hsts {
                access_control_max_age_sec: headers::HSTS_MAX_AGE_SECONDS,
                include_subdomains: true,
                preload: true,
                override_origin: true,
            },
            content_type_options: Override {
                override_origin: true,
            },
            frame_options: FrameOptions {
                frame_option: headers::FRAME_OPTIONS,
                override_origin: true,
            },
            referrer_policy: ReferrerPolicy {
                referrer_policy: headers::REFERRER_POLICY,
                override_origin: true,
            },
        },
        custom_headers_config: CustomHeaders {
            items: vec![CustomHeader {
                header: "Permissions-Policy",
                value: headers::PERMISSIONS_POLICY,
                override_origin: true,
            }],
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::constructs::acm::CertificateProps;
    use crate::constructs::s3::BucketProps;
    use crate::constructs::testing::stack;

    /// What a test distribution has beyond the site and the API.
    struct Variant {
        security_headers: bool,
        /// Where its certificate is issued.
        region: &'static str,
        failover: bool,
        streamed: bool,
        access_logs: bool,
    }

    impl Default for Variant {
        fn default() -> Self {
            Self {
                security_headers: true,
                region: "us-east-1",
                failover: false,
                streamed: false,
                access_logs: false,
            }
        }
    }

    fn build(variant: Variant) -> crate::constructs::Assembly {
        let stack = stack();
        let function_url = variant.streamed.then(|| {
            let code = crate::constructs::lambda::Code {
                package: "p",
                binary: "bootstrap",
                artifact_bucket: "artifacts".into(),
            };
            let function = crate::constructs::lambda::Function::new(
                &stack,
                "streamer",
                crate::constructs::lambda::FunctionProps::new("test", code),
            );
            FunctionUrlOrigin {
                url: function.add_url(crate::constructs::lambda::InvokeMode::ResponseStream),
                path_pattern: "/api/chat/stream",
            }
        });
        let site = Bucket::new(&stack, "site", BucketProps::default());
        let site_replica = variant.failover.then(|| {
            Bucket::new(
                &stack.child("dr").in_region("eu-west-2"),
                "site",
                BucketProps::default(),
            )
        });
        let access_logs = variant
            .access_logs
            .then(|| Bucket::new(&stack, "logs", BucketProps::default()));
        let certificate = Certificate::new(
            &stack.in_region(variant.region),
            "site",
            CertificateProps {
                domain_name: "example.com".into(),
                alternative_names: Vec::new(),
                validate_in: None,
            },
        );
        Distribution::new(
            &stack,
            "site",
            DistributionProps {
                comment: "test".into(),
                domain_names: vec!["example.com".into()],
                certificate,
                price_class: "PriceClass_100",
                site,
                api: Some(ApiOrigin {
                    domain_name: Expr::lit("api.example"),
                    origin_path: "/test".into(),
                    path_pattern: "/api/*",
                    headers: vec![("x-api-key", Expr::lit("k"))],
                }),
                function_url,
                access_logs,
                security_headers: variant.security_headers,
                site_replica,
                web_acl: None,
            },
        );
        stack.finish()
    }

    #[test]
    fn api_behind_cloudfront_with_key_header_and_strict_headers() {
        let assembly = build(Variant::default());
        assert!(assembly.problems.is_empty(), "{:?}", assembly.problems);
        let json = assembly.doc.to_json("t").expect("json");
        let dist = &json["resource"]["aws_cloudfront_distribution"]["site"];
        assert_eq!(
            dist["viewer_certificate"]["minimum_protocol_version"],
            "TLSv1.2_2021"
        );
        let api = &dist["origin"][1];
        assert_eq!(api["custom_header"][0]["name"], "x-api-key");
        assert_eq!(dist["ordered_cache_behavior"][0]["path_pattern"], "/api/*");
        assert_eq!(
            dist["ordered_cache_behavior"][0]["cache_policy_id"],
            CACHING_DISABLED
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
        assert_eq!(headers["frame_options"]["frame_option"], "DENY");
        // What eve-server sends when it serves the site itself, from the same definitions.
        assert_eq!(
            headers["referrer_policy"]["referrer_policy"],
            headers::REFERRER_POLICY
        );
        let custom = &json["resource"]["aws_cloudfront_response_headers_policy"]["site"]
            ["custom_headers_config"]["items"][0];
        assert_eq!(custom["header"], "Permissions-Policy");
        assert_eq!(custom["value"], headers::PERMISSIONS_POLICY);
        let read = &json["data"]["aws_iam_policy_document"]["site_policy"]["statement"][1];
        assert_eq!(read["sid"], "CloudFrontRead");
        assert_eq!(
            read["condition"][0]["values"][0],
            "${aws_cloudfront_distribution.site.arn}"
        );
    }

    #[test]
    fn a_function_url_path_is_signed_by_a_lambda_oac_and_matched_before_the_api() {
        let assembly = build(Variant {
            streamed: true,
            ..Variant::default()
        });
        assert!(assembly.problems.is_empty(), "{:?}", assembly.problems);
        let json = assembly.doc.to_json("t").expect("json");
        let res = &json["resource"];
        let dist = &res["aws_cloudfront_distribution"]["site"];
        let first = &dist["ordered_cache_behavior"][0];
        assert_eq!(first["path_pattern"], "/api/chat/stream");
        assert_eq!(first["target_origin_id"], FUNCTION_URL_ORIGIN);
        assert_eq!(first["compress"], false);
        assert_eq!(first["origin_request_policy_id"], ALL_VIEWER_EXCEPT_HOST);
        assert_eq!(dist["ordered_cache_behavior"][1]["path_pattern"], "/api/*");
        let origin = dist["origin"]
            .as_array()
            .and_then(|o| o.iter().find(|o| o["origin_id"] == FUNCTION_URL_ORIGIN))
            .expect("function URL origin");
        assert_eq!(
            origin["domain_name"],
            "${split(\"/\", aws_lambda_function_url.streamer.function_url)[2]}"
        );
        assert_eq!(
            origin["origin_access_control_id"],
            "${aws_cloudfront_origin_access_control.site_lambda.id}"
        );
        let oac = &res["aws_cloudfront_origin_access_control"]["site_lambda"];
        assert_eq!(oac["origin_access_control_origin_type"], "lambda");
        assert_eq!(oac["signing_behavior"], "always");
        let url = &res["aws_lambda_function_url"]["streamer"];
        assert_eq!(url["authorization_type"], "AWS_IAM");
        assert_eq!(url["invoke_mode"], "RESPONSE_STREAM");
        let permissions = &res["aws_lambda_permission"];
        let by_url = &permissions["site_invokes_streamer_url"];
        assert_eq!(by_url["action"], "lambda:InvokeFunctionUrl");
        assert_eq!(by_url["function_url_auth_type"], "AWS_IAM");
        let invoke = &permissions["site_invokes_streamer"];
        assert_eq!(invoke["action"], "lambda:InvokeFunction");
        for permission in [by_url, invoke] {
            assert_eq!(permission["principal"], "cloudfront.amazonaws.com");
            assert_eq!(
                permission["source_arn"],
                "arn:aws:cloudfront::${data.aws_caller_identity.current.account_id}:distribution/${aws_cloudfront_distribution.site.id}"
            );
        }
    }

    #[test]
    fn the_site_fails_over_to_its_replica_which_only_this_distribution_reads() {
        let json = build(Variant {
            failover: true,
            ..Variant::default()
        })
        .doc
        .to_json("t")
        .expect("json");
        let dist = &json["resource"]["aws_cloudfront_distribution"]["site"];
        assert_eq!(dist["origin"][1]["origin_id"], "site-replica");
        assert_eq!(
            dist["origin"][1]["domain_name"],
            "${aws_s3_bucket.dr_site.bucket_regional_domain_name}"
        );
        let group = &dist["origin_group"][0];
        assert_eq!(group["member"][0]["origin_id"], "site");
        assert_eq!(group["member"][1]["origin_id"], "site-replica");
        assert_eq!(
            group["failover_criteria"]["status_codes"],
            serde_json::json!([403, 404, 500, 502, 503, 504])
        );
        assert_eq!(
            dist["default_cache_behavior"]["target_origin_id"],
            "site-failover"
        );
        let read = &json["data"]["aws_iam_policy_document"]["dr_site_policy"]["statement"][1];
        assert_eq!(read["sid"], "CloudFrontRead");
        assert_eq!(
            read["condition"][0]["values"][0],
            "${aws_cloudfront_distribution.site.arn}"
        );
        let single = build(Variant::default()).doc.to_json("t").expect("json");
        let dist = &single["resource"]["aws_cloudfront_distribution"]["site"];
        assert!(dist.get("origin_group").is_none());
        assert_eq!(dist["default_cache_behavior"]["target_origin_id"], "site");
    }

    #[test]
    fn access_logs_go_through_standard_logging_v2_without_cookies() {
        let assembly = build(Variant {
            access_logs: true,
            ..Variant::default()
        });
        assert!(assembly.problems.is_empty(), "{:?}", assembly.problems);
        let json = assembly.doc.to_json("t").expect("json");
        let res = &json["resource"];
        assert!(res["aws_cloudfront_distribution"]["site"]
            .get("logging_config")
            .is_none());
        let source = &res["aws_cloudwatch_log_delivery_source"]["site_access_logs"];
        assert_eq!(source["provider"], "aws.us_east_1");
        assert_eq!(source["log_type"], "ACCESS_LOGS");
        let delivery = &res["aws_cloudwatch_log_delivery"]["site_access_logs"];
        let fields = delivery["record_fields"].as_array().expect("fields");
        assert!(!fields.contains(&serde_json::json!("cs(Cookie)")));
        assert_eq!(delivery["depends_on"][0], "aws_s3_bucket_policy.logs");
        let policy = &json["data"]["aws_iam_policy_document"]["logs_policy"]["statement"][1];
        assert_eq!(policy["sid"], "CloudFrontLogDelivery");
        assert_eq!(
            policy["principals"][0]["identifiers"][0],
            "delivery.logs.amazonaws.com"
        );
    }

    #[test]
    fn headers_policy_can_be_turned_off_for_emulators() {
        let json = build(Variant {
            security_headers: false,
            ..Variant::default()
        })
        .doc
        .to_json("t")
        .expect("json");
        assert!(json["resource"]
            .get("aws_cloudfront_response_headers_policy")
            .is_none());
    }

    #[test]
    fn a_certificate_outside_us_east_1_is_refused() {
        let problems = build(Variant {
            region: "eu-west-1",
            ..Variant::default()
        })
        .problems;
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert!(problems[0].message.contains("us-east-1"), "{problems:?}");
    }
}
