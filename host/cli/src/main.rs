//! The `shimmy-host` binary.

/// `println!` for this binary: writes through [`stdout::write`], so a closed stdout ends the
/// process quietly instead of panicking (see the `stdout` module). Shadows std's macro in
/// every module declared below.
macro_rules! println {
    () => {
        $crate::stdout::write(format_args!(""), true)
    };
    ($($arg:tt)*) => {
        $crate::stdout::write(format_args!($($arg)*), true)
    };
}

/// `print!` for this binary; see [`println!`].
macro_rules! print {
    ($($arg:tt)*) => {
        $crate::stdout::write(format_args!($($arg)*), false)
    };
}

mod stdout;

mod chat_file;
mod cli;
mod commands;
mod logging;
mod operator_config;
mod plugin_host;
mod progress;
mod report;

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    // SIGPIPE stays ignored (Rust's default): `serve` writes to sockets, and a client that
    // resets its connection must cost an EPIPE error, not the process. Closed stdouts are
    // handled by the crate's `println!` (see the `stdout` module).
    let cli = cli::Cli::parse();
    logging::init(cli.verbose);
    match commands::run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::FAILURE
        }
    }
}
