//! EVE's performance figures, all over loopback against the release `eve-server` binary with
//! stub backends (in-memory store, our stub Bedrock):
//!
//! 1. cold start — process spawn to the first answered `/api/chat`;
//! 2. warm per-request latency — sequential requests on a kept-alive connection;
//! 3. load — 1000 concurrent clients with the stub model delayed 850 ms. Clients arrive spread
//!    over one model latency, so from then on all 1000 are in flight at every moment;
//! 4. burst — the worst case: the same 1000 clients released in the same instant, 1000 new
//!    connections at once;
//! 5. moto — the conversations table on a moto server instead of in memory (the session
//!    counter, the budget reservation, history when not cached, both turns stored), against
//!    the goals:
//!    cold start and peak RSS at the first answer, warm model and curated answers, and whether
//!    latency stays flat as one conversation grows.
//!
//! Run: `cargo build --release -p eve-function --bins --examples && target/release/examples/bench`
//! (`bench --quick` for a smaller run; `bench load` runs one phase: `cold`, `warm`, `load`,
//! `burst` or `moto`). `EVE_SERVER=path` benchmarks another build, e.g. `target/profiling/eve-server`.

#[path = "../tests/support/mod.rs"]
mod support;

use std::path::PathBuf;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use eve_function::adapters::dynamodb::DynamoStore;
use eve_function::core::budget::LEASE_ANSWERS;
use eve_function::core::ports::{ConversationStore, RateWindow, Role, TokenReservation, Turn};
use serde_json::json;
use support::bedrock_stub::{StubBedrock, StubConfig};
use support::{client, send, EveServer, HttpClient, Moto};

const COLD_RUNS: usize = 20;
const WARM_REQUESTS: usize = 1000;
/// Sessions the warm requests take turns in.
const SESSIONS: usize = 50;
const CLIENTS: usize = 1000;
/// Requests each client sends back to back in the load phase (the burst sends 3).
const REQUESTS_PER_CLIENT: usize = 6;
const BURST_REQUESTS_PER_CLIENT: usize = 3;
const MODEL_DELAY: Duration = Duration::from_millis(850);
/// Where OpenSSL's convention, and rustls-native-certs, look for a directory of CA files.
const CERT_DIR_VAR: &str = "SSL_CERT_DIR";

/// The `eve-server` next to this bench, or `$EVE_SERVER` (e.g. the `profiling` build under perf).
fn server_binary() -> PathBuf {
    if let Some(binary) = std::env::var_os("EVE_SERVER") {
        return PathBuf::from(binary);
    }
    let exe = std::env::current_exe().expect("own path");
    // target/<profile>/examples/bench → target/<profile>/eve-server
    let dir = exe.parent().and_then(|p| p.parent()).expect("target dir");
    let binary = dir.join("eve-server");
    assert!(
        binary.is_file(),
        "build it first: cargo build --release -p eve-function --bins"
    );
    binary
}

/// Rate limits and budget out of the way: the benchmark measures EVE, not its guards.
const UNGUARDED: [(&str, &str); 3] = [
    ("EVE_IP_RATE_PER_MINUTE", "1000000"),
    ("EVE_SESSION_RATE_PER_MINUTE", "1000000"),
    ("EVE_DAILY_TOKEN_BUDGET", "1000000000000"),
];

/// eve-server with production logging, using the stub model, or `--offline` without one.
fn spawn(stub: Option<&StubBedrock>) -> EveServer {
    let mut env: Vec<(&str, &str)> = UNGUARDED.to_vec();
    env.push(("RUST_LOG", "info"));
    let args: &[&str] = match stub {
        Some(stub) => {
            env.extend([
                ("EVE_MODEL_ID", "stub.echo-v1"),
                ("AWS_ENDPOINT_URL", stub.endpoint.as_str()),
                ("AWS_ACCESS_KEY_ID", "bench"),
                ("AWS_SECRET_ACCESS_KEY", "bench"),
                ("AWS_REGION", "us-east-1"),
            ]);
            &[]
        }
        None => &["--offline"],
    };
    EveServer::spawn(&server_binary(), args, &env).expect("eve-server starts")
}

/// What answered a chat, and in which session.
struct Answered {
    source: String,
    session_id: String,
}

/// One chat message in `session`; None starts a new one, as the widget's first message does
/// (it sends the session EVE names from then on).
async fn chat(
    client: &HttpClient,
    url: &str,
    message: &str,
    session: Option<&str>,
) -> Result<Answered, String> {
    let body = match session {
        Some(session) => json!({ "message": message, "session_id": session }),
        None => json!({ "message": message }),
    };
    let reply = send(
        client,
        "POST",
        &format!("{url}/api/chat"),
        &[("content-type", "application/json")],
        Bytes::from(body.to_string()),
    )
    .await;
    if reply.status != 200 {
        return Err(format!("HTTP {}: {}", reply.status, reply.text()));
    }
    let field = |name: &str| reply.json()[name].as_str().unwrap_or_default().to_string();
    Ok(Answered {
        source: field("source"),
        session_id: field("session_id"),
    })
}

/// (p50, p90, p99, max) in milliseconds.
fn percentiles(mut samples: Vec<Duration>) -> (f64, f64, f64, f64) {
    samples.sort();
    let at = |q: f64| {
        let i = ((samples.len() as f64 * q).ceil() as usize).clamp(1, samples.len()) - 1;
        samples[i].as_secs_f64() * 1000.0
    };
    (at(0.50), at(0.90), at(0.99), at(1.0))
}

fn report(label: &str, samples: Vec<Duration>) {
    let n = samples.len();
    if n == 0 {
        println!("{label:<44} no samples");
        return;
    }
    let (p50, p90, p99, max) = percentiles(samples);
    println!("{label:<44} n={n:<5} p50={p50:>8.2} ms  p90={p90:>8.2} ms  p99={p99:>8.2} ms  max={max:>8.2} ms");
}

async fn cold_start(runs: usize) {
    let stub = StubBedrock::start(StubConfig::default());
    let (mut to_listen, mut to_answer) = (Vec::new(), Vec::new());
    for run in 0..runs {
        let started = Instant::now();
        let server = spawn(Some(&stub));
        to_listen.push(started.elapsed());
        let answered = chat(
            &client(),
            &server.url,
            "What is Tidewatch?",
            Some(&format!("cold-start-{run}")),
        )
        .await
        .expect("first chat");
        to_answer.push(started.elapsed());
        assert_eq!(answered.source, "model");
    }
    report("cold start: spawn → listening", to_listen);
    report("cold start: spawn → first /api/chat (model)", to_answer);
}

async fn warm(requests: usize) {
    let stub = StubBedrock::start(StubConfig::default());
    let server = spawn(Some(&stub));
    let client = client();
    for (label, message) in [
        ("warm: curated answer", "How can I contact Alex?"),
        (
            "warm: model via stub Bedrock (0 ms model)",
            "What does Alex do with Terraform?",
        ),
    ] {
        let mut samples = Vec::with_capacity(requests);
        for i in 0..requests {
            let session = format!("warm-{}-{}", label.len(), i % SESSIONS);
            let started = Instant::now();
            chat(&client, &server.url, message, Some(&session))
                .await
                .expect("warm chat");
            samples.push(started.elapsed());
        }
        report(label, samples);
    }
    drop(server);
    // The offline figure needs a server with no model configured.
    let offline = spawn(None);
    let mut samples = Vec::with_capacity(requests);
    for i in 0..requests {
        let started = Instant::now();
        chat(
            &client,
            &offline.url,
            "Which projects use DynamoDB?",
            Some(&format!("offline-{}", i % SESSIONS)),
        )
        .await
        .expect("offline chat");
        samples.push(started.elapsed());
    }
    report("warm: offline responder, BM25 (--offline)", samples);
}

/// Turns of the one long conversation of the moto phase; its first and last ten are compared.
const CONVERSATION_TURNS: usize = 60;

/// EVE over a moto DynamoDB and the stub model, each answer waiting on the table as in AWS.
async fn against_moto(cold_runs: usize, requests: usize) {
    let Some(moto) = Moto::start("bench moto") else {
        return;
    };
    let table = "eve-bench";
    moto.create_conversations_table(table).await;
    let stub = StubBedrock::start(StubConfig::default());
    let mut env: Vec<(&str, String)> = moto.env();
    env.extend(UNGUARDED.map(|(k, v)| (k, v.to_string())));
    env.extend([
        ("RUST_LOG", "info".to_string()),
        ("EVE_TABLE_NAME", table.to_string()),
        ("EVE_MODEL_ID", "stub.echo-v1".to_string()),
        ("AWS_ENDPOINT_URL_BEDROCK_RUNTIME", stub.endpoint.clone()),
    ]);
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let start_without = |unset: &[&str]| {
        EveServer::spawn_without(&server_binary(), &[], &env, unset).expect("eve-server starts")
    };
    let start = || start_without(&[]);
    let client = client();
    let ask = |url: String, message: &'static str, session: Option<String>| {
        let client = client.clone();
        async move {
            let started = Instant::now();
            let answered = chat(&client, &url, message, session.as_deref())
                .await
                .expect("chat on moto");
            (started.elapsed(), answered)
        }
    };

    // A machine that sets `SSL_CERT_DIR` (this one: /etc/ssl/certs, 146 files, beside
    // `SSL_CERT_FILE`) makes the SDK read every file there at start besides the bundle, so runs
    // alternate with runs without it. (With neither variable set, as on Lambda and in the
    // images, the SDK reads the bundle it finds and every certificate directory that exists.)
    let cert_dir_set = std::env::var_os(CERT_DIR_VAR).is_some();
    let (mut to_answer, mut to_answer_without_dir, mut peaks) =
        (Vec::new(), Vec::new(), Vec::new());
    for run in 0..cold_runs * (1 + usize::from(cert_dir_set)) {
        let without_dir = cert_dir_set && run % 2 == 1;
        let started = Instant::now();
        let mut server = start_without(if without_dir { &[CERT_DIR_VAR] } else { &[] });
        // A visitor's session new to the process: its turns are read from the table.
        let (_, answered) = ask(
            server.url.clone(),
            "What is Tidewatch?",
            Some(format!("moto-cold-{run}")),
        )
        .await;
        assert_eq!(answered.source, "model");
        if without_dir {
            to_answer_without_dir.push(started.elapsed());
        } else {
            to_answer.push(started.elapsed());
            peaks.extend(server.peak_rss_mb());
        }
        // Stopped as a container platform stops it (SIGTERM), so it returns its budget lease as
        // in production, rather than leave it held on the day's counter for the later phases.
        server.terminate();
    }
    report("moto: cold, spawn → first model answer", to_answer);
    if cert_dir_set {
        report(
            &format!("moto: cold, the same without {CERT_DIR_VAR}"),
            to_answer_without_dir,
        );
    }
    peaks.sort_by(f64::total_cmp);
    if let (Some(low), Some(high)) = (peaks.first(), peaks.last()) {
        println!(
            "moto: peak RSS at the first answer            {low:.1}–{high:.1} MB over {} runs",
            peaks.len()
        );
    }

    let server = start();
    let store = DynamoStore::new(
        aws_sdk_dynamodb::Client::new(&moto.sdk_config().await),
        table,
    );
    // Visitors' sessions as the widget keeps them: the first message names none and takes the
    // one EVE names, so no history is read for it.
    let (mut samples, mut alone) = (Vec::with_capacity(requests), Vec::with_capacity(requests));
    let mut sessions: Vec<Option<String>> = vec![None; SESSIONS];
    for i in 0..requests {
        let session = &mut sessions[i % SESSIONS];
        let (took, answered) = ask(
            server.url.clone(),
            "What does Alex do with Terraform?",
            session.clone(),
        )
        .await;
        assert_eq!(answered.source, "model");
        samples.push(took);
        // Interleaved, so both see the same table: moto's Query reads every item in it. A
        // session of its own: the bench counting in EVE's would look like a second instance.
        let own_session = format!("{}-alone", answered.session_id);
        alone.push(store_calls_alone(&store, &own_session, i, Answer::Model).await);
        *session = Some(answered.session_id);
    }
    report(
        "moto: warm model answer (count, exchange; a lease per 8)",
        samples,
    );
    report("moto: the same store calls alone, from the bench", alone);
    let (mut samples, mut alone) = (Vec::with_capacity(requests), Vec::with_capacity(requests));
    let mut sessions: Vec<Option<String>> = vec![None; SESSIONS];
    for i in 0..requests {
        let session = &mut sessions[i % SESSIONS];
        let (took, answered) = ask(
            server.url.clone(),
            "How can I contact Alex?",
            session.clone(),
        )
        .await;
        assert_eq!(answered.source, "curated");
        samples.push(took);
        let own_session = format!("{}-alone", answered.session_id);
        alone.push(store_calls_alone(&store, &own_session, i, Answer::Curated).await);
        *session = Some(answered.session_id);
    }
    report("moto: warm curated answer (count beside exchange)", samples);
    report("moto: the same store calls alone, from the bench", alone);
    // A session this instance has not seen (it moved here from another, or the server
    // restarted): its turns are read and its count made by update.
    let mut samples = Vec::with_capacity(SESSIONS);
    for i in 0..SESSIONS {
        let session = format!("moto-moved-{i}");
        let (took, answered) = ask(
            server.url.clone(),
            "What does Alex do with Terraform?",
            Some(session),
        )
        .await;
        assert_eq!(answered.source, "model");
        samples.push(took);
    }
    report("moto: model answer in a session new here", samples);
    let mut turns = Vec::with_capacity(CONVERSATION_TURNS);
    let mut session = None;
    for _ in 0..CONVERSATION_TURNS {
        let (took, answered) = ask(
            server.url.clone(),
            "What does Alex do with Terraform?",
            session.take(),
        )
        .await;
        turns.push(took);
        session = Some(answered.session_id);
    }
    let last = turns.split_off(CONVERSATION_TURNS - 10);
    turns.truncate(10);
    report("moto: one conversation, turns 1–10", turns);
    report(
        &format!(
            "moto: one conversation, turns {}–{CONVERSATION_TURNS}",
            CONVERSATION_TURNS - 9
        ),
        last,
    );
}

/// Which answer's store calls [`store_calls_alone`] makes.
#[derive(Clone, Copy, PartialEq)]
enum Answer {
    Model,
    Curated,
}

/// The store calls of one answer made straight from the bench, grouped as eve-server groups
/// them. A model answer: the count (no history is read: the session is new, then EVE's cache
/// holds it) with, on the first answer of each lease, the lease's reservation; then the
/// exchange, with the lease's settlement on its last answer. A curated answer: the count and
/// the exchange together. What moto alone takes, beside EVE's whole answer.
async fn store_calls_alone(
    store: &DynamoStore,
    session: &str,
    i: usize,
    answer: Answer,
) -> Duration {
    let at_ms = u64::try_from(i).unwrap_or(0) + 1_000_000;
    let request_id = format!("bench-{i}");
    // A window a minute, as EVE counts a session's requests.
    let window = RateWindow {
        key: format!("session#{session}"),
        window: unix_minutes(),
        limit: u32::MAX,
        expires_at: 0,
    };
    let lease = u64::try_from(i).unwrap_or(0) / LEASE_ANSWERS;
    let answer_of_lease = u64::try_from(i).unwrap_or(0) % LEASE_ANSWERS;
    let reservation = TokenReservation {
        day: "day".into(),
        request_id: format!("bench-lease-{lease}"),
        tokens: 1000 * LEASE_ANSWERS,
        at_s: 0,
    };
    let turn = |role, at_ms| {
        Turn::new(
            session,
            at_ms,
            role,
            request_id.clone(),
            "What does Alex do with Terraform?",
        )
    };
    let (question, reply) = (turn(Role::User, at_ms), turn(Role::Assistant, at_ms + 1));
    let started = Instant::now();
    if answer == Answer::Curated {
        let (counted, stored) = tokio::join!(
            store.count_request(&window, &request_id),
            store.append_exchange(&question, &reply)
        );
        let took = started.elapsed();
        counted.expect("moto answers");
        stored.expect("moto stores");
        return took;
    }
    let (counted, reserved) = tokio::join!(store.count_request(&window, &request_id), async {
        if answer_of_lease > 0 {
            return Ok(None);
        }
        let state = store
            .reserve_tokens("bench", &reservation, u64::MAX)
            .await?;
        Ok(Some(state))
    });
    let (stored, settled) = tokio::join!(store.append_exchange(&question, &reply), async {
        if answer_of_lease + 1 < LEASE_ANSWERS {
            return Ok(());
        }
        store
            .settle_tokens("bench", &reservation, 100 * LEASE_ANSWERS)
            .await
    });
    let took = started.elapsed();
    for result in [counted.map(drop), reserved.map(drop)] {
        result.expect("moto answers");
    }
    stored.and(settled).expect("moto stores");
    took
}

fn unix_minutes() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |since| since.as_secs() / 60)
}

/// One client's requests: (started, finished, answered by the model).
type Exchange = (Instant, Instant, bool);

/// `clients` clients, client `c` starting `c / clients` of the way through `arrivals`, each
/// sending `per_client` chats back to back on its own session.
async fn load(label: &str, clients: usize, per_client: usize, arrivals: Duration) {
    let stub = StubBedrock::start(StubConfig {
        delay: MODEL_DELAY,
        ..StubConfig::default()
    });
    let server = spawn(Some(&stub));
    let client = client();
    let started = Instant::now();
    let tasks: Vec<_> = (0..clients)
        .map(|c| {
            let client = client.clone();
            let url = server.url.clone();
            let arrival = started + arrivals.mul_f64(c as f64 / clients as f64);
            tokio::spawn(async move {
                tokio::time::sleep_until(arrival.into()).await;
                let mut exchanges: Vec<Exchange> = Vec::with_capacity(per_client);
                for r in 0..per_client {
                    let begun = Instant::now();
                    let outcome = chat(
                        &client,
                        &url,
                        "What does Alex do with Terraform?",
                        Some(&format!("load-{c:04}")),
                    )
                    .await
                    .map(|answered| answered.source);
                    let ok = matches!(outcome.as_deref(), Ok("model"));
                    if !ok && r == 0 {
                        eprintln!("client {c}: {outcome:?}");
                    }
                    exchanges.push((begun, Instant::now(), ok));
                }
                exchanges
            })
        })
        .collect();
    let mut exchanges = Vec::new();
    let mut first_requests = Vec::new();
    for task in tasks {
        let client_exchanges = task.await.expect("client task");
        if let Some((begun, ended, _)) = client_exchanges.first() {
            first_requests.push(*ended - *begun);
        }
        exchanges.extend(client_exchanges);
    }
    let wall = started.elapsed();
    let errors = exchanges.iter().filter(|(_, _, ok)| !ok).count();
    let total = exchanges.len();
    let (mean_in_flight, max_in_flight) = in_flight(&exchanges);
    report(
        &format!("{label}: first request per client (new connection)"),
        first_requests,
    );
    report(
        &format!("{label}: inside eve-server (`chat reply` log)"),
        server_latencies(&server.logs()),
    );
    report(
        &format!(
            "{label}: {clients} clients, model +{} ms",
            MODEL_DELAY.as_millis()
        ),
        exchanges
            .iter()
            .map(|(begun, ended, _)| *ended - *begun)
            .collect(),
    );
    println!(
        "{label}: {total} requests in {:.2} s ({:.0} req/s), in flight mean {mean_in_flight:.0} max {max_in_flight}, errors or non-model answers: {errors}",
        wall.as_secs_f64(),
        total as f64 / wall.as_secs_f64()
    );
}

/// Requests in flight, averaged over the time any was, and at most: what "concurrent" was.
fn in_flight(exchanges: &[Exchange]) -> (f64, usize) {
    let mut edges: Vec<(Instant, i64)> = exchanges
        .iter()
        .flat_map(|(begun, ended, _)| [(*begun, 1), (*ended, -1)])
        .collect();
    edges.sort();
    let (mut current, mut max, mut weighted) = (0i64, 0i64, 0.0);
    let mut busy = Duration::ZERO;
    for pair in edges.windows(2) {
        let ((at, step), (next, _)) = (pair[0], pair[1]);
        current += step;
        max = max.max(current);
        let span = next - at;
        if current > 0 {
            weighted += current as f64 * span.as_secs_f64();
            busy += span;
        }
    }
    let mean = if busy.is_zero() {
        0.0
    } else {
        weighted / busy.as_secs_f64()
    };
    (mean, usize::try_from(max).unwrap_or(0))
}

/// The `latency_ms` of every `chat reply` log line: EVE's own view, without the connection and
/// queueing time the clients also see.
fn server_latencies(logs: &str) -> Vec<Duration> {
    logs.lines()
        .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
        .filter(|entry| entry["fields"]["message"] == "chat reply")
        .filter_map(|entry| entry["fields"]["latency_ms"].as_u64())
        .map(Duration::from_millis)
        .collect()
}

#[tokio::main]
async fn main() {
    let quick = std::env::args().any(|a| a == "--quick");
    let scale = |n: usize| if quick { n / 10 } else { n };
    // Phases to run: any of `cold`, `warm`, `load`, `burst`, `moto`; all by default.
    let chosen: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with("--"))
        .collect();
    let runs = |phase: &str| chosen.is_empty() || chosen.iter().any(|c| c == phase);
    println!("eve-server: {}", server_binary().display());
    if runs("cold") {
        cold_start(scale(COLD_RUNS)).await;
    }
    if runs("warm") {
        warm(scale(WARM_REQUESTS)).await;
    }
    if runs("load") {
        load("load", scale(CLIENTS), REQUESTS_PER_CLIENT, MODEL_DELAY).await;
    }
    if runs("burst") {
        load(
            "burst",
            scale(CLIENTS),
            BURST_REQUESTS_PER_CLIENT,
            Duration::ZERO,
        )
        .await;
    }
    if runs("moto") {
        against_moto(scale(COLD_RUNS), scale(WARM_REQUESTS)).await;
    }
}
