//! Host-provided access to the tools of other plugins (`shimmy:plugin/tools`), for **workflow
//! plugins only**. Natively (unit tests) there are no tools and calls return `unsupported`.

use crate::{PluginError, ToolDefinition};

/// Every tool the host offers.
pub fn list() -> Vec<ToolDefinition> {
    #[cfg(target_arch = "wasm32")]
    return crate::bindings::workflow::shimmy::plugin::tools::list();
    #[cfg(not(target_arch = "wasm32"))]
    Vec::new()
}

/// Calls a tool with JSON arguments; returns its JSON result.
pub fn invoke(name: &str, arguments: &str) -> Result<String, PluginError> {
    #[cfg(target_arch = "wasm32")]
    return crate::bindings::workflow::shimmy::plugin::tools::invoke(name, arguments);
    #[cfg(not(target_arch = "wasm32"))]
    {
        let _ = (name, arguments);
        Err(PluginError::unsupported(
            "tools are only available inside shimmy-host",
        ))
    }
}
