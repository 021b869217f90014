//! A stack that is not CloudForgeX, composed from the construct library: an orders API — a
//! function with its own table, behind two API routes, writing to a queue a worker consumes.
//!
//! `cargo run -p infra-synth --example orders_api -- --out DIR` writes `DIR/orders-dev/main.tf.json`.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use infra_synth::constructs::apigateway::{AccountLogging, RestApi, RestApiProps, Route};
use infra_synth::constructs::cloudwatch::{LogGroup, LogGroupProps};
use infra_synth::constructs::dynamodb::{Table, TableProps};
use infra_synth::constructs::kms::{Key, KeyProps};
use infra_synth::constructs::lambda::{Code, Function, FunctionProps};
use infra_synth::constructs::sqs::{Queue, QueueProps};
use infra_synth::constructs::{Stack, StackProps};
use infra_synth::emit::terraform;

/// Synthesize the orders example stack.
#[derive(Parser)]
struct Args {
    /// Output directory; the stack gets its own subdirectory.
    #[arg(long, default_value = "out")]
    out: PathBuf,
}

fn orders_stack() -> Stack {
    let stack = Stack::new(
        "orders-dev",
        StackProps {
            region: "eu-central-1".into(),
            tags: [("team".to_string(), "shop".to_string())].into(),
            ..StackProps::default()
        },
    );
    let key = Key::new(
        &stack,
        "key",
        KeyProps {
            description: "orders: data and logs".into(),
            allow_cloudwatch_logs: true,
            ..KeyProps::default()
        },
    );
    let orders = Table::new(
        &stack,
        "orders",
        TableProps {
            sort_key: Some("created_at"),
            encryption_key: Some(key.clone()),
            ..TableProps::default()
        },
    );
    let jobs = Queue::new(
        &stack,
        "fulfilment",
        QueueProps {
            encryption_key: Some(key.clone()),
            visibility_timeout_seconds: 60,
            ..QueueProps::default()
        },
    );
    let code = Code {
        package: "orders",
        binary: "bootstrap",
        artifact_bucket: "orders-dev-artifacts".into(),
    };
    let api_function = Function::new(
        &stack,
        "api",
        FunctionProps {
            encryption_key: Some(key.clone()),
            environment: [("QUEUE", "fulfilment".to_string())].into(),
            ..FunctionProps::new("Orders API", code.clone())
        },
    );
    orders.grant_read_write(&api_function);
    jobs.grant_send(&api_function);
    let worker = Function::new(
        &stack,
        "worker",
        FunctionProps {
            timeout_s: 30.into(),
            encryption_key: Some(key.clone()),
            ..FunctionProps::new("Fulfils orders from the queue", code)
        },
    );
    jobs.grant_consume(&worker);
    orders.grant_write(&worker);

    let route = |method, path| {
        let route = Route {
            method,
            path,
            api_key_required: false,
        };
        (route, api_function.clone())
    };
    let api = RestApi::new(
        &stack,
        "api",
        RestApiProps {
            name: None,
            description: "Orders",
            stage_name: "dev".into(),
            access_logs: LogGroup::new(
                &stack,
                "api-access",
                LogGroupProps {
                    encryption_key: Some(key),
                    ..LogGroupProps::default()
                },
            ),
            account_logging: AccountLogging::new(&stack, "api-gateway-logs"),
            routes: vec![route("POST", "/orders"), route("GET", "/orders/{id}")],
            integration_timeout_ms: 11_000,
            throttle_rate_limit: 50.0,
            throttle_burst_limit: 100,
            daily_quota: 100_000,
        },
    );
    stack.output("api_url", "The orders API", api.invoke_url());
    stack.output("queue_url", "Fulfilment queue", jobs.url());
    stack
}

fn main() -> ExitCode {
    let args = Args::parse();
    let result = terraform::render(
        "orders-dev",
        "examples/orders_api.rs",
        orders_stack().finish(),
    )
    .and_then(|synthesis| synthesis.write(&args.out));
    match result {
        Ok(dir) => {
            println!("wrote {}", dir.join("main.tf.json").display());
            ExitCode::SUCCESS
        }
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}
