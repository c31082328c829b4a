//! Model file types (`general.file_type`, llama.cpp's `enum llama_ftype`).

use super::GgmlType;

/// llama.cpp's bit marking a file type that was guessed from the tensor types.
const LLAMA_FTYPE_GUESSED: u64 = 1024;

/// The short name (as `llama-quantize` spells it, e.g. `Q4_K_M`) of llama.cpp file type `id`.
pub fn file_type_name(id: u64) -> Option<&'static str> {
    Some(match id & !LLAMA_FTYPE_GUESSED {
        0 => "F32",
        1 => "F16",
        2 => "Q4_0",
        3 => "Q4_1",
        7 => "Q8_0",
        8 => "Q5_0",
        9 => "Q5_1",
        10 => "Q2_K",
        11 => "Q3_K_S",
        12 => "Q3_K_M",
        13 => "Q3_K_L",
        14 => "Q4_K_S",
        15 => "Q4_K_M",
        16 => "Q5_K_S",
        17 => "Q5_K_M",
        18 => "Q6_K",
        19 => "IQ2_XXS",
        20 => "IQ2_XS",
        21 => "Q2_K_S",
        22 => "IQ3_XS",
        23 => "IQ3_XXS",
        24 => "IQ1_S",
        25 => "IQ4_NL",
        26 => "IQ3_S",
        27 => "IQ3_M",
        28 => "IQ2_S",
        29 => "IQ2_M",
        30 => "IQ4_XS",
        31 => "IQ1_M",
        32 => "BF16",
        36 => "TQ1_0",
        37 => "TQ2_0",
        38 => "MXFP4_MOE",
        39 => "NVFP4",
        40 => "Q1_0",
        41 => "Q2_0",
        _ => return None,
    })
}

/// The file type llama.cpp guesses when `general.file_type` is missing and `ty` is the most
/// common tensor type (`llama_model_loader` constructor; MXFP4 added, which llama.cpp guesses
/// as F32).
pub fn guessed_file_type(ty: GgmlType) -> u64 {
    match ty {
        GgmlType::F16 => 1,
        GgmlType::BF16 => 32,
        GgmlType::Q4_0 => 2,
        GgmlType::Q4_1 => 3,
        GgmlType::Q5_0 => 8,
        GgmlType::Q5_1 => 9,
        GgmlType::Q8_0 => 7,
        GgmlType::Q2_K => 10,
        GgmlType::Q3_K => 12,
        GgmlType::Q4_K => 15,
        GgmlType::Q5_K => 17,
        GgmlType::Q6_K => 18,
        GgmlType::TQ1_0 => 36,
        GgmlType::TQ2_0 => 37,
        GgmlType::IQ2_XXS => 19,
        GgmlType::IQ2_XS => 20,
        GgmlType::IQ2_S => 28,
        GgmlType::IQ3_XXS => 23,
        GgmlType::IQ1_S => 24,
        GgmlType::IQ1_M => 31,
        GgmlType::IQ4_NL => 25,
        GgmlType::IQ4_XS => 30,
        GgmlType::IQ3_S => 26,
        GgmlType::MXFP4 => 38,
        GgmlType::NVFP4 => 39,
        GgmlType::Q1_0 => 40,
        GgmlType::Q2_0 => 41,
        _ => 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        assert_eq!(file_type_name(15), Some("Q4_K_M"));
        assert_eq!(file_type_name(15 | 1024), Some("Q4_K_M"));
        assert_eq!(file_type_name(38), Some("MXFP4_MOE"));
        assert_eq!(file_type_name(4), None);
        assert_eq!(
            file_type_name(guessed_file_type(GgmlType::Q4_K)),
            Some("Q4_K_M")
        );
        assert_eq!(
            file_type_name(guessed_file_type(GgmlType::I32)),
            Some("F32")
        );
    }
}
