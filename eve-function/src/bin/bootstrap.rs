//! `bootstrap`: EVE on AWS Lambda. The same router as `eve-server`; settings from SSM under
//! `EVE_SSM_PATH`. The function's handler chooses the front door (`eve_contract::handlers`):
//! API Gateway REST proxy events answered whole, or function URL events streamed.

use std::convert::Infallible;

use eve_contract::handlers;
use eve_function::core::budget::Holding;
use eve_function::http::lambda::{route_on_raw_path, whole, UndecodableBodiesDropped};
use eve_function::http::{router, RouterOptions};
use eve_function::startup;
use tower::layer::layer_fn;
use tower::ServiceExt;

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    startup::init_logging();
    // Lambda always sets `_HANDLER`; a bootstrap started by hand answers API Gateway.
    let handler = std::env::var("_HANDLER").unwrap_or_else(|_| handlers::API_GATEWAY.into());
    if !handlers::ALL.contains(&handler.as_str()) {
        return Err(format!(
            "unknown handler `{handler}`: set the function's handler to one of {}",
            handlers::ALL.join(", ")
        )
        .into());
    }
    // Frozen once it has answered, a sandbox could not return the unused part of a lease.
    let eve = startup::build(startup::eve_environment(), false, Holding::PerRequest).await?;
    let app = router(eve, RouterOptions::default()).map_request(route_on_raw_path);
    if handler == handlers::STREAMING {
        lambda_http::streaming_runtime(app)
            .layer(layer_fn(UndecodableBodiesDropped))
            .run()
            .await
    } else {
        let app = app.and_then(|response| async { Ok::<_, Infallible>(whole(response).await) });
        lambda_http::runtime(app)
            .layer(layer_fn(UndecodableBodiesDropped))
            .run()
            .await
    }
}
