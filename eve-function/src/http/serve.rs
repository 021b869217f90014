//! eve-server's accept loop, with the limits a server facing the internet needs and
//! `axum::serve` does not set: a bound on reading a request's headers (which also closes a
//! keep-alive connection left idle), one on reading its body, one on a response the client
//! does not read, and one on open connections, so a client that sends half a request, or
//! nothing, or a byte at a time, or reads nothing back, cannot hold the server's connections
//! for as long as it likes.
//! Requests hyper cannot parse it answers itself, below the router, with an empty body;
//! [`ClientConnection`] gives those answers the JSON error shape of every other.

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{ready, Context, Poll};
use std::time::Duration;

use axum::body::{Body, Bytes, HttpBody};
use axum::extract::{ConnectInfo, Request};
use axum::http::StatusCode;
use axum::Router;
use hyper::body::{Frame, Incoming, SizeHint};
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio::time::{Instant, Sleep};
use tower::ServiceExt;

use super::error::ApiError;
use super::site::EVERY_RESPONSE;
use super::API_CACHE_CONTROL;

/// How long a client may take to send a request's headers, and how long a keep-alive
/// connection may sit idle before its next request.
pub const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a client may take to send a request's body once its headers are in. A chat's body
/// is at most 16 KiB: a client still sending it after this is holding the connection.
pub const BODY_READ_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a response may wait on a client that reads none of it (its socket full) before the
/// connection is closed. Any progress starts the wait again, so slow readers are served.
pub const SEND_TIMEOUT: Duration = Duration::from_secs(10);
/// Open connections at most; further clients wait in the accept queue.
pub const MAX_CONNECTIONS: usize = 2048;

/// The limits of one server.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub header_read_timeout: Duration,
    pub body_read_timeout: Duration,
    pub send_timeout: Duration,
    pub max_connections: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            header_read_timeout: HEADER_READ_TIMEOUT,
            body_read_timeout: BODY_READ_TIMEOUT,
            send_timeout: SEND_TIMEOUT,
            max_connections: MAX_CONNECTIONS,
        }
    }
}

/// Serves `app` on `listener` until `shutdown` completes, then lets in-flight requests finish.
pub async fn serve(
    listener: TcpListener,
    app: Router,
    limits: Limits,
    shutdown: impl Future<Output = ()>,
) {
    // HTTP/1.1 only, as load balancers and ingresses speak to a backend. (hyper-util's
    // auto-detecting builder first waits for a client's opening bytes with no timeout at all.)
    let mut builder = http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_read_timeout);
    let permits = Arc::new(Semaphore::new(limits.max_connections.max(1)));
    let graceful = GracefulShutdown::new();
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let permit = tokio::select! {
            permit = Arc::clone(&permits).acquire_owned() => match permit {
                Ok(permit) => permit,
                Err(_) => break,
            },
            () = &mut shutdown => break,
        };
        let (stream, remote) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(error) => {
                    // Out of file descriptors and the like: wait rather than spin.
                    tracing::warn!(%error, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        // A streamed reply is many small writes, each to go out when written: with Nagle's
        // algorithm, each waited for the one before it to be acknowledged, which a client
        // delaying its ACKs holds up to 40 ms (200 ms on Windows).
        if let Err(error) = stream.set_nodelay(true) {
            tracing::debug!(%error, "TCP_NODELAY not set");
        }
        let body_read_timeout = limits.body_read_timeout;
        let service = app.clone().map_request(move |request: Request<Incoming>| {
            let mut request =
                request.map(|body| Body::new(BodyWithin::new(body, body_read_timeout)));
            request
                .extensions_mut()
                .insert(ConnectInfo::<SocketAddr>(remote));
            request
        });
        let connection = builder.serve_connection(
            TokioIo::new(ClientConnection::new(stream, limits.send_timeout)),
            TowerToHyperService::new(service),
        );
        let connection = graceful.watch(connection);
        tokio::spawn(async move {
            if let Err(error) = connection.await {
                tracing::debug!(%error, "connection ended");
            }
            drop(permit);
        });
    }
    drop(listener);
    graceful.shutdown().await;
}

/// A request body that fails with [`BodyTimedOut`] unless it has arrived whole within a time
/// from its request's head. hyper bounds the head; a body sent a byte at a time would
/// otherwise hold its connection for as long as the client liked.
struct BodyWithin {
    body: Incoming,
    deadline: Instant,
    /// Set the first time the body is not ready: most bodies never need a timer.
    timer: Option<Pin<Box<Sleep>>>,
}

impl BodyWithin {
    fn new(body: Incoming, timeout: Duration) -> Self {
        BodyWithin {
            body,
            deadline: Instant::now() + timeout,
            timer: None,
        }
    }
}

/// The error of a request body that did not arrive in time; the router answers it with 408.
#[derive(Debug)]
pub struct BodyTimedOut;

impl std::fmt::Display for BodyTimedOut {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("the request body did not arrive in time")
    }
}

impl std::error::Error for BodyTimedOut {}

impl HttpBody for BodyWithin {
    type Data = Bytes;
    type Error = Box<dyn std::error::Error + Send + Sync>;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        let this = self.get_mut();
        if let Poll::Ready(frame) = Pin::new(&mut this.body).poll_frame(cx) {
            return Poll::Ready(frame.map(|frame| frame.map_err(Into::into)));
        }
        let deadline = this.deadline;
        let timer = this
            .timer
            .get_or_insert_with(|| Box::pin(tokio::time::sleep_until(deadline)));
        ready!(timer.as_mut().poll(cx));
        Poll::Ready(Some(Err(Box::new(BodyTimedOut))))
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}

/// A client's connection as hyper sees it. Writes pass through, except that
/// - hyper's own answers to requests it could not parse (400 for a malformed request line,
///   header or Content-Length, 414 for an overlong URI, 431 for oversized headers) are written
///   with the JSON error body instead of none (it is not write-vectored, so hyper hands it each
///   response head in one buffer);
/// - a write that waits `send_timeout` without any progress fails with `TimedOut`: the client
///   stopped reading, and hyper drops the connection.
struct ClientConnection<IO> {
    io: IO,
    /// A rewritten rejection and how much of it is written.
    pending: Option<(Vec<u8>, usize)>,
    stall: Stall,
}

/// How long a write has waited on the client.
struct Stall {
    timeout: Duration,
    /// Running while a write waits; made the first time one does.
    timer: Option<Pin<Box<Sleep>>>,
    waiting: bool,
}

impl<IO> ClientConnection<IO> {
    fn new(io: IO, send_timeout: Duration) -> Self {
        ClientConnection {
            io,
            pending: None,
            stall: Stall {
                timeout: send_timeout,
                timer: None,
                waiting: false,
            },
        }
    }
}

impl Stall {
    /// Passes `written` on, unless it is pending and the wait began `timeout` ago.
    fn bounded<T>(
        &mut self,
        cx: &mut Context<'_>,
        written: Poll<io::Result<T>>,
    ) -> Poll<io::Result<T>> {
        if written.is_ready() {
            self.waiting = false;
            return written;
        }
        let deadline = Instant::now() + self.timeout;
        let timer = self
            .timer
            .get_or_insert_with(|| Box::pin(tokio::time::sleep_until(deadline)));
        if !self.waiting {
            timer.as_mut().reset(deadline);
            self.waiting = true;
        }
        ready!(timer.as_mut().poll(cx));
        Poll::Ready(Err(io::Error::new(
            io::ErrorKind::TimedOut,
            "the client read nothing of the response in time",
        )))
    }
}

impl<IO: AsyncRead + Unpin> AsyncRead for ClientConnection<IO> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_read(cx, buf)
    }
}

impl<IO: AsyncWrite + Unpin> AsyncWrite for ClientConnection<IO> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        if this.pending.is_none() {
            match with_json_body(buf) {
                Some(rewritten) => this.pending = Some((rewritten, 0)),
                None => {
                    let written = Pin::new(&mut this.io).poll_write(cx, buf);
                    return this.stall.bounded(cx, written);
                }
            }
        }
        // hyper calls again with the same buffer until it is reported written, all of it.
        while let Some((bytes, written)) = &mut this.pending {
            if *written == bytes.len() {
                this.pending = None;
                break;
            }
            let sent = Pin::new(&mut this.io).poll_write(cx, &bytes[*written..]);
            let n = ready!(this.stall.bounded(cx, sent))?;
            if n == 0 {
                return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
            }
            *written += n;
        }
        Poll::Ready(Ok(buf.len()))
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let flushed = Pin::new(&mut this.io).poll_flush(cx);
        this.stall.bounded(cx, flushed)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_shutdown(cx)
    }
}

/// hyper's automatic answer to an unparsable request (a bodiless 400, 414 or 431, which the
/// router never sends: its errors all have bodies), rewritten with our JSON error body.
fn with_json_body(written: &[u8]) -> Option<Vec<u8>> {
    let head = std::str::from_utf8(written).ok()?;
    let status = head
        .strip_prefix("HTTP/1.1 ")
        .or_else(|| head.strip_prefix("HTTP/1.0 "))?
        .get(..3)?;
    let (status, code, message) = match status {
        "400" => (
            StatusCode::BAD_REQUEST,
            "bad_request",
            "the request is not valid HTTP",
        ),
        "414" => (
            StatusCode::URI_TOO_LONG,
            "uri_too_long",
            "the request's URI is too long",
        ),
        "431" => (
            StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            "headers_too_large",
            "the request's headers are too large",
        ),
        _ => return None,
    };
    const EMPTY: &str = "\r\ncontent-length: 0\r\n";
    if !head.ends_with("\r\n\r\n") || !head.contains(EMPTY) {
        return None;
    }
    let body = ApiError::new(status, code, message).body().to_string();
    let mut headers =
        format!("\r\ncontent-type: application/json\r\ncache-control: {API_CACHE_CONTROL}\r\n");
    for (name, value) in EVERY_RESPONSE {
        headers.push_str(&format!("{name}: {value}\r\n"));
    }
    headers.push_str(&format!("content-length: {}\r\n", body.len()));
    let head = head.replacen(EMPTY, &headers, 1);
    Some([head.as_bytes(), body.as_bytes()].concat())
}

#[cfg(test)]
mod tests {
    use super::with_json_body;

    #[test]
    fn only_bodiless_parse_rejections_are_rewritten() {
        let rejection =
            b"HTTP/1.1 431 Request Header Fields Too Large\r\ncontent-length: 0\r\ndate: x\r\n\r\n";
        let rewritten =
            String::from_utf8(with_json_body(rejection).expect("rewritten")).expect("utf-8");
        let (head, body) = rewritten.split_once("\r\n\r\n").expect("head and body");
        assert!(head.contains("content-type: application/json"), "{head}");
        assert!(
            head.contains(&format!("content-length: {}", body.len())),
            "{head}"
        );
        let body: serde_json::Value = serde_json::from_str(body).expect("json");
        assert_eq!(body["error"]["code"], "headers_too_large");
        // A response with a body, and a bodiless answer that is not a rejection, pass through.
        assert!(
            with_json_body(b"HTTP/1.1 400 Bad Request\r\ncontent-length: 2\r\n\r\n{}").is_none()
        );
        assert!(with_json_body(b"HTTP/1.1 204 No Content\r\ndate: x\r\n\r\n").is_none());
    }
}
