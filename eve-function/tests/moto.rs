//! `eve-server` against a moto server on a free loopback port: settings from SSM (decrypted,
//! overridable by env), conversations and the token budget in DynamoDB, certificates as S3
//! presigned URLs fetched over HTTP. The model is our stub Bedrock.

mod support;

use std::path::Path;

use aws_sdk_dynamodb::types::AttributeValue;
use aws_sdk_ssm::types::ParameterType;
use eve_function::adapters::dynamodb::DynamoStore;
use eve_function::core::ports::{
    ConversationStore, Previous, RateWindow, Role, TokenReservation, Turn,
};
use serde_json::json;
use support::bedrock_stub::{StubBedrock, StubConfig};
use support::lossy_relay::LossyRelay;
use support::{client, get, post_json, send, EveServer, Moto};

const TABLE: &str = "eve-conversations";
const BUCKET: &str = "eve-certificates";
const PDF: &[u8] = b"%PDF-1.4 certified kubernetes administrator";

fn binary() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_eve-server"))
}

/// Creates the table, bucket and the SSM parameters under `path`.
async fn seed(moto: &Moto, path: &str, parameters: &[(&str, &str, ParameterType)]) {
    let sdk = moto.sdk_config().await;
    moto.create_conversations_table(TABLE).await;
    let s3 = aws_sdk_s3::Client::from_conf(
        aws_sdk_s3::config::Builder::from(&sdk)
            .force_path_style(true)
            .build(),
    );
    let _ = s3.create_bucket().bucket(BUCKET).send().await;
    s3.put_object()
        .bucket(BUCKET)
        .key("certificates/cka.pdf")
        .body(PDF.to_vec().into())
        .send()
        .await
        .expect("put certificate");
    let ssm = aws_sdk_ssm::Client::new(&sdk);
    for (name, value, kind) in parameters {
        ssm.put_parameter()
            .name(format!("{path}{name}"))
            .value(*value)
            .r#type(kind.clone())
            .overwrite(true)
            .send()
            .await
            .expect("put parameter");
    }
}

fn aws_env<'a>(
    moto: &'a Moto,
    stub: Option<&'a StubBedrock>,
    extra: &[(&'a str, &'a str)],
) -> Vec<(&'a str, String)> {
    let mut env = moto.env();
    if let Some(stub) = stub {
        // The service-specific override the SDK reads natively: Bedrock goes to the stub.
        env.push(("AWS_ENDPOINT_URL_BEDROCK_RUNTIME", stub.endpoint.clone()));
    }
    env.extend(extra.iter().map(|(k, v)| (*k, v.to_string())));
    env
}

fn spawn(env: &[(&str, String)]) -> EveServer {
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    EveServer::spawn(binary(), &[], &env).expect("eve-server starts")
}

#[tokio::test(flavor = "multi_thread")]
async fn conversations_settings_budget_and_certificates_live_in_aws() {
    let Some(moto) = Moto::start("conversations_settings_budget_and_certificates_live_in_aws")
    else {
        return;
    };
    let path = "/cloudforgex/test/";
    seed(
        &moto,
        path,
        &[
            ("model_id", "stub.echo-v1", ParameterType::String),
            ("table_name", TABLE, ParameterType::String),
            ("certificates_bucket", BUCKET, ParameterType::String),
            ("presign_seconds", "120", ParameterType::String),
            ("max_tokens", "500", ParameterType::String),
            (
                "allowed_origins",
                "https://portfolio.example",
                ParameterType::SecureString,
            ),
        ],
    )
    .await;
    let stub = StubBedrock::start(StubConfig::default());
    let env = aws_env(
        &moto,
        Some(&stub),
        &[
            ("EVE_SSM_PATH", path),
            ("EVE_STAGE", "test"),
            // Env beats SSM for the same name.
            ("EVE_MAX_TOKENS", "77"),
            // Two model answers (2 × 363 tokens) spend it.
            ("EVE_DAILY_TOKEN_BUDGET", "700"),
        ],
    );
    let eve = spawn(&env);

    let ready = get(&format!("{}/api/health/ready", eve.url)).await;
    assert_eq!(ready.status, 200, "{}", ready.text());

    let session = "moto-session-1";
    let chat_url = format!("{}/api/chat", eve.url);
    let mut answers = Vec::new();
    for message in [
        "What is Ledger Lake?",
        "Which database does it use?",
        "And Tidewatch?",
    ] {
        let body = json!({ "message": message, "session_id": session });
        answers.push(post_json(&chat_url, &body).await.json());
    }
    let [first, second, third] = &answers[..] else {
        panic!("three answers expected");
    };
    assert_eq!(
        [&first["source"], &second["source"], &third["source"]],
        [&json!("model"), &json!("model"), &json!("offline")],
        "the third answer is offline: the budget is spent"
    );
    assert_eq!(stub.call_count(), 2);
    let requests = stub.requests();
    let follow_up = &requests[1].1;
    assert_eq!(
        follow_up["inferenceConfig"]["maxTokens"], 77,
        "env override of the SSM value"
    );
    let history: Vec<&str> = follow_up["messages"]
        .as_array()
        .expect("messages")
        .iter()
        .filter_map(|m| m["content"][0]["text"].as_str())
        .collect();
    assert_eq!(history[0], "What is Ledger Lake?");
    assert_eq!(history[2], "Which database does it use?");
    assert_eq!(
        history.len(),
        3,
        "the first exchange went back to the model"
    );

    let items = session_items(&moto, TABLE, session).await;
    assert_eq!(
        items.len(),
        3,
        "three exchanges, a question and its reply each"
    );
    let text = |i: usize, key: &str| {
        items[i]
            .get(key)
            .and_then(|v| v.as_s().ok())
            .cloned()
            .unwrap_or_default()
    };
    let number = |i: usize, key: &str| {
        items[i]
            .get(key)
            .and_then(|v| v.as_n().ok())
            .and_then(|n| n.parse::<u64>().ok())
            .unwrap_or_default()
    };
    let questions: Vec<String> = (0..3).map(|i| text(i, "question")).collect();
    assert_eq!(
        questions,
        [
            "What is Ledger Lake?",
            "Which database does it use?",
            "And Tidewatch?"
        ]
    );
    assert_eq!(
        text(0, "reply"),
        first["reply"].as_str().unwrap_or_default()
    );
    assert_eq!(text(0, "model_id"), "stub.echo-v1");
    assert_eq!(
        (number(0, "input_tokens"), number(0, "output_tokens")),
        (321, 42)
    );
    assert!(number(0, "answered_at_ms") > number(0, "at_ms"));
    assert_eq!(text(2, "source"), "offline");
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_secs();
    let ttl = number(0, "expires_at");
    assert!(
        ttl > now + 29 * 86_400 && ttl < now + 31 * 86_400,
        "30-day TTL: {ttl}"
    );

    assert_eq!(tokens_counted(&moto, "test").await, 726);

    let cors = send(
        &client(),
        "GET",
        &format!("{}/api/health", eve.url),
        &[("origin", "https://portfolio.example")],
        Vec::new(),
    )
    .await;
    assert_eq!(
        cors.header("access-control-allow-origin"),
        Some("https://portfolio.example"),
        "SecureString decrypted"
    );

    let link = get(&format!("{}/api/certificates/cka", eve.url)).await;
    assert_eq!(link.status, 200, "{}", link.text());
    let link = link.json();
    assert_eq!(link["expires_in"], 120);
    let url = link["url"].as_str().expect("url");
    assert!(
        url.starts_with(&format!("{}/{BUCKET}/certificates/cka.pdf?", moto.endpoint)),
        "path-style: {url}"
    );
    assert!(url.contains("X-Amz-Expires=120"), "{url}");
    let download = get(url).await;
    assert_eq!(download.status, 200);
    assert_eq!(download.body, PDF);
}

#[tokio::test(flavor = "multi_thread")]
async fn invalid_ssm_values_stop_startup_naming_the_parameter() {
    let Some(moto) = Moto::start("invalid_ssm_values_stop_startup_naming_the_parameter") else {
        return;
    };
    let path = "/cloudforgex/broken/";
    seed(
        &moto,
        path,
        &[
            ("max_tokens", "lots", ParameterType::String),
            // Misspelt, in the store and in the environment: ignored, and said so.
            ("histroy_turns", "2", ParameterType::String),
        ],
    )
    .await;
    let env = aws_env(
        &moto,
        None,
        &[("EVE_SSM_PATH", path), ("EVE_TEMPERATUR", "0.1")],
    );
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let (code, stderr) = support::run_to_exit(binary(), &["--listen", "127.0.0.1:0"], &env);
    assert_eq!(code, Some(1), "{stderr}");
    assert!(
        stderr.contains("ssm:/cloudforgex/broken/max_tokens = `lots`"),
        "{stderr}"
    );
    assert!(
        stderr.contains(
            "ssm:/cloudforgex/broken/: `histroy_turns` is not an EVE setting, so it is ignored; \
             did you mean `history_turns`?"
        ),
        "{stderr}"
    );
    assert!(
        stderr.contains(
            "`EVE_TEMPERATUR` is not an EVE variable, so it is ignored; did you mean \
             `EVE_TEMPERATURE`?"
        ),
        "{stderr}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_missing_table_fails_readiness_but_chat_still_answers() {
    let Some(moto) = Moto::start("a_missing_table_fails_readiness_but_chat_still_answers") else {
        return;
    };
    let env = aws_env(&moto, None, &[("EVE_TABLE_NAME", "no-such-table")]);
    let eve = spawn(&env);
    let ready = get(&format!("{}/api/health/ready", eve.url)).await;
    assert_eq!(ready.status, 503);
    assert_eq!(ready.json()["checks"]["store"], "down");
    let answer = post_json(
        &format!("{}/api/chat", eve.url),
        &json!({ "message": "What is Tidewatch?" }),
    )
    .await;
    assert_eq!(answer.status, 200);
    let reply = answer.json()["reply"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    // Writes were retried, then the turn (with the reply) went to the log rather than vanishing.
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    let logs = eve.logs();
    assert!(logs.contains("conversation turn not stored"), "{logs}");
    let first_line = reply.lines().next().unwrap_or_default();
    assert!(logs.contains(first_line), "the reply is in the log: {logs}");
}

/// The day's token counter in the table.
async fn tokens_counted(moto: &Moto, stage: &str) -> u64 {
    let dynamodb = aws_sdk_dynamodb::Client::new(&moto.sdk_config().await);
    let day = time::OffsetDateTime::now_utc().date().to_string();
    let counter = dynamodb
        .get_item()
        .table_name(TABLE)
        .key("pk", AttributeValue::S(format!("budget#{stage}")))
        .key("sk", AttributeValue::S(day))
        .send()
        .await
        .expect("counter");
    counter
        .item()
        .and_then(|i| i.get("tokens"))
        .and_then(|v| v.as_n().ok())
        .and_then(|n| n.parse().ok())
        .unwrap_or(0)
}

/// Fifty visitors at once against a budget of a few answers. Each chat reserves its worst case
/// in DynamoDB before the model is called, so they cannot all read "budget left" and all
/// spend: the day ends at most one answer over the budget, and the counter holds what the
/// answers really used. moto serves one request at a time here, as DynamoDB serialises the
/// writes to one item.
#[tokio::test(flavor = "multi_thread")]
async fn fifty_concurrent_chats_cannot_spend_past_the_budget() {
    let Some(moto) = Moto::start_serial("fifty_concurrent_chats_cannot_spend_past_the_budget")
    else {
        return;
    };
    seed(&moto, "/cloudforgex/budget/", &[]).await;
    let stub = StubBedrock::start(StubConfig {
        delay: std::time::Duration::from_millis(300),
        ..StubConfig::default()
    });
    let budget = 3_000;
    let env = aws_env(
        &moto,
        Some(&stub),
        &[
            ("EVE_TABLE_NAME", TABLE),
            ("EVE_STAGE", "budget"),
            ("EVE_MODEL_ID", "stub.echo-v1"),
            ("EVE_MAX_TOKENS", "77"),
            ("EVE_DAILY_TOKEN_BUDGET", "3000"),
            ("EVE_IP_RATE_PER_MINUTE", "1000"),
        ],
    );
    let eve = spawn(&env);
    let chat_url = format!("{}/api/chat", eve.url);
    let chats: Vec<_> = (0..50)
        .map(|i| {
            let url = chat_url.clone();
            tokio::spawn(async move {
                let body = json!({
                    "message": "What is Ledger Lake?",
                    "session_id": format!("budget-session-{i:02}"),
                });
                post_json(&url, &body).await
            })
        })
        .collect();
    let mut by_model = 0;
    for chat in chats {
        let reply = chat.await.expect("joined");
        assert_eq!(reply.status, 200, "{}", reply.text());
        by_model += u64::from(reply.json()["source"] == "model");
    }
    let calls = u64::from(stub.call_count());
    assert_eq!(by_model, calls);
    let per_answer = 321 + 42;
    let spent = tokens_counted(&moto, "budget").await;
    assert_eq!(spent, calls * per_answer, "reservations settled to use");
    assert!(
        calls >= 1 && spent < budget + per_answer,
        "{calls} model answers spent {spent} tokens of a {budget} budget"
    );
}

/// eve-server runs on between requests, so it reserves budget for several answers in one
/// write (a lease) and draws on it without a store call each, where it made two writes per
/// answer (the reservation and its settlement). The store counts the lease while it is held,
/// and what the answers used once the server returns it: after a second without requests, or
/// as it stops.
#[tokio::test(flavor = "multi_thread")]
async fn a_server_leases_budget_for_several_answers_and_returns_what_they_did_not_use() {
    let Some(moto) =
        Moto::start("a_server_leases_budget_for_several_answers_and_returns_what_they_did_not_use")
    else {
        return;
    };
    seed(&moto, "/cloudforgex/leased/", &[]).await;
    let stub = StubBedrock::start(StubConfig::default());
    let env = aws_env(
        &moto,
        Some(&stub),
        &[
            ("EVE_TABLE_NAME", TABLE),
            ("EVE_STAGE", "leased"),
            ("EVE_MODEL_ID", "stub.echo-v1"),
            ("EVE_MAX_TOKENS", "77"),
            ("EVE_DAILY_TOKEN_BUDGET", "1000000"),
        ],
    );
    let mut eve = spawn(&env);
    let per_answer = 321 + 42;
    let chat = |i: usize| {
        let url = format!("{}/api/chat", eve.url);
        async move {
            let body = json!({
                "message": "What is Ledger Lake?",
                "session_id": format!("leased-session-{i:02}"),
            });
            let reply = post_json(&url, &body).await;
            assert_eq!(reply.status, 200, "{}", reply.text());
            assert_eq!(reply.json()["source"], "model");
        }
    };
    chat(0).await;
    let leased = tokens_counted(&moto, "leased").await;
    for i in 1..4 {
        chat(i).await;
    }
    assert_eq!(stub.call_count(), 4);
    assert_eq!(
        tokens_counted(&moto, "leased").await,
        leased,
        "answers 2 to 4 drew on the lease the first took, with no write"
    );
    assert!(
        leased >= 4 * per_answer,
        "one lease of several answers: {leased} tokens"
    );
    until_counted(&moto, "leased", 4 * per_answer).await;
    // A server stopped (SIGTERM) returns its lease as it exits, without waiting to be idle.
    chat(4).await;
    assert!(
        tokens_counted(&moto, "leased").await > 5 * per_answer,
        "a new lease is held"
    );
    assert_eq!(eve.terminate(), Some(0), "{}", eve.logs());
    assert_eq!(tokens_counted(&moto, "leased").await, 5 * per_answer);
}

/// A visitor who closes the page while the model is answering, and the server told to stop
/// (SIGTERM) right after: the model has run, so its answer is stored and its tokens counted
/// before eve-server exits. eve-server dropped the chat with the connection (hyper drops a
/// request's handler when its client goes), mid-call: the exchange was lost, and the lease
/// was returned as if the model had not run.
#[tokio::test(flavor = "multi_thread")]
async fn a_chat_whose_visitor_leaves_is_still_stored_and_counted() {
    let Some(moto) = Moto::start("a_chat_whose_visitor_leaves_is_still_stored_and_counted") else {
        return;
    };
    seed(&moto, "/cloudforgex/left/", &[]).await;
    let stub = StubBedrock::start(StubConfig {
        delay: std::time::Duration::from_millis(800),
        ..StubConfig::default()
    });
    let env = aws_env(
        &moto,
        Some(&stub),
        &[
            ("EVE_TABLE_NAME", TABLE),
            ("EVE_STAGE", "left"),
            ("EVE_MODEL_ID", "stub.echo-v1"),
            ("EVE_MAX_TOKENS", "77"),
            ("EVE_DAILY_TOKEN_BUDGET", "1000000"),
        ],
    );
    let mut eve = spawn(&env);
    let session = "left-session-01";
    let body = json!({ "message": "What is Ledger Lake?", "session_id": session }).to_string();
    let address = eve.url.trim_start_matches("http://").to_string();
    tokio::task::spawn_blocking(move || {
        use std::io::Write;
        let mut stream = std::net::TcpStream::connect(address).expect("connect");
        write!(
            stream,
            "POST /api/chat HTTP/1.1\r\nHost: eve\r\nContent-Type: application/json\r\n\
             Content-Length: {}\r\n\r\n{body}",
            body.len()
        )
        .expect("send the chat");
        // Gone while the model is still answering.
        std::thread::sleep(std::time::Duration::from_millis(300));
    })
    .await
    .expect("the visitor's thread");
    assert_eq!(eve.terminate(), Some(0), "{}", eve.logs());
    assert_eq!(stub.call_count(), 1);
    let stored = texts_stored(&moto, session).await;
    for text in ["What is Ledger Lake?", StubConfig::default().reply.as_str()] {
        assert!(
            stored.iter().any(|stored| stored == text),
            "`{text}` was not stored: {stored:?}\n{}",
            eve.logs()
        );
    }
    assert_eq!(tokens_counted(&moto, "left").await, 321 + 42);
}

/// Every text attribute of the items stored under `session`.
async fn texts_stored(moto: &Moto, session: &str) -> Vec<String> {
    session_items(moto, TABLE, session)
        .await
        .iter()
        .flat_map(|item| item.values())
        .filter_map(|value| value.as_s().ok().cloned())
        .collect()
}

/// The items stored under `session` in `table`, in key order.
async fn session_items(
    moto: &Moto,
    table: &str,
    session: &str,
) -> Vec<std::collections::HashMap<String, AttributeValue>> {
    let dynamodb = aws_sdk_dynamodb::Client::new(&moto.sdk_config().await);
    dynamodb
        .query()
        .table_name(table)
        .key_condition_expression("pk = :pk")
        .expression_attribute_values(":pk", AttributeValue::S(session.into()))
        .send()
        .await
        .expect("query the session")
        .items()
        .to_vec()
}

/// Waits until the day's counter of `stage` holds `tokens`: a server returns its lease a second
/// after the last request drew on it.
async fn until_counted(moto: &Moto, stage: &str, tokens: u64) {
    let started = std::time::Instant::now();
    loop {
        let counted = tokens_counted(moto, stage).await;
        if counted == tokens {
            return;
        }
        assert!(
            started.elapsed() < std::time::Duration::from_secs(10),
            "{counted} tokens counted, not {tokens}: the lease was not returned, or not settled to use"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
}

/// The SDK retries a write whose answer was lost (a reset, a timeout). A reservation made with
/// a bare `ADD` was then taken twice and settled once, so the day's counter kept a whole
/// reservation no model call used. Here the relay loses moto's answer to the reservation.
#[tokio::test(flavor = "multi_thread")]
async fn a_reservation_whose_answer_was_lost_is_counted_once() {
    let Some(moto) = Moto::start_serial("a_reservation_whose_answer_was_lost_is_counted_once")
    else {
        return;
    };
    seed(&moto, "/cloudforgex/lossy/", &[]).await;
    let relay = LossyRelay::start(
        &moto.endpoint,
        &["DynamoDB_20120810.UpdateItem", "budget#lossy"],
    )
    .await;
    let stub = StubBedrock::start(StubConfig::default());
    let mut env = aws_env(
        &moto,
        Some(&stub),
        &[
            ("EVE_TABLE_NAME", TABLE),
            ("EVE_STAGE", "lossy"),
            ("EVE_MODEL_ID", "stub.echo-v1"),
        ],
    );
    env.retain(|(name, _)| *name != "AWS_ENDPOINT_URL");
    env.push(("AWS_ENDPOINT_URL", relay.endpoint.clone()));
    let eve = spawn(&env);
    let body = json!({ "message": "What is Ledger Lake?", "session_id": "lossy-session-1" });
    let reply = post_json(&format!("{}/api/chat", eve.url), &body).await;
    assert_eq!(reply.status, 200, "{}", reply.text());
    assert_eq!(reply.json()["source"], "model");
    assert_eq!(relay.lost(), 1, "the reservation's answer was lost");
    // The counter holds what the answer used, once, when the server has returned its lease.
    until_counted(&moto, "lossy", 321 + 42).await;
}

/// A session's limit is counted in the table, so two instances (two Lambda sandboxes) behind
/// one API hold it together: the fourth request in a minute is refused whichever serves it.
#[tokio::test(flavor = "multi_thread")]
async fn a_session_limit_holds_across_two_instances() {
    let Some(moto) = Moto::start("a_session_limit_holds_across_two_instances") else {
        return;
    };
    seed(&moto, "/cloudforgex/limits/", &[]).await;
    let env = aws_env(
        &moto,
        None,
        &[
            ("EVE_TABLE_NAME", TABLE),
            ("EVE_SESSION_RATE_PER_MINUTE", "3"),
        ],
    );
    let instances = [spawn(&env), spawn(&env)];
    // All four requests must fall in one minute's window.
    let second = time::OffsetDateTime::now_utc().second();
    if second > 50 {
        tokio::time::sleep(std::time::Duration::from_secs(u64::from(61 - second))).await;
    }
    let mut statuses = Vec::new();
    for i in 0..4 {
        let body = json!({ "message": "What is Tidewatch?", "session_id": "shared-session-1" });
        let reply = post_json(&format!("{}/api/chat", instances[i % 2].url), &body).await;
        statuses.push(reply.status);
    }
    assert_eq!(statuses, [200, 200, 200, 429]);
}

/// A store remembers the count item it last wrote and writes the next count over it, on the
/// condition that no other request was counted since. Two instances counting one session at
/// once still hold its limit exactly: each counts once (so both remember the item), then 24
/// requests race through the two for the 6 places left. (On a moto serving one request at a
/// time: threaded, it applies concurrent conditional writes to one item without DynamoDB's
/// atomicity, and counted 7 here once.)
#[tokio::test(flavor = "multi_thread")]
async fn a_count_written_over_from_two_instances_at_once_holds_the_limit() {
    let Some(moto) =
        Moto::start_serial("a_count_written_over_from_two_instances_at_once_holds_the_limit")
    else {
        return;
    };
    moto.create_conversations_table("eve-counts").await;
    let client = aws_sdk_dynamodb::Client::new(&moto.sdk_config().await);
    let first = DynamoStore::new(client.clone(), "eve-counts");
    let second = DynamoStore::new(client.clone(), "eve-counts");
    let window = session_window("racing", 8);
    for (store, request) in [(&first, "before-1"), (&second, "before-2")] {
        let count = store.count_request(&window, request).await;
        assert!(count.expect("the store answers").counted);
    }
    let counts = futures_util::future::join_all((0..24).map(|i| {
        let (store, window) = (if i % 2 == 0 { &first } else { &second }, &window);
        async move {
            let count = store.count_request(window, &format!("race-{i}")).await;
            count.expect("the store answers").counted
        }
    }))
    .await;
    assert_eq!(counts.iter().filter(|counted| **counted).count(), 6);
    let (hits, requests) = count_item(&client, "eve-counts", &window).await;
    assert_eq!((hits, requests.len()), (8, 8), "{requests:?}");
    // The next minute starts from one, written over what either remembers.
    let next = RateWindow {
        window: window.window + 1,
        ..window.clone()
    };
    for (store, request) in [(&first, "next-1"), (&second, "next-2")] {
        let count = store.count_request(&next, request).await;
        assert!(count.expect("the store answers").counted);
    }
    let (hits, requests) = count_item(&client, "eve-counts", &next).await;
    assert_eq!(
        (hits, requests),
        (2, vec!["next-1".into(), "next-2".into()])
    );
}

/// The SDK retries a count whose answer was lost. Written over the remembered item, the retry
/// fails its condition, and the item it returns shows the request counted: it is counted once
/// and let through, not counted twice or refused.
#[tokio::test(flavor = "multi_thread")]
async fn a_count_written_over_whose_answer_was_lost_is_counted_once() {
    let Some(moto) = Moto::start("a_count_written_over_whose_answer_was_lost_is_counted_once")
    else {
        return;
    };
    moto.create_conversations_table("eve-lossy-counts").await;
    let relay = LossyRelay::start(
        &moto.endpoint,
        &["DynamoDB_20120810.PutItem", "rate#session#lossy"],
    )
    .await;
    let sdk = moto.sdk_config().await;
    let through_relay = aws_sdk_dynamodb::config::Builder::from(&sdk)
        .endpoint_url(&relay.endpoint)
        .build();
    let client = aws_sdk_dynamodb::Client::from_conf(through_relay);
    let store = DynamoStore::new(client.clone(), "eve-lossy-counts");
    let window = session_window("lossy", 3);
    let count = |request: &'static str| {
        let (store, window) = (&store, &window);
        async move {
            let count = store.count_request(window, request).await;
            let count = count.expect("the store answers");
            (count.counted, count.previous)
        }
    };
    assert_eq!(count("first").await, (true, Previous::Nothing));
    assert_eq!(count("second").await, (true, Previous::Unknown));
    assert_eq!(
        relay.lost(),
        1,
        "the answer to the put over the item was lost"
    );
    assert_eq!(
        count("third").await,
        (true, Previous::Request("second".into()))
    );
    assert_eq!(
        count("fourth").await,
        (false, Previous::Request("third".into()))
    );
    let (hits, requests) = count_item(&client, "eve-lossy-counts", &window).await;
    assert_eq!((hits, requests.len()), (3, 3), "{requests:?}");
}

/// A window with more requests than a put over its item should carry is counted by update
/// from then on, and counted whole either way.
#[tokio::test(flavor = "multi_thread")]
async fn a_busy_window_is_counted_whole() {
    let Some((moto, store)) = store_on_moto("a_busy_window_is_counted_whole", "eve-busy").await
    else {
        return;
    };
    let window = session_window("busy", 80);
    for i in 0..81 {
        let count = store.count_request(&window, &format!("busy-{i:02}")).await;
        let counted = count.expect("the store answers").counted;
        assert_eq!(counted, i < 80, "request {i}");
    }
    let client = aws_sdk_dynamodb::Client::new(&moto.sdk_config().await);
    let (hits, requests) = count_item(&client, "eve-busy", &window).await;
    assert_eq!((hits, requests.len()), (80, 80));
}

/// A session's per-minute window, as EVE counts one, at a fixed minute.
fn session_window(session: &str, limit: u32) -> RateWindow {
    RateWindow {
        key: format!("session#{session}"),
        window: 29_000_000,
        limit,
        expires_at: 4_000_000_000,
    }
}

/// The count item's hits and requests (sorted) in `window`, as the table holds them.
async fn count_item(
    client: &aws_sdk_dynamodb::Client,
    table: &str,
    window: &RateWindow,
) -> (u64, Vec<String>) {
    let item = client
        .get_item()
        .table_name(table)
        .key("pk", AttributeValue::S(format!("rate#{}", window.key)))
        .key("sk", AttributeValue::S("count".into()))
        .send()
        .await
        .expect("moto answers")
        .item
        .expect("the count item");
    let hits = match item.get(&format!("hits_{}", window.window)) {
        Some(AttributeValue::N(hits)) => hits.parse().expect("a count"),
        other => panic!("no hits in the window: {other:?}"),
    };
    let mut requests = match item.get(&format!("requests_{}", window.window)) {
        Some(AttributeValue::Ss(requests)) => requests.clone(),
        other => panic!("no requests in the window: {other:?}"),
    };
    requests.sort();
    (hits, requests)
}

/// A moto server with an empty conversations table `table`, and EVE's store over it; None
/// (after the SKIP line) without moto.
async fn store_on_moto(test: &str, table: &str) -> Option<(Moto, DynamoStore)> {
    let moto = Moto::start(test)?;
    moto.create_conversations_table(table).await;
    let client = aws_sdk_dynamodb::Client::new(&moto.sdk_config().await);
    Some((moto, DynamoStore::new(client, table)))
}

/// Two requests of one session in the same millisecond (a double-sent message, two tabs): with
/// time and role as the key, the second put overwrote the first request's turns.
#[tokio::test(flavor = "multi_thread")]
async fn turns_of_two_requests_in_one_millisecond_are_both_kept() {
    let test = "turns_of_two_requests_in_one_millisecond_are_both_kept";
    let Some((_moto, store)) = store_on_moto(test, "eve-same-millisecond").await else {
        return;
    };
    let turn = |role, request_id: &str, text: &str| {
        Turn::new("same-ms-session", 1_700_000_000_000, role, request_id, text)
    };
    for (request, text) in [("first", "Hello?"), ("second", "Hello again?")] {
        store
            .append_exchange(
                &turn(Role::User, request, text),
                &turn(Role::Assistant, request, "Hi."),
            )
            .await
            .expect("the exchange stored");
    }
    let stored = store.recent("same-ms-session", 10).await.expect("history");
    let questions: Vec<&str> = stored
        .iter()
        .filter(|t| t.role == Role::User)
        .map(|t| t.text.as_str())
        .collect();
    assert_eq!(stored.len(), 4, "{stored:?}");
    assert_eq!(questions.len(), 2, "{questions:?}");
}

/// One conversation answered by two instances in turn (two Lambda sandboxes). Each keeps the
/// turns it stored to spare the next answer a read; the table's count names the request
/// before each one, so an instance whose turns are stale reads them again and the model sees
/// every exchange, whichever instance stored it. An instance that answered the session twice
/// running starts its next model call on its turns while the count is made: when the count
/// shows them stale, that call is discarded and the model asked again.
#[tokio::test(flavor = "multi_thread")]
async fn a_conversation_moving_between_instances_keeps_its_whole_history() {
    let Some(moto) = Moto::start("a_conversation_moving_between_instances_keeps_its_whole_history")
    else {
        return;
    };
    seed(&moto, "/cloudforgex/hop/", &[]).await;
    let stub = StubBedrock::start(StubConfig::default());
    let env = aws_env(
        &moto,
        Some(&stub),
        &[("EVE_TABLE_NAME", TABLE), ("EVE_MODEL_ID", "stub.echo-v1")],
    );
    let instances = [spawn(&env), spawn(&env)];
    let questions = [
        "Which projects use Rust?",
        "What is Ledger Lake?",
        "Where has Alex worked?",
        "Which certificates does Alex hold?",
        "What is Tidewatch built with?",
    ];
    // Instance 0, 1, 1, 0, 1: a stale entry on both, a current one in between.
    for (question, instance) in questions.iter().zip([0, 1, 1, 0, 1]) {
        let body = json!({ "message": question, "session_id": "hop-session-1" });
        let reply = post_json(&format!("{}/api/chat", instances[instance].url), &body).await;
        assert_eq!(reply.status, 200, "{}", reply.text());
        assert_eq!(reply.json()["source"], "model", "{question}");
    }
    let calls: Vec<Vec<String>> = stub
        .requests()
        .into_iter()
        .map(|(_, call)| {
            call["messages"]
                .as_array()
                .into_iter()
                .flatten()
                .filter(|m| m["role"] == "user")
                .filter_map(|m| m["content"][0]["text"].as_str().map(String::from))
                .collect()
        })
        .collect();
    // The last question went out twice from instance 1: on its turns (stale: without the
    // question instance 0 answered), then on the turns read back.
    assert_eq!(calls.len(), questions.len() + 1, "{calls:#?}");
    let (discarded, last) = (&calls[questions.len() - 1], &calls[questions.len()]);
    assert!(
        !discarded.iter().any(|q| q == questions[3]),
        "{discarded:?}"
    );
    assert_eq!(last, &questions, "the last model call's questions");
}

/// Tables written before exchanges hold one turn an item (`role`, `text`). Those are still
/// read as history, in time order with the exchanges after them.
#[tokio::test(flavor = "multi_thread")]
async fn turns_stored_one_an_item_before_exchanges_are_still_read() {
    let test = "turns_stored_one_an_item_before_exchanges_are_still_read";
    let table = "eve-legacy-turns";
    let Some((moto, store)) = store_on_moto(test, table).await else {
        return;
    };
    let dynamodb = aws_sdk_dynamodb::Client::new(&moto.sdk_config().await);
    let session = "legacy-session-1";
    for (at_ms, role, text) in [(1_000u64, "user", "Hello?"), (1_001, "assistant", "Hi.")] {
        dynamodb
            .put_item()
            .table_name(table)
            .item("pk", AttributeValue::S(session.into()))
            .item("sk", AttributeValue::S(format!("{at_ms:016}#{role}#old")))
            .item("role", AttributeValue::S(role.into()))
            .item("text", AttributeValue::S(text.into()))
            .item("request_id", AttributeValue::S("old".into()))
            .item("at_ms", AttributeValue::N(at_ms.to_string()))
            .send()
            .await
            .expect("a turn of the old shape");
    }
    store
        .append_exchange(
            &Turn::new(session, 2_000, Role::User, "new", "And now?"),
            &Turn::new(session, 2_001, Role::Assistant, "new", "Now too."),
        )
        .await
        .expect("an exchange");
    let read = |limit| store.recent(session, limit);
    let texts = |turns: Vec<Turn>| turns.into_iter().map(|t| t.text).collect::<Vec<_>>();
    assert_eq!(
        texts(read(10).await.expect("history")),
        ["Hello?", "Hi.", "And now?", "Now too."]
    );
    assert_eq!(
        texts(read(2).await.expect("history")),
        ["And now?", "Now too."]
    );
}

/// A question of `session` asked at `at_ms` and its answer a millisecond later.
fn answered(session: &str, at_ms: u64, request: &str, text: &str) -> (Turn, Turn) {
    (
        Turn::new(session, at_ms, Role::User, request, text),
        Turn::new(session, at_ms + 1, Role::Assistant, request, "An answer."),
    )
}

/// An item the store cannot read as turns (a reply that is not text, a role it does not know:
/// written by hand, or by a later version) is left out of the history with a warning. It
/// failed the whole read, so every answer in the session went without history until the item
/// aged out of the window.
#[tokio::test(flavor = "multi_thread")]
async fn an_unreadable_item_is_left_out_of_the_history_not_the_rest() {
    let test = "an_unreadable_item_is_left_out_of_the_history_not_the_rest";
    let table = "eve-unreadable";
    let Some((moto, store)) = store_on_moto(test, table).await else {
        return;
    };
    let dynamodb = aws_sdk_dynamodb::Client::new(&moto.sdk_config().await);
    let session = "unreadable-session-1";
    let exchange = |at_ms, request: &str, text: &str| answered(session, at_ms, request, text);
    let (first, last) = (
        exchange(1_000, "first", "Go?"),
        exchange(4_000, "last", "Rust?"),
    );
    store
        .append_exchange(&first.0, &first.1)
        .await
        .expect("an exchange");
    let unreadable = [
        (
            eve_contract::store::exchange_sort_key(2_000, "reply-a-number"),
            eve_contract::store::REPLY_ATTRIBUTE,
            AttributeValue::N("7".into()),
        ),
        (
            eve_contract::store::exchange_sort_key(3_000, "role-unknown"),
            "role",
            AttributeValue::S("system".into()),
        ),
    ];
    for (sort_key, attribute, value) in unreadable {
        dynamodb
            .put_item()
            .table_name(table)
            .item("pk", AttributeValue::S(session.into()))
            .item("sk", AttributeValue::S(sort_key))
            .item(
                eve_contract::store::QUESTION_ATTRIBUTE,
                AttributeValue::S("Hidden?".into()),
            )
            .item("text", AttributeValue::S("Hidden.".into()))
            .item(attribute, value)
            .send()
            .await
            .expect("an unreadable item");
    }
    store
        .append_exchange(&last.0, &last.1)
        .await
        .expect("an exchange");
    let texts: Vec<String> = store
        .recent(session, 10)
        .await
        .expect("history")
        .into_iter()
        .map(|t| t.text)
        .collect();
    assert_eq!(texts, ["Go?", "An answer.", "Rust?", "An answer."]);
}

/// An exchange stored beside its request's count, which then refused the request, is withdrawn:
/// its item keeps the question, marked, without the reply that was never shown, and history
/// no longer holds it.
#[tokio::test(flavor = "multi_thread")]
async fn a_withdrawn_exchange_keeps_its_question_and_leaves_the_history() {
    let test = "a_withdrawn_exchange_keeps_its_question_and_leaves_the_history";
    let table = "eve-withdrawn";
    let Some((moto, store)) = store_on_moto(test, table).await else {
        return;
    };
    let session = "withdrawn-session-1";
    let exchange = |at_ms, request: &str, text: &str| answered(session, at_ms, request, text);
    let (kept, refused) = (
        exchange(1_000, "kept", "Go?"),
        exchange(2_000, "refused", "Rust?"),
    );
    for (question, reply) in [&kept, &refused] {
        store
            .append_exchange(question, reply)
            .await
            .expect("an exchange");
    }
    store
        .withdraw_exchange(&refused.0)
        .await
        .expect("withdrawn");
    let texts: Vec<String> = store
        .recent(session, 10)
        .await
        .expect("history")
        .into_iter()
        .map(|t| t.text)
        .collect();
    assert_eq!(texts, ["Go?", "An answer."]);
    let items = session_items(&moto, table, session).await;
    let withdrawn = items.last().expect("two items");
    assert_eq!(
        withdrawn.get(eve_contract::store::QUESTION_ATTRIBUTE),
        Some(&AttributeValue::S("Rust?".into()))
    );
    assert_eq!(
        withdrawn.get("withdrawn"),
        Some(&AttributeValue::Bool(true))
    );
    assert_eq!(withdrawn.get(eve_contract::store::REPLY_ATTRIBUTE), None);
}

/// Reservations in DynamoDB's shape, one attribute each on the day's counter: a granted one
/// answers with the day's total alone, however many are in flight (with one set of them, every
/// answer carried them all, so each call cost as much as there were calls); a refused one
/// answers with every reservation held, so the abandoned can be returned; a retried one holds
/// once; a settled one is gone.
#[tokio::test(flavor = "multi_thread")]
async fn a_refused_reservation_names_those_held_and_a_granted_one_does_not() {
    let test = "a_refused_reservation_names_those_held_and_a_granted_one_does_not";
    let Some((_moto, store)) = store_on_moto(test, "eve-reservations").await else {
        return;
    };
    let reservation = |request_id: &str, at_s| TokenReservation {
        day: "2026-12-05".into(),
        request_id: request_id.into(),
        tokens: 700,
        at_s,
    };
    let (abandoned, in_flight, next) = (
        reservation("abandoned", 1_000),
        reservation("in-flight", 2_000),
        reservation("next", 3_000),
    );
    let reserve = |r: &TokenReservation| {
        let (store, r) = (&store, r.clone());
        async move {
            let state = store
                .reserve_tokens("held", &r, 1_400)
                .await
                .expect("the store answers");
            (state.reserved, state.spent, state.held)
        }
    };
    assert_eq!(reserve(&abandoned).await, (true, 700, vec![]));
    assert_eq!(reserve(&in_flight).await, (true, 1_400, vec![]));
    assert_eq!(reserve(&in_flight).await, (true, 1_400, vec![]), "a retry");
    let (reserved, spent, mut held) = reserve(&next).await;
    held.sort_by_key(|h| h.at_s);
    assert_eq!(
        (reserved, spent, held),
        (false, 1_400, vec![abandoned.clone(), in_flight.clone()])
    );
    for _ in 0..2 {
        store
            .settle_tokens("held", &abandoned, 0)
            .await
            .expect("settled, then a no-op");
    }
    assert_eq!(reserve(&next).await, (true, 1_400, vec![]));
    store
        .settle_tokens("held", &next, 300)
        .await
        .expect("settled");
    let (reserved, spent, held) = reserve(&reservation("last", 4_000)).await;
    assert_eq!((reserved, spent, held.len()), (true, 1_700, 0));
}
