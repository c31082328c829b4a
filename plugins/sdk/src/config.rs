//! The plugin's own settings (`shimmy:plugin/config`): the `[config]` table of its
//! `plugin.toml`, overridden by the operator. Natively (unit tests) there are none.

/// The value of one setting, if set.
pub fn get(key: &str) -> Option<String> {
    #[cfg(target_arch = "wasm32")]
    return crate::bindings::template::shimmy::plugin::config::get(key);
    #[cfg(not(target_arch = "wasm32"))]
    {
        let _ = key;
        None
    }
}

/// The value of one setting, or `default`.
pub fn get_or(key: &str, default: &str) -> String {
    get(key).unwrap_or_else(|| default.to_string())
}

/// A boolean setting: `true`, `1`, `yes`, `on` (any case) are true, anything else set is false.
pub fn get_bool(key: &str) -> Option<bool> {
    get(key).map(|v| {
        matches!(
            v.trim().to_ascii_lowercase().as_str(),
            "true" | "1" | "yes" | "on"
        )
    })
}

/// Every setting as key/value pairs.
pub fn all() -> Vec<(String, String)> {
    #[cfg(target_arch = "wasm32")]
    return crate::bindings::template::shimmy::plugin::config::all();
    #[cfg(not(target_arch = "wasm32"))]
    Vec::new()
}
