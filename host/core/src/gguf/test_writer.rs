//! A tiny GGUF writer for tests: valid files by default, with knobs to break them.

use std::path::{Path, PathBuf};

use super::GgmlType;

/// A metadata value to write.
#[derive(Clone)]
pub(crate) enum Val {
    U32(u32),
    I32(i32),
    U64(u64),
    F32(f32),
    Bool(bool),
    Str(String),
    /// Array: element type id and the encoded elements (without type tags).
    Array(u32, u64, Vec<u8>),
    /// Any type id with raw payload bytes.
    Raw(u32, Vec<u8>),
}

fn string_bytes(s: &[u8]) -> Vec<u8> {
    let mut out = (s.len() as u64).to_le_bytes().to_vec();
    out.extend_from_slice(s);
    out
}

impl Val {
    fn encode(&self) -> (u32, Vec<u8>) {
        match self {
            Val::U32(v) => (4, v.to_le_bytes().to_vec()),
            Val::I32(v) => (5, v.to_le_bytes().to_vec()),
            Val::U64(v) => (10, v.to_le_bytes().to_vec()),
            Val::F32(v) => (6, v.to_le_bytes().to_vec()),
            Val::Bool(v) => (7, vec![u8::from(*v)]),
            Val::Str(s) => (8, string_bytes(s.as_bytes())),
            Val::Array(elem, n, payload) => {
                let mut out = elem.to_le_bytes().to_vec();
                out.extend_from_slice(&n.to_le_bytes());
                out.extend_from_slice(payload);
                (9, out)
            }
            Val::Raw(ty, payload) => (*ty, payload.clone()),
        }
    }

    /// An array of strings.
    pub(crate) fn str_array(items: &[&str]) -> Val {
        let payload = items
            .iter()
            .flat_map(|s| string_bytes(s.as_bytes()))
            .collect();
        Val::Array(8, items.len() as u64, payload)
    }

    /// An array of i32.
    pub(crate) fn i32_array(items: &[i32]) -> Val {
        let payload = items.iter().flat_map(|v| v.to_le_bytes()).collect();
        Val::Array(5, items.len() as u64, payload)
    }
}

/// A tensor table entry to write.
#[derive(Clone)]
pub(crate) struct Tensor {
    pub name: String,
    pub dims: Vec<u64>,
    pub type_id: u32,
    /// `None`: computed (sequential, aligned).
    pub offset: Option<u64>,
}

/// Builds GGUF bytes.
#[derive(Clone)]
pub(crate) struct GgufBuilder {
    pub magic: [u8; 4],
    pub version: u32,
    pub n_tensors: Option<u64>,
    pub n_kv: Option<u64>,
    pub kvs: Vec<(String, Val)>,
    pub tensors: Vec<Tensor>,
    pub alignment: u64,
}

impl GgufBuilder {
    /// A version-3 file with `general.architecture = arch` and no tensors.
    pub(crate) fn new(arch: &str) -> Self {
        GgufBuilder {
            magic: *b"GGUF",
            version: 3,
            n_tensors: None,
            n_kv: None,
            kvs: vec![("general.architecture".into(), Val::Str(arch.into()))],
            tensors: Vec::new(),
            alignment: 32,
        }
    }

    /// A file with no metadata at all.
    pub(crate) fn bare() -> Self {
        let mut b = Self::new("");
        b.kvs.clear();
        b
    }

    pub(crate) fn kv(mut self, key: &str, val: Val) -> Self {
        self.kvs.push((key.into(), val));
        self
    }

    pub(crate) fn tensor(mut self, name: &str, dims: &[u64], ty: GgmlType) -> Self {
        self.tensors.push(Tensor {
            name: name.into(),
            dims: dims.to_vec(),
            type_id: ty.id(),
            offset: None,
        });
        self
    }

    pub(crate) fn raw_tensor(
        mut self,
        name: &str,
        dims: &[u64],
        type_id: u32,
        offset: Option<u64>,
    ) -> Self {
        self.tensors.push(Tensor {
            name: name.into(),
            dims: dims.to_vec(),
            type_id,
            offset,
        });
        self
    }

    fn pad(buf: &mut Vec<u8>, alignment: u64) {
        let len = buf.len() as u64;
        buf.resize(len.div_ceil(alignment) as usize * alignment as usize, 0);
    }

    /// The file bytes: header, metadata, tensor table, padding, zeroed tensor data.
    pub(crate) fn build(&self) -> Vec<u8> {
        let mut out = self.magic.to_vec();
        out.extend_from_slice(&self.version.to_le_bytes());
        let n_tensors = self.n_tensors.unwrap_or(self.tensors.len() as u64);
        out.extend_from_slice(&n_tensors.to_le_bytes());
        out.extend_from_slice(&self.n_kv.unwrap_or(self.kvs.len() as u64).to_le_bytes());
        for (key, val) in &self.kvs {
            out.extend_from_slice(&string_bytes(key.as_bytes()));
            let (ty, payload) = val.encode();
            out.extend_from_slice(&ty.to_le_bytes());
            out.extend_from_slice(&payload);
        }
        let mut next = 0u64;
        let mut data_len = 0u64;
        for t in &self.tensors {
            out.extend_from_slice(&string_bytes(t.name.as_bytes()));
            out.extend_from_slice(&(t.dims.len() as u32).to_le_bytes());
            for d in &t.dims {
                out.extend_from_slice(&d.to_le_bytes());
            }
            out.extend_from_slice(&t.type_id.to_le_bytes());
            let offset = t.offset.unwrap_or(next);
            out.extend_from_slice(&offset.to_le_bytes());
            let bytes = GgmlType::from_id(t.type_id)
                .and_then(|ty| {
                    let n = t.dims.iter().try_fold(1u64, |acc, d| acc.checked_mul(*d))?;
                    ty.bytes_for(n)
                })
                .unwrap_or(0);
            let padded = bytes.div_ceil(self.alignment) * self.alignment;
            next = offset + padded;
            data_len = data_len.max(offset + bytes);
        }
        if !self.tensors.is_empty() {
            Self::pad(&mut out, self.alignment);
        }
        out.resize(out.len() + data_len as usize, 0);
        out
    }

    /// Writes the file to `dir/name` and returns its path.
    pub(crate) fn write(&self, dir: &Path, name: &str) -> PathBuf {
        let path = dir.join(name);
        std::fs::write(&path, self.build()).expect("write test gguf");
        path
    }
}
