//! ggml tensor types: ids, names, block and type sizes.
//!
//! Mirrors `enum ggml_type` in the vendored `ggml/include/ggml.h` and the `type_traits` table in
//! `ggml/src/ggml.c` (block sizes from `ggml/src/ggml-common.h`). Ids that ggml removed
//! (4, 5, 31-33, 36-38) are not types here; [`removed_type_name`] names them for error messages.

use std::fmt;

use serde::Serialize;

/// A ggml tensor data type as stored in a GGUF tensor table.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[allow(non_camel_case_types)]
pub enum GgmlType {
    /// 32-bit float.
    F32,
    /// 16-bit float.
    F16,
    /// 4-bit, 32 per block, one scale.
    Q4_0,
    /// 4-bit, 32 per block, scale and minimum.
    Q4_1,
    /// 5-bit, 32 per block, one scale.
    Q5_0,
    /// 5-bit, 32 per block, scale and minimum.
    Q5_1,
    /// 8-bit, 32 per block, one scale.
    Q8_0,
    /// 8-bit, 32 per block, scale and sum (activations).
    Q8_1,
    /// 2-bit k-quant.
    Q2_K,
    /// 3-bit k-quant.
    Q3_K,
    /// 4-bit k-quant.
    Q4_K,
    /// 5-bit k-quant.
    Q5_K,
    /// 6-bit k-quant.
    Q6_K,
    /// 8-bit k-quant (activations).
    Q8_K,
    /// i-quant, 2.06 bits per weight.
    IQ2_XXS,
    /// i-quant, 2.31 bits per weight.
    IQ2_XS,
    /// i-quant, 3.06 bits per weight.
    IQ3_XXS,
    /// i-quant, 1.56 bits per weight.
    IQ1_S,
    /// i-quant, 4.5 bits per weight, non-linear.
    IQ4_NL,
    /// i-quant, 3.44 bits per weight.
    IQ3_S,
    /// i-quant, 2.5 bits per weight.
    IQ2_S,
    /// i-quant, 4.25 bits per weight.
    IQ4_XS,
    /// 8-bit integer.
    I8,
    /// 16-bit integer.
    I16,
    /// 32-bit integer.
    I32,
    /// 64-bit integer.
    I64,
    /// 64-bit float.
    F64,
    /// i-quant, 1.75 bits per weight.
    IQ1_M,
    /// bfloat16.
    BF16,
    /// Ternary, 1.69 bits per weight.
    TQ1_0,
    /// Ternary, 2.06 bits per weight.
    TQ2_0,
    /// Microscaling FP4 (one E8M0 scale per 32 values).
    MXFP4,
    /// NVIDIA FP4 (four E4M3 scales per 64 values).
    NVFP4,
    /// 1-bit, 128 per block.
    Q1_0,
    /// 2-bit, 64 per block.
    Q2_0,
}

/// `QK_K`, the super-block size of k-quants and i-quants.
const QK_K: u64 = 256;

/// (type, ggml id, name, block size, type size in bytes per block), in id order.
const TABLE: &[(GgmlType, u32, &str, u64, u64)] = &[
    (GgmlType::F32, 0, "f32", 1, 4),
    (GgmlType::F16, 1, "f16", 1, 2),
    (GgmlType::Q4_0, 2, "q4_0", 32, 18),
    (GgmlType::Q4_1, 3, "q4_1", 32, 20),
    (GgmlType::Q5_0, 6, "q5_0", 32, 22),
    (GgmlType::Q5_1, 7, "q5_1", 32, 24),
    (GgmlType::Q8_0, 8, "q8_0", 32, 34),
    (GgmlType::Q8_1, 9, "q8_1", 32, 36),
    (GgmlType::Q2_K, 10, "q2_K", QK_K, 84),
    (GgmlType::Q3_K, 11, "q3_K", QK_K, 110),
    (GgmlType::Q4_K, 12, "q4_K", QK_K, 144),
    (GgmlType::Q5_K, 13, "q5_K", QK_K, 176),
    (GgmlType::Q6_K, 14, "q6_K", QK_K, 210),
    (GgmlType::Q8_K, 15, "q8_K", QK_K, 292),
    (GgmlType::IQ2_XXS, 16, "iq2_xxs", QK_K, 66),
    (GgmlType::IQ2_XS, 17, "iq2_xs", QK_K, 74),
    (GgmlType::IQ3_XXS, 18, "iq3_xxs", QK_K, 98),
    (GgmlType::IQ1_S, 19, "iq1_s", QK_K, 50),
    (GgmlType::IQ4_NL, 20, "iq4_nl", 32, 18),
    (GgmlType::IQ3_S, 21, "iq3_s", QK_K, 110),
    (GgmlType::IQ2_S, 22, "iq2_s", QK_K, 82),
    (GgmlType::IQ4_XS, 23, "iq4_xs", QK_K, 136),
    (GgmlType::I8, 24, "i8", 1, 1),
    (GgmlType::I16, 25, "i16", 1, 2),
    (GgmlType::I32, 26, "i32", 1, 4),
    (GgmlType::I64, 27, "i64", 1, 8),
    (GgmlType::F64, 28, "f64", 1, 8),
    (GgmlType::IQ1_M, 29, "iq1_m", QK_K, 56),
    (GgmlType::BF16, 30, "bf16", 1, 2),
    (GgmlType::TQ1_0, 34, "tq1_0", QK_K, 54),
    (GgmlType::TQ2_0, 35, "tq2_0", QK_K, 66),
    (GgmlType::MXFP4, 39, "mxfp4", 32, 17),
    (GgmlType::NVFP4, 40, "nvfp4", 64, 36),
    (GgmlType::Q1_0, 41, "q1_0", 128, 18),
    (GgmlType::Q2_0, 42, "q2_0", 64, 18),
];

/// `GGML_TYPE_COUNT` of the vendored ggml: every valid id is below this.
pub const GGML_TYPE_COUNT: u32 = 43;

impl GgmlType {
    /// Every type, in ggml id order.
    pub fn all() -> impl Iterator<Item = GgmlType> {
        TABLE.iter().map(|row| row.0)
    }

    /// The type with ggml id `id`, or `None` for ids that are removed or out of range.
    pub fn from_id(id: u32) -> Option<GgmlType> {
        TABLE.iter().find(|row| row.1 == id).map(|row| row.0)
    }

    fn row(self) -> &'static (GgmlType, u32, &'static str, u64, u64) {
        // The table has one row per variant (checked by a unit test); the fallback is never
        // taken but keeps this free of panics.
        const F32_ROW: &(GgmlType, u32, &str, u64, u64) = &(GgmlType::F32, 0, "f32", 1, 4);
        TABLE.iter().find(|row| row.0 == self).unwrap_or(F32_ROW)
    }

    /// The ggml id (`GGML_TYPE_*` value).
    pub fn id(self) -> u32 {
        self.row().1
    }

    /// ggml's name for the type, e.g. `q8_0`, `q4_K`, `mxfp4`.
    pub fn name(self) -> &'static str {
        self.row().2
    }

    /// Elements per block (1 for plain types).
    pub fn block_size(self) -> u64 {
        self.row().3
    }

    /// Bytes per block.
    pub fn type_size(self) -> u64 {
        self.row().4
    }

    /// Whether the type is block-quantized.
    pub fn is_quantized(self) -> bool {
        !matches!(
            self,
            GgmlType::F32
                | GgmlType::F16
                | GgmlType::BF16
                | GgmlType::F64
                | GgmlType::I8
                | GgmlType::I16
                | GgmlType::I32
                | GgmlType::I64
        )
    }

    /// Bytes taken by `n_elements` elements, or `None` when `n_elements` is not a whole number
    /// of blocks or the size overflows.
    pub fn bytes_for(self, n_elements: u64) -> Option<u64> {
        let blocks = n_elements / self.block_size();
        if blocks * self.block_size() != n_elements {
            return None;
        }
        blocks.checked_mul(self.type_size())
    }
}

impl fmt::Display for GgmlType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The name of a ggml type id that ggml once had and removed, for error messages.
pub fn removed_type_name(id: u32) -> Option<&'static str> {
    match id {
        4 => Some("Q4_2"),
        5 => Some("Q4_3"),
        31 => Some("Q4_0_4_4"),
        32 => Some("Q4_0_4_8"),
        33 => Some("Q4_0_8_8"),
        36 => Some("IQ4_NL_4_4"),
        37 => Some("IQ4_NL_4_8"),
        38 => Some("IQ4_NL_8_8"),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_has_one_row_per_type_and_round_trips() {
        let all: Vec<GgmlType> = GgmlType::all().collect();
        assert_eq!(all.len(), TABLE.len());
        for t in &all {
            assert_eq!(TABLE.iter().filter(|row| row.0 == *t).count(), 1, "{t:?}");
            assert_eq!(GgmlType::from_id(t.id()), Some(*t));
            assert!(t.id() < GGML_TYPE_COUNT);
        }
        // Every id below the count is either a type or a removed one.
        for id in 0..GGML_TYPE_COUNT {
            assert!(
                GgmlType::from_id(id).is_some() != removed_type_name(id).is_some(),
                "id {id}"
            );
        }
        assert_eq!(GgmlType::from_id(GGML_TYPE_COUNT), None);
    }

    #[test]
    fn sizes_match_ggml() {
        assert_eq!(GgmlType::Q8_0.name(), "q8_0");
        assert_eq!(GgmlType::Q4_K.bytes_for(256), Some(144));
        assert_eq!(GgmlType::Q4_K.bytes_for(100), None);
        assert_eq!(GgmlType::F16.bytes_for(10), Some(20));
        assert_eq!(GgmlType::MXFP4.bytes_for(64), Some(34));
        assert!(GgmlType::Q6_K.is_quantized());
        assert!(!GgmlType::BF16.is_quantized());
    }
}
