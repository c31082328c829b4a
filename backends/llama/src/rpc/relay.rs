//! A loopback relay between ggml's RPC client and one worker, so that a worker that dies
//! fails requests instead of the whole process.
//!
//! ggml's client aborts the process (`GGML_ABORT("Remote RPC server crashed...")`) when a
//! send or receive on a worker's socket fails, and ggml's abort callback cannot stop that.
//! So ggml never talks to a worker directly: it connects to this relay on 127.0.0.1, which
//! forwards every command to the worker and every answer back. When the worker's side fails
//! the relay records the worker as lost and answers the rest of that connection's commands
//! itself ([`protocol::stand_in_answer`]), so llama.cpp finishes its step and the host fails
//! the request with an error naming the worker ([`Link::lost`]).

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream, ToSocketAddrs};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use super::protocol::{self, cmd};

/// How long connecting to a worker may take.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// Chunk size for streaming large requests and answers.
const CHUNK: usize = 1 << 20;

/// One connection of ggml's client through the relay (ggml keeps one per worker while a
/// model is loaded).
#[derive(Debug, Default)]
pub struct Link {
    lost: Mutex<Option<String>>,
    /// Set when ggml closed the connection.
    closed: std::sync::atomic::AtomicBool,
}

impl Link {
    /// Why the worker's side of this connection failed, once it has.
    pub fn lost(&self) -> Option<String> {
        self.lost
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Whether ggml still uses this connection and the worker answers on it.
    pub fn is_live(&self) -> bool {
        !self.closed.load(Ordering::Relaxed) && self.lost().is_none()
    }

    fn mark_lost(&self, endpoint: &str, reason: String) {
        let mut lost = self.lost.lock().unwrap_or_else(PoisonError::into_inner);
        if lost.is_none() {
            tracing::error!("rpc worker {endpoint} lost: {reason}");
            *lost = Some(reason);
        }
    }
}

/// Bytes through a relay since it started.
#[derive(Debug, Default)]
pub struct Traffic {
    /// Bytes sent to the worker (command headers and data).
    pub sent: AtomicU64,
    /// Bytes the worker answered.
    pub received: AtomicU64,
}

/// A relay for one worker, listening on a loopback port.
#[derive(Debug)]
pub struct Relay {
    /// Where ggml connects (`127.0.0.1:PORT`).
    pub local: SocketAddr,
    /// The connection ggml opened last.
    current: Arc<Mutex<Option<Arc<Link>>>>,
    /// Bytes through the relay.
    pub traffic: Arc<Traffic>,
}

impl Relay {
    /// Starts the relay's accept thread.
    pub fn start(endpoint: &str) -> io::Result<Relay> {
        let listener = TcpListener::bind("127.0.0.1:0")?;
        let local = listener.local_addr()?;
        let current: Arc<Mutex<Option<Arc<Link>>>> = Arc::default();
        let traffic: Arc<Traffic> = Arc::default();
        let (accept_current, accept_traffic) = (current.clone(), traffic.clone());
        let worker = endpoint.to_string();
        std::thread::Builder::new()
            .name(format!("rpc-relay {endpoint}"))
            .spawn(move || {
                for client in listener.incoming() {
                    let Ok(client) = client else { continue };
                    let link = Arc::new(Link::default());
                    *accept_current
                        .lock()
                        .unwrap_or_else(PoisonError::into_inner) = Some(link.clone());
                    let (worker, traffic) = (worker.clone(), accept_traffic.clone());
                    let _ = std::thread::Builder::new()
                        .name(format!("rpc-link {worker}"))
                        .spawn(move || relay_connection(client, &worker, &link, &traffic));
                }
            })?;
        Ok(Relay {
            local,
            current,
            traffic,
        })
    }

    /// The connection ggml uses now, if it opened one.
    pub fn current_link(&self) -> Option<Arc<Link>> {
        self.current
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }
}

/// Connects to `endpoint` (any of its addresses) within [`CONNECT_TIMEOUT`].
pub fn connect(endpoint: &str) -> io::Result<TcpStream> {
    let mut last = io::Error::new(io::ErrorKind::NotFound, "no address");
    for addr in endpoint.to_socket_addrs()? {
        match TcpStream::connect_timeout(&addr, CONNECT_TIMEOUT) {
            Ok(stream) => {
                stream.set_nodelay(true)?;
                return Ok(stream);
            }
            Err(e) => last = e,
        }
    }
    Err(last)
}

/// The worker side of one relayed connection: `None` once it failed.
struct Upstream<'a> {
    stream: Option<TcpStream>,
    endpoint: &'a str,
    link: &'a Link,
    traffic: &'a Traffic,
}

impl Upstream<'_> {
    fn fail(&mut self, what: &str, err: &io::Error) {
        self.stream = None;
        self.link.mark_lost(self.endpoint, format!("{what}: {err}"));
    }

    fn send(&mut self, bytes: &[u8], command: u8) {
        if let Some(s) = self.stream.as_mut() {
            match s.write_all(bytes) {
                Ok(()) => {
                    self.traffic
                        .sent
                        .fetch_add(bytes.len() as u64, Ordering::Relaxed);
                }
                Err(e) => self.fail(&format!("failed while sending {}", name(command)), &e),
            }
        }
    }
}

/// Relays one connection until ggml closes it.
fn relay_connection(client: TcpStream, endpoint: &str, link: &Arc<Link>, traffic: &Traffic) {
    let mut up = Upstream {
        stream: None,
        endpoint,
        link,
        traffic,
    };
    relay_commands(client, &mut up, endpoint, link);
    // Closed by ggml: the watcher must not take the shutdown below for the worker leaving,
    // and the worker (which serves one connection at a time) must see the end.
    link.closed.store(true, Ordering::Relaxed);
    if let Some(stream) = up.stream.take() {
        let _ = stream.shutdown(std::net::Shutdown::Both);
    }
}

/// Relays commands until ggml closes the connection (or breaks its side).
fn relay_commands(mut client: TcpStream, up: &mut Upstream<'_>, endpoint: &str, link: &Arc<Link>) {
    let _ = client.set_nodelay(true);
    match connect(endpoint) {
        Ok(s) => {
            if let Ok(watch) = s.try_clone() {
                watch_for_hangup(watch, endpoint.to_string(), link);
            }
            up.stream = Some(s);
        }
        Err(e) => up.fail("could not be reached", &e),
    }
    let mut counter = 0u64;
    let mut buf = vec![0u8; CHUNK];
    loop {
        let mut header = [0u8; 9];
        if client.read_exact(&mut header).is_err() {
            return; // ggml closed the connection (model freed)
        }
        let command = header[0];
        let size = u64::from_le_bytes(header[1..].try_into().unwrap_or_default());
        if command >= protocol::cmd::COUNT {
            return;
        }
        let mut request = Vec::new();
        if protocol::request_is_small(command, size) {
            request.resize(size as usize, 0);
            if client.read_exact(&mut request).is_err() {
                return;
            }
            if command == cmd::HELLO {
                // Plain TCP through the relay: offer no transport upgrade.
                request.iter_mut().for_each(|b| *b = 0);
            }
            let mut frame = header.to_vec();
            frame.extend_from_slice(&request);
            up.send(&frame, command);
        } else {
            up.send(&header, command);
            let mut left = size;
            while left > 0 {
                let n = left.min(CHUNK as u64) as usize;
                if client.read_exact(&mut buf[..n]).is_err() {
                    return;
                }
                up.send(&buf[..n], command);
                left -= n as u64;
            }
        }
        let Some(expected) = protocol::answer_size(command, &request) else {
            continue;
        };
        if command == cmd::HELLO {
            // ggml aborts the process on a version it cannot speak: check it here first.
            check_hello(up);
        }
        if relay_answer(&mut client, up, command, expected, &mut buf).is_err() {
            return;
        }
        if up.stream.is_none() {
            counter += 1;
            let answer = protocol::stand_in_answer(command, &request, expected, counter);
            let mut frame = expected.to_le_bytes().to_vec();
            frame.extend_from_slice(&answer);
            if client.write_all(&frame).is_err() {
                return;
            }
        }
    }
}

/// Notices a worker that goes away while the connection is idle (a worker never speaks
/// unasked, so end-of-stream on a peek means it closed), so `/health` reports it at once.
fn watch_for_hangup(stream: TcpStream, endpoint: String, link: &Arc<Link>) {
    let link = Arc::clone(link);
    let _ = std::thread::Builder::new()
        .name(format!("rpc-watch {endpoint}"))
        .spawn(move || {
            let mut byte = [0u8; 1];
            while !link.closed.load(Ordering::Relaxed) && link.lost().is_none() {
                let result = stream.peek(&mut byte);
                if link.closed.load(Ordering::Relaxed) {
                    return;
                }
                match result {
                    Ok(0) => link.mark_lost(&endpoint, "closed the connection".into()),
                    Err(e) => link.mark_lost(&endpoint, format!("connection failed: {e}")),
                    // An answer waiting for the relay thread: look again shortly.
                    Ok(_) => std::thread::sleep(Duration::from_millis(50)),
                }
            }
        });
}

/// Reads the worker's HELLO answer; an incompatible version counts as a lost worker (the
/// caller then sends this build's version as a stand-in). A compatible answer is put back
/// for [`relay_answer`] by keeping the stream as is: only a peek is used.
fn check_hello(up: &mut Upstream<'_>) {
    let Some(stream) = up.stream.as_mut() else {
        return;
    };
    let mut answer = [0u8; 8 + 4];
    let mut got = 0;
    // The answer is tiny and comes at once; peek until its version bytes are there.
    for _ in 0..200 {
        match stream.peek(&mut answer) {
            Ok(n) if n >= answer.len() => {
                got = n;
                break;
            }
            Ok(0) | Err(_) => return, // relay_answer reports it
            Ok(_) => std::thread::sleep(Duration::from_millis(5)),
        }
    }
    if got < answer.len() {
        return;
    }
    let hello = protocol::Hello {
        version: (answer[8], answer[9], answer[10]),
    };
    if !hello.compatible() {
        let (a, b, c) = hello.version;
        let (x, y, z) = protocol::PROTO_VERSION;
        up.fail(
            "answered HELLO",
            &io::Error::new(
                io::ErrorKind::InvalidData,
                format!("it speaks ggml RPC protocol v{a}.{b}.{c}, this head v{x}.{y}.{z}"),
            ),
        );
    }
}

/// Forwards the worker's answer to a command. With the worker gone before the answer's
/// first byte, nothing is written (the caller sends a stand-in); gone in the middle, the rest
/// is padded with zeros. `Err` only when the client's side fails.
fn relay_answer(
    client: &mut TcpStream,
    up: &mut Upstream<'_>,
    command: u8,
    expected: u64,
    buf: &mut [u8],
) -> io::Result<()> {
    let Some(stream) = up.stream.as_mut() else {
        return Ok(());
    };
    let size = match protocol::read_u64(stream) {
        Ok(size) => size,
        Err(e) => {
            up.fail(&format!("failed while answering {}", name(command)), &e);
            return Ok(());
        }
    };
    if size != expected {
        up.fail(
            &format!("answered {} with {size} bytes", name(command)),
            &io::Error::new(io::ErrorKind::InvalidData, format!("expected {expected}")),
        );
        return Ok(());
    }
    client.write_all(&size.to_le_bytes())?;
    up.traffic.received.fetch_add(8, Ordering::Relaxed);
    let mut left = size;
    while left > 0 {
        let n = left.min(buf.len() as u64) as usize;
        let read = match up.stream.as_mut() {
            Some(s) => s.read_exact(&mut buf[..n]),
            None => {
                buf[..n].fill(0);
                Ok(())
            }
        };
        if let Err(e) = read {
            up.fail(&format!("failed while answering {}", name(command)), &e);
            buf[..n].fill(0);
        } else if up.stream.is_some() {
            up.traffic.received.fetch_add(n as u64, Ordering::Relaxed);
        }
        client.write_all(&buf[..n])?;
        left -= n as u64;
    }
    Ok(())
}

/// A command's name, for messages.
fn name(command: u8) -> &'static str {
    match command {
        cmd::ALLOC_BUFFER => "ALLOC_BUFFER",
        cmd::GET_ALIGNMENT => "GET_ALIGNMENT",
        cmd::GET_MAX_SIZE => "GET_MAX_SIZE",
        cmd::BUFFER_GET_BASE => "BUFFER_GET_BASE",
        cmd::FREE_BUFFER => "FREE_BUFFER",
        cmd::BUFFER_CLEAR => "BUFFER_CLEAR",
        cmd::SET_TENSOR => "SET_TENSOR",
        cmd::SET_TENSOR_HASH => "SET_TENSOR_HASH",
        cmd::GET_TENSOR => "GET_TENSOR",
        cmd::COPY_TENSOR => "COPY_TENSOR",
        cmd::GRAPH_COMPUTE => "GRAPH_COMPUTE",
        cmd::GET_DEVICE_MEMORY => "GET_DEVICE_MEMORY",
        cmd::INIT_TENSOR => "INIT_TENSOR",
        cmd::GET_ALLOC_SIZE => "GET_ALLOC_SIZE",
        cmd::HELLO => "HELLO",
        cmd::DEVICE_COUNT => "DEVICE_COUNT",
        cmd::GRAPH_RECOMPUTE => "GRAPH_RECOMPUTE",
        cmd::MEMSET_TENSOR => "MEMSET_TENSOR",
        _ => "a command",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hello_request() -> Vec<u8> {
        let mut r = vec![cmd::HELLO];
        r.extend_from_slice(&(protocol::CONN_CAPS_SIZE as u64).to_le_bytes());
        r.extend_from_slice(&[0; protocol::CONN_CAPS_SIZE]);
        r
    }

    fn read_answer(s: &mut TcpStream) -> Vec<u8> {
        let size = protocol::read_u64(s).unwrap();
        let mut answer = vec![0u8; size as usize];
        s.read_exact(&mut answer).unwrap();
        answer
    }

    /// A fake worker: answers HELLO with `version`, then runs `then` on the connection.
    fn fake_worker(version: u8, then: fn(TcpStream)) -> String {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        std::thread::spawn(move || {
            let (mut s, _) = listener.accept().unwrap();
            let mut req = vec![0u8; 9 + protocol::CONN_CAPS_SIZE];
            s.read_exact(&mut req).unwrap();
            let mut answer = 28u64.to_le_bytes().to_vec();
            answer.extend_from_slice(&[version, 0, 0, 0]);
            answer.extend_from_slice(&[0; protocol::CONN_CAPS_SIZE]);
            s.write_all(&answer).unwrap();
            then(s);
        });
        addr
    }

    fn wait_lost(relay: &Relay) -> String {
        for _ in 0..200 {
            if let Some(lost) = relay.current_link().and_then(|l| l.lost()) {
                return lost;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        panic!("the relay never recorded the worker as lost");
    }

    #[test]
    fn a_worker_dying_mid_command_gets_a_stand_in_answer_and_is_recorded_lost() {
        let worker = fake_worker(7, |mut s| {
            // Read a GET_TENSOR request, then die without answering.
            let mut req = vec![0u8; 9 + protocol::TENSOR_SIZE + 16];
            s.read_exact(&mut req).unwrap();
        });
        let relay = Relay::start(&worker).unwrap();
        let mut ggml = TcpStream::connect(relay.local).unwrap();
        ggml.write_all(&hello_request()).unwrap();
        assert_eq!(read_answer(&mut ggml)[..3], [7, 0, 0]);
        let mut get = vec![cmd::GET_TENSOR];
        get.extend_from_slice(&((protocol::TENSOR_SIZE + 16) as u64).to_le_bytes());
        let mut body = vec![0u8; protocol::TENSOR_SIZE + 16];
        body[protocol::TENSOR_SIZE + 8..].copy_from_slice(&100u64.to_le_bytes());
        get.extend_from_slice(&body);
        ggml.write_all(&get).unwrap();
        let answer = read_answer(&mut ggml);
        assert_eq!(answer, vec![0u8; 100]);
        let lost = wait_lost(&relay);
        assert!(
            lost.contains("GET_TENSOR") || lost.contains("closed the connection"),
            "{lost}"
        );
        // Later commands still get answers (ggml must not abort).
        ggml.write_all(&[cmd::DEVICE_COUNT, 0, 0, 0, 0, 0, 0, 0, 0])
            .unwrap();
        assert_eq!(read_answer(&mut ggml), 1u32.to_le_bytes());
    }

    #[test]
    fn an_incompatible_hello_is_replaced_and_recorded() {
        let worker = fake_worker(8, |_| {});
        let relay = Relay::start(&worker).unwrap();
        let mut ggml = TcpStream::connect(relay.local).unwrap();
        ggml.write_all(&hello_request()).unwrap();
        assert_eq!(read_answer(&mut ggml)[..3], [7, 0, 0]);
        assert!(wait_lost(&relay).contains("v8.0.0"));
    }
}
