//! The worker side: serving local ggml devices to heads over ggml's RPC protocol.

use std::ffi::{c_char, c_void, CString};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream, ToSocketAddrs};
use std::path::PathBuf;

use shimmy_core::{Error, Result};

use super::{proc_address, protocol, rpc_registry};

/// `ggml_backend_rpc_start_server(endpoint, cache_dir, n_threads, n_devices, devices)`.
type StartServerFn = unsafe extern "C" fn(
    *const c_char,
    *const c_char,
    usize,
    usize,
    *mut llama_cpp_sys_2::ggml_backend_dev_t,
);

/// What `shimmy-host rpc-worker` serves.
#[derive(Debug, Clone)]
pub struct WorkerOptions {
    /// Where to listen, `HOST:PORT`.
    pub bind: String,
    /// ggml device names to serve (`CPU`, `CUDA0`); empty: the CPU.
    pub devices: Vec<String>,
    /// CPU threads for the CPU device.
    pub threads: usize,
    /// Memory to report to heads, in MiB (`None`: the device's own figures). llama.cpp
    /// splits layers in proportion to the free memory devices report.
    pub mem_mb: Option<u64>,
    /// Folder where ggml caches large tensors by hash (heads then skip resending them).
    pub cache_dir: Option<PathBuf>,
}

/// Whether `bind` listens only on this machine.
pub fn is_loopback(bind: &str) -> bool {
    bind.to_socket_addrs()
        .map(|mut addrs| addrs.all(|a: SocketAddr| a.ip().is_loopback()))
        .unwrap_or(false)
}

/// Checks the options, then runs ggml's RPC server; returns only when it could not start.
pub fn serve(options: &WorkerOptions) -> Result<()> {
    let reg = rpc_registry()?;
    let start = proc_address(reg, "ggml_backend_rpc_start_server")?;
    // SAFETY: the documented signature of ggml_backend_rpc_start_server in ggml-rpc.h.
    let start: StartServerFn = unsafe { std::mem::transmute::<*mut c_void, StartServerFn>(start) };
    let mut devices = select_devices(&options.devices)?;
    if let Some(dir) = &options.cache_dir {
        std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
    }
    // ggml prints only "Failed to create server socket"; say why first.
    drop(TcpListener::bind(&options.bind).map_err(|e| {
        Error::InvalidOption(format!(
            "--bind {}: cannot listen there ({e}); pick a free port (ggml's default is {})",
            options.bind,
            super::DEFAULT_PORT
        ))
    })?);
    // With --mem, ggml listens on a loopback port and a small proxy on --bind rewrites the
    // memory the devices report (ggml's server has no such option).
    let listen = match options.mem_mb {
        Some(_) => {
            let port = TcpListener::bind("127.0.0.1:0")
                .and_then(|l| l.local_addr())
                .map_err(|e| Error::BackendInit(format!("no loopback port for ggml: {e}")))?
                .port();
            format!("127.0.0.1:{port}")
        }
        None => options.bind.clone(),
    };
    if let Some(mb) = options.mem_mb {
        let front = TcpListener::bind(&options.bind).map_err(|e| {
            Error::InvalidOption(format!(
                "--bind {}: cannot listen there ({e})",
                options.bind
            ))
        })?;
        let inner = listen.clone();
        let cap = mb.saturating_mul(1024 * 1024);
        std::thread::Builder::new()
            .name("rpc-mem-proxy".into())
            .spawn(move || {
                for client in front.incoming().flatten() {
                    let inner = inner.clone();
                    let _ = std::thread::Builder::new()
                        .name("rpc-mem-link".into())
                        .spawn(move || {
                            if let Err(e) = memory_capping_proxy(client, &inner, cap) {
                                tracing::debug!("rpc-worker connection ended: {e}");
                            }
                        });
                }
            })
            .map_err(|e| Error::BackendInit(format!("starting the --mem proxy: {e}")))?;
        println!(
            "rpc-worker: offering {mb} MiB per device on {} (ggml listens on {listen})",
            options.bind
        );
    }
    let endpoint =
        CString::new(listen).map_err(|_| Error::InvalidOption("--bind holds a NUL byte".into()))?;
    let cache = options
        .cache_dir
        .as_ref()
        .map(|d| CString::new(d.to_string_lossy().into_owned()).unwrap_or_default());
    // SAFETY: NUL-terminated strings and a device array that outlive the call; the server
    // only returns when it cannot start or accept.
    unsafe {
        start(
            endpoint.as_ptr(),
            cache.as_ref().map_or(std::ptr::null(), |c| c.as_ptr()),
            options.threads.max(1),
            devices.len(),
            devices.as_mut_ptr(),
        );
    }
    Err(Error::BackendInit(format!(
        "the ggml RPC server on {} stopped (see its messages above)",
        options.bind
    )))
}

/// Relays one head connection to ggml's server on `inner`, capping the free and total memory
/// in GET_DEVICE_MEMORY answers at `cap` bytes.
fn memory_capping_proxy(mut client: TcpStream, inner: &str, cap: u64) -> std::io::Result<()> {
    client.set_nodelay(true)?;
    let mut server = super::relay::connect(inner)?;
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let mut header = [0u8; 9];
        client.read_exact(&mut header)?;
        let command = header[0];
        let size = u64::from_le_bytes(header[1..].try_into().unwrap_or_default());
        server.write_all(&header)?;
        let mut request = Vec::new();
        let mut left = size;
        while left > 0 {
            let n = left.min(buf.len() as u64) as usize;
            client.read_exact(&mut buf[..n])?;
            server.write_all(&buf[..n])?;
            if request.len() < 4096 {
                request.extend_from_slice(&buf[..n.min(4096)]);
            }
            left -= n as u64;
        }
        if protocol::answer_size(command, &request).is_none() {
            continue;
        }
        let answer_size = protocol::read_u64(&mut server)?;
        client.write_all(&answer_size.to_le_bytes())?;
        if command == protocol::cmd::GET_DEVICE_MEMORY && answer_size == 16 {
            let free = protocol::read_u64(&mut server)?.min(cap);
            let total = protocol::read_u64(&mut server)?.min(cap);
            client.write_all(&free.to_le_bytes())?;
            client.write_all(&total.to_le_bytes())?;
            continue;
        }
        let mut left = answer_size;
        while left > 0 {
            let n = left.min(buf.len() as u64) as usize;
            server.read_exact(&mut buf[..n])?;
            client.write_all(&buf[..n])?;
            left -= n as u64;
        }
    }
}

/// The ggml devices named (the CPU when none is), with the list of what exists when a name
/// is unknown.
fn select_devices(names: &[String]) -> Result<Vec<llama_cpp_sys_2::ggml_backend_dev_t>> {
    // SAFETY: plain queries of ggml's device registry.
    unsafe {
        if names.is_empty() {
            let cpu = llama_cpp_sys_2::ggml_backend_dev_by_type(
                llama_cpp_sys_2::GGML_BACKEND_DEVICE_TYPE_CPU,
            );
            if cpu.is_null() {
                return Err(Error::BackendInit("ggml has no CPU device".into()));
            }
            return Ok(vec![cpu]);
        }
        let mut out = Vec::new();
        for name in names {
            let cname = CString::new(name.as_str()).unwrap_or_default();
            let dev = llama_cpp_sys_2::ggml_backend_dev_by_name(cname.as_ptr());
            if dev.is_null() {
                let known: Vec<String> = (0..llama_cpp_sys_2::ggml_backend_dev_count())
                    .map(|i| {
                        let d = llama_cpp_sys_2::ggml_backend_dev_get(i);
                        std::ffi::CStr::from_ptr(llama_cpp_sys_2::ggml_backend_dev_name(d))
                            .to_string_lossy()
                            .into_owned()
                    })
                    .collect();
                return Err(Error::InvalidOption(format!(
                    "--device {name}: no such ggml device; this machine has: {} (see `shimmy-host \
                     gpu-info`)",
                    known.join(", ")
                )));
            }
            out.push(dev);
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_binds_are_told_apart() {
        assert!(is_loopback("127.0.0.1:50052"));
        assert!(is_loopback("[::1]:50052"));
        assert!(!is_loopback("0.0.0.0:50052"));
        assert!(!is_loopback("192.168.1.20:50052"));
    }
}
