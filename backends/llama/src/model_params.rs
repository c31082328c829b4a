//! llama.cpp's model parameters built directly, for what `llama-cpp-2`'s `LlamaModelParams`
//! cannot set: the layer split between several devices (`tensor_split`). Everything else the
//! host uses is here too (devices, GPU layers, split mode, main GPU, load mode, the
//! host-memory overrides), so a model is loaded through one path.

use std::ffi::CString;
use std::path::Path;
use std::ptr::{self, NonNull};

use llama_cpp_2::model::LlamaModel;
use llama_cpp_sys_2 as sys;
use shimmy_core::backend::SplitMode;
use shimmy_core::{Error, Result};

/// The parameters of one load. The raw struct points into the vectors held beside it, so the
/// pointers are set only in [`ModelParams::load`].
pub(crate) struct ModelParams {
    raw: sys::llama_model_params,
    devices: Vec<sys::ggml_backend_dev_t>,
    patterns: Vec<CString>,
    split: Vec<f32>,
}

impl ModelParams {
    /// llama.cpp's defaults, the file mapped or read.
    pub(crate) fn new(mmap: bool) -> Self {
        // SAFETY: plain data returned by value.
        let mut raw = unsafe { sys::llama_model_default_params() };
        raw.load_mode = if mmap {
            sys::LLAMA_LOAD_MODE_MMAP
        } else {
            sys::LLAMA_LOAD_MODE_NONE
        };
        ModelParams {
            raw,
            devices: Vec::new(),
            patterns: Vec::new(),
            split: Vec::new(),
        }
    }

    /// The devices to offload to, by ggml device index (none: the CPU only).
    pub(crate) fn devices(mut self, indexes: &[usize]) -> Result<Self> {
        // SAFETY: reads the registry's device count and devices.
        let count = unsafe { sys::ggml_backend_dev_count() };
        self.devices.clear();
        for &i in indexes {
            if i >= count {
                return Err(Error::BackendInit(format!(
                    "device {i} does not exist ({count} devices)"
                )));
            }
            // SAFETY: `i` is below the device count.
            self.devices.push(unsafe { sys::ggml_backend_dev_get(i) });
        }
        Ok(self)
    }

    /// Layers to offload (llama.cpp's `n_gpu_layers`).
    pub(crate) fn gpu_layers(mut self, n: u32) -> Self {
        self.raw.n_gpu_layers = i32::try_from(n).unwrap_or(i32::MAX);
        self
    }

    /// How layers are split over several devices, and the one device for `none`.
    pub(crate) fn split_mode(mut self, mode: SplitMode, main_gpu: u32) -> Self {
        self.raw.split_mode = match mode {
            SplitMode::None => sys::LLAMA_SPLIT_MODE_NONE,
            SplitMode::Layer => sys::LLAMA_SPLIT_MODE_LAYER,
            SplitMode::Row => sys::LLAMA_SPLIT_MODE_ROW,
        };
        self.raw.main_gpu = i32::try_from(main_gpu).unwrap_or(0);
        self
    }

    /// The share of layers of each device given to [`ModelParams::devices`] (empty: by free
    /// memory, llama.cpp's default).
    pub(crate) fn tensor_split(mut self, split: &[f32]) -> Result<Self> {
        // SAFETY: a constant of the library.
        let max = unsafe { sys::llama_max_devices() };
        if split.len() > max {
            return Err(Error::InvalidOption(format!(
                "--tensor-split has {} entries; this build supports at most {max} devices",
                split.len()
            )));
        }
        self.split = split.to_vec();
        if !self.split.is_empty() {
            self.split.resize(max, 0.0);
        }
        Ok(self)
    }

    /// Keeps the tensors whose names match `pattern` (llama.cpp's regex search) in host
    /// memory.
    pub(crate) fn host_override(mut self, pattern: &str) -> Result<Self> {
        self.patterns.push(CString::new(pattern).map_err(|_| {
            Error::InvalidOption(format!("override pattern {pattern:?} holds a NUL byte"))
        })?);
        Ok(self)
    }

    /// Loads `path` with these parameters. `Err` carries llama.cpp's failure without
    /// detail: the caller reads the reason from llama.cpp's log.
    pub(crate) fn load(&mut self, path: &Path) -> std::result::Result<LlamaModel, LoadFailed> {
        let path = CString::new(path.to_string_lossy().as_bytes()).map_err(|_| LoadFailed)?;
        // NULL-terminated lists, kept alive by `self` for the call.
        // No device is an empty list (offload nowhere), never NULL (which means all devices).
        let mut devices = self.devices.clone();
        devices.push(ptr::null_mut());
        // SAFETY: the CPU buffer type is a static of the CPU backend.
        let cpu = unsafe { sys::ggml_backend_cpu_buffer_type() };
        let mut overrides: Vec<sys::llama_model_tensor_buft_override> = self
            .patterns
            .iter()
            .map(|p| sys::llama_model_tensor_buft_override {
                pattern: p.as_ptr(),
                buft: cpu,
            })
            .collect();
        overrides.push(sys::llama_model_tensor_buft_override {
            pattern: ptr::null(),
            buft: ptr::null_mut(),
        });
        let mut raw = self.raw;
        raw.devices = devices.as_mut_ptr();
        raw.tensor_buft_overrides = if self.patterns.is_empty() {
            ptr::null()
        } else {
            overrides.as_ptr()
        };
        raw.tensor_split = if self.split.is_empty() {
            ptr::null()
        } else {
            self.split.as_ptr()
        };
        // SAFETY: every pointer in `raw` points into `devices`, `overrides`, `self.patterns`
        // or `self.split`, which live until the call returns; llama.cpp copies what it keeps.
        let model = unsafe { sys::llama_model_load_from_file(path.as_ptr(), raw) };
        let model = NonNull::new(model).ok_or(LoadFailed)?;
        // SAFETY: `LlamaModel` (llama-cpp-2 =0.1.160, pinned) is `#[repr(transparent)]` over
        // its `Ptr`, itself `#[repr(transparent)]` over `NonNull<llama_model>`, and frees the
        // model when dropped; this pointer came from llama.cpp's loader and has no other owner.
        Ok(unsafe { std::mem::transmute::<NonNull<sys::llama_model>, LlamaModel>(model) })
    }
}

/// llama.cpp returned no model; its log says why.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct LoadFailed;

impl std::fmt::Display for LoadFailed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("llama.cpp could not load the model")
    }
}
