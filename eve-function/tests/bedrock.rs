//! `eve-server` against our stub Bedrock (real SDK, real HTTP, real event-stream framing):
//! Converse, ConverseStream, throttling retries, failures and timeouts falling back offline.

mod support;

use std::path::Path;
use std::time::{Duration, Instant};

use serde_json::json;
use support::bedrock_stub::{StubBedrock, StubConfig, SLOW_DELTA_GAP};
use support::{first_delta_and_done, post_json, post_json_timed, sse_events, EveServer};

async fn eve_with(stub: &StubBedrock, extra: &[(&str, &str)]) -> EveServer {
    let mut env = vec![
        ("EVE_MODEL_ID", "stub.echo-v1"),
        ("AWS_ENDPOINT_URL", stub.endpoint.as_str()),
        ("AWS_ACCESS_KEY_ID", "testing"),
        ("AWS_SECRET_ACCESS_KEY", "testing"),
        ("AWS_REGION", "us-east-1"),
    ];
    env.extend_from_slice(extra);
    EveServer::spawn(Path::new(env!("CARGO_BIN_EXE_eve-server")), &[], &env)
        .expect("eve-server starts")
}

const QUESTION: &str = "What does Alex do with Terraform?";

#[tokio::test(flavor = "multi_thread")]
async fn converse_replies_come_from_the_model() {
    let (stub, reply) = ask(StubConfig::default(), &[], "/api/chat").await;
    assert_eq!(reply.status, 200, "{}", reply.text());
    let answer = reply.json();
    assert_eq!(answer["source"], "model");
    assert_eq!(answer["reply"], StubConfig::default().reply.as_str());

    let requests = stub.requests();
    assert_eq!(requests.len(), 1);
    let (operation, body) = &requests[0];
    assert_eq!(operation, "stub.echo-v1/converse");
    let system = body["system"][0]["text"].as_str().expect("system prompt");
    assert!(
        system.contains("You are EVE") && system.contains("Terraform"),
        "{system}"
    );
    assert!(
        !system.contains(QUESTION),
        "user text must not be in the system prompt"
    );
    assert_eq!(body["messages"][0]["role"], "user");
    assert_eq!(body["messages"][0]["content"][0]["text"], QUESTION);
    assert_eq!(body["inferenceConfig"]["maxTokens"], 600);
    assert!(
        (body["inferenceConfig"]["temperature"]
            .as_f64()
            .unwrap_or(0.0)
            - 0.3)
            .abs()
            < 1e-6
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn converse_stream_deltas_reach_the_client_as_sse() {
    let (stub, reply) = ask(StubConfig::default(), &[], "/api/chat/stream").await;
    assert_eq!(reply.status, 200, "{}", reply.text());
    let events = sse_events(&reply.text());
    let (done, deltas) = events.split_last().expect("events");
    assert_eq!(done.0, "done");
    assert_eq!(done.1["source"], "model");
    assert!(deltas.len() > 3, "word-sized deltas expected: {deltas:?}");
    let text: String = deltas
        .iter()
        .filter_map(|(_, d)| d["delta"].as_str())
        .collect();
    assert_eq!(text, StubConfig::default().reply);
    assert_eq!(stub.requests()[0].0, "stub.echo-v1/converse-stream");
}

#[tokio::test(flavor = "multi_thread")]
async fn the_first_delta_leaves_before_the_model_has_finished() {
    let stub = StubBedrock::start(StubConfig::slowly_streaming());
    let eve = eve_with(&stub, &[]).await;
    let (status, arrivals) = post_json_timed(
        &format!("{}/api/chat/stream", eve.url),
        &json!({ "message": QUESTION }),
    )
    .await;
    assert_eq!(status, 200);
    let (first_delta, done) = first_delta_and_done(&arrivals);
    // Five of the model's pauses lie between its first word and its last; a buffered stream
    // would deliver both together.
    assert!(
        done.saturating_sub(first_delta) >= SLOW_DELTA_GAP * 4,
        "first delta at {first_delta:?}, done at {done:?}: the stream was held back"
    );
}

/// Each delta leaves when the model sends it, even to a client that acknowledges late, as Linux
/// does outside its quick-ack mode and Windows does always. With Nagle's algorithm on, eve-server
/// held every small write until the one before it was acknowledged (up to 40 ms here), and the
/// deltas arrived in batches.
#[tokio::test(flavor = "multi_thread")]
async fn deltas_are_not_held_back_for_a_client_that_acknowledges_late() {
    const WORDS: usize = 30;
    let stub = StubBedrock::start(StubConfig {
        reply: (1..=WORDS).map(|i| format!("w{i} ")).collect(),
        delta_gap: Duration::from_millis(10),
        ..StubConfig::default()
    });
    let eve = eve_with(&stub, &[]).await;
    let address = eve.url.trim_start_matches("http://").to_string();
    let deltas_per_read = tokio::task::spawn_blocking(move || read_stream_acking_late(&address))
        .await
        .expect("reader thread");
    assert_eq!(
        deltas_per_read.iter().sum::<usize>(),
        WORDS,
        "{deltas_per_read:?}"
    );
    // Unbatched, nearly every delta comes in a read of its own; batched behind late ACKs, a read
    // brought three or four (the model sends one every 10 ms).
    let alone = deltas_per_read.iter().filter(|&&n| n == 1).count();
    assert!(
        alone * 3 >= WORDS * 2,
        "deltas per read: {deltas_per_read:?}: writes were held back"
    );
}

/// POSTs `QUESTION` to `/api/chat/stream` at `address` from a socket that leaves quick-ack mode
/// before every read (so it delays its ACKs), and counts the deltas each read brings.
fn read_stream_acking_late(address: &str) -> Vec<usize> {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(address).expect("connect");
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .expect("read timeout");
    let body = json!({ "message": QUESTION }).to_string();
    write!(
        stream,
        "POST /api/chat/stream HTTP/1.1\r\nHost: {address}\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .expect("send request");
    let (mut seen, mut deltas_per_read) = (String::new(), Vec::new());
    let mut buffer = [0u8; 65536];
    while !seen.contains("event: done") {
        socket2::SockRef::from(&stream)
            .set_tcp_quickack(false)
            .expect("TCP_QUICKACK");
        let read = stream.read(&mut buffer).expect("read");
        if read == 0 {
            break;
        }
        let piece = String::from_utf8_lossy(&buffer[..read]);
        match piece.matches("\"delta\"").count() {
            0 => {}
            deltas => deltas_per_read.push(deltas),
        }
        seen.push_str(&piece);
    }
    deltas_per_read
}

#[tokio::test(flavor = "multi_thread")]
async fn a_stream_broken_part_way_is_replaced_not_continued() {
    let config = StubConfig {
        stream_break_after: Some(3),
        ..StubConfig::default()
    };
    let (_stub, reply) = ask(config, &[], "/api/chat/stream").await;
    assert_eq!(reply.status, 200, "{}", reply.text());
    let events = sse_events(&reply.text());
    let kinds: Vec<&str> = events.iter().map(|(kind, _)| kind.as_str()).collect();
    assert_eq!(
        kinds,
        ["message", "message", "message", "replace", "done"],
        "three deltas, one replacement, done: {events:?}"
    );
    let offline = &events[3].1["text"];
    assert!(
        offline
            .as_str()
            .is_some_and(|text| !text.is_empty() && !text.starts_with("Alex builds **calm**")),
        "the replacement is the offline answer, not the model's text continued: {offline}"
    );
    assert_eq!(events[4].1["source"], "offline");
}

/// A stub configured with `config`, an eve-server using it, and `QUESTION` asked on `path`.
async fn ask(
    config: StubConfig,
    env: &[(&str, &str)],
    path: &str,
) -> (StubBedrock, support::Reply) {
    let stub = StubBedrock::start(config);
    let eve = eve_with(&stub, env).await;
    let reply = post_json(
        &format!("{}{path}", eve.url),
        &json!({ "message": QUESTION }),
    )
    .await;
    (stub, reply)
}

#[tokio::test(flavor = "multi_thread")]
async fn throttling_is_retried_with_backoff() {
    let config = StubConfig {
        throttle_first: 2,
        ..StubConfig::default()
    };
    let (stub, reply) = ask(config, &[], "/api/chat").await;
    let answer = reply.json();
    assert_eq!(answer["source"], "model", "{answer}");
    assert_eq!(stub.call_count(), 3, "two throttled attempts, then success");
}

#[tokio::test(flavor = "multi_thread")]
async fn model_failures_fall_back_to_offline_answers() {
    let failing = || StubConfig {
        always_fail: true,
        ..StubConfig::default()
    };
    let answer = ask(failing(), &[], "/api/chat").await.1.json();
    assert_eq!(answer["source"], "offline", "{answer}");
    assert!(answer["reply"]
        .as_str()
        .is_some_and(|r| r.contains("Terraform")));
    let stream = ask(failing(), &[], "/api/chat/stream").await.1;
    let events = sse_events(&stream.text());
    assert_eq!(
        events.last().map(|(_, d)| d["source"].clone()),
        Some(json!("offline"))
    );
}

/// `model_timeout_ms` is the model's whole budget: the storage clients' 6 s operation timeout
/// (shared SDK configuration) must not cut a model off before it.
#[tokio::test(flavor = "multi_thread")]
async fn a_model_slower_than_the_storage_timeouts_answers_within_model_timeout_ms() {
    let slow = StubConfig {
        delay: Duration::from_secs(7),
        ..StubConfig::default()
    };
    let (stub, reply) = ask(slow, &[("EVE_MODEL_TIMEOUT_MS", "12000")], "/api/chat").await;
    assert_eq!(reply.json()["source"], "model", "{}", reply.text());
    assert_eq!(stub.requests().len(), 1, "one attempt, not retried");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_slow_model_is_cut_off_by_the_timeout() {
    let slow = StubConfig {
        delay: Duration::from_secs(3),
        ..StubConfig::default()
    };
    let started = Instant::now();
    let (_stub, reply) = ask(slow, &[("EVE_MODEL_TIMEOUT_MS", "300")], "/api/chat").await;
    assert_eq!(reply.json()["source"], "offline");
    assert!(
        started.elapsed() < Duration::from_millis(2500),
        "{:?}",
        started.elapsed()
    );
}
