//! The model architectures the vendored llama.cpp knows.
//!
//! Extracted from `LLM_ARCH_NAMES` in `llama.cpp/src/llama-arch.cpp` of `llama-cpp-sys-2`
//! 0.1.161 (the `(unknown)` placeholder left out). Update this list together with the
//! llama.cpp version.

/// Every `general.architecture` value the vendored llama.cpp recognises, in its order.
///
/// `clip` is in llama.cpp's list only for `llama-quantize`: it marks multimodal projectors,
/// which cannot be loaded as language models (see [`PROJECTOR_ARCHITECTURE`]).
pub const LLAMA_CPP_ARCHITECTURES: &[&str] = &[
    "clip",
    "llama",
    "llama4",
    "deci",
    "falcon",
    "grok",
    "gpt2",
    "gptj",
    "gptneox",
    "mpt",
    "baichuan",
    "starcoder",
    "refact",
    "bert",
    "modern-bert",
    "nomic-bert",
    "nomic-bert-moe",
    "neo-bert",
    "jina-bert-v2",
    "jina-bert-v3",
    "eurobert",
    "bloom",
    "stablelm",
    "qwen",
    "qwen2",
    "qwen2moe",
    "qwen2vl",
    "qwen3",
    "qwen3moe",
    "qwen3next",
    "qwen3vl",
    "qwen3vlmoe",
    "qwen35",
    "qwen35moe",
    "clef",
    "qwen4exp",
    "phi2",
    "phi3",
    "phimoe",
    "plamo",
    "plamo2",
    "plamo3",
    "codeshell",
    "orion",
    "internlm2",
    "minicpm",
    "minicpm3",
    "gemma",
    "gemma2",
    "gemma3",
    "gemma3n",
    "gemma4",
    "gemma4-assistant",
    "gemma-embedding",
    "starcoder2",
    "mamba",
    "mamba2",
    "maple",
    "jamba",
    "falcon-h1",
    "xverse",
    "command-r",
    "cohere2",
    "cohere2moe",
    "dbrx",
    "olmo",
    "olmo2",
    "olmoe",
    "muse-glimmer",
    "openelm",
    "arctic",
    "deepseek",
    "deepseek2",
    "deepseek2-ocr",
    "deepseek32",
    "deepseek4",
    "chatglm",
    "glm4",
    "glm4moe",
    "glm-dsa",
    "bitnet",
    "t5",
    "t5encoder",
    "jais",
    "jais2",
    "nemotron",
    "nemotron_h",
    "nemotron_h_moe",
    "exaone",
    "exaone4",
    "exaone-moe",
    "rwkv6",
    "rwkv6qwen2",
    "rwkv7",
    "arwkv7",
    "granite",
    "granitemoe",
    "granitehybrid",
    "graniteswitch",
    "granite_swa",
    "chameleon",
    "wavtokenizer-dec",
    "plm",
    "bailingmoe",
    "bailingmoe2",
    "bailingmoe3",
    "dots1",
    "dots3note",
    "arcee",
    "afmoe",
    "laguna",
    "ernie4_5",
    "ernie4_5-moe",
    "hunyuan-moe",
    "hunyuan-dense",
    "hunyuan_vl",
    "hy_v3",
    "hy_v4",
    "smollm3",
    "gpt-oss",
    "lfm2",
    "lfm2moe",
    "dream",
    "smallthinker",
    "llada",
    "llada-moe",
    "seed_oss",
    "grovemoe",
    "apertus",
    "minimax-01",
    "hrm_text",
    "minimax-m2",
    "minimax-m3",
    "cogvlm",
    "rnd1",
    "pangu-embedded",
    "mistral3",
    "eagle3",
    "dflash",
    "mistral4",
    "paddleocr",
    "mimo2",
    "step35",
    "spark2_5",
    "llama-embed",
    "maincoder",
    "kimi-linear",
    "kimi-k3",
    "glm5-next",
    "talkie",
    "mellum",
    "nanbeige",
    "qwen3tts",
    "pockettts",
];

/// The architecture of multimodal projector (`mmproj`) files.
pub const PROJECTOR_ARCHITECTURE: &str = "clip";

/// Whether llama.cpp knows `arch`.
pub fn is_known_architecture(arch: &str) -> bool {
    LLAMA_CPP_ARCHITECTURES.contains(&arch)
}

/// Up to `max` known architectures that look like `arch` (sharing a prefix of three or more
/// characters, or containing each other), best first, for "did you mean" hints.
pub fn similar_architectures(arch: &str, max: usize) -> Vec<&'static str> {
    let wanted = arch.to_ascii_lowercase();
    let mut scored: Vec<(usize, &'static str)> = LLAMA_CPP_ARCHITECTURES
        .iter()
        .filter(|name| **name != PROJECTOR_ARCHITECTURE)
        .filter_map(|name| {
            let prefix = wanted
                .bytes()
                .zip(name.bytes())
                .take_while(|(a, b)| a == b)
                .count();
            let contains =
                !wanted.is_empty() && (name.contains(wanted.as_str()) || wanted.contains(*name));
            if prefix >= 3 || contains {
                Some((prefix + if contains { 100 } else { 0 }, *name))
            } else {
                None
            }
        })
        .collect();
    scored.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.len().cmp(&b.1.len())));
    scored.into_iter().take(max).map(|(_, name)| name).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn list_has_the_usual_suspects() {
        for arch in [
            "llama",
            "qwen2",
            "qwen3moe",
            "gpt-oss",
            "gemma3",
            "deepseek2",
            "phi3",
        ] {
            assert!(is_known_architecture(arch), "{arch}");
        }
        assert!(!is_known_architecture("(unknown)"));
        assert!(!is_known_architecture("Llama"));
    }

    #[test]
    fn similar_names() {
        let close = similar_architectures("qwen9", 3);
        assert!(close.iter().all(|n| n.starts_with("qwen")), "{close:?}");
        assert!(similar_architectures("zzzz", 3).is_empty());
    }
}
