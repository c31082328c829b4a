//! Embedding jobs: the one request type the embedding routes (`/v1/embeddings`,
//! `/api/embed`, `/api/embeddings`) are translated into ([`EmbedJob`]), and what they render
//! back ([`Embedded`]).
//!
//! [`Engine::embed`] leases the model (loading it when needed), starts its embedder on first
//! use, tokenizes the texts (special tokens as the model wants them: BOS, or `[CLS]` ... `[SEP]`;
//! text is never parsed as control tokens), truncates or refuses inputs longer than the
//! embedder's context, and waits for one unit vector per input. A job without inputs only
//! loads the model (Ollama's way to preload an embedding model).

use std::sync::Arc;
use std::time::{Duration, Instant};

use shimmy_core::backend::embedding::{EmbedRequest, Embedder, EmbeddingSink};
use shimmy_core::backend::LoadedModel;
use tokio::sync::oneshot;

use crate::engine::Engine;
use crate::error::EngineError;
use crate::keep_alive::KeepAlive;

/// Most inputs one request may carry (OpenAI's limit for `/v1/embeddings`).
pub const MAX_INPUTS: usize = 2048;

/// One input to embed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EmbedInput {
    /// Text, tokenized with the model's special tokens.
    Text(String),
    /// Token ids, used as they are.
    Tokens(Vec<u32>),
}

/// One embedding request, whatever route it came from.
#[derive(Debug, Clone)]
pub struct EmbedJob {
    /// The model asked for; `None` when the request named none.
    pub model: Option<String>,
    /// The inputs, one vector each; none only loads the model.
    pub inputs: Vec<EmbedInput>,
    /// Cut inputs longer than the model's context to fit (keeping the special tokens at
    /// the end) instead of refusing them.
    pub truncate: bool,
    /// Whether the route lets the client ask for truncation (named in the refusal).
    pub truncate_allowed: bool,
    /// Values per vector the client asked for; only the model's own width is possible.
    pub dimensions: Option<u32>,
    /// A new keep-alive for the model (Ollama's `keep_alive`).
    pub keep_alive: Option<KeepAlive>,
    /// The request field the inputs came from, for error messages (`input`, `prompt`).
    pub param: &'static str,
}

impl EmbedJob {
    /// A job for `inputs` with defaults: no truncation, the model's width.
    pub fn new(model: Option<String>, inputs: Vec<EmbedInput>) -> Self {
        EmbedJob {
            model,
            inputs,
            truncate: false,
            truncate_allowed: false,
            dimensions: None,
            keep_alive: None,
            param: "input",
        }
    }
}

/// The vectors of an [`EmbedJob`].
#[derive(Debug, Clone, PartialEq)]
pub struct Embedded {
    /// The catalog name of the model.
    pub model: String,
    /// One unit vector per input, in input order.
    pub vectors: Vec<Vec<f32>>,
    /// Tokens evaluated, all inputs together (after truncation).
    pub prompt_tokens: usize,
    /// How many inputs were truncated.
    pub truncated: usize,
    /// Time spent loading the model for this request.
    pub load_duration: Duration,
    /// Time from the start of the job to its vectors.
    pub total_duration: Duration,
}

impl Engine {
    /// Runs an embedding job: leases (and loads) the model, tokenizes and checks the inputs,
    /// and returns their vectors.
    pub async fn embed(&self, job: EmbedJob) -> Result<Embedded, EngineError> {
        let started = Instant::now();
        let param = job.param;
        if job.inputs.len() > MAX_INPUTS {
            return Err(EngineError::invalid(
                param,
                format!(
                    "`{param}` has {} items; at most {MAX_INPUTS} can be embedded in one request, \
                     send the rest in another",
                    job.inputs.len()
                ),
            ));
        }
        let (lease, load_duration) = self
            .models()
            .lease(job.model.as_deref(), job.keep_alive)
            .await?;
        let name = lease.name.clone();
        let mut done = Embedded {
            model: name.clone(),
            vectors: Vec::new(),
            prompt_tokens: 0,
            truncated: 0,
            load_duration,
            total_duration: Duration::ZERO,
        };
        if job.inputs.is_empty() {
            done.total_duration = started.elapsed();
            return Ok(done);
        }
        if lease.model.info().purpose.pooling.is_none() {
            return Err(EngineError::unsupported(
                "model",
                format!(
                    "\"{name}\" is a reranking model: it scores pairs of texts and gives no \
                     embeddings"
                ),
            ));
        }
        let embedder = lease.embedder(self.config().max_queue).await?;
        let info = embedder.info();
        if let Some(d) = job.dimensions {
            if d as usize != info.dimensions {
                return Err(EngineError::unsupported(
                    "dimensions",
                    format!(
                        "\"{name}\" gives {}-dimensional embeddings and cannot shorten them to \
                         {d}; leave `dimensions` out or set it to {}",
                        info.dimensions, info.dimensions
                    ),
                ));
            }
        }
        let model = lease.model.clone();
        let check = Inputs {
            name: name.clone(),
            max_tokens: info.max_tokens,
            truncate: job.truncate,
            truncate_allowed: job.truncate_allowed,
            param,
        };
        let inputs = job.inputs;
        let (request, truncated) =
            tokio::task::spawn_blocking(move || check.tokenize(model.as_ref(), inputs)).await??;
        done.prompt_tokens = request.total_tokens();
        done.truncated = truncated;
        done.vectors = run(embedder, request).await?;
        done.total_duration = started.elapsed();
        tracing::debug!(
            model = %name,
            inputs = done.vectors.len(),
            tokens = done.prompt_tokens,
            truncated,
            seconds = done.total_duration.as_secs_f64(),
            "embedded"
        );
        Ok(done)
    }
}

/// Refuses to generate with a model that does not generate text (a dedicated embedding
/// model, see [`shimmy_core::backend::embedding::ModelPurpose`]).
pub(crate) fn check_generates(name: &str, model: &dyn LoadedModel) -> Result<(), EngineError> {
    if model.info().purpose.generates {
        return Ok(());
    }
    Err(EngineError::unsupported(
        "model",
        format!(
            "\"{name}\" is an embedding model and does not generate text; ask it for \
             embeddings (POST /v1/embeddings or /api/embed), or choose a model that generates"
        ),
    ))
}

/// Submits `request` and waits for its vectors (a dropped future cancels it).
async fn run(
    embedder: Arc<dyn Embedder>,
    request: EmbedRequest,
) -> Result<Vec<Vec<f32>>, EngineError> {
    let (tx, rx) = oneshot::channel();
    embedder.submit(request, Box::new(OneshotSink(Some(tx))))?;
    match rx.await {
        Ok(outcome) => Ok(outcome?),
        Err(_) => Err(EngineError::Internal(
            "the embedder ended without an answer".into(),
        )),
    }
}

/// An [`EmbeddingSink`] that answers into a oneshot channel; cancelled when the receiver
/// (the request) is gone.
struct OneshotSink(Option<oneshot::Sender<shimmy_core::Result<Vec<Vec<f32>>>>>);

impl EmbeddingSink for OneshotSink {
    fn is_cancelled(&self) -> bool {
        self.0.as_ref().is_none_or(|tx| tx.is_closed())
    }

    fn finish(&mut self, outcome: shimmy_core::Result<Vec<Vec<f32>>>) {
        if let Some(tx) = self.0.take() {
            let _ = tx.send(outcome);
        }
    }
}

/// How a job's inputs become token sequences.
struct Inputs {
    name: String,
    max_tokens: usize,
    truncate: bool,
    truncate_allowed: bool,
    param: &'static str,
}

impl Inputs {
    /// Tokenizes, checks and (when allowed) truncates every input; also returns how many
    /// were truncated.
    fn tokenize(
        &self,
        model: &dyn LoadedModel,
        inputs: Vec<EmbedInput>,
    ) -> Result<(EmbedRequest, usize), EngineError> {
        let n_vocab = model.info().n_vocab;
        let mut request = EmbedRequest::default();
        let mut truncated = 0;
        let single = inputs.len() == 1;
        for (i, input) in inputs.into_iter().enumerate() {
            let at = if single {
                self.param.to_string()
            } else {
                format!("{}[{i}]", self.param)
            };
            let tokens = match input {
                EmbedInput::Text(text) => {
                    if text.is_empty() {
                        return Err(EngineError::invalid(
                            at.clone(),
                            format!("`{at}` is an empty string; give some text to embed"),
                        ));
                    }
                    let tokens = model.tokenize(&text, true, false)?;
                    if tokens.len() > self.max_tokens && self.truncate {
                        truncated += 1;
                        self.cut_text(model, &text, tokens, &at)?
                    } else {
                        tokens
                    }
                }
                EmbedInput::Tokens(tokens) => {
                    if tokens.is_empty() {
                        return Err(EngineError::invalid(
                            at.clone(),
                            format!("`{at}` is an empty list of tokens; give some to embed"),
                        ));
                    }
                    if let Some(t) = tokens.iter().find(|&&t| t >= n_vocab) {
                        return Err(EngineError::invalid(
                            at.clone(),
                            format!(
                                "`{at}` has token id {t}, outside the vocabulary of \"{}\" \
                                 (0..{n_vocab})",
                                self.name
                            ),
                        ));
                    }
                    if tokens.len() > self.max_tokens && self.truncate {
                        truncated += 1;
                        tokens[..self.max_tokens].to_vec()
                    } else {
                        tokens
                    }
                }
            };
            if tokens.len() > self.max_tokens {
                let hint = if self.truncate_allowed {
                    ", or let it be truncated (\"truncate\": true)"
                } else {
                    ""
                };
                return Err(EngineError::invalid(
                    at.clone(),
                    format!(
                        "`{at}` is {} tokens, more than the {} tokens \"{}\" embeds per input; \
                         shorten it{hint}",
                        tokens.len(),
                        self.max_tokens,
                        self.name
                    ),
                ));
            }
            request.inputs.push(tokens);
        }
        Ok((request, truncated))
    }

    /// The first tokens of `text` that fit, with the special tokens the tokenizer puts
    /// around it (BOS or `[CLS]` in front, EOS or `[SEP]` at the end) kept.
    fn cut_text(
        &self,
        model: &dyn LoadedModel,
        text: &str,
        with_special: Vec<u32>,
        at: &str,
    ) -> Result<Vec<u32>, EngineError> {
        let plain = model.tokenize(text, false, false)?;
        let front = (0..=with_special.len().saturating_sub(plain.len()))
            .find(|&p| with_special[p..].starts_with(&plain))
            .unwrap_or(0);
        let back = with_special.len().saturating_sub(front + plain.len());
        let room = self.max_tokens.saturating_sub(front + back);
        if room == 0 {
            return Err(EngineError::invalid(
                at,
                format!(
                    "`{at}` cannot be truncated: the special tokens alone fill the {} tokens \
                     \"{}\" embeds per input",
                    self.max_tokens, self.name
                ),
            ));
        }
        let mut out = with_special[..front].to_vec();
        out.extend_from_slice(&plain[..room.min(plain.len())]);
        out.extend_from_slice(&with_special[with_special.len() - back..]);
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use shimmy_core::backend::{Flow, GenerateEvent, GenerateRequest, GenerateSummary, ModelInfo};
    use shimmy_core::placement::Placement;
    use shimmy_core::serving::{Scheduler, ServeOptions};

    /// A tokenizer of one token per byte, with `[CLS]` (1000) and `[SEP]` (1001) around.
    struct Bytes(ModelInfo, Placement);

    impl LoadedModel for Bytes {
        fn info(&self) -> &ModelInfo {
            &self.0
        }
        fn placement(&self) -> &Placement {
            &self.1
        }
        fn tokenize(&self, text: &str, special: bool, _: bool) -> shimmy_core::Result<Vec<u32>> {
            let body = text.bytes().map(u32::from);
            Ok(if special {
                std::iter::once(1000).chain(body).chain([1001]).collect()
            } else {
                body.collect()
            })
        }
        fn detokenize(&self, _: &[u32]) -> shimmy_core::Result<String> {
            unreachable!()
        }
        fn generate(
            &self,
            _: &GenerateRequest,
            _: &mut dyn FnMut(GenerateEvent) -> Flow,
        ) -> shimmy_core::Result<GenerateSummary> {
            unreachable!()
        }
        fn serve(self: Arc<Self>, _: &ServeOptions) -> shimmy_core::Result<Arc<dyn Scheduler>> {
            unreachable!()
        }
    }

    fn inputs(max_tokens: usize, truncate: bool) -> Inputs {
        Inputs {
            name: "m".into(),
            max_tokens,
            truncate,
            truncate_allowed: true,
            param: "input",
        }
    }

    fn model() -> Bytes {
        Bytes(
            ModelInfo {
                n_vocab: 1002,
                ..ModelInfo::default()
            },
            Placement::default(),
        )
    }

    #[test]
    fn long_texts_are_cut_keeping_the_special_tokens_or_refused() {
        let m = model();
        let (request, truncated) = inputs(5, true)
            .tokenize(
                &m,
                vec![
                    EmbedInput::Text("abcdef".into()),
                    EmbedInput::Text("ab".into()),
                ],
            )
            .unwrap();
        let two = vec![
            EmbedInput::Text("ab".into()),
            EmbedInput::Text("abcdef".into()),
        ];
        let err = inputs(5, false).tokenize(&m, two).unwrap_err();
        assert!(
            err.to_string().starts_with("`input[1]` is 8 tokens"),
            "{err}"
        );
        assert_eq!(truncated, 1);
        assert_eq!(
            request.inputs,
            vec![vec![1000, 97, 98, 99, 1001], vec![1000, 97, 98, 1001]]
        );
        let err = inputs(5, false)
            .tokenize(&m, vec![EmbedInput::Text("abcdef".into())])
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "`input` is 8 tokens, more than the 5 tokens \"m\" embeds per input; shorten \
             it, or let it be truncated (\"truncate\": true)"
        );
        let err = inputs(2, true)
            .tokenize(&m, vec![EmbedInput::Text("abc".into())])
            .unwrap_err();
        assert!(err.to_string().contains("cannot be truncated"), "{err}");
    }

    #[test]
    fn token_inputs_are_checked_and_cut_as_they_are() {
        let m = model();
        let (request, _) = inputs(3, true)
            .tokenize(&m, vec![EmbedInput::Tokens(vec![5, 6, 7, 8])])
            .unwrap();
        assert_eq!(request.inputs, vec![vec![5, 6, 7]]);
        let err = inputs(3, true)
            .tokenize(&m, vec![EmbedInput::Tokens(vec![5, 5000])])
            .unwrap_err();
        assert!(err.to_string().contains("token id 5000"), "{err}");
        for empty in [EmbedInput::Tokens(vec![]), EmbedInput::Text(String::new())] {
            let err = inputs(3, true).tokenize(&m, vec![empty]).unwrap_err();
            assert!(err.to_string().contains("empty"), "{err}");
        }
    }
}
