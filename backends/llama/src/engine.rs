//! [`LlamaEngine`]: the llama.cpp implementation of [`Backend`].

use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

use llama_cpp_2::llama_backend::LlamaBackend;
use llama_cpp_2::{list_llama_ggml_backend_devices, LlamaBackendDeviceType};
use shimmy_core::backend::{Backend, DeviceInfo, LoadedModel, ModelOptions};
use shimmy_core::{Error, Result};

use crate::{libraries, logging, model};

/// llama.cpp can be initialised once per process; every engine shares that one handle.
static RUNTIME: OnceLock<std::result::Result<Runtime, String>> = OnceLock::new();

struct Runtime {
    backend: Arc<LlamaBackend>,
    dir: PathBuf,
}

/// The llama.cpp inference engine with dynamically loaded ggml backends.
pub struct LlamaEngine {
    backend: Arc<LlamaBackend>,
    dir: PathBuf,
}

impl LlamaEngine {
    /// Loads the ggml backend modules and initialises llama.cpp.
    ///
    /// `backends_dir` overrides where the `libggml-*.so` modules are looked for (see
    /// [`libraries::resolve_dir`]). Only the first call in a process chooses the directory.
    pub fn new(backends_dir: Option<&Path>) -> Result<Self> {
        logging::install();
        let runtime = RUNTIME.get_or_init(|| init_runtime(backends_dir).map_err(|e| e.to_string()));
        match runtime {
            Ok(rt) => Ok(LlamaEngine {
                backend: Arc::clone(&rt.backend),
                dir: rt.dir.clone(),
            }),
            Err(message) => Err(Error::BackendInit(message.clone())),
        }
    }

    /// The directory the backend modules were loaded from.
    pub fn backends_dir(&self) -> &Path {
        &self.dir
    }

    /// The first GPU-like device, if any (its ggml name, e.g. `CUDA0`).
    pub fn gpu_device(&self) -> Option<DeviceInfo> {
        self.devices()
            .into_iter()
            .find(|d| d.kind == "gpu" || d.kind == "igpu")
    }
}

fn init_runtime(backends_dir: Option<&Path>) -> Result<Runtime> {
    let dir = libraries::resolve_dir(backends_dir)?;
    llama_cpp_2::llama_backend::load_backends_from_path(&dir);
    // SAFETY: plain query of ggml's device registry.
    if unsafe { llama_cpp_sys_2::ggml_backend_dev_count() } == 0 {
        return Err(Error::BackendInit(format!(
            "no usable ggml backend in {} (the CPU modules there could not be loaded: {})",
            dir.display(),
            logging::take_recent_problems().join("; ")
        )));
    }
    let backend = LlamaBackend::init().map_err(|e| Error::BackendInit(e.to_string()))?;
    Ok(Runtime {
        backend: Arc::new(backend),
        dir,
    })
}

impl Backend for LlamaEngine {
    fn name(&self) -> &str {
        "llama.cpp"
    }

    fn devices(&self) -> Vec<DeviceInfo> {
        list_llama_ggml_backend_devices()
            .into_iter()
            .map(|d| DeviceInfo {
                name: d.name,
                description: d.description,
                backend: d.backend,
                kind: match d.device_type {
                    LlamaBackendDeviceType::Cpu => "cpu",
                    LlamaBackendDeviceType::Gpu => "gpu",
                    LlamaBackendDeviceType::IntegratedGpu => "igpu",
                    LlamaBackendDeviceType::Accelerator => "accel",
                    LlamaBackendDeviceType::Unknown => "unknown",
                }
                .to_string(),
                memory_total: d.memory_total as u64,
                memory_free: d.memory_free as u64,
            })
            .collect()
    }

    fn libraries(&self) -> Vec<PathBuf> {
        libraries::modules_in(&self.dir)
    }

    fn load(&self, path: &Path, options: &ModelOptions) -> Result<Arc<dyn LoadedModel>> {
        let gpu = self.gpu_device();
        let loaded = model::load(Arc::clone(&self.backend), path, options, gpu.as_ref())?;
        Ok(Arc::new(loaded))
    }

    fn json_schema_grammar(&self, schema: &str) -> Result<String> {
        // llama.cpp's converter (common/json-schema-to-grammar) reports only that it failed.
        llama_cpp_2::json_schema_to_grammar(schema).map_err(|_| {
            Error::InvalidOption(
                "llama.cpp cannot turn this JSON schema into a grammar; it supports the \
                 usual keywords (type, properties, required, items, enum, const, anyOf, oneOf, \
                 allOf, pattern, min/max lengths and items, local $ref) but not remote $refs \
                 or unknown formats"
                    .to_string(),
            )
        })
    }
}
