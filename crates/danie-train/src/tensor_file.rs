//! Named tensors in a `.safetensors` file with a string metadata map, written atomically.
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

/// Writes `tensors` and `metadata` to `path` through a temporary file in the same folder,
/// renamed into place, so a crash never leaves a half-written file under the final name.
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
    atomic_write(path, |f| {
        f.write_all(&(head.len() as u64).to_le_bytes())?;
        f.write_all(&head)?;
        for b in &blobs {
            f.write_all(b)?;
        }
        Ok(())
    })
}

/// Named tensors, in file order or sorted by name.
pub type NamedTensors = Vec<(String, Tensor)>;

/// Reads every tensor (on the CPU, sorted by name) and the metadata map of a safetensors file.
/// One reader for every weights file: [`danie_model::weights::read_safetensors`], which checks
/// the header length, every offset and every shape against the file before allocating.
pub fn read_tensors(path: &Path) -> anyhow::Result<(NamedTensors, BTreeMap<String, String>)> {
    Ok(danie_model::weights::read_safetensors(path)?)
}

/// Writes through `path.tmp` and renames onto `path` (atomic on one filesystem).
pub fn atomic_write(
    path: &Path,
    fill: impl FnOnce(&mut std::io::BufWriter<std::fs::File>) -> std::io::Result<()>,
) -> anyhow::Result<()> {
    let name = path
        .file_name()
        .with_context(|| format!("{} has no file name", path.display()))?;
    let tmp = path.with_file_name(format!(".{}.tmp", name.to_string_lossy()));
    let file =
        std::fs::File::create(&tmp).with_context(|| format!("cannot create {}", tmp.display()))?;
    let mut w = std::io::BufWriter::new(file);
    fill(&mut w)
        .and_then(|()| w.flush())
        .and_then(|()| w.get_ref().sync_all())
        .with_context(|| format!("cannot write {}", tmp.display()))?;
    drop(w);
    std::fs::rename(&tmp, path)
        .with_context(|| format!("cannot move {} to {}", tmp.display(), path.display()))?;
    Ok(())
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
