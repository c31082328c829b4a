//! Prints timing figures of the plugin runtime with the built-in plugins:
//!
//! * startup with every plugin compiled from scratch, then with all of them cached
//!   (`PluginRuntime::new` + `PluginRegistry::load`; target < 300 ms cached);
//! * the cold first call of a freshly loaded plugin;
//! * render of a 10-message chat on a warm plugin, p50 / p99 (targets < 100 µs / < 1 ms);
//! * host <-> guest call overhead: a trivial `describe` call (fresh store + instance + call).
//!
//! `cargo run --release -p shimmy-plugins --example plugin_bench [-- ITERATIONS]`
//! (a debug build works but its figures mean little).

use std::time::{Duration, Instant};

use shimmy_plugins::{
    builtin::BUILTINS, ChatMessage, PluginRegistry, PluginRuntime, PluginSource, RenderRequest,
    RuntimeConfig,
};

fn chat10() -> RenderRequest {
    let mut messages = vec![ChatMessage::new("system", "You are a helpful assistant.")];
    for i in 1..10 {
        let role = if i % 2 == 1 { "user" } else { "assistant" };
        messages.push(ChatMessage::new(
            role,
            format!("Message {i}: a sentence or two of ordinary chat text, nothing special."),
        ));
    }
    RenderRequest {
        messages,
        ..Default::default()
    }
}

fn start(cache: &std::path::Path) -> (PluginRuntime, PluginRegistry, Duration) {
    let t = Instant::now();
    let rt = PluginRuntime::new(RuntimeConfig {
        cache_dir: Some(cache.to_path_buf()),
        ..Default::default()
    })
    .expect("runtime");
    let reg = PluginRegistry::load(&rt, &[PluginSource::Builtin(BUILTINS)]).expect("load");
    let took = t.elapsed();
    if let Some(f) = reg.failures().first() {
        panic!("{}: {}", f.source, f.error);
    }
    (rt, reg, took)
}

fn pct(sorted: &[Duration], p: f64) -> Duration {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i]
}

fn fmt(d: Duration) -> String {
    if d < Duration::from_millis(1) {
        format!("{:.1} µs", d.as_secs_f64() * 1e6)
    } else {
        format!("{:.2} ms", d.as_secs_f64() * 1e3)
    }
}

async fn measure<F, Fut>(iters: usize, mut f: F) -> (Duration, Duration, Duration)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    for _ in 0..iters / 10 {
        f().await;
    }
    let mut v = Vec::with_capacity(iters);
    for _ in 0..iters {
        let t = Instant::now();
        f().await;
        v.push(t.elapsed());
    }
    v.sort();
    let mean = v.iter().sum::<Duration>() / iters as u32;
    (pct(&v, 0.5), pct(&v, 0.99), mean)
}

fn main() {
    let iters: usize = std::env::args()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(5000);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let tmp = std::env::temp_dir().join(format!("shimmy-plugin-bench-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&tmp);
    let names: Vec<&str> = BUILTINS.iter().map(|b| b.0).collect();
    let bytes: usize = BUILTINS.iter().map(|b| b.1.len()).sum();
    println!(
        "plugin runtime benchmark: {} built-in plugins ({:.1} MiB of wasm): {}",
        names.len(),
        bytes as f64 / (1 << 20) as f64,
        names.join(", ")
    );
    if cfg!(debug_assertions) {
        println!("(debug build: run with --release for meaningful figures)");
    }

    let (runtime, _, cold) = start(&tmp);
    println!(
        "startup, compiling every plugin:      {}  ({} compiled)",
        fmt(cold),
        runtime.stats().compiled
    );
    drop(runtime);

    let mut cached = Vec::new();
    for _ in 0..5 {
        let (runtime, reg, took) = start(&tmp);
        assert_eq!(runtime.stats().compiled, 0, "the cache must be hit");
        cached.push(took);
        drop((runtime, reg));
    }
    cached.sort();
    println!(
        "startup, all plugins cached:          {}  (median of 5; min {}, max {})  target < 300 ms",
        fmt(cached[2]),
        fmt(cached[0]),
        fmt(cached[4])
    );

    let (_runtime, reg, _) = start(&tmp);
    let req = chat10();
    let t = Instant::now();
    let first = rt
        .block_on(reg.render_template("chatml", req.clone()))
        .unwrap();
    println!("cold first call (chatml render):      {}", fmt(t.elapsed()));
    let t = Instant::now();
    rt.block_on(reg.render_template("jinja", {
        let mut r = req.clone();
        r.model.chat_template = Some(
            "{% for m in messages %}<|{{ m.role }}|>{{ m.content }}\n{% endfor %}{% if add_generation_prompt %}<|assistant|>{% endif %}".into(),
        );
        r
    }))
    .unwrap();
    println!("cold first call (jinja render):       {}", fmt(t.elapsed()));
    println!(
        "  (rendered prompt: {} bytes, {} stop strings)",
        first.prompt.len(),
        first.stop.len()
    );

    for name in ["chatml", "llama3"] {
        if reg.get(name).is_none() {
            continue;
        }
        let (p50, p99, mean) = rt.block_on(measure(iters, || {
            let req = req.clone();
            let reg = &reg;
            async move {
                reg.render_template(name, req).await.unwrap();
            }
        }));
        println!(
            "render 10-message chat, warm ({name:>6}): p50 {}  p99 {}  mean {}  ({iters} calls)  target p50 < 100 µs, p99 < 1 ms",
            fmt(p50),
            fmt(p99),
            fmt(mean)
        );
    }
    let mut jreq = req.clone();
    jreq.model.chat_template = Some(
        "{% for m in messages %}<|{{ m.role }}|>{{ m.content }}\n{% endfor %}{% if add_generation_prompt %}<|assistant|>{% endif %}".into(),
    );
    let (p50, p99, mean) = rt.block_on(measure(iters / 5, || {
        let req = jreq.clone();
        let reg = &reg;
        async move {
            reg.render_template("jinja", req).await.unwrap();
        }
    }));
    println!(
        "render 10-message chat, warm ( jinja): p50 {}  p99 {}  mean {}  ({} calls)",
        fmt(p50),
        fmt(p99),
        fmt(mean),
        iters / 5
    );

    let (p50, p99, mean) = rt.block_on(measure(iters, || {
        let reg = &reg;
        async move {
            reg.describe_template("chatml").await.unwrap();
        }
    }));
    println!(
        "host<->guest overhead (describe):     p50 {}  p99 {}  mean {}  (fresh store + instance + call)",
        fmt(p50),
        fmt(p99),
        fmt(mean)
    );
    let _ = std::fs::remove_dir_all(&tmp);
}
