//! How each resource type turns into priced quantities. One function per service; every
//! managed resource is either priced here, listed as free in the table, or reported unpriced.

use std::borrow::Cow;

use serde_json::Value;

use super::model::{block_count, blocks, number, Model, Resource};
use super::prices::{PriceTable, GLOBAL};
use super::usage::{
    Bound, Usage, ACCESS_LOG_RECORD_BYTES, API_RESPONSE_BYTES, DAYS_PER_MONTH, GB, HOURS_PER_MONTH,
    SECONDS_PER_MONTH,
};
use super::{Draft, Unpriced};

/// Bytes an API request sends through each interface endpoint the function uses.
const ENDPOINT_BYTES_PER_REQUEST: f64 = 4_096.0;
/// Flow-log records one API request leaves (the function's connections to its endpoints).
const FLOW_RECORDS_PER_REQUEST: f64 = 6.0;
const FLOW_RECORD_BYTES: f64 = 150.0;
/// KMS calls per chat on the table's key. DynamoDB caches table keys for minutes, so this is
/// an upper estimate.
const KMS_REQUESTS_PER_CHAT: f64 = 1.0;
/// Email notifications an alarm subscription gets a month (alarms notify on ALARM and OK).
const ALARM_EMAILS_PER_MONTH: f64 = 20.0;
/// Images ECR keeps when the repository has no count rule.
const DEFAULT_IMAGES_KEPT: f64 = 30.0;

/// What the rules make of a model.
pub(super) struct Priced {
    pub drafts: Vec<Draft>,
    pub unpriced: Vec<Unpriced>,
    /// Usage no configured limit bounds, as `service: item`.
    pub unbounded: Vec<String>,
}

pub(super) fn price(table: &PriceTable, model: &Model, usage: &Usage<'_>) -> Priced {
    let mut rules = Rules {
        table,
        model,
        usage,
        priced: Priced {
            drafts: Vec::new(),
            unpriced: Vec::new(),
            unbounded: Vec::new(),
        },
    };
    for resource in &model.resources {
        rules.resource(resource);
    }
    rules.bedrock();
    let mut priced = rules.priced;
    priced.unbounded.sort();
    priced.unbounded.dedup();
    priced
}

struct Rules<'a> {
    table: &'a PriceTable,
    model: &'a Model<'a>,
    usage: &'a Usage<'a>,
    priced: Priced,
}

/// Whether `function` runs EVE's streaming handler, the one the widget's chats reach.
fn is_streaming(function: &Resource) -> bool {
    function.values["handler"] == eve_contract::handlers::STREAMING
}

/// How a quantity behaves at worst.
#[derive(Clone)]
enum Worst {
    /// The same: a key-month, an hour count, a deploy.
    Fixed,
    /// Grows with visitors and is bounded by a limit.
    Bounded(Bound),
    /// Grows with visitors and nothing bounds it.
    Unbounded,
}

impl Rules<'_> {
    fn resource(&mut self, r: &Resource) {
        match r.kind.as_str() {
            "aws_lambda_function" => self.lambda(r),
            "aws_api_gateway_rest_api" => self.api_gateway(r),
            "aws_cloudfront_distribution" => self.cloudfront(r),
            "aws_s3_bucket" => self.bucket(r),
            "aws_s3_bucket_replication_configuration" => self.replication(r),
            "aws_dynamodb_table" => self.table(r),
            "aws_kms_key" => self.key(r),
            "aws_cloudwatch_metric_alarm" => self.alarm(r),
            "aws_cloudwatch_dashboard" => {
                self.add("dashboards", r, "cloudwatch.dashboard", 1.0, Worst::Fixed)
            }
            "aws_cloudwatch_log_group" => self.log_group(r),
            "aws_sns_topic_subscription" => self.subscription(r),
            "aws_route53_zone" => {
                self.add("hosted zone", r, "route53.hosted_zone", 1.0, Worst::Fixed)
            }
            "aws_route53_record" => self.record(r),
            "aws_acm_certificate" => self.add(
                "public certificate",
                r,
                "acm.public_certificate",
                1.0,
                Worst::Fixed,
            ),
            "aws_ssm_parameter" => self.parameter(r),
            "aws_ecr_repository" => self.repository(r),
            "aws_wafv2_web_acl" => self.web_acl(r),
            "aws_vpc_endpoint" => self.endpoint(r),
            "aws_budgets_budget" => self.add("cost budget", r, "budgets.budget", 1.0, Worst::Fixed),
            kind if self.table.is_free_type(kind) => {}
            kind => self.unpriced(r, format!("the price table has no rule for `{kind}`")),
        }
    }

    /// Adds `quantity` of price `id` in the resource's region (or globally), under the
    /// resource's service.
    fn add(&mut self, item: &str, r: &Resource, id: &str, quantity: f64, worst: Worst) {
        self.add_in(item, r, id, &r.region.clone(), quantity, worst);
    }

    fn add_in(
        &mut self,
        item: &str,
        r: &Resource,
        id: &str,
        region: &str,
        quantity: f64,
        worst: Worst,
    ) {
        let service = crate::graph::service_of(&r.address);
        self.add_priced(service, item, r, id, region, quantity, worst);
    }

    #[allow(clippy::too_many_arguments)]
    fn add_priced(
        &mut self,
        service: &'static str,
        item: &str,
        r: &Resource,
        id: &str,
        region: &str,
        quantity: f64,
        worst: Worst,
    ) {
        let price = self
            .table
            .get(id, region)
            .or_else(|missing| self.table.get(id, GLOBAL).map_err(|_| missing));
        // A line in another region than the stack's says where.
        let item = if region == self.usage.stack.region
            || price
                .as_ref()
                .is_ok_and(|p| p.regions.iter().any(|r| r == GLOBAL))
        {
            item.to_string()
        } else {
            format!("{item} ({region})")
        };
        match price {
            Ok(price) => {
                let (bound, scales) = match worst {
                    Worst::Fixed => (None, false),
                    Worst::Bounded(bound) => (Some(bound), true),
                    Worst::Unbounded => {
                        self.note_unbounded(service, &item);
                        (None, true)
                    }
                };
                self.priced.drafts.push(Draft {
                    service,
                    item,
                    price: price.clone(),
                    quantity,
                    bound,
                    scales,
                });
            }
            Err(missing) => self.unpriced(r, missing.to_string()),
        }
    }

    fn unpriced(&mut self, r: &Resource, reason: String) {
        self.priced.unpriced.push(Unpriced {
            address: r.address.clone(),
            reason,
        });
    }

    /// A number argument the rule needs; reported unpriced when it is not known.
    fn need(&mut self, r: &Resource, key: &str) -> Option<f64> {
        let value = number(&r.values, key);
        if value.is_none() {
            self.unpriced(r, format!("`{key}` is not a known number"));
        }
        value
    }

    /// Requests reaching EVE (chats and certificate links) and the most of them, for a line of
    /// `r`'s service. API Gateway's limits bound the links it proxies; the chats reach the
    /// streaming function's URL, which no API limit fronts, so they count at their estimate
    /// and the output lists them.
    fn eve_requests(&mut self, r: &Resource) -> (f64, Bound) {
        let u = self.usage;
        let gateway_max = u.api_requests_bound();
        self.note_unbounded(crate::graph::service_of(&r.address), "streamed chats");
        (
            u.api_requests(),
            Bound {
                quantity: gateway_max.quantity + u.chats(),
                key: gateway_max.key,
            },
        )
    }

    fn lambda(&mut self, r: &Resource) {
        let Some(memory_mb) = self.need(r, "memory_size") else {
            return;
        };
        let timeout_s = number(&r.values, "timeout").unwrap_or(3.0);
        let architecture = r.values["architectures"][0]
            .as_str()
            .unwrap_or("x86_64")
            .to_string();
        let api_max = self.usage.api_requests_bound();
        let u = self.usage;
        // The widget streams its chats from the function with the streaming handler, behind a
        // function URL that no API limit bounds (only the function's reserved concurrency
        // does); the API's function answers the rest.
        let streaming = is_streaming(r);
        // (requests, of them answered by the model, their worst case, function seconds at worst
        // by request count)
        let (requests, model, requests_worst, by_requests) = if streaming {
            (u.chats(), u.model_chats(), Worst::Unbounded, f64::INFINITY)
        } else {
            (
                u.api_gateway_requests(),
                0.0,
                Worst::Bounded(api_max.clone()),
                api_max.quantity * timeout_s,
            )
        };
        let memory_gb = memory_mb / 1024.0;
        let seconds = u.function_seconds(requests, model);
        let reserved =
            number(&r.values, "reserved_concurrent_executions").filter(|reserved| *reserved >= 0.0);
        let seconds_bound = match reserved.map(|n| n * SECONDS_PER_MONTH) {
            Some(by_concurrency) if by_concurrency < by_requests => Bound {
                quantity: by_concurrency,
                key: "lambda.reserved_concurrency",
            },
            _ => Bound {
                quantity: by_requests,
                key: "lambda.timeout_s",
            },
        };
        // The streaming function's lines say so: both functions bill under Lambda.
        let item = |item: &str| {
            if streaming {
                format!("streaming {item}")
            } else {
                item.to_string()
            }
        };
        self.add(
            &item("requests"),
            r,
            "lambda.requests",
            requests,
            requests_worst.clone(),
        );
        let traced = blocks(&r.values, "tracing_config")
            .iter()
            .any(|tracing| tracing["mode"] == "Active");
        if traced {
            self.add(
                &item("X-Ray traces"),
                r,
                "xray.traces_recorded",
                requests,
                requests_worst,
            );
        }
        self.add(
            &item(&format!("compute ({memory_mb} MB, {architecture})")),
            r,
            &format!("lambda.duration.{architecture}"),
            seconds * memory_gb,
            if seconds_bound.quantity.is_finite() {
                Worst::Bounded(Bound {
                    quantity: seconds_bound.quantity * memory_gb,
                    key: seconds_bound.key,
                })
            } else {
                Worst::Unbounded
            },
        );
    }

    fn api_gateway(&mut self, r: &Resource) {
        let api_max = self.usage.api_requests_bound();
        self.add(
            "REST API requests",
            r,
            "apigateway.rest.requests",
            self.usage.api_gateway_requests(),
            Worst::Bounded(api_max),
        );
    }

    fn cloudfront(&mut self, r: &Resource) {
        let (api, api_max) = self.eve_requests(r);
        let u = self.usage;
        let gb = |api: f64| (u.site_bytes() + api * API_RESPONSE_BYTES) / GB;
        self.add_in(
            "data transfer out",
            r,
            "cloudfront.transfer",
            GLOBAL,
            gb(api),
            Worst::Bounded(Bound {
                quantity: gb(api_max.quantity),
                key: api_max.key,
            }),
        );
        let (requests, bound) = self.edge_requests(r);
        self.add_in(
            "HTTPS requests",
            r,
            "cloudfront.https_requests",
            GLOBAL,
            requests,
            bound,
        );
        self.note_unbounded("CloudFront", "page and asset requests");
    }

    /// Requests reaching the edge (pages, assets, chats and the API) and their bound: the
    /// API's requests are bounded, the pages' and chats' are counted at their estimate.
    fn edge_requests(&mut self, r: &Resource) -> (f64, Worst) {
        let (api, api_max) = self.eve_requests(r);
        let site = self.usage.site_requests();
        (
            site + api,
            Worst::Bounded(Bound {
                quantity: site + api_max.quantity,
                key: api_max.key,
            }),
        )
    }

    /// Records a usage no configured limit bounds: the worst case counts it at its estimate.
    fn note_unbounded(&mut self, service: &'static str, item: &str) {
        self.priced.unbounded.push(format!("{service}: {item}"));
    }

    fn bucket(&mut self, r: &Resource) {
        let Some(name) = r.values["bucket"].as_str() else {
            return self.unpriced(r, "the bucket's name is not known".into());
        };
        let Some(role) = self.role_of(name) else {
            return self.unpriced(r, format!("no traffic model for bucket `{name}`"));
        };
        let u = self.usage;
        let deploys = u.traffic.deploys_per_month;
        match role {
            BucketRole::Site { primary } => {
                self.add(
                    "site storage",
                    r,
                    "s3.storage",
                    u.site.total_bytes / GB,
                    Worst::Fixed,
                );
                self.add(
                    "site uploads (PUT)",
                    r,
                    "s3.put_requests",
                    deploys * u.site.files,
                    Worst::Fixed,
                );
                if primary {
                    self.add(
                        "CloudFront cache misses (GET)",
                        r,
                        "s3.get_requests",
                        u.origin_requests(),
                        Worst::Unbounded,
                    );
                }
            }
            BucketRole::Certificates { primary } => {
                self.add(
                    "certificate storage",
                    r,
                    "s3.storage",
                    u.certificate_bytes() / GB,
                    Worst::Fixed,
                );
                if primary {
                    let (downloads, bound) = self.downloads();
                    let mb = u.traffic.certificate_mb;
                    self.add(
                        "certificate downloads (GET)",
                        r,
                        "s3.get_requests",
                        downloads,
                        Worst::Bounded(bound.clone()),
                    );
                    self.add(
                        "certificate downloads (transfer out)",
                        r,
                        "s3.transfer_out",
                        downloads * mb / 1024.0,
                        Worst::Bounded(Bound {
                            quantity: bound.quantity * mb / 1024.0,
                            key: bound.key,
                        }),
                    );
                }
            }
            BucketRole::Logs { primary } => {
                let expiry_days = f64::from(u.stack.buckets.log_expiry_days);
                let months = expiry_days / DAYS_PER_MONTH;
                let (api, api_max) = self.eve_requests(r);
                let downloads = self.downloads().0;
                let records = |api: f64| {
                    if primary {
                        u.site_requests() + api + u.origin_requests() + downloads
                    } else {
                        deploys * u.site.files
                    }
                };
                let gb = |api: f64| records(api) * ACCESS_LOG_RECORD_BYTES * months / GB;
                let worst = if primary {
                    Worst::Bounded(Bound {
                        quantity: gb(api_max.quantity),
                        key: api_max.key,
                    })
                } else {
                    Worst::Fixed
                };
                self.add("access log storage", r, "s3.storage", gb(api), worst);
            }
        }
    }

    /// Certificate downloads and their bound: each is an API request, so the API bounds them.
    fn downloads(&self) -> (f64, Bound) {
        let u = self.usage;
        (u.certificate_downloads(), u.api_requests_bound())
    }

    fn role_of(&self, name: &str) -> Option<BucketRole> {
        let stack = self.usage.stack;
        let replica = |role: &str| {
            stack
                .dr
                .as_ref()
                .is_some_and(|dr| stack.replica_bucket_name(role, &dr.region) == name)
        };
        if name == stack.site_bucket_name() {
            Some(BucketRole::Site { primary: true })
        } else if replica("site") {
            Some(BucketRole::Site { primary: false })
        } else if name == stack.certificates_bucket_name() {
            Some(BucketRole::Certificates { primary: true })
        } else if replica("certificates") {
            Some(BucketRole::Certificates { primary: false })
        } else if name == stack.logs_bucket_name() {
            Some(BucketRole::Logs { primary: true })
        } else if replica("logs") {
            Some(BucketRole::Logs { primary: false })
        } else {
            None
        }
    }

    /// Replication sends what is written to the source bucket a month across regions.
    fn replication(&mut self, r: &Resource) {
        let source = r
            .references
            .iter()
            .filter(|a| a.starts_with("aws_s3_bucket."))
            .find_map(|a| self.model.get(a))
            .and_then(|bucket| bucket.values["bucket"].as_str())
            .and_then(|name| self.role_of(name));
        let u = self.usage;
        let written_gb = match source {
            Some(BucketRole::Site { .. }) => u.traffic.deploys_per_month * u.site.total_bytes / GB,
            Some(BucketRole::Certificates { .. }) | Some(BucketRole::Logs { .. }) => 0.0,
            None => return self.unpriced(r, "its source bucket is not known".into()),
        };
        self.add(
            "replication (inter-region transfer)",
            r,
            "s3.inter_region_transfer",
            written_gb,
            Worst::Fixed,
        );
        let time_control = blocks(&r.values, "rule").iter().any(|rule| {
            blocks(&rule["destination"], "replication_time")
                .iter()
                .any(|rtc| rtc["status"] == "Enabled")
        });
        if time_control {
            self.add(
                "replication time control",
                r,
                "s3.replication_time_control",
                written_gb,
                Worst::Fixed,
            );
        }
    }

    fn table(&mut self, r: &Resource) {
        let u = self.usage;
        // Every chat counts its session (one write unit) and stores its exchange, a question and
        // its reply in one item (a write unit a KB); a model answer also reserves from the token
        // budget and settles it (two more). Only a model answer reads history, and then only
        // when its instance does not hold the session's turns: counted as if it never did,
        // `history_turns` exchanges in 4 KB read units. Only chats use the table, and no API
        // limit bounds them: each line counts at its estimate.
        let exchange_writes = (2.0 * super::usage::TURN_BYTES / 1024.0).ceil();
        let history_reads =
            (f64::from(u.stack.eve.history_turns) * 2.0 * super::usage::TURN_BYTES / 4096.0).ceil();
        let chats = u.chats();
        let model_chats = u.model_chats();
        let writes = chats * (1.0 + exchange_writes) + model_chats * 2.0;
        let reads = model_chats * history_reads;
        self.add(
            "writes (on-demand)",
            r,
            "dynamodb.write_request_units",
            writes,
            Worst::Unbounded,
        );
        self.add(
            "reads (on-demand)",
            r,
            "dynamodb.read_request_units",
            reads,
            Worst::Unbounded,
        );
        let stored = u.conversation_bytes(chats) / GB;
        self.add("storage", r, "dynamodb.storage", stored, Worst::Unbounded);
        let recovery = blocks(&r.values, "point_in_time_recovery")
            .iter()
            .any(|pitr| pitr["enabled"] == true);
        if recovery {
            self.add(
                "point-in-time recovery",
                r,
                "dynamodb.backup_pitr",
                stored,
                Worst::Unbounded,
            );
        }
        for replica in blocks(&r.values, "replica") {
            let Some(region) = replica["region_name"].as_str() else {
                continue;
            };
            let region = region.to_string();
            self.add_in(
                &format!("replicated writes ({region})"),
                r,
                "dynamodb.write_request_units",
                &region,
                writes,
                Worst::Unbounded,
            );
            self.add_in(
                &format!("replica storage ({region})"),
                r,
                "dynamodb.storage",
                &region,
                stored,
                Worst::Unbounded,
            );
        }
    }

    fn key(&mut self, r: &Resource) {
        self.add("customer-managed keys", r, "kms.key", 1.0, Worst::Fixed);
        let used_by_a_table = self
            .model
            .of_kind("aws_dynamodb_table")
            .any(|table| table.references.contains(&r.address));
        if used_by_a_table {
            // Only chats use the table, and no API limit bounds them.
            let chats = self.usage.chats();
            self.add(
                "requests",
                r,
                "kms.requests",
                chats * KMS_REQUESTS_PER_CHAT,
                Worst::Unbounded,
            );
        }
    }

    /// An alarm costs per metric it reads: a rate alarm reads two.
    fn alarm(&mut self, r: &Resource) {
        let read = blocks(&r.values, "metric_query")
            .iter()
            .filter(|query| block_count(query, "metric") > 0)
            .count();
        let metrics = if r.values["metric_name"].is_string() {
            1
        } else {
            read
        };
        self.add(
            "alarm metrics",
            r,
            "cloudwatch.alarm_metric",
            metrics as f64,
            Worst::Fixed,
        );
    }

    fn log_group(&mut self, r: &Resource) {
        let name = r.values["name"].as_str().unwrap_or_default();
        let u = self.usage;
        let api_max = u.api_requests_bound();
        let per_request = u.traffic.log_bytes_per_request;
        let streaming = name
            .strip_prefix("/aws/lambda/")
            .and_then(|function_name| self.function_named(function_name))
            .is_some_and(is_streaming);
        // Bytes written a month, and at most (`None`: nothing bounds them).
        let (bytes, most) = if streaming {
            // The streaming function logs the chats, which no API limit bounds.
            (u.chats() * per_request, None)
        } else if name.starts_with("/aws/lambda/") || name.starts_with("/aws/apigateway/") {
            (
                u.api_gateway_requests() * per_request,
                Some(api_max.quantity * per_request),
            )
        } else if name.starts_with("aws-waf-logs-") {
            let site = u.site_requests();
            let (api, most) = self.eve_requests(r);
            (
                (site + api) * per_request,
                Some((site + most.quantity) * per_request),
            )
        } else if name.starts_with("/vpc/") {
            let per_request = FLOW_RECORDS_PER_REQUEST * FLOW_RECORD_BYTES;
            let (api, most) = self.eve_requests(r);
            (api * per_request, Some(most.quantity * per_request))
        } else {
            return self.unpriced(r, format!("no traffic model for log group `{name}`"));
        };
        let retention_days = number(&r.values, "retention_in_days")
            .filter(|days| *days > 0.0)
            .unwrap_or(365.0);
        let months = retention_days / DAYS_PER_MONTH;
        let worst = |factor: f64| match most {
            Some(most) => Worst::Bounded(Bound {
                quantity: most * factor / GB,
                key: api_max.key,
            }),
            None => Worst::Unbounded,
        };
        let item = |what: &str| format!("{what} ({name})");
        self.add(
            &item("log ingestion"),
            r,
            "cloudwatch.logs_ingestion",
            bytes / GB,
            worst(1.0),
        );
        self.add(
            &item("log storage"),
            r,
            "cloudwatch.logs_storage",
            bytes / GB * months,
            worst(months),
        );
    }

    /// The function named `function_name` in the stack, if it has one.
    fn function_named(&self, function_name: &str) -> Option<&Resource<'_>> {
        self.model
            .of_kind("aws_lambda_function")
            .find(|f| f.values["function_name"] == function_name)
    }

    fn subscription(&mut self, r: &Resource) {
        if r.values["protocol"] == "email" {
            self.add(
                "alarm emails",
                r,
                "sns.email",
                ALARM_EMAILS_PER_MONTH,
                Worst::Fixed,
            );
        }
    }

    /// Alias records answer queries for free; a record of any other kind is a query cost the
    /// table does not model.
    fn record(&mut self, r: &Resource) {
        if block_count(&r.values, "alias") > 0 {
            let visitors = self.usage.visitors();
            self.add_in(
                "alias queries",
                r,
                "route53.alias_queries",
                GLOBAL,
                visitors,
                Worst::Unbounded,
            );
        }
    }

    fn parameter(&mut self, r: &Resource) {
        let (item, id) = match r.values["tier"].as_str() {
            Some("Advanced") => ("advanced parameters", "ssm.advanced_parameter"),
            _ => ("standard parameters", "ssm.standard_parameter"),
        };
        self.add(item, r, id, 1.0, Worst::Fixed);
    }

    fn repository(&mut self, r: &Resource) {
        let kept = self
            .model
            .of_kind("aws_ecr_lifecycle_policy")
            .filter(|policy| policy.references.contains(&r.address))
            .find_map(|policy| images_kept(&policy.values["policy"]))
            .unwrap_or(DEFAULT_IMAGES_KEPT);
        let gb = kept * self.usage.traffic.container_image_mb / 1024.0;
        self.add("image storage", r, "ecr.storage", gb, Worst::Fixed);
    }

    fn web_acl(&mut self, r: &Resource) {
        self.add_in("web ACL", r, "waf.web_acl", GLOBAL, 1.0, Worst::Fixed);
        self.note_unbounded("WAF", "inspected page and asset requests");
        let rules = block_count(&r.values, "rule") as f64;
        self.add_in("rules", r, "waf.rule", GLOBAL, rules, Worst::Fixed);
        let (requests, bound) = self.edge_requests(r);
        self.add_in(
            "inspected requests",
            r,
            "waf.requests",
            GLOBAL,
            requests,
            bound,
        );
    }

    fn endpoint(&mut self, r: &Resource) {
        let service = r.values["service_name"]
            .as_str()
            .and_then(|s| s.rsplit('.').next())
            .unwrap_or("endpoint")
            .to_string();
        if r.values["vpc_endpoint_type"] != "Interface" {
            return self.add(
                "gateway endpoints",
                r,
                "vpc.gateway_endpoint",
                1.0,
                Worst::Fixed,
            );
        }
        // One endpoint network interface per subnet; in a plan that creates the subnets their
        // ids are not known yet, so the subnets it refers to are counted.
        let zones = match &r.values["subnet_ids"] {
            Value::Array(subnets) => subnets.len(),
            _ => r
                .references
                .iter()
                .filter(|a| a.starts_with("aws_subnet."))
                .count(),
        }
        .max(1) as f64;
        self.add(
            "interface endpoint hours",
            r,
            "vpc.interface_endpoint_hour",
            zones * HOURS_PER_MONTH,
            Worst::Fixed,
        );
        let (api, api_max) = self.eve_requests(r);
        let gb = |api: f64| api * ENDPOINT_BYTES_PER_REQUEST / GB;
        self.add(
            &format!("data through the {service} endpoint"),
            r,
            "vpc.interface_endpoint_data",
            gb(api),
            Worst::Bounded(Bound {
                quantity: gb(api_max.quantity),
                key: api_max.key,
            }),
        );
    }

    /// The model is not a resource: it is priced from the stack's `eve.model_id`, at the
    /// stack's region (cross-region inference bills the source region).
    fn bedrock(&mut self) {
        let u = self.usage;
        // Nothing calls the model in a stack without EVE's function (before a first deploy).
        let calls_the_model = self.model.of_kind("aws_lambda_function").next().is_some();
        if u.offline() || !calls_the_model {
            return;
        }
        let Some(family) = model_family(&u.stack.eve.model_id) else {
            return;
        };
        let model = Resource {
            address: format!("eve.model_id = {}", u.stack.eve.model_id),
            kind: "bedrock".into(),
            region: u.stack.region.clone(),
            values: Cow::Owned(Value::Null),
            references: Vec::new(),
        };
        let input_id = format!("bedrock.input_tokens.{family}");
        let output_id = format!("bedrock.output_tokens.{family}");
        if !self.table.knows(&input_id) {
            let known: Vec<&str> = self
                .table
                .prices()
                .iter()
                .filter_map(|p| p.id.strip_prefix("bedrock.input_tokens."))
                .collect();
            return self.unpriced(
                &model,
                format!(
                    "no price for model family `{family}`; the table prices {}",
                    known.join(", ")
                ),
            );
        }
        let chats = u.model_chats();
        let region = model.region.clone();
        // The budget counts input and output tokens together; at worst all of it is priced
        // as output, the dearer, so the input line stays at its estimate.
        let budget = u.token_bound();
        self.add_priced(
            "Bedrock",
            &format!("{family} input tokens"),
            &model,
            &input_id,
            &region,
            chats * u.traffic.input_tokens_per_chat,
            Worst::Bounded(Bound {
                quantity: 0.0,
                key: budget.key,
            }),
        );
        self.add_priced(
            "Bedrock",
            &format!("{family} output tokens"),
            &model,
            &output_id,
            &region,
            chats * u.traffic.output_tokens_per_chat,
            Worst::Bounded(budget),
        );
    }
}

enum BucketRole {
    Site { primary: bool },
    Certificates { primary: bool },
    Logs { primary: bool },
}

/// `eu.anthropic.claude-3-haiku-20240307-v1:0` → `anthropic.claude-3-haiku`: the model id
/// without an inference profile's geography, date and version.
pub fn model_family(model_id: &str) -> Option<String> {
    let id = ["us.", "eu.", "apac.", "global.", "us-gov."]
        .iter()
        .find_map(|prefix| model_id.strip_prefix(prefix))
        .unwrap_or(model_id);
    let id = id.split(':').next()?;
    let parts: Vec<&str> = id.split('-').collect();
    let dated = parts
        .iter()
        .position(|part| part.len() == 8 && part.chars().all(|c| c.is_ascii_digit()));
    let kept = match dated {
        Some(at) => &parts[..at],
        None => parts
            .strip_suffix(&["v1"])
            .or_else(|| parts.strip_suffix(&["v2"]))
            .unwrap_or(&parts),
    };
    (!kept.is_empty()).then(|| kept.join("-"))
}

/// The count an ECR lifecycle policy keeps (`imageCountMoreThan`), from its JSON text.
fn images_kept(policy: &Value) -> Option<f64> {
    let policy: Value = serde_json::from_str(policy.as_str()?).ok()?;
    policy["rules"].as_array()?.iter().find_map(|rule| {
        let selection = &rule["selection"];
        (selection["countType"] == "imageCountMoreThan")
            .then(|| selection["countNumber"].as_f64())
            .flatten()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn model_ids_reduce_to_the_family_the_table_prices() {
        assert_eq!(
            model_family("eu.anthropic.claude-3-haiku-20240307-v1:0").as_deref(),
            Some("anthropic.claude-3-haiku")
        );
        assert_eq!(
            model_family("anthropic.claude-3-haiku-20240307-v1:0").as_deref(),
            Some("anthropic.claude-3-haiku")
        );
        assert_eq!(
            model_family("us.anthropic.claude-3-5-haiku-20241022-v1:0").as_deref(),
            Some("anthropic.claude-3-5-haiku")
        );
    }
}
