//! `shimmy-host rpc-worker`: serve this machine's devices to a head over ggml's RPC protocol.

use anyhow::Result;
use shimmy_backend_llama::rpc::{self, WorkerOptions};

use super::Context;
use crate::cli::RpcWorkerArgs;

/// Runs ggml's RPC server until the process is stopped.
pub fn run(ctx: &Context, args: RpcWorkerArgs) -> Result<()> {
    // Loads the backend modules (CPU variants, GPUs, libggml-rpc.so).
    let _engine = ctx.engine()?;
    if !rpc::is_loopback(&args.bind) {
        eprintln!(
            "warning: rpc-worker listens on {}: ggml RPC has no authentication and no \
             encryption; anyone who can reach this port can run computations on this machine's \
             devices and read what they hold. Keep it on a trusted network (a private LAN or a \
             VPN, firewalled to the head), see docs/scale-out.md",
            args.bind
        );
    }
    let threads = args.threads.unwrap_or_else(|| {
        std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(4)
    });
    let options = WorkerOptions {
        bind: args.bind,
        devices: args.device,
        threads,
        mem_mb: args.mem,
        cache_dir: args.cache,
    };
    rpc::serve(&options)?;
    Ok(())
}
