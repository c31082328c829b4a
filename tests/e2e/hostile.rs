//! Hostile input that must never take the process down: clients that reset their
//! connection mid-stream, a closed stdout, corrupt GGUF files (a seeded mutation sweep over
//! test-kit models through `probe`, `generate`, `list` and `serve`), requests that ask for
//! too much preparation (huge enums and grammars, thousands of messages, 10 MB prompts, a
//! workflow that doubles a string until it runs out of memory), and internal errors, which
//! reach clients as an error id, never as paths, llama.cpp's lines or a plugin's stderr.
//! Every hostile request is followed by a normal one, which must still be answered.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::process::Stdio;
use std::time::Duration;

use common::{http, models, s, Sandbox, ServerProc};
use serde_json::json;
use shimmy_testkit::{write_model, ModelSpec, WeightType};

// ---- clients that hang up ------------------------------------------------------------

/// Hangs up: shuts the connection down both ways (a FIN, so the server's next writes hit a
/// closed socket and the one after gets EPIPE) and closes it with a TCP reset (SO_LINGER 0),
/// as a client that crashed or was killed.
fn reset(sock: TcpStream) {
    sock.shutdown(std::net::Shutdown::Both).unwrap();
    let linger = libc::linger {
        l_onoff: 1,
        l_linger: 0,
    };
    // SAFETY: a valid socket fd and a correctly sized `linger` value.
    let rc = unsafe {
        libc::setsockopt(
            sock.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_LINGER,
            (&linger as *const libc::linger).cast(),
            std::mem::size_of::<libc::linger>() as libc::socklen_t,
        )
    };
    assert_eq!(rc, 0, "setsockopt(SO_LINGER)");
    drop(sock);
}

/// Starts a streaming chat of `max_tokens` 2000, reads its first 200 bytes and resets the
/// connection.
fn read_200_bytes_and_reset(server: &mut ServerProc) {
    let mut sock = match TcpStream::connect(&server.addr) {
        Ok(sock) => sock,
        Err(e) => panic!(
            "cannot connect ({e}): the server exited with {:?}\nstderr:\n{}",
            server.exited(),
            server.stderr()
        ),
    };
    let body = json!({
        "model": "qwen3moe",
        "messages": [{"role": "user", "content": "Tell me a long story"}],
        "max_tokens": 2000,
        "stream": true,
    })
    .to_string();
    write!(
        sock,
        "POST /v1/chat/completions HTTP/1.1\r\nHost: {}\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\n\r\n{body}",
        server.addr,
        body.len()
    )
    .unwrap();
    sock.set_read_timeout(Some(Duration::from_secs(60)))
        .unwrap();
    let mut seen = Vec::new();
    let mut buf = [0u8; 256];
    while seen.len() < 200 {
        let n = sock.read(&mut buf[..200 - seen.len()]).unwrap();
        assert!(
            n > 0,
            "stream closed early: {}",
            String::from_utf8_lossy(&seen)
        );
        seen.extend_from_slice(&buf[..n]);
    }
    assert!(
        seen.starts_with(b"HTTP/1.1 200"),
        "{}",
        String::from_utf8_lossy(&seen)
    );
    reset(sock);
}

/// The reproduction from issue 13: six streaming chats in a row, each read for 200 bytes and
/// reset, for three rounds. A write to a reset connection raises SIGPIPE; the server must
/// take it as an error of that one stream and keep serving.
#[test]
fn clients_that_reset_mid_stream_do_not_kill_the_server() {
    let sb = Sandbox::new();
    let mut server = sb.serve(&[
        "--model",
        s(&models().qwen3moe),
        "--parallel",
        "4",
        "--ctx-size",
        "2048",
    ]);
    for round in 0..3 {
        for _ in 0..6 {
            read_200_bytes_and_reset(&mut server);
        }
        // Give the server time to write into the reset connections.
        std::thread::sleep(Duration::from_millis(300));
        assert!(
            server.exited().is_none(),
            "the server died in round {round}: {:?}\nstderr:\n{}",
            server.exited(),
            server.stderr()
        );
    }
    let r = http(120)
        .post(format!("{}/v1/chat/completions", server.base))
        .json(&json!({
            "model": "qwen3moe",
            "messages": [{"role": "user", "content": "hi"}],
            "max_tokens": 4,
        }))
        .send()
        .expect("the server still answers");
    assert_eq!(r.status().as_u16(), 200);
    let v: serde_json::Value = r.json().unwrap();
    assert_eq!(v["usage"]["completion_tokens"], 4, "{v}");
    assert!(server.exited().is_none());
}

// ---- a closed stdout -----------------------------------------------------------------

/// A pipe whose read end is already closed: every write to it fails with EPIPE.
fn closed_pipe() -> Stdio {
    let mut fds = [0; 2];
    // SAFETY: `fds` has room for the two descriptors pipe(2) returns.
    assert_eq!(unsafe { libc::pipe(fds.as_mut_ptr()) }, 0, "pipe(2)");
    // SAFETY: both descriptors were just created and are owned here alone.
    let (read, write) = unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) };
    drop(read);
    Stdio::from(write)
}

/// Runs `args` with stdout a closed pipe; asserts a quiet, successful exit.
fn quiet_with_closed_stdout(sb: &Sandbox, args: &[&str]) {
    let mut cmd = sb.cmd(args);
    cmd.stdout(closed_pipe()).stderr(Stdio::piped());
    let out = cmd.output().expect("run shimmy-host");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{args:?} with a closed stdout: {:?}\nstderr:\n{stderr}",
        out.status
    );
    assert!(!stderr.contains("panicked"), "{args:?}: {stderr}");
    assert!(!stderr.contains("error"), "{args:?}: {stderr}");
}

/// `shimmy-host list | head` and `generate ... | head -c 10`: the reader went away, the
/// command ends quietly (SIGPIPE is ignored, so the write error is what it sees).
#[test]
fn a_closed_stdout_ends_commands_quietly() {
    let sb = Sandbox::new();
    let dir = s(&models().dir);
    quiet_with_closed_stdout(&sb, &["--model-dirs", dir, "list"]);
    quiet_with_closed_stdout(&sb, &["--model-dirs", dir, "discover"]);
    quiet_with_closed_stdout(
        &sb,
        &[
            "generate",
            "--model",
            s(&models().dense),
            "--prompt",
            "hi",
            "--max-tokens",
            "8",
        ],
    );
    // The same with a pipe the test reads a little of and then closes.
    let mut child = sb
        .cmd(&["--model-dirs", dir, "list"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut head = [0u8; 4];
    child.stdout.take().unwrap().read_exact(&mut head).unwrap();
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{:?}", out.status);
}

// ---- corrupt GGUF files --------------------------------------------------------------

/// Where each field of a GGUF header lies in the file, for mutating it in place.
#[derive(Default)]
struct Layout {
    /// `(key, value type, offset of the value)` of every scalar metadata value.
    scalars: Vec<(String, u32, usize)>,
    /// `(key, offset of the element type, offset of the length)` of every array.
    arrays: Vec<(String, usize, usize)>,
    /// `(name, offsets of its dims, offset of its type, offset of its data offset)`.
    tensors: Vec<(String, Vec<usize>, usize, usize)>,
    /// Where the tensor data starts (everything before is header).
    header_end: usize,
}

/// Bytes of a scalar GGUF value type (strings: 0, handled apart).
fn scalar_size(ty: u32) -> usize {
    match ty {
        0 | 1 | 7 => 1,
        2 | 3 => 2,
        4..=6 => 4,
        10..=12 => 8,
        _ => 0,
    }
}

/// Walks a well-formed GGUF file (a test-kit model) and records where its fields are.
fn layout(b: &[u8]) -> Layout {
    let u32_at = |p: usize| u32::from_le_bytes(b[p..p + 4].try_into().unwrap());
    let u64_at = |p: usize| u64::from_le_bytes(b[p..p + 8].try_into().unwrap()) as usize;
    let string_end = |p: usize| p + 8 + u64_at(p);
    let n_tensors = u64_at(8);
    let n_kv = u64_at(16);
    let mut out = Layout::default();
    let mut p = 24;
    for _ in 0..n_kv {
        let key = String::from_utf8_lossy(&b[p + 8..string_end(p)]).into_owned();
        p = string_end(p);
        let ty = u32_at(p);
        p += 4;
        match ty {
            8 => p = string_end(p),
            9 => {
                let elem = u32_at(p);
                let n = u64_at(p + 4);
                out.arrays.push((key, p, p + 4));
                p += 12;
                for _ in 0..n {
                    p = if elem == 8 {
                        string_end(p)
                    } else {
                        p + scalar_size(elem)
                    };
                }
            }
            _ => {
                out.scalars.push((key, ty, p));
                p += scalar_size(ty);
            }
        }
    }
    for _ in 0..n_tensors {
        let name = String::from_utf8_lossy(&b[p + 8..string_end(p)]).into_owned();
        p = string_end(p);
        let n_dims = u32_at(p) as usize;
        p += 4;
        let dims = (0..n_dims).map(|i| p + 8 * i).collect();
        p += 8 * n_dims;
        out.tensors.push((name, dims, p, p + 4));
        p += 12;
    }
    out.header_end = p.div_ceil(32) * 32;
    out
}

/// A small deterministic generator (splitmix64) for the seeded random mutations.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

/// Values that break hyper-parameters: zero, the uint32 limit (beyond every int32 llama.cpp
/// uses), off by one.
fn hostile_u32(v: u32) -> [u32; 3] {
    [0, 0xffff_ffff, v.wrapping_add(1)]
}

/// One mutated copy: a name saying what was changed, and the bytes.
struct Mutant {
    what: String,
    bytes: Vec<u8>,
}

fn patch(base: &[u8], at: usize, value: &[u8]) -> Vec<u8> {
    let mut b = base.to_vec();
    b[at..at + value.len()].copy_from_slice(value);
    b
}

/// What to mutate in one model.
struct Plan<'a> {
    label: &'a str,
    /// The uint32 metadata keys to set to each of [`hostile_u32`].
    keys: &'a [&'a str],
    /// Mutate the element type of every metadata array.
    arrays: bool,
    /// Indexes of the tensors whose dims, type and offset are mutated.
    tensors: &'a [usize],
    /// Seed and number of random mutations (a random field to a random value, or random bits
    /// of the header flipped).
    seed: u64,
    random: usize,
}

/// The systematic and seeded random mutations of `base` that `plan` asks for.
fn mutants(plan: &Plan<'_>, base: &[u8]) -> Vec<Mutant> {
    let l = layout(base);
    let mut out = Vec::new();
    let label = plan.label;
    let mut add = |what: String, bytes: Vec<u8>| {
        out.push(Mutant {
            what: format!("{label}: {what}"),
            bytes,
        })
    };
    for key in plan.keys {
        let (_, ty, at) = l
            .scalars
            .iter()
            .find(|(k, ..)| k == key)
            .unwrap_or_else(|| panic!("{label} has no {key}"));
        assert_eq!(*ty, 4, "{key} is not a uint32");
        let v = u32::from_le_bytes(base[*at..*at + 4].try_into().unwrap());
        for x in hostile_u32(v) {
            add(format!("{key} = {x}"), patch(base, *at, &x.to_le_bytes()));
        }
    }
    for (key, ty_at, _) in l.arrays.iter().filter(|_| plan.arrays) {
        add(
            format!("{key} element type = uint8"),
            patch(base, *ty_at, &0u32.to_le_bytes()),
        );
    }
    for &i in plan.tensors {
        let (name, dims, ty_at, off_at) = &l.tensors[i.min(l.tensors.len() - 1)];
        add(
            format!("{name} dim 0 = 0"),
            patch(base, dims[0], &0u64.to_le_bytes()),
        );
        add(format!("{name} dim 0 doubled"), {
            let d = u64::from_le_bytes(base[dims[0]..dims[0] + 8].try_into().unwrap());
            patch(base, dims[0], &(d * 2).to_le_bytes())
        });
        add(
            format!("{name} type = i32"),
            patch(base, *ty_at, &26u32.to_le_bytes()),
        );
        add(
            format!("{name} type = 99"),
            patch(base, *ty_at, &99u32.to_le_bytes()),
        );
        add(format!("{name} offset + 32"), {
            let o = u64::from_le_bytes(base[*off_at..*off_at + 8].try_into().unwrap());
            patch(base, *off_at, &(o + 32).to_le_bytes())
        });
    }
    let mut rng = Rng(plan.seed);
    let fields: Vec<(String, usize, usize)> = l
        .scalars
        .iter()
        .map(|(k, ty, at)| (k.clone(), *at, scalar_size(*ty)))
        .chain(l.arrays.iter().flat_map(|(k, ty_at, len_at)| {
            [
                (format!("{k} type"), *ty_at, 4),
                (format!("{k} length"), *len_at, 8),
            ]
        }))
        .chain(l.tensors.iter().flat_map(|(n, dims, ty_at, off_at)| {
            let mut f: Vec<(String, usize, usize)> =
                dims.iter().map(|d| (format!("{n} dim"), *d, 8)).collect();
            f.push((format!("{n} type"), *ty_at, 4));
            f.push((format!("{n} offset"), *off_at, 8));
            f
        }))
        .filter(|(_, _, size)| *size > 0)
        .collect();
    for _ in 0..plan.random {
        if rng.below(3) == 0 {
            let mut b = base.to_vec();
            let flips: Vec<usize> = (0..1 + rng.below(4))
                .map(|_| rng.below(l.header_end))
                .collect();
            for &at in &flips {
                b[at] ^= 1 << rng.below(8);
            }
            add(format!("header bits flipped at {flips:?}"), b);
        } else {
            let (what, at, size) = &fields[rng.below(fields.len())];
            let x = match rng.below(4) {
                0 => 0,
                1 => u64::MAX,
                2 => rng.next() % 1024,
                _ => rng.next(),
            };
            add(
                format!("{what} = {x:#x}"),
                patch(base, *at, &x.to_le_bytes()[..*size]),
            );
        }
    }
    out
}

/// Runs `cmd` like `common::run_cmd` (killed after 120 s), reading its output while it runs
/// (`list` of many corrupt files prints more than a pipe holds).
fn run_reading_output(mut cmd: std::process::Command) -> common::Run {
    let mut child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn shimmy-host");
    let drain = |mut pipe: Box<dyn Read + Send>| {
        std::thread::spawn(move || {
            let mut buf = Vec::new();
            let _ = pipe.read_to_end(&mut buf);
            String::from_utf8_lossy(&buf).into_owned()
        })
    };
    let stdout = drain(Box::new(child.stdout.take().unwrap()));
    let stderr = drain(Box::new(child.stderr.take().unwrap()));
    let deadline = std::time::Instant::now() + Duration::from_secs(120);
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait") {
            break status;
        }
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            panic!("shimmy-host did not finish within 120 s: {cmd:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    common::Run {
        code: status.code(),
        stdout: stdout.join().unwrap(),
        stderr: stderr.join().unwrap(),
    }
}

/// Asserts a run ended cleanly: success, or exit 1 with an `error:` line; never a signal,
/// a panic (exit 101) or a llama.cpp assertion.
fn assert_clean(run: &common::Run, what: &str) {
    let host_panic = run
        .stderr
        .lines()
        .any(|l| l.starts_with("thread '") && l.contains("panicked"));
    assert!(
        matches!(run.code, Some(0) | Some(1)) && !host_panic && !run.stderr.contains("GGML_ASSERT"),
        "{what}: exit {:?}\nstderr:\n{}",
        run.code,
        run.stderr
    );
    if run.code == Some(1) {
        assert!(run.stderr.contains("error: "), "{what}: {}", run.stderr);
    }
}

/// A seeded sweep of mutated test-kit models through `list`, `probe` and `generate`: every
/// file is refused with a clear error or works; none kills the process. The models are small
/// (two layers, q8_0) so that the sweep stays quick. `SHIMMY_FUZZ_SEED` and
/// `SHIMMY_FUZZ_RANDOM` (random mutations per model, default 8) widen the sweep locally.
#[test]
fn mutated_gguf_files_never_crash_the_cli() {
    let env = |name: &str| std::env::var(name).ok().and_then(|v| v.parse::<u64>().ok());
    let seed = env("SHIMMY_FUZZ_SEED").unwrap_or(0x5eed_0013);
    let random = env("SHIMMY_FUZZ_RANDOM").unwrap_or(8) as usize;
    let sb = Sandbox::new();
    let dir = sb.path().join("mutants");
    std::fs::create_dir_all(&dir).unwrap();
    let small = |spec: ModelSpec, name: &str| {
        let path = sb.path().join(name);
        write_model(
            &spec.with_weight_type(WeightType::Q8_0).with_layers(2),
            &path,
        )
        .unwrap();
        std::fs::read(&path).unwrap()
    };
    let dense = small(ModelSpec::dense(), "dense.gguf");
    let moe = small(ModelSpec::qwen3_moe(), "qwen3moe.gguf");
    let mut all = mutants(
        &Plan {
            label: "dense",
            keys: &[
                "llama.vocab_size",
                "llama.context_length",
                "llama.embedding_length",
                "llama.block_count",
                "llama.feed_forward_length",
                "llama.attention.head_count",
                "llama.attention.head_count_kv",
                "llama.rope.dimension_count",
            ],
            arrays: false,
            tensors: &[0, 6, usize::MAX],
            seed,
            random,
        },
        &dense,
    );
    all.extend(mutants(
        &Plan {
            label: "qwen3moe",
            keys: &[
                "qwen3moe.expert_count",
                "qwen3moe.expert_used_count",
                "qwen3moe.expert_feed_forward_length",
                "qwen3moe.attention.key_length",
                "qwen3moe.rope.dimension_count",
                "qwen3moe.attention.head_count_kv",
            ],
            arrays: true,
            tensors: &[],
            seed: seed ^ 0x22,
            random,
        },
        &moe,
    ));
    let mut paths = Vec::new();
    for (i, m) in all.iter().enumerate() {
        let path = dir.join(format!("m{i:03}.gguf"));
        std::fs::write(&path, &m.bytes).unwrap();
        paths.push(path);
    }

    // One `list` over all of them: each is listed, usable or with its problem.
    let run = run_reading_output(sb.cmd(&["--model-dirs", s(&dir), "list"]));
    assert_clean(&run, "list");
    assert_eq!(run.code, Some(0), "{}", run.stderr);
    for i in 0..all.len() {
        let row = run
            .stdout
            .lines()
            .find(|l| l.starts_with(&format!("m{i:03} ")))
            .unwrap_or_else(|| panic!("m{i:03} not listed: {}", run.stdout));
        // A file that cannot be loaded is listed as such, its reason below the table.
        if row.contains(" invalid ") {
            assert!(
                run.stdout.contains(&format!("\n  m{i:03}: ")),
                "no reason for m{i:03}: {}",
                run.stdout
            );
        }
    }

    // `probe` and a two-token `generate` of each, two at a time.
    let started = std::time::Instant::now();
    let next = std::sync::atomic::AtomicUsize::new(0);
    let outcomes = std::sync::Mutex::new(Vec::new());
    std::thread::scope(|scope| {
        for _ in 0..2 {
            scope.spawn(|| loop {
                let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                let (Some(m), Some(path)) = (all.get(i), paths.get(i)) else {
                    break;
                };
                let path = s(path);
                let probe = sb.run(&["probe", path]);
                let gen = sb.run(&[
                    "generate",
                    "--model",
                    path,
                    "--prompt",
                    "hi",
                    "--max-tokens",
                    "2",
                ]);
                outcomes
                    .lock()
                    .unwrap()
                    .push((i, m.what.clone(), path.to_string(), probe, gen));
            });
        }
    });
    let outcomes = outcomes.into_inner().unwrap();
    let (mut by_checks, mut by_llama, mut worked) = (0, 0, 0);
    for (_, what, path, probe, gen) in &outcomes {
        assert_clean(probe, &format!("probe {what} ({path})"));
        assert_clean(gen, &format!("generate {what} ({path})"));
        match gen.code {
            Some(0) => worked += 1,
            _ if gen.stderr.contains("invalid GGUF") => by_checks += 1,
            _ => by_llama += 1,
        }
        if gen.code == Some(1) {
            assert!(
                gen.stderr.contains(path.as_str()),
                "{what}: the error does not name the file: {}",
                gen.stderr
            );
        }
    }
    eprintln!(
        "{} mutants in {:.1?}: {by_checks} refused by the GGUF checks, {by_llama} by llama.cpp, {worked} loaded and generated",
        outcomes.len(),
        started.elapsed()
    );
    // Most mutations break the file; the sweep is only useful if they do.
    assert!(
        by_checks * 2 > all.len(),
        "only {by_checks} of {} refused by the checks",
        all.len()
    );
}

/// The files through the server: a model whose `block_count` is 0 or 0x7fffffff or
/// whose `context_length` is 0xffffffff is skipped by the catalog with the reason, a request
/// for it fails with an error, and the server goes on answering for the good model.
#[test]
fn the_server_survives_requests_for_corrupt_models() {
    let sb = Sandbox::new();
    let dir = sb.path().join("models");
    std::fs::create_dir_all(&dir).unwrap();
    let base = std::fs::read(&models().dense).unwrap();
    let l = layout(&base);
    let at = |key: &str| l.scalars.iter().find(|(k, ..)| k == key).unwrap().2;
    std::fs::write(dir.join("good.gguf"), &base).unwrap();
    for (name, key, value) in [
        ("layers0", "llama.block_count", 0u32),
        ("layersmax", "llama.block_count", 0x7fff_ffff),
        ("ctxmax", "llama.context_length", 0xffff_ffff),
    ] {
        std::fs::write(
            dir.join(format!("{name}.gguf")),
            patch(&base, at(key), &value.to_le_bytes()),
        )
        .unwrap();
    }
    let mut server = sb.serve(&["--model-dirs", s(&dir), "--ctx-size", "512"]);
    for name in ["layers0", "layersmax", "ctxmax"] {
        let r = http(60)
            .post(format!("{}/v1/chat/completions", server.base))
            .json(&json!({"model": name, "messages": [{"role": "user", "content": "hi"}], "max_tokens": 2}))
            .send()
            .unwrap();
        let status = r.status().as_u16();
        let body = r.text().unwrap();
        assert!((400..600).contains(&status), "{name}: {status} {body}");
        assert!(!body.contains("panicked"), "{name}: {body}");
        assert!(
            server.exited().is_none(),
            "{name} killed the server: {}",
            server.stderr()
        );
    }
    let r = http(60)
        .post(format!("{}/v1/chat/completions", server.base))
        .json(&json!({"model": "good", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 2}))
        .send()
        .unwrap();
    assert_eq!(r.status().as_u16(), 200, "{}", r.text().unwrap());
    assert!(server.exited().is_none());
}

// ---- requests that ask for too much ----------------------------------------------------

/// POSTs `body`; the status and the body as JSON.
fn post_json(
    server: &ServerProc,
    path: &str,
    body: &serde_json::Value,
) -> (u16, serde_json::Value) {
    let (status, text) = server.post_text(path, body);
    let v = serde_json::from_str(&text).unwrap_or_else(|_| panic!("{path}: not JSON: {text}"));
    (status, v)
}

/// The message of an error body, checking the route family's shape: `{"error": "..."}` on
/// Ollama routes, `{"error": {"message", "type", "param", "code"}}` elsewhere.
fn error_message(path: &str, v: &serde_json::Value) -> String {
    if path.starts_with("/api/")
        && !path.starts_with("/api/template/")
        && !path.starts_with("/api/workflows")
        && !path.starts_with("/api/tools")
    {
        v["error"]
            .as_str()
            .unwrap_or_else(|| panic!("{path}: not Ollama's shape: {v}"))
            .to_string()
    } else {
        let e = &v["error"];
        assert!(
            e["type"].is_string() && e["code"].is_string(),
            "{path}: not OpenAI's shape: {v}"
        );
        e["message"]
            .as_str()
            .unwrap_or_else(|| panic!("{path}: {v}"))
            .to_string()
    }
}

/// A short chat on `model` (or the only one) is answered: the server still serves, and no
/// slot is left busy.
fn still_serves(server: &mut ServerProc, model: Option<&str>) {
    let mut body = json!({"messages": [{"role": "user", "content": "hi"}], "max_tokens": 2});
    if let Some(m) = model {
        body["model"] = json!(m);
    }
    let (status, v) = post_json(server, "/v1/chat/completions", &body);
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["usage"]["completion_tokens"], 2, "{v}");
    let health: serde_json::Value = http(30)
        .get(format!("{}/health", server.base))
        .send()
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(health["slots"]["busy"], 0, "{health}");
    assert!(server.exited().is_none(), "{}", server.stderr());
}

/// A chat whose answer must follow `schema` (`response_format` on `/v1/chat/completions`,
/// `format` on Ollama's `/api/chat`).
fn constrained(path: &str, schema: serde_json::Value) -> serde_json::Value {
    let messages = json!([{"role": "user", "content": "pick one"}]);
    if path == "/api/chat" {
        json!({"messages": messages, "format": schema, "stream": false, "options": {"num_predict": 4}})
    } else {
        json!({"messages": messages, "max_tokens": 4, "response_format":
            {"type": "json_schema", "json_schema": {"name": "pick", "schema": schema}}})
    }
}

fn enum_schema(n: usize) -> serde_json::Value {
    let values: Vec<String> = (0..n).map(|i| format!("v{i}")).collect();
    json!({"type": "object", "properties": {"pick": {"enum": values}}, "required": ["pick"]})
}

/// Grammars too large or too broad are refused before llama.cpp sees them (400 naming the
/// limit) while a normal request on the same model is answered; thousands of messages are
/// refused (400) and a 10 MB message is 413 on every chat route (and 10 MB on `/tokenize`);
/// a chat at the message limit renders (the pipeline is linear: its time is printed).
#[test]
fn requests_that_ask_for_too_much_are_refused_while_the_model_serves() {
    let sb = Sandbox::new();
    let mut server = sb.serve(&[
        "--model",
        s(&models().dense),
        "--ctx-size",
        "512",
        "--parallel",
        "2",
    ]);
    // A 100k-value enum (1.2 MB of schema) and, meanwhile, a normal chat.
    let huge = constrained("/v1/chat/completions", enum_schema(100_000));
    let (status, v) = std::thread::scope(|scope| {
        let big = scope.spawn(|| post_json(&server, "/v1/chat/completions", &huge));
        let started = std::time::Instant::now();
        let (status, v) = post_json(
            &server,
            "/v1/chat/completions",
            &json!({"messages": [{"role": "user", "content": "hi"}], "max_tokens": 2}),
        );
        assert_eq!(status, 200, "the normal request next to the huge one: {v}");
        eprintln!(
            "normal request next to a 100k enum: {:.2?}",
            started.elapsed()
        );
        big.join().unwrap()
    });
    assert_eq!(status, 400, "{v}");
    assert_eq!(v["error"]["param"], "response_format", "{v}");
    let msg = error_message("/v1/chat/completions", &v);
    assert!(msg.contains("--max-grammar-bytes"), "{msg}");
    still_serves(&mut server, None);

    // Small enough, but 5000 choices at once: refused for its breadth, on both families.
    for path in ["/v1/chat/completions", "/api/chat"] {
        let (status, v) = post_json(&server, path, &constrained(path, enum_schema(5000)));
        assert_eq!(status, 400, "{path}: {v}");
        let msg = error_message(path, &v);
        assert!(
            msg.contains("5003 places") && msg.contains("--max-grammar-breadth"),
            "{path}: {msg}"
        );
    }
    // A GBNF grammar whose alternatives nest 2^30 ways.
    let mut gbnf = String::from("root ::= r0\n");
    for i in 0..30 {
        gbnf.push_str(&format!("r{i} ::= r{} | r{}\n", i + 1, i + 1));
    }
    gbnf.push_str("r30 ::= \"x\"\n");
    let (status, v) = post_json(
        &server,
        "/v1/chat/completions",
        &json!({"messages": [{"role": "user", "content": "x"}], "max_tokens": 2, "grammar": gbnf}),
    );
    assert_eq!(status, 400, "{v}");
    assert_eq!(v["error"]["param"], "grammar", "{v}");
    // A small enum still constrains the answer.
    let (status, v) = post_json(
        &server,
        "/v1/chat/completions",
        &constrained("/v1/chat/completions", enum_schema(50)),
    );
    assert_eq!(status, 200, "{v}");
    still_serves(&mut server, None);

    // Messages: over the count limit (400), and one message of 10 MB (413).
    let many: Vec<serde_json::Value> = (0..5000)
        .map(|i| json!({"role": if i % 2 == 0 { "user" } else { "assistant" }, "content": format!("m{i}")}))
        .collect();
    let big = vec![json!({"role": "user", "content": "x".repeat(10 << 20)})];
    for path in ["/v1/chat/completions", "/api/chat", "/api/template/render"] {
        let body = |messages: &Vec<serde_json::Value>| {
            let mut b = json!({ "messages": messages });
            match path {
                "/v1/chat/completions" => b["max_tokens"] = json!(1),
                "/api/chat" => b["stream"] = json!(false),
                _ => {}
            }
            b
        };
        let (status, v) = post_json(&server, path, &body(&many));
        assert_eq!(status, 400, "{path}: {v}");
        let msg = error_message(path, &v);
        assert!(
            msg.contains("5000 messages") && msg.contains("--max-messages"),
            "{path}: {msg}"
        );
        let (status, v) = post_json(&server, path, &body(&big));
        assert_eq!(status, 413, "{path}: {v}");
        let msg = error_message(path, &v);
        assert!(
            msg.contains("10.0 MiB") && msg.contains("--max-prompt-bytes"),
            "{path}: {msg}"
        );
        if !path.starts_with("/api/chat") {
            assert_eq!(v["error"]["code"], "payload_too_large", "{v}");
        }
    }
    let (status, v) = post_json(
        &server,
        "/tokenize",
        &json!({"content": "x".repeat(10 << 20)}),
    );
    assert_eq!(status, 413, "{v}");
    assert!(
        error_message("/tokenize", &v).contains("--max-prompt-bytes"),
        "{v}"
    );
    still_serves(&mut server, None);

    // At the limit, a chat renders; 4096 messages take about as long per message as 512.
    let mut times = Vec::new();
    for n in [512usize, 4096] {
        let (status, v, took) = {
            let started = std::time::Instant::now();
            let (status, v) = post_json(
                &server,
                "/api/template/render",
                &json!({"messages": &many[..n]}),
            );
            (status, v, started.elapsed())
        };
        assert_eq!(status, 200, "{v}");
        assert!(v["prompt_tokens"].as_u64().unwrap() > 5 * n as u64, "{v}");
        times.push((n, took));
    }
    eprintln!("render + tokenize: {times:?}");
    still_serves(&mut server, None);
}

/// Waits (10 s at most) for a log line with the error id `id` and `detail`.
fn logged(server: &ServerProc, id: &str, detail: &str) {
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        let log = server.stderr();
        if log.lines().any(|l| l.contains(id) && l.contains(detail)) {
            return;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "{id} with {detail:?} not in the log:\n{log}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Internal failures reach the client as a plain account and an error id; the details (the
/// model's path, llama.cpp's loader lines, a plugin's panic) are in the server log under the
/// same id. A workflow that doubles a string until the plugin runs out of memory is 413.
#[test]
fn internal_errors_reach_clients_as_an_error_id() {
    let sb = Sandbox::new();
    let dir = sb.path().join("models");
    std::fs::create_dir_all(&dir).unwrap();
    let base = std::fs::read(&models().dense).unwrap();
    std::fs::write(dir.join("good.gguf"), &base).unwrap();
    // A tensor renamed: the header is well-formed, llama.cpp refuses the file.
    let at = base
        .windows(19)
        .position(|w| w == b"blk.0.attn_q.weight")
        .unwrap();
    std::fs::write(
        dir.join("renamed.gguf"),
        patch(&base, at, b"blk.0.attn_x.weight"),
    )
    .unwrap();
    let plugins = sb.path().join("plugins");
    common::install("bad-tool", &plugins);
    let mut server = sb.serve(&[
        "--model-dirs",
        s(&dir),
        "--plugin-dir",
        s(&plugins),
        "--ctx-size",
        "512",
    ]);
    let secret = s(sb.path()).to_string();
    let id_of = |msg: &str| -> String {
        let id = msg
            .split("error id ")
            .nth(1)
            .and_then(|rest| rest.split(';').next())
            .unwrap_or_else(|| panic!("no error id in {msg:?}"))
            .to_string();
        assert!(id.starts_with("err_"), "{msg}");
        id
    };
    // A model llama.cpp cannot load, on both families.
    for path in ["/v1/chat/completions", "/api/chat"] {
        let (status, v) = post_json(
            &server,
            path,
            &json!({"model": "renamed", "messages": [{"role": "user", "content": "hi"}], "stream": false}),
        );
        assert_eq!(status, 500, "{path}: {v}");
        let msg = error_message(path, &v);
        assert!(
            msg.starts_with("the model could not be loaded (error id "),
            "{path}: {msg}"
        );
        assert!(
            !msg.contains(&secret) && !msg.contains("llama"),
            "{path}: {msg}"
        );
        logged(&server, &id_of(&msg), "check_tensor_dims");
    }
    still_serves(&mut server, Some("good"));

    // `/api/show` names the file, not where the server keeps it.
    let (status, v) = post_json(&server, "/api/show", &json!({"model": "good"}));
    assert_eq!(status, 200, "{v}");
    assert!(!v.to_string().contains(&secret), "{v}");
    assert!(
        v["modelfile"].as_str().unwrap().contains("FROM good.gguf"),
        "{v}"
    );

    // A tool that panics: 502 naming the plugin, its panic only in the log.
    let (status, v) = post_json(
        &server,
        "/api/tools/bad/invoke",
        &json!({"arguments": {"do": "trap"}}),
    );
    assert_eq!(status, 502, "{v}");
    let msg = error_message("/api/tools/bad/invoke", &v);
    assert!(
        msg.contains("plugin \"bad-tool\" crashed") && !msg.contains("deliberate panic"),
        "{msg}"
    );
    logged(&server, &id_of(&msg), "deliberate panic");
    still_serves(&mut server, Some("good"));

    // A pipeline that doubles a 1 KiB string 20 times (1 GiB): the plugin's memory runs out.
    let mut steps = vec![
        json!({"id": "s0", "kind": "transform", "op": "template", "template": "x".repeat(1024)}),
    ];
    for i in 1..=20 {
        let prev = format!("{{{{s{}.output}}}}", i - 1);
        steps.push(json!({"id": format!("s{i}"), "kind": "transform", "op": "concat", "values": [prev, prev]}));
    }
    let (status, v) = post_json(
        &server,
        "/api/workflows/pipeline/run",
        &json!({"input": {"steps": steps}}),
    );
    assert_eq!(status, 413, "{v}");
    let msg = error_message("/api/workflows/pipeline/run", &v);
    assert!(msg.contains("memory limit"), "{msg}");
    still_serves(&mut server, Some("good"));
}
