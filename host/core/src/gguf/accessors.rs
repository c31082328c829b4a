//! Typed views of the metadata and sums over the tensor table.

use std::collections::BTreeMap;

use super::ftype::{file_type_name, guessed_file_type};
use super::{GgmlType, GgufFile, GgufValue, TensorInfo, KEY_ARCHITECTURE};

impl GgufFile {
    /// The raw value of metadata key `key`.
    pub fn get(&self, key: &str) -> Option<&GgufValue> {
        self.metadata.get(key)
    }

    /// `general.architecture` (always present in a file that passed [`GgufFile::open`]; empty
    /// otherwise).
    pub fn architecture(&self) -> &str {
        self.get_str(KEY_ARCHITECTURE).unwrap_or("")
    }

    /// The string value of `key`.
    pub fn get_str(&self, key: &str) -> Option<&str> {
        self.get(key)?.as_str()
    }

    /// The value of `key` as a non-negative integer, whatever integer type it is stored as.
    pub fn get_u64(&self, key: &str) -> Option<u64> {
        self.get(key)?.as_u64()
    }

    /// The integer value of `{architecture}.{suffix}`, e.g. `arch_u64("block_count")`.
    pub fn arch_u64(&self, suffix: &str) -> Option<u64> {
        self.get_u64(&format!("{}.{suffix}", self.architecture()))
    }

    /// The element count of the array at `key` (also for long arrays whose values were not
    /// kept).
    pub fn array_len(&self, key: &str) -> Option<u64> {
        Some(self.get(key)?.as_array()?.len)
    }

    fn arch_u32(&self, suffix: &str) -> Option<u32> {
        self.arch_u64(suffix).and_then(|v| u32::try_from(v).ok())
    }

    /// Transformer blocks (`{arch}.block_count`).
    pub fn block_count(&self) -> Option<u32> {
        self.arch_u32("block_count")
    }

    /// Training context length (`{arch}.context_length`).
    pub fn context_length(&self) -> Option<u32> {
        self.arch_u32("context_length")
    }

    /// Experts per MoE layer (`{arch}.expert_count`); 0 for dense models.
    pub fn expert_count(&self) -> u32 {
        self.arch_u32("expert_count").unwrap_or(0)
    }

    /// Experts used per token (`{arch}.expert_used_count`); 0 for dense models.
    pub fn expert_used_count(&self) -> u32 {
        self.arch_u32("expert_used_count").unwrap_or(0)
    }

    /// The default chat template (`tokenizer.chat_template`).
    pub fn chat_template(&self) -> Option<&str> {
        self.get_str("tokenizer.chat_template")
    }

    /// Vocabulary size (length of `tokenizer.ggml.tokens`).
    pub fn token_count(&self) -> Option<u64> {
        self.array_len("tokenizer.ggml.tokens")
    }

    /// The quantization as `llama-quantize` names it, e.g. `Q4_K_M`, from `general.file_type`.
    ///
    /// When the key is missing, the type is guessed as llama.cpp does from the most common type
    /// of the weight tensors (two or more dimensions) and the name ends in ` (guessed)`. An id
    /// this build does not know gives `unknown (id N)`.
    pub fn file_type_name(&self) -> String {
        if let Some(id) = self.get_u64("general.file_type") {
            return match file_type_name(id) {
                Some(name) => name.to_string(),
                None => format!("unknown (id {id})"),
            };
        }
        match self.most_common_weight_type() {
            Some(ty) => {
                let name = file_type_name(guessed_file_type(ty)).unwrap_or("F32");
                format!("{name} (guessed)")
            }
            None => "unknown (no tensors)".to_string(),
        }
    }

    /// The most common type among tensors with two or more dimensions (all tensors when there
    /// are none), ties going to the type seen first in name order as in llama.cpp.
    fn most_common_weight_type(&self) -> Option<GgmlType> {
        let weights: Vec<&TensorInfo> = self.tensors.iter().filter(|t| t.dims.len() >= 2).collect();
        let pool: Vec<&TensorInfo> = if weights.is_empty() {
            self.tensors.iter().collect()
        } else {
            weights
        };
        let mut by_name = pool;
        by_name.sort_by(|a, b| a.name.cmp(&b.name));
        let mut counts: BTreeMap<GgmlType, u32> = BTreeMap::new();
        let mut best: Option<(GgmlType, u32)> = None;
        for t in by_name {
            let n = counts.entry(t.ggml_type).or_insert(0);
            *n += 1;
            if best.is_none_or(|(_, max)| *n > max) {
                best = Some((t.ggml_type, *n));
            }
        }
        best.map(|(ty, _)| ty)
    }

    /// Total parameters (sum of all tensors' element counts).
    pub fn parameter_count(&self) -> u64 {
        self.tensors
            .iter()
            .map(TensorInfo::n_elements)
            .fold(0, u64::saturating_add)
    }

    /// Total bytes of tensor data (without alignment padding).
    pub fn tensor_bytes(&self) -> u64 {
        self.tensors
            .iter()
            .map(|t| t.n_bytes)
            .fold(0, u64::saturating_add)
    }

    /// The tensor called `name`.
    pub fn tensor(&self, name: &str) -> Option<&TensorInfo> {
        self.tensors.iter().find(|t| t.name == name)
    }
}
