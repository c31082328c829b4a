//! What a client may see of an error.
//!
//! Most messages say what the client did wrong (a field, a model name, a limit) and go out as
//! they are. Some hold what only the operator should see: absolute paths of model files,
//! llama.cpp's log lines, a plugin's stderr or panic text, internal failures. For those,
//! [`public_message`] is a plain account of what failed, and [`report`] logs the whole error
//! with a new error id and gives the client that account with the id, so the two can be
//! matched in the server log.

use shimmy_core::Error as CoreError;
use shimmy_plugins::PluginError;

use crate::error::EngineError;
use crate::ids::new_id;

/// The public account of a core (backend) error whose message holds paths or llama.cpp's
/// own lines; `None` when the message is fit for a client.
fn core(e: &CoreError) -> Option<String> {
    match e {
        CoreError::Io { .. }
        | CoreError::NotGguf { .. }
        | CoreError::InvalidGguf { .. }
        | CoreError::UnknownArchitecture { .. }
        | CoreError::NotAFile { .. }
        | CoreError::ModelLoad { .. } => Some("the model could not be loaded".into()),
        CoreError::BackendInit(_) => Some("the inference backend could not start".into()),
        CoreError::Inference(_) => Some("inference failed".into()),
        _ => None,
    }
}

/// The public account of a plugin failure that holds the plugin's stderr, a trap, a path or
/// a runtime failure; `None` for the plugin's own well-formed errors and for limits.
fn plugin(e: &PluginError) -> Option<String> {
    let name = e.plugin().unwrap_or("a plugin");
    match e {
        PluginError::Trap { .. } => Some(format!("plugin \"{name}\" crashed (it trapped)")),
        PluginError::Misbehaved { .. } | PluginError::InvalidToolSchema { .. } => Some(format!(
            "plugin \"{name}\" returned data the server cannot use"
        )),
        PluginError::InvalidSpec { .. }
        | PluginError::Runtime(_)
        | PluginError::Io { .. }
        | PluginError::Manifest { .. }
        | PluginError::Compile { .. }
        | PluginError::UnsupportedVersion { .. }
        | PluginError::Incompatible { .. } => {
            Some(format!("plugin \"{name}\" could not be loaded"))
        }
        _ => None,
    }
}

/// What a client is told instead of `e`'s message, when that message must stay in the log.
pub fn public_message(e: &EngineError) -> Option<String> {
    match e {
        EngineError::Core(c) => core(c),
        EngineError::Plugin(p) => plugin(p),
        EngineError::WorkflowFailed {
            workflow, error, ..
        } => plugin(error).map(|m| format!("workflow \"{workflow}\" failed: {m}")),
        EngineError::Internal(_) => Some("internal error".into()),
        _ => None,
    }
}

/// `public` with `error`'s whole text logged under a new error id; the id is appended to what
/// the client is told (`... (error id err_...; details in the server log)`).
pub fn log_with_id(public: &str, error: &dyn std::fmt::Display) -> String {
    let id = new_id("err_");
    tracing::error!(error_id = %id, "{id}: {error}");
    format!("{public} (error id {id}; the details are in the server log)")
}

/// What a client is told about `e`: its message, or (see [`public_message`]) the public
/// account with an error id under which the whole error is logged.
pub fn report(e: &EngineError) -> String {
    match public_message(e) {
        Some(public) => log_with_id(&public, e),
        None => e.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use shimmy_plugins::GuestError;

    #[test]
    fn internals_are_replaced_and_client_errors_kept() {
        let load = EngineError::Core(CoreError::ModelLoad {
            path: "/srv/models/secret.gguf".into(),
            reason: "llama_model_load: error loading model hyperparameters".into(),
        });
        let told = report(&load);
        assert!(
            told.starts_with("the model could not be loaded (error id err_"),
            "{told}"
        );
        assert!(
            !told.contains("/srv") && !told.contains("llama_model_load"),
            "{told}"
        );
        let trap = EngineError::Plugin(PluginError::Trap {
            plugin: "bad-tool".into(),
            trap: "wasm trap: unreachable".into(),
            detail: "; guest stderr: panicked at src/lib.rs:3".into(),
        });
        let told = report(&trap);
        assert!(
            told.contains("plugin \"bad-tool\" crashed") && !told.contains("panicked"),
            "{told}"
        );
        let bad = EngineError::invalid("messages[0].role", "role \"wizard\" is not known");
        assert_eq!(report(&bad), bad.to_string());
        let guest = EngineError::Plugin(PluginError::Guest {
            plugin: "p".into(),
            error: GuestError::Failed("the plugin's own words".into()),
        });
        assert_eq!(public_message(&guest), None);
    }
}
