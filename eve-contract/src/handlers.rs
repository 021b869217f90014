//! The handlers of EVE's one Lambda package. A function's `handler` setting (which Lambda
//! passes to `bootstrap` as `_HANDLER`) picks the front door, so two functions share one zip.

/// API Gateway REST proxy events, each response sent whole (API Gateway buffers it anyway).
pub const API_GATEWAY: &str = "bootstrap";

/// Function URL events, the response streamed as it is made (`invoke_mode = RESPONSE_STREAM`);
/// CloudFront sends [`crate::routes::CHAT_STREAM`] here.
pub const STREAMING: &str = "stream";

/// Every handler, for the message that names an unknown one.
pub const ALL: &[&str] = &[API_GATEWAY, STREAMING];
