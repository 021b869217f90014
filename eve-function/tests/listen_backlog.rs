//! A burst of new connections must wait in the kernel's accept queue, not be dropped: a dropped
//! SYN is retried a second later, which was the whole latency tail of 1000 clients arriving at once.

use std::time::Duration;

use eve_function::http::{listen, LISTEN_BACKLOG};
use futures_util::future::join_all;
use tokio::net::TcpStream;

/// More than tokio's default backlog (128), well under `LISTEN_BACKLOG` and a modern somaxconn.
const BURST: usize = 600;

fn somaxconn() -> Option<usize> {
    std::fs::read_to_string("/proc/sys/net/core/somaxconn")
        .ok()
        .and_then(|v| v.trim().parse().ok())
}

#[tokio::test]
async fn connections_beyond_tokios_default_backlog_are_queued_not_dropped() {
    if let Some(limit) = somaxconn().filter(|&limit| limit < BURST) {
        panic!("net.core.somaxconn is {limit}; this host caps every accept queue below {BURST}");
    }
    // Nothing accepts: every connection has to fit in the queue.
    let listener = listen(([127, 0, 0, 1], 0).into()).expect("listen on loopback");
    let address = listener.local_addr().expect("bound address");
    let connects = (0..BURST).map(|_| {
        // A dropped SYN would be retried only after a second.
        tokio::time::timeout(Duration::from_millis(500), TcpStream::connect(address))
    });
    let results = join_all(connects).await;
    let queued = results.iter().filter(|r| matches!(r, Ok(Ok(_)))).count();
    assert_eq!(
        queued, BURST,
        "only {queued} of {BURST} connections were queued (LISTEN_BACKLOG = {LISTEN_BACKLOG})"
    );
}
