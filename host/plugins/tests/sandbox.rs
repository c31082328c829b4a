//! Misbehaving plugins (plugins/testing/bad-*) fail only their own call, fast, with an error
//! that names the plugin and the reason; the next call (to a good plugin and to the same bad
//! one) still works.

mod common;

use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use common::*;
use shimmy_plugins::{ErrorKind, Grants, GuestError, PluginError, PluginRegistry, PluginRuntime};

const BAD: &[&str] = &[
    "bad-loop",
    "bad-memory",
    "bad-recursion",
    "bad-trap",
    "bad-fs",
    "bad-net",
    "bad-garbage",
];

/// One registry (500 ms timeout) with every bad plugin and two good ones.
fn reg() -> Arc<PluginRegistry> {
    static R: OnceLock<Arc<PluginRegistry>> = OnceLock::new();
    shared(&R, || {
        init_log();
        let rt = runtime_in(&shared_cache(), 500, Grants::none());
        let mut names = BAD.to_vec();
        names.extend(["chatml", "hello-template"]);
        registry(&rt, &names)
    })
}

async fn good_call_works(reg: &PluginRegistry) {
    let r = reg.render_template("chatml", chat(3)).await.unwrap();
    assert!(
        r.prompt.contains("<|im_start|>user\nmessage number 1"),
        "{}",
        r.prompt
    );
    let r = reg
        .render_template("hello-template", chat(2))
        .await
        .unwrap();
    assert!(r.prompt.contains("### User:"), "{}", r.prompt);
}

async fn render_err(reg: &PluginRegistry, name: &str) -> (PluginError, Duration) {
    let t = Instant::now();
    let e = reg
        .render_template(name, chat(2))
        .await
        .expect_err("a bad plugin must fail");
    (e, t.elapsed())
}

#[tokio::test]
async fn bad_loop_times_out_and_next_calls_work() {
    let reg = reg();
    for _ in 0..2 {
        let (e, took) = render_err(&reg, "bad-loop").await;
        assert!(
            matches!(
                e,
                PluginError::Timeout {
                    timeout_ms: 500,
                    ..
                }
            ),
            "{e:?}"
        );
        assert_eq!(e.to_string(), "plugin \"bad-loop\": timed out after 500 ms");
        assert!(took >= Duration::from_millis(480), "{took:?}");
        assert!(took < Duration::from_millis(1500), "{took:?}");
        assert_eq!(e.kind(), ErrorKind::Timeout);
        good_call_works(&reg).await;
    }
}

/// The default limit is 2000 ms and the message says so.
#[tokio::test]
async fn default_timeout_is_2000_ms() {
    init_log();
    let rt = PluginRuntime::new(shimmy_plugins::RuntimeConfig {
        cache_dir: Some(shared_cache()),
        ..Default::default()
    })
    .unwrap();
    assert_eq!(rt.config().timeout_ms, 2000);
    let reg = registry(&rt, &["bad-loop"]);
    let t = Instant::now();
    let e = reg.render_template("bad-loop", chat(1)).await.unwrap_err();
    let took = t.elapsed();
    assert_eq!(
        e.to_string(),
        "plugin \"bad-loop\": timed out after 2000 ms"
    );
    assert!(
        took >= Duration::from_millis(1990) && took < Duration::from_millis(3500),
        "{took:?}"
    );
}

#[tokio::test]
async fn bad_memory_hits_the_limit() {
    let reg = reg();
    for _ in 0..2 {
        let (e, took) = render_err(&reg, "bad-memory").await;
        assert!(
            matches!(e, PluginError::MemoryLimit { limit_mb: 64, .. }),
            "{e:?}"
        );
        assert_eq!(
            e.to_string(),
            "plugin \"bad-memory\": exceeded its 64 MiB memory limit"
        );
        assert!(
            took < Duration::from_millis(450),
            "not the timeout: {took:?}"
        );
        good_call_works(&reg).await;
    }
}

#[tokio::test]
async fn bad_recursion_traps() {
    let reg = reg();
    for _ in 0..2 {
        let (e, took) = render_err(&reg, "bad-recursion").await;
        let PluginError::Trap { trap, .. } = &e else {
            panic!("{e:?}")
        };
        assert!(
            trap.contains("call stack exhausted") || trap.contains("out of bounds"),
            "{trap}"
        );
        let msg = e.to_string();
        assert!(
            msg.starts_with("plugin \"bad-recursion\": trapped: wasm trap: "),
            "{msg}"
        );
        assert!(took < Duration::from_millis(450), "{took:?}");
        good_call_works(&reg).await;
    }
}

#[tokio::test]
async fn bad_trap_reports_the_panic() {
    let reg = reg();
    for _ in 0..2 {
        let (e, _) = render_err(&reg, "bad-trap").await;
        let msg = e.to_string();
        assert!(
            msg.starts_with("plugin \"bad-trap\": trapped: wasm trap: "),
            "{msg}"
        );
        // The guest's panic message (from its captured stderr) is part of the report.
        assert!(
            msg.contains("deliberate panic while rendering 2 messages"),
            "{msg}"
        );
        assert_eq!(e.kind(), ErrorKind::Trap);
        good_call_works(&reg).await;
    }
}

#[tokio::test]
async fn bad_fs_is_denied() {
    let reg = reg();
    let (e, _) = render_err(&reg, "bad-fs").await;
    let PluginError::Guest { plugin, error } = &e else {
        panic!("{e:?}")
    };
    assert_eq!(plugin, "bad-fs");
    let GuestError::Failed(m) = error else {
        panic!("{error:?}")
    };
    assert!(m.contains("reading /etc/passwd failed"), "{m}");
    good_call_works(&reg).await;
}

#[tokio::test]
async fn bad_net_is_denied() {
    let reg = reg();
    let (e, _) = render_err(&reg, "bad-net").await;
    let PluginError::Guest {
        error: GuestError::Failed(m),
        ..
    } = &e
    else {
        panic!("{e:?}")
    };
    assert!(m.contains("connecting to 127.0.0.1:9 failed"), "{m}");
    good_call_works(&reg).await;
}

#[tokio::test]
async fn bad_garbage_is_refused() {
    let reg = reg();
    for _ in 0..2 {
        let (e, _) = render_err(&reg, "bad-garbage").await;
        let PluginError::OutputTooLarge { size, limit, .. } = &e else {
            panic!("{e:?}")
        };
        assert!(*size > 32 << 20, "{size}");
        assert_eq!(*limit, 16 << 20);
        let msg = e.to_string();
        assert!(
            msg.starts_with("plugin \"bad-garbage\": returned "),
            "{msg}"
        );
        good_call_works(&reg).await;
    }
}

#[test]
fn bad_version_is_refused_naming_both_versions() {
    init_log();
    let rt = runtime_in(&shared_cache(), 500, Grants::none());
    let reg = PluginRegistry::load(&rt, &[source("bad-version"), source("chatml")]).unwrap();
    assert!(reg.get("bad-version").is_none());
    assert!(reg.get("chatml").is_some());
    let [f] = reg.failures() else {
        panic!("{:?}", reg.failures())
    };
    let msg = f.error.to_string();
    assert!(
        matches!(f.error, PluginError::UnsupportedVersion { .. }),
        "{msg}"
    );
    assert!(msg.contains("shimmy:plugin@9.0.0"), "{msg}");
    assert!(msg.contains("shimmy:plugin@0.1.0"), "{msg}");
    assert!(msg.starts_with("plugin \"bad-version\": "), "{msg}");
    assert!(reg.ensure_all_loaded().is_err());
}

/// Bad calls running at the same time as good ones do not slow the good ones down much.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_calls_do_not_block_good_ones() {
    let reg = reg();
    let mut bad = Vec::new();
    for name in ["bad-loop", "bad-loop", "bad-memory", "bad-trap"] {
        let reg = reg.clone();
        bad.push(tokio::spawn(async move {
            reg.render_template(name, chat(1)).await.unwrap_err()
        }));
    }
    let t = Instant::now();
    for _ in 0..20 {
        good_call_works(&reg).await;
    }
    // 40 good renders while two 500 ms loops spin on the same two threads: the loops yield
    // at every epoch tick, so the good calls finish well before the loops time out.
    assert!(
        t.elapsed() < Duration::from_millis(2000),
        "{:?}",
        t.elapsed()
    );
    for b in bad {
        let e = b.await.unwrap();
        assert!(e.plugin().is_some_and(|p| p.starts_with("bad-")), "{e}");
    }
}
