//! The built-in template components (the real `.wasm` files the binary embeds) render one
//! conversation byte for byte as each model family's published chat format writes it, and the
//! `jinja` component renders real models' own templates to the same bytes.

mod common;

use std::sync::{Arc, OnceLock};

use common::*;
use shimmy_plugins::*;

const TEMPLATES: [&str; 7] = [
    "chatml", "llama3", "mistral", "phi3", "gemma", "deepseek", "jinja",
];

fn reg() -> Arc<PluginRegistry> {
    static R: OnceLock<Arc<PluginRegistry>> = OnceLock::new();
    shared(&R, || {
        init_log();
        let rt = runtime_in(&shared_cache(), 2000, Grants::none());
        registry(&rt, &TEMPLATES)
    })
}

/// system, user, assistant, user: the conversation every fixture renders.
fn conversation(architecture: &str, bos: &str, eos: &str) -> RenderRequest {
    RenderRequest {
        messages: vec![
            ChatMessage::new("system", "You are a helpful assistant."),
            ChatMessage::new("user", "What is 2+2?"),
            ChatMessage::new("assistant", "2+2 equals 4."),
            ChatMessage::new("user", "And 3+3?"),
        ],
        tools: Vec::new(),
        add_generation_prompt: true,
        model: ModelContext {
            architecture: architecture.into(),
            chat_template: None,
            bos_token: Some(bos.into()),
            eos_token: Some(eos.into()),
        },
    }
}

async fn render(name: &str, request: RenderRequest) -> Rendered {
    reg()
        .render_template(name, request)
        .await
        .unwrap_or_else(|e| panic!("{name}: {e}"))
}

const CHATML: &str = "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n\
     <|im_start|>user\nWhat is 2+2?<|im_end|>\n\
     <|im_start|>assistant\n2+2 equals 4.<|im_end|>\n\
     <|im_start|>user\nAnd 3+3?<|im_end|>\n\
     <|im_start|>assistant\n";

const LLAMA3: &str = "<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\n\
     You are a helpful assistant.<|eot_id|>\
     <|start_header_id|>user<|end_header_id|>\n\nWhat is 2+2?<|eot_id|>\
     <|start_header_id|>assistant<|end_header_id|>\n\n2+2 equals 4.<|eot_id|>\
     <|start_header_id|>user<|end_header_id|>\n\nAnd 3+3?<|eot_id|>\
     <|start_header_id|>assistant<|end_header_id|>\n\n";

#[tokio::test]
async fn chatml_qwen() {
    let r = render("chatml", conversation("qwen3", "", "<|im_end|>")).await;
    assert_eq!(r.prompt, CHATML);
    assert!(r.stop.iter().any(|s| s == "<|im_end|>"), "{:?}", r.stop);
}

#[tokio::test]
async fn llama3() {
    let r = render(
        "llama3",
        conversation("llama", "<|begin_of_text|>", "<|eot_id|>"),
    )
    .await;
    assert_eq!(r.prompt, LLAMA3);
    assert!(r.stop.iter().any(|s| s == "<|eot_id|>"), "{:?}", r.stop);
    assert!(
        !r.add_bos,
        "the prompt already starts with <|begin_of_text|>"
    );
}

#[tokio::test]
async fn mistral() {
    let r = render("mistral", conversation("llama", "<s>", "</s>")).await;
    assert_eq!(
        r.prompt,
        "<s>[INST] You are a helpful assistant.\n\nWhat is 2+2? [/INST]2+2 equals 4.</s>\
         [INST] And 3+3? [/INST]"
    );
    assert_eq!(r.stop, ["</s>"]);
    assert!(!r.add_bos);
}

#[tokio::test]
async fn phi3() {
    let r = render("phi3", conversation("phi3", "<s>", "<|endoftext|>")).await;
    assert_eq!(
        r.prompt,
        "<|system|>\nYou are a helpful assistant.<|end|>\n<|user|>\nWhat is 2+2?<|end|>\n\
         <|assistant|>\n2+2 equals 4.<|end|>\n<|user|>\nAnd 3+3?<|end|>\n<|assistant|>\n"
    );
    assert!(r.stop.iter().any(|s| s == "<|end|>"), "{:?}", r.stop);
}

#[tokio::test]
async fn gemma() {
    let r = render("gemma", conversation("gemma3", "<bos>", "<eos>")).await;
    // Gemma has no system role: the system text opens the first user turn.
    assert_eq!(
        r.prompt,
        "<bos><start_of_turn>user\nYou are a helpful assistant.\n\nWhat is 2+2?<end_of_turn>\n\
         <start_of_turn>model\n2+2 equals 4.<end_of_turn>\n\
         <start_of_turn>user\nAnd 3+3?<end_of_turn>\n<start_of_turn>model\n"
    );
    assert!(r.stop.iter().any(|s| s == "<end_of_turn>"), "{:?}", r.stop);
    assert!(!r.add_bos);
}

#[tokio::test]
async fn deepseek() {
    let r = render(
        "deepseek",
        conversation(
            "deepseek2",
            "<｜begin▁of▁sentence｜>",
            "<｜end▁of▁sentence｜>",
        ),
    )
    .await;
    assert_eq!(
        r.prompt,
        "<｜begin▁of▁sentence｜>You are a helpful assistant.<｜User｜>What is 2+2?\
         <｜Assistant｜>2+2 equals 4.<｜end▁of▁sentence｜><｜User｜>And 3+3?<｜Assistant｜>"
    );
    assert!(!r.add_bos);
}

/// The `jinja` component renders the models' own templates (copies of the templates shipped
/// in Qwen2.5 and Llama 3 GGUF files) to exactly the hand-written formats.
#[tokio::test]
async fn jinja_renders_real_embedded_templates() {
    let fixtures = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../plugins/templates/jinja/fixtures"
    );
    let template = |file: &str| {
        std::fs::read_to_string(format!("{fixtures}/{file}"))
            .unwrap_or_else(|e| panic!("{file}: {e}"))
    };

    let mut req = conversation("qwen2", "", "<|im_end|>");
    req.model.chat_template = Some(template("qwen2.5.jinja"));
    assert_eq!(render("jinja", req).await.prompt, CHATML);

    let mut req = conversation("llama", "<|begin_of_text|>", "<|eot_id|>");
    req.model.chat_template = Some(template("llama3.jinja"));
    let r = render("jinja", req).await;
    assert_eq!(r.prompt, LLAMA3);
    assert!(!r.add_bos, "the template printed bos_token itself");

    // Mistral's own template has no system role: the same chat without it, through the
    // template and through the hand-written plugin, gives the same bytes.
    let mut req = conversation("llama", "<s>", "</s>");
    req.messages.remove(0);
    let expected = "<s>[INST] What is 2+2? [/INST]2+2 equals 4.</s>[INST] And 3+3? [/INST]";
    assert_eq!(render("mistral", req.clone()).await.prompt, expected);
    req.model.chat_template = Some(template("mistral.jinja"));
    assert_eq!(render("jinja", req).await.prompt, expected);
}

/// A template that raises (as real ones do on bad input) fails the call with its message.
#[tokio::test]
async fn jinja_raise_exception_is_an_error_naming_the_reason() {
    let mut req = conversation("llama", "<s>", "</s>");
    req.model.chat_template =
        Some("{{ raise_exception('Conversation roles must alternate user/assistant') }}".into());
    let err = reg().render_template("jinja", req).await.unwrap_err();
    assert!(
        err.to_string()
            .contains("Conversation roles must alternate"),
        "{err}"
    );
}
