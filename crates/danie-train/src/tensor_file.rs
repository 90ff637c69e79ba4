//! Named tensors in a `.safetensors` file with a string metadata map, written atomically
//! through `danie_fs`.
//!
//! tch writes safetensors without metadata, and the weights file must carry the model config so
//! that `danie predict --weights W` needs nothing else. The format is small: an 8-byte
//! little-endian header length, a JSON header (`{name: {dtype, shape, data_offsets}}` plus
//! `"__metadata__": {string: string}`), then the raw little-endian bytes.
use std::collections::BTreeMap;
use std::io::Write;
use std::path::Path;

use anyhow::{bail, Context};
use tch::{Device, Kind, Tensor};

fn dtype_name(kind: Kind) -> anyhow::Result<&'static str> {
    Ok(match kind {
        Kind::Float => "F32",
        Kind::Double => "F64",
        Kind::Half => "F16",
        Kind::BFloat16 => "BF16",
        Kind::Int64 => "I64",
        Kind::Int => "I32",
        Kind::Int16 => "I16",
        Kind::Int8 => "I8",
        Kind::Uint8 => "U8",
        Kind::Bool => "BOOL",
        k => bail!("cannot store tensors of kind {k:?} in safetensors"),
    })
}

/// Writes `tensors` and `metadata` to `path` through `danie_fs` (an exclusive temporary in the
/// same folder, renamed into place), so a crash never leaves a half-written file under the
/// final name and a link planted there is replaced, not written through.
pub fn write_tensors(
    path: &Path,
    tensors: &[(String, Tensor)],
    metadata: &BTreeMap<String, String>,
) -> anyhow::Result<()> {
    let mut header = serde_json::Map::new();
    if !metadata.is_empty() {
        header.insert("__metadata__".into(), serde_json::to_value(metadata)?);
    }
    let mut blobs = Vec::with_capacity(tensors.len());
    let mut offset = 0usize;
    for (name, t) in tensors {
        let t = t.to_device(Device::Cpu).contiguous();
        let n_bytes = t.numel() * t.kind().elt_size_in_bytes();
        let mut bytes = vec![0u8; n_bytes];
        t.f_copy_data_u8(&mut bytes, t.numel())
            .with_context(|| format!("copying tensor `{name}`"))?;
        header.insert(
            name.clone(),
            serde_json::json!({
                "dtype": dtype_name(t.kind())?,
                "shape": t.size(),
                "data_offsets": [offset, offset + n_bytes],
            }),
        );
        offset += n_bytes;
        blobs.push(bytes);
    }
    let mut head = serde_json::to_vec(&serde_json::Value::Object(header))?;
    // The data must start 8-byte aligned: pad the header with spaces, as the reference does.
    while (8 + head.len()) % 8 != 0 {
        head.push(b' ');
    }
    danie_fs::write_atomic(path, |f| {
        f.write_all(&(head.len() as u64).to_le_bytes())?;
        f.write_all(&head)?;
        for b in &blobs {
            f.write_all(b)?;
        }
        Ok(())
    })?;
    Ok(())
}

/// Named tensors, in file order or sorted by name.
pub type NamedTensors = Vec<(String, Tensor)>;

/// Reads every tensor (on the CPU, sorted by name) and the metadata map of a safetensors file.
/// One reader for every weights file: [`danie_model::weights::read_safetensors`], which checks
/// the header length, every offset and every shape against the file before allocating.
pub fn read_tensors(path: &Path) -> anyhow::Result<(NamedTensors, BTreeMap<String, String>)> {
    Ok(danie_model::weights::read_safetensors(path)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_tensors_and_metadata() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("w.safetensors");
        let a = Tensor::arange(6, (Kind::Float, Device::Cpu)).view([2, 3]);
        let b = Tensor::from_slice(&[7i64]);
        let meta = BTreeMap::from([("config".to_string(), "{\"x\":1}".to_string())]);
        write_tensors(
            &p,
            &[("a".into(), a.shallow_clone()), ("b".into(), b)],
            &meta,
        )
        .unwrap();
        let (ts, m) = read_tensors(&p).unwrap();
        assert_eq!(m, meta);
        let a2 = &ts.iter().find(|(n, _)| n == "a").unwrap().1;
        assert!(a2.equal(&a));
        assert!(!dir.path().join(".w.safetensors.tmp").exists());
    }

    #[test]
    fn truncated_file_is_a_clear_error() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("bad.safetensors");
        std::fs::write(&p, [200u8, 0, 0, 0, 0, 0, 0, 0, b'{']).unwrap();
        let e = format!("{:#}", read_tensors(&p).unwrap_err());
        assert!(
            e.contains("bad.safetensors") && e.contains("header length"),
            "{e}"
        );
    }
}
