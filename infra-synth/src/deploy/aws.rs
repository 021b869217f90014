//! AWS SDK clients for one region, optionally pointed at an emulator endpoint.
//!
//! With an endpoint override (the local stack on moto), S3 uses path-style addressing because
//! `bucket.127.0.0.1` does not resolve, and dummy credentials are used when none are set.

use std::time::Duration;

use aws_config::timeout::TimeoutConfig;
use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_credential_types::provider::error::CredentialsError;
use aws_sdk_cloudformation::config::Credentials;
use aws_sdk_s3::error::{ConnectorError, ProvideErrorMetadata};

/// Which AWS to talk to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AwsTarget {
    pub region: String,
    /// `Some(url)` for an emulator such as `http://127.0.0.1:5000`.
    pub endpoint_url: Option<String>,
}

/// How long a call may wait for its answer to start: past it the call fails, and is retried as
/// the SDK retries, rather than waiting for ever on an endpoint that accepts connections and
/// never answers. The wait starts as the request goes out, so it includes sending the body.
pub const ANSWER_TIMEOUT: Duration = Duration::from_secs(30);
/// The same for uploads, whose answer comes only after the whole body is sent: the 5 MB Lambda
/// zip needs 30 s at 1.4 Mbit/s, and a hotel uplink can be slower.
const UPLOAD_ANSWER_TIMEOUT: Duration = Duration::from_secs(300);
/// How long connecting to an endpoint may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

fn timeouts(answer: Duration) -> TimeoutConfig {
    TimeoutConfig::builder()
        .connect_timeout(CONNECT_TIMEOUT)
        .read_timeout(answer)
        .build()
}

impl AwsTarget {
    pub async fn sdk_config(&self) -> SdkConfig {
        let mut loader = aws_config::defaults(BehaviorVersion::latest())
            .region(Region::new(self.region.clone()))
            .timeout_config(timeouts(ANSWER_TIMEOUT));
        if let Some(endpoint) = &self.endpoint_url {
            loader = loader.endpoint_url(endpoint);
            if std::env::var_os("AWS_ACCESS_KEY_ID").is_none() {
                loader = loader.credentials_provider(Credentials::new(
                    "testing", "testing", None, None, "emulator",
                ));
            }
        }
        loader.load().await
    }

    pub async fn s3(&self) -> aws_sdk_s3::Client {
        self.s3_answering_within(ANSWER_TIMEOUT).await
    }

    /// An S3 client for uploads (the Lambda zip, the site), which may take longer to answer.
    pub async fn s3_for_uploads(&self) -> aws_sdk_s3::Client {
        self.s3_answering_within(UPLOAD_ANSWER_TIMEOUT).await
    }

    async fn s3_answering_within(&self, answer: Duration) -> aws_sdk_s3::Client {
        let config = aws_sdk_s3::config::Builder::from(&self.sdk_config().await)
            .force_path_style(self.endpoint_url.is_some())
            .timeout_config(timeouts(answer))
            .build();
        aws_sdk_s3::Client::from_conf(config)
    }

    pub async fn cloudformation(&self) -> aws_sdk_cloudformation::Client {
        aws_sdk_cloudformation::Client::new(&self.sdk_config().await)
    }
}

/// Runs one async AWS step from a synchronous command.
pub fn block_on<F: std::future::Future>(future: F) -> anyhow::Result<F::Output> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    Ok(runtime.block_on(future))
}

/// An SDK error in one line a person can act on: `Code: message` from the service; for a call
/// that never reached it, each cause in its own words (the SDK's own `Display` says only
/// "dispatch failure", and its context adds a debug dump), with what to do when no
/// credentials could be found.
pub fn sdk_error<E: std::error::Error + ProvideErrorMetadata + 'static>(err: E) -> anyhow::Error {
    if let (Some(code), Some(message)) = (err.code(), err.message()) {
        return anyhow::anyhow!("{code}: {message}");
    }
    let mut causes: Vec<String> = Vec::new();
    let mut no_credentials = false;
    let mut refused = false;
    let mut unanswered = false;
    let mut cause: Option<&(dyn std::error::Error + 'static)> = Some(&err);
    while let Some(error) = cause {
        no_credentials |= error.is::<CredentialsError>();
        refused |= error
            .downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::ConnectionRefused);
        unanswered |= error
            .downcast_ref::<ConnectorError>()
            .is_some_and(ConnectorError::is_timeout);
        let text = error.to_string();
        // Wrappers often repeat their source's words; and "other", "service error" say nothing.
        if !causes.iter().any(|c| c.contains(&text))
            && !matches!(text.as_str(), "other" | "service error")
        {
            causes.push(text);
        }
        cause = error.source();
    }
    let causes = causes.join(": ");
    if no_credentials {
        anyhow::anyhow!(
            "no AWS credentials ({causes}); set AWS_PROFILE (after `aws sso login` for SSO), or \
             AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or run where a role provides them"
        )
    } else if refused || unanswered {
        anyhow::Error::new(Unreachable {
            causes,
            refused,
            endpoint: None,
        })
    } else {
        anyhow::anyhow!(causes)
    }
}

/// An AWS call that reached no service: nothing listened at the endpoint, or it never
/// answered. The SDK's error does not say which endpoint it tried, so the command, which knows,
/// names it with [`Unreachable::name_endpoint`].
#[derive(Debug)]
pub struct Unreachable {
    causes: String,
    /// The connection was refused, rather than taken and never answered.
    refused: bool,
    /// The endpoint tried, and where it was set.
    endpoint: Option<(String, String)>,
}

impl Unreachable {
    /// Names the endpoint in `error` when it is an [`Unreachable`] one: `endpoint` as set in
    /// `source` (a flag, a stack file's key).
    pub fn name_endpoint(
        mut error: anyhow::Error,
        endpoint: &str,
        source: String,
    ) -> anyhow::Error {
        if let Some(unreachable) = error.downcast_mut::<Unreachable>() {
            unreachable.endpoint = Some((endpoint.to_owned(), source));
        }
        error
    }
}

impl std::fmt::Display for Unreachable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let causes = &self.causes;
        let (endpoint, start) = match &self.endpoint {
            Some((url, source)) => {
                let listen = url::Url::parse(url).ok().and_then(|url| {
                    Some((url.host_str()?.to_owned(), url.port_or_known_default()?))
                });
                let start = match listen {
                    Some((host, port)) => format!("`moto_server -H {host} -p {port}`"),
                    None => "`moto_server -H 127.0.0.1 -p <port>`".to_owned(),
                };
                (format!("the AWS endpoint {url} ({source})"), start)
            }
            None => (
                "the AWS endpoint".to_owned(),
                "`moto_server -H 127.0.0.1 -p <port>`".to_owned(),
            ),
        };
        if self.refused {
            // AWS's endpoints always listen: this is an emulator endpoint with nothing behind it.
            write!(
                f,
                "{causes}: nothing listens at {endpoint}; for an emulator stack, start the \
                 emulator first ({start}) or point `--endpoint-url` at one that runs"
            )
        } else {
            write!(
                f,
                "{causes}: {endpoint} took the connection but did not answer within {} s, on \
                 every attempt; for an emulator, check that it runs and is not paused, or point \
                 `--endpoint-url` at one that answers",
                ANSWER_TIMEOUT.as_secs()
            )
        }
    }
}

impl std::error::Error for Unreachable {}

/// Whether CloudFormation refused a call because the stack does not exist (its `ValidationError`
/// "Stack with id … does not exist"), rather than for any other reason.
pub fn is_missing_stack<E: ProvideErrorMetadata>(err: &E) -> bool {
    err.code() == Some("ValidationError")
        && err.message().is_some_and(|m| m.contains("does not exist"))
}
