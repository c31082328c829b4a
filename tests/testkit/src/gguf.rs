//! Minimal GGUF v3 (little endian) primitives: value types, a streaming
//! header writer and a header reader.
//!
//! Layout (see `ggml/include/gguf.h` in llama.cpp):
//!
//! ```text
//! magic "GGUF" | version u32 | n_tensors i64 | n_kv i64
//! n_kv x (key: string, type: u32, value)
//! n_tensors x (name: string, n_dims: u32, ne: i64 x n_dims, ggml_type: u32, offset: u64)
//! padding to `general.alignment` (default 32)
//! tensor data, each tensor starting at a multiple of the alignment
//! ```
//!
//! Strings are `u64` length + UTF-8 bytes (no terminator); arrays are
//! element type `u32` + count `u64` + elements.

use std::fs::File;
use std::io::{self, BufReader, Read, Write};
use std::path::Path;

/// The four magic bytes at the start of every GGUF file.
pub const GGUF_MAGIC: [u8; 4] = *b"GGUF";
/// The GGUF version this crate writes.
pub const GGUF_VERSION: u32 = 3;
/// Default data alignment used when `general.alignment` is absent.
pub const GGUF_DEFAULT_ALIGNMENT: u64 = 32;

/// GGUF metadata value type ids (`enum gguf_type`).
mod ty {
    pub const U8: u32 = 0;
    pub const I8: u32 = 1;
    pub const U16: u32 = 2;
    pub const I16: u32 = 3;
    pub const U32: u32 = 4;
    pub const I32: u32 = 5;
    pub const F32: u32 = 6;
    pub const BOOL: u32 = 7;
    pub const STRING: u32 = 8;
    pub const ARRAY: u32 = 9;
    pub const U64: u32 = 10;
    pub const I64: u32 = 11;
    pub const F64: u32 = 12;
}

/// Tensor element types this crate writes (subset of `enum ggml_type`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum GgmlType {
    /// 32-bit float (`GGML_TYPE_F32` = 0).
    F32,
    /// IEEE half float (`GGML_TYPE_F16` = 1).
    F16,
    /// 8-bit blocks of 32 values with an f16 scale (`GGML_TYPE_Q8_0` = 8).
    Q8_0,
}

impl GgmlType {
    /// The numeric `ggml_type` id stored in the file.
    pub fn id(self) -> u32 {
        match self {
            GgmlType::F32 => 0,
            GgmlType::F16 => 1,
            GgmlType::Q8_0 => 8,
        }
    }

    /// Maps a numeric `ggml_type` id back, for the types this crate knows.
    pub fn from_id(id: u32) -> Option<Self> {
        match id {
            0 => Some(GgmlType::F32),
            1 => Some(GgmlType::F16),
            8 => Some(GgmlType::Q8_0),
            _ => None,
        }
    }

    /// The lower-case name llama.cpp prints for the type ("f32", "f16", "q8_0").
    pub fn name(self) -> &'static str {
        match self {
            GgmlType::F32 => "f32",
            GgmlType::F16 => "f16",
            GgmlType::Q8_0 => "q8_0",
        }
    }

    /// Number of values per block (32 for q8_0, 1 otherwise).
    pub fn block_size(self) -> u64 {
        match self {
            GgmlType::Q8_0 => 32,
            _ => 1,
        }
    }

    /// Bytes per block (34 for q8_0: f16 scale + 32 x i8).
    pub fn block_bytes(self) -> u64 {
        match self {
            GgmlType::F32 => 4,
            GgmlType::F16 => 2,
            GgmlType::Q8_0 => 34,
        }
    }

    /// Bytes needed for `n_values` values; `None` if `n_values` is not a
    /// whole number of blocks.
    pub fn bytes_for(self, n_values: u64) -> Option<u64> {
        if n_values % self.block_size() != 0 {
            return None;
        }
        Some(n_values / self.block_size() * self.block_bytes())
    }
}

/// Name of a numeric `ggml_type` id as llama.cpp spells it; "unknown" for ids
/// outside the table (only the common ones are listed).
pub fn ggml_type_name(id: u32) -> &'static str {
    match id {
        0 => "f32",
        1 => "f16",
        2 => "q4_0",
        3 => "q4_1",
        6 => "q5_0",
        7 => "q5_1",
        8 => "q8_0",
        9 => "q8_1",
        10 => "q2_K",
        11 => "q3_K",
        12 => "q4_K",
        13 => "q5_K",
        14 => "q6_K",
        15 => "q8_K",
        24 => "i8",
        25 => "i16",
        26 => "i32",
        27 => "i64",
        28 => "f64",
        30 => "bf16",
        _ => "unknown",
    }
}

/// A GGUF metadata value.
#[derive(Debug, Clone, PartialEq)]
pub enum GgufValue {
    /// `GGUF_TYPE_UINT8`.
    U8(u8),
    /// `GGUF_TYPE_INT8`.
    I8(i8),
    /// `GGUF_TYPE_UINT16`.
    U16(u16),
    /// `GGUF_TYPE_INT16`.
    I16(i16),
    /// `GGUF_TYPE_UINT32`.
    U32(u32),
    /// `GGUF_TYPE_INT32`.
    I32(i32),
    /// `GGUF_TYPE_FLOAT32`.
    F32(f32),
    /// `GGUF_TYPE_BOOL`.
    Bool(bool),
    /// `GGUF_TYPE_STRING`.
    String(String),
    /// `GGUF_TYPE_UINT64`.
    U64(u64),
    /// `GGUF_TYPE_INT64`.
    I64(i64),
    /// `GGUF_TYPE_FLOAT64`.
    F64(f64),
    /// `GGUF_TYPE_ARRAY` of strings.
    StringArray(Vec<String>),
    /// `GGUF_TYPE_ARRAY` of float32.
    F32Array(Vec<f32>),
    /// `GGUF_TYPE_ARRAY` of int32.
    I32Array(Vec<i32>),
    /// `GGUF_TYPE_ARRAY` of uint32.
    U32Array(Vec<u32>),
    /// Any other array: element type id and its elements (scalars only).
    OtherArray(u32, Vec<GgufValue>),
}

impl GgufValue {
    /// The value as `u32` if it is an unsigned/signed integer that fits.
    pub fn as_u32(&self) -> Option<u32> {
        match *self {
            GgufValue::U8(v) => Some(v.into()),
            GgufValue::U16(v) => Some(v.into()),
            GgufValue::U32(v) => Some(v),
            GgufValue::I32(v) => u32::try_from(v).ok(),
            GgufValue::U64(v) => u32::try_from(v).ok(),
            GgufValue::I64(v) => u32::try_from(v).ok(),
            _ => None,
        }
    }

    /// The value as `&str` if it is a string.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            GgufValue::String(s) => Some(s),
            _ => None,
        }
    }

    /// The value as `f32` if it is a float32.
    pub fn as_f32(&self) -> Option<f32> {
        match *self {
            GgufValue::F32(v) => Some(v),
            _ => None,
        }
    }

    /// The value as `bool` if it is a bool.
    pub fn as_bool(&self) -> Option<bool> {
        match *self {
            GgufValue::Bool(v) => Some(v),
            _ => None,
        }
    }

    /// Number of elements if the value is an array.
    pub fn array_len(&self) -> Option<usize> {
        match self {
            GgufValue::StringArray(v) => Some(v.len()),
            GgufValue::F32Array(v) => Some(v.len()),
            GgufValue::I32Array(v) => Some(v.len()),
            GgufValue::U32Array(v) => Some(v.len()),
            GgufValue::OtherArray(_, v) => Some(v.len()),
            _ => None,
        }
    }
}

/// Streaming little-endian GGUF writer that counts the bytes written.
pub(crate) struct GgufWriter<W: Write> {
    inner: W,
    written: u64,
}

impl<W: Write> GgufWriter<W> {
    pub(crate) fn new(inner: W) -> Self {
        Self { inner, written: 0 }
    }

    pub(crate) fn written(&self) -> u64 {
        self.written
    }

    pub(crate) fn into_inner(self) -> W {
        self.inner
    }

    pub(crate) fn bytes(&mut self, b: &[u8]) -> io::Result<()> {
        self.inner.write_all(b)?;
        self.written += b.len() as u64;
        Ok(())
    }

    pub(crate) fn u32(&mut self, v: u32) -> io::Result<()> {
        self.bytes(&v.to_le_bytes())
    }

    pub(crate) fn u64(&mut self, v: u64) -> io::Result<()> {
        self.bytes(&v.to_le_bytes())
    }

    pub(crate) fn i64(&mut self, v: i64) -> io::Result<()> {
        self.bytes(&v.to_le_bytes())
    }

    pub(crate) fn string(&mut self, s: &str) -> io::Result<()> {
        self.u64(s.len() as u64)?;
        self.bytes(s.as_bytes())
    }

    /// Writes zero bytes until the position is a multiple of `alignment`.
    pub(crate) fn pad(&mut self, alignment: u64) -> io::Result<()> {
        let rem = self.written % alignment;
        if rem != 0 {
            let zeros = [0u8; 64];
            let mut n = (alignment - rem) as usize;
            while n > 0 {
                let k = n.min(zeros.len());
                self.bytes(&zeros[..k])?;
                n -= k;
            }
        }
        Ok(())
    }

    pub(crate) fn header(&mut self, n_tensors: u64, n_kv: u64) -> io::Result<()> {
        self.bytes(&GGUF_MAGIC)?;
        self.u32(GGUF_VERSION)?;
        self.i64(n_tensors as i64)?;
        self.i64(n_kv as i64)
    }

    pub(crate) fn kv(&mut self, key: &str, value: &GgufValue) -> io::Result<()> {
        self.string(key)?;
        self.value(value, true)
    }

    fn scalar_type(value: &GgufValue) -> u32 {
        match value {
            GgufValue::U8(_) => ty::U8,
            GgufValue::I8(_) => ty::I8,
            GgufValue::U16(_) => ty::U16,
            GgufValue::I16(_) => ty::I16,
            GgufValue::U32(_) => ty::U32,
            GgufValue::I32(_) => ty::I32,
            GgufValue::F32(_) => ty::F32,
            GgufValue::Bool(_) => ty::BOOL,
            GgufValue::String(_) => ty::STRING,
            GgufValue::U64(_) => ty::U64,
            GgufValue::I64(_) => ty::I64,
            GgufValue::F64(_) => ty::F64,
            _ => ty::ARRAY,
        }
    }

    fn value(&mut self, value: &GgufValue, with_type: bool) -> io::Result<()> {
        if with_type {
            self.u32(Self::scalar_type(value))?;
        }
        match value {
            GgufValue::U8(v) => self.bytes(&[*v]),
            GgufValue::I8(v) => self.bytes(&v.to_le_bytes()),
            GgufValue::U16(v) => self.bytes(&v.to_le_bytes()),
            GgufValue::I16(v) => self.bytes(&v.to_le_bytes()),
            GgufValue::U32(v) => self.u32(*v),
            GgufValue::I32(v) => self.bytes(&v.to_le_bytes()),
            GgufValue::F32(v) => self.bytes(&v.to_le_bytes()),
            GgufValue::Bool(v) => self.bytes(&[u8::from(*v)]),
            GgufValue::String(s) => self.string(s),
            GgufValue::U64(v) => self.u64(*v),
            GgufValue::I64(v) => self.i64(*v),
            GgufValue::F64(v) => self.bytes(&v.to_le_bytes()),
            GgufValue::StringArray(v) => {
                self.u32(ty::STRING)?;
                self.u64(v.len() as u64)?;
                v.iter().try_for_each(|s| self.string(s))
            }
            GgufValue::F32Array(v) => {
                self.u32(ty::F32)?;
                self.u64(v.len() as u64)?;
                v.iter().try_for_each(|x| self.bytes(&x.to_le_bytes()))
            }
            GgufValue::I32Array(v) => {
                self.u32(ty::I32)?;
                self.u64(v.len() as u64)?;
                v.iter().try_for_each(|x| self.bytes(&x.to_le_bytes()))
            }
            GgufValue::U32Array(v) => {
                self.u32(ty::U32)?;
                self.u64(v.len() as u64)?;
                v.iter().try_for_each(|x| self.u32(*x))
            }
            GgufValue::OtherArray(elem_ty, v) => {
                self.u32(*elem_ty)?;
                self.u64(v.len() as u64)?;
                for e in v {
                    if Self::scalar_type(e) != *elem_ty {
                        return Err(io::Error::new(
                            io::ErrorKind::InvalidInput,
                            "GGUF array element does not match the array type",
                        ));
                    }
                    self.value(e, false)?;
                }
                Ok(())
            }
        }
    }

    pub(crate) fn tensor_info(
        &mut self,
        name: &str,
        dims: &[u64],
        ggml_type: u32,
        offset: u64,
    ) -> io::Result<()> {
        self.string(name)?;
        self.u32(dims.len() as u32)?;
        for d in dims {
            self.i64(*d as i64)?;
        }
        self.u32(ggml_type)?;
        self.u64(offset)
    }
}

/// One tensor entry of a GGUF header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GgufTensorInfo {
    /// Tensor name, e.g. `blk.0.ffn_up_exps.weight`.
    pub name: String,
    /// Dimensions, innermost first (`ne[0]` is the row length).
    pub dims: Vec<u64>,
    /// Numeric `ggml_type` id.
    pub ggml_type: u32,
    /// Offset of the data relative to the start of the data section.
    pub offset: u64,
}

impl GgufTensorInfo {
    /// Number of elements (product of the dims).
    pub fn n_elements(&self) -> u64 {
        self.dims.iter().product()
    }

    /// Data size in bytes, for the types this crate knows (`None` otherwise).
    pub fn n_bytes(&self) -> Option<u64> {
        GgmlType::from_id(self.ggml_type)?.bytes_for(self.n_elements())
    }
}

/// A parsed GGUF header: metadata and tensor directory (no tensor data).
#[derive(Debug, Clone, PartialEq)]
pub struct GgufHeader {
    /// File format version (3 for files written by this crate).
    pub version: u32,
    /// Metadata key/value pairs in file order.
    pub metadata: Vec<(String, GgufValue)>,
    /// Tensor directory in file order.
    pub tensors: Vec<GgufTensorInfo>,
    /// Data alignment (`general.alignment` or 32).
    pub alignment: u64,
    /// Absolute file offset where the tensor data section starts.
    pub data_offset: u64,
}

impl GgufHeader {
    /// Looks a metadata key up.
    pub fn get(&self, key: &str) -> Option<&GgufValue> {
        self.metadata.iter().find(|(k, _)| k == key).map(|(_, v)| v)
    }

    /// Looks a tensor up by name.
    pub fn tensor(&self, name: &str) -> Option<&GgufTensorInfo> {
        self.tensors.iter().find(|t| t.name == name)
    }
}

fn invalid(msg: impl Into<String>) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, msg.into())
}

struct Reader<R: Read> {
    inner: R,
    pos: u64,
}

impl<R: Read> Reader<R> {
    fn exact<const N: usize>(&mut self) -> io::Result<[u8; N]> {
        let mut b = [0u8; N];
        self.inner.read_exact(&mut b)?;
        self.pos += N as u64;
        Ok(b)
    }
    fn u32(&mut self) -> io::Result<u32> {
        Ok(u32::from_le_bytes(self.exact()?))
    }
    fn u64(&mut self) -> io::Result<u64> {
        Ok(u64::from_le_bytes(self.exact()?))
    }
    fn i64(&mut self) -> io::Result<i64> {
        Ok(i64::from_le_bytes(self.exact()?))
    }
    fn count(&mut self, what: &str) -> io::Result<usize> {
        let n = self.u64()?;
        // Guard against absurd lengths in corrupt files.
        if n > (1 << 32) {
            return Err(invalid(format!("GGUF {what} length {n} is too large")));
        }
        Ok(n as usize)
    }
    fn string(&mut self) -> io::Result<String> {
        let n = self.count("string")?;
        let mut b = vec![0u8; n];
        self.inner.read_exact(&mut b)?;
        self.pos += n as u64;
        String::from_utf8(b).map_err(|_| invalid("GGUF string is not UTF-8"))
    }
    fn scalar(&mut self, t: u32) -> io::Result<GgufValue> {
        Ok(match t {
            ty::U8 => GgufValue::U8(self.exact::<1>()?[0]),
            ty::I8 => GgufValue::I8(i8::from_le_bytes(self.exact()?)),
            ty::U16 => GgufValue::U16(u16::from_le_bytes(self.exact()?)),
            ty::I16 => GgufValue::I16(i16::from_le_bytes(self.exact()?)),
            ty::U32 => GgufValue::U32(self.u32()?),
            ty::I32 => GgufValue::I32(i32::from_le_bytes(self.exact()?)),
            ty::F32 => GgufValue::F32(f32::from_le_bytes(self.exact()?)),
            ty::BOOL => GgufValue::Bool(self.exact::<1>()?[0] != 0),
            ty::STRING => GgufValue::String(self.string()?),
            ty::U64 => GgufValue::U64(self.u64()?),
            ty::I64 => GgufValue::I64(self.i64()?),
            ty::F64 => GgufValue::F64(f64::from_le_bytes(self.exact()?)),
            other => return Err(invalid(format!("unknown GGUF value type {other}"))),
        })
    }
    fn value(&mut self, t: u32) -> io::Result<GgufValue> {
        if t != ty::ARRAY {
            return self.scalar(t);
        }
        let elem = self.u32()?;
        let n = self.count("array")?;
        Ok(match elem {
            ty::STRING => {
                GgufValue::StringArray((0..n).map(|_| self.string()).collect::<io::Result<_>>()?)
            }
            ty::F32 => GgufValue::F32Array(
                (0..n)
                    .map(|_| Ok(f32::from_le_bytes(self.exact()?)))
                    .collect::<io::Result<_>>()?,
            ),
            ty::I32 => GgufValue::I32Array(
                (0..n)
                    .map(|_| Ok(i32::from_le_bytes(self.exact()?)))
                    .collect::<io::Result<_>>()?,
            ),
            ty::U32 => GgufValue::U32Array((0..n).map(|_| self.u32()).collect::<io::Result<_>>()?),
            ty::ARRAY => return Err(invalid("nested GGUF arrays are not supported")),
            other => GgufValue::OtherArray(
                other,
                (0..n)
                    .map(|_| self.scalar(other))
                    .collect::<io::Result<_>>()?,
            ),
        })
    }
}

/// Parses the header (metadata + tensor directory) of a GGUF file.
///
/// Checks the magic, the version (2 or 3), that every tensor offset is
/// aligned, and that the data of the tensors of known types lies inside the
/// file.
pub fn read_header(path: &Path) -> io::Result<GgufHeader> {
    let file = File::open(path)?;
    let file_size = file.metadata()?.len();
    let mut r = Reader {
        inner: BufReader::with_capacity(1 << 16, file),
        pos: 0,
    };
    let header = parse_header(&mut r)?;
    for t in &header.tensors {
        if let Some(n) = t.n_bytes() {
            let end = header.data_offset + t.offset + n;
            if end > file_size {
                return Err(invalid(format!(
                    "tensor '{}' data ends at {end}, past the end of the file ({file_size})",
                    t.name
                )));
            }
        }
    }
    if header.data_offset > file_size && !header.tensors.is_empty() {
        return Err(invalid("GGUF data section starts past the end of the file"));
    }
    Ok(header)
}

fn parse_header<R: Read>(r: &mut Reader<R>) -> io::Result<GgufHeader> {
    let magic = r.exact::<4>()?;
    if magic != GGUF_MAGIC {
        return Err(invalid("not a GGUF file (bad magic)"));
    }
    let version = r.u32()?;
    if !(2..=3).contains(&version) {
        return Err(invalid(format!("unsupported GGUF version {version}")));
    }
    let n_tensors = r.i64()?;
    let n_kv = r.i64()?;
    if !(0..=1 << 24).contains(&n_tensors) || !(0..=1 << 24).contains(&n_kv) {
        return Err(invalid("GGUF tensor or key count out of range"));
    }
    let mut metadata = Vec::with_capacity(n_kv as usize);
    for _ in 0..n_kv {
        let key = r.string()?;
        let t = r.u32()?;
        let v = r.value(t)?;
        metadata.push((key, v));
    }
    let mut tensors = Vec::with_capacity(n_tensors as usize);
    for _ in 0..n_tensors {
        let name = r.string()?;
        let n_dims = r.u32()?;
        if n_dims > 4 {
            return Err(invalid(format!("tensor '{name}' has {n_dims} dims")));
        }
        let mut dims = Vec::with_capacity(n_dims as usize);
        for _ in 0..n_dims {
            let d = r.i64()?;
            if d < 0 {
                return Err(invalid(format!("tensor '{name}' has a negative dim")));
            }
            dims.push(d as u64);
        }
        let ggml_type = r.u32()?;
        let offset = r.u64()?;
        tensors.push(GgufTensorInfo {
            name,
            dims,
            ggml_type,
            offset,
        });
    }
    let alignment = match metadata.iter().find(|(k, _)| k == "general.alignment") {
        Some((_, GgufValue::U32(a))) => u64::from(*a),
        Some(_) => return Err(invalid("general.alignment must be a u32")),
        None => GGUF_DEFAULT_ALIGNMENT,
    };
    if alignment == 0 || !alignment.is_power_of_two() {
        return Err(invalid(format!(
            "alignment {alignment} is not a power of two"
        )));
    }
    for t in &tensors {
        if t.offset % alignment != 0 {
            return Err(invalid(format!(
                "tensor '{}' offset is not aligned",
                t.name
            )));
        }
    }
    let data_offset = r.pos.div_ceil(alignment) * alignment;
    Ok(GgufHeader {
        version,
        metadata,
        tensors,
        alignment,
        data_offset,
    })
}
