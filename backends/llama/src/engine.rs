//! [`LlamaEngine`]: the llama.cpp implementation of [`Backend`].

use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

use llama_cpp_2::llama_backend::LlamaBackend;
use llama_cpp_2::{list_llama_ggml_backend_devices, LlamaBackendDeviceType};
use shimmy_core::backend::{Backend, DeviceInfo, GpuBackend, LoadedModel, ModelOptions};
use shimmy_core::{Error, Result};

use crate::{libraries, logging, model};

/// llama.cpp can be initialised once per process; every engine shares that one handle.
static RUNTIME: OnceLock<std::result::Result<Runtime, String>> = OnceLock::new();

struct Runtime {
    backend: Arc<LlamaBackend>,
    dir: PathBuf,
    /// Where the modules were loaded from: `dir`, or a staged copy without excluded variants.
    loaded_from: PathBuf,
    /// Warnings and errors ggml logged while loading the modules (e.g. a `dlopen` failure).
    load_problems: Vec<String>,
}

/// The llama.cpp inference engine with dynamically loaded ggml backends.
pub struct LlamaEngine {
    backend: Arc<LlamaBackend>,
    dir: PathBuf,
    loaded_from: PathBuf,
    selected: GpuBackend,
    /// The GPU models go to (`None`: CPU only), with its ggml device index.
    gpu: Option<(usize, DeviceInfo)>,
    /// Every GPU of that backend, in ggml's order (the first is `gpu`): a model is split over
    /// them unless `--split-mode none`.
    gpus: Vec<(usize, DeviceInfo)>,
    /// ggml device indices of the rpc workers' devices models span (see [`Self::with_rpc`]).
    rpc_devices: Vec<usize>,
    /// The model files that use the workers (`None`: every model).
    rpc_models: Option<Vec<PathBuf>>,
}

impl LlamaEngine {
    /// Loads the ggml backend modules and initialises llama.cpp.
    ///
    /// `backends_dir` overrides where the `libggml-*.so` modules are looked for (see
    /// [`libraries::resolve_dir`]). Only the first call in a process chooses the directory.
    pub fn new(backends_dir: Option<&Path>) -> Result<Self> {
        Self::with_gpu_backend(backends_dir, GpuBackend::Auto)
    }

    /// Like [`LlamaEngine::new`], running models on the device `choice` asks for.
    ///
    /// `Auto` takes the first GPU (else an integrated GPU, else the CPU); `Cpu` keeps every
    /// layer and computation on the CPU; `Cuda`/`Vulkan` take the first device of that backend
    /// and fail with an explanation (what is available, why the backend is missing) when there
    /// is none.
    pub fn with_gpu_backend(backends_dir: Option<&Path>, choice: GpuBackend) -> Result<Self> {
        logging::install();
        let runtime = RUNTIME.get_or_init(|| init_runtime(backends_dir).map_err(|e| e.to_string()));
        let rt = match runtime {
            Ok(rt) => rt,
            Err(message) => return Err(Error::BackendInit(message.clone())),
        };
        let devices = indexed_devices();
        let gpu = select_gpu(&devices, choice).ok_or_else(|| {
            Error::BackendInit(explain_missing(
                choice,
                &devices,
                &rt.dir,
                &rt.load_problems,
            ))
        })?;
        let gpus = match &gpu {
            Some((_, first)) => devices
                .iter()
                .filter(|(_, d)| d.kind == first.kind && d.backend == first.backend)
                .cloned()
                .collect(),
            None => Vec::new(),
        };
        Ok(LlamaEngine {
            backend: Arc::clone(&rt.backend),
            dir: rt.dir.clone(),
            loaded_from: rt.loaded_from.clone(),
            selected: choice,
            gpu,
            gpus,
            rpc_devices: Vec::new(),
            rpc_models: None,
        })
    }

    /// Adds the rpc workers `endpoints` (`HOST:PORT`) as devices that models put layers on,
    /// after checking each is up and speaks this build's protocol (an error naming the first
    /// that is not). `models` limits which model files use them (`None`: all).
    pub fn with_rpc(mut self, endpoints: &[String], models: Option<Vec<PathBuf>>) -> Result<Self> {
        if endpoints.is_empty() {
            return Ok(self);
        }
        let workers = crate::rpc::attach(endpoints)?;
        self.rpc_devices = workers
            .iter()
            .flat_map(|w| w.device_indices.iter().copied())
            .collect();
        self.rpc_models = models;
        Ok(self)
    }

    /// The rpc worker devices a model at `path` spans (empty without `--rpc`).
    fn rpc_devices_for(&self, path: &Path) -> &[usize] {
        match &self.rpc_models {
            Some(paths) if !paths.iter().any(|p| p == path) => &[],
            _ => &self.rpc_devices,
        }
    }

    /// The backend asked for.
    pub fn gpu_backend(&self) -> GpuBackend {
        self.selected
    }

    /// The GPU models are placed on (`None`: CPU only).
    pub fn selected_gpu(&self) -> Option<&DeviceInfo> {
        self.gpu.as_ref().map(|(_, d)| d)
    }

    /// Loads a model and returns the llama.cpp type itself (for [`crate::bench`]).
    pub fn load_llama(
        &self,
        path: &Path,
        options: &ModelOptions,
    ) -> Result<Arc<model::LlamaLoaded>> {
        let gpus: Vec<(usize, &DeviceInfo)> = self.gpus.iter().map(|(i, d)| (*i, d)).collect();
        let loaded = model::load(
            Arc::clone(&self.backend),
            path,
            options,
            &gpus,
            self.rpc_devices_for(path),
        )?;
        Ok(Arc::new(loaded))
    }

    /// The directory the backend modules were loaded from.
    pub fn backends_dir(&self) -> &Path {
        &self.dir
    }

    /// The GPU models go to, if any (its ggml name, e.g. `CUDA0`).
    pub fn gpu_device(&self) -> Option<DeviceInfo> {
        self.gpu.as_ref().map(|(_, d)| d.clone())
    }

    /// Every GPU of the chosen backend, in device order (empty on the CPU).
    pub fn gpu_devices(&self) -> Vec<DeviceInfo> {
        self.gpus.iter().map(|(_, d)| d.clone()).collect()
    }
}

/// Every device ggml sees, with its index.
fn indexed_devices() -> Vec<(usize, DeviceInfo)> {
    list_llama_ggml_backend_devices()
        .into_iter()
        .map(|d| (d.index, device_info(d)))
        .collect()
}

fn is_gpu(d: &DeviceInfo) -> bool {
    d.kind == "gpu" || d.kind == "igpu"
}

/// The device `choice` picks: `Some(None)` for the CPU, `Some(Some(gpu))`, or `None` when the
/// asked backend has no device.
fn select_gpu(
    devices: &[(usize, DeviceInfo)],
    choice: GpuBackend,
) -> Option<Option<(usize, DeviceInfo)>> {
    match choice {
        GpuBackend::Cpu => Some(None),
        GpuBackend::Auto => Some(
            devices
                .iter()
                .find(|(_, d)| d.kind == "gpu")
                .or_else(|| devices.iter().find(|(_, d)| is_gpu(d)))
                .cloned(),
        ),
        GpuBackend::Cuda | GpuBackend::Vulkan => {
            let want = choice.registry_name().unwrap_or_default();
            devices
                .iter()
                .find(|(_, d)| is_gpu(d) && d.backend.eq_ignore_ascii_case(want))
                .cloned()
                .map(Some)
        }
    }
}

/// What is available, as `--gpu-backend` values with their devices.
pub(crate) fn available_summary(devices: &[(usize, DeviceInfo)]) -> String {
    let mut parts = vec!["auto".to_string()];
    for (_, d) in devices {
        let value = match d.backend.to_ascii_lowercase().as_str() {
            "cpu" if d.kind == "cpu" => "cpu".to_string(),
            "cuda" => "cuda".to_string(),
            "vulkan" => "vulkan".to_string(),
            other => other.to_string(),
        };
        parts.push(format!("{value} ({}: {})", d.name, d.description));
    }
    parts.join(", ")
}

/// Why `choice` has no device, and what to do.
fn explain_missing(
    choice: GpuBackend,
    devices: &[(usize, DeviceInfo)],
    dir: &Path,
    load_problems: &[String],
) -> String {
    let want = choice.registry_name().unwrap_or_default();
    let module = choice.module_file().unwrap_or_default();
    let available = available_summary(devices);
    let module_path = dir.join(module);
    let reason = if !module_path.exists() {
        let how = if choice == GpuBackend::Cuda {
            "build it with .ci/build-cuda-backend and put it there (docs/gpu.md)"
        } else {
            "build it from the vendored ggml with -DGGML_VULKAN=ON and put it there"
        };
        format!(
            "there is no {module} in the backends dir {}; {how}",
            dir.display()
        )
    } else {
        // SAFETY: plain registry lookup by a NUL-terminated name.
        let reg = std::ffi::CString::new(want)
            .ok()
            .map(|name| unsafe { llama_cpp_sys_2::ggml_backend_reg_by_name(name.as_ptr()) })
            .filter(|reg| !reg.is_null());
        let problems: Vec<&String> = load_problems
            .iter()
            .filter(|p| {
                p.contains(module) || p.to_ascii_lowercase().contains(&want.to_ascii_lowercase())
            })
            .collect();
        let quoted = if problems.is_empty() {
            String::new()
        } else {
            format!(
                " (ggml said: {})",
                problems
                    .iter()
                    .map(|p| p.as_str())
                    .collect::<Vec<_>>()
                    .join("; ")
            )
        };
        match (reg, choice) {
            (None, GpuBackend::Cuda) => format!(
                "{} is present but could not be loaded{quoted}: its CUDA runtime libraries \
                 (libcudart.so, libcublas.so, libcublasLt.so) or the driver's libcuda.so.1 are \
                 probably missing; `ldd {}` shows which, add the CUDA toolkit's lib64 to \
                 LD_LIBRARY_PATH or install the NVIDIA driver",
                module_path.display(),
                module_path.display()
            ),
            (None, _) => format!(
                "{} is present but could not be loaded{quoted}; `ldd {}` shows missing libraries",
                module_path.display(),
                module_path.display()
            ),
            (Some(_), GpuBackend::Cuda) => format!(
                "the CUDA backend loaded but found no GPU{quoted}: no NVIDIA driver, or no \
                 device visible to this process (check `nvidia-smi` and CUDA_VISIBLE_DEVICES)"
            ),
            (Some(_), _) => format!("the {want} backend loaded but found no GPU{quoted}"),
        }
    };
    format!("--gpu-backend {choice}: no {want} device: {reason}. Available: {available}")
}

fn device_info(d: llama_cpp_2::LlamaBackendDevice) -> DeviceInfo {
    // Worker devices are described by the relay's loopback address; show the worker's.
    let description = crate::rpc::device_label(d.index).unwrap_or(d.description);
    DeviceInfo {
        name: d.name,
        description,
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
    }
}

fn init_runtime(backends_dir: Option<&Path>) -> Result<Runtime> {
    let dir = libraries::resolve_dir(backends_dir)?;
    let excluded = libraries::excluded_cpu_variants();
    let loaded_from = libraries::staged_dir(&dir, &excluded)?;
    if loaded_from != dir {
        tracing::info!(
            "CPU variants {} excluded ({}); loading the modules from {}",
            excluded.join(", "),
            libraries::CPU_EXCLUDE_ENV,
            loaded_from.display()
        );
    }
    logging::clear_recent_problems();
    llama_cpp_2::llama_backend::load_backends_from_path(&loaded_from);
    let load_problems = logging::take_recent_problems();
    // SAFETY: plain query of ggml's device registry.
    if unsafe { llama_cpp_sys_2::ggml_backend_dev_count() } == 0 {
        return Err(Error::BackendInit(format!(
            "no usable ggml backend in {} (the CPU modules there could not be loaded: {})",
            dir.display(),
            load_problems.join("; ")
        )));
    }
    let backend = LlamaBackend::init().map_err(|e| Error::BackendInit(e.to_string()))?;
    Ok(Runtime {
        backend: Arc::new(backend),
        dir,
        loaded_from,
        load_problems,
    })
}

impl Backend for LlamaEngine {
    fn name(&self) -> &str {
        "llama.cpp"
    }

    fn devices(&self) -> Vec<DeviceInfo> {
        list_llama_ggml_backend_devices()
            .into_iter()
            .map(device_info)
            .collect()
    }

    fn libraries(&self) -> Vec<PathBuf> {
        // The modules actually offered to ggml (without excluded CPU variants).
        libraries::modules_in(&self.loaded_from)
            .into_iter()
            .map(|m| m.file_name().map_or(m.clone(), |n| self.dir.join(n)))
            .collect()
    }

    fn load(&self, path: &Path, options: &ModelOptions) -> Result<Arc<dyn LoadedModel>> {
        let loaded: Arc<dyn LoadedModel> = self.load_llama(path, options)?;
        Ok(loaded)
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
