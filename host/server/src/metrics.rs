//! Prometheus metrics (`GET /metrics`, OpenMetrics text).
//!
//! Counters and histograms are updated as requests run; gauges that describe the present
//! (queue depth, busy slots, loaded models, device memory) are read when scraped.

use std::collections::VecDeque;
use std::sync::atomic::AtomicU64;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::{Registry, Unit};
use shimmy_core::backend::{DeviceInfo, GenerateSummary};
use shimmy_engine::events::{EngineEvent, EngineObserver};
use shimmy_engine::models::ModelStatus;

/// Labels as key/value pairs.
type Labels = Vec<(&'static str, String)>;
type HistogramFamily = Family<Labels, Histogram, fn() -> Histogram>;

/// Window over which `shimmy_generated_tokens_per_second` is averaged.
const THROUGHPUT_WINDOW: Duration = Duration::from_secs(10);

const TTFT_BUCKETS: [f64; 14] = [
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0,
];
const TOKEN_BUCKETS: [f64; 14] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.25, 0.5, 1.0, 2.5,
];
const DURATION_BUCKETS: [f64; 12] = [
    0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0,
];

fn ttft_histogram() -> Histogram {
    Histogram::new(TTFT_BUCKETS)
}
fn token_histogram() -> Histogram {
    Histogram::new(TOKEN_BUCKETS)
}
fn duration_histogram() -> Histogram {
    Histogram::new(DURATION_BUCKETS)
}

/// Every metric of the server.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    requests: Family<Labels, Counter>,
    request_duration: HistogramFamily,
    prompt_tokens: Family<Labels, Counter>,
    cached_tokens: Family<Labels, Counter>,
    generated_tokens: Family<Labels, Counter>,
    ttft: HistogramFamily,
    token_latency: HistogramFamily,
    tokens_per_second: Gauge<f64, AtomicU64>,
    queue_depth: Family<Labels, Gauge>,
    busy_slots: Family<Labels, Gauge>,
    slots: Family<Labels, Gauge>,
    active_requests: Family<Labels, Gauge>,
    loaded_models: Gauge,
    model_loads: Counter,
    load_seconds: Histogram,
    device_memory_total: Family<Labels, Gauge>,
    device_memory_free: Family<Labels, Gauge>,
    model_memory: Family<Labels, Gauge>,
    throughput: Mutex<VecDeque<(Instant, u64)>>,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    /// All metrics at zero, registered under the `shimmy_` prefix.
    pub fn new() -> Self {
        let m = Metrics {
            registry: Registry::with_prefix("shimmy"),
            requests: Family::default(),
            request_duration: Family::new_with_constructor(duration_histogram),
            prompt_tokens: Family::default(),
            cached_tokens: Family::default(),
            generated_tokens: Family::default(),
            ttft: Family::new_with_constructor(ttft_histogram),
            token_latency: Family::new_with_constructor(token_histogram),
            tokens_per_second: Gauge::default(),
            queue_depth: Family::default(),
            busy_slots: Family::default(),
            slots: Family::default(),
            active_requests: Family::default(),
            loaded_models: Gauge::default(),
            model_loads: Counter::default(),
            load_seconds: Histogram::new(DURATION_BUCKETS),
            device_memory_total: Family::default(),
            device_memory_free: Family::default(),
            model_memory: Family::default(),
            throughput: Mutex::new(VecDeque::new()),
        };
        let mut m = m;
        let r = &mut m.registry;
        r.register(
            "requests",
            "HTTP requests answered, by route and status",
            m.requests.clone(),
        );
        r.register_with_unit(
            "request_duration",
            "Time from request to the end of the response, by route",
            Unit::Seconds,
            m.request_duration.clone(),
        );
        r.register(
            "prompt_tokens",
            "Prompt tokens evaluated (cache hits excluded), by model",
            m.prompt_tokens.clone(),
        );
        r.register(
            "prompt_cached_tokens",
            "Prompt tokens reused from the prompt cache, by model",
            m.cached_tokens.clone(),
        );
        r.register(
            "generated_tokens",
            "Tokens generated, by model",
            m.generated_tokens.clone(),
        );
        r.register_with_unit(
            "time_to_first_token",
            "Time from request to the first generated text, by model",
            Unit::Seconds,
            m.ttft.clone(),
        );
        r.register_with_unit(
            "time_per_output_token",
            "Time between successive generated tokens, by model",
            Unit::Seconds,
            m.token_latency.clone(),
        );
        r.register(
            "generated_tokens_per_second",
            "Tokens generated per second over the last 10 seconds, all models",
            m.tokens_per_second.clone(),
        );
        r.register(
            "queue_depth",
            "Requests waiting for a slot, by model",
            m.queue_depth.clone(),
        );
        r.register(
            "busy_slots",
            "Slots running a request, by model",
            m.busy_slots.clone(),
        );
        r.register("slots", "Slots in total, by model", m.slots.clone());
        r.register(
            "active_requests",
            "Requests holding a model (queued, running or streaming), by model",
            m.active_requests.clone(),
        );
        r.register(
            "loaded_models",
            "Models loaded now",
            m.loaded_models.clone(),
        );
        r.register(
            "model_loads",
            "Models loaded since start",
            m.model_loads.clone(),
        );
        r.register_with_unit(
            "model_load",
            "Time to load a model",
            Unit::Seconds,
            m.load_seconds.clone(),
        );
        r.register_with_unit(
            "device_memory_total",
            "Memory of each compute device",
            Unit::Bytes,
            m.device_memory_total.clone(),
        );
        r.register_with_unit(
            "device_memory_free",
            "Free memory of each compute device",
            Unit::Bytes,
            m.device_memory_free.clone(),
        );
        r.register_with_unit(
            "model_memory",
            "Memory a loaded model holds per device, by kind: weights (model), kv_cache, compute \
             (llama.cpp's buffer sizes; device CPU is host memory)",
            Unit::Bytes,
            m.model_memory.clone(),
        );
        m
    }

    /// Counts an answered request.
    pub fn request(&self, route: &str, status: u16, duration: Duration) {
        self.requests
            .get_or_create(&vec![
                ("route", route.to_string()),
                ("status", status.to_string()),
            ])
            .inc();
        self.request_duration
            .get_or_create(&vec![("route", route.to_string())])
            .observe(duration.as_secs_f64());
    }

    /// Records the time to the first generated text of a request.
    pub fn first_token(&self, model: &str, after: Duration) {
        self.ttft
            .get_or_create(&model_label(model))
            .observe(after.as_secs_f64());
    }

    /// Records the gap between two generated pieces of text.
    pub fn token_gap(&self, model: &str, gap: Duration) {
        self.token_latency
            .get_or_create(&model_label(model))
            .observe(gap.as_secs_f64());
    }

    /// Counts the tokens of a finished generation.
    pub fn generation(&self, model: &str, summary: &GenerateSummary) {
        let label = model_label(model);
        let evaluated = summary.prompt_tokens.saturating_sub(summary.cached_tokens);
        self.prompt_tokens
            .get_or_create(&label)
            .inc_by(evaluated as u64);
        self.cached_tokens
            .get_or_create(&label)
            .inc_by(summary.cached_tokens as u64);
        self.generated_tokens
            .get_or_create(&label)
            .inc_by(summary.completion_tokens as u64);
    }

    /// Counts a model load.
    pub fn model_loaded(&self, took: Duration) {
        self.model_loads.inc();
        self.load_seconds.observe(took.as_secs_f64());
    }

    /// Adds a sample of the total generated tokens and updates the tokens/s gauge.
    pub fn sample_throughput(&self, total_generated: u64) {
        let now = Instant::now();
        let mut samples = self.throughput.lock().unwrap_or_else(|e| e.into_inner());
        samples.push_back((now, total_generated));
        while samples
            .front()
            .is_some_and(|(t, _)| now.duration_since(*t) > THROUGHPUT_WINDOW)
        {
            samples.pop_front();
        }
        let rate = match (samples.front(), samples.back()) {
            (Some((t0, n0)), Some((t1, n1))) if t1 > t0 => {
                n1.saturating_sub(*n0) as f64 / t1.duration_since(*t0).as_secs_f64()
            }
            _ => 0.0,
        };
        self.tokens_per_second.set(rate);
    }

    /// The OpenMetrics text, with the present-state gauges read from `models` and `devices`.
    pub fn render(&self, models: &[ModelStatus], devices: &[DeviceInfo]) -> String {
        self.queue_depth.clear();
        self.busy_slots.clear();
        self.slots.clear();
        self.active_requests.clear();
        self.model_memory.clear();
        let mut loaded = 0;
        for m in models {
            for mem in &m.memory {
                for (kind, bytes) in [
                    ("model", mem.model),
                    ("kv_cache", mem.kv_cache),
                    ("compute", mem.compute),
                ] {
                    self.model_memory
                        .get_or_create(&vec![
                            ("model", m.name.clone()),
                            ("device", mem.device.clone()),
                            ("kind", kind.to_string()),
                        ])
                        .set(bytes.min(i64::MAX as u64) as i64);
                }
            }
            let Some(stats) = &m.scheduler else { continue };
            loaded += 1;
            let label = model_label(&m.name);
            self.queue_depth
                .get_or_create(&label)
                .set(stats.queued as i64);
            self.busy_slots
                .get_or_create(&label)
                .set(i64::from(stats.busy_slots));
            self.slots.get_or_create(&label).set(i64::from(stats.slots));
            self.active_requests
                .get_or_create(&label)
                .set(m.active_requests as i64);
        }
        self.loaded_models.set(loaded);
        self.device_memory_total.clear();
        self.device_memory_free.clear();
        for d in devices {
            let label = vec![("device", d.name.clone()), ("kind", d.kind.clone())];
            self.device_memory_total
                .get_or_create(&label)
                .set(d.memory_total.min(i64::MAX as u64) as i64);
            self.device_memory_free
                .get_or_create(&label)
                .set(d.memory_free.min(i64::MAX as u64) as i64);
        }
        let mut out = String::new();
        if let Err(e) = encode(&mut out, &self.registry) {
            tracing::warn!("encoding the metrics failed: {e}");
        }
        out
    }
}

fn model_label(model: &str) -> Labels {
    vec![("model", model.to_string())]
}

impl EngineObserver for Metrics {
    fn event(&self, event: &EngineEvent<'_>) {
        match *event {
            EngineEvent::Loaded { took, .. } => self.model_loaded(took),
            EngineEvent::FirstText { model, after } => self.first_token(model, after),
            EngineEvent::TextGap { model, gap } => self.token_gap(model, gap),
            EngineEvent::Finished { model, summary } => self.generation(model, summary),
            EngineEvent::Loading { .. }
            | EngineEvent::LoadFailed { .. }
            | EngineEvent::Unloaded { .. } => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_counters_histograms_and_gauges() {
        let m = Metrics::new();
        m.request("/v1/chat/completions", 200, Duration::from_millis(30));
        m.first_token("tiny", Duration::from_millis(20));
        m.token_gap("tiny", Duration::from_millis(2));
        m.sample_throughput(0);
        let status = ModelStatus {
            name: "tiny".into(),
            loaded: true,
            active_requests: 1,
            scheduler: Some(shimmy_core::serving::SchedulerStats {
                slots: 4,
                busy_slots: 1,
                queued: 2,
                ..Default::default()
            }),
            template: "chatml".into(),
            memory: vec![shimmy_core::backend::DeviceMemory {
                device: "CUDA0".into(),
                model: 3 << 20,
                kv_cache: 1 << 20,
                compute: 512,
            }],
            placement: None,
            error: None,
        };
        let text = m.render(&[status], &[]);
        for needle in [
            "shimmy_requests_total{route=\"/v1/chat/completions\",status=\"200\"} 1",
            "shimmy_time_to_first_token_seconds_bucket",
            "shimmy_time_per_output_token_seconds_count{model=\"tiny\"} 1",
            "shimmy_queue_depth{model=\"tiny\"} 2",
            "shimmy_busy_slots{model=\"tiny\"} 1",
            "shimmy_loaded_models 1",
            "shimmy_generated_tokens_per_second",
            "shimmy_model_memory_bytes{model=\"tiny\",device=\"CUDA0\",kind=\"model\"} 3145728",
            "shimmy_model_memory_bytes{model=\"tiny\",device=\"CUDA0\",kind=\"kv_cache\"} 1048576",
            "shimmy_model_memory_bytes{model=\"tiny\",device=\"CUDA0\",kind=\"compute\"} 512",
        ] {
            assert!(text.contains(needle), "missing {needle} in\n{text}");
        }
    }
}
