//! Splits a GGUF file into shards the way llama.cpp's `gguf-split` does, so tests can
//! exercise split models (`NAME-00001-of-00003.gguf` ...) without that tool.
//!
//! The first shard keeps every metadata key; every shard gets `split.no` (u16, from 0),
//! `split.count` (u16) and `split.tensors.count` (i32), and a share of the tensors with
//! their data, offsets relative to its own data section. llama.cpp loads the model from the
//! first shard and finds the others next to it by name.

use std::fs::File;
use std::io::{self, BufReader, BufWriter, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use crate::gguf::{read_header, GgufValue, GgufWriter};

/// Writes `source` as `parts` shards `dir/PREFIX-0000k-of-0000n.gguf`; returns their paths
/// in order. The tensors are shared out in file order, as evenly as their count allows.
pub fn split_model(
    source: &Path,
    dir: &Path,
    prefix: &str,
    parts: u16,
) -> io::Result<Vec<PathBuf>> {
    let header = read_header(source)?;
    let n = header.tensors.len();
    if parts == 0 || usize::from(parts) > n {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("cannot split {n} tensors into {parts} shards"),
        ));
    }
    let mut input = BufReader::new(File::open(source)?);
    let mut paths = Vec::new();
    let per = n.div_ceil(usize::from(parts));
    for k in 0..parts {
        let from = usize::from(k) * per;
        let to = (from + per).min(n);
        let tensors = &header.tensors[from..to];
        let path = dir.join(format!("{prefix}-{:05}-of-{parts:05}.gguf", k + 1));
        let mut kv: Vec<(String, GgufValue)> = if k == 0 {
            header
                .metadata
                .iter()
                .filter(|(key, _)| !key.starts_with("split."))
                .cloned()
                .collect()
        } else {
            Vec::new()
        };
        kv.push(("split.no".into(), GgufValue::U16(k)));
        kv.push(("split.count".into(), GgufValue::U16(parts)));
        kv.push(("split.tensors.count".into(), GgufValue::I32(n as i32)));
        let alignment = header.alignment;
        let mut w = GgufWriter::new(BufWriter::new(File::create(&path)?));
        w.header(tensors.len() as u64, kv.len() as u64)?;
        for (key, value) in &kv {
            w.kv(key, value)?;
        }
        // Offsets inside this shard's data section.
        let mut offset = 0u64;
        let mut sizes = Vec::with_capacity(tensors.len());
        for t in tensors {
            let size = t.n_bytes().ok_or_else(|| {
                io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!("unknown type of {}", t.name),
                )
            })?;
            w.tensor_info(&t.name, &t.dims, t.ggml_type, offset)?;
            sizes.push(size);
            offset += size.div_ceil(alignment) * alignment;
        }
        w.pad(alignment)?;
        let mut buf = Vec::new();
        for (t, size) in tensors.iter().zip(&sizes) {
            input.seek(SeekFrom::Start(header.data_offset + t.offset))?;
            buf.resize(*size as usize, 0);
            input.read_exact(&mut buf)?;
            w.bytes(&buf)?;
            w.pad(alignment)?;
        }
        w.into_inner().flush()?;
        paths.push(path);
    }
    Ok(paths)
}
