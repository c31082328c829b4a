//! llama.cpp and ggml log lines, routed into `tracing` (target `llama.cpp`) and remembered.
//!
//! llama.cpp reports most load failures only through its log, so the last error and warning
//! lines are kept in a small ring buffer: when a load fails, the host quotes them in its error.

use std::cell::RefCell;
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

/// What a buffer-size line of llama.cpp's log is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BufferKind {
    /// `load_tensors: CUDA0 model buffer size = ... MiB`.
    Model,
    /// `llama_kv_cache: CUDA0 KV buffer size = ... MiB` (also recurrent-state buffers).
    KvCache,
    /// `sched_reserve: CUDA0 compute buffer size = ... MiB` (also the output buffer).
    Compute,
}

/// One buffer llama.cpp allocated: kind, ggml buffer name (`CUDA0`, `CPU_Mapped`,
/// `CUDA_Host`), bytes.
pub type BufferSize = (BufferKind, String, u64);

thread_local! {
    /// Buffer sizes logged on this thread while a capture runs (`None`: no capture).
    static CAPTURE: RefCell<Option<Vec<BufferSize>>> = const { RefCell::new(None) };
}

/// Starts recording the buffer sizes llama.cpp logs on this thread (loads and context
/// creation log them on the calling thread).
pub fn start_buffer_capture() {
    CAPTURE.with(|c| *c.borrow_mut() = Some(Vec::new()));
}

/// Stops recording and returns what was logged since [`start_buffer_capture`].
pub fn take_buffer_capture() -> Vec<BufferSize> {
    CAPTURE.with(|c| c.borrow_mut().take().unwrap_or_default())
}

/// Parses `func: NAME <kind> buffer size = 12.34 MiB` lines.
pub fn parse_buffer_line(line: &str) -> Option<BufferSize> {
    const KINDS: [(&str, BufferKind); 5] = [
        (" model buffer size = ", BufferKind::Model),
        (" KV buffer size = ", BufferKind::KvCache),
        (" RS buffer size = ", BufferKind::KvCache),
        (" compute buffer size = ", BufferKind::Compute),
        (" output buffer size = ", BufferKind::Compute),
    ];
    let (marker, kind) = KINDS.iter().find(|(m, _)| line.contains(m))?;
    let (before, after) = line.split_once(marker)?;
    let name = before.split_whitespace().last()?.to_string();
    let mib: f64 = after.trim().strip_suffix("MiB")?.trim().parse().ok()?;
    if !mib.is_finite() || mib < 0.0 {
        return None;
    }
    Some((*kind, name, (mib * 1024.0 * 1024.0).round() as u64))
}

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
    if line.contains(" buffer size = ") {
        if let Some(size) = parse_buffer_line(line) {
            CAPTURE.with(|c| {
                if let Some(sizes) = c.borrow_mut().as_mut() {
                    sizes.push(size);
                }
            });
        }
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

/// Adds llama.cpp's own recent warnings/errors to a message.
pub(crate) fn explain(message: String) -> String {
    let problems = take_recent_problems();
    if problems.is_empty() {
        message
    } else {
        format!("{message} ({})", problems.join("; "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buffer_lines() {
        assert_eq!(
            parse_buffer_line("load_tensors:        CUDA0 model buffer size =  3281.70 MiB"),
            Some((BufferKind::Model, "CUDA0".into(), 3_441_111_859))
        );
        assert_eq!(
            parse_buffer_line("llama_kv_cache:   CPU KV buffer size =     8.00 MiB"),
            Some((BufferKind::KvCache, "CPU".into(), 8 << 20))
        );
        assert_eq!(
            parse_buffer_line("sched_reserve:  CUDA_Host compute buffer size = 0.50 MiB"),
            Some((BufferKind::Compute, "CUDA_Host".into(), 1 << 19))
        );
        assert_eq!(
            parse_buffer_line("llama_context:  CPU  output buffer size =     0.12 MiB")
                .map(|b| b.0),
            Some(BufferKind::Compute)
        );
        assert_eq!(
            parse_buffer_line("load_tensors: offloaded 5/5 layers to GPU"),
            None
        );
        assert_eq!(
            parse_buffer_line("x: CPU model buffer size = lots MiB"),
            None
        );
    }
}
