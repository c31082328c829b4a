//! Writing to stdout without dying when the reader goes away.
//!
//! The process keeps SIGPIPE ignored (Rust's default), because `serve` and `bench-serve` write
//! to sockets: with SIGPIPE at its default, a write to a client that has already reset its
//! connection kills the whole server. With SIGPIPE ignored, a closed stdout shows up as an
//! `EPIPE` write error instead, which `std`'s `println!` turns into a panic. The crate's own
//! [`println!`](crate::println) and [`print!`](crate::print) (defined in `main.rs`, shadowing
//! std's in every module) write through [`write`], which ends the process quietly and
//! successfully when stdout is a closed pipe (`shimmy-host list | head`), as Unix tools do.

use std::fmt;
use std::io::{ErrorKind, Write};

/// Writes `args` (and a newline when `newline`) to stdout. A closed pipe exits the process
/// with status 0 and no message; any other write error exits with status 1 and a message.
pub fn write(args: fmt::Arguments<'_>, newline: bool) {
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    let result = out.write_fmt(args).and_then(|()| {
        if newline {
            out.write_all(b"\n")
        } else {
            Ok(())
        }
    });
    if let Err(err) = result {
        exit_on_write_error(&err);
    }
}

/// Ends the process after a failed write to stdout: quietly (status 0) for a closed pipe,
/// with a message (status 1) otherwise.
pub fn exit_on_write_error(err: &std::io::Error) -> ! {
    if err.kind() == ErrorKind::BrokenPipe {
        std::process::exit(0);
    }
    eprintln!("error: writing to stdout: {err}");
    std::process::exit(1);
}
