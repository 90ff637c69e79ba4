//! Pretrained (ImageNet) initialisation of the encoder streams: the SAP stream from a timm
//! `VisionTransformer` checkpoint, the HAP stream from a torchvision `ResNet` checkpoint.
//!
//! A run config says where they come from ([`Pretrained`], the `[model] pretrained` key):
//! - `"none"` (the default): both streams from scratch;
//! - `"imagenet"`: the preset's own pair ([`imagenet_pair`], configs/pretrained.toml: `s`/`b`
//!   ViT-S/16 + ResNet-18, `l` ViT-B/16 + ResNet-50; `tiny` has none);
//! - `{ sap = SOURCE, hap = SOURCE }`, either key optional, where SOURCE is a registry name
//!   (`vit_small_patch16_224`, found in the download folder of `cargo xtask download weights
//!   NAME`, see [`weights_dir`]) or a file path (`.safetensors`, or `.pth`/`.pt`/`.bin` as
//!   `torch.save` writes them, read by [`crate::torch_pickle`] without Python).
//!
//! Loading goes through [`crate::weights::load_backbone`] (position embeddings resampled with
//! [`resample_abs_pos_embed`], 1-channel inputs given the summed RGB filters), then checks that
//! the checkpoint fits: every backbone variable of the stream received a value, and the only
//! keys left over are the ones the stream does not use (a classifier head, ResNet `layer4`, ViT
//! blocks past the model's depth), listed once.
use std::collections::BTreeSet;
use std::io::Read;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use tch::nn::VarStore;
use tch::{IndexOp, Kind, Tensor};

use crate::config::DanieConfig;
use crate::error::ModelError;
use crate::weights::{load_backbone, Backbone};

/// Environment variable naming the folder registry names resolve in (default `weights/`).
pub const WEIGHTS_DIR_ENV: &str = "DANIE_WEIGHTS_DIR";

/// Extensions of the weight files a source may name.
const WEIGHT_EXTENSIONS: [&str; 5] = ["safetensors", "pth", "pt", "bin", "ckpt"];

/// The `[model] pretrained` key: where the encoder streams start from.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub enum Pretrained {
    /// `"none"` or `"imagenet"` (also checked by [`Pretrained::plan`], for values built in code).
    Named(String),
    /// One source per stream.
    Streams(StreamSources),
}

/// A string must be `"none"` or `"imagenet"`; a table is [`StreamSources`] (unknown keys are
/// errors naming them).
impl<'de> Deserialize<'de> for Pretrained {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = Pretrained;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("\"none\", \"imagenet\" or { sap = SOURCE, hap = SOURCE }")
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Pretrained, E> {
                match v {
                    "none" | "imagenet" => Ok(Pretrained::Named(v.into())),
                    _ => Err(E::invalid_value(serde::de::Unexpected::Str(v), &self)),
                }
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                map: A,
            ) -> Result<Pretrained, A::Error> {
                StreamSources::deserialize(serde::de::value::MapAccessDeserializer::new(map))
                    .map(Pretrained::Streams)
            }
        }
        d.deserialize_any(V)
    }
}

impl Default for Pretrained {
    fn default() -> Self {
        Pretrained::Named("none".into())
    }
}

/// `{ sap = SOURCE, hap = SOURCE }`: a registry name or a file path per stream.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StreamSources {
    /// The timm ViT checkpoint of the SAP stream.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sap: Option<String>,
    /// The torchvision ResNet checkpoint of the HAP stream.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hap: Option<String>,
}

/// An encoder stream that a checkpoint initialises.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Stream {
    /// The ViT stream (`sap.*`).
    Sap,
    /// The ResNet stream (`hap.*`).
    Hap,
}

impl Stream {
    /// The config and variable name (`sap`, `hap`).
    pub fn as_str(self) -> &'static str {
        match self {
            Stream::Sap => "sap",
            Stream::Hap => "hap",
        }
    }

    fn backbone(self) -> Backbone {
        match self {
            Stream::Sap => Backbone::TimmVit,
            Stream::Hap => Backbone::TorchvisionResnet,
        }
    }

    /// What the stream expects, for errors.
    fn expects(self, cfg: &DanieConfig) -> String {
        match self {
            Stream::Sap => format!(
                "a timm VisionTransformer with embed_dim {}, patch size {} and at least {} blocks",
                cfg.sap.embed_dim, cfg.sap.patch_size, cfg.sap.depth
            ),
            Stream::Hap => format!(
                "a torchvision ResNet with {:?} blocks, {:?} in layer1-3, width {}",
                cfg.hap.block, cfg.hap.layers, cfg.hap.width
            ),
        }
    }

    /// Checkpoint keys the stream leaves unused on purpose.
    fn unused_on_purpose(self, key: &str) -> bool {
        match self {
            Stream::Sap => ["head.", "head_drop.", "fc_norm.", "blocks."]
                .iter()
                .any(|p| key.starts_with(p)),
            Stream::Hap => key.starts_with("fc.") || key.starts_with("layer4."),
        }
    }
}

/// One checkpoint a model started from: recorded in the run folder (`pretrained.json`) and in
/// the weights metadata.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StartCheckpoint {
    /// The stream it initialised.
    pub stream: Stream,
    /// What the config named: a registry name or a path.
    pub source: String,
    /// The file read.
    pub file: String,
    /// sha256 of that file (64 lowercase hex digits).
    pub sha256: String,
}

impl StartCheckpoint {
    /// Checks the fields of a record read back from a file.
    pub fn validate(&self) -> Result<(), String> {
        if self.source.is_empty() {
            return Err(format!("{}: empty source", self.stream.as_str()));
        }
        let hex = |c: char| c.is_ascii_digit() || ('a'..='f').contains(&c);
        if self.sha256.len() != 64 || !self.sha256.chars().all(hex) {
            return Err(format!(
                "{}: sha256 {:?} is not 64 lowercase hex digits",
                self.stream.as_str(),
                self.sha256
            ));
        }
        Ok(())
    }
}

/// configs/pretrained.toml: the ImageNet pair of each preset (also read by `cargo xtask
/// reproduce`, which fetches them).
const IMAGENET_PAIRS: &str = include_str!("../../../configs/pretrained.toml");

/// The ImageNet checkpoints (registry names) a preset's streams start from with
/// `pretrained = "imagenet"`: (SAP, HAP), from configs/pretrained.toml.
pub fn imagenet_pair(preset: &str) -> Option<(String, String)> {
    let table: std::collections::BTreeMap<String, StreamSources> =
        toml::from_str(IMAGENET_PAIRS).expect("configs/pretrained.toml is valid (tested)");
    let s = table.get(&preset.to_ascii_lowercase())?;
    Some((s.sap.clone()?, s.hap.clone()?))
}

/// The folder registry names resolve in: `$DANIE_WEIGHTS_DIR`, else `weights/` in the current
/// directory (where `cargo xtask download weights NAME` puts them when run from the
/// repository root).
pub fn weights_dir() -> PathBuf {
    std::env::var_os(WEIGHTS_DIR_ENV)
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("weights"))
}

/// Whether a source names a file (a path separator or a weight-file extension) rather than a
/// registry entry.
pub fn is_path(source: &str) -> bool {
    source.contains('/')
        || source.contains('\\')
        || Path::new(source)
            .extension()
            .and_then(|e| e.to_str())
            .is_some_and(|e| WEIGHT_EXTENSIONS.contains(&e.to_ascii_lowercase().as_str()))
}

impl Pretrained {
    /// Whether both streams start from scratch.
    pub fn is_none(&self) -> bool {
        matches!(self, Pretrained::Named(n) if n == "none")
    }

    /// The same sources with relative file paths resolved against `base` (the config file's
    /// folder); registry names are kept.
    pub fn with_paths_under(&self, base: &Path) -> Self {
        let fix = |s: &Option<String>| {
            s.as_ref().map(|s| {
                if is_path(s) && Path::new(s).is_relative() {
                    base.join(s).display().to_string()
                } else {
                    s.clone()
                }
            })
        };
        match self {
            Pretrained::Named(n) => Pretrained::Named(n.clone()),
            Pretrained::Streams(s) => Pretrained::Streams(StreamSources {
                sap: fix(&s.sap),
                hap: fix(&s.hap),
            }),
        }
    }

    /// The (stream, source) pairs named, before looking at any model.
    fn sources(&self, preset: &str) -> Result<Vec<(Stream, String)>, ModelError> {
        let err = |m: String| ModelError::Config(format!("[model] pretrained: {m}"));
        match self {
            Pretrained::Named(n) if n == "none" => Ok(vec![]),
            Pretrained::Named(n) if n == "imagenet" => {
                let (sap, hap) = imagenet_pair(preset).ok_or_else(|| {
                    err(format!(
                        "preset {preset:?} has no ImageNet checkpoints (s, b and l have); set \
                         pretrained = \"none\" or name files: pretrained = {{ sap = \"FILE\", hap = \"FILE\" }}"
                    ))
                })?;
                Ok(vec![(Stream::Sap, sap), (Stream::Hap, hap)])
            }
            Pretrained::Named(n) => Err(err(format!(
                "{n:?} is not a choice: \"none\", \"imagenet\" or {{ sap = SOURCE, hap = SOURCE }}"
            ))),
            Pretrained::Streams(s) => {
                let mut v = Vec::new();
                for (stream, src) in [(Stream::Sap, &s.sap), (Stream::Hap, &s.hap)] {
                    if let Some(src) = src {
                        if src.trim().is_empty() {
                            return Err(err(format!("{} is empty", stream.as_str())));
                        }
                        v.push((stream, src.clone()));
                    }
                }
                Ok(v)
            }
        }
    }

    /// The (stream, source) pairs to load into a model of config `cfg` (`cfg.name` is the
    /// preset): with `"imagenet"`, only the streams the model builds; a source for a stream
    /// the model does not build is an error.
    pub fn plan(&self, cfg: &DanieConfig) -> Result<Vec<(Stream, String)>, ModelError> {
        let named = self.sources(&cfg.name)?;
        let built = |s: Stream| match s {
            Stream::Sap => cfg.has_sap(),
            Stream::Hap => cfg.has_hap(),
        };
        if matches!(self, Pretrained::Streams(_)) {
            if let Some((s, _)) = named.iter().find(|(s, _)| !built(*s)) {
                return Err(ModelError::Config(format!(
                    "[model] pretrained.{0}: the model has no {0} stream (streams = {1:?})",
                    s.as_str(),
                    cfg.streams
                )));
            }
        }
        Ok(named.into_iter().filter(|(s, _)| built(*s)).collect())
    }
}

/// The file a source names: a path as given, or the one weight file in
/// `weights_dir/NAME/` for a registry name. Errors say which command fetches a missing one.
pub fn locate(stream: Stream, source: &str, weights_dir: &Path) -> Result<PathBuf, ModelError> {
    let key = format!("[model] pretrained.{} = {source:?}", stream.as_str());
    if is_path(source) {
        let p = PathBuf::from(source);
        if !p.is_file() {
            return Err(ModelError::Weights(format!(
                "{key}: the weight file {} does not exist",
                p.display()
            )));
        }
        return Ok(p);
    }
    let fetch = format!(
        "fetch it with `cargo xtask download weights {source}` (`cargo xtask download weights` \
         lists the names), or give a file path"
    );
    let valid = source
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || "._-".contains(c));
    if !valid || source.starts_with('.') {
        return Err(ModelError::Weights(format!(
            "{key}: not a registry name (letters, digits, '.', '_', '-') nor a weight file \
             path (.safetensors, .pth, .pt, .bin)"
        )));
    }
    let dir = weights_dir.join(source);
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .map(|rd| {
            rd.filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.is_file())
                .filter(|p| {
                    p.extension()
                        .and_then(|e| e.to_str())
                        .is_some_and(|e| WEIGHT_EXTENSIONS.contains(&e))
                })
                .collect()
        })
        .unwrap_or_default();
    files.sort();
    match files.len() {
        0 => Err(ModelError::Weights(format!(
            "{key}: no downloaded weights named {source:?} in {} ({WEIGHTS_DIR_ENV} sets the \
             folder); {fetch}",
            dir.display()
        ))),
        1 => Ok(files.remove(0)),
        _ => Err(ModelError::Weights(format!(
            "{key}: {} holds several weight files ({}); keep one, or give the file's path",
            dir.display(),
            files
                .iter()
                .filter_map(|f| f.file_name().map(|n| n.to_string_lossy().into_owned()))
                .collect::<Vec<_>>()
                .join(", ")
        ))),
    }
}

/// sha256 of a file, lowercase hex.
pub fn sha256_file(path: &Path) -> Result<String, ModelError> {
    let err =
        |e: std::io::Error| ModelError::Weights(format!("cannot read {}: {e}", path.display()));
    let mut f = std::fs::File::open(path).map_err(err)?;
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = f.read(&mut buf).map_err(err)?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
    }
    Ok(h.finalize().iter().map(|b| format!("{b:02x}")).collect())
}

/// Loads one stream's checkpoint into `vs` (a model of config `cfg` under the root) and checks
/// that it fits; returns the record and a one-line summary.
pub fn load_stream(
    vs: &mut VarStore,
    cfg: &DanieConfig,
    stream: Stream,
    source: &str,
    weights_dir: &Path,
) -> Result<(StartCheckpoint, String), ModelError> {
    let path = locate(stream, source, weights_dir)?;
    let key = format!(
        "[model] pretrained.{} = {source:?} ({})",
        stream.as_str(),
        path.display()
    );
    let expects = stream.expects(cfg);
    let report = load_backbone(vs, &path, stream.backbone()).map_err(|e| {
        ModelError::Weights(format!(
            "{key}: does not fit the {} stream, which expects {expects}: {e}",
            stream.as_str()
        ))
    })?;
    let list = |v: &[String]| {
        let mut s = v.iter().take(6).cloned().collect::<Vec<_>>().join(", ");
        if v.len() > 6 {
            s.push_str(&format!(", ... ({} in all)", v.len()));
        }
        s
    };
    // Model variables of the backbone that stayed unset: the stream's own additions
    // (HAP's attention and calibration after each stage) are expected to.
    let missing: Vec<String> = report
        .missing
        .iter()
        .filter(|k| !(stream == Stream::Hap && k.starts_with("hap.attn")))
        .cloned()
        .collect();
    let misfit: Vec<String> = report
        .unused
        .iter()
        .filter(|k| !stream.unused_on_purpose(k))
        .cloned()
        .collect();
    if !missing.is_empty() || !misfit.is_empty() || report.loaded.is_empty() {
        let mut m = format!(
            "{key}: does not fit the {} stream, which expects {expects}:",
            stream.as_str()
        );
        if !misfit.is_empty() {
            m.push_str(&format!(
                " keys with no place in the model: {}",
                list(&misfit)
            ));
        }
        if !missing.is_empty() {
            if !misfit.is_empty() {
                m.push(';');
            }
            m.push_str(&format!(
                " model variables the file lacks: {}",
                list(&missing)
            ));
        }
        if report.loaded.is_empty() {
            m.push_str(" (nothing in it loads)");
        }
        return Err(ModelError::Weights(m));
    }
    // Unused on purpose, listed once, by top-level module ("head", "layer4") with counts.
    let mut groups: Vec<(String, usize)> = Vec::new();
    for k in &report.unused {
        let g = match k.split('.').collect::<Vec<_>>().as_slice() {
            ["blocks", i, ..] => format!("blocks.{i}"),
            [first, ..] => first.to_string(),
            [] => k.clone(),
        };
        match groups.last_mut() {
            Some((last, n)) if *last == g => *n += 1,
            _ => groups.push((g, 1)),
        }
    }
    let unused = if groups.is_empty() {
        "none".to_string()
    } else {
        groups
            .iter()
            .map(|(g, n)| format!("{g}.* ({n})"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let sha256 = sha256_file(&path)?;
    let summary = format!(
        "pretrained {}: {source} ({}, sha256 {}): {} tensors loaded; unused: {unused}",
        stream.as_str(),
        path.display(),
        &sha256[..12],
        report.loaded.len()
    );
    let record = StartCheckpoint {
        stream,
        source: source.to_string(),
        file: path.display().to_string(),
        sha256,
    };
    Ok((record, summary))
}

/// Loads every stream `spec` names into a freshly built model (`vs`, config `cfg`); returns
/// the records and prints one summary line per stream to stderr.
pub fn load_pretrained(
    vs: &mut VarStore,
    cfg: &DanieConfig,
    spec: &Pretrained,
    weights_dir: &Path,
) -> Result<Vec<StartCheckpoint>, ModelError> {
    let mut records = Vec::new();
    for (stream, source) in spec.plan(cfg)? {
        let (record, summary) = load_stream(vs, cfg, stream, &source, weights_dir)?;
        eprintln!("{summary}");
        records.push(record);
    }
    Ok(records)
}

/// Resamples an absolute position embedding to another patch grid exactly as timm's
/// `resample_abs_pos_embed` (timm/layers/pos_embed.py): the `num_prefix_tokens` leading slots
/// (the class token) kept apart, the rest reshaped to `old_size` (square when `None`),
/// interpolated bicubically with antialiasing (`align_corners=False`) in float32, and cast
/// back to the input's dtype.
///
/// # Shapes
/// (1, prefix + old_h*old_w, D) -> (1, prefix + new_h*new_w, D)
pub fn resample_abs_pos_embed(
    posemb: &Tensor,
    new_size: [i64; 2],
    old_size: Option<[i64; 2]>,
    num_prefix_tokens: i64,
) -> Tensor {
    let num_pos_tokens = posemb.size()[1];
    let num_new_tokens = new_size[0] * new_size[1] + num_prefix_tokens;
    if num_new_tokens == num_pos_tokens {
        match old_size {
            Some(o) if o == new_size => return posemb.shallow_clone(),
            None if new_size[0] == new_size[1] => return posemb.shallow_clone(),
            _ => {}
        }
    }
    let old_size = old_size.unwrap_or_else(|| {
        let hw = ((num_pos_tokens - num_prefix_tokens) as f64).sqrt() as i64;
        [hw, hw]
    });
    let (prefix, grid) = if num_prefix_tokens > 0 {
        (
            Some(posemb.i((.., ..num_prefix_tokens, ..))),
            posemb.i((.., num_prefix_tokens.., ..)),
        )
    } else {
        (None, posemb.shallow_clone())
    };
    let embed_dim = grid.size()[2];
    let orig_kind = grid.kind();
    let grid = grid
        .to_kind(Kind::Float)
        .reshape([1, old_size[0], old_size[1], -1])
        .permute([0, 3, 1, 2]); // (1, D, old_h, old_w)
    let resized = Tensor::internal_upsample_bicubic2d_aa(&grid, new_size, false, None, None) // (1, D, new_h, new_w)
        .permute([0, 2, 3, 1])
        .reshape([1, -1, embed_dim])
        .to_kind(orig_kind);
    match prefix {
        Some(p) => Tensor::cat(&[p, resized], 1),
        None => resized,
    }
}

/// The run-folder file recording the checkpoints a run started from.
pub const RECORD_FILE: &str = "pretrained.json";

/// Writes `run_dir/pretrained.json`: `{"started_from": [records]}` (an empty list for a run
/// from scratch).
pub fn write_record(run_dir: &Path, records: &[StartCheckpoint]) -> Result<(), String> {
    let text = serde_json::to_string_pretty(&serde_json::json!({ "started_from": records }))
        .map_err(|e| e.to_string())?;
    let path = run_dir.join(RECORD_FILE);
    danie_fs::write_bytes(&path, text + "\n")
        .map_err(|e| format!("cannot write {}: {e}", path.display()))
}

/// Reads `run_dir/pretrained.json` back (none for a run written before the file existed).
pub fn read_record(run_dir: &Path) -> Result<Vec<StartCheckpoint>, String> {
    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Record {
        started_from: Vec<StartCheckpoint>,
    }
    let path = run_dir.join(RECORD_FILE);
    if !path.exists() {
        return Ok(vec![]);
    }
    let bad = |e: String| format!("{}: {e}", path.display());
    let text =
        danie_fs::read_text(&path, danie_fs::MAX_SMALL_TEXT).map_err(|e| bad(e.to_string()))?;
    let r: Record = serde_json::from_str(&text).map_err(|e| bad(e.to_string()))?;
    validate_records(&r.started_from).map_err(bad)?;
    Ok(r.started_from)
}

/// Checks records read back: each valid, each stream at most once.
pub fn validate_records(records: &[StartCheckpoint]) -> Result<(), String> {
    let mut seen = BTreeSet::new();
    for r in records {
        r.validate()?;
        if !seen.insert(r.stream) {
            return Err(format!("stream {} recorded twice", r.stream.as_str()));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sources_parse_and_resolve() {
        let p: Pretrained = toml::from_str::<toml::Table>("p = \"imagenet\"").unwrap()["p"]
            .clone()
            .try_into()
            .unwrap();
        let b = DanieConfig::preset("b").unwrap();
        assert_eq!(
            p.plan(&b).unwrap(),
            [
                (Stream::Sap, "vit_small_patch16_224".to_string()),
                (Stream::Hap, "resnet18".to_string())
            ]
        );
        for p in ["s", "b", "l"] {
            assert!(imagenet_pair(p).is_some(), "{p}");
        }
        assert_eq!(
            imagenet_pair("L").unwrap(),
            ("vit_base_patch16_224".into(), "resnet50".into())
        );
        let tiny = DanieConfig::preset("tiny").unwrap();
        let e = p.plan(&tiny).unwrap_err().to_string();
        assert!(e.contains("\"tiny\" has no ImageNet"), "{e}");
        assert!(Pretrained::default().plan(&b).unwrap().is_empty());
        let e = Pretrained::Named("imagenet21k".into())
            .plan(&b)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("imagenet21k") && e.contains("not a choice"),
            "{e}"
        );
        let parse = |t: &str| toml::from_str::<std::collections::BTreeMap<String, Pretrained>>(t);
        let e = parse("p = \"imagenet21k\"").unwrap_err().to_string();
        assert!(
            e.contains("imagenet21k") && e.contains("\"imagenet\""),
            "{e}"
        );
        let e = parse("p = { hpa = \"resnet18\" }").unwrap_err().to_string();
        assert!(e.contains("hpa") && e.contains("hap"), "{e}");
        assert!(parse("p = 3").is_err());
        assert_eq!(
            parse("p = { hap = \"resnet18\" }").unwrap()["p"],
            Pretrained::Streams(StreamSources {
                sap: None,
                hap: Some("resnet18".into())
            })
        );
        let s = Pretrained::Streams(StreamSources {
            sap: None,
            hap: Some("ck/r18.pth".into()),
        });
        assert_eq!(
            s.with_paths_under(Path::new("/cfg")).plan(&b).unwrap(),
            [(Stream::Hap, "/cfg/ck/r18.pth".to_string())]
        );
        assert!(is_path("r18.pth") && is_path("a/b") && !is_path("resnet18"));
        let mut sap_only = b.clone();
        sap_only.streams = crate::Streams::Sap;
        assert!(s
            .plan(&sap_only)
            .unwrap_err()
            .to_string()
            .contains("no hap stream"));
    }

    #[test]
    fn registry_names_resolve_in_the_weights_folder() {
        let dir = tempfile::tempdir().unwrap();
        let e = locate(Stream::Hap, "resnet18", dir.path())
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("\"resnet18\"") && e.contains("cargo xtask download weights resnet18"),
            "{e}"
        );
        let d = dir.path().join("resnet18");
        std::fs::create_dir(&d).unwrap();
        std::fs::write(d.join("resnet18-f37072fd.pth"), b"x").unwrap();
        std::fs::write(d.join("resnet18-f37072fd.pth.sha256"), b"x").unwrap();
        assert_eq!(
            locate(Stream::Hap, "resnet18", dir.path()).unwrap(),
            d.join("resnet18-f37072fd.pth")
        );
        std::fs::write(d.join("resnet18.safetensors"), b"x").unwrap();
        let e = locate(Stream::Hap, "resnet18", dir.path())
            .unwrap_err()
            .to_string();
        assert!(e.contains("several weight files"), "{e}");
        let e = locate(Stream::Sap, "../x", dir.path())
            .unwrap_err()
            .to_string();
        assert!(e.contains("does not exist"), "{e}");
        assert_eq!(
            sha256_file(&d.join("resnet18.safetensors")).unwrap(),
            "2d711642b726b04401627ca9fbac32f5c8530fb1903cc4db02258717921a4881"
        );
    }
}
