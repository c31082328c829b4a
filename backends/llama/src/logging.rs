//! llama.cpp and ggml log lines, routed into `tracing` (target `llama.cpp`) and remembered.
//!
//! llama.cpp reports most load failures only through its log, so the last error and warning
//! lines are kept in a small ring buffer: when a load fails, the host quotes them in its error.

use std::collections::VecDeque;
use std::ffi::{c_char, c_void, CStr};
use std::sync::{Mutex, Once};

const KEPT_LINES: usize = 16;

struct LogState {
    /// A line llama.cpp has started but not finished (it sends lines in pieces).
    partial: String,
    /// Level of the line being assembled.
    level: u32,
    /// Recent warning and error lines.
    recent: VecDeque<String>,
}

static STATE: Mutex<LogState> = Mutex::new(LogState {
    partial: String::new(),
    level: 0,
    recent: VecDeque::new(),
});

/// Installs the log callback for llama.cpp and ggml (idempotent).
pub fn install() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        // SAFETY: the callback is a plain function that lives for the whole program and
        // ignores `user_data`.
        unsafe {
            llama_cpp_sys_2::llama_log_set(Some(on_log), std::ptr::null_mut());
            llama_cpp_sys_2::ggml_log_set(Some(on_log), std::ptr::null_mut());
        }
    });
}

/// Takes the warning/error lines logged since the last call, oldest first.
pub fn take_recent_problems() -> Vec<String> {
    match STATE.lock() {
        Ok(mut state) => state.recent.drain(..).collect(),
        Err(_) => Vec::new(),
    }
}

/// Forgets remembered lines (call before an operation whose failure you want to explain).
pub fn clear_recent_problems() {
    if let Ok(mut state) = STATE.lock() {
        state.recent.clear();
    }
}

extern "C" fn on_log(level: llama_cpp_sys_2::ggml_log_level, text: *const c_char, _: *mut c_void) {
    if text.is_null() {
        return;
    }
    // SAFETY: llama.cpp passes a NUL-terminated string valid for the duration of the call.
    let text = unsafe { CStr::from_ptr(text) }.to_string_lossy();
    let Ok(mut state) = STATE.lock() else {
        return;
    };
    if level != llama_cpp_sys_2::GGML_LOG_LEVEL_CONT {
        if !state.partial.is_empty() {
            let (lvl, line) = (state.level, std::mem::take(&mut state.partial));
            emit(&mut state, lvl, &line);
        }
        state.level = level;
    }
    state.partial.push_str(&text);
    if state.partial.ends_with('\n') {
        let (lvl, line) = (state.level, std::mem::take(&mut state.partial));
        emit(&mut state, lvl, line.trim_end());
    }
}

fn emit(state: &mut LogState, level: u32, line: &str) {
    if line.is_empty() {
        return;
    }
    match level {
        llama_cpp_sys_2::GGML_LOG_LEVEL_ERROR => {
            tracing::error!(target: "llama.cpp", "{line}");
            remember(state, line);
        }
        llama_cpp_sys_2::GGML_LOG_LEVEL_WARN => {
            tracing::warn!(target: "llama.cpp", "{line}");
            remember(state, line);
        }
        llama_cpp_sys_2::GGML_LOG_LEVEL_INFO => tracing::info!(target: "llama.cpp", "{line}"),
        _ => tracing::debug!(target: "llama.cpp", "{line}"),
    }
}

fn remember(state: &mut LogState, line: &str) {
    if state.recent.len() == KEPT_LINES {
        state.recent.pop_front();
    }
    state.recent.push_back(line.to_string());
}
