//! `eve-server --healthcheck`: the container HEALTHCHECK (eve-function/Dockerfile) probes the
//! real server and fails once nothing healthy answers.

mod support;

use std::path::Path;

use support::{run_to_exit, EveServer};

fn binary() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_eve-server"))
}

#[test]
fn healthcheck_passes_against_a_running_server_and_fails_without_one() {
    let mut server = EveServer::spawn(binary(), &["--offline"], &[]).expect("starts");
    let address = server.url.trim_start_matches("http://").to_string();
    let (code, stderr) = run_to_exit(binary(), &["--healthcheck", "--listen", &address], &[]);
    assert_eq!(code, Some(0), "healthy server reported unhealthy: {stderr}");

    // The image probes the address it listens on, 0.0.0.0: that means loopback.
    let port = address.rsplit(':').next().expect("port");
    let unspecified = format!("0.0.0.0:{port}");
    let (code, stderr) = run_to_exit(binary(), &["--healthcheck", "--listen", &unspecified], &[]);
    assert_eq!(code, Some(0), "0.0.0.0 not probed on loopback: {stderr}");

    server.terminate();
    let (code, stderr) = run_to_exit(binary(), &["--healthcheck", "--listen", &address], &[]);
    assert_eq!(code, Some(1), "stopped server reported healthy");
    assert!(stderr.contains("unhealthy"), "{stderr}");
}

#[test]
fn healthcheck_fails_when_something_else_answers() {
    // A plain TCP listener that answers 404: up, but not a healthy eve-server. Its status line
    // is quoted back: a terminal's escape in it is shown, not played, and a line without end
    // is cut short.
    let listener = std::net::TcpListener::bind(("127.0.0.1", 0)).expect("bind");
    let address = listener.local_addr().expect("address").to_string();
    let responder = std::thread::spawn(move || {
        use std::io::{BufRead, BufReader, Write};
        let (mut stream, _) = listener.accept().expect("accept");
        // Read the whole request head before answering, as a real server does.
        let mut reader = BufReader::new(stream.try_clone().expect("clone"));
        let mut line = String::new();
        while reader.read_line(&mut line).expect("request") > 2 {
            line.clear();
        }
        let status = format!(
            "HTTP/1.1 404 Not\u{1b}[2J\u{202e} Found{}\r\ncontent-length: 0\r\n\r\n",
            "x".repeat(100_000)
        );
        // The prober may stop reading the endless line and close: that is its answer.
        let _ = stream.write_all(status.as_bytes());
    });
    let (code, stderr) = run_to_exit(binary(), &["--healthcheck", "--listen", &address], &[]);
    responder.join().expect("responder");
    assert_eq!(code, Some(1));
    assert!(
        stderr.contains("404 Not\\u{1b}[2J\\u{202e} Found"),
        "{stderr:?}"
    );
    assert!(!stderr.contains('\u{1b}'), "{stderr:?}");
    assert!(stderr.len() < 2_000, "{} bytes", stderr.len());
}
