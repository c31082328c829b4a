//! A bounds-checked reader of GGUF headers, metadata and tensor tables.
//!
//! [`GgufFile::open`] runs before llama.cpp ever sees a file. It reads only the header, the
//! metadata and the tensor table (never the weights) and turns every way a file can be broken
//! (truncated, not GGUF, absurd counts, unknown types, an architecture this llama.cpp does not
//! know, hyper-parameters llama.cpp would abort on...) into an [`Error`] that names the file,
//! the problem and the fix. [`sniff`] is the cheap variant used by model discovery: magic and
//! version only.

mod accessors;
mod arch;
mod ftype;
mod ggml_type;
mod graph_asserts;
mod hparams;
mod parse;
mod reader;
mod token_list;
mod value;

#[cfg(test)]
mod hparams_tests;
#[cfg(test)]
pub(crate) mod test_writer;
#[cfg(test)]
mod tests;

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{BufReader, Read};
use std::path::{Path, PathBuf};

use serde::Serialize;

pub use arch::{
    is_known_architecture, similar_architectures, LLAMA_CPP_ARCHITECTURES, PROJECTOR_ARCHITECTURE,
};
pub use ftype::file_type_name;
pub use ggml_type::{removed_type_name, GgmlType, GGML_TYPE_COUNT};
pub use hparams::{MAX_EXPERTS, MAX_LAYERS, ROPE_SCALING_TYPES};
pub use value::{GgufArray, GgufValue, GgufValueType, MAX_ARRAY_VALUES_KEPT};

use crate::{Error, Result};

/// The metadata key holding the architecture.
pub const KEY_ARCHITECTURE: &str = "general.architecture";

/// One entry of the tensor table.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TensorInfo {
    /// Tensor name, e.g. `blk.0.ffn_up_exps.weight`.
    pub name: String,
    /// Dimensions, innermost first (1 to 4 of them).
    pub dims: Vec<u64>,
    /// Data type.
    pub ggml_type: GgmlType,
    /// Offset of the data relative to [`GgufFile::data_offset`].
    pub offset: u64,
    /// Size of the data in bytes.
    pub n_bytes: u64,
}

impl TensorInfo {
    /// Number of elements (product of the dimensions).
    pub fn n_elements(&self) -> u64 {
        self.dims.iter().copied().fold(1u64, u64::saturating_mul)
    }

    /// The block (layer) index of a `blk.N.*` tensor.
    pub fn layer(&self) -> Option<u32> {
        let rest = self.name.strip_prefix("blk.")?;
        let (index, _) = rest.split_once('.')?;
        if index.is_empty() || !index.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        index.parse().ok()
    }
}

/// The header, metadata and tensor table of a GGUF file.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct GgufFile {
    /// The file read.
    pub path: PathBuf,
    /// GGUF version (2 or 3).
    pub version: u32,
    /// File size in bytes.
    pub file_size: u64,
    /// Alignment of tensor data (`general.alignment`, default 32).
    pub alignment: u64,
    /// Offset of the tensor data section from the start of the file.
    pub data_offset: u64,
    /// Metadata, by key. Arrays longer than [`MAX_ARRAY_VALUES_KEPT`] keep only their length.
    pub metadata: BTreeMap<String, GgufValue>,
    /// The tensor table, in file order.
    pub tensors: Vec<TensorInfo>,
}

impl GgufFile {
    /// Reads and checks the header, metadata and tensor table of `path`, checks that the
    /// architecture is one this llama.cpp knows and that no hyper-parameter would make
    /// llama.cpp abort (see the `hparams` module). Never reads the weights.
    pub fn open(path: impl AsRef<Path>) -> Result<GgufFile> {
        let path = path.as_ref();
        let (file, file_size) = open_regular_file(path)?;
        let mut reader =
            reader::Reader::new(BufReader::with_capacity(1 << 16, file), file_size, path);
        let gguf = parse::read_gguf(&mut reader)?;
        gguf.check_architecture()?;
        hparams::check(&gguf)?;
        Ok(gguf)
    }

    /// Parses GGUF bytes (tests and tools); `path` is only used in messages. Applies every
    /// check [`GgufFile::open`] does.
    pub fn from_bytes(bytes: &[u8], path: impl AsRef<Path>) -> Result<GgufFile> {
        let path = path.as_ref();
        let mut reader = reader::Reader::new(bytes, bytes.len() as u64, path);
        let gguf = parse::read_gguf(&mut reader)?;
        gguf.check_architecture()?;
        hparams::check(&gguf)?;
        Ok(gguf)
    }

    fn check_architecture(&self) -> Result<()> {
        let arch = match self.metadata.get(KEY_ARCHITECTURE) {
            Some(GgufValue::String(arch)) => arch,
            Some(other) => {
                return Err(Error::invalid_gguf(
                    &self.path,
                    format!(
                        "{KEY_ARCHITECTURE} must be a string but is a {}; the file is corrupt",
                        other.value_type()
                    ),
                ))
            }
            None => {
                return Err(Error::invalid_gguf(
                    &self.path,
                    format!(
                        "the metadata has no {KEY_ARCHITECTURE} key, so llama.cpp cannot tell what model this is; \
                         the file is not a model or was converted incorrectly"
                    ),
                ))
            }
        };
        if arch == PROJECTOR_ARCHITECTURE {
            return Err(Error::invalid_gguf(
                &self.path,
                "this is a multimodal projector (architecture \"clip\", an mmproj file), not a language model; \
                 load the model GGUF it belongs to",
            ));
        }
        if !is_known_architecture(arch) {
            return Err(Error::UnknownArchitecture {
                path: self.path.clone(),
                arch: arch.clone(),
                supported: supported_summary(arch),
            });
        }
        Ok(())
    }
}

/// The `supported` text of [`Error::UnknownArchitecture`]: close names first, then a count.
fn supported_summary(arch: &str) -> String {
    let total = LLAMA_CPP_ARCHITECTURES.len() - 1; // without "clip"
    let close = similar_architectures(arch, 5);
    let shown: Vec<&str> = if close.is_empty() {
        LLAMA_CPP_ARCHITECTURES
            .iter()
            .copied()
            .filter(|a| *a != PROJECTOR_ARCHITECTURE)
            .take(8)
            .collect()
    } else {
        close
    };
    format!(
        "{} and {} more (the model needs a newer llama.cpp, or its file is mislabelled)",
        shown.join(", "),
        total.saturating_sub(shown.len())
    )
}

/// Opens `path` for reading after checking that it is a regular file; returns it with its size.
fn open_regular_file(path: &Path) -> Result<(File, u64)> {
    let meta = std::fs::metadata(path).map_err(|e| Error::io(path, e))?;
    if meta.is_dir() {
        return Err(Error::NotAFile {
            path: path.to_path_buf(),
            what: "a directory".into(),
        });
    }
    if !meta.is_file() {
        return Err(Error::NotAFile {
            path: path.to_path_buf(),
            what: "a device, socket or pipe".into(),
        });
    }
    let file = File::open(path).map_err(|e| Error::io(path, e))?;
    Ok((file, meta.len()))
}

/// Cheap check that `path` looks like a GGUF file llama.cpp can read: a regular file with the
/// `GGUF` magic and version 2 or 3. Reads 8 bytes.
pub fn sniff(path: impl AsRef<Path>) -> Result<()> {
    let path = path.as_ref();
    let (file, file_size) = open_regular_file(path)?;
    let mut head = Vec::with_capacity(8);
    file.take(8)
        .read_to_end(&mut head)
        .map_err(|e| Error::io(path, e))?;
    let Some(magic) = head.get(..4) else {
        return parse::check_header_size(path, file_size);
    };
    parse::check_magic(path, magic)?;
    parse::check_header_size(path, file_size)?;
    let version = head
        .get(4..8)
        .and_then(|b| <[u8; 4]>::try_from(b).ok())
        .map(u32::from_le_bytes)
        .unwrap_or(0);
    parse::check_version(path, version)
}
