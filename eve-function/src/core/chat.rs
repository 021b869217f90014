//! The chat service: guards, curated answers, the model with its offline fallback, memory and
//! the daily token budget. Both front doors call [`Eve::chat`].

use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use eve_contract::routes::MAX_CHAT_TIME;
use serde::Serialize;
use tokio::sync::mpsc;

use super::guards::{self, GuardError, RateLimiter};
use super::history::HistoryCache;
use super::knowledge::Knowledge;
use super::metrics::{self, ChatMetrics};
use super::offline;
use super::ports::{
    CertificateSigner, ChatModel, ConversationStore, ModelMessage, ModelReply, ModelRequest,
    PortError, Previous, RateWindow, Role, TokenReservation, Turn,
};
use super::prompt::{self, PROMPT_ENTRIES};
use super::settings::{Settings, SettingsProvider};

/// Attempts per conversation write before the turn is logged as lost.
const WRITE_ATTEMPTS: u32 = 3;
const WRITE_BACKOFF: Duration = Duration::from_millis(50);

/// Kept back from the reads and the model for storing the turns once there is a reply.
const STORE_RESERVE: Duration = Duration::from_millis(1500);
/// A reservation held longer than this was abandoned: its request's deadline is long past, so
/// no settlement will come (a store that applied it after the request stopped waiting). A
/// request refused because the budget is spent returns those it finds, then asks once more. The
/// margin covers clocks of instances that differ.
const ABANDONED_AFTER_SECS: u64 = MAX_CHAT_TIME.as_secs() + 30;
/// Abandoned reservations one request returns at most: a server that died with many in flight
/// leaves them all, and every request the budget refuses finds them, so each returns a few
/// rather than all sending a write for every one.
const ABANDONED_RETURNED_AT_ONCE: usize = 16;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Source {
    Model,
    Curated,
    Offline,
}

impl Source {
    pub fn as_str(self) -> &'static str {
        match self {
            Source::Model => "model",
            Source::Curated => "curated",
            Source::Offline => "offline",
        }
    }
}

/// What a streamed reply sends the visitor, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StreamEvent {
    /// More reply text.
    Delta(String),
    /// The text shown so far is void; show this instead. Sent when the model broke off part-way
    /// and EVE answers offline, so the visitor sees one answer: the one that is stored.
    Replace(String),
}

#[derive(Debug, Clone)]
pub struct ChatRequest {
    pub message: String,
    pub session_id: Option<String>,
    /// Rate-limit key for the caller; the front door decides how it is found.
    pub client_ip: String,
    /// When the reply must be out; [`MAX_CHAT_TIME`] from the start at the latest.
    pub deadline: Instant,
}

/// The `/api/chat` response body.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ChatAnswer {
    pub reply: String,
    pub session_id: String,
    pub source: Source,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ChatError {
    #[error(transparent)]
    Invalid(#[from] GuardError),
    #[error("too many requests; retry in {retry_after_secs} s")]
    RateLimited { retry_after_secs: u64 },
}

/// Everything the core is wired to; adapters are chosen by the front door's startup.
pub struct Dependencies {
    /// What EVE knows at start; [`Eve::replace_knowledge`] swaps it while serving.
    pub knowledge: Arc<Knowledge>,
    pub settings: Arc<SettingsProvider>,
    pub store: Arc<dyn ConversationStore>,
    pub model: Option<Arc<dyn ChatModel>>,
    pub signer: Option<Arc<dyn CertificateSigner>>,
    /// Deployment stage (`EVE_STAGE`), the key of the daily token budget.
    pub stage: String,
}

pub struct Eve {
    pub(crate) deps: Dependencies,
    knowledge: RwLock<Arc<Knowledge>>,
    sessions: RateLimiter,
    clients: RateLimiter,
    /// Sessions' turns as this instance stored them, so most answers read none back.
    history: HistoryCache,
}

/// What produced a reply, before it is stored and measured.
struct Outcome {
    reply: String,
    source: Source,
    model_id: String,
    usage: ModelReply,
    model_failed: bool,
    /// Model text already reached the visitor and this reply must replace it.
    replaces_shown: bool,
    /// Asked of the budget before a model call; settled with `usage` once stored (a no-op
    /// when it was not taken).
    reservation: Option<TokenReservation>,
    /// The day's budget spent, reservations included, when a model call reserved from it.
    budget_used_percent: Option<u64>,
    /// The session's turns before the question, when all are known (the cache keeps them).
    history: Option<Vec<Turn>>,
}

/// The session's turns before a question, as read or remembered.
struct History {
    turns: Vec<Turn>,
    /// None was left out, so the cache may keep them: false when the read failed, or did not
    /// hold the previous request's exchange (not stored, or not yet).
    complete: bool,
}

impl History {
    fn complete(turns: Vec<Turn>) -> Self {
        Self {
            turns,
            complete: true,
        }
    }

    /// What a read found (None: it failed), checked against the request counted before.
    fn read(turns: Option<Vec<Turn>>, previous: &Previous) -> Self {
        let Some(turns) = turns else {
            return Self {
                turns: Vec::new(),
                complete: false,
            };
        };
        let complete = match previous {
            Previous::Nothing => true,
            Previous::Request(request) => turns.iter().any(|t| &t.request_id == request),
            Previous::Unknown => false,
        };
        Self { turns, complete }
    }

    fn known(self) -> Option<Vec<Turn>> {
        self.complete.then_some(self.turns)
    }
}

/// What reserving from the day's budget found.
enum Budget {
    /// Reserved; `spent` tokens are now spent or reserved today.
    Reserved {
        spent: u64,
    },
    Spent,
    /// The store did not answer in time.
    Unknown,
}

impl Eve {
    pub fn new(deps: Dependencies) -> Self {
        Self {
            knowledge: RwLock::new(Arc::clone(&deps.knowledge)),
            deps,
            sessions: RateLimiter::default(),
            clients: RateLimiter::default(),
            history: HistoryCache::default(),
        }
    }

    /// What EVE knows now; a request keeps the knowledge it started with.
    pub fn knowledge(&self) -> Arc<Knowledge> {
        match self.knowledge.read() {
            Ok(knowledge) => Arc::clone(&knowledge),
            Err(poisoned) => Arc::clone(&poisoned.into_inner()),
        }
    }

    /// Serves new knowledge from the next request on (an edited content file in development).
    pub fn replace_knowledge(&self, knowledge: Knowledge) {
        let knowledge = Arc::new(knowledge);
        match self.knowledge.write() {
            Ok(mut current) => *current = knowledge,
            Err(poisoned) => *poisoned.into_inner() = knowledge,
        }
    }

    pub async fn settings(&self) -> Arc<Settings> {
        self.deps.settings.current().await
    }

    /// Answers one message. With `events`, reply text is streamed into it as it is produced.
    pub async fn chat(
        &self,
        request: ChatRequest,
        events: Option<mpsc::Sender<StreamEvent>>,
    ) -> Result<ChatAnswer, ChatError> {
        let started = Instant::now();
        let deadline = Deadline::new(request.deadline.min(started + MAX_CHAT_TIME));
        let settings = self.deps.settings.current().await;
        let message: &str = &guards::check_message(&request.message)?;
        // A session EVE names now has no history to read.
        let new_session = request.session_id.is_none();
        let session_id = match request.session_id.as_deref() {
            Some(id) => guards::check_session_id(id)?.to_string(),
            None => uuid::Uuid::new_v4().to_string(),
        };
        let now_ms = unix_ms();
        let minute = now_ms / 60_000;
        // In process first: cheap, and the line that still holds when the store is down. The
        // client's limit comes first, so one client cannot fill the session counts with
        // requests it was refused.
        if !self
            .clients
            .allow(&request.client_ip, settings.ip_rate_per_minute, minute)
            || !self
                .sessions
                .allow(&session_id, settings.session_rate_per_minute, minute)
        {
            return Err(rate_limited(now_ms));
        }
        tracing::info!(
            session_id,
            message_chars = message.chars().count(),
            message = settings.log_user_messages.then_some(message),
            "chat request"
        );
        let question = Turn {
            expires_at: now_ms / 1000 + settings.conversation_ttl_days * 86_400,
            ..Turn::new(
                session_id.clone(),
                now_ms,
                Role::User,
                // Ordered by creation: one instance's questions asked in the same millisecond
                // keep their order in the store, whose key is time, then request.
                uuid::Uuid::now_v7().simple().to_string(),
                message,
            )
        };

        let mut outcome = self
            .respond(
                &settings,
                &question,
                new_session,
                &deadline,
                events.as_ref(),
            )
            .await?;
        if outcome.source != Source::Model {
            if let Some(events) = &events {
                let reply = outcome.reply.clone();
                let event = if outcome.replaces_shown {
                    StreamEvent::Replace(reply)
                } else {
                    StreamEvent::Delta(reply)
                };
                // The receiver may be gone (client left); the reply is still stored below.
                let _ = events.send(event).await;
            }
        }
        let latency_ms = elapsed_ms(started);
        let history = outcome.history.take();
        self.remember(
            &settings, question, &outcome, history, latency_ms, &deadline,
        )
        .await;
        metrics::emit(
            &ChatMetrics {
                stage: &self.deps.stage,
                source: outcome.source.as_str(),
                latency_ms,
                input_tokens: outcome.usage.input_tokens,
                output_tokens: outcome.usage.output_tokens,
                model_errors: u64::from(outcome.model_failed),
                offline_answers: u64::from(outcome.source == Source::Offline),
                budget_used_percent: outcome.budget_used_percent,
            },
            unix_ms(),
        );
        tracing::info!(
            session_id,
            source = outcome.source.as_str(),
            latency_ms,
            input_tokens = outcome.usage.input_tokens,
            output_tokens = outcome.usage.output_tokens,
            "chat reply"
        );
        Ok(ChatAnswer {
            reply: outcome.reply,
            session_id,
            source: outcome.source,
        })
    }

    async fn respond(
        &self,
        settings: &Settings,
        question: &Turn,
        new_session: bool,
        deadline: &Deadline,
        events: Option<&mpsc::Sender<StreamEvent>>,
    ) -> Result<Outcome, ChatError> {
        let message = question.text.as_str();
        let window = RateWindow {
            key: format!("session#{}", question.session_id),
            window: question.at_ms / 60_000,
            limit: settings.session_rate_per_minute,
            expires_at: question.at_ms / 1000 + 120,
        };
        let knowledge = self.knowledge();
        let history_limit = settings.history_turns * 2;
        // What is known of the history without reading it: none in a new session, or the
        // cache's turns when it holds the previous request's exchange.
        let remembered = |previous: &Previous| {
            if new_session || history_limit == 0 {
                return Some(History::complete(Vec::new()));
            }
            self.history
                .latest(&question.session_id, previous, history_limit)
                .map(History::complete)
        };
        let offline = || Outcome::local(offline::answer(&knowledge, message), Source::Offline);
        let curated = knowledge.curated(message);
        let model = self.deps.model.as_deref().filter(|_| settings.uses_model());
        let (None, Some(model)) = (curated, model) else {
            // Answered here (a curated answer, or no model), once the session's count allows it.
            let local = match curated {
                Some(answer) => Outcome::local(answer.to_string(), Source::Curated),
                None => offline(),
            };
            let previous = self
                .count_request(&window, &question.request_id, deadline)
                .await?;
            return Ok(Outcome {
                history: remembered(&previous).and_then(History::known),
                ..local
            });
        };
        let relevant = knowledge.relevant(message, PROMPT_ENTRIES);
        let system = prompt::system_prompt(&knowledge, &relevant);
        let reservation = TokenReservation {
            day: utc_day(question.at_ms),
            request_id: question.request_id.clone(),
            tokens: estimated_cost(settings, &system, message),
            at_s: question.at_ms / 1000,
        };
        // One round trip for the session's count, the budget's reservation and the history
        // (unless the cache may hold it); the turns and the token count are written together
        // too (`remember`), so a model answer waits on the store twice. Only a cache entry
        // that the count shows stale (the session moved between instances) costs a third.
        let read_with_count =
            !new_session && history_limit > 0 && !self.history.holds(&question.session_id);
        let (counted, spent, read) = tokio::join!(
            self.count_request(&window, &question.request_id, deadline),
            self.reserve(settings, &reservation, deadline),
            async {
                if !read_with_count {
                    return None;
                }
                Some(
                    self.read_history(history_limit, &question.session_id, deadline)
                        .await,
                )
            }
        );
        let previous = match counted {
            Ok(previous) => previous,
            Err(limited) => {
                // Return what was (or may have been) reserved for the call that will not be made.
                if !matches!(spent, Budget::Spent) {
                    self.settle(&reservation, 0, deadline).await;
                }
                return Err(limited);
            }
        };
        let history = match read {
            Some(read) => Some(History::read(read, &previous)),
            None => remembered(&previous),
        };
        let spent = match spent {
            Budget::Reserved { spent } => spent,
            Budget::Spent => {
                return Ok(Outcome {
                    budget_used_percent: Some(100),
                    history: history.and_then(History::known),
                    ..offline()
                })
            }
            // The store may apply the reservation after all: settling returns it if so.
            Budget::Unknown => {
                return Ok(Outcome {
                    reservation: Some(reservation),
                    history: history.and_then(History::known),
                    ..offline()
                })
            }
        };
        // The cache's entry is stale (another instance answered the session since): read.
        let history = match history {
            Some(history) => history,
            None => History::read(
                self.read_history(history_limit, &question.session_id, deadline)
                    .await,
                &previous,
            ),
        };
        let budget_used_percent =
            Some(spent.saturating_mul(100) / settings.daily_token_budget.max(1));
        let request = self.model_request(settings, system, history.turns.clone(), message);
        let limit = Duration::from_millis(settings.model_timeout_ms).min(deadline.for_answer());
        let (result, shown) = match events {
            None => (
                tokio::time::timeout(limit, model.converse(&request)).await,
                false,
            ),
            Some(events) => {
                let (deltas, received) = mpsc::channel(64);
                tokio::join!(
                    tokio::time::timeout(limit, model.converse_stream(&request, deltas)),
                    forward_deltas(received, events),
                )
            }
        };
        let failure = match result {
            Ok(Ok(reply)) if !reply.text.trim().is_empty() => {
                return Ok(Outcome {
                    reply: reply.text.clone(),
                    source: Source::Model,
                    model_id: request.model_id,
                    usage: reply,
                    model_failed: false,
                    replaces_shown: false,
                    reservation: Some(reservation),
                    budget_used_percent,
                    history: history.known(),
                });
            }
            Ok(Ok(_)) => "model returned an empty reply".to_string(),
            Ok(Err(e)) => e.to_string(),
            Err(_) => format!("model timed out after {} ms", limit.as_millis()),
        };
        tracing::warn!(
            error = failure,
            model_id = request.model_id,
            "model failed; answering offline"
        );
        Ok(Outcome {
            model_failed: true,
            replaces_shown: shown,
            reservation: Some(reservation),
            budget_used_percent,
            history: history.known(),
            ..offline()
        })
    }

    /// Counts the request against the session's limit in the store, which every instance
    /// shares, and names the request counted before it. A store that cannot count in time
    /// lets it through: the in-process limits hold.
    async fn count_request(
        &self,
        window: &RateWindow,
        request_id: &str,
        deadline: &Deadline,
    ) -> Result<Previous, ChatError> {
        let count = self.deps.store.count_request(window, request_id);
        match deadline.read(count).await {
            Ok(count) if count.counted => Ok(count.previous),
            Ok(_) => Err(rate_limited(unix_ms())),
            Err(error) => {
                tracing::warn!(
                    error,
                    "session request not counted; in-process limits apply"
                );
                Ok(Previous::Unknown)
            }
        }
    }

    /// Reserves the call's cost from the daily budget. Fails closed: a budget that cannot be
    /// reserved in time means an offline answer, not a risk. A budget spent only counting
    /// reservations their requests abandoned is asked once more after returning them.
    async fn reserve(
        &self,
        settings: &Settings,
        reservation: &TokenReservation,
        deadline: &Deadline,
    ) -> Budget {
        let mut returned_abandoned = false;
        loop {
            let reserve = self.deps.store.reserve_tokens(
                &self.deps.stage,
                reservation,
                settings.daily_token_budget,
            );
            let state = match deadline.read(reserve).await {
                Ok(state) => state,
                Err(error) => {
                    tracing::warn!(error, "token budget not reserved; answering offline");
                    return Budget::Unknown;
                }
            };
            if state.reserved {
                return Budget::Reserved { spent: state.spent };
            }
            let stale_before = (unix_ms() / 1000).saturating_sub(ABANDONED_AFTER_SECS);
            let abandoned: Vec<_> = state
                .held
                .iter()
                .filter(|held| held.at_s < stale_before)
                .take(ABANDONED_RETURNED_AT_ONCE)
                .collect();
            if abandoned.is_empty() || returned_abandoned {
                tracing::info!("daily token budget spent; answering offline");
                return Budget::Spent;
            }
            tracing::warn!(
                count = abandoned.len(),
                "returning abandoned token reservations"
            );
            futures_util::future::join_all(
                abandoned
                    .into_iter()
                    .map(|abandoned| self.settle(abandoned, 0, deadline)),
            )
            .await;
            returned_abandoned = true;
        }
    }

    /// Replaces a reservation with what the call used, by the deadline. One left held is
    /// returned once it counts as abandoned by a request the budget refuses.
    async fn settle(&self, reservation: &TokenReservation, used: u64, deadline: &Deadline) {
        let settle = self
            .deps
            .store
            .settle_tokens(&self.deps.stage, reservation, used);
        let (day, request_id) = (&reservation.day, &reservation.request_id);
        match deadline.bound(settle).await {
            Some(Ok(())) => {}
            Some(Err(error)) => {
                tracing::error!(%error, used, day, request_id, "token reservation not settled")
            }
            None => tracing::error!(
                used,
                day,
                request_id,
                "token reservation not settled by the deadline"
            ),
        }
    }

    /// The session's latest `limit` turns from the store; None when they cannot be read in
    /// time.
    async fn read_history(
        &self,
        limit: usize,
        session_id: &str,
        deadline: &Deadline,
    ) -> Option<Vec<Turn>> {
        let read = self.deps.store.recent(session_id, limit);
        deadline
            .read(read)
            .await
            .map_err(|error| tracing::warn!(error, "history unavailable; answering without it"))
            .ok()
    }

    fn model_request(
        &self,
        settings: &Settings,
        system: String,
        history: Vec<Turn>,
        message: &str,
    ) -> ModelRequest {
        let mut messages = alternating(history);
        messages.push(ModelMessage {
            role: Role::User,
            text: message.to_string(),
        });
        ModelRequest {
            model_id: settings.model_id.clone(),
            system,
            messages,
            max_tokens: settings.max_tokens,
            temperature: settings.temperature,
        }
    }

    /// Stores both turns and settles the token reservation; failed writes are retried, then
    /// logged with the text. The cache keeps the stored exchange after `history`, the complete
    /// history before it, when that is known.
    async fn remember(
        &self,
        settings: &Settings,
        question: Turn,
        outcome: &Outcome,
        history: Option<Vec<Turn>>,
        latency_ms: u64,
        deadline: &Deadline,
    ) {
        let asked_at_ms = question.at_ms;
        let reply = Turn {
            at_ms: unix_ms().max(asked_at_ms + 1),
            role: Role::Assistant,
            text: outcome.reply.clone(),
            source: outcome.source.as_str().to_string(),
            model_id: outcome.model_id.clone(),
            input_tokens: outcome.usage.input_tokens,
            output_tokens: outcome.usage.output_tokens,
            latency_ms,
            ..question.clone()
        };
        let used = outcome.usage.input_tokens + outcome.usage.output_tokens;
        let settle = async {
            if let Some(reservation) = &outcome.reservation {
                self.settle(reservation, used, deadline).await;
            }
        };
        let (stored, ()) = tokio::join!(
            deadline.bound(self.append_with_retry(&question, &reply)),
            settle,
        );
        if stored.is_none() {
            for turn in [&question, &reply] {
                log_unstored(turn, "the request's deadline passed");
            }
        }
        let exchange = [question, reply];
        let [asked, _] = &exchange;
        self.history.record(
            &asked.session_id,
            &asked.request_id,
            history.filter(|_| stored == Some(true)),
            &exchange,
            settings.history_turns * 2,
        );
    }

    /// The exchange, written again when a write fails; whether it was stored.
    async fn append_with_retry(&self, question: &Turn, reply: &Turn) -> bool {
        let mut last_error: Option<PortError> = None;
        for attempt in 0..WRITE_ATTEMPTS {
            if attempt > 0 {
                tokio::time::sleep(WRITE_BACKOFF * 2u32.pow(attempt)).await;
            }
            match self.deps.store.append_exchange(question, reply).await {
                Ok(()) => return true,
                Err(error) => {
                    tracing::warn!(%error, attempt, "conversation write failed");
                    last_error = Some(error);
                }
            }
        }
        let error = last_error.map(|e| e.to_string()).unwrap_or_default();
        for turn in [question, reply] {
            log_unstored(turn, &error);
        }
        false
    }

    /// Readiness: every configured dependency answers.
    pub async fn ready(&self) -> Vec<(&'static str, Result<(), PortError>)> {
        let (store, settings) = tokio::join!(self.deps.store.ping(), self.deps.settings.check());
        vec![("store", store), ("settings", settings)]
    }
}

/// The turn itself goes to the log, so that it can be recovered.
fn log_unstored(turn: &Turn, error: &str) {
    tracing::error!(
        error,
        turn = %serde_json::to_string(turn).unwrap_or_default(),
        "conversation turn not stored"
    );
}

/// One request's deadline, which every step spends from.
struct Deadline {
    at: tokio::time::Instant,
}

impl Deadline {
    fn new(at: Instant) -> Self {
        Self {
            at: tokio::time::Instant::from_std(at),
        }
    }

    /// What is left for the reads and the model: up to the deadline, less what storing needs.
    fn for_answer(&self) -> Duration {
        self.at
            .saturating_duration_since(tokio::time::Instant::now())
            .saturating_sub(STORE_RESERVE)
    }

    /// A store read that must answer in time for the reply; the error says why it did not.
    async fn read<T>(
        &self,
        read: impl std::future::Future<Output = Result<T, PortError>>,
    ) -> Result<T, String> {
        match tokio::time::timeout(self.for_answer(), read).await {
            Ok(Ok(value)) => Ok(value),
            Ok(Err(error)) => Err(error.to_string()),
            Err(_) => Err("not read by the request's deadline".into()),
        }
    }

    /// `work`, or None when the deadline passes first.
    async fn bound<T>(&self, work: impl std::future::Future<Output = T>) -> Option<T> {
        tokio::time::timeout_at(self.at, work).await.ok()
    }
}

impl Outcome {
    fn local(reply: String, source: Source) -> Self {
        Self {
            reply,
            source,
            model_id: String::new(),
            usage: ModelReply::default(),
            model_failed: false,
            replaces_shown: false,
            reservation: None,
            budget_used_percent: None,
            history: None,
        }
    }
}

/// Passes the model's text on as it comes (until the model ends and drops its sender); tells
/// whether any reached the visitor. A visitor who left does not stop the model being read.
async fn forward_deltas(
    mut received: mpsc::Receiver<String>,
    events: &mpsc::Sender<StreamEvent>,
) -> bool {
    let mut shown = false;
    while let Some(delta) = received.recv().await {
        shown = true;
        let _ = events.send(StreamEvent::Delta(delta)).await;
    }
    shown
}

/// Converse needs user/assistant alternation starting with the user; stored history may
/// have gaps (a lost write), so it is repaired rather than trusted.
fn alternating(history: Vec<Turn>) -> Vec<ModelMessage> {
    let mut messages: Vec<ModelMessage> = Vec::new();
    for turn in history {
        let expected = match messages.last() {
            None
            | Some(ModelMessage {
                role: Role::Assistant,
                ..
            }) => Role::User,
            Some(_) => Role::Assistant,
        };
        if turn.role == expected {
            messages.push(ModelMessage {
                role: turn.role,
                text: turn.text,
            });
        }
    }
    // The new user message follows, so history must end with the assistant.
    if messages.last().is_some_and(|m| m.role == Role::User) {
        messages.pop();
    }
    messages
}

/// What a model call may cost, known before it is made: its prompt estimated high (three
/// characters a token; English runs nearer four) and every token it may answer with. The
/// history is read in the same round trip, so it is not in the estimate; `remember` settles
/// the reservation with the real count.
fn estimated_cost(settings: &Settings, system: &str, message: &str) -> u64 {
    let chars = system.chars().count() + message.chars().count();
    u64::try_from(chars.div_ceil(3)).unwrap_or(u64::MAX) + u64::from(settings.max_tokens)
}

fn rate_limited(now_ms: u64) -> ChatError {
    ChatError::RateLimited {
        retry_after_secs: 60 - (now_ms / 1000) % 60,
    }
}

pub(crate) fn unix_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

fn elapsed_ms(since: Instant) -> u64 {
    since.elapsed().as_millis() as u64
}

/// `YYYY-MM-DD` in UTC: the key of the daily token budget.
pub fn utc_day(unix_ms: u64) -> String {
    let seconds = i64::try_from(unix_ms / 1000).unwrap_or(0);
    time::OffsetDateTime::from_unix_timestamp(seconds)
        .map(|t| t.date().to_string())
        .unwrap_or_else(|_| "1970-01-01".into())
}

#[cfg(test)]
mod tests;
