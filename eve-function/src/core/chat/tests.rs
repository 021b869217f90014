//! The chat core against the in-memory adapters.

use std::collections::BTreeMap;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::mpsc;

use super::*;
use crate::adapters::doubles::{DistantStore, HangingStore, ScriptedModel};
use crate::adapters::memory::MemoryStore;

fn settings(pairs: &[(&str, &str)]) -> Settings {
    let env: BTreeMap<String, String> = pairs
        .iter()
        .map(|(k, v)| (super::super::settings::env_name(k), v.to_string()))
        .collect();
    Settings::resolve(&env, &BTreeMap::new(), "").expect("valid test settings")
}

fn eve(
    settings: Settings,
    store: Arc<dyn ConversationStore>,
    model: Option<Arc<ScriptedModel>>,
) -> Eve {
    holding_budget(Holding::PerRequest, settings, store, model)
}

fn holding_budget(
    budget: Holding,
    settings: Settings,
    store: Arc<dyn ConversationStore>,
    model: Option<Arc<ScriptedModel>>,
) -> Eve {
    Eve::new(Dependencies {
        knowledge: Arc::new(Knowledge::embedded().expect("embedded content")),
        settings: Arc::new(SettingsProvider::fixed(settings)),
        store,
        model: model.map(|m| m as Arc<dyn ChatModel>),
        signer: None,
        stage: "test".into(),
        budget,
    })
}

fn ask(message: &str, session: Option<&str>) -> ChatRequest {
    ChatRequest {
        message: message.into(),
        session_id: session.map(String::from),
        client_ip: "192.0.2.1".into(),
        deadline: std::time::Instant::now() + MAX_CHAT_TIME,
    }
}

/// EVE on `store` with the scripted model, and `pairs` of settings besides the model's id.
fn with_model(
    store: Arc<dyn ConversationStore>,
    pairs: &[(&str, &str)],
) -> (Arc<ScriptedModel>, Eve) {
    let model = Arc::new(ScriptedModel::default());
    let all: Vec<(&str, &str)> = [("model_id", MODEL)]
        .into_iter()
        .chain(pairs.iter().copied())
        .collect();
    let eve = eve(settings(&all), store, Some(model.clone()));
    (model, eve)
}

const SESSION: &str = "session-0001";
/// The model the tests configure; the scripted model answers whatever it is called.
const MODEL: &str = "stub.echo-v1";

#[tokio::test]
async fn suggested_questions_get_curated_answers_and_are_stored() {
    let store = Arc::new(MemoryStore::default());
    let (model, eve) = with_model(store.clone(), &[]);
    let answer = eve
        .chat(ask("how can I contact ALEX", Some(SESSION)), None)
        .await
        .expect("answer");
    assert_eq!(answer.source, Source::Curated);
    assert!(answer.reply.contains("mailto:alex.rivera@example.com"));
    assert!(
        model.requests().is_empty(),
        "curated answers cost no tokens"
    );
    let turns = store.turns(SESSION);
    assert_eq!(
        turns.iter().map(|t| t.role).collect::<Vec<_>>(),
        [Role::User, Role::Assistant]
    );
    assert_eq!(turns[1].source, "curated");
}

#[tokio::test]
async fn without_a_model_answers_come_from_the_offline_responder() {
    let store = Arc::new(MemoryStore::default());
    let eve = eve(settings(&[]), store, None);
    let answer = eve
        .chat(ask("Tell me about Tidewatch", None), None)
        .await
        .expect("answer");
    assert_eq!(answer.source, Source::Offline);
    assert!(
        answer.reply.contains("#project-tidewatch"),
        "{}",
        answer.reply
    );
    assert_eq!(answer.session_id.len(), 36, "a new session id is issued");
}

#[tokio::test]
async fn the_model_sees_history_and_a_prompt_free_of_user_text() {
    let store = Arc::new(MemoryStore::default());
    let (model, eve) = with_model(store.clone(), &[("history_turns", "2")]);
    let first = eve
        .chat(ask("What is Ledger Lake?", Some(SESSION)), None)
        .await
        .expect("first");
    assert_eq!(first.source, Source::Model);
    assert_eq!(first.reply, "You asked: What is Ledger Lake?");
    eve.chat(ask("And which database does it use?", Some(SESSION)), None)
        .await
        .expect("second");
    let requests = model.requests();
    let second = &requests[1];
    let roles: Vec<Role> = second.messages.iter().map(|m| m.role).collect();
    assert_eq!(roles, [Role::User, Role::Assistant, Role::User]);
    assert_eq!(second.messages[0].text, "What is Ledger Lake?");
    assert!(
        !second.system.contains("which database"),
        "user text must not reach the system prompt"
    );
    assert!(
        second.system.contains("Ledger Lake"),
        "retrieval put the relevant project in"
    );
    assert_eq!((second.max_tokens, second.model_id.as_str()), (600, MODEL));
    let stored = store.turns(SESSION);
    assert_eq!(stored.len(), 4);
    assert_eq!(
        (
            stored[1].input_tokens,
            stored[1].output_tokens,
            stored[1].model_id.as_str()
        ),
        (10, 5, MODEL)
    );
    assert_eq!(
        store.tokens("test", &utc_day(unix_ms())),
        30,
        "the reservations were settled to what was used"
    );
}

#[tokio::test]
async fn control_characters_reach_neither_the_model_nor_the_store() {
    let store = Arc::new(MemoryStore::default());
    let (model, eve) = with_model(store.clone(), &[]);
    eve.chat(
        ask(
            "What is\u{0} Ledger\u{1b}[2J Lake?\r\nThanks",
            Some(SESSION),
        ),
        None,
    )
    .await
    .expect("answer");
    let clean = "What is Ledger[2J Lake?\nThanks";
    assert_eq!(model.requests()[0].messages[0].text, clean);
    assert_eq!(store.turns(SESSION)[0].text, clean);
}

#[tokio::test]
async fn model_failures_and_timeouts_fall_back_to_offline() {
    let store = Arc::new(MemoryStore::default());
    let failing = Arc::new(ScriptedModel::new(vec![Err(PortError::new(
        "bedrock",
        "ThrottlingException",
    ))]));
    let eve1 = eve(
        settings(&[("model_id", MODEL)]),
        store.clone(),
        Some(failing),
    );
    let answer = eve1
        .chat(ask("Kubernetes?", None), None)
        .await
        .expect("answer");
    assert_eq!(answer.source, Source::Offline);

    let slow = Arc::new(ScriptedModel::default().with_delay(Duration::from_millis(400)));
    let eve2 = eve(
        settings(&[("model_id", MODEL), ("model_timeout_ms", "100")]),
        store,
        Some(slow),
    );
    let answer = eve2
        .chat(ask("Kubernetes?", None), None)
        .await
        .expect("answer");
    assert_eq!(answer.source, Source::Offline);
}

/// A model call that failed after the model may have run (timed out, or broken off once its
/// text began) may have been billed, so the budget is charged all that was reserved for it;
/// one refused before it ran (throttled, or broken before any text) is charged nothing.
#[tokio::test]
async fn a_failed_model_call_is_charged_what_it_may_have_cost() {
    let pairs = [("model_id", MODEL), ("model_timeout_ms", "100")];
    let throttled = ScriptedModel::new(vec![Err(PortError::new("bedrock", "Throttling"))]);
    let cases = [
        ("throttled", throttled, false, false),
        (
            "timed out",
            ScriptedModel::default().with_delay(Duration::from_millis(400)),
            false,
            true,
        ),
        (
            "broken before its text",
            ScriptedModel::default().with_stream_break_after(0),
            true,
            false,
        ),
        (
            "broken after its text began",
            ScriptedModel::default().with_stream_break_after(2),
            true,
            true,
        ),
    ];
    for (case, model, streamed, charged) in cases {
        let store = Arc::new(MemoryStore::default());
        let model = Arc::new(model);
        let eve = eve(settings(&pairs), store.clone(), Some(model.clone()));
        let (events, received) = mpsc::channel(64);
        let answer = eve
            .chat(ask("Kubernetes?", None), streamed.then_some(events))
            .await
            .expect("answer");
        all_events(received).await;
        assert_eq!(answer.source, Source::Offline, "{case}");
        let system = &model.requests()[0].system;
        let reserved = estimated_cost(&settings(&pairs), system, "Kubernetes?");
        assert_eq!(
            store.tokens("test", &utc_day(unix_ms())),
            if charged { reserved } else { 0 },
            "{case}"
        );
    }
}

/// A request whose store reads took nearly all of its time answers offline without calling the
/// model on what is left: such a call could only time out, and be charged its reservation.
#[tokio::test(start_paused = true)]
async fn a_model_is_not_called_with_too_little_time_left() {
    let store = Arc::new(DistantStore::new(Duration::from_millis(400)));
    let model = Arc::new(ScriptedModel::default().with_delay(Duration::from_secs(1)));
    let eve = eve(
        settings(&[("model_id", MODEL)]),
        store.clone(),
        Some(model.clone()),
    );
    // Half a second for the reads and the model, once storing has its share: the reads
    // (the count and the reservation, together) take 0.4 s of it.
    let request = ChatRequest {
        deadline: std::time::Instant::now() + STORE_RESERVE + Duration::from_millis(500),
        ..ask("Kubernetes?", None)
    };
    let answer = eve.chat(request, None).await.expect("answer");
    assert_eq!(answer.source, Source::Offline);
    assert!(
        model.requests().is_empty(),
        "the model was called with 0.1 s left"
    );
    assert_eq!(store.store.tokens("test", &utc_day(unix_ms())), 0);
    assert_eq!(store.store.turns(&answer.session_id).len(), 2);
}

#[tokio::test]
async fn a_spent_budget_means_offline_answers() {
    let store = Arc::new(MemoryStore::default());
    let spent_elsewhere = TokenReservation {
        day: utc_day(unix_ms()),
        request_id: "another-request".into(),
        tokens: 1000,
        at_s: unix_ms() / 1000,
    };
    let state = store
        .reserve_tokens("test", &spent_elsewhere, 1000)
        .await
        .expect("counter");
    assert!(state.reserved);
    let model = Arc::new(ScriptedModel::default());
    let eve = eve(
        settings(&[("model_id", MODEL), ("daily_token_budget", "1000")]),
        store,
        Some(model.clone()),
    );
    let answer = eve.chat(ask("Rust?", None), None).await.expect("answer");
    assert_eq!(answer.source, Source::Offline);
    assert!(model.requests().is_empty());
}

#[tokio::test]
async fn sessions_and_clients_are_rate_limited() {
    let store = Arc::new(MemoryStore::default());
    let eve = eve(
        settings(&[
            ("session_rate_per_minute", "2"),
            ("ip_rate_per_minute", "3"),
        ]),
        store,
        None,
    );
    for _ in 0..2 {
        eve.chat(ask("Rust?", Some(SESSION)), None)
            .await
            .expect("within limit");
    }
    let refused = eve.chat(ask("Rust?", Some(SESSION)), None).await;
    assert!(
        matches!(refused, Err(ChatError::RateLimited { retry_after_secs }) if (1..=60).contains(&retry_after_secs))
    );
    // The refused request was still the client's third.
    let fourth = eve.chat(ask("Rust?", Some("session-0002")), None).await;
    assert!(
        matches!(fourth, Err(ChatError::RateLimited { .. })),
        "{fourth:?}"
    );
}

/// A request its client's limit refuses is not counted for its session, so one client cannot
/// fill the in-process session counts (or use up another visitor's session) with requests it
/// was refused.
#[tokio::test]
async fn a_request_refused_for_its_client_does_not_count_for_its_session() {
    let eve = eve(
        settings(&[
            ("session_rate_per_minute", "1"),
            ("ip_rate_per_minute", "1"),
        ]),
        Arc::new(MemoryStore::default()),
        None,
    );
    let from = |client_ip: &str, session: &str| ChatRequest {
        client_ip: client_ip.into(),
        ..ask("Rust?", Some(session))
    };
    eve.chat(from("192.0.2.1", "session-0001"), None)
        .await
        .expect("the client's first");
    let refused = eve.chat(from("192.0.2.1", "session-0002"), None).await;
    assert!(
        matches!(refused, Err(ChatError::RateLimited { .. })),
        "{refused:?}"
    );
    eve.chat(from("192.0.2.2", "session-0002"), None)
        .await
        .expect("the session's first counted request");
}

/// An IPv6 client holds a whole /64 (a home line's, a phone's), so counted one address at a
/// time it passed the client limit by changing address each request. A /64 is one client, and
/// an IPv4 address seen as IPv4-mapped IPv6 (a dual-stack socket) is the IPv4 client.
#[tokio::test]
async fn one_ipv6_slash_64_is_one_client_and_a_mapped_ipv4_its_ipv4() {
    let eve = eve(
        settings(&[
            ("session_rate_per_minute", "100"),
            ("ip_rate_per_minute", "2"),
        ]),
        Arc::new(MemoryStore::default()),
        None,
    );
    let minute = unix_ms() / 60_000;
    let mut outcomes = Vec::new();
    for (i, client_ip) in [
        "2001:db8:1:2::1",
        "2001:db8:1:2:aaaa::7",
        "2001:db8:1:2:ffff:ffff:ffff:ffff",
        "2001:db8:1:3::1",
        "192.0.2.9",
        "::ffff:192.0.2.9",
        "::ffff:c000:209",
    ]
    .into_iter()
    .enumerate()
    {
        let request = ChatRequest {
            client_ip: client_ip.into(),
            ..ask("Rust?", Some(&format!("session-ip-{i:04}")))
        };
        let refused = matches!(
            eve.chat(request, None).await,
            Err(ChatError::RateLimited { .. })
        );
        outcomes.push((client_ip, refused));
    }
    if unix_ms() / 60_000 == minute {
        let refused: Vec<&str> = outcomes
            .iter()
            .filter(|(_, refused)| *refused)
            .map(|(ip, _)| *ip)
            .collect();
        assert_eq!(
            refused,
            ["2001:db8:1:2:ffff:ffff:ffff:ffff", "::ffff:c000:209"]
        );
    }
}

/// Two instances (two Lambda sandboxes) share the store, so a session's limit holds across both
/// even though each instance's own limiter sees only half the requests.
#[tokio::test]
async fn a_session_limit_holds_across_instances_sharing_the_store() {
    let store = Arc::new(MemoryStore::default());
    let limited = || settings(&[("session_rate_per_minute", "3")]);
    let instances = [
        eve(limited(), store.clone(), None),
        eve(limited(), store.clone(), None),
    ];
    let mut answered = 0;
    let mut refused = 0;
    let minute = unix_ms() / 60_000;
    for i in 0..4 {
        match instances[i % 2]
            .chat(ask("Rust?", Some(SESSION)), None)
            .await
        {
            Ok(_) => answered += 1,
            Err(ChatError::RateLimited { .. }) => refused += 1,
            Err(other) => panic!("{other:?}"),
        }
    }
    if unix_ms() / 60_000 == minute {
        assert_eq!((answered, refused), (3, 1));
    }
}

/// `chats` chats at once, each in a session of its own; how many the model answered.
async fn at_once(eve: &Arc<Eve>, chats: usize) -> u64 {
    let chats: Vec<_> = (0..chats)
        .map(|i| {
            let eve = Arc::clone(eve);
            tokio::spawn(async move {
                let session = format!("session-{i:04}");
                eve.chat(ask("Tell me about Rust", Some(&session)), None)
                    .await
            })
        })
        .collect();
    let mut by_model = 0;
    for chat in chats {
        let answer = chat.await.expect("joined").expect("answered");
        by_model += u64::from(answer.source == Source::Model);
    }
    by_model
}

/// Fifty chats at once against a budget of a few answers: each reserves its worst case before
/// calling the model, so they cannot all read "budget left" and all spend.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_chats_overshoot_the_budget_by_one_reservation_at_most() {
    let store = Arc::new(MemoryStore::default());
    let model = Arc::new(ScriptedModel::default().with_delay(Duration::from_millis(200)));
    let budget = 20_000;
    let eve = Arc::new(eve(
        settings(&[
            ("model_id", MODEL),
            ("max_tokens", "500"),
            ("daily_token_budget", &budget.to_string()),
            ("ip_rate_per_minute", "1000"),
        ]),
        store.clone(),
        Some(model.clone()),
    ));
    let by_model = at_once(&eve, 50).await;
    let calls = model.requests().len() as u64;
    assert_eq!(by_model, calls);
    assert!(
        (1..50).contains(&calls),
        "{calls} model calls: the budget admits some, not all"
    );
    let request = &model.requests()[0];
    let reservation = request.system.chars().count().div_ceil(3) as u64 + 500 + 10;
    let spent = store.tokens("test", &utc_day(unix_ms()));
    assert_eq!(spent, calls * 15, "every reservation settled to its use");
    assert!(
        calls * reservation < budget + reservation,
        "{calls} calls of {reservation} reserved tokens against {budget}"
    );
}

/// eve-server's leases, 200 chats at once against a budget of about 130 answers: a lease is
/// taken only while it leaves the budget overshot by one answer at most, so the answers' share
/// of the leases stays under budget + one answer; once the server returns its lease, the
/// counter holds what they used.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn leases_keep_concurrent_chats_within_the_budget_and_are_settled_to_use() {
    let store = Arc::new(MemoryStore::default());
    let model = Arc::new(ScriptedModel::default().with_delay(Duration::from_millis(200)));
    let settings = |budget: u64| {
        settings(&[
            ("model_id", MODEL),
            ("max_tokens", "500"),
            ("daily_token_budget", &budget.to_string()),
            ("ip_rate_per_minute", "1000"),
        ])
    };
    // One answer's reservation, as EVE estimates it.
    let probe = eve(
        settings(u64::MAX),
        Arc::new(MemoryStore::default()),
        Some(model.clone()),
    );
    probe
        .chat(ask("Tell me about Rust", Some(SESSION)), None)
        .await
        .expect("answered");
    let reservation = model.requests()[0].system.chars().count().div_ceil(3) as u64 + 500 + 6;
    let budget = 130 * reservation;
    let answers_in_a_lease =
        budget::reservation_size(Holding::Leased, reservation, budget) / reservation;
    assert!(answers_in_a_lease > 1, "leases of several answers");
    let model = Arc::new(ScriptedModel::default().with_delay(Duration::from_millis(200)));
    let eve = Arc::new(holding_budget(
        Holding::Leased,
        settings(budget),
        store.clone(),
        Some(model.clone()),
    ));
    let by_model = at_once(&eve, 200).await;
    let calls = model.requests().len() as u64;
    assert_eq!(by_model, calls);
    assert!(
        (100..200).contains(&calls),
        "{calls} model calls: the budget admits most, not all"
    );
    assert!(
        calls * reservation < budget + reservation,
        "{calls} calls of {reservation} reserved tokens against {budget}"
    );
    eve.return_unused_budget(Duration::ZERO).await;
    let spent = store.tokens("test", &utc_day(unix_ms()));
    assert_eq!(spent, calls * 15, "every lease settled to its answers' use");
}

/// A reservation whose request stopped waiting (the store applied it late, or the instance
/// died) would hold budget all day. A model answer the budget refuses returns those held past
/// any request's deadline and asks again; one taken a moment ago is in flight and is left alone.
#[tokio::test]
async fn reservations_left_held_are_returned_once_abandoned() {
    let store = Arc::new(MemoryStore::default());
    let day = utc_day(unix_ms());
    let now_s = unix_ms() / 1000;
    let held = |request_id: &str, at_s| TokenReservation {
        day: day.clone(),
        request_id: request_id.into(),
        tokens: 700,
        at_s,
    };
    let abandoned = held("abandoned-request", now_s - ABANDONED_AFTER_SECS - 1);
    let in_flight = held("in-flight-request", now_s);
    for reservation in [&abandoned, &in_flight] {
        let state = store
            .reserve_tokens("test", reservation, 10_000)
            .await
            .expect("held");
        assert!(state.reserved);
    }
    let model = Arc::new(ScriptedModel::default());
    // Spent, counting both: the answer is refused until the abandoned one is returned.
    let eve = eve(
        settings(&[("model_id", MODEL), ("daily_token_budget", "1400")]),
        store.clone(),
        Some(model),
    );
    let answer = eve.chat(ask("Rust?", None), None).await.expect("answer");
    assert_eq!(answer.source, Source::Model);
    assert_eq!(
        store.tokens("test", &day),
        700 + 15,
        "the abandoned reservation is returned, the one in flight kept, the answer's use counted"
    );
}

/// A server that died with many requests in flight leaves all their reservations held. A
/// request the budget refuses returns a few of them, not a write for every one.
#[tokio::test]
async fn a_refused_request_returns_a_few_abandoned_reservations_at_a_time() {
    let store = Arc::new(MemoryStore::default());
    let day = utc_day(unix_ms());
    let long_ago = unix_ms() / 1000 - ABANDONED_AFTER_SECS - 1;
    let abandoned = ABANDONED_RETURNED_AT_ONCE as u64 * 3;
    for i in 0..abandoned {
        let reservation = TokenReservation {
            day: day.clone(),
            request_id: format!("abandoned-{i}"),
            tokens: 100,
            at_s: long_ago,
        };
        store
            .reserve_tokens("test", &reservation, u64::MAX)
            .await
            .expect("held");
    }
    let eve = eve(
        settings(&[
            ("model_id", MODEL),
            ("daily_token_budget", &(abandoned * 100).to_string()),
        ]),
        store.clone(),
        Some(Arc::new(ScriptedModel::default())),
    );
    let answer = eve.chat(ask("Rust?", None), None).await.expect("answer");
    assert_eq!(answer.source, Source::Model);
    assert_eq!(
        store.tokens("test", &day),
        (abandoned - ABANDONED_RETURNED_AT_ONCE as u64) * 100 + 15,
        "a few returned, the answer's use counted"
    );
}

/// A write sent twice (the SDK retries one whose answer was lost) counts once.
#[tokio::test]
async fn a_repeated_reservation_or_count_is_held_once() {
    let store = MemoryStore::default();
    let reservation = TokenReservation {
        day: "2026-12-04".into(),
        request_id: "r1".into(),
        tokens: 400,
        at_s: 1,
    };
    for _ in 0..2 {
        let state = store
            .reserve_tokens("test", &reservation, 500)
            .await
            .expect("held");
        assert_eq!((state.reserved, state.spent), (true, 400));
    }
    store
        .settle_tokens("test", &reservation, 30)
        .await
        .expect("settled");
    store
        .settle_tokens("test", &reservation, 30)
        .await
        .expect("settled again: no-op");
    assert_eq!(store.tokens("test", "2026-12-04"), 30);
    let window = RateWindow {
        key: "session#s".into(),
        window: 1,
        limit: 1,
        expires_at: 0,
    };
    for _ in 0..2 {
        assert!(
            store
                .count_request(&window, "r1")
                .await
                .expect("counted")
                .counted
        );
    }
    let refused = store.count_request(&window, "r2").await.expect("full");
    assert!(!refused.counted);
    assert_eq!(refused.previous, Previous::Request("r1".into()));
}

#[tokio::test]
async fn invalid_input_is_refused_before_any_work() {
    let eve = eve(settings(&[]), Arc::new(MemoryStore::default()), None);
    let empty = eve.chat(ask("   ", None), None).await;
    assert_eq!(empty, Err(ChatError::Invalid(GuardError::EmptyMessage)));
    let bad_session = eve.chat(ask("hi", Some("../etc")), None).await;
    assert_eq!(
        bad_session,
        Err(ChatError::Invalid(GuardError::InvalidSessionId))
    );
}

#[tokio::test]
async fn failed_writes_are_retried() {
    let store = Arc::new(MemoryStore::default());
    store.fail_next_writes(2);
    let eve = eve(settings(&[]), store.clone(), None);
    eve.chat(ask("Rust?", Some(SESSION)), None)
        .await
        .expect("answer");
    assert_eq!(
        store.turns(SESSION).len(),
        2,
        "both turns stored despite two failures"
    );
}

#[tokio::test]
async fn streaming_forwards_model_deltas_and_local_replies_whole() {
    let model = Arc::new(ScriptedModel::default());
    let eve = eve(
        settings(&[("model_id", MODEL)]),
        Arc::new(MemoryStore::default()),
        Some(model),
    );
    let (tx, mut rx) = mpsc::channel(64);
    let answer = eve
        .chat(ask("Tell me about Go", None), Some(tx))
        .await
        .expect("answer");
    let mut deltas = Vec::new();
    while let Some(event) = rx.recv().await {
        match event {
            StreamEvent::Delta(delta) => deltas.push(delta),
            StreamEvent::Replace(text) => panic!("nothing to replace: {text}"),
        }
    }
    assert!(deltas.len() > 1, "{deltas:?}");
    assert_eq!(deltas.concat(), answer.reply);

    let (tx, mut rx) = mpsc::channel(64);
    let curated = eve
        .chat(ask("How is this site built?", None), Some(tx))
        .await
        .expect("answer");
    assert_eq!(rx.recv().await, Some(StreamEvent::Delta(curated.reply)));
}

/// Every event of a stream, once its sender is gone.
async fn all_events(mut received: mpsc::Receiver<StreamEvent>) -> Vec<StreamEvent> {
    let mut events = Vec::new();
    while let Some(event) = received.recv().await {
        events.push(event);
    }
    events
}

/// What the visitor ends up seeing: deltas appended, a replace starting over.
fn shown(events: &[StreamEvent]) -> String {
    events
        .iter()
        .fold(String::new(), |text, event| match event {
            StreamEvent::Delta(delta) => text + delta,
            StreamEvent::Replace(whole) => whole.clone(),
        })
}

#[tokio::test]
async fn a_stream_broken_part_way_is_replaced_by_the_stored_offline_answer() {
    let store = Arc::new(MemoryStore::default());
    let model = Arc::new(ScriptedModel::default().with_stream_break_after(2));
    let eve = eve(settings(&[("model_id", MODEL)]), store.clone(), Some(model));
    let (tx, rx) = mpsc::channel(64);
    let answer = eve
        .chat(ask("Tell me about Tidewatch", Some(SESSION)), Some(tx))
        .await
        .expect("answer");
    let events = all_events(rx).await;
    assert_eq!(answer.source, Source::Offline);
    assert!(
        matches!(
            events.as_slice(),
            [
                StreamEvent::Delta(_),
                StreamEvent::Delta(_),
                StreamEvent::Replace(_)
            ]
        ),
        "the partial text, then one replacement: {events:?}"
    );
    let turns = store.turns(SESSION);
    assert_eq!(shown(&events), answer.reply);
    assert_eq!(
        turns[1].text,
        shown(&events),
        "what is stored is what was shown"
    );
}

#[test]
fn history_is_repaired_to_alternate() {
    let turn = |role, text: &str| Turn::new(SESSION, 0, role, "", text);
    let history = vec![
        turn(Role::Assistant, "orphan reply"),
        turn(Role::User, "q1"),
        turn(Role::User, "q2"),
        turn(Role::Assistant, "a2"),
        turn(Role::User, "q3 without reply"),
    ];
    let texts: Vec<String> = alternating(history).into_iter().map(|m| m.text).collect();
    assert_eq!(texts, ["q1", "a2"]);
}

#[test]
fn utc_days_are_iso_dates() {
    assert_eq!(utc_day(0), "1970-01-01");
    assert_eq!(utc_day(1_764_028_800_000), "2025-11-25");
}

#[tokio::test]
async fn a_store_that_never_answers_cannot_hold_the_reply_past_the_deadline() {
    let model = Arc::new(ScriptedModel::default());
    let eve = eve(
        settings(&[("model_id", MODEL)]),
        Arc::new(HangingStore),
        Some(model.clone()),
    );
    let deadline = std::time::Duration::from_secs(2);
    let request = ChatRequest {
        deadline: std::time::Instant::now() + deadline,
        ..ask("Which databases has Alex run?", Some(SESSION))
    };
    let started = std::time::Instant::now();
    let answer = tokio::time::timeout(deadline * 3, eve.chat(request, None))
        .await
        .expect("the reply is not held by the store")
        .expect("answer");
    assert!(
        started.elapsed() < deadline + std::time::Duration::from_millis(300),
        "replied after {:?}",
        started.elapsed()
    );
    assert_eq!(
        answer.source,
        Source::Offline,
        "an unreadable budget fails closed"
    );
    assert!(model.requests().is_empty());
}

/// On tokio's paused clock a store call takes exactly its delay, so the time a model answer
/// takes counts the store round trips it waited on one after another. It was four (budget,
/// history, the turns, the token count); the reads go together, and so do the writes. The
/// history is read once: later answers find it in the cache, which the count shows current.
#[tokio::test(start_paused = true)]
async fn a_model_answer_waits_on_the_store_twice() {
    let round_trip = Duration::from_millis(100);
    let store = Arc::new(DistantStore::new(round_trip));
    let eve = eve(
        settings(&[("model_id", MODEL)]),
        store.clone(),
        Some(Arc::new(ScriptedModel::default())),
    );
    for turn in 0..3 {
        let started = tokio::time::Instant::now();
        let answer = eve
            .chat(
                ask(&format!("Question {turn} about Go?"), Some(SESSION)),
                None,
            )
            .await
            .expect("answer");
        assert_eq!(answer.source, Source::Model);
        assert_eq!(started.elapsed(), round_trip * 2, "turn {turn}");
    }
    assert_eq!(store.store.turns(SESSION).len(), 6);
    assert_eq!(store.history_reads.load(Ordering::SeqCst), 1);
}

/// A curated (or offline) answer is known before the store counts its request: its exchange
/// is written beside the count, so the reply waits on one round trip, not two in turn. A
/// request the count refuses has its exchange withdrawn: none of it stays stored.
#[tokio::test(start_paused = true)]
async fn a_curated_answer_waits_on_the_store_once() {
    let round_trip = Duration::from_millis(100);
    let store = Arc::new(DistantStore::new(round_trip));
    let limited = || settings(&[("session_rate_per_minute", "2")]);
    let [here, other] = [(); 2].map(|()| eve(limited(), store.clone(), None));
    let minute = unix_ms() / 60_000;
    for turn in 0..2 {
        let started = tokio::time::Instant::now();
        let answer = here
            .chat(ask("How can I contact Alex?", Some(SESSION)), None)
            .await
            .expect("answer");
        assert_eq!(answer.source, Source::Curated);
        assert_eq!(started.elapsed(), round_trip, "turn {turn}");
    }
    // Counted elsewhere as well: this instance lets the request through, the store refuses it.
    let refused = other
        .chat(ask("How can I contact Alex?", Some(SESSION)), None)
        .await;
    if unix_ms() / 60_000 != minute {
        return; // A minute began mid-test and the counts with it.
    }
    assert!(
        matches!(refused, Err(ChatError::RateLimited { .. })),
        "{refused:?}"
    );
    assert_eq!(
        store.store.turns(SESSION).len(),
        4,
        "the refused exchange withdrawn"
    );
}

/// Two instances answer one session in turn. Each time, the instance that answered the turn
/// before last holds a stale entry; the count names the other's request as the one before, so
/// it reads the history again (a third round trip, the price of a stale entry) and the model
/// sees every exchange.
#[tokio::test(start_paused = true)]
async fn a_session_moving_between_instances_reads_what_the_other_stored() {
    let round_trip = Duration::from_millis(100);
    let store = Arc::new(DistantStore::new(round_trip));
    let models = [(); 2].map(|()| Arc::new(ScriptedModel::default()));
    let instances = models
        .clone()
        .map(|model| eve(settings(&[("model_id", MODEL)]), store.clone(), Some(model)));
    let mut took = Vec::new();
    for turn in 0..4 {
        // Turns are ordered by the wall clock's milliseconds, which the paused clock keeps.
        std::thread::sleep(Duration::from_millis(3));
        let started = tokio::time::Instant::now();
        instances[turn % 2]
            .chat(
                ask(&format!("Question {turn} about Go?"), Some(SESSION)),
                None,
            )
            .await
            .expect("answer");
        took.push(started.elapsed() / round_trip.as_millis() as u32);
    }
    let last = models[1].requests().pop().expect("asked");
    let asked: Vec<&str> = last.messages.iter().map(|m| m.text.as_str()).collect();
    assert_eq!(
        asked.iter().filter(|t| t.starts_with("Question")).count(),
        4,
        "the model saw {asked:?}"
    );
    // The first answer of each instance reads with the count; the later ones find the cache
    // stale after it.
    let ms = Duration::from_millis(1);
    assert_eq!(took, [ms * 2, ms * 2, ms * 3, ms * 3]);
    assert_eq!(store.history_reads.load(Ordering::SeqCst), 4);
}

/// Curated answers keep the cache current too, and an exchange that could not be stored
/// leaves no entry to trust: the next answer reads the store.
#[tokio::test]
async fn the_cache_follows_curated_answers_and_forgets_unstored_ones() {
    let store = Arc::new(DistantStore::new(Duration::ZERO));
    let (model, eve) = with_model(store.clone(), &[]);
    let first = eve
        .chat(ask("How can I contact Alex?", None), None)
        .await
        .expect("answer");
    assert_eq!(first.source, Source::Curated);
    let session = Some(first.session_id.as_str());
    eve.chat(ask("And Rust?", session), None)
        .await
        .expect("answer");
    assert_eq!(store.history_reads.load(Ordering::SeqCst), 0);
    let seen = model.requests().pop().expect("asked").messages;
    assert_eq!(seen.len(), 3, "curated exchange and the question: {seen:?}");

    store.store.fail_next_writes(WRITE_ATTEMPTS);
    eve.chat(ask("And Go?", session), None)
        .await
        .expect("answer");
    eve.chat(ask("And Java?", session), None)
        .await
        .expect("answer");
    assert_eq!(store.history_reads.load(Ordering::SeqCst), 1);
}

/// The widget's first message carries no session; the one EVE names for it has no history,
/// so none is read.
#[tokio::test]
async fn a_new_session_reads_no_history() {
    let store = Arc::new(DistantStore::new(Duration::ZERO));
    let eve = eve(
        settings(&[("model_id", MODEL)]),
        store.clone(),
        Some(Arc::new(ScriptedModel::default())),
    );
    let first = eve.chat(ask("Go?", None), None).await.expect("answer");
    assert_eq!(first.source, Source::Model);
    assert_eq!(store.history_reads.load(Ordering::SeqCst), 0);
    eve.chat(ask("And Rust?", Some(&first.session_id)), None)
        .await
        .expect("answer");
    // Nor for the next: this instance stored the first exchange and the count says it is the
    // latest.
    assert_eq!(store.history_reads.load(Ordering::SeqCst), 0);
}

/// A session that stayed on this instance: its model call starts while the store counts the
/// request, so an answer waits on the store's two round trips and not on the model between
/// them. Streamed text still waits for the count.
#[tokio::test(start_paused = true)]
async fn a_session_that_stayed_starts_the_model_while_its_request_is_counted() {
    let round_trip = Duration::from_millis(100);
    let store = Arc::new(DistantStore::new(round_trip));
    let model = Arc::new(ScriptedModel::default().with_delay(round_trip / 2));
    let eve = holding_budget(
        Holding::Leased,
        settings(&[("model_id", MODEL)]),
        store.clone(),
        Some(model),
    );
    let first = eve.chat(ask("Go?", None), None).await.expect("answer");
    let session = Some(first.session_id.as_str());
    for turn in 1..3 {
        let started = tokio::time::Instant::now();
        eve.chat(ask(&format!("Question {turn} about Rust?"), session), None)
            .await
            .expect("answer");
        assert_eq!(started.elapsed(), round_trip * 2, "turn {turn}");
    }
    let started = tokio::time::Instant::now();
    let (tx, mut rx) = mpsc::channel(64);
    let reading = tokio::spawn(async move {
        let mut events = Vec::new();
        while let Some(event) = rx.recv().await {
            events.push((started.elapsed(), event));
        }
        events
    });
    let answer = eve
        .chat(ask("And Java?", session), Some(tx))
        .await
        .expect("answer");
    let (at, events): (Vec<_>, Vec<_>) = reading.await.expect("read").into_iter().unzip();
    assert!(
        at.first().is_some_and(|first| *first >= round_trip),
        "the first delta left at {at:?}, before the count answered"
    );
    assert_eq!(shown(&events), answer.reply);
}

/// The store refuses a request whose model call started early (another instance counted the
/// session's requests): the call is abandoned, none of it reaches the visitor or the store,
/// and the budget is charged all it reserved (a cancelled call may have been billed). The
/// session did not stay, so the next request is counted before the model is asked.
#[tokio::test(start_paused = true)]
async fn a_request_refused_after_its_model_started_shows_and_stores_nothing() {
    let store = Arc::new(MemoryStore::default());
    let model_time = Duration::from_secs(3);
    let model = Arc::new(ScriptedModel::default().with_delay(model_time));
    let eve = eve(
        settings(&[
            ("model_id", MODEL),
            ("max_tokens", "400"),
            ("model_timeout_ms", "20000"),
            ("session_rate_per_minute", "4"),
        ]),
        store.clone(),
        Some(model.clone()),
    );
    let minute = unix_ms() / 60_000;
    let first = eve.chat(ask("Go?", None), None).await.expect("answer");
    let session = first.session_id;
    eve.chat(ask("And Rust?", Some(&session)), None)
        .await
        .expect("answer");
    let elsewhere = RateWindow {
        key: format!("session#{session}"),
        window: minute,
        limit: 4,
        expires_at: unix_ms() / 1000 + 120,
    };
    for request in ["elsewhere-1", "elsewhere-2"] {
        store
            .count_request(&elsewhere, request)
            .await
            .expect("counted");
    }
    let (tx, mut rx) = mpsc::channel(64);
    let started = tokio::time::Instant::now();
    let refused = eve.chat(ask("And Java?", Some(&session)), Some(tx)).await;
    let took = started.elapsed();
    let again = eve.chat(ask("And Kotlin?", Some(&session)), None).await;
    if unix_ms() / 60_000 != minute {
        return; // A minute began mid-test and the counts with it.
    }
    for refused in [refused, again] {
        assert!(
            matches!(refused, Err(ChatError::RateLimited { .. })),
            "{refused:?}"
        );
    }
    assert!(took < model_time, "refused after {took:?}");
    assert_eq!(rx.recv().await, None, "nothing shown");
    assert_eq!(model.requests().len(), 3, "the third call started early");
    assert_eq!(store.turns(&session).len(), 4, "nothing stored");
    let spent = store.tokens("test", &utc_day(unix_ms()));
    assert!(spent > 2 * 15 + 400, "{spent} tokens counted");
}

/// Another instance answered the session since this one cached its turns: the reply started
/// on them is discarded unseen, the model asked again on the turns read from the store, and
/// what the visitor sees is what is stored. Both calls' tokens count.
#[tokio::test(start_paused = true)]
async fn an_early_reply_on_turns_found_stale_is_discarded_and_asked_again() {
    let (answer, events, here, store) = asked_again_after_a_move("Fresh answer.", None).await;
    assert_eq!(answer.reply, "Fresh answer.");
    assert_eq!(shown(&events), "Fresh answer.");
    let asked = here.requests();
    let saw_java = |call: usize| asked[call].messages.iter().any(|m| m.text == "And Java?");
    assert_eq!(asked.len(), 4);
    assert!(!saw_java(2) && saw_java(3), "{asked:?}");
    let stored = store.store.turns(&answer.session_id);
    assert_eq!(
        stored.last().map(|t| t.text.as_str()),
        Some("Fresh answer.")
    );
    assert_eq!(store.store.tokens("test", &utc_day(unix_ms())), 5 * 15);
}

/// When the second call, asked after the stale early reply, breaks off: the budget is charged
/// both, the stale reply's use and all that was reserved for the broken call.
#[tokio::test(start_paused = true)]
async fn a_stale_early_reply_and_a_failed_second_call_are_both_charged() {
    let (answer, _, here, store) =
        asked_again_after_a_move("Fresh answer, broken off.", Some(2)).await;
    assert_eq!(answer.source, Source::Offline);
    let asked = here.requests();
    let reserved = estimated_cost(
        &settings(&[("model_id", MODEL)]),
        &asked[3].system,
        "And Kotlin?",
    );
    assert_eq!(
        store.store.tokens("test", &utc_day(unix_ms())),
        4 * 15 + reserved
    );
}

/// A session moved between two instances (A, A, B), then asked on A with its stream: A's
/// early reply ("Stale answer.") is found stale, and the model is asked again, replying
/// `fresh` (in a stream broken after `break_after` words). Every lease is returned after.
async fn asked_again_after_a_move(
    fresh: &str,
    break_after: Option<usize>,
) -> (
    ChatAnswer,
    Vec<StreamEvent>,
    Arc<ScriptedModel>,
    Arc<DistantStore>,
) {
    // The count takes a round trip; the model, drawing on a lease, answers before it.
    let store = Arc::new(DistantStore::new(Duration::from_millis(100)));
    let reply = |text: &str| {
        Ok(ModelReply {
            text: text.into(),
            input_tokens: 10,
            output_tokens: 5,
        })
    };
    let here = ScriptedModel::new(vec![
        reply("One."),
        reply("Two."),
        reply("Stale answer."),
        reply(fresh),
    ]);
    let here = Arc::new(match break_after {
        Some(words) => here.with_stream_break_after(words),
        None => here,
    });
    let models = [here.clone(), Arc::new(ScriptedModel::default())];
    let instances = models.map(|model| {
        holding_budget(
            Holding::Leased,
            settings(&[("model_id", MODEL)]),
            store.clone(),
            Some(model),
        )
    });
    let first = instances[0]
        .chat(ask("Go?", None), None)
        .await
        .expect("answer");
    let session = first.session_id.as_str();
    for (instance, question) in [(0, "And Rust?"), (1, "And Java?")] {
        // Turns are ordered by the wall clock's milliseconds.
        std::thread::sleep(Duration::from_millis(3));
        instances[instance]
            .chat(ask(question, Some(session)), None)
            .await
            .expect("answer");
    }
    std::thread::sleep(Duration::from_millis(3));
    let (tx, rx) = mpsc::channel(64);
    let answer = instances[0]
        .chat(ask("And Kotlin?", Some(session)), Some(tx))
        .await
        .expect("answer");
    let events = all_events(rx).await;
    for instance in &instances {
        instance.return_unused_budget(Duration::ZERO).await;
    }
    (answer, events, here, store)
}

/// A store that cannot count lets the request through on the in-process limits and cannot say
/// whether the cached turns are current: the reply started on them is kept, not asked for
/// again, and the cache stops trusting them.
#[tokio::test]
async fn an_early_reply_is_kept_when_the_store_cannot_count() {
    let store = Arc::new(DistantStore::new(Duration::ZERO));
    let (model, eve) = with_model(store.clone(), &[]);
    let first = eve.chat(ask("Go?", None), None).await.expect("answer");
    let session = Some(first.session_id.as_str());
    store.failing_counts.store(1, Ordering::SeqCst);
    let uncounted = eve
        .chat(ask("And Rust?", session), None)
        .await
        .expect("answer");
    assert_eq!(uncounted.source, Source::Model);
    assert_eq!(model.requests().len(), 2, "one call for each question");
    eve.chat(ask("And Java?", session), None)
        .await
        .expect("answer");
    assert_eq!(store.history_reads.load(Ordering::SeqCst), 1);
}

/// A table that takes the request and never answers held `/api/health/ready` for as long as
/// the SDK waited, past any probe's timeout: the orchestrator learnt nothing, and each probe
/// left one more check waiting. Readiness now answers within the probe's time, the store down.
#[tokio::test(start_paused = true)]
async fn readiness_answers_within_the_probe_timeout_when_the_store_hangs() {
    let eve = eve(settings(&[]), Arc::new(HangingStore), None);
    let checks = tokio::time::timeout(PROBE_TIMEOUT, eve.ready())
        .await
        .expect("readiness answered within the probe timeout");
    let store = checks.iter().find(|(name, _)| *name == "store");
    assert!(store.expect("store").1.is_err(), "{checks:?}");
    let settings = checks.iter().find(|(name, _)| *name == "settings");
    assert!(settings.expect("settings").1.is_ok(), "{checks:?}");
}

/// Anyone can ask `/api/health/ready`, and each check read the table and the parameter store:
/// a hundred asks a second were a hundred reads of each, enough for SSM to throttle the account
/// and every instance to report itself unready. Callers at once now share one round of checks,
/// and a round stands for `RECHECK_AFTER`.
#[tokio::test(start_paused = true)]
async fn readiness_asked_by_many_at_once_checks_the_store_once() {
    let store = Arc::new(DistantStore::new(Duration::from_millis(50)));
    let eve = Arc::new(eve(settings(&[]), store.clone(), None));
    let callers: Vec<_> = (0..100)
        .map(|_| {
            let eve = Arc::clone(&eve);
            tokio::spawn(async move { eve.ready().await })
        })
        .collect();
    for caller in callers {
        let checks = caller.await.expect("caller");
        assert!(checks.iter().all(|(_, r)| r.is_ok()), "{checks:?}");
    }
    assert_eq!(
        store.pings.load(Ordering::SeqCst),
        1,
        "one check for 100 callers"
    );
    tokio::time::sleep(crate::core::readiness::RECHECK_AFTER).await;
    eve.ready().await;
    assert_eq!(
        store.pings.load(Ordering::SeqCst),
        2,
        "checked again once it no longer stands"
    );
}
