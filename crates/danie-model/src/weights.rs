//! Weights in and out, the one home of each mechanism: the safetensors reader and atomic
//! writer (with the string metadata danie's weights carry), the sorted variables of a model,
//! strict and reporting loads, PyTorch state_dicts
//! (`.pt`/`.pth`/`.bin`, read by [`crate::torch_pickle`] without Python), and ImageNet
//! backbones (timm ViT -> `sap.*`, torchvision ResNet -> `hap.*`).
//!
//! Every load returns a [`LoadReport`] (loaded, missing, unused keys); a shape mismatch is an
//! error naming the key and both shapes. BatchNorm's `num_batches_tracked` (PyTorch bookkeeping
//! that tch does not keep) is skipped silently.
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::io::Write;
use std::path::Path;

use safetensors::{Dtype, SafeTensors};
use tch::nn::VarStore;
use tch::{IndexOp, Kind, Tensor};

use crate::error::ModelError;
use crate::torch_pickle::read_torch_file;

/// Which pretrained backbone a checkpoint holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backbone {
    /// A timm `VisionTransformer` state_dict, loaded into `sap.*`.
    TimmVit,
    /// A torchvision `ResNet` state_dict, loaded into `hap.*`.
    TorchvisionResnet,
}

impl Backbone {
    /// The variable prefix the backbone loads into.
    pub fn prefix(self) -> &'static str {
        match self {
            Backbone::TimmVit => "sap.",
            Backbone::TorchvisionResnet => "hap.",
        }
    }
}

/// What a load did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct LoadReport {
    /// Model variables that received a value.
    pub loaded: Vec<String>,
    /// Model variables (in the loaded scope) that the file did not provide.
    pub missing: Vec<String>,
    /// File entries with no matching model variable (e.g. a classifier head).
    pub unused: Vec<String>,
}

impl std::fmt::Display for LoadReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} loaded, {} missing, {} unused",
            self.loaded.len(),
            self.missing.len(),
            self.unused.len()
        )?;
        let list = |v: &[String]| {
            let mut s = v.iter().take(8).cloned().collect::<Vec<_>>().join(", ");
            if v.len() > 8 {
                s.push_str(&format!(", ... ({} more)", v.len() - 8));
            }
            s
        };
        if !self.missing.is_empty() {
            write!(f, "\n  missing: {}", list(&self.missing))?;
        }
        if !self.unused.is_empty() {
            write!(f, "\n  unused: {}", list(&self.unused))?;
        }
        Ok(())
    }
}

/// Reads named tensors from `.safetensors` or a `torch.save` file (`.pt`, `.pth`, `.bin`,
/// `.ckpt`). A checkpoint dict wrapping the weights (`state_dict.`, `model.`) or a
/// DataParallel `module.` prefix is unwrapped when every key carries it.
pub fn read_tensors(path: &Path) -> Result<Vec<(String, Tensor)>, ModelError> {
    if !path.is_file() {
        return Err(ModelError::Weights(format!(
            "{}: no such weight file",
            path.display()
        )));
    }
    let ext = path
        .extension()
        .and_then(|e| e.to_str())
        .unwrap_or("")
        .to_ascii_lowercase();
    let mut named = match ext.as_str() {
        "safetensors" => read_safetensors(path)?.0,
        "pt" | "pth" | "bin" | "ckpt" => read_torch_file(path)?,
        _ => {
            return Err(ModelError::Weights(format!(
            "{}: unknown weight format {ext:?}; expected .safetensors, .pt, .pth, .bin or .ckpt",
            path.display()
        )))
        }
    };
    for wrapper in ["state_dict.", "model.", "module."] {
        if !named.is_empty() && named.iter().all(|(k, _)| k.starts_with(wrapper)) {
            for (k, _) in named.iter_mut() {
                *k = k[wrapper.len()..].to_string();
            }
        }
    }
    Ok(named)
}

/// Named tensors (on the CPU, sorted by name) and the string metadata map of a `.safetensors`
/// file.
///
/// Nothing the header claims is trusted: the header length must lie inside the file, every
/// tensor's `data_offsets` inside the data that follows it, and (the `safetensors` crate's
/// validation) offsets must tile the data exactly with each span equal to shape x dtype size,
/// all in checked arithmetic; shapes must fit libtorch's `i64`. Memory: the file plus the
/// tensors it really holds.
pub fn read_safetensors(path: &Path) -> Result<NamedTensorsWithMeta, ModelError> {
    let err = |m: String| {
        ModelError::Weights(format!(
            "{}: not a valid safetensors file: {m}",
            path.display()
        ))
    };
    let bytes = std::fs::read(path)
        .map_err(|e| ModelError::Weights(format!("cannot read {}: {e}", path.display())))?;
    let (len_bytes, rest) = bytes
        .split_first_chunk::<8>()
        .ok_or_else(|| err("shorter than the 8-byte header length".into()))?;
    let n = u64::from_le_bytes(*len_bytes);
    let header = usize::try_from(n)
        .ok()
        .and_then(|n| rest.get(..n))
        .ok_or_else(|| {
            err(format!(
                "header length {n} runs past the end of the file ({} bytes)",
                bytes.len()
            ))
        })?;
    let data_len = (rest.len() - header.len()) as u64;
    let header: serde_json::Map<String, serde_json::Value> = serde_json::from_slice(header)
        .map_err(|e| err(format!("the header is not a JSON object: {e}")))?;
    let mut metadata = BTreeMap::new();
    for (name, info) in &header {
        if name == "__metadata__" {
            metadata = serde_json::from_value(info.clone())
                .map_err(|e| err(format!("__metadata__ is not a map of strings: {e}")))?;
            continue;
        }
        // The crate adds the last offset to the header length unchecked: bound them first.
        let offsets = info
            .get("data_offsets")
            .and_then(|o| o.as_array())
            .map(|o| o.iter().map(|v| v.as_u64()).collect::<Vec<_>>());
        match offsets.as_deref() {
            Some([Some(s), Some(e)]) if s <= e && *e <= data_len => {}
            _ => {
                return Err(err(format!(
                    "tensor `{name}`: data_offsets {} do not lie within the {data_len} data bytes",
                    info.get("data_offsets")
                        .map_or("(missing)".to_string(), |o| o.to_string())
                )))
            }
        }
    }
    let st = SafeTensors::deserialize(&bytes).map_err(|e| err(format!("{e:?}")))?;
    let mut named = Vec::with_capacity(st.len());
    for (name, view) in st.tensors() {
        let shape = view
            .shape()
            .iter()
            .map(|&d| i64::try_from(d))
            .collect::<Result<Vec<i64>, _>>()
            .map_err(|_| {
                err(format!(
                    "tensor `{name}`: shape {:?} too large",
                    view.shape()
                ))
            })?;
        let kind = kind_of(view.dtype()).ok_or_else(|| {
            err(format!(
                "tensor `{name}`: dtype {:?} unsupported",
                view.dtype()
            ))
        })?;
        let t = Tensor::f_from_data_size(view.data(), &shape, kind)
            .map_err(|e| err(format!("tensor `{name}`: {e}")))?;
        named.push((name, t));
    }
    named.sort_by(|a, b| a.0.cmp(&b.0));
    Ok((named, metadata))
}

/// Named tensors with a file's string metadata.
pub type NamedTensorsWithMeta = (Vec<(String, Tensor)>, BTreeMap<String, String>);

fn kind_of(dtype: Dtype) -> Option<Kind> {
    Some(match dtype {
        Dtype::BOOL => Kind::Bool,
        Dtype::U8 => Kind::Uint8,
        Dtype::I8 => Kind::Int8,
        Dtype::I16 => Kind::Int16,
        Dtype::I32 => Kind::Int,
        Dtype::I64 => Kind::Int64,
        Dtype::BF16 => Kind::BFloat16,
        Dtype::F16 => Kind::Half,
        Dtype::F32 => Kind::Float,
        Dtype::F64 => Kind::Double,
        _ => return None,
    })
}

/// Every variable of `vs` (parameters and BatchNorm running statistics), sorted by name.
pub fn named_variables(vs: &VarStore) -> Vec<(String, Tensor)> {
    let mut named: Vec<(String, Tensor)> = vs.variables().into_iter().collect();
    named.sort_by(|a, b| a.0.cmp(&b.0));
    named
}

/// Saves every variable of `vs` to `.safetensors`, without metadata ([`write_safetensors`]).
pub fn save_safetensors(vs: &VarStore, path: &Path) -> Result<(), ModelError> {
    if path.extension().and_then(|e| e.to_str()) != Some("safetensors") {
        return Err(ModelError::Weights(format!(
            "{}: weights are saved as .safetensors",
            path.display()
        )));
    }
    write_safetensors(path, &named_variables(vs), &BTreeMap::new())
}

/// Writes named tensors and a string metadata map to a `.safetensors` file through
/// `danie_fs` (an exclusive temporary in the same folder, renamed into place), so a crash never
/// leaves a half-written file under the final name and a link planted there is replaced, not
/// written through.
///
/// tch writes safetensors without metadata, and danie's weights carry their model config so
/// that `danie predict --weights W` needs nothing else. The format is small: an 8-byte
/// little-endian header length, a JSON header (`{name: {dtype, shape, data_offsets}}` plus
/// `"__metadata__": {string: string}`), then the raw little-endian bytes.
pub fn write_safetensors(
    path: &Path,
    tensors: &[(String, Tensor)],
    metadata: &BTreeMap<String, String>,
) -> Result<(), ModelError> {
    let fail = |m: String| ModelError::Weights(format!("{}: cannot write: {m}", path.display()));
    let mut header = serde_json::Map::new();
    if !metadata.is_empty() {
        header.insert(
            "__metadata__".into(),
            serde_json::to_value(metadata).map_err(|e| fail(e.to_string()))?,
        );
    }
    let mut blobs = Vec::with_capacity(tensors.len());
    let mut offset = 0usize;
    for (name, t) in tensors {
        let t = t.to_device(tch::Device::Cpu).contiguous();
        let n_bytes = t.numel() * t.kind().elt_size_in_bytes();
        let mut bytes = vec![0u8; n_bytes];
        t.f_copy_data_u8(&mut bytes, t.numel())
            .map_err(|e| fail(format!("copying tensor `{name}`: {e}")))?;
        let dtype = dtype_name(t.kind()).ok_or_else(|| {
            fail(format!(
                "tensor `{name}`: safetensors cannot store kind {:?}",
                t.kind()
            ))
        })?;
        header.insert(
            name.clone(),
            serde_json::json!({
                "dtype": dtype,
                "shape": t.size(),
                "data_offsets": [offset, offset + n_bytes],
            }),
        );
        offset += n_bytes;
        blobs.push(bytes);
    }
    let mut head =
        serde_json::to_vec(&serde_json::Value::Object(header)).map_err(|e| fail(e.to_string()))?;
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
    })
    .map_err(|e| fail(e.to_string()))
}

fn dtype_name(kind: Kind) -> Option<&'static str> {
    Some(match kind {
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
        _ => return None,
    })
}

/// Loads a whole-model checkpoint (ours or a PyTorch `reference/` state_dict). With `strict`,
/// missing or unused keys are errors; otherwise they are reported.
pub fn load_weights(
    vs: &mut VarStore,
    path: &Path,
    strict: bool,
) -> Result<LoadReport, ModelError> {
    let named = read_tensors(path)?;
    let report = assign(vs, named, "", |k| Some(k.to_string()), path, true)?;
    if strict {
        require_complete(&report, path)?;
    }
    Ok(report)
}

/// Copies named tensors into `vs` exactly as they are: every model variable must come from
/// `source` and every tensor must have its variable, of the same shape (danie's own weights and
/// checkpoints).
pub fn assign_strict(
    vs: &VarStore,
    named: Vec<(String, Tensor)>,
    source: &Path,
) -> Result<LoadReport, ModelError> {
    let report = assign(vs, named, "", |k| Some(k.to_string()), source, false)?;
    require_complete(&report, source)?;
    Ok(report)
}

/// Strictness: a missing or unused key is an error naming `source` and the keys.
fn require_complete(report: &LoadReport, source: &Path) -> Result<(), ModelError> {
    if report.missing.is_empty() && report.unused.is_empty() {
        return Ok(());
    }
    Err(ModelError::Weights(format!(
        "{}: does not match the model: {report}",
        source.display()
    )))
}

/// Loads an ImageNet backbone into SAP or HAP. Keys without a place (a classifier head,
/// `layer4`) are reported as unused; a position embedding of another grid is resampled and
/// 3-channel input filters are summed for a 1-channel model (timm's `adapt_input_conv`).
pub fn load_backbone(
    vs: &mut VarStore,
    path: &Path,
    backbone: Backbone,
) -> Result<LoadReport, ModelError> {
    let named = read_tensors(path)?;
    let prefix = backbone.prefix();
    assign(
        vs,
        named,
        prefix,
        |k| Some(format!("{prefix}{k}")),
        path,
        true,
    )
}

/// Copies each named tensor into the variable `map` gives it (the one strict and lenient
/// loader), reporting what was loaded, missing within `scope` and unused. With `adapt`, a
/// tensor of another shape is made to fit where [`adapt`] knows how (backbones, reference
/// state_dicts); without, any other shape is an error.
fn assign(
    vs: &VarStore,
    named: Vec<(String, Tensor)>,
    scope: &str,
    map: impl Fn(&str) -> Option<String>,
    path: &Path,
    adapt_shapes: bool,
) -> Result<LoadReport, ModelError> {
    let vars: HashMap<String, Tensor> = vs.variables();
    let mut report = LoadReport::default();
    let mut done = BTreeSet::new();
    let mut named = named;
    named.sort_by(|a, b| a.0.cmp(&b.0)); // deterministic: the first mismatch is always the same
    for (key, src) in named {
        if key.ends_with("num_batches_tracked") {
            continue;
        }
        let Some(target) = map(&key).filter(|t| vars.contains_key(t)) else {
            report.unused.push(key);
            continue;
        };
        let mut dst = vars[&target].shallow_clone();
        let want = dst.size();
        let fitted = if adapt_shapes {
            adapt(&target, src, &want)
        } else if src.size() == want {
            Ok(src)
        } else {
            Err(format!(
                "shape mismatch: file has {:?}, model has {want:?}",
                src.size()
            ))
        };
        let src = fitted.map_err(|m| {
            ModelError::Weights(format!("{}: key {key} -> {target}: {m}", path.display()))
        })?;
        tch::no_grad(|| dst.f_copy_(&src)).map_err(|e| {
            ModelError::Weights(format!("{}: key {key}: cannot copy: {e}", path.display()))
        })?;
        report.loaded.push(target.clone());
        done.insert(target);
    }
    let mut missing: Vec<String> = vars
        .keys()
        .filter(|k| k.starts_with(scope) && !done.contains(*k))
        .cloned()
        .collect();
    missing.sort();
    report.missing = missing;
    report.unused.sort();
    Ok(report)
}

/// Makes `src` fit a variable of shape `want`, or says why it cannot.
fn adapt(target: &str, src: Tensor, want: &[i64]) -> Result<Tensor, String> {
    let have = src.size();
    if have == want {
        return Ok(src);
    }
    let mismatch = || format!("shape mismatch: file has {have:?}, model has {want:?}");
    let is_input_conv =
        target.ends_with("hap.conv1.weight") || target.ends_with("patch_embed.proj.weight");
    if is_input_conv
        && have.len() == 4
        && want.len() == 4
        && have[1] == 3
        && want[1] == 1
        && have[0] == want[0]
        && have[2..] == want[2..]
    {
        return Ok(src.sum_dim_intlist(1, true, None)); // (O, 3, k, k) -> (O, 1, k, k)
    }
    // One embedding (batch 1) of the model's width: anything else is no resampling's input.
    if target.ends_with("pos_embed")
        && have.len() == 3
        && want.len() == 3
        && have[0] == want[0]
        && have[2] == want[2]
    {
        return resample_pos_embed(&src, want[1]).ok_or_else(mismatch);
    }
    Err(mismatch())
}

/// Resamples a (1, prefix + g*g, D) position embedding to `tokens` entries (bicubic,
/// antialiased, as timm), keeping or dropping a class-token slot.
fn resample_pos_embed(src: &Tensor, tokens: i64) -> Option<Tensor> {
    let n = src.size()[1];
    let square = |x: i64| {
        (x > 0)
            .then(|| (x as f64).sqrt().round() as i64)
            .filter(|r| r * r == x)
    };
    let src_prefix = [1, 0].into_iter().find(|p| square(n - p).is_some())?;
    let dst_prefix = [1, 0].into_iter().find(|p| square(tokens - p).is_some())?;
    if dst_prefix > src_prefix {
        return None;
    }
    let (g, gd) = (square(n - src_prefix)?, square(tokens - dst_prefix)?);
    // A class-token slot the model lacks is dropped before resampling.
    let kept = src.i((.., (src_prefix - dst_prefix).., ..));
    Some(crate::pretrained::resample_abs_pos_embed(
        &kept,
        [gd, gd],
        Some([g, g]),
        dst_prefix,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Danie, DanieConfig};

    #[test]
    fn written_tensors_and_metadata_read_back() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("w.safetensors");
        let a = Tensor::arange(6, (Kind::Float, tch::Device::Cpu)).view([2, 3]);
        let b = Tensor::from_slice(&[7i64]);
        let meta = BTreeMap::from([("config".to_string(), "{\"x\":1}".to_string())]);
        write_safetensors(
            &p,
            &[
                ("b".into(), b.shallow_clone()),
                ("a".into(), a.shallow_clone()),
            ],
            &meta,
        )
        .unwrap();
        let (ts, m) = read_safetensors(&p).unwrap();
        assert_eq!(m, meta);
        assert_eq!(ts[0].0, "a", "sorted by name");
        assert!(ts[0].1.equal(&a) && ts[1].1.equal(&b));
        // tch's own reader agrees on the bytes.
        let theirs = Tensor::read_safetensors(&p).unwrap();
        assert!(theirs.iter().any(|(n, t)| n == "a" && t.equal(&a)));
        // Only the file: no temporary left behind.
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    }

    #[test]
    fn strict_copy_names_the_missing_the_unused_and_the_misshapen() {
        let vs = VarStore::new(tch::Device::Cpu);
        let _w = vs.root().zeros("w", &[2]);
        let _b = vs.root().zeros("b", &[3]);
        let src = Path::new("run/model.safetensors");
        let t = |n: &str, len: i64| (n.to_string(), Tensor::ones([len], tch::kind::FLOAT_CPU));
        let r = assign_strict(&vs, vec![t("w", 2), t("b", 3)], src).unwrap();
        assert_eq!(r.loaded, ["b", "w"]);
        assert!(vs.variables()["w"].equal(&Tensor::ones([2], tch::kind::FLOAT_CPU)));
        let e = assign_strict(&vs, vec![t("w", 2)], src)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("run/model.safetensors") && e.contains("missing: b"),
            "{e}"
        );
        let e = assign_strict(&vs, vec![t("w", 2), t("b", 3), t("x", 1)], src)
            .unwrap_err()
            .to_string();
        assert!(e.contains("unused: x"), "{e}");
        let e = assign_strict(&vs, vec![t("w", 3), t("b", 3)], src)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("key w") && e.contains("file has [3], model has [2]"),
            "{e}"
        );
    }

    #[test]
    fn safetensors_roundtrip_and_strict_errors() {
        let dir = tempfile::tempdir().unwrap();
        let cfg = DanieConfig::preset("tiny").unwrap();
        let vs = VarStore::new(tch::Device::Cpu);
        let _m = Danie::new(vs.root(), &cfg);
        let p = dir.path().join("w.safetensors");
        save_safetensors(&vs, &p).unwrap();
        let mut vs2 = VarStore::new(tch::Device::Cpu);
        let _m2 = Danie::new(vs2.root(), &cfg);
        let r = load_weights(&mut vs2, &p, true).unwrap();
        assert_eq!(r.loaded.len(), vs.variables().len());
        for (k, v) in vs.variables() {
            assert!(v.equal(&vs2.variables()[&k]), "{k}");
        }
        // Another config: strict loading names the problem.
        let mut other = cfg.clone();
        other.num_classes = 4;
        let mut vs3 = VarStore::new(tch::Device::Cpu);
        let _m3 = Danie::new(vs3.root(), &other);
        let e = load_weights(&mut vs3, &p, true).unwrap_err().to_string();
        assert!(
            e.contains("w.safetensors")
                && e.contains("decoder.head.")
                && e.contains("file has [9")
                && e.contains("model has [4"),
            "{e}"
        );
        // Missing and corrupt files are errors naming the file.
        let e = load_weights(&mut vs3, &dir.path().join("nope.safetensors"), true)
            .unwrap_err()
            .to_string();
        assert!(e.contains("nope.safetensors"), "{e}");
        let bad = dir.path().join("bad.pth");
        std::fs::write(&bad, b"not a zip").unwrap();
        let e = load_weights(&mut vs3, &bad, true).unwrap_err().to_string();
        assert!(e.contains("bad.pth") && e.contains("zip"), "{e}");
        assert!(save_safetensors(&vs, &dir.path().join("w.pt")).is_err());
    }

    #[test]
    fn a_position_embedding_resamples_only_with_the_models_batch_and_width() {
        let f = tch::kind::FLOAT_CPU;
        // timm's ViT-S/16 at 224 (1 + 14 x 14 tokens) to a 64-px model (1 + 4 x 4).
        let ok = adapt("sap.pos_embed", Tensor::randn([1, 197, 8], f), &[1, 17, 8]).unwrap();
        assert_eq!(ok.size(), [1, 17, 8]);
        // Two or no embeddings in the file: tch panicked in the resampling's cat / reshape.
        for have in [[2, 197, 8], [0, 197, 8], [1, 197, 6]] {
            let e = adapt("sap.pos_embed", Tensor::zeros(have, f), &[1, 17, 8]).unwrap_err();
            assert!(e.contains(&format!("file has {have:?}")), "{e}");
        }
    }

    /// A safetensors file from a header (JSON) and data bytes.
    fn st_file(dir: &Path, name: &str, header: &str, data: &[u8]) -> std::path::PathBuf {
        let p = dir.join(name);
        let mut b = (header.len() as u64).to_le_bytes().to_vec();
        b.extend(header.as_bytes());
        b.extend(data);
        std::fs::write(&p, b).unwrap();
        p
    }

    fn st_err(p: &Path) -> String {
        let e = read_safetensors(p).unwrap_err().to_string();
        assert!(e.contains(&p.display().to_string()), "names the file: {e}");
        e
    }

    #[test]
    fn safetensors_reads_tensors_and_metadata() {
        let dir = tempfile::tempdir().unwrap();
        let data: Vec<u8> = [1.0f32, 2.0, 3.0, 4.0]
            .iter()
            .flat_map(|v| v.to_le_bytes())
            .collect();
        let p = st_file(
            dir.path(),
            "ok.safetensors",
            r#"{"__metadata__":{"k":"v"},"b":{"dtype":"F32","shape":[1],"data_offsets":[12,16]},"a":{"dtype":"F32","shape":[3],"data_offsets":[0,12]}}"#,
            &data,
        );
        let (t, meta) = read_safetensors(&p).unwrap();
        assert_eq!(meta.get("k").map(String::as_str), Some("v"));
        assert_eq!(t.len(), 2);
        assert_eq!(t[0].0, "a");
        assert_eq!(Vec::<f32>::try_from(&t[0].1).unwrap(), vec![1.0, 2.0, 3.0]);
    }

    #[test]
    fn hostile_safetensors_are_errors_naming_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        // Header length past the end, and at u64::MAX.
        let mut b = 200u64.to_le_bytes().to_vec();
        b.push(b'{');
        std::fs::write(d.join("len.safetensors"), &b).unwrap();
        assert!(st_err(&d.join("len.safetensors")).contains("header length 200"));
        let mut b = u64::MAX.to_le_bytes().to_vec();
        b.extend(b"{}");
        std::fs::write(d.join("max.safetensors"), &b).unwrap();
        assert!(st_err(&d.join("max.safetensors")).contains("runs past the end"));
        std::fs::write(d.join("short.safetensors"), [1u8, 2]).unwrap();
        assert!(st_err(&d.join("short.safetensors")).contains("8-byte"));
        let f = |name: &str, header: &str, data: &[u8]| st_file(d, name, header, data);
        // Offsets past the data, and one near usize::MAX (the crate adds it unchecked).
        let p = f(
            "past.safetensors",
            r#"{"w":{"dtype":"F32","shape":[1000000],"data_offsets":[0,4000000]}}"#,
            &[0; 16],
        );
        assert!(st_err(&p).contains("data_offsets"));
        let p = f(
            "wrap.safetensors",
            r#"{"w":{"dtype":"F64","shape":[2305843009213693951],"data_offsets":[0,18446744073709551608]}}"#,
            &[0; 16],
        );
        assert!(st_err(&p).contains("tensor `w`"));
        // Shape x dtype differing from the span; gaps; an empty tensor with a huge axis.
        let p = f(
            "span.safetensors",
            r#"{"w":{"dtype":"F32","shape":[5],"data_offsets":[0,16]}}"#,
            &[0; 16],
        );
        assert!(st_err(&p).contains("TensorInvalidInfo"));
        let p = f(
            "gap.safetensors",
            r#"{"w":{"dtype":"F32","shape":[2],"data_offsets":[8,16]}}"#,
            &[0; 16],
        );
        assert!(st_err(&p).contains("InvalidOffset"));
        let p = f(
            "huge_axis.safetensors",
            r#"{"w":{"dtype":"F32","shape":[0,18446744073709551615],"data_offsets":[0,0]}}"#,
            &[],
        );
        assert!(st_err(&p).contains("too large"));
        // Not JSON, metadata not strings, an unsupported dtype.
        let p = f("json.safetensors", "{nope", &[]);
        assert!(st_err(&p).contains("JSON"));
        let p = f("meta.safetensors", r#"{"__metadata__":{"k":1}}"#, &[]);
        assert!(st_err(&p).contains("__metadata__"));
        let p = f(
            "dtype.safetensors",
            r#"{"w":{"dtype":"U64","shape":[1],"data_offsets":[0,8]}}"#,
            &[0; 8],
        );
        assert!(st_err(&p).contains("dtype"));
        // Every truncation of a valid file is an error, not a panic.
        let good = std::fs::read(f(
            "good.safetensors",
            r#"{"w":{"dtype":"F32","shape":[2,2],"data_offsets":[0,16]}}"#,
            &[0; 16],
        ))
        .unwrap();
        for cut in 0..good.len() {
            std::fs::write(d.join("cut.safetensors"), &good[..cut]).unwrap();
            assert!(
                read_safetensors(&d.join("cut.safetensors")).is_err(),
                "{cut}"
            );
        }
    }
}

#[cfg(all(test, unix))]
mod save_tests {
    use super::*;

    #[test]
    fn a_link_planted_at_the_weights_name_is_replaced_not_followed() {
        let dir = tempfile::tempdir().unwrap();
        let victim = dir.path().join("victim.txt");
        std::fs::write(&victim, "precious").unwrap();
        let p = dir.path().join("w.safetensors");
        std::os::unix::fs::symlink(&victim, &p).unwrap();
        let vs = VarStore::new(tch::Device::Cpu);
        let _w = vs.root().zeros("w", &[2]);
        save_safetensors(&vs, &p).unwrap();
        assert_eq!(std::fs::read_to_string(&victim).unwrap(), "precious");
        assert!(!std::fs::symlink_metadata(&p)
            .unwrap()
            .file_type()
            .is_symlink());
        assert_eq!(read_tensors(&p).unwrap().len(), 1);
        // Only the weights and the victim: no temporary left behind.
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 2);
    }
}
