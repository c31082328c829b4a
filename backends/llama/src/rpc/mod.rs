//! One model across several machines over ggml's RPC backend (`libggml-rpc.so`, built from
//! the vendored ggml by build.rs and loaded like the other backend modules).
//!
//! * [`serve`]: the worker side (`shimmy-host rpc-worker`), ggml's
//!   `ggml_backend_rpc_start_server` through the backend registry.
//! * [`attach`]: the head side (`--rpc HOST:PORT,...`): checks every worker (reachable, same
//!   protocol version), then adds each as ggml devices (`ggml_backend_rpc_add_server`) behind
//!   a loopback [`relay`], so a worker that dies fails requests, not the process.
//! * [`devices`], [`health`]: what models put layers on and whether those workers still answer.
//!
//! The device list lives here, apart from the placement code, so a multi-device planner can
//! take it as one more input.

pub mod protocol;
mod relay;
mod worker;

use std::ffi::{c_char, c_void, CString};
use std::sync::{Arc, Mutex, OnceLock, PoisonError};

use shimmy_core::{Error, Result};

pub use relay::{Link, Traffic};
pub use worker::{is_loopback, serve, WorkerOptions};

use relay::Relay;

/// ggml's default RPC port.
pub const DEFAULT_PORT: u16 = 50052;

/// `ggml_backend_rpc_add_server(endpoint)`.
type AddServerFn = unsafe extern "C" fn(*const c_char) -> llama_cpp_sys_2::ggml_backend_reg_t;

/// A worker the head uses, with the ggml devices it serves.
#[derive(Debug)]
pub struct Worker {
    /// `HOST:PORT` as given on the command line.
    pub endpoint: String,
    /// The protocol version it answered with.
    pub version: (u8, u8, u8),
    /// Global ggml device indices of its devices (`RPC0`, `RPC1`, ...).
    pub device_indices: Vec<usize>,
    relay: Relay,
}

impl Worker {
    /// Bytes through this worker's relay since the head started.
    pub fn traffic(&self) -> &Traffic {
        &self.relay.traffic
    }

    /// The loopback address ggml connects to for this worker (`127.0.0.1:PORT`), which ggml
    /// shows in device descriptions and buffer names.
    pub fn relay_endpoint(&self) -> String {
        self.relay.local.to_string()
    }
}

/// The workers attached in this process (once: ggml's device registry only grows).
static WORKERS: OnceLock<Vec<Worker>> = OnceLock::new();
/// Serialises [`attach`].
static ATTACH: Mutex<()> = Mutex::new(());

/// Splits `HOST:PORT[,HOST:PORT...]` lists (repeatable flag values) into endpoints, checking
/// each has a host and a port.
pub fn parse_endpoints(values: &[String]) -> Result<Vec<String>> {
    let mut out = Vec::new();
    for part in values.iter().flat_map(|v| v.split(',')) {
        let part = part.trim();
        if part.is_empty() {
            continue;
        }
        let valid = part.rsplit_once(':').is_some_and(|(host, port)| {
            !host.is_empty() && port.parse::<u16>().is_ok_and(|p| p > 0)
        });
        if !valid {
            return Err(Error::InvalidOption(format!(
                "--rpc {part:?}: expected HOST:PORT (e.g. 192.168.1.20:{DEFAULT_PORT})"
            )));
        }
        if !out.iter().any(|e| e == part) {
            out.push(part.to_string());
        }
    }
    Ok(out)
}

/// What a reachable worker said.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorkerCheck {
    /// Its protocol version.
    pub version: (u8, u8, u8),
    /// (free, total) memory of each device it serves.
    pub devices: Vec<(u64, u64)>,
}

/// Connects to a worker, says HELLO and lists its devices; a clear error naming it when it
/// is down, is not a ggml RPC server, or speaks another protocol version.
///
/// A worker serves one client at a time: while another head (or this one's loaded model) is
/// connected, this waits up to the read timeout and then reports the worker busy.
pub fn check_worker(endpoint: &str) -> Result<WorkerCheck> {
    let down = |what: String| Error::RpcWorker {
        endpoint: endpoint.to_string(),
        problem: format!(
            "{what}; start it there with `shimmy-host rpc-worker --bind {endpoint}` (or \
             llama.cpp's rpc-server), or drop it from --rpc"
        ),
    };
    let mut stream =
        relay::connect(endpoint).map_err(|e| down(format!("is not reachable ({e})")))?;
    let _ = stream.set_read_timeout(Some(relay::CONNECT_TIMEOUT));
    let _ = stream.set_write_timeout(Some(relay::CONNECT_TIMEOUT));
    let hello = protocol::hello(&mut stream).map_err(|e| match e.kind() {
        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut => down(format!(
            "accepted the connection but did not answer HELLO within {}s: it serves one client \
             at a time and another head is probably connected to it",
            relay::CONNECT_TIMEOUT.as_secs()
        )),
        std::io::ErrorKind::UnexpectedEof | std::io::ErrorKind::ConnectionReset => down(format!(
            "closed the connection during the handshake ({e}): it probably speaks an older ggml \
             RPC protocol than v{}.{}.{} (its log says \"HELLO request size mismatch\"); run the \
             same shimmy-host version (or a rpc-server from the same llama.cpp) on both sides",
            protocol::PROTO_VERSION.0,
            protocol::PROTO_VERSION.1,
            protocol::PROTO_VERSION.2
        )),
        _ => down(format!("did not complete the ggml RPC handshake ({e})")),
    })?;
    if !hello.compatible() {
        let (a, b, c) = hello.version;
        let (x, y, z) = protocol::PROTO_VERSION;
        return Err(Error::RpcWorker {
            endpoint: endpoint.to_string(),
            problem: format!(
                "speaks ggml RPC protocol v{a}.{b}.{c}, this head v{x}.{y}.{z}: the major \
                 versions must match and the worker's minor may not be newer; run the same \
                 shimmy-host version (same llama-cpp-sys-2, hence the same ggml) on the head \
                 and every worker"
            ),
        });
    }
    let count = protocol::device_count(&mut stream)
        .map_err(|e| down(format!("failed to list its devices ({e})")))?;
    let mut devices = Vec::new();
    for d in 0..count {
        devices.push(
            protocol::device_memory(&mut stream, d)
                .map_err(|e| down(format!("failed to report device {d}'s memory ({e})")))?,
        );
    }
    if devices.is_empty() {
        return Err(down("serves no device".into()));
    }
    Ok(WorkerCheck {
        version: hello.version,
        devices,
    })
}

/// The ggml RPC backend's registry entry (the module must be loaded).
pub(crate) fn rpc_registry() -> Result<llama_cpp_sys_2::ggml_backend_reg_t> {
    let name = CString::new("RPC").unwrap_or_default();
    // SAFETY: registry lookup by a NUL-terminated name.
    let reg = unsafe { llama_cpp_sys_2::ggml_backend_reg_by_name(name.as_ptr()) };
    if reg.is_null() {
        return Err(Error::BackendInit(
            "the ggml RPC backend is not loaded: libggml-rpc.so is missing from the backends \
             directory (build.rs of shimmy-backend-llama builds it next to the binary; copy it \
             with the other libggml-*.so files, see docs/scale-out.md)"
                .into(),
        ));
    }
    Ok(reg)
}

/// A function the RPC backend exports through its registry.
pub(crate) fn proc_address(
    reg: llama_cpp_sys_2::ggml_backend_reg_t,
    name: &str,
) -> Result<*mut c_void> {
    let cname = CString::new(name).unwrap_or_default();
    // SAFETY: `reg` is a live registry entry; the name is NUL-terminated.
    let f = unsafe { llama_cpp_sys_2::ggml_backend_reg_get_proc_address(reg, cname.as_ptr()) };
    if f.is_null() {
        return Err(Error::BackendInit(format!(
            "libggml-rpc.so does not export {name}; it was built from another ggml than this \
             binary's (rebuild shimmy-host so build.rs rebuilds it)"
        )));
    }
    Ok(f)
}

/// Checks every worker and adds their devices to ggml (once per process; the backend modules
/// must be loaded, see [`crate::LlamaEngine::new`]). A second call must name the same list.
pub fn attach(endpoints: &[String]) -> Result<&'static [Worker]> {
    let _guard = ATTACH.lock().unwrap_or_else(PoisonError::into_inner);
    if let Some(workers) = WORKERS.get() {
        let same = workers.len() == endpoints.len()
            && workers.iter().zip(endpoints).all(|(w, e)| &w.endpoint == e);
        if !same {
            return Err(Error::InvalidOption(
                "the rpc workers of a process are fixed at startup".into(),
            ));
        }
        return Ok(workers);
    }
    if endpoints.len() > 16 {
        return Err(Error::InvalidOption(format!(
            "--rpc names {} workers; ggml supports at most 16",
            endpoints.len()
        )));
    }
    let reg = rpc_registry()?;
    // SAFETY: the documented signature of ggml_backend_rpc_add_server in ggml-rpc.h.
    let add_server: AddServerFn = unsafe {
        std::mem::transmute::<*mut c_void, AddServerFn>(proc_address(
            reg,
            "ggml_backend_rpc_add_server",
        )?)
    };
    let mut workers = Vec::new();
    for endpoint in endpoints {
        let check = check_worker(endpoint)?;
        let relay = Relay::start(endpoint).map_err(|e| {
            Error::BackendInit(format!("starting the loopback relay for {endpoint}: {e}"))
        })?;
        let local = CString::new(relay.local.to_string()).unwrap_or_default();
        // SAFETY: plain calls into ggml's registry with a NUL-terminated endpoint; the relay
        // answers the handshake (the worker was checked just above).
        let device_indices = unsafe {
            let before = llama_cpp_sys_2::ggml_backend_dev_count();
            let server_reg = add_server(local.as_ptr());
            if server_reg.is_null() {
                return Err(Error::BackendInit(format!(
                    "ggml could not add the rpc worker {endpoint}"
                )));
            }
            llama_cpp_sys_2::ggml_backend_register(server_reg);
            let after = llama_cpp_sys_2::ggml_backend_dev_count();
            (before..after).collect::<Vec<usize>>()
        };
        if let Some(lost) = relay.current_link().and_then(|l| l.lost()) {
            return Err(Error::RpcWorker {
                endpoint: endpoint.clone(),
                problem: format!("{lost} while ggml listed its devices"),
            });
        }
        tracing::info!(
            "rpc worker {endpoint}: protocol v{}.{}.{}, {} device(s)",
            check.version.0,
            check.version.1,
            check.version.2,
            device_indices.len()
        );
        workers.push(Worker {
            endpoint: endpoint.clone(),
            version: check.version,
            device_indices,
            relay,
        });
    }
    Ok(WORKERS.get_or_init(|| workers))
}

/// The attached workers (empty without `--rpc`).
pub fn workers() -> &'static [Worker] {
    WORKERS.get().map(Vec::as_slice).unwrap_or(&[])
}

/// Global ggml device indices of every worker device, in `--rpc` order.
pub fn devices() -> Vec<usize> {
    workers()
        .iter()
        .flat_map(|w| w.device_indices.iter().copied())
        .collect()
}

/// How reports name a worker's device: `rpc HOST:PORT`, with `#N` when the worker serves
/// several (`local` is the device's index on the worker).
fn label(worker: &Worker, local: usize) -> String {
    if worker.device_indices.len() > 1 {
        format!("rpc {} #{local}", worker.endpoint)
    } else {
        format!("rpc {}", worker.endpoint)
    }
}

/// The report name of a ggml buffer on a worker (`RPC<d>[127.0.0.1:PORT]`: worker device `d`
/// behind the relay on PORT), `None` for other buffers.
pub fn buffer_label(buffer: &str) -> Option<String> {
    let (local, inside) = buffer.strip_prefix("RPC")?.split_once('[')?;
    let inside = inside.strip_suffix(']')?;
    let worker = workers().iter().find(|w| w.relay_endpoint() == inside)?;
    Some(label(worker, local.parse().ok()?))
}

/// The report name of the ggml device at global `index`, `None` when no worker serves it.
pub fn device_label(index: usize) -> Option<String> {
    workers().iter().find_map(|w| {
        let local = w.device_indices.iter().position(|&i| i == index)?;
        Some(label(w, local))
    })
}

/// The links a loaded model uses (one per worker), taken right after its load.
#[derive(Debug, Default, Clone)]
pub struct ModelLinks {
    links: Vec<(String, Option<Arc<Link>>)>,
}

impl ModelLinks {
    /// The current link of every worker.
    pub fn capture() -> Self {
        ModelLinks {
            links: workers()
                .iter()
                .map(|w| (w.endpoint.clone(), w.relay.current_link()))
                .collect(),
        }
    }

    /// `Err` naming the first worker whose connection failed.
    pub fn health(&self) -> Result<()> {
        for (endpoint, link) in &self.links {
            let lost = match link {
                Some(link) => link.lost(),
                None => Some("never connected".to_string()),
            };
            if let Some(reason) = lost {
                return Err(Error::RpcWorker {
                    endpoint: endpoint.clone(),
                    problem: format!(
                        "was lost ({reason}); the model is unavailable until the worker is back \
                         (the server then reloads it)"
                    ),
                });
            }
        }
        Ok(())
    }

    /// Whether the model uses any worker.
    pub fn is_empty(&self) -> bool {
        self.links.is_empty()
    }
}

/// `Ok` when every worker answers: a live connection (a loaded model uses it), else a fresh
/// handshake (a worker serves one client at a time, so one in use is never probed).
pub fn check_all() -> Result<()> {
    for w in workers() {
        if w.relay.current_link().is_some_and(|l| l.is_live()) {
            continue;
        }
        check_worker(&w.endpoint)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints_are_split_checked_and_deduplicated() {
        let got = parse_endpoints(&["a:1, b:2".into(), "a:1".into(), "[::1]:3".into()]).unwrap();
        assert_eq!(got, ["a:1", "b:2", "[::1]:3"]);
        for bad in ["host", ":50052", "host:0", "host:http"] {
            let err = parse_endpoints(&[bad.into()]).unwrap_err();
            assert!(err.to_string().contains("HOST:PORT"), "{bad}: {err}");
        }
    }

    #[test]
    fn a_closed_port_is_a_clear_error_naming_the_worker() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        drop(listener);
        let err = check_worker(&addr).unwrap_err().to_string();
        assert!(
            err.contains(&addr) && err.contains("not reachable"),
            "{err}"
        );
    }

    #[test]
    fn a_worker_closing_the_handshake_is_explained_as_a_version_mismatch() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        let t = std::thread::spawn(move || {
            // An old server reads the HELLO and hangs up (its size check fails).
            let (mut s, _) = listener.accept().unwrap();
            let mut b = [0u8; 9];
            std::io::Read::read_exact(&mut s, &mut b).unwrap();
        });
        let err = check_worker(&addr).unwrap_err().to_string();
        t.join().unwrap();
        assert!(err.contains("older ggml RPC protocol"), "{err}");
    }

    #[test]
    fn a_newer_protocol_is_refused_with_both_versions() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        let t = std::thread::spawn(move || {
            use std::io::{Read, Write};
            let (mut s, _) = listener.accept().unwrap();
            let mut b = [0u8; 9 + protocol::CONN_CAPS_SIZE];
            s.read_exact(&mut b).unwrap();
            let mut answer = 28u64.to_le_bytes().to_vec();
            answer.extend_from_slice(&[8, 0, 0, 0]);
            answer.extend_from_slice(&[0; protocol::CONN_CAPS_SIZE]);
            s.write_all(&answer).unwrap();
        });
        let err = check_worker(&addr).unwrap_err().to_string();
        t.join().unwrap();
        assert!(err.contains("v8.0.0") && err.contains("v7.0.0"), "{err}");
    }
}
