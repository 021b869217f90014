//! The library composes stacks that are not CloudForgeX: `examples/orders_api.rs` (a function
//! with its own table behind API routes, a queue it writes to and a worker that consumes it)
//! synthesizes into Terraform that validates.

mod common;

use std::process::Command;

#[test]
fn the_orders_example_synthesizes_and_validates() {
    let out = tempfile::tempdir().expect("tempdir");
    let output = example("orders_api")
        .arg("--out")
        .arg(out.path())
        .output()
        .expect("the example runs");
    assert!(
        output.status.success(),
        "example failed:\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let dir = out.path().join("orders-dev");
    let doc: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("main.tf.json")).expect("written"))
            .expect("json");
    let resource = |kind: &str, name: &str| doc["resource"][kind][name].clone();
    assert_eq!(
        resource("aws_dynamodb_table", "orders")["name"],
        "orders-dev-orders"
    );
    assert_eq!(
        resource("aws_sqs_queue", "fulfilment")["name"],
        "orders-dev-fulfilment"
    );
    assert_eq!(
        resource("aws_lambda_function", "worker")["function_name"],
        "orders-dev-worker"
    );
    assert!(resource("aws_api_gateway_method", "api_get_orders_id").is_object());
    // Each function's policy is the union of what was granted to it, and nothing else.
    let sids = |role: &str| -> Vec<String> {
        doc["data"]["aws_iam_policy_document"][format!("{role}_policy")]["statement"]
            .as_array()
            .expect("statements")
            .iter()
            .map(|s| s["sid"].as_str().unwrap_or_default().to_string())
            .collect()
    };
    assert_eq!(
        sids("api"),
        [
            "ApiLogs",
            "OrdersReadWrite",
            "KeyEncryptDecrypt",
            "FulfilmentSend"
        ]
    );
    assert_eq!(
        sids("worker"),
        [
            "WorkerLogs",
            "FulfilmentConsume",
            "KeyEncryptDecrypt",
            "OrdersWrite"
        ]
    );
    if let Some(terraform) = common::Validator::find("the_orders_example_synthesizes_and_validates")
    {
        terraform.validate("orders-dev", &dir);
    }
}

/// The example as `cargo test` built it beside this test (`target/<profile>/examples/`), else
/// `cargo run --example` as a user would (when only this test target was built).
fn example(name: &str) -> Command {
    let built = std::env::current_exe()
        .ok()
        .and_then(|test| Some(test.parent()?.parent()?.join("examples").join(name)))
        .filter(|path| path.is_file());
    match built {
        Some(path) => Command::new(path),
        None => {
            let mut cargo = Command::new(env!("CARGO"));
            cargo
                .args([
                    "run",
                    "--quiet",
                    "-p",
                    "infra-synth",
                    "--example",
                    name,
                    "--",
                ])
                .current_dir(common::repo_root());
            cargo
        }
    }
}
