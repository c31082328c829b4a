//! `shimmy-hub`: pulls GGUF models from a Hugging Face hub into the shared hub cache.
//!
//! * [`ModelRef`]: `ORG/NAME`, `ORG/NAME:QUANT`, `ORG/NAME/FILE.gguf` (with `hf.co/` as
//!   Ollama writes it, and `@REVISION`).
//! * [`HubSettings`]: `HF_ENDPOINT`, `HF_TOKEN` and the cache folder, read from the
//!   environment as `huggingface_hub` reads them.
//! * [`HubClient`]: the hub's listing, resolve and download protocol.
//! * [`pull()`]: picks the file(s) ([`select`]), downloads them resumably and verified
//!   ([`download`]), links them into the cache's snapshot ([`cache`]) so that discovery,
//!   `huggingface-cli` and other tools share them.
//!
//! Nothing here knows about HTTP servers or llama.cpp: the CLI's `pull` command and the
//! server's `/api/pull` both drive [`pull()`] and render its [`PullEvent`]s their own way.
#![warn(missing_docs)]

pub mod cache;
pub mod client;
pub mod download;
pub mod error;
pub mod pull;
pub mod reference;
pub mod select;
pub mod settings;

pub use cache::{delete_model, find_local, Deleted, RepoCache};
pub use client::HubClient;
pub use error::{HubError, Result};
pub use pull::{model_name, pull, PlannedFile, PullEvent, Pulled};
pub use reference::{ModelRef, Selector};
pub use settings::HubSettings;

/// The revision pulled when none is named.
pub const DEFAULT_REVISION: &str = "main";
