//! CloudWatch: encrypted log groups with retention, metric alarms over expressions, and
//! dashboards.

use std::collections::BTreeMap;

use serde::Serialize;

use super::core::{statement_id, Store};
use super::iam::Grantee;
use super::iam::Statement;
use super::kms::Key;
use super::sns::Topic;
use super::{Id, Scope};
use crate::tf::{Block, Expr, Ref};

#[derive(Debug, Clone, Serialize)]
pub struct LogGroupBlock {
    pub name: String,
    pub retention_in_days: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kms_key_id: Option<Expr>,
}

impl Block for LogGroupBlock {
    const TYPE: &'static str = "aws_cloudwatch_log_group";
}

/// Retention when props do not say: a year, long enough to investigate an incident found late.
pub const DEFAULT_RETENTION_DAYS: u32 = 365;

#[derive(Clone)]
pub struct LogGroupProps {
    /// The group's name; default `/<scope's physical name>`.
    pub name: Option<String>,
    pub retention_days: u32,
    pub encryption_key: Option<Key>,
}

impl Default for LogGroupProps {
    fn default() -> Self {
        LogGroupProps {
            name: None,
            retention_days: DEFAULT_RETENTION_DAYS,
            encryption_key: None,
        }
    }
}

#[derive(Clone)]
pub struct LogGroup {
    group: Ref<LogGroupBlock>,
    sid: String,
}

impl LogGroup {
    pub fn new(scope: &Scope, id: impl Into<Id>, props: LogGroupProps) -> LogGroup {
        LogGroup::in_scope(&scope.child(id), props)
    }

    /// A construct's own log group, at the construct's address.
    pub(crate) fn in_scope(scope: &Scope, props: LogGroupProps) -> LogGroup {
        let group = scope.add(LogGroupBlock {
            name: props
                .name
                .unwrap_or_else(|| format!("/{}", scope.physical_name())),
            retention_in_days: props.retention_days,
            kms_key_id: props.encryption_key.as_ref().map(Key::arn),
        });
        scope.with_tree(|tree| {
            tree.stores.push(Store {
                path: scope.path(),
                address: group.address(),
                // CloudWatch Logs always encrypts at rest; a key makes it ours to control.
                encrypted: true,
            })
        });
        LogGroup {
            group,
            sid: statement_id(scope),
        }
    }

    pub fn arn(&self) -> Expr {
        self.group.arn()
    }

    pub fn name(&self) -> Expr {
        self.group.attr("name")
    }

    /// Create streams in this group and write to them. Lambda names its streams at run time,
    /// so `:log-stream:*` under this group is the one trailing `*` a policy may have.
    pub fn grant_write(&self, grantee: &impl Grantee) {
        grantee.grant_role().grant(Statement::allow(
            &format!("{}Logs", self.sid),
            &["logs:CreateLogStream", "logs:PutLogEvents"],
            vec![self.arn().join_lit(":log-stream:*")],
        ));
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct MetricAlarm {
    pub alarm_name: String,
    pub alarm_description: String,
    pub comparison_operator: &'static str,
    pub evaluation_periods: u32,
    pub threshold: f64,
    pub treat_missing_data: &'static str,
    pub alarm_actions: Vec<Expr>,
    pub ok_actions: Vec<Expr>,
    pub metric_query: Vec<MetricQuery>,
}

impl Block for MetricAlarm {
    const TYPE: &'static str = "aws_cloudwatch_metric_alarm";
}

#[derive(Debug, Clone, Serialize)]
pub struct MetricQuery {
    pub id: String,
    pub return_data: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expression: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub label: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub metric: Vec<Metric>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Metric {
    pub namespace: &'static str,
    pub metric_name: &'static str,
    pub period: u32,
    pub stat: &'static str,
    pub dimensions: BTreeMap<&'static str, String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct DashboardBlock {
    pub dashboard_name: String,
    pub dashboard_body: Expr,
}

impl Block for DashboardBlock {
    const TYPE: &'static str = "aws_cloudwatch_dashboard";
}

/// Where a metric comes from: its namespace and dimensions (constructs hand these out).
#[derive(Debug, Clone)]
pub struct Source {
    pub namespace: &'static str,
    pub dimensions: BTreeMap<&'static str, String>,
}

impl Source {
    fn metric(&self, metric_name: &'static str, stat: &'static str, period: u32) -> Metric {
        Metric {
            namespace: self.namespace,
            metric_name,
            period,
            stat,
            dimensions: self.dimensions.clone(),
        }
    }
}

/// An alarm: `expression` over named metrics of one source, above `threshold`.
#[derive(Debug, Clone)]
pub struct AlarmProps {
    pub description: String,
    pub source: Source,
    /// (query id, metric name, statistic)
    pub metrics: Vec<(&'static str, &'static str, &'static str)>,
    pub expression: &'static str,
    pub threshold: f64,
    pub period_seconds: u32,
}

impl AlarmProps {
    /// A percentage of `failures` among `total` (both summed), safe when there was no traffic.
    pub fn rate(
        what: &str,
        source: Source,
        (failures, total): (&'static str, &'static str),
        percent: f64,
        period_seconds: u32,
    ) -> Self {
        AlarmProps {
            description: format!("more than {percent} % {what}"),
            source,
            metrics: vec![("failures", failures, "Sum"), ("total", total, "Sum")],
            expression: "100 * failures / MAX([total, 1])",
            threshold: percent,
            period_seconds,
        }
    }
}

/// A metric alarm that notifies `topic` on ALARM and on OK; missing data is not breaching.
#[derive(Clone)]
pub struct Alarm {
    alarm: Ref<MetricAlarm>,
}

impl Alarm {
    pub fn new(scope: &Scope, id: impl Into<Id>, topic: &Topic, props: AlarmProps) -> Alarm {
        let scope = scope.child(id);
        let period = props.period_seconds;
        let mut queries: Vec<MetricQuery> = props
            .metrics
            .iter()
            .map(|&(id, name, stat)| MetricQuery {
                id: id.to_string(),
                return_data: false,
                expression: None,
                label: None,
                metric: vec![props.source.metric(name, stat, period)],
            })
            .collect();
        queries.push(MetricQuery {
            id: "value".into(),
            return_data: true,
            expression: Some(props.expression.to_string()),
            label: Some(scope.address_name().replace('_', " ")),
            metric: Vec::new(),
        });
        let alarm = scope.add(MetricAlarm {
            alarm_name: scope.physical_name(),
            alarm_description: props.description,
            comparison_operator: "GreaterThanThreshold",
            evaluation_periods: 1,
            threshold: props.threshold,
            treat_missing_data: "notBreaching",
            alarm_actions: vec![topic.arn()],
            ok_actions: vec![topic.arn()],
            metric_query: queries,
        });
        topic.grant_publish_to_service("cloudwatch.amazonaws.com");
        Alarm { alarm }
    }

    pub fn arn(&self) -> Expr {
        self.alarm.arn()
    }
}

/// One time-series graph of a dashboard.
#[derive(Debug, Clone)]
pub struct Widget {
    pub title: &'static str,
    pub source: Source,
    /// (metric name, statistic)
    pub metrics: Vec<(&'static str, &'static str)>,
}

#[derive(Debug, Clone)]
pub struct DashboardProps {
    /// Default: the scope's physical name.
    pub name: Option<String>,
    pub period_seconds: u32,
    /// Laid out two to a row, 12 × 6 each.
    pub widgets: Vec<Widget>,
}

#[derive(Clone)]
pub struct Dashboard {
    dashboard: Ref<DashboardBlock>,
}

/// A dashboard body in CloudWatch's own JSON shape.
#[derive(Serialize)]
struct DashboardBody<'a> {
    widgets: Vec<WidgetJson<'a>>,
}

#[derive(Serialize)]
struct WidgetJson<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    x: usize,
    y: usize,
    width: u32,
    height: u32,
    properties: WidgetProperties<'a>,
}

#[derive(Serialize)]
struct WidgetProperties<'a> {
    title: &'static str,
    region: &'a str,
    view: &'static str,
    period: u32,
    metrics: Vec<Vec<LinePart<'a>>>,
}

/// One element of a metric line: `[namespace, name, dim, value, ..., {"stat": ...}]`.
#[derive(Serialize)]
#[serde(untagged)]
enum LinePart<'a> {
    Text(&'a str),
    Options { stat: &'static str },
}

impl Dashboard {
    pub fn new(scope: &Scope, id: impl Into<Id>, props: DashboardProps) -> Dashboard {
        let scope = scope.child(id);
        let widgets = props
            .widgets
            .iter()
            .enumerate()
            .map(|(i, widget)| {
                let metrics = widget
                    .metrics
                    .iter()
                    .map(|&(name, stat)| {
                        let source = &widget.source;
                        std::iter::once(LinePart::Text(source.namespace))
                            .chain(std::iter::once(LinePart::Text(name)))
                            .chain(source.dimensions.iter().flat_map(|(key, value)| {
                                [LinePart::Text(key), LinePart::Text(value.as_str())]
                            }))
                            .chain(std::iter::once(LinePart::Options { stat }))
                            .collect()
                    })
                    .collect();
                WidgetJson {
                    kind: "metric",
                    x: (i % 2) * 12,
                    y: (i / 2) * 6,
                    width: 12,
                    height: 6,
                    properties: WidgetProperties {
                        title: widget.title,
                        region: scope.region(),
                        view: "timeSeries",
                        period: props.period_seconds,
                        metrics,
                    },
                }
            })
            .collect();
        let body = serde_json::to_string(&DashboardBody { widgets }).unwrap_or_default();
        let dashboard = scope.add(DashboardBlock {
            dashboard_name: props.name.unwrap_or_else(|| scope.physical_name()),
            dashboard_body: Expr::lit(body),
        });
        Dashboard { dashboard }
    }

    pub fn arn(&self) -> Expr {
        self.dashboard.attr("dashboard_arn")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::constructs::sns::TopicProps;
    use crate::constructs::testing::{json_of, stack};

    fn source() -> Source {
        Source {
            namespace: "AWS/Lambda",
            dimensions: BTreeMap::from([("FunctionName", "test-fn".to_string())]),
        }
    }

    #[test]
    fn alarms_notify_on_alarm_and_ok_and_rates_are_safe_without_traffic() {
        let stack = stack();
        let key = crate::constructs::kms::Key::new(&stack, "key", Default::default());
        let topic = Topic::new(
            &stack,
            "alarms",
            TopicProps {
                encryption_key: Some(key),
            },
        );
        Alarm::new(
            &stack,
            "lambda-error-rate",
            &topic,
            AlarmProps::rate("fail", source(), ("Errors", "Invocations"), 1.0, 300),
        );
        let json = json_of(stack);
        let alarm = &json["resource"]["aws_cloudwatch_metric_alarm"]["lambda_error_rate"];
        assert_eq!(alarm["alarm_name"], "test-lambda-error-rate");
        assert_eq!(alarm["alarm_actions"][0], "${aws_sns_topic.alarms.arn}");
        assert_eq!(alarm["ok_actions"][0], "${aws_sns_topic.alarms.arn}");
        assert_eq!(alarm["threshold"], 1.0);
        assert_eq!(
            alarm["metric_query"][2]["expression"],
            "100 * failures / MAX([total, 1])"
        );
        assert_eq!(alarm["metric_query"][2]["label"], "lambda error rate");
    }

    #[test]
    fn dashboard_body_is_escaped_json_laid_out_two_a_row() {
        let stack = stack();
        let widget = |title| Widget {
            title,
            source: source(),
            metrics: vec![("Duration", "Average")],
        };
        Dashboard::new(
            &stack,
            "main",
            DashboardProps {
                name: None,
                period_seconds: 300,
                widgets: vec![widget("a"), widget("b"), widget("c")],
            },
        );
        let json = json_of(stack);
        let body = json["resource"]["aws_cloudwatch_dashboard"]["main"]["dashboard_body"]
            .as_str()
            .expect("string");
        let parsed: serde_json::Value = serde_json::from_str(body).expect("valid JSON");
        assert_eq!(parsed["widgets"][2]["y"], 6);
        assert_eq!(parsed["widgets"][1]["x"], 12);
    }
}
