//! Host-provided logging (`shimmy:plugin/log`). Lines appear in the host's log tagged with the
//! plugin's name. Natively (unit tests) they go to stderr.

pub use crate::bindings::template::shimmy::plugin::log::Level;

/// Writes one line at `level`.
pub fn log(level: Level, message: &str) {
    #[cfg(target_arch = "wasm32")]
    crate::bindings::template::shimmy::plugin::log::log(level, message);
    #[cfg(not(target_arch = "wasm32"))]
    eprintln!("[{level:?}] {message}");
}

/// Very detailed tracing.
pub fn trace(message: &str) {
    log(Level::Trace, message)
}

/// Debugging detail.
pub fn debug(message: &str) {
    log(Level::Debug, message)
}

/// Normal information.
pub fn info(message: &str) {
    log(Level::Info, message)
}

/// Something unexpected but recoverable.
pub fn warn(message: &str) {
    log(Level::Warn, message)
}

/// A failure.
pub fn error(message: &str) {
    log(Level::Error, message)
}
