//! Parsing of the GGUF header, metadata and tensor table, with every check llama.cpp's own
//! reader (`ggml/src/gguf.cpp`) makes, plus the file-bounds checks it leaves to later.

use std::collections::{BTreeMap, HashSet};
use std::fmt;
use std::io::Read;
use std::path::Path;

use super::ggml_type::{removed_type_name, GGML_TYPE_COUNT};
use super::reader::Reader;
use super::token_list::{read_token_list, TOKENS_KEY};
use super::value::{GgufArray, GgufValue, GgufValueType, MAX_ARRAY_VALUES_KEPT};
use super::{GgmlType, GgufFile, TensorInfo};
use crate::{Error, Result};

/// `"GGUF"`.
pub(super) const MAGIC: [u8; 4] = *b"GGUF";
/// Magic, version, tensor count, metadata count.
pub(super) const HEADER_BYTES: u64 = 24;
/// Alignment of tensor data when `general.alignment` is absent.
pub(super) const DEFAULT_ALIGNMENT: u64 = 32;
/// Longest tensor name llama.cpp accepts, in bytes (`GGML_MAX_NAME - 1`).
const MAX_TENSOR_NAME: usize = 63;
/// Most dimensions a tensor may have (`GGML_MAX_DIMS`).
const MAX_DIMS: u32 = 4;
/// Most elements an array may have (`GGUF_MAX_ARRAY_ELEMENTS`).
const MAX_ARRAY_ELEMENTS: u64 = 1 << 30;
/// Deepest array nesting this reader follows.
const MAX_ARRAY_DEPTH: u32 = 4;
/// Smallest metadata entry: key length, a 1-byte key, type, a 1-byte value.
const MIN_KV_BYTES: u64 = 8 + 1 + 4 + 1;
/// Smallest tensor table entry: name length, empty name, n_dims, one dim, type, offset.
const MIN_TENSOR_BYTES: u64 = 8 + 4 + 8 + 4 + 8;

/// Names what is being read, for error messages, without allocating.
struct Named<'a> {
    what: &'static str,
    kind: &'static str,
    name: &'a str,
}

impl<'a> Named<'a> {
    fn key(what: &'static str, name: &'a str) -> Self {
        Named {
            what,
            kind: "metadata key",
            name,
        }
    }

    fn tensor(what: &'static str, name: &'a str) -> Self {
        Named {
            what,
            kind: "tensor",
            name,
        }
    }
}

impl fmt::Display for Named<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} of {} '{}'", self.what, self.kind, self.name)
    }
}

/// Prints up to four bytes the way llama.cpp does: printable ASCII as is, the rest as `?`.
pub(super) fn printable_magic(bytes: &[u8]) -> String {
    bytes
        .iter()
        .take(4)
        .map(|&b| {
            if b.is_ascii_graphic() || b == b' ' {
                b as char
            } else {
                '?'
            }
        })
        .collect()
}

/// Fails with [`Error::NotGguf`] unless `magic` is `GGUF`.
pub(super) fn check_magic(path: &Path, magic: &[u8]) -> Result<()> {
    if magic != MAGIC {
        return Err(Error::NotGguf {
            path: path.to_path_buf(),
            found: printable_magic(magic),
        });
    }
    Ok(())
}

/// Fails with [`Error::InvalidGguf`] unless `version` is 2 or 3.
pub(super) fn check_version(path: &Path, version: u32) -> Result<()> {
    let reason = match version {
        2 | 3 => return Ok(()),
        0 => "GGUF version 0 is not a valid version; the file is corrupt".to_string(),
        1 => "GGUF version 1 is no longer supported by llama.cpp; convert the model again with a current \
              llama.cpp or download a newer GGUF"
            .to_string(),
        v if v & 0xFFFF == 0 => format!(
            "GGUF version {v:#010x} looks byte-swapped: the file is big-endian, llama.cpp needs a little-endian GGUF"
        ),
        v => format!(
            "GGUF version {v} is not supported (this build reads versions 2 and 3); update shimmy or convert \
             the model with a matching llama.cpp"
        ),
    };
    Err(Error::invalid_gguf(path, reason))
}

/// Fails unless a file of `file_size` bytes is at least as long as the GGUF header.
pub(super) fn check_header_size(path: &Path, file_size: u64) -> Result<()> {
    if file_size < HEADER_BYTES {
        return Err(Error::invalid_gguf(
            path,
            format!(
                "the file is {file_size} bytes, shorter than the {HEADER_BYTES}-byte GGUF header; \
                 it is truncated or not a model"
            ),
        ));
    }
    Ok(())
}

/// Reads header, metadata and tensor table and checks the tensor data layout.
pub(super) fn read_gguf<R: Read>(r: &mut Reader<'_, R>) -> Result<GgufFile> {
    let path = r.path();
    if r.len() < 4 {
        check_header_size(path, r.len())?;
    }
    let magic: [u8; 4] = r.bytes(&"the magic bytes")?;
    check_magic(path, &magic)?;
    check_header_size(path, r.len())?;
    let version = r.u32(&"the version")?;
    check_version(path, version)?;
    let n_tensors = r.u64(&"the tensor count")?;
    let n_kv = r.u64(&"the metadata count")?;
    check_counts(r, n_tensors, n_kv)?;

    let metadata = read_metadata(r, n_kv)?;
    let alignment = alignment(r, &metadata)?;
    let tensors = read_tensor_table(r, n_tensors)?;
    let data_offset = if tensors.is_empty() {
        r.pos()
    } else {
        align_up(r.pos(), alignment)
            .ok_or_else(|| r.invalid("the data section offset overflows"))?
    };
    check_layout(r, &tensors, data_offset, alignment)?;

    Ok(GgufFile {
        path: path.to_path_buf(),
        version,
        file_size: r.len(),
        alignment,
        data_offset,
        metadata,
        tensors,
    })
}

/// Rejects tensor and metadata counts that cannot fit in what follows the header.
fn check_counts<R: Read>(r: &Reader<'_, R>, n_tensors: u64, n_kv: u64) -> Result<()> {
    let needed = u128::from(n_kv) * u128::from(MIN_KV_BYTES)
        + u128::from(n_tensors) * u128::from(MIN_TENSOR_BYTES);
    if needed > u128::from(r.remaining()) {
        return Err(r.invalid(format!(
            "the header claims {n_tensors} tensors and {n_kv} metadata entries, which need at least {needed} bytes, \
             but only {} bytes follow the header (the file is {} bytes); the file is corrupt or truncated",
            r.remaining(),
            r.len()
        )));
    }
    Ok(())
}

fn read_metadata<R: Read>(r: &mut Reader<'_, R>, n_kv: u64) -> Result<BTreeMap<String, GgufValue>> {
    let mut metadata = BTreeMap::new();
    for i in 0..n_kv {
        let key = r.string(&format_args!("the key of metadata entry {i}"))?;
        if key.is_empty() {
            return Err(r.invalid(format!(
                "metadata entry {i} has an empty key; the file is corrupt"
            )));
        }
        if metadata.contains_key(&key) {
            return Err(r.invalid(format!(
                "metadata key '{key}' appears twice; llama.cpp refuses such files, convert the model again"
            )));
        }
        let ty = read_value_type(r, &key)?;
        let value = read_value(r, ty, &key, 0)?;
        if let GgufValue::Array(GgufArray {
            elem_type: GgufValueType::Array,
            ..
        }) = value
        {
            return Err(r.invalid(format!(
                "metadata key '{key}' is an array of arrays: the GGUF format allows it but llama.cpp's reader \
                 refuses it, so this file cannot be loaded; convert the model again"
            )));
        }
        metadata.insert(key, value);
    }
    Ok(metadata)
}

fn read_value_type<R: Read>(r: &mut Reader<'_, R>, key: &str) -> Result<GgufValueType> {
    let id = r.u32(&format_args!("the value type of metadata key '{key}'"))?;
    GgufValueType::from_id(id).ok_or_else(|| {
        r.invalid(format!(
            "metadata key '{key}' has unknown value type {id} (GGUF types are 0 to 12); \
             the file is corrupt or was written by a newer tool"
        ))
    })
}

/// Reads one value of type `ty` for metadata key `key`.
pub(super) fn read_value<R: Read>(
    r: &mut Reader<'_, R>,
    ty: GgufValueType,
    key: &str,
    depth: u32,
) -> Result<GgufValue> {
    let what = Named::key("the value", key);
    Ok(match ty {
        GgufValueType::U8 => GgufValue::U8(u8::from_le_bytes(r.bytes(&what)?)),
        GgufValueType::I8 => GgufValue::I8(i8::from_le_bytes(r.bytes(&what)?)),
        GgufValueType::U16 => GgufValue::U16(u16::from_le_bytes(r.bytes(&what)?)),
        GgufValueType::I16 => GgufValue::I16(i16::from_le_bytes(r.bytes(&what)?)),
        GgufValueType::U32 => GgufValue::U32(u32::from_le_bytes(r.bytes(&what)?)),
        GgufValueType::I32 => GgufValue::I32(i32::from_le_bytes(r.bytes(&what)?)),
        GgufValueType::F32 => GgufValue::F32(f32::from_le_bytes(r.bytes(&what)?)),
        GgufValueType::Bool => GgufValue::Bool(r.bytes::<1>(&what)?[0] != 0),
        GgufValueType::String => GgufValue::String(r.string(&what)?),
        GgufValueType::U64 => GgufValue::U64(u64::from_le_bytes(r.bytes(&what)?)),
        GgufValueType::I64 => GgufValue::I64(i64::from_le_bytes(r.bytes(&what)?)),
        GgufValueType::F64 => GgufValue::F64(f64::from_le_bytes(r.bytes(&what)?)),
        GgufValueType::Array => GgufValue::Array(read_array(r, key, depth + 1)?),
    })
}

fn read_array<R: Read>(r: &mut Reader<'_, R>, key: &str, depth: u32) -> Result<GgufArray> {
    if depth > MAX_ARRAY_DEPTH {
        return Err(r.invalid(format!(
            "metadata key '{key}' nests arrays more than {MAX_ARRAY_DEPTH} deep; the file is corrupt"
        )));
    }
    let elem_type = read_value_type(r, key)?;
    let start = r.pos();
    let len = r.u64(&format_args!("the array length of metadata key '{key}'"))?;
    // Fixed-size elements take their size; strings at least their 8-byte length; arrays at
    // least their type and length.
    let min_elem = elem_type.fixed_size().unwrap_or(match elem_type {
        GgufValueType::String => 8,
        _ => 12,
    });
    if len > MAX_ARRAY_ELEMENTS
        || u128::from(len) * u128::from(min_elem) > u128::from(r.remaining())
    {
        return Err(r.invalid(format!(
            "metadata key '{key}' at byte {start} claims an array of {len} {elem_type} values, which cannot fit \
             in the {} bytes left in the file; the file is corrupt or truncated",
            r.remaining()
        )));
    }
    if key == TOKENS_KEY && elem_type == GgufValueType::String && depth == 1 {
        return read_token_list(r, len);
    }
    let what = Named::key("the elements", key);
    if len > MAX_ARRAY_VALUES_KEPT {
        match elem_type.fixed_size() {
            Some(size) => r.skip(len * size, &what)?,
            None => {
                for _ in 0..len {
                    if elem_type == GgufValueType::String {
                        r.skip_string(&what)?;
                    } else {
                        read_value(r, elem_type, key, depth)?;
                    }
                }
            }
        }
        return Ok(GgufArray {
            elem_type,
            len,
            values: None,
        });
    }
    // `len` is at most MAX_ARRAY_VALUES_KEPT here.
    let mut values = Vec::with_capacity(usize::try_from(len).unwrap_or(0));
    for _ in 0..len {
        values.push(read_value(r, elem_type, key, depth)?);
    }
    Ok(GgufArray {
        elem_type,
        len,
        values: Some(values),
    })
}

fn alignment<R: Read>(r: &Reader<'_, R>, metadata: &BTreeMap<String, GgufValue>) -> Result<u64> {
    let alignment = match metadata.get("general.alignment") {
        None => return Ok(DEFAULT_ALIGNMENT),
        Some(GgufValue::U32(a)) => u64::from(*a),
        Some(other) => {
            return Err(r.invalid(format!(
                "general.alignment must be a uint32 but is a {}; the file is corrupt",
                other.value_type()
            )))
        }
    };
    if !alignment.is_power_of_two() {
        return Err(r.invalid(format!(
            "general.alignment is {alignment}, which is not a power of two; the file is corrupt"
        )));
    }
    Ok(alignment)
}

fn read_tensor_table<R: Read>(r: &mut Reader<'_, R>, n_tensors: u64) -> Result<Vec<TensorInfo>> {
    // The count was checked against the file size, so this is bounded by the file.
    let mut tensors = Vec::with_capacity(usize::try_from(n_tensors.min(1 << 16)).unwrap_or(0));
    let mut seen = HashSet::new();
    for i in 0..n_tensors {
        let info = read_tensor_info(r, i)?;
        if !seen.insert(info.name.clone()) {
            return Err(r.invalid(format!(
                "tensor '{}' appears twice in the tensor table; the file is corrupt",
                info.name
            )));
        }
        tensors.push(info);
    }
    Ok(tensors)
}

fn read_tensor_info<R: Read>(r: &mut Reader<'_, R>, i: u64) -> Result<TensorInfo> {
    let name = r.string(&format_args!("the name of tensor {i}"))?;
    if name.len() > MAX_TENSOR_NAME {
        return Err(r.invalid(format!(
            "tensor {i} has a {}-byte name, longer than the {MAX_TENSOR_NAME} bytes llama.cpp accepts: '{}...'",
            name.len(),
            name.chars().take(40).collect::<String>()
        )));
    }
    let what = Named::tensor("the shape", &name);
    let n_dims = r.u32(&what)?;
    if n_dims == 0 || n_dims > MAX_DIMS {
        return Err(r.invalid(format!(
            "tensor '{name}' has {n_dims} dimensions; llama.cpp accepts 1 to {MAX_DIMS}; the file is corrupt"
        )));
    }
    let mut dims = Vec::with_capacity(n_dims as usize);
    for _ in 0..n_dims {
        dims.push(r.u64(&what)?);
    }
    let n_elements = element_count(&dims).ok_or_else(|| {
        r.invalid(format!(
            "tensor '{name}' has dimensions {dims:?} whose element count overflows a signed 64-bit integer; \
             the file is corrupt"
        ))
    })?;
    let type_id = r.u32(&format_args!("the type of tensor '{name}'"))?;
    let ggml_type = tensor_type(r, &name, type_id)?;
    let row = dims.first().copied().unwrap_or(1);
    let block = ggml_type.block_size();
    if row / block * block != row {
        return Err(r.invalid(format!(
            "tensor '{name}' of type {ggml_type} has rows of {row} elements, not a multiple of its block size {block}; \
             the file is corrupt"
        )));
    }
    let n_bytes = ggml_type.bytes_for(n_elements).ok_or_else(|| {
        r.invalid(format!(
            "tensor '{name}' with dimensions {dims:?} has a size in bytes that overflows; the file is corrupt"
        ))
    })?;
    let offset = r.u64(&format_args!("the data offset of tensor '{name}'"))?;
    Ok(TensorInfo {
        name,
        dims,
        ggml_type,
        offset,
        n_bytes,
    })
}

/// The product of `dims` if it fits in an `i64` (as ggml requires) and every dim does.
fn element_count(dims: &[u64]) -> Option<u64> {
    let max = i64::MAX as u64;
    dims.iter().try_fold(1u64, |acc, &d| {
        if d > max {
            return None;
        }
        acc.checked_mul(d).filter(|n| *n <= max)
    })
}

fn tensor_type<R: Read>(r: &Reader<'_, R>, name: &str, id: u32) -> Result<GgmlType> {
    if let Some(t) = GgmlType::from_id(id) {
        return Ok(t);
    }
    Err(r.invalid(match removed_type_name(id) {
        Some(old) => format!(
            "tensor '{name}' has type {id} ({old}), which llama.cpp no longer supports; \
             download or quantize the model again"
        ),
        None => format!(
            "tensor '{name}' has unknown ggml type {id} (this build knows types 0 to {}); \
             the file is corrupt or needs a newer llama.cpp",
            GGML_TYPE_COUNT - 1
        ),
    }))
}

/// Rounds `n` up to a multiple of the power of two `alignment`.
pub(super) fn align_up(n: u64, alignment: u64) -> Option<u64> {
    Some(n.checked_add(alignment - 1)? & !(alignment - 1))
}

/// Checks that every tensor's data is aligned, laid out as llama.cpp expects and inside the
/// file.
fn check_layout<R: Read>(
    r: &Reader<'_, R>,
    tensors: &[TensorInfo],
    data_offset: u64,
    alignment: u64,
) -> Result<()> {
    let file_size = r.len();
    let mut expected = 0u64;
    for t in tensors.iter() {
        if t.offset % alignment != 0 {
            return Err(r.invalid(format!(
                "tensor '{}' has data offset {}, not a multiple of the alignment {alignment}; the file is corrupt",
                t.name, t.offset
            )));
        }
        if t.offset != expected {
            return Err(r.invalid(format!(
                "tensor '{}' has data offset {} but llama.cpp expects {expected} (tensor data must follow the \
                 table order, each padded to {alignment} bytes); the file is corrupt",
                t.name, t.offset
            )));
        }
        let start = data_offset.checked_add(t.offset);
        let end = start.and_then(|s| s.checked_add(t.n_bytes));
        match (start, end) {
            (Some(_), Some(end)) if end <= file_size => {}
            (start, end) => {
                let start = start.unwrap_or(u64::MAX);
                let end = end.unwrap_or(u64::MAX);
                return Err(r.invalid(format!(
                    "tensor '{}' ({} bytes at file offsets {start}..{end}) extends past the end of the file \
                     ({file_size} bytes, {} bytes missing); the file is truncated, download it again",
                    t.name,
                    t.n_bytes,
                    end - file_size.min(end),
                )));
            }
        }
        expected = align_up(t.n_bytes, alignment)
            .and_then(|padded| expected.checked_add(padded))
            .ok_or_else(|| r.invalid(format!("tensor '{}' size overflows", t.name)))?;
    }
    Ok(())
}
