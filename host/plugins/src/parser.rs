//! Parsing a streamed chat answer with its template plugin: one instance for the whole
//! generation, one call per piece of output.

use shimmy_core::chat::{ParseDelta, Parsed, ToolDefinition};
use wasmtime::component::ResourceAny;

use crate::calls::{FinishParser, Parse, PushParser};
use crate::error::Result;
use crate::legacy::LegacyParser;
use crate::runtime::Session;

/// The template's parser of one answer (its `output-parser` resource; for a template of
/// contract 0.1.0, the host-side adapter over its `parse`). Made by
/// [`PluginRegistry::output_parser`](crate::PluginRegistry::output_parser); every call has the
/// plugin's time limit, the instance (kept until this is dropped) its memory limit.
pub struct OutputParser {
    session: Session,
    state: State,
}

enum State {
    Resource(ResourceAny),
    Legacy(LegacyParser),
}

impl std::fmt::Debug for OutputParser {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OutputParser")
            .field("plugin", &self.session.plugin().summary.name)
            .field("legacy", &matches!(self.state, State::Legacy(_)))
            .finish()
    }
}

impl OutputParser {
    /// A parser on `session` (a template's instance) for an answer offered `tools`.
    pub(crate) async fn new(mut session: Session, tools: &[ToolDefinition]) -> Result<Self> {
        let state = if session.is_legacy_template() {
            State::Legacy(LegacyParser::new(tools.to_vec()))
        } else {
            State::Resource(
                session
                    .call(crate::calls::NewParser(tools.to_vec()))
                    .await?,
            )
        };
        Ok(OutputParser { session, state })
    }

    /// Takes the next piece of output; returns what became visible.
    pub async fn push(&mut self, text: &str) -> Result<ParseDelta> {
        match &mut self.state {
            State::Resource(parser) => {
                let call = PushParser {
                    parser: *parser,
                    text: text.to_owned(),
                };
                self.session.call(call).await
            }
            State::Legacy(legacy) => {
                let parsed = match legacy.push(text) {
                    Some(output) => Some(
                        self.session
                            .call(Parse {
                                output,
                                tools: Vec::new(),
                            })
                            .await?,
                    ),
                    None => None,
                };
                Ok(legacy.delta(parsed))
            }
        }
    }

    /// The final parse of everything pushed, tool calls included.
    pub async fn finish(&mut self) -> Result<Parsed> {
        match &mut self.state {
            State::Resource(parser) => self.session.call(FinishParser(*parser)).await,
            State::Legacy(legacy) => {
                let call = Parse {
                    output: legacy.output.clone(),
                    tools: legacy.tools.clone(),
                };
                self.session.call(call).await
            }
        }
    }
}
