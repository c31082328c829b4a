//! The wire format of ggml's RPC protocol (v7, `ggml/src/ggml-rpc/ggml-rpc.cpp` of the
//! vendored ggml), as far as the relay and the worker checks need it.
//!
//! A request is `| command (1 byte) | size (u64 LE) | data (size bytes) |`; the commands that
//! answer send `| size (u64 LE) | data |` back. One connection carries one command at a time.

use std::io::{self, Read, Write};

/// The protocol version this build speaks (`RPC_PROTO_*_VERSION` in `ggml-rpc.h`).
pub const PROTO_VERSION: (u8, u8, u8) = (7, 0, 0);

/// `RPC_CMD_*` values (the `rpc_cmd` enum).
pub mod cmd {
    /// Allocate a buffer on a device.
    pub const ALLOC_BUFFER: u8 = 0;
    /// A device's buffer alignment.
    pub const GET_ALIGNMENT: u8 = 1;
    /// A device's largest buffer.
    pub const GET_MAX_SIZE: u8 = 2;
    /// A buffer's base address.
    pub const BUFFER_GET_BASE: u8 = 3;
    /// Free a buffer.
    pub const FREE_BUFFER: u8 = 4;
    /// Fill a buffer with a byte.
    pub const BUFFER_CLEAR: u8 = 5;
    /// Write tensor data.
    pub const SET_TENSOR: u8 = 6;
    /// Write tensor data the worker has cached by hash.
    pub const SET_TENSOR_HASH: u8 = 7;
    /// Read tensor data.
    pub const GET_TENSOR: u8 = 8;
    /// Copy a tensor on the worker.
    pub const COPY_TENSOR: u8 = 9;
    /// Run a graph.
    pub const GRAPH_COMPUTE: u8 = 10;
    /// A device's free and total memory.
    pub const GET_DEVICE_MEMORY: u8 = 11;
    /// Initialise a tensor.
    pub const INIT_TENSOR: u8 = 12;
    /// The bytes a tensor needs.
    pub const GET_ALLOC_SIZE: u8 = 13;
    /// The handshake (always 14).
    pub const HELLO: u8 = 14;
    /// How many devices the worker serves.
    pub const DEVICE_COUNT: u8 = 15;
    /// Run the stored graph again.
    pub const GRAPH_RECOMPUTE: u8 = 16;
    /// Fill part of a tensor with a byte.
    pub const MEMSET_TENSOR: u8 = 17;
    /// The number of commands.
    pub const COUNT: u8 = 19;
}

/// Bytes of the capability field in the HELLO request and answer (`RPC_CONN_CAPS_SIZE`).
pub const CONN_CAPS_SIZE: usize = 24;
/// Bytes of a serialised tensor (`rpc_tensor`, packed).
pub const TENSOR_SIZE: usize = 296;

/// The size of the answer `command` gets, given its request data; `None` when the command
/// has no answer. For `GET_TENSOR` the answer is as long as the bytes asked for.
pub fn answer_size(command: u8, request: &[u8]) -> Option<u64> {
    match command {
        cmd::ALLOC_BUFFER | cmd::GET_DEVICE_MEMORY => Some(16),
        cmd::GET_ALIGNMENT | cmd::GET_MAX_SIZE | cmd::BUFFER_GET_BASE | cmd::GET_ALLOC_SIZE => {
            Some(8)
        }
        cmd::SET_TENSOR_HASH | cmd::COPY_TENSOR => Some(1),
        cmd::HELLO => Some(4 + CONN_CAPS_SIZE as u64),
        cmd::DEVICE_COUNT => Some(4),
        // rpc_msg_get_tensor_req: tensor, offset (u64), size (u64).
        cmd::GET_TENSOR => request
            .get(TENSOR_SIZE + 8..TENSOR_SIZE + 16)
            .map(|b| u64::from_le_bytes(b.try_into().unwrap_or_default())),
        _ => None,
    }
}

/// Commands whose request data the relay keeps in memory (small, fixed-size structs, or a
/// `GET_TENSOR` request whose answer size it must know). Large ones (`SET_TENSOR`,
/// `GRAPH_COMPUTE`) are streamed through.
pub fn request_is_small(command: u8, size: u64) -> bool {
    !matches!(command, cmd::SET_TENSOR | cmd::GRAPH_COMPUTE) || size <= 4096
}

/// Writes a request header.
pub fn write_header(w: &mut impl Write, command: u8, size: u64) -> io::Result<()> {
    let mut header = [0u8; 9];
    header[0] = command;
    header[1..].copy_from_slice(&size.to_le_bytes());
    w.write_all(&header)
}

/// Reads a little-endian u64.
pub fn read_u64(r: &mut impl Read) -> io::Result<u64> {
    let mut b = [0u8; 8];
    r.read_exact(&mut b)?;
    Ok(u64::from_le_bytes(b))
}

/// What a worker said in its HELLO answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Hello {
    /// Protocol version (major, minor, patch).
    pub version: (u8, u8, u8),
}

impl Hello {
    /// Whether this build can talk to the worker: same major, minor not newer (the rule of
    /// `negotiate_hello` in ggml-rpc.cpp).
    pub fn compatible(&self) -> bool {
        self.version.0 == PROTO_VERSION.0 && self.version.1 <= PROTO_VERSION.1
    }
}

/// Sends HELLO (without transport capabilities: plain TCP) and reads the answer.
pub fn hello(stream: &mut (impl Read + Write)) -> io::Result<Hello> {
    write_header(stream, cmd::HELLO, CONN_CAPS_SIZE as u64)?;
    stream.write_all(&[0u8; CONN_CAPS_SIZE])?;
    stream.flush()?;
    let size = read_u64(stream)?;
    if !(3..=1024).contains(&size) {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("HELLO answer of {size} bytes; is this a ggml rpc-server?"),
        ));
    }
    let mut answer = vec![0u8; size as usize];
    stream.read_exact(&mut answer)?;
    Ok(Hello {
        version: (answer[0], answer[1], answer[2]),
    })
}

/// Asks how many devices the worker serves.
pub fn device_count(stream: &mut (impl Read + Write)) -> io::Result<u32> {
    write_header(stream, cmd::DEVICE_COUNT, 0)?;
    stream.flush()?;
    let size = read_u64(stream)?;
    if size != 4 {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("DEVICE_COUNT answer of {size} bytes, expected 4"),
        ));
    }
    let mut b = [0u8; 4];
    stream.read_exact(&mut b)?;
    Ok(u32::from_le_bytes(b))
}

/// Asks for the free and total memory of one device.
pub fn device_memory(stream: &mut (impl Read + Write), device: u32) -> io::Result<(u64, u64)> {
    write_header(stream, cmd::GET_DEVICE_MEMORY, 4)?;
    stream.write_all(&device.to_le_bytes())?;
    stream.flush()?;
    let size = read_u64(stream)?;
    if size != 16 {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("GET_DEVICE_MEMORY answer of {size} bytes, expected 16"),
        ));
    }
    let free = read_u64(stream)?;
    let total = read_u64(stream)?;
    Ok((free, total))
}

/// A stand-in answer for `command` when the worker is gone: zeros, except what keeps
/// ggml's client from aborting (a non-zero buffer handle and base, "found"/"copied" flags,
/// this build's version for HELLO). The relay sends these only after it has recorded the
/// worker as lost, so nothing computed with them is ever returned.
pub fn stand_in_answer(command: u8, request: &[u8], size: u64, counter: u64) -> Vec<u8> {
    let mut out = vec![0u8; size as usize];
    match command {
        cmd::HELLO => {
            out[0] = PROTO_VERSION.0;
            out[1] = PROTO_VERSION.1;
            out[2] = PROTO_VERSION.2;
        }
        cmd::ALLOC_BUFFER => {
            // rpc_msg_alloc_buffer_req: device (u32), size (u64).
            let asked = request
                .get(4..12)
                .map(|b| u64::from_le_bytes(b.try_into().unwrap_or_default()))
                .unwrap_or(0);
            out[..8].copy_from_slice(&(0x1000 + counter * 0x1000).to_le_bytes());
            out[8..16].copy_from_slice(&asked.to_le_bytes());
        }
        cmd::BUFFER_GET_BASE => out.copy_from_slice(&0x1000u64.to_le_bytes()),
        cmd::GET_ALIGNMENT => out.copy_from_slice(&32u64.to_le_bytes()),
        cmd::GET_MAX_SIZE => out.copy_from_slice(&u64::MAX.to_le_bytes()),
        cmd::DEVICE_COUNT => out.copy_from_slice(&1u32.to_le_bytes()),
        cmd::SET_TENSOR_HASH | cmd::COPY_TENSOR => out[0] = 1,
        _ => {}
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answer_sizes_follow_the_protocol() {
        assert_eq!(answer_size(cmd::GRAPH_COMPUTE, &[]), None);
        assert_eq!(answer_size(cmd::SET_TENSOR, &[]), None);
        assert_eq!(answer_size(cmd::HELLO, &[0; 24]), Some(28));
        let mut get = vec![0u8; TENSOR_SIZE + 16];
        get[TENSOR_SIZE + 8..].copy_from_slice(&1234u64.to_le_bytes());
        assert_eq!(answer_size(cmd::GET_TENSOR, &get), Some(1234));
        assert_eq!(answer_size(cmd::GET_TENSOR, &[0; 3]), None);
    }

    #[test]
    fn version_rule_matches_ggml() {
        assert!(Hello { version: (7, 0, 0) }.compatible());
        assert!(Hello { version: (7, 0, 9) }.compatible());
        assert!(!Hello { version: (6, 0, 0) }.compatible());
        assert!(!Hello { version: (7, 1, 0) }.compatible());
    }

    #[test]
    fn stand_in_allocations_are_non_null() {
        let mut req = vec![0u8; 12];
        req[4..12].copy_from_slice(&4096u64.to_le_bytes());
        let a = stand_in_answer(cmd::ALLOC_BUFFER, &req, 16, 0);
        assert_ne!(u64::from_le_bytes(a[..8].try_into().unwrap()), 0);
        assert_eq!(u64::from_le_bytes(a[8..].try_into().unwrap()), 4096);
    }
}
