//! Clients that hold connections without finishing a request: eve-server closes a connection
//! whose headers do not arrive within `--header-read-timeout`, closes a keep-alive connection
//! left idle as long, answers 408 to a body that does not arrive within `--body-read-timeout`,
//! closes a connection whose client stops reading its responses for `--send-timeout`, and
//! serves at most `--max-connections` at once while the others wait.
//! Requests it cannot parse get the JSON error shape like every other error.

mod support;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::time::{Duration, Instant};

use support::{run_to_exit, EveServer};

const TIMEOUT_SECONDS: &str = "1";

fn server(extra: &[&str]) -> EveServer {
    let mut args = vec![
        "--offline",
        "--header-read-timeout",
        TIMEOUT_SECONDS,
        "--body-read-timeout",
        TIMEOUT_SECONDS,
        "--send-timeout",
        TIMEOUT_SECONDS,
    ];
    args.extend_from_slice(extra);
    EveServer::spawn(Path::new(env!("CARGO_BIN_EXE_eve-server")), &args, &[]).expect("eve-server")
}

fn connect(server: &EveServer) -> TcpStream {
    let stream = TcpStream::connect(server.url.trim_start_matches("http://")).expect("connect");
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .expect("read timeout");
    stream
}

/// Reads until the server closes the connection (or 10 s pass); returns what arrived and when
/// the close came.
fn read_until_closed(mut stream: TcpStream) -> (String, Duration) {
    let started = Instant::now();
    let mut seen = Vec::new();
    let mut buffer = [0u8; 4096];
    loop {
        match stream.read(&mut buffer) {
            Ok(0) => break,
            Ok(n) => seen.extend_from_slice(&buffer[..n]),
            Err(error) if error.kind() == std::io::ErrorKind::ConnectionReset => break,
            Err(error) => panic!("the server kept the connection open: {error}"),
        }
    }
    (
        String::from_utf8_lossy(&seen).into_owned(),
        started.elapsed(),
    )
}

#[test]
fn half_sent_headers_and_idle_keep_alive_connections_are_closed() {
    let server = server(&[]);

    // Half the headers, then nothing.
    let mut slow = connect(&server);
    slow.write_all(b"GET /api/health HTTP/1.1\r\nHost: eve\r\nX-Slow: 1")
        .expect("write");
    let (_, closed_after) = read_until_closed(slow);
    assert!(closed_after < Duration::from_secs(5), "{closed_after:?}");

    // Nothing at all.
    let (_, closed_after) = read_until_closed(connect(&server));
    assert!(closed_after < Duration::from_secs(5), "{closed_after:?}");

    // One whole request on a keep-alive connection, then silence.
    let mut idle = connect(&server);
    idle.write_all(b"GET /api/health HTTP/1.1\r\nHost: eve\r\n\r\n")
        .expect("write");
    let (answered, closed_after) = read_until_closed(idle);
    assert!(answered.starts_with("HTTP/1.1 200"), "{answered}");
    assert!(closed_after < Duration::from_secs(5), "{closed_after:?}");
}

/// A body sent a byte at a time, each byte well inside the header timeout, held the
/// connection for as long as the client liked (slow POST): the whole body now has
/// `--body-read-timeout` from the end of the headers, then the client gets a 408.
#[test]
fn a_body_that_does_not_arrive_in_time_is_answered_408_and_the_connection_closed() {
    let server = server(&[]);
    let body = br#"{"message":"hello","session_id":"slow-body-client-0001"}"#;
    for (case, sent) in [
        ("half the body, then nothing", body.len() / 2),
        ("a byte at a time", 0),
    ] {
        let mut slow = connect(&server);
        slow.write_all(
            format!(
                "POST /api/chat HTTP/1.1\r\nHost: eve\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
                body.len()
            )
            .as_bytes(),
        )
        .expect("write");
        slow.write_all(&body[..sent]).expect("write");
        let started = Instant::now();
        if sent == 0 {
            // A byte every 300 ms would take 17 s for this body.
            let mut drip = slow.try_clone().expect("clone");
            std::thread::spawn(move || {
                for byte in body {
                    std::thread::sleep(Duration::from_millis(300));
                    if drip.write_all(&[*byte]).is_err() {
                        break;
                    }
                }
            });
        }
        let (response, _) = read_until_closed(slow);
        let waited = started.elapsed();
        assert!(waited < Duration::from_secs(5), "{case}: {waited:?}");
        assert!(response.starts_with("HTTP/1.1 408 "), "{case}: {response}");
        let (head, json) = response.split_once("\r\n\r\n").expect("head and body");
        assert!(
            head.contains("content-type: application/json"),
            "{case}: {head}"
        );
        let json: serde_json::Value =
            serde_json::from_str(json).unwrap_or_else(|e| panic!("{case}: {e}: {json}"));
        assert_eq!(json["error"]["code"], "request_timeout", "{case}: {json}");
    }
    // A body that arrives in time, a little at a time, is answered as ever.
    let mut paced = connect(&server);
    paced
        .write_all(
            format!(
                "POST /api/chat HTTP/1.1\r\nHost: eve\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
                body.len()
            )
            .as_bytes(),
        )
        .expect("write");
    for chunk in body.chunks(20) {
        std::thread::sleep(Duration::from_millis(100));
        paced.write_all(chunk).expect("write");
    }
    let (response, _) = read_until_closed(paced);
    assert!(response.starts_with("HTTP/1.1 200 "), "{response}");
}

/// A client that asks for responses and never reads them (slow read) held its connection for as
/// long as it stayed connected, with the server's writes parked on a full socket: with one
/// connection allowed, nobody else was served. A write that makes no progress for
/// `--send-timeout` now ends the connection.
#[test]
fn a_client_that_stops_reading_loses_its_connection() {
    let site = tempfile::tempdir().expect("site dir");
    std::fs::write(
        site.path().join("index.html"),
        "<!doctype html><title>t</title>",
    )
    .expect("index");
    std::fs::write(site.path().join("large.txt"), "x".repeat(1 << 20)).expect("large file");
    let site_dir = site.path().to_str().expect("utf-8 path");
    let server = server(&["--max-connections", "1", "--site-dir", site_dir]);

    // Sixteen pipelined requests for a MiB each, far more than the socket buffers between
    // them hold, and not a byte read.
    let mut unread = connect(&server);
    let request = "GET /large.txt HTTP/1.1\r\nHost: eve\r\n\r\n".repeat(16);
    unread.write_all(request.as_bytes()).expect("write");
    std::thread::sleep(Duration::from_millis(200));

    let started = Instant::now();
    let mut next = connect(&server);
    next.write_all(b"GET /api/health HTTP/1.1\r\nHost: eve\r\nConnection: close\r\n\r\n")
        .expect("write");
    let (answered, _) = read_until_closed(next);
    let waited = started.elapsed();
    assert!(answered.starts_with("HTTP/1.1 200"), "{answered}");
    assert!(
        waited < Duration::from_secs(5),
        "the next client waited {waited:?} behind one that does not read"
    );
    drop(unread);
}

#[test]
fn connections_beyond_the_limit_wait_until_one_is_free() {
    let server = server(&["--max-connections", "2"]);
    // Two clients that say nothing hold both connections until the header timeout.
    let holders = [connect(&server), connect(&server)];
    std::thread::sleep(Duration::from_millis(200));
    let started = Instant::now();
    let mut third = connect(&server);
    third
        .write_all(b"GET /api/health HTTP/1.1\r\nHost: eve\r\nConnection: close\r\n\r\n")
        .expect("write");
    let (answered, _) = read_until_closed(third);
    let waited = started.elapsed();
    assert!(answered.starts_with("HTTP/1.1 200"), "{answered}");
    assert!(
        waited >= Duration::from_millis(500),
        "the third client was served while two held the limit ({waited:?})"
    );
    drop(holders);
}

/// What hyper refuses before the router sees a request comes back as our JSON error.
#[test]
fn unparsable_requests_get_json_errors() {
    let server = server(&[]);
    let many_headers: String = (0..120).map(|i| format!("X-H{i}: v\r\n")).collect();
    let long_uri = format!("/api/{}", "a".repeat(70_000));
    let cases = [
        ("GARBAGE\r\n\r\n".to_string(), "400", "bad_request"),
        (
            "POST /api/chat HTTP/1.1\r\nHost: eve\r\nContent-Length: ten\r\n\r\n".into(),
            "400",
            "bad_request",
        ),
        (
            format!("GET /api/health HTTP/1.1\r\nHost: eve\r\n{many_headers}\r\n"),
            "431",
            "headers_too_large",
        ),
        (
            format!("GET {long_uri} HTTP/1.1\r\nHost: eve\r\n\r\n"),
            "414",
            "uri_too_long",
        ),
        // An HTTP/1.1 request names its host once (RFC 9112, 3.2): hyper lets both through.
        (
            "GET /api/health HTTP/1.1\r\n\r\n".into(),
            "400",
            "bad_request",
        ),
        (
            "GET /api/health HTTP/1.1\r\nHost: eve\r\nHost: other\r\n\r\n".into(),
            "400",
            "bad_request",
        ),
    ];
    for (request, status, code) in cases {
        let mut stream = connect(&server);
        stream.write_all(request.as_bytes()).expect("write");
        let (response, _) = read_until_closed(stream);
        let shown = response.chars().take(200).collect::<String>();
        assert!(
            response.starts_with(&format!("HTTP/1.1 {status} ")),
            "{status} expected: {shown}"
        );
        let (head, body) = response.split_once("\r\n\r\n").expect("head and body");
        let head = head.to_ascii_lowercase();
        // The headers every API response carries, whether the router or hyper refused it.
        for header in [
            "content-type: application/json",
            "cache-control: no-store",
            "x-content-type-options: nosniff",
            "referrer-policy: strict-origin-when-cross-origin",
        ] {
            assert!(head.contains(header), "{header}: {head}");
        }
        let body: serde_json::Value =
            serde_json::from_str(body).unwrap_or_else(|e| panic!("{e}: {body}"));
        assert_eq!(body["error"]["code"], code, "{body}");
    }
}

/// Limits that would not limit, and addresses that are not ones, stop eve-server at its
/// argument with what is allowed (exit 2, clap's usage error), rather than serving: `0`
/// connections ran as one, and `localhost:8080` was refused as bad syntax.
#[test]
fn limits_and_addresses_are_checked_at_their_argument() {
    let binary = Path::new(env!("CARGO_BIN_EXE_eve-server"));
    for (args, expected) in [
        (
            ["--max-connections", "0"],
            "expected a whole number from 1 to 1000000",
        ),
        // Not the standard library's `invalid digit found in string`.
        (
            ["--max-connections", "1.5"],
            "expected a whole number from 1 to 1000000",
        ),
        (
            ["--header-read-timeout", "0"],
            "expected seconds above 0 and at most 3600",
        ),
        (
            ["--header-read-timeout", "1e30"],
            "expected seconds above 0 and at most 3600",
        ),
        (
            ["--header-read-timeout", "nan"],
            "expected seconds above 0 and at most 3600",
        ),
        (
            ["--send-timeout", "3601"],
            "expected seconds above 0 and at most 3600",
        ),
        (
            ["--body-read-timeout", "0"],
            "expected seconds above 0 and at most 3600",
        ),
        (
            ["--listen", "127.0.0.1"],
            "expected an address and port such as",
        ),
        (
            ["--trusted-proxy", "10.0.0.1/8"],
            "has host bits set: the network is `10.0.0.0/8`",
        ),
    ] {
        let mut all = vec!["--offline"];
        all.extend_from_slice(&args);
        let (code, stderr) = run_to_exit(binary, &all, &[]);
        assert_eq!(code, Some(2), "{args:?}: {stderr}");
        assert!(stderr.contains(expected), "{args:?}: {stderr}");
    }
    // A host name that resolves is an address.
    let server = server(&[]);
    let port = server.url.rsplit(':').next().expect("port");
    let (code, stderr) = run_to_exit(
        binary,
        &["--healthcheck", "--listen", &format!("localhost:{port}")],
        &[],
    );
    assert_eq!(code, Some(0), "{stderr}");
}
