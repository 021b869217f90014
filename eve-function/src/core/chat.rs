//! The chat service: guards, curated answers, the model with its offline fallback, memory and
//! the daily token budget. Both front doors call [`Eve::chat`], through
//! [`Eve::chat_to_the_end`] or, for a streamed reply, [`Eve::spawn_chat`].

use std::future::Future;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use eve_contract::routes::{MAX_CHAT_TIME, PROBE_TIMEOUT};
use serde::Serialize;
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;
use tokio_util::task::TaskTracker;
use tracing::Instrument;

use super::budget::{self, Grant, Holding, Leases, Settlement};
use super::guards::{self, GuardError, RateLimiter};
use super::history::HistoryCache;
use super::knowledge::Knowledge;
use super::locked;
use super::metrics::{self, ChatMetrics};
use super::offline;
use super::ports::{
    CertificateSigner, ChatModel, ConversationStore, ModelMessage, ModelReply, ModelRequest,
    PortError, Previous, RateWindow, Role, TokenReservation, Turn,
};
use super::prompt::{self, PROMPT_ENTRIES};
use super::readiness::{self, Checks, Readiness};
use super::settings::{Settings, SettingsProvider};
use super::to_the_end::ToTheEnd;

/// Attempts per conversation write before the turn is logged as lost.
const WRITE_ATTEMPTS: u32 = 3;
const WRITE_BACKOFF: Duration = Duration::from_millis(50);

/// Kept back from the reads and the model for storing the turns once there is a reply.
const STORE_RESERVE: Duration = Duration::from_millis(1500);
/// Time a model call is given at the least. The fastest models on Bedrock take 0.2–0.3 s to
/// their first token (aiperf.ghast.people.aws.dev, 2026), so a call given less can only time
/// out, and a call that times out is charged all that was reserved for it. With less left (the
/// store took the deadline), EVE answers offline without calling.
const MODEL_MIN_WINDOW: Duration = Duration::from_millis(300);
/// A reservation held longer than this was abandoned: its request's deadline is long past, so
/// no settlement will come (a store that applied it after the request stopped waiting). A
/// request refused because the budget is spent returns those it finds, then asks once more. The
/// margin covers clocks of instances that differ.
const ABANDONED_AFTER_SECS: u64 = MAX_CHAT_TIME.as_secs() + 30;
// A lease is drawn on for its lifetime, by requests that run for their deadline at most; it is
// settled before any instance may count it abandoned.
const _: () =
    assert!(budget::LEASE_LIFETIME.as_secs() + MAX_CHAT_TIME.as_secs() < ABANDONED_AFTER_SECS);
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
    /// Whether this instance may lease budget for several answers (it runs on between them).
    pub budget: Holding,
}

pub struct Eve {
    pub(crate) deps: Dependencies,
    knowledge: RwLock<Arc<Knowledge>>,
    sessions: RateLimiter,
    clients: RateLimiter,
    /// Sessions' turns as this instance stored them, so most answers read none back.
    history: HistoryCache,
    /// What this instance holds of the day's token budget.
    leases: std::sync::Mutex<Leases>,
    /// Held while a reservation is asked of the store, so an instance's requests that find no
    /// room in its lease wait for the one reservation rather than each make their own.
    reserving: tokio::sync::Mutex<()>,
    readiness: Readiness,
    /// Chats answering on tasks of their own: streamed, or left by their clients.
    chats: TaskTracker,
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
    /// Drawn from the budget before a model call; finished with `usage` once stored (which
    /// settles its reservation when it is the last to hold it).
    grant: Option<Grant>,
    /// The day's budget spent, reservations included, when a model call reserved from it.
    budget_used_percent: Option<u64>,
    /// The session's turns before the question, when all are known (the cache keeps them).
    history: Option<Vec<Turn>>,
    /// The turns were this instance's: a new session, or a cache entry the count showed
    /// current. The session's next answer may start from the cache before it is counted.
    stayed: bool,
    /// Model calls whose replies were not used (one started on turns since found stale, one
    /// that failed): counted in the budget and the token metrics, not stored with the reply.
    discarded: Discarded,
    /// The exchange as stored already, beside the session's count.
    early: Option<StoredEarly>,
}

/// An exchange written while the session's count was still in the store, so that the reply
/// waits on the slower of the two writes and not on both in turn. A request the count then
/// refuses has it withdrawn.
struct StoredEarly {
    reply: Turn,
    /// Whether it was stored; None when the request's deadline passed first.
    stored: Option<bool>,
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

/// What drawing on the day's budget found.
enum Budget {
    /// Reserved; `spent` tokens are spent or reserved today, as the store last said.
    Reserved {
        spent: u64,
        grant: Grant,
    },
    Spent,
    /// The store did not answer in time; the reservation asked for (if any was) may have been
    /// made all the same.
    Unknown(Option<Grant>),
}

impl Budget {
    /// The budget spent so far and the grant a model call is made on; else the offline answer
    /// with what it carries instead (a spent budget, or a reservation the store may apply after
    /// all: settling returns it if so).
    fn for_model(self, offline: &impl Fn() -> Outcome) -> Result<(u64, Grant), Box<Outcome>> {
        match self {
            Budget::Reserved { spent, grant } => Ok((spent, grant)),
            Budget::Spent => Err(Box::new(Outcome {
                budget_used_percent: Some(100),
                ..offline()
            })),
            Budget::Unknown(grant) => Err(Box::new(Outcome { grant, ..offline() })),
        }
    }
}

/// What one model answer is made of, whichever way it is reached.
struct ModelCall<'a> {
    settings: &'a Settings,
    model: &'a dyn ChatModel,
    session_id: &'a str,
    system: &'a str,
    message: &'a str,
    deadline: &'a Deadline,
    events: Option<&'a mpsc::Sender<StreamEvent>>,
}

/// The turns a session that stayed here is presumed to have, before the count confirms them.
struct Presumed {
    /// The request the cached turns end with; None in a new session, which has none.
    through: Option<String>,
    turns: Vec<Turn>,
}

impl Presumed {
    /// Whether the count confirmed the turns: the request it names as the one before is the
    /// one they end with.
    fn confirmed_by(&self, previous: &Previous) -> bool {
        match (&self.through, previous) {
            (None, Previous::Nothing) => true,
            (Some(through), Previous::Request(previous)) => through == previous,
            _ => false,
        }
    }

    /// Whether the count showed the turns stale: it names another request as the one before
    /// (a store that could not say shows nothing either way).
    fn refuted_by(&self, previous: &Previous) -> bool {
        *previous != Previous::Unknown && !self.confirmed_by(previous)
    }
}

/// A model call as it ended: its reply, or why there is none.
struct Asked {
    request: ModelRequest,
    reply: Result<ModelReply, String>,
    /// Some of its text reached the visitor.
    shown: bool,
    /// The model was called: not when too little of the request's time was left for it.
    called: bool,
    /// It ended without saying what it used, after the model may have run: abandoned, timed
    /// out, or broken off once its text began. Bedrock bills what a model did, so the budget
    /// is charged all that was reserved for it; a call refused before it ran is charged
    /// nothing.
    cost_unknown: bool,
}

impl Asked {
    /// The call as one whose reply is not used: what it used, all that was reserved for it
    /// when that is unknown, or nothing when it was refused before it ran.
    fn discarded(&self, reserved: u64) -> Discarded {
        let usage = self.reply.as_ref().map_or_else(
            |_| ModelReply::default(),
            |reply| ModelReply {
                text: String::new(),
                ..*reply
            },
        );
        let tokens = if self.cost_unknown {
            reserved
        } else {
            total_tokens(&usage)
        };
        Discarded { usage, tokens }
    }
}

/// A model call whose reply was not used.
#[derive(Default)]
struct Discarded {
    /// What it is known to have used, for the token metrics.
    usage: ModelReply,
    /// What the budget is charged for it.
    tokens: u64,
}

impl Discarded {
    /// Both calls' use: one discarded as stale, then one that failed.
    fn and(self, other: Discarded) -> Discarded {
        Discarded {
            usage: ModelReply {
                text: String::new(),
                input_tokens: self.usage.input_tokens + other.usage.input_tokens,
                output_tokens: self.usage.output_tokens + other.usage.output_tokens,
            },
            tokens: self.tokens + other.tokens,
        }
    }
}

fn total_tokens(usage: &ModelReply) -> u64 {
    usage.input_tokens + usage.output_tokens
}

/// The outcome of a model call made on `grant`: its reply, or the offline answer when it
/// failed or said nothing.
fn answered(
    call: &ModelCall<'_>,
    asked: Asked,
    grant: Grant,
    spent: u64,
    history: History,
    stayed: bool,
    offline: &impl Fn() -> Outcome,
) -> Outcome {
    let budget_used_percent =
        Some(spent.saturating_mul(100) / call.settings.daily_token_budget.max(1));
    let unused = asked.discarded(grant.tokens);
    let failure = match asked.reply {
        Ok(reply) if !reply.text.trim().is_empty() => {
            return Outcome {
                reply: reply.text.clone(),
                source: Source::Model,
                model_id: asked.request.model_id,
                usage: reply,
                model_failed: false,
                replaces_shown: false,
                grant: Some(grant),
                budget_used_percent,
                history: history.known(),
                stayed,
                discarded: Discarded::default(),
                early: None,
            };
        }
        Ok(_) => "model returned an empty reply".to_string(),
        Err(failure) => failure,
    };
    if asked.called {
        tracing::warn!(
            error = failure,
            model_id = asked.request.model_id,
            tokens_charged = unused.tokens,
            "model failed; answering offline"
        );
    } else {
        tracing::warn!(reason = failure, "model not called; answering offline");
    }
    Outcome {
        model_failed: asked.called,
        replaces_shown: asked.shown,
        discarded: unused,
        grant: Some(grant),
        budget_used_percent,
        history: history.known(),
        stayed,
        ..offline()
    }
}

/// What the store said of one reservation.
enum Reserved {
    Yes { spent: u64 },
    Spent,
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
            leases: std::sync::Mutex::default(),
            reserving: tokio::sync::Mutex::const_new(()),
            readiness: Readiness::default(),
            chats: TaskTracker::new(),
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

    pub fn settings(&self) -> Arc<Settings> {
        self.deps.settings.current()
    }

    /// [`Eve::chat`], finished even when whoever awaits it stops waiting: a front door may
    /// drop a request whose client has gone, and by then the model may have run. It runs in
    /// place; dropped before its end, it goes on on a task of its own, which
    /// [`Eve::finish_chats`] waits for.
    pub fn chat_to_the_end(
        self: &Arc<Self>,
        request: ChatRequest,
    ) -> impl Future<Output = Result<ChatAnswer, ChatError>> + Send + 'static {
        ToTheEnd::new(self.chat_in_span(request, None), self.chats.clone())
    }

    /// [`Eve::chat`] on a task of its own, for a streamed reply: its handler returns before
    /// the chat ends, and the chat finishes whether or not the stream is still read.
    pub fn spawn_chat(
        self: &Arc<Self>,
        request: ChatRequest,
        events: mpsc::Sender<StreamEvent>,
    ) -> JoinHandle<Result<ChatAnswer, ChatError>> {
        self.chats.spawn(self.chat_in_span(request, Some(events)))
    }

    /// A chat that owns what it needs, in the request's span, so that on a task of its own
    /// its lines still carry the request's trace id.
    fn chat_in_span(
        self: &Arc<Self>,
        request: ChatRequest,
        events: Option<mpsc::Sender<StreamEvent>>,
    ) -> impl Future<Output = Result<ChatAnswer, ChatError>> + Send + 'static {
        let eve = Arc::clone(self);
        async move { eve.chat(request, events).await }.instrument(tracing::Span::current())
    }

    /// Waits for the chats on tasks of their own, each bounded by its deadline: a server that
    /// stops returns its budget lease only after they have drawn on it.
    pub async fn finish_chats(&self) {
        self.chats.close();
        self.chats.wait().await;
    }

    /// Answers one message. With `events`, reply text is streamed into it as it is produced.
    pub async fn chat(
        &self,
        request: ChatRequest,
        events: Option<mpsc::Sender<StreamEvent>>,
    ) -> Result<ChatAnswer, ChatError> {
        let started = Instant::now();
        let deadline = Deadline::new(started, request.deadline.min(started + MAX_CHAT_TIME));
        let settings = self.deps.settings.current();
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
        if !self.clients.allow(
            &guards::client_key(&request.client_ip),
            settings.ip_rate_per_minute,
            minute,
        ) || !self
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
        let latency_ms = deadline.elapsed_ms();
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
                input_tokens: outcome.usage.input_tokens + outcome.discarded.usage.input_tokens,
                output_tokens: outcome.usage.output_tokens + outcome.discarded.usage.output_tokens,
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
            // Stored while the store counts the request: the reply waits on one write, not two.
            let reply = reply_turn(question, &local, deadline.elapsed_ms());
            let (counted, stored) = tokio::join!(
                self.count_request(&window, &question.request_id, deadline),
                self.store_exchange(question, &reply, deadline)
            );
            let early = StoredEarly { reply, stored };
            let previous = match counted {
                Ok(previous) => previous,
                Err(refused) => {
                    self.withdraw(question, &early, deadline).await;
                    return Err(refused);
                }
            };
            let history = remembered(&previous);
            return Ok(Outcome {
                stayed: history.is_some(),
                history: history.and_then(History::known),
                early: Some(early),
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
        let call = ModelCall {
            settings,
            model,
            session_id: &question.session_id,
            system: &system,
            message,
            deadline,
            events,
        };
        // A session that stayed here has its turns in the cache: the model may start on them
        // while the store counts the request.
        let presumed = if new_session {
            Some(Presumed {
                through: None,
                turns: Vec::new(),
            })
        } else {
            self.history
                .presumed(&question.session_id, history_limit)
                .map(|(through, turns)| Presumed {
                    through: Some(through),
                    turns,
                })
        };
        if let Some(presumed) = presumed {
            let count = self.count_request(&window, &question.request_id, deadline);
            return self
                .answer_early(&call, count, &reservation, presumed, &offline)
                .await;
        }
        // One round trip for the session's count, the budget's reservation and the history
        // (unless the cache may hold it); the turns and the token count are written together
        // too (`remember`), so a model answer waits on the store twice. Only a cache entry
        // that the count shows stale (the session moved between instances) costs a third.
        let read_with_count = history_limit > 0 && !self.history.holds(&question.session_id);
        let (counted, budget, read) = tokio::join!(
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
                self.finish_unasked(&budget, 0, deadline).await;
                return Err(limited);
            }
        };
        let (history, stayed) = match read {
            Some(read) => (Some(History::read(read, &previous)), false),
            None => {
                let remembered = remembered(&previous);
                let stayed = remembered.is_some();
                (remembered, stayed)
            }
        };
        let (spent, grant) = match budget.for_model(&offline) {
            Ok(granted) => granted,
            Err(unasked) => {
                return Ok(Outcome {
                    history: history.and_then(History::known),
                    ..*unasked
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
        let asked = self
            .ask(&call, history.turns.clone(), released_at_once())
            .await;
        Ok(answered(
            &call, asked, grant, spent, history, stayed, &offline,
        ))
    }

    /// A model answer in a session that stayed here: the call starts on the cached turns as
    /// soon as the budget allows it, while `count` is in the store, and its text reaches the
    /// visitor once the count has let the request through and not shown the turns stale. When
    /// it shows them stale, the reply is discarded (its tokens still count) and the model asked
    /// again on the turns read from the store; when it refuses the request, the reply is
    /// discarded and the request refused.
    async fn answer_early(
        &self,
        call: &ModelCall<'_>,
        count: impl std::future::Future<Output = Result<Previous, ChatError>>,
        reservation: &TokenReservation,
        presumed: Presumed,
        offline: &impl Fn() -> Outcome,
    ) -> Result<Outcome, ChatError> {
        let (release, released) = watch::channel(None);
        let count = async {
            let counted = count.await;
            release.send_replace(Some(
                matches!(&counted, Ok(previous) if !presumed.refuted_by(previous)),
            ));
            counted
        };
        let answer = async {
            let budget = self
                .reserve(call.settings, reservation, call.deadline)
                .await;
            let asked = match budget {
                Budget::Reserved { .. } => {
                    Some(self.ask(call, presumed.turns.clone(), released).await)
                }
                _ => None,
            };
            (budget, asked)
        };
        let (counted, (budget, asked)) = tokio::join!(count, answer);
        let used = asked
            .as_ref()
            .map(|asked| asked.discarded(reservation.tokens))
            .unwrap_or_default();
        let previous = match counted {
            Ok(previous) => previous,
            Err(limited) => {
                // This instance let the request through: others counted the session's requests.
                self.history.moved(call.session_id);
                if used.tokens > 0 {
                    tracing::info!(
                        session_id = call.session_id,
                        tokens = used.tokens,
                        "the session's count refused a request whose model call had started"
                    );
                }
                self.finish_unasked(&budget, used.tokens, call.deadline)
                    .await;
                return Err(limited);
            }
        };
        let stayed = presumed.confirmed_by(&previous);
        let (history, asked, discarded) = if !presumed.refuted_by(&previous) {
            // Confirmed, or unconfirmed by a store that could not count: the best turns known
            // either way, but only confirmed ones are kept.
            let history = History {
                turns: presumed.turns,
                complete: stayed,
            };
            (history, asked, Discarded::default())
        } else {
            tracing::info!(
                session_id = call.session_id,
                tokens = used.tokens,
                "the session was answered elsewhere since its turns were cached; reading them"
            );
            let read = self
                .read_history(
                    call.settings.history_turns * 2,
                    call.session_id,
                    call.deadline,
                )
                .await;
            (History::read(read, &previous), None, used)
        };
        let (spent, grant) = match budget.for_model(offline) {
            Ok(granted) => granted,
            Err(unasked) => {
                return Ok(Outcome {
                    history: history.known(),
                    ..*unasked
                })
            }
        };
        let asked = match asked {
            Some(asked) => asked,
            None => {
                self.ask(call, history.turns.clone(), released_at_once())
                    .await
            }
        };
        let outcome = answered(call, asked, grant, spent, history, stayed, offline);
        Ok(Outcome {
            discarded: discarded.and(outcome.discarded),
            ..outcome
        })
    }

    /// Asks the model, with `history` before the question. Streamed text reaches the visitor
    /// once `release` holds yes; when it turns to no, the call is abandoned where it is.
    async fn ask(
        &self,
        call: &ModelCall<'_>,
        history: Vec<Turn>,
        release: watch::Receiver<Option<bool>>,
    ) -> Asked {
        let request = self.model_request(call.settings, call.system, history, call.message);
        let timeout = Duration::from_millis(call.settings.model_timeout_ms);
        let limit = timeout.min(call.deadline.for_answer());
        let least = MODEL_MIN_WINDOW.min(timeout);
        if limit < least {
            return Asked {
                request,
                reply: Err(format!(
                    "not called: {} ms were left for the model, under the {} ms it needs",
                    limit.as_millis(),
                    least.as_millis()
                )),
                shown: false,
                called: false,
                cost_unknown: false,
            };
        }
        let ended = {
            let asking = async {
                match call.events {
                    None => (
                        tokio::time::timeout(limit, call.model.converse(&request)).await,
                        false,
                    ),
                    Some(events) => {
                        let (deltas, received) = mpsc::channel(64);
                        let forward = async {
                            if released(release.clone()).await {
                                forward_deltas(received, events).await
                            } else {
                                false
                            }
                        };
                        tokio::join!(
                            tokio::time::timeout(
                                limit,
                                call.model.converse_stream(&request, deltas)
                            ),
                            forward,
                        )
                    }
                }
            };
            tokio::select! {
                biased;
                asked = asking => Some(asked),
                false = released(release.clone()) => None,
            }
        };
        let Some((result, shown)) = ended else {
            return Asked {
                request,
                reply: Err("abandoned: its reply could not be used".into()),
                shown: false,
                called: true,
                cost_unknown: true,
            };
        };
        let (reply, cost_unknown) = match result {
            Ok(Ok(reply)) => (Ok(reply), false),
            Ok(Err(e)) => (Err(e.to_string()), shown),
            Err(_) => (
                Err(format!("model timed out after {} ms", limit.as_millis())),
                true,
            ),
        };
        Asked {
            request,
            reply,
            shown,
            called: true,
            cost_unknown,
        }
    }

    /// Returns what was (or may have been) reserved for a call whose reply is not used.
    async fn finish_unasked(&self, budget: &Budget, used: u64, deadline: &Deadline) {
        if let Budget::Reserved { grant, .. } | Budget::Unknown(Some(grant)) = budget {
            self.finish(grant, used, deadline).await;
        }
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

    /// Draws the call's cost from the daily budget: from this instance's lease when it has
    /// room, else by a reservation in the store (a lease, when this instance holds them). Fails
    /// closed: a budget that cannot be reserved in time means an offline answer, not a risk.
    async fn reserve(
        &self,
        settings: &Settings,
        request: &TokenReservation,
        deadline: &Deadline,
    ) -> Budget {
        let draw = || locked(&self.leases).draw(&request.day, request.tokens, Instant::now());
        if let Some((grant, spent)) = draw() {
            return Budget::Reserved { spent, grant };
        }
        let budget = settings.daily_token_budget;
        let size = budget::reservation_size(self.deps.budget, request.tokens, budget);
        if size == request.tokens {
            // A reservation of its own, which no other request waits for.
            let retired = locked(&self.leases).retire();
            let reserved = tokio::join!(
                self.reserve_in_store(request, budget, true, deadline),
                self.settle_retired(retired, deadline)
            )
            .0;
            return self
                .granted(request.clone(), request.tokens, reserved, deadline)
                .await;
        }
        let Ok(_reserving) =
            tokio::time::timeout(deadline.for_answer(), self.reserving.lock()).await
        else {
            tracing::warn!(
                "token budget not reserved by the request's deadline; answering offline"
            );
            return Budget::Unknown(None);
        };
        // Another request may have taken a lease while this one waited.
        if let Some((grant, spent)) = draw() {
            return Budget::Reserved { spent, grant };
        }
        let retired = locked(&self.leases).retire();
        let lease = TokenReservation {
            request_id: format!("lease-{}", uuid::Uuid::now_v7().simple()),
            tokens: size,
            ..request.clone()
        };
        // Taken only where it leaves the budget no more overshot than one request may; near
        // the end of the day, the request reserves for itself.
        let room = budget.saturating_sub(size - request.tokens);
        let leased = tokio::join!(
            self.reserve_in_store(&lease, room, false, deadline),
            self.settle_retired(retired, deadline)
        )
        .0;
        match leased {
            Reserved::Spent => {
                let reserved = self.reserve_in_store(request, budget, true, deadline).await;
                self.granted(request.clone(), request.tokens, reserved, deadline)
                    .await
            }
            reserved => {
                self.granted(lease, request.tokens, reserved, deadline)
                    .await
            }
        }
    }

    /// `tokens` of `reservation` for the request, as the store answered for it.
    async fn granted(
        &self,
        reservation: TokenReservation,
        tokens: u64,
        reserved: Reserved,
        deadline: &Deadline,
    ) -> Budget {
        match reserved {
            Reserved::Yes { spent } => {
                let (grant, replaced) =
                    locked(&self.leases).taken(reservation, tokens, spent, Instant::now());
                self.settle_retired(replaced, deadline).await;
                Budget::Reserved { spent, grant }
            }
            Reserved::Spent => Budget::Spent,
            Reserved::Unknown => Budget::Unknown(Some(Grant {
                reservation,
                tokens,
            })),
        }
    }

    async fn settle_retired(&self, retired: Option<Settlement>, deadline: &Deadline) {
        if let Some(retired) = retired {
            self.settle(&retired, deadline).await;
        }
    }

    /// Asks the store for `reservation` while less than `budget` is spent. A budget spent only
    /// counting reservations their requests abandoned is asked once more after returning them
    /// (`return_abandoned`).
    async fn reserve_in_store(
        &self,
        reservation: &TokenReservation,
        budget: u64,
        return_abandoned: bool,
        deadline: &Deadline,
    ) -> Reserved {
        let mut returned_abandoned = !return_abandoned;
        loop {
            let reserve = self
                .deps
                .store
                .reserve_tokens(&self.deps.stage, reservation, budget);
            let state = match deadline.read(reserve).await {
                Ok(state) => state,
                Err(error) => {
                    tracing::warn!(error, "token budget not reserved; answering offline");
                    return Reserved::Unknown;
                }
            };
            if state.reserved {
                return Reserved::Yes { spent: state.spent };
            }
            let stale_before = (unix_ms() / 1000).saturating_sub(ABANDONED_AFTER_SECS);
            let abandoned: Vec<_> = state
                .held
                .into_iter()
                .filter(|held| held.at_s < stale_before)
                .take(ABANDONED_RETURNED_AT_ONCE)
                .collect();
            if abandoned.is_empty() || returned_abandoned {
                if return_abandoned {
                    tracing::info!("daily token budget spent; answering offline");
                }
                return Reserved::Spent;
            }
            tracing::warn!(
                count = abandoned.len(),
                "returning abandoned token reservations"
            );
            let returned: Vec<_> = abandoned
                .into_iter()
                .map(|reservation| Settlement {
                    reservation,
                    used: 0,
                })
                .collect();
            futures_util::future::join_all(returned.iter().map(|r| self.settle(r, deadline))).await;
            returned_abandoned = true;
        }
    }

    /// A request that drew `grant` used `used` tokens: settles its reservation when it was the
    /// last to hold it.
    async fn finish(&self, grant: &Grant, used: u64, deadline: &Deadline) {
        let settlement = locked(&self.leases).finish(grant, used);
        if let Some(settlement) = settlement {
            self.settle(&settlement, deadline).await;
        }
    }

    /// Returns the budget lease no request has drawn on for a while, so the store counts what
    /// was used rather than what this instance holds; eve-server calls it every
    /// [`budget::LEASE_IDLE`], and with `idle` zero once its requests have ended, at shutdown.
    pub async fn return_unused_budget(&self, idle: Duration) {
        let settlement = locked(&self.leases).release_idle(idle, Instant::now());
        if let Some(settlement) = settlement {
            let now = Instant::now();
            let deadline = Deadline::new(now, now + MAX_CHAT_TIME);
            self.settle(&settlement, &deadline).await;
        }
    }

    /// Replaces a reservation with what its calls used, by the deadline. One left held is
    /// returned once it counts as abandoned by a request the budget refuses.
    async fn settle(&self, settlement: &Settlement, deadline: &Deadline) {
        let Settlement { reservation, used } = settlement;
        let settle = self
            .deps
            .store
            .settle_tokens(&self.deps.stage, reservation, *used);
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
        system: &str,
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
            system: system.to_string(),
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
        let used = total_tokens(&outcome.usage) + outcome.discarded.tokens;
        let settle = async {
            if let Some(grant) = &outcome.grant {
                self.finish(grant, used, deadline).await;
            }
        };
        let (reply, stored) = match &outcome.early {
            Some(early) => {
                settle.await;
                (early.reply.clone(), early.stored)
            }
            None => {
                let reply = reply_turn(&question, outcome, latency_ms);
                let (stored, ()) =
                    tokio::join!(self.store_exchange(&question, &reply, deadline), settle);
                (reply, stored)
            }
        };
        let exchange = [question, reply];
        let [asked, _] = &exchange;
        self.history.record(
            &asked.session_id,
            &asked.request_id,
            history.filter(|_| stored == Some(true)),
            &exchange,
            settings.history_turns * 2,
            outcome.stayed,
        );
    }

    /// Stores the exchange by the request's deadline: whether it was stored, None when the
    /// deadline passed first (the turns are then logged).
    async fn store_exchange(
        &self,
        question: &Turn,
        reply: &Turn,
        deadline: &Deadline,
    ) -> Option<bool> {
        let stored = deadline
            .bound(self.append_with_retry(question, reply))
            .await;
        if stored.is_none() {
            for turn in [question, reply] {
                log_unstored(turn, "the request's deadline passed");
            }
        }
        stored
    }

    /// Marks the exchange stored early (or perhaps stored) for a request the count then
    /// refused as withdrawn: its reply was never shown. A failure is logged.
    async fn withdraw(&self, question: &Turn, early: &StoredEarly, deadline: &Deadline) {
        if early.stored == Some(false) {
            return;
        }
        let withdrawn = deadline
            .bound(self.deps.store.withdraw_exchange(question))
            .await;
        let error = match withdrawn {
            Some(Ok(())) => return,
            Some(Err(error)) => error.to_string(),
            None => "the request's deadline passed".to_string(),
        };
        tracing::error!(
            error,
            session_id = question.session_id,
            request_id = question.request_id,
            "a refused request's exchange may be stored and was not withdrawn"
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

    /// Readiness: every configured dependency answers, within the orchestrator's probe
    /// timeout (less room for the answer to travel); asked of them at most once per
    /// [`readiness::RECHECK_AFTER`].
    pub async fn ready(&self) -> Checks {
        let within = PROBE_TIMEOUT * 3 / 4;
        self.readiness
            .checks(|| async {
                let (store, settings) = tokio::join!(
                    readiness::within(within, "store", self.deps.store.ping()),
                    readiness::within(within, "settings", self.deps.settings.check())
                );
                vec![("store", store), ("settings", settings)]
            })
            .await
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

/// The reply turn stored for `question`: `outcome`'s reply, known `latency_ms` after the
/// request started.
fn reply_turn(question: &Turn, outcome: &Outcome, latency_ms: u64) -> Turn {
    Turn {
        at_ms: unix_ms().max(question.at_ms + 1),
        role: Role::Assistant,
        text: outcome.reply.clone(),
        source: outcome.source.as_str().to_string(),
        model_id: outcome.model_id.clone(),
        input_tokens: outcome.usage.input_tokens,
        output_tokens: outcome.usage.output_tokens,
        latency_ms,
        ..question.clone()
    }
}

/// One request's deadline, which every step spends from, and when the request started.
struct Deadline {
    started: Instant,
    at: tokio::time::Instant,
}

impl Deadline {
    fn new(started: Instant, at: Instant) -> Self {
        Self {
            started,
            at: tokio::time::Instant::from_std(at),
        }
    }

    /// Milliseconds since the request started.
    fn elapsed_ms(&self) -> u64 {
        elapsed_ms(self.started)
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
            grant: None,
            budget_used_percent: None,
            history: None,
            stayed: false,
            discarded: Discarded::default(),
            early: None,
        }
    }
}

/// A release given at once: the model's text goes to the visitor as it comes.
fn released_at_once() -> watch::Receiver<Option<bool>> {
    watch::channel(Some(true)).1
}

/// Whether `release` says yes, once it says anything (one left unsaid is a no).
async fn released(mut release: watch::Receiver<Option<bool>>) -> bool {
    match release.wait_for(Option::is_some).await {
        Ok(said) => *said == Some(true),
        Err(_) => false,
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
