//! The one internal request type ([`Job`]) every generating route and command is translated
//! into, and the one event stream ([`Generation`] / [`Update`]) they render back into their
//! wire format or terminal.
//!
//! A job names a model (or none, when only one is available), and either a chat (rendered by
//! the model's template plugin) or a raw prompt. [`Engine::start`] leases the model (loading
//! it when needed), renders the prompt, merges the template's stop strings into the request's
//! and submits it to the model's scheduler on a blocking thread. [`Generation::next`] then
//! yields updates; for chats the model output goes through the template's parser (one
//! instance per streamed answer, fed piece by piece; `parse` at the end otherwise) so
//! reasoning and tool calls come out separated from the visible content. The template's
//! prompt spans decide where control tokens may be parsed: message content is always
//! tokenized as plain text.

use std::ops::Range;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::Value;
use shimmy_core::backend::{
    FinishReason, GenerateEvent, GenerateRequest, GenerateSummary, SamplingOptions, TokenLogprob,
};
use shimmy_core::call_grammar::CallSyntax;
use shimmy_core::reasoning::{ReasoningRequest, ReasoningTags};
use shimmy_core::serving::GenerationSink;
use shimmy_core::template_choice::{ChoiceReason, TemplateChoice};
use shimmy_plugins::{ChatMessage, OutputParser, ToolCall, ToolDefinition};
use tokio::sync::mpsc::UnboundedReceiver;

use crate::chat_fit;
use crate::engine::Engine;
use crate::error::EngineError;
use crate::events::EngineEvent;
use crate::grammar::{
    build as build_grammar, forced_call_schema, parse_forced_calls, GrammarRequest, ToolChoice,
};
use crate::ids::new_id;
use crate::keep_alive::KeepAlive;
use crate::models::ModelLease;
use crate::sink::{ChannelSink, Message};
use crate::templates::{self, ToolPrompt};
use crate::thinking::Thinking;

/// What the model is asked.
#[derive(Debug, Clone, PartialEq)]
pub enum Input {
    /// A conversation, rendered by a template plugin.
    Chat {
        /// The messages (validated: known roles, at least one message).
        messages: Vec<ChatMessage>,
        /// Tools the model may call.
        tools: Vec<ToolDefinition>,
        /// A template plugin the request asks for instead of the model's.
        template: Option<String>,
        /// The thinking switch the request sets; `None`: the template's default.
        thinking: Option<Thinking>,
    },
    /// A prompt used as it is.
    Raw {
        /// The text.
        prompt: String,
    },
}

/// One generation request, whatever route it came from.
#[derive(Debug, Clone)]
pub struct Job {
    /// The model asked for; `None` when the request named none.
    pub model: Option<String>,
    /// The prompt.
    pub input: Input,
    /// Most tokens to generate; `None`: as many as the context leaves.
    pub max_tokens: Option<u32>,
    /// With `max_tokens` set: stop when the context is full instead of refusing a prompt plus
    /// `max_tokens` that does not fit (the CLI's `generate`).
    pub fit_context: bool,
    /// Whether BOS may go in front (a template may still leave it out); `false` never adds it.
    pub add_bos: bool,
    /// Extra stop strings (the template's are added).
    pub stop: Vec<String>,
    /// Sampling settings.
    pub sampling: SamplingOptions,
    /// Log-probabilities: `Some(n)` with `n` alternatives per token.
    pub logprobs: Option<u32>,
    /// A GBNF grammar constraining the output.
    pub grammar: Option<String>,
    /// A JSON schema the output must validate against (`response_format` `json_schema`,
    /// Ollama's `format` schema); turned into a grammar when the job starts.
    pub json_schema: Option<Value>,
    /// The request field `json_schema` came from, for error messages (`response_format`,
    /// `format`...).
    pub json_schema_param: &'static str,
    /// How the model may use the chat's tools.
    pub tool_choice: ToolChoice,
    /// `parallel_tool_calls` as sent. `Some(false)`: at most one call per answer. A forced
    /// `tool_choice` returns one call unless this is `Some(true)` (then up to
    /// [`crate::grammar::MAX_PARALLEL_CALLS`]).
    pub parallel_tool_calls: Option<bool>,
    /// A new keep-alive for the model (Ollama's `keep_alive`).
    pub keep_alive: Option<KeepAlive>,
    /// Token ids of an earlier prompt and answer that this prompt continues (Ollama's
    /// `context`, as [`Generation::context_tokens`] gives it).
    pub context: Vec<u32>,
    /// Fit a prompt that does not fit the context instead of refusing it (Ollama's
    /// `truncate`): a chat loses whole old messages first ([`crate::chat_fit`]), then the
    /// scheduler cuts tokens.
    pub truncate: bool,
    /// Shift a full context while generating instead of stopping there (Ollama's `shift`).
    pub shift: bool,
    /// Tokens at the start of the prompt that `truncate` and `shift` keep (Ollama's
    /// `num_keep`).
    pub keep_tokens: u32,
    /// Most tokens the answer's reasoning block may take (Anthropic's
    /// `thinking.budget_tokens`); then its closing tag is forced and the answer follows.
    /// `None`: no limit. Not applied with a grammar (forced calls, JSON output).
    pub reasoning_budget: Option<u32>,
}

/// Tokens at the start of a prompt that truncation and context shifts keep unless the request
/// says (Ollama's default `num_keep`).
pub const DEFAULT_KEEP_TOKENS: u32 = 4;

impl Job {
    /// A job with default settings for `input`.
    pub fn new(model: Option<String>, input: Input) -> Self {
        Job {
            model,
            input,
            max_tokens: None,
            fit_context: false,
            add_bos: true,
            stop: Vec::new(),
            sampling: SamplingOptions::default(),
            logprobs: None,
            grammar: None,
            json_schema: None,
            json_schema_param: "response_format",
            tool_choice: ToolChoice::Auto,
            parallel_tool_calls: None,
            keep_alive: None,
            context: Vec::new(),
            truncate: false,
            shift: false,
            keep_tokens: DEFAULT_KEEP_TOKENS,
            reasoning_budget: None,
        }
    }
}

/// The exact prompt a job produces.
#[derive(Debug, Clone, PartialEq)]
pub struct PreparedPrompt {
    /// The prompt text.
    pub prompt: String,
    /// Stop strings of the template (before the request's are added).
    pub stop: Vec<String>,
    /// Whether BOS goes in front.
    pub add_bos: bool,
    /// Byte ranges of `prompt` that are request content (tokenized as plain text).
    pub content_spans: Vec<Range<usize>>,
    /// The template used (chats only).
    pub template: Option<TemplateChoice>,
    /// How the chat's tools reached the prompt.
    pub tool_prompt: ToolPrompt,
}

impl Engine {
    /// Renders `input` for the leased model.
    pub async fn prepare_prompt(
        &self,
        lease: &ModelLease,
        input: &Input,
    ) -> Result<PreparedPrompt, EngineError> {
        prepare_prompt(self, lease, input).await
    }

    /// The tokens of a prepared prompt, as its generation would feed them (control tokens
    /// only outside request content), counted on a blocking thread that stops between pieces
    /// of the prompt once this future is dropped (the client went away).
    pub async fn prompt_tokens(
        &self,
        lease: &ModelLease,
        prompt: &PreparedPrompt,
    ) -> Result<Vec<u32>, EngineError> {
        /// Tells the blocking thread when the future that waits for it is gone.
        struct Gone(Arc<AtomicBool>);
        impl Drop for Gone {
            fn drop(&mut self) {
                self.0.store(true, Ordering::Relaxed);
            }
        }
        let gone = Gone(Arc::new(AtomicBool::new(false)));
        let flag = gone.0.clone();
        let model = lease.model.clone();
        let (text, spans, add_bos) = (
            prompt.prompt.clone(),
            prompt.content_spans.clone(),
            prompt.add_bos,
        );
        let tokens = tokio::task::spawn_blocking(move || {
            model.tokenize_prompt_until(&text, &spans, add_bos, true, &|| {
                flag.load(Ordering::Relaxed)
            })
        })
        .await??;
        drop(gone);
        Ok(tokens)
    }

    /// Leases the model, renders the prompt and submits the job. `streaming` decides whether
    /// [`Update::Delta`]s are produced (a non-streaming caller only needs the [`Done`]).
    pub async fn start(
        self: &Arc<Self>,
        job: Job,
        streaming: bool,
    ) -> Result<Generation, EngineError> {
        start(self, job, streaming).await
    }
}

async fn prepare_prompt(
    engine: &Engine,
    lease: &ModelLease,
    input: &Input,
) -> Result<PreparedPrompt, EngineError> {
    match input {
        Input::Raw { prompt } => Ok(PreparedPrompt {
            prompt: prompt.clone(),
            stop: Vec::new(),
            add_bos: true,
            content_spans: Vec::new(),
            template: None,
            tool_prompt: ToolPrompt::None,
        }),
        Input::Chat {
            messages,
            tools,
            template,
            thinking,
        } => {
            let limits = engine.config().request_limits;
            limits.check_chat(messages, tools)?;
            let choice = match template {
                Some(name) => {
                    if !engine.templates().exists(name) {
                        return Err(EngineError::invalid(
                            "template",
                            format!(
                                "no template plugin \"{name}\"; loaded templates: {}",
                                engine.templates().names().join(", ")
                            ),
                        ));
                    }
                    TemplateChoice {
                        name: name.clone(),
                        reason: ChoiceReason::Request,
                    }
                }
                None => lease.template.clone(),
            };
            let settings = thinking.map(Thinking::settings).unwrap_or_default();
            let (rendered, tool_prompt) = templates::render_chat(
                engine.plugins(),
                &choice.name,
                templates::model_context(lease.model.info()),
                messages,
                tools,
                settings,
            )
            .await?;
            if !matches!(tool_prompt, ToolPrompt::None | ToolPrompt::Template) {
                tracing::debug!(
                    "template {} for {}: {}",
                    choice.name,
                    lease.name,
                    tool_prompt.describe()
                );
            }
            let (prompt, content_spans) = shimmy_core::prompt::join(&rendered.spans);
            limits.check_prompt("messages", "the rendered prompt", &prompt)?;
            Ok(PreparedPrompt {
                prompt,
                stop: rendered.stop,
                add_bos: rendered.add_bos,
                content_spans,
                template: Some(choice),
                tool_prompt,
            })
        }
    }
}

/// The prompt of `input`, after Ollama's chat truncation ([`crate::chat_fit`]): when it
/// does not leave room for a generated token in a context of `n_ctx` (after `prefix_tokens`
/// of an earlier context), the oldest messages are dropped.
async fn fit_chat(
    engine: &Engine,
    lease: &ModelLease,
    input: &Input,
    n_ctx: usize,
    prefix_tokens: usize,
) -> Result<PreparedPrompt, EngineError> {
    let full = prepare_prompt(engine, lease, input).await?;
    let Input::Chat {
        messages,
        tools,
        template,
        thinking,
    } = input
    else {
        return Ok(full);
    };
    let with = |messages: Vec<ChatMessage>| Input::Chat {
        messages,
        tools: tools.clone(),
        template: template.clone(),
        thinking: *thinking,
    };
    let fits = |prompt: &PreparedPrompt| {
        let prompt = prompt.clone();
        async move {
            let tokens = engine.prompt_tokens(lease, &prompt).await?;
            Ok::<_, EngineError>(tokens.len() + prefix_tokens < n_ctx)
        }
    };
    // Nothing to drop (only system messages before the last, as in a plain
    // `/api/generate`); or a short prompt, which fits uncounted: each token holds a byte at
    // least, besides BOS, EOS and a space prefix per tokenized piece (two per content span
    // and one more); or it fits.
    let last = messages.len().saturating_sub(1);
    let most_tokens = full.prompt.len() + 2 * full.content_spans.len() + 3;
    if messages[..last].iter().all(|m| m.role == "system")
        || most_tokens + prefix_tokens < n_ctx
        || fits(&full).await?
    {
        return Ok(full);
    }
    let fits = &fits;
    let start = chat_fit::fewest_dropped(messages, |kept| {
        let candidate = with(kept);
        async move {
            let prompt = prepare_prompt(engine, lease, &candidate).await?;
            fits(&prompt).await
        }
    })
    .await?;
    let dropped = messages[..start]
        .iter()
        .filter(|m| m.role != "system")
        .count();
    tracing::debug!(
        "chat for {}: {dropped} of {} messages dropped to fit a context of {n_ctx} tokens",
        lease.name,
        messages.len()
    );
    prepare_prompt(engine, lease, &with(chat_fit::kept(messages, start))).await
}

/// A piece of the answer.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Delta {
    /// Visible text.
    pub content: String,
    /// Reasoning text.
    pub reasoning: String,
    /// Log-probabilities of the tokens that arrived since the last delta.
    pub logprobs: Vec<TokenLogprob>,
}

impl Delta {
    /// Whether there is nothing in it.
    pub fn is_empty(&self) -> bool {
        self.content.is_empty() && self.reasoning.is_empty() && self.logprobs.is_empty()
    }
}

/// The end of a generation.
#[derive(Debug, Clone)]
pub struct Done {
    /// Counts, timings and the finish reason.
    pub summary: GenerateSummary,
    /// The whole visible answer (after the template's parse for chats).
    pub content: String,
    /// The whole reasoning, if any.
    pub reasoning: Option<String>,
    /// Tool calls found in the output.
    pub tool_calls: Vec<ToolCall>,
    /// Every token's log-probability (when asked for).
    pub logprobs: Vec<TokenLogprob>,
    /// When streaming: what was not streamed yet (send it before the final chunk).
    pub rest: Delta,
}

impl Done {
    /// Why the generation ended, as OpenAI and the plugin contract write it: `tool_calls`
    /// when the model called tools (and was not cut short: then `length`, as the last call
    /// may be the one the cut left unfinished), else `length` or `stop`.
    pub fn finish_reason(&self) -> &'static str {
        if !self.tool_calls.is_empty() && self.summary.finish_reason != FinishReason::Length {
            return "tool_calls";
        }
        self.stop_reason()
    }

    /// `length` or `stop` (a cancelled generation counts as stopped), tool calls or not.
    pub fn stop_reason(&self) -> &'static str {
        match self.summary.finish_reason {
            FinishReason::Length => "length",
            FinishReason::Stop | FinishReason::Cancelled => "stop",
        }
    }
}

/// What a generation yields.
#[derive(Debug, Clone)]
pub enum Update {
    /// The prompt has been evaluated.
    Prompt {
        /// Tokens in the prompt.
        prompt_tokens: usize,
        /// Of those, reused from the prompt cache.
        cached_tokens: usize,
    },
    /// New text (only when streaming).
    Delta(Delta),
    /// The end; nothing follows.
    Done(Box<Done>),
}

/// A submitted generation: the model lease and the scheduler's messages.
pub struct Generation {
    /// The model's name.
    pub model: String,
    /// Time spent waiting for the model to load.
    pub load_duration: Duration,
    /// When the request started.
    pub started: Instant,
    /// The prompt as rendered.
    pub prompt: PreparedPrompt,
    engine: Arc<Engine>,
    lease: ModelLease,
    rx: UnboundedReceiver<Message>,
    streaming: bool,
    /// The template's parser of this answer, when a chat streams (and no call is forced).
    parser: Option<OutputParser>,
    tools: Vec<ToolDefinition>,
    /// The forced call is `{"name", "arguments"}` JSON (read here, not by the template).
    forced_json: bool,
    parallel_tool_calls: Option<bool>,
    /// The job's `context` tokens (in front of the prompt's).
    context_prefix: Vec<u32>,
    /// Whether the prompt got BOS.
    add_bos: bool,
    /// The opening reasoning tag the prompt ended with: the output starts inside the block,
    /// so the template's parser is given the tag in front of it.
    opened_reasoning: String,
    raw: String,
    sent_content: String,
    sent_reasoning: String,
    pending_logprobs: Vec<TokenLogprob>,
    all_logprobs: Vec<TokenLogprob>,
    last_text_at: Option<Instant>,
    done: bool,
}

/// The family syntax of forced calls for the chat's template (`None`: plain JSON): the
/// `jinja` plugin's `tool-call-format` setting, else its model's chat template.
fn call_syntax(engine: &Engine, lease: &ModelLease, prompt: &PreparedPrompt) -> Option<CallSyntax> {
    let plugin = prompt.template.as_ref()?.name.as_str();
    if prompt.tool_prompt == ToolPrompt::HermesFallback {
        return Some(CallSyntax::Hermes);
    }
    let chat_template = lease.model.info().chat_template.as_deref();
    let setting = engine
        .plugins()
        .runtime()
        .config()
        .settings
        .for_plugin(plugin)
        .and_then(|s| s.get("tool-call-format"));
    if plugin == "jinja" {
        if let Some(configured) =
            setting.and_then(|f| CallSyntax::for_format_name(f, chat_template))
        {
            return configured;
        }
    }
    CallSyntax::for_template(plugin, chat_template)
}

async fn start(engine: &Arc<Engine>, job: Job, streaming: bool) -> Result<Generation, EngineError> {
    let started = Instant::now();
    // The cheap checks first: before a model is loaded for a request that cannot run.
    let limits = engine.config().request_limits;
    limits.check_stop(&job.stop)?;
    match &job.input {
        Input::Chat {
            messages, tools, ..
        } => limits.check_chat(messages, tools)?,
        Input::Raw { prompt } => limits.check_prompt("prompt", "the prompt", prompt)?,
    }
    let (lease, load_duration) = engine
        .models()
        .lease(job.model.as_deref(), job.keep_alive)
        .await?;
    let name = lease.name.clone();
    crate::embedding::check_generates(&name, lease.model.as_ref())?;
    let mut input = job.input;
    if job.tool_choice == ToolChoice::None {
        // The model is not told about tools it may not call.
        if let Input::Chat { tools, .. } = &mut input {
            tools.clear();
        }
    }
    let tools = match &input {
        Input::Chat { tools, .. } => tools.clone(),
        Input::Raw { .. } => Vec::new(),
    };
    let parallel = job.parallel_tool_calls == Some(true);
    let forced = forced_call_schema(&tools, &job.tool_choice, parallel)?;
    let forced_calls = forced.is_some();
    let ctx = lease.scheduler.stats().ctx_per_sequence.max(1);
    let prompt = if job.truncate {
        fit_chat(engine, &lease, &input, ctx as usize, job.context.len()).await?
    } else {
        prepare_prompt(engine, &lease, &input).await?
    };
    // Output a grammar constrains (forced calls, JSON) starts where the grammar says, not
    // inside a reasoning block the prompt opened.
    let constrained = forced_calls || job.json_schema.is_some() || job.grammar.is_some();
    let opened = prompt
        .template
        .as_ref()
        .filter(|_| !constrained)
        .and_then(|_| ReasoningTags::opened_by(&prompt.prompt));
    // A forced call is written in the family's own syntax when the template's is known (the
    // template then parses it), else as `{"name", "arguments"}` JSON read here.
    let syntax = call_syntax(engine, &lease, &prompt);
    let grammar = GrammarRequest {
        forced,
        syntax,
        tools: tools.clone(),
        tool_choice: job.tool_choice.clone(),
        parallel,
        json_schema: job.json_schema,
        json_schema_param: job.json_schema_param,
        grammar: job.grammar,
    };
    let mut stop = prompt.stop.clone();
    for s in job.stop {
        if !s.is_empty() && !stop.contains(&s) {
            stop.push(s);
        }
    }
    let reasoning = prompt.template.as_ref().map(|_| ReasoningRequest {
        tags: opened.clone().unwrap_or_else(ReasoningTags::think),
        open_at_start: opened.is_some(),
        budget: job.reasoning_budget,
    });
    let mut request = GenerateRequest {
        prompt: prompt.prompt.clone(),
        add_bos: prompt.add_bos && job.add_bos,
        parse_special: true,
        content_spans: prompt.content_spans.clone(),
        max_tokens: job.max_tokens.unwrap_or(ctx),
        stop,
        sampling: job.sampling,
        fit_context: job.fit_context || job.max_tokens.is_none(),
        logprobs: job.logprobs,
        grammar: None,
        prefix_tokens: job.context.clone(),
        truncate: job.truncate,
        shift: job.shift,
        keep_tokens: job.keep_tokens,
        reasoning,
    };
    let add_bos = request.add_bos;
    let events = engine.events().clone();
    let model_name = name.clone();
    let (sink, rx) = ChannelSink::with_observer(Box::new(move |summary| {
        events.emit(EngineEvent::Finished {
            model: &model_name,
            summary,
        })
    }));
    let opened_reasoning = opened.map(|t| t.open).unwrap_or_default();
    let parser = match &prompt.template {
        Some(t) if streaming && !forced_calls => {
            // A reasoning tag the prompt opened goes in front of the output; otherwise the
            // parser reads the prompt's end itself (Apriel opens reasoning in plain words).
            let mut parser = if opened_reasoning.is_empty() {
                engine
                    .plugins()
                    .output_parser_after(&t.name, &tools, &prompt.prompt)
                    .await?
            } else {
                engine.plugins().output_parser(&t.name, &tools).await?
            };
            if !opened_reasoning.is_empty() {
                // The tag alone shows nothing yet.
                parser.push(&opened_reasoning).await?;
            }
            Some(parser)
        }
        _ => None,
    };
    // The expensive preparation runs on a blocking thread, never on the async executor nor
    // on the model's scheduler thread: the grammar (schema checks, llama.cpp's converter,
    // breadth), then the scheduler's submit (tokenizing, the sampler). Each step asks the
    // sink whether the client is still there: when this future is dropped (the client went
    // away) or gives up (`prepare_timeout`), `rx` goes with it and the work stops at its
    // next step.
    let backend = engine.backend().clone();
    let scheduler = lease.scheduler.clone();
    let prepare = tokio::task::spawn_blocking(move || -> Result<(), EngineError> {
        request.grammar = build_grammar(&*backend, &limits, &grammar, &|| sink.is_cancelled())?;
        scheduler.submit(request, Box::new(sink))?;
        Ok(())
    });
    match tokio::time::timeout(limits.prepare_timeout, prepare).await {
        Ok(prepared) => prepared??,
        Err(_) => {
            return Err(EngineError::invalid(
                "",
                format!(
                    "preparing this request (its grammar, its prompt's tokens) took longer than \
                     {} s; send a smaller request",
                    limits.prepare_timeout.as_secs_f64()
                ),
            ))
        }
    }
    Ok(Generation {
        model: name,
        load_duration,
        started,
        prompt,
        engine: engine.clone(),
        lease,
        rx,
        streaming,
        parser,
        tools,
        forced_json: forced_calls && syntax.is_none(),
        parallel_tool_calls: job.parallel_tool_calls,
        context_prefix: job.context,
        add_bos,
        opened_reasoning,
        raw: String::new(),
        sent_content: String::new(),
        sent_reasoning: String::new(),
        pending_logprobs: Vec::new(),
        all_logprobs: Vec::new(),
        last_text_at: None,
        done: false,
    })
}

impl Generation {
    /// The tokens of the prompt (after the job's `context`) and of the output so far: what a
    /// later job's `context` continues from (Ollama's `context`).
    pub fn context_tokens(&self) -> Result<Vec<u32>, EngineError> {
        let model = &self.lease.model;
        let mut ids = self.context_prefix.clone();
        ids.extend(model.tokenize_prompt(
            &self.prompt.prompt,
            &self.prompt.content_spans,
            self.add_bos && self.context_prefix.is_empty(),
            true,
        )?);
        ids.extend(model.tokenize(&self.raw, false, true)?);
        Ok(ids)
    }

    /// The template used, for chats.
    pub fn template(&self) -> Option<&str> {
        self.prompt.template.as_ref().map(|t| t.name.as_str())
    }

    /// Runs the generation to its end (non-streaming requests).
    pub async fn collect(&mut self) -> Result<Done, EngineError> {
        while let Some(update) = self.next().await {
            if let Update::Done(done) = update? {
                return Ok(*done);
            }
        }
        Err(EngineError::Internal(
            "the generation ended without a result".into(),
        ))
    }

    /// The next update; `None` after [`Update::Done`] or an error.
    pub async fn next(&mut self) -> Option<Result<Update, EngineError>> {
        if self.done {
            return None;
        }
        loop {
            let Some(message) = self.rx.recv().await else {
                self.done = true;
                return Some(Err(EngineError::Internal(
                    "the scheduler dropped the request without finishing it".into(),
                )));
            };
            match message {
                Message::Event(GenerateEvent::PromptDone {
                    prompt_tokens,
                    cached_tokens,
                }) => {
                    return Some(Ok(Update::Prompt {
                        prompt_tokens,
                        cached_tokens,
                    }))
                }
                Message::Event(GenerateEvent::Token(token)) => {
                    self.all_logprobs.push(token.clone());
                    if self.streaming {
                        self.pending_logprobs.push(token);
                    }
                }
                Message::Event(GenerateEvent::Text(text)) => {
                    self.observe_text();
                    self.raw.push_str(&text);
                    if !self.streaming {
                        continue;
                    }
                    match self.stream_delta(&text).await {
                        Ok(Some(delta)) => return Some(Ok(Update::Delta(delta))),
                        Ok(None) => {}
                        Err(e) => {
                            self.done = true;
                            return Some(Err(e));
                        }
                    }
                }
                Message::Finish(Err(e)) => {
                    self.done = true;
                    return Some(Err(EngineError::Core(e)));
                }
                Message::Finish(Ok(summary)) => {
                    self.done = true;
                    return Some(self.finish(summary).await);
                }
            }
        }
    }

    fn observe_text(&mut self) {
        let now = Instant::now();
        let model = &self.model;
        self.engine.events().emit(match self.last_text_at {
            None => EngineEvent::FirstText {
                model,
                after: now.duration_since(self.started),
            },
            Some(last) => EngineEvent::TextGap {
                model,
                gap: now - last,
            },
        });
        self.last_text_at = Some(now);
    }

    /// The streamable part of a new piece of output. Raw prompts stream the text as it comes;
    /// chats stream what the template's parser makes visible (reasoning apart; nothing once
    /// tool-call markup starts, so no call markup leaks out; nothing with a forced call).
    async fn stream_delta(&mut self, text: &str) -> Result<Option<Delta>, EngineError> {
        let chat = self.prompt.template.is_some();
        let (content, reasoning) = match (&mut self.parser, chat) {
            (_, false) => (text.to_string(), String::new()),
            (None, true) => return Ok(None),
            (Some(parser), true) => {
                let d = parser.push(text).await?;
                (d.content, d.reasoning)
            }
        };
        let delta = Delta {
            content,
            reasoning,
            logprobs: std::mem::take(&mut self.pending_logprobs),
        };
        self.sent_content.push_str(&delta.content);
        self.sent_reasoning.push_str(&delta.reasoning);
        Ok((!delta.is_empty()).then_some(delta))
    }

    /// The output as the template's parser reads it: after the reasoning tag the prompt
    /// opened, if any.
    fn parsed_text(&self) -> String {
        format!("{}{}", self.opened_reasoning, self.raw)
    }

    /// The answer's visible text as the template's stream parser sees it: what came before
    /// tool-call markup started, without a partial marker at the end.
    async fn visible_before_markup(&mut self, template: &str) -> Result<String, EngineError> {
        if self.parser.is_some() {
            return Ok(self.sent_content.clone());
        }
        let mut parser = self
            .engine
            .plugins()
            .output_parser(template, &self.tools)
            .await?;
        Ok(parser.push(&self.parsed_text()).await?.content)
    }

    async fn finish(&mut self, summary: GenerateSummary) -> Result<Update, EngineError> {
        let cut = summary.finish_reason == FinishReason::Length;
        let (content, reasoning, mut tool_calls) = match self.template().map(str::to_string) {
            None => (self.raw.clone(), None, Vec::new()),
            Some(_) if self.forced_json => match parse_forced_calls(&self.raw) {
                Some(calls) => (
                    String::new(),
                    None,
                    calls
                        .into_iter()
                        .map(|(name, arguments)| ToolCall {
                            id: String::new(),
                            name,
                            arguments,
                        })
                        .collect(),
                ),
                // Cut short (max_tokens) inside the call: no half call goes out as text.
                None if cut => (String::new(), None, Vec::new()),
                None => (self.raw.clone(), None, Vec::new()),
            },
            Some(template) => {
                let parsed = match &mut self.parser {
                    Some(parser) => parser.finish().await?,
                    None => {
                        let text = self.parsed_text();
                        templates::parse(self.engine.plugins(), &template, &text, &self.tools)
                            .await?
                    }
                };
                let content = if cut && !self.tools.is_empty() {
                    // Cut short: only the text before any tool-call markup (or a partial
                    // marker) is content, never the markup the cut left unfinished.
                    self.visible_before_markup(&template).await?
                } else {
                    parsed.content
                };
                (content, parsed.reasoning, parsed.tool_calls)
            }
        };
        if self.parallel_tool_calls == Some(false) {
            tool_calls.truncate(1);
        }
        for call in &mut tool_calls {
            // Templates number calls per answer; clients match results by id across a chat.
            call.id = new_id("call_");
        }
        let mut done = Done {
            summary,
            content,
            reasoning,
            tool_calls,
            logprobs: std::mem::take(&mut self.all_logprobs),
            rest: Delta::default(),
        };
        if self.streaming {
            // What the stream has not sent yet goes out with the end.
            if !done.content.starts_with(&self.sent_content) {
                tracing::warn!(
                    "the template's final parse disagrees with text already streamed; the client saw {:?}",
                    self.sent_content
                );
            }
            done.rest = Delta {
                content: unsent(&self.sent_content, &done.content),
                reasoning: unsent(
                    &self.sent_reasoning,
                    done.reasoning.as_deref().unwrap_or_default(),
                ),
                logprobs: std::mem::take(&mut self.pending_logprobs),
            };
            self.sent_content.push_str(&done.rest.content);
            self.sent_reasoning.push_str(&done.rest.reasoning);
        }
        Ok(Update::Done(Box::new(done)))
    }
}

/// The part of `now` not sent yet, when `now` extends `sent` (else nothing).
fn unsent(sent: &str, now: &str) -> String {
    now.strip_prefix(sent).unwrap_or_default().to_string()
}
