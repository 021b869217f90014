//! `bootstrap`: EVE on AWS Lambda behind an API Gateway REST proxy integration. The same
//! router as `eve-server`; settings from SSM under `EVE_SSM_PATH`.

use eve_function::http::lambda::route_on_raw_path;
use eve_function::http::{router, RouterOptions};
use eve_function::startup;
use tower::ServiceExt;

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    startup::init_logging();
    let eve = startup::build(startup::eve_environment(), false).await?;
    let app = router(eve, RouterOptions::default()).map_request(route_on_raw_path);
    lambda_http::run(app).await
}
