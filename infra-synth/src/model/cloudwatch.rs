//! CloudWatch: log groups, the alarm topic, the five alarms of the design and a dashboard.

use std::collections::BTreeMap;

use serde::Serialize;
use serde_json::json;

use super::kms::Key;
use crate::config::Stack;
use crate::tf::{Block, Document, Expr, Ref};

#[derive(Debug, Clone, Serialize)]
pub struct LogGroup {
    pub name: String,
    pub retention_in_days: u32,
    /// The stack key (its ARN).
    pub kms_key_id: Expr,
}

impl Block for LogGroup {
    const TYPE: &'static str = "aws_cloudwatch_log_group";
}

impl Ref<LogGroup> {
    pub fn name(&self) -> Expr {
        self.attr("name")
    }

    /// Streams inside this group: Lambda names them at run time, so this is the one place a
    /// trailing `*` is unavoidable.
    pub fn streams_arn(&self) -> Expr {
        self.arn().join_lit(":log-stream:*")
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct Topic {
    pub name: String,
    /// The stack key: CloudWatch alarms cannot publish to a topic under the AWS-managed key.
    pub kms_master_key_id: Expr,
}

impl Block for Topic {
    const TYPE: &'static str = "aws_sns_topic";
}

#[derive(Debug, Clone, Serialize)]
pub struct Subscription {
    pub topic_arn: Expr,
    pub protocol: &'static str,
    pub endpoint: Expr,
}

impl Block for Subscription {
    const TYPE: &'static str = "aws_sns_topic_subscription";
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
pub struct Dashboard {
    pub dashboard_name: String,
    pub dashboard_body: Expr,
}

impl Block for Dashboard {
    const TYPE: &'static str = "aws_cloudwatch_dashboard";
}

/// A metric source: namespace, dimensions, and the statistic to use.
#[derive(Debug, Clone)]
pub struct Source {
    pub namespace: &'static str,
    pub dimensions: BTreeMap<&'static str, String>,
}

impl Source {
    pub fn lambda(stack: &Stack) -> Self {
        Source {
            namespace: "AWS/Lambda",
            dimensions: BTreeMap::from([("FunctionName", stack.function_name())]),
        }
    }

    pub fn api(stack: &Stack) -> Self {
        Source {
            namespace: "AWS/ApiGateway",
            dimensions: BTreeMap::from([
                ("ApiName", stack.api_name()),
                ("Stage", stack.stage_name().to_string()),
            ]),
        }
    }

    pub fn table(stack: &Stack) -> Self {
        Source {
            namespace: "AWS/DynamoDB",
            dimensions: BTreeMap::from([("TableName", stack.table_name())]),
        }
    }

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

/// One alarm: `expression` over named metrics, compared against `threshold`.
struct AlarmSpec {
    label: &'static str,
    description: String,
    source: Source,
    /// (query id, metric name, statistic)
    metrics: Vec<(&'static str, &'static str, &'static str)>,
    expression: &'static str,
    threshold: f64,
}

impl AlarmSpec {
    /// A percentage of `failures` among `total` (both summed), safe when there was no traffic.
    fn rate(
        label: &'static str,
        what: &str,
        source: Source,
        (failures, total): (&'static str, &'static str),
        percent: f64,
    ) -> Self {
        AlarmSpec {
            label,
            description: format!("more than {percent} % {what}"),
            source,
            metrics: vec![("failures", failures, "Sum"), ("total", total, "Sum")],
            expression: "100 * failures / MAX([total, 1])",
            threshold: percent,
        }
    }
}

/// The alarm topic plus the five alarms; every alarm notifies on ALARM and on OK.
pub fn alarms(doc: &mut Document, stack: &Stack, key: &Ref<Key>) -> anyhow::Result<Ref<Topic>> {
    let topic = doc.add(
        "alarms",
        Topic {
            name: format!("{}-alarms", stack.prefix()),
            kms_master_key_id: key.arn(),
        },
    )?;
    if let Some(email) = &stack.alarms.email {
        doc.add(
            "alarm_email",
            Subscription {
                topic_arn: topic.arn(),
                protocol: "email",
                endpoint: Expr::lit(email),
            },
        )?;
    }
    let t = &stack.alarms;
    let specs = [
        AlarmSpec {
            label: "lambda_duration",
            description: format!(
                "EVE's average duration is above {} ms",
                t.lambda_duration_ms
            ),
            source: Source::lambda(stack),
            metrics: vec![("duration", "Duration", "Average")],
            expression: "duration",
            threshold: t.lambda_duration_ms,
        },
        AlarmSpec::rate(
            "lambda_error_rate",
            "of EVE's invocations fail",
            Source::lambda(stack),
            ("Errors", "Invocations"),
            t.lambda_error_rate_percent,
        ),
        AlarmSpec::rate(
            "api_4xx_rate",
            "of API requests get a 4xx",
            Source::api(stack),
            ("4XXError", "Count"),
            t.api_4xx_rate_percent,
        ),
        AlarmSpec::rate(
            "api_5xx_rate",
            "of API requests get a 5xx",
            Source::api(stack),
            ("5XXError", "Count"),
            t.api_5xx_rate_percent,
        ),
        AlarmSpec {
            label: "dynamodb_throttles",
            description: format!(
                "the conversations table throttled more than {} requests",
                t.dynamodb_throttled_requests
            ),
            source: Source::table(stack),
            metrics: vec![
                ("read_throttles", "ReadThrottleEvents", "Sum"),
                ("write_throttles", "WriteThrottleEvents", "Sum"),
            ],
            expression: "read_throttles + write_throttles",
            threshold: t.dynamodb_throttled_requests,
        },
    ];
    for spec in specs {
        alarm(doc, stack, &topic, spec)?;
    }
    Ok(topic)
}

fn alarm(
    doc: &mut Document,
    stack: &Stack,
    topic: &Ref<Topic>,
    spec: AlarmSpec,
) -> anyhow::Result<()> {
    let period = stack.alarms.period_seconds;
    let mut queries: Vec<MetricQuery> = spec
        .metrics
        .iter()
        .map(|&(id, name, stat)| MetricQuery {
            id: id.to_string(),
            return_data: false,
            expression: None,
            label: None,
            metric: vec![spec.source.metric(name, stat, period)],
        })
        .collect();
    queries.push(MetricQuery {
        id: "value".into(),
        return_data: true,
        expression: Some(spec.expression.to_string()),
        label: Some(spec.label.replace('_', " ")),
        metric: Vec::new(),
    });
    doc.add(
        spec.label,
        MetricAlarm {
            alarm_name: format!("{}-{}", stack.prefix(), spec.label.replace('_', "-")),
            alarm_description: spec.description,
            comparison_operator: "GreaterThanThreshold",
            evaluation_periods: 1,
            threshold: spec.threshold,
            treat_missing_data: "notBreaching",
            alarm_actions: vec![topic.arn()],
            ok_actions: vec![topic.arn()],
            metric_query: queries,
        },
    )?;
    Ok(())
}

/// One dashboard with the metrics the alarms watch.
pub fn dashboard(doc: &mut Document, stack: &Stack) -> anyhow::Result<Ref<Dashboard>> {
    let widget = |title: &str, source: Source, metrics: &[(&str, &str)], x: u32, y: u32| {
        let lines: Vec<serde_json::Value> = metrics
            .iter()
            .map(|(name, stat)| {
                let mut line = vec![json!(source.namespace), json!(name)];
                for (key, value) in &source.dimensions {
                    line.push(json!(key));
                    line.push(json!(value));
                }
                line.push(json!({ "stat": stat }));
                json!(line)
            })
            .collect();
        json!({
            "type": "metric", "x": x, "y": y, "width": 12, "height": 6,
            "properties": {
                "title": title, "region": stack.region, "view": "timeSeries",
                "period": stack.alarms.period_seconds, "metrics": lines,
            }
        })
    };
    let body = json!({
        "widgets": [
            widget("EVE duration (ms)", Source::lambda(stack), &[("Duration", "Average"), ("Duration", "p95")], 0, 0),
            widget("EVE invocations and errors", Source::lambda(stack), &[("Invocations", "Sum"), ("Errors", "Sum"), ("Throttles", "Sum")], 12, 0),
            widget("API requests and errors", Source::api(stack), &[("Count", "Sum"), ("4XXError", "Sum"), ("5XXError", "Sum")], 0, 6),
            widget("API latency (ms)", Source::api(stack), &[("Latency", "Average"), ("IntegrationLatency", "Average")], 12, 6),
            widget("DynamoDB throttles", Source::table(stack), &[("ReadThrottleEvents", "Sum"), ("WriteThrottleEvents", "Sum")], 0, 12),
        ]
    });
    doc.add(
        "main",
        Dashboard {
            dashboard_name: stack.prefix(),
            dashboard_body: Expr::lit(serde_json::to_string(&body)?),
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::test_stack;

    #[test]
    fn five_alarms_with_alarm_and_ok_actions() {
        let stack = test_stack();
        let mut doc = Document::default();
        let key = crate::model::kms::test_key(&mut doc);
        alarms(&mut doc, &stack, &key).expect("alarms");
        let json = doc.to_json("t").expect("json");
        let alarms = json["resource"]["aws_cloudwatch_metric_alarm"]
            .as_object()
            .expect("alarms");
        assert_eq!(alarms.len(), 5);
        assert_eq!(
            json["resource"]["aws_sns_topic"]["alarms"]["kms_master_key_id"],
            "${aws_kms_key.stack.arn}"
        );
        for alarm in alarms.values() {
            assert_eq!(alarm["alarm_actions"][0], "${aws_sns_topic.alarms.arn}");
            assert_eq!(alarm["ok_actions"][0], "${aws_sns_topic.alarms.arn}");
        }
        let errors = &alarms["lambda_error_rate"];
        assert_eq!(errors["threshold"], 1.0);
        assert_eq!(
            errors["metric_query"][2]["expression"],
            "100 * failures / MAX([total, 1])"
        );
        assert_eq!(alarms["lambda_duration"]["threshold"], 3000.0);
        assert_eq!(alarms["api_4xx_rate"]["threshold"], 5.0);
        assert_eq!(alarms["dynamodb_throttles"]["threshold"], 0.0);
    }

    #[test]
    fn dashboard_body_is_escaped_json() {
        let stack = test_stack();
        let mut doc = Document::default();
        dashboard(&mut doc, &stack).expect("dashboard");
        let json = doc.to_json("t").expect("json");
        let body = json["resource"]["aws_cloudwatch_dashboard"]["main"]["dashboard_body"]
            .as_str()
            .expect("string");
        let parsed: serde_json::Value = serde_json::from_str(body).expect("valid JSON");
        assert_eq!(parsed["widgets"].as_array().map(Vec::len), Some(5));
    }
}
