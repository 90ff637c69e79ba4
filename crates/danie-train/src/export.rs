//! `danie export`: a trained model out of danie, as TorchScript (traced by libtorch itself) or
//! ONNX (that TorchScript module through the user's PyTorch exporter), with a deploy JSON
//! beside it (`FILE.json`) saying what a server must feed the model and how to read its output.
//!
//! The model is traced in eval mode (BatchNorm's running statistics, folded into the
//! convolution before it once: `danie_model::conv_bn::with_constant_weights`) without
//! gradients. Every reshape in danie-model's forward keeps the batch as -1 (or uses flatten /
//! unflatten / expand_as), so the traced graph takes any batch; the saved module is loaded back
//! and run at batch 1 and 4 against danie's own forward before it is renamed into place.
//! Nothing is half-written: each file goes to a temporary beside its name and is renamed on
//! success.
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{bail, Context};
use serde::Serialize;
use sha2::{Digest, Sha256};
use tch::nn::ModuleT;
use tch::{CModule, Device, Kind, Tensor};

use crate::model_io::LoadedModel;
use crate::weights_meta::Intensity;

/// The ONNX exporter script, run with the user's Python.
const EXPORT_ONNX_PY: &str = include_str!("export_onnx.py");
/// The ONNX opset written (17: LayerNormalization as one operator).
pub const ONNX_OPSET: i64 = 17;
/// The deploy JSON's format tag, bumped when fields change meaning.
pub const DEPLOY_FORMAT: &str = "danie-deploy/1";
/// Largest difference accepted between the exported model and danie's forward, in units of
/// the logits' largest magnitude (at least 1): float32 round-off of another kernel order (the
/// saved TorchScript measured identical to danie, onnxruntime 2e-6 of the scale), far below
/// any change of a predicted label.
const TOLERANCE: f64 = 1e-4;
/// Batches the exported model is checked at (traced at [`TRACE_BATCH`], so both prove the
/// batch is free).
const CHECK_BATCHES: [i64; 2] = [1, 4];
const TRACE_BATCH: i64 = 2;

/// The two formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExportFormat {
    /// A TorchScript module (`torch.jit.load`, libtorch's `torch::jit::load`).
    TorchScript,
    /// An ONNX model (onnxruntime, TensorRT, Triton).
    Onnx,
}

impl ExportFormat {
    /// The name used on the command line and in the deploy JSON.
    pub fn name(self) -> &'static str {
        match self {
            Self::TorchScript => "torchscript",
            Self::Onnx => "onnx",
        }
    }
}

/// What to export where.
#[derive(Debug, Clone)]
pub struct ExportOptions {
    /// The format.
    pub format: ExportFormat,
    /// The model file; the deploy JSON goes to [`deploy_json_path`] of it.
    pub output: PathBuf,
    /// Replace existing files.
    pub overwrite: bool,
    /// The Python that runs the ONNX exporter (needs torch and onnx).
    pub python: PathBuf,
}

/// Largest |exported - danie| over the logits at one batch size.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, serde::Deserialize)]
pub struct BatchCheck {
    /// Batch size.
    pub batch: i64,
    /// Largest absolute difference of the logits.
    pub max_abs_diff: f64,
    /// Largest magnitude of the reference logits.
    pub scale: f64,
}

impl BatchCheck {
    /// Within [`TOLERANCE`].
    fn passes(&self) -> bool {
        self.max_abs_diff <= TOLERANCE * self.scale.max(1.0)
    }
}

/// What an export wrote and measured.
#[derive(Debug, Clone)]
pub struct ExportReport {
    /// The model file.
    pub model: PathBuf,
    /// The deploy JSON.
    pub deploy_json: PathBuf,
    /// The saved TorchScript module against danie's forward.
    pub torchscript_checks: Vec<BatchCheck>,
    /// The ONNX model under onnxruntime against the TorchScript module (empty for TorchScript,
    /// or when the Python has no onnxruntime).
    pub onnx_checks: Vec<BatchCheck>,
}

/// The deploy JSON beside `model`: its full name with `.json` appended (`model.onnx.json`), so
/// a TorchScript and an ONNX export of one model side by side keep their own.
pub fn deploy_json_path(model: &Path) -> PathBuf {
    let mut name = model.as_os_str().to_owned();
    name.push(".json");
    PathBuf::from(name)
}

/// The Python for the ONNX exporter: `--python`, else `$DANIE_PYTHON`, else `python3`.
pub fn default_python(flag: Option<&Path>) -> PathBuf {
    flag.map(Path::to_path_buf)
        .or_else(|| std::env::var_os("DANIE_PYTHON").map(PathBuf::from))
        .unwrap_or_else(|| PathBuf::from("python3"))
}

/// Refuses existing outputs (without `overwrite`) and missing output folders, before any work.
pub fn check_outputs(opts: &ExportOptions) -> anyhow::Result<()> {
    let json = deploy_json_path(&opts.output);
    for p in [&opts.output, &json] {
        if p.exists() && !opts.overwrite {
            bail!(
                "{} exists: pass --overwrite to replace it (or choose another -o)",
                p.display()
            );
        }
        if p.is_dir() {
            bail!("{} is a folder, not a file name", p.display());
        }
    }
    let parent = match opts.output.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    anyhow::ensure!(
        parent.is_dir(),
        "-o {}: the folder {} does not exist",
        opts.output.display(),
        parent.display()
    );
    Ok(())
}

/// Exports `loaded` (read from `weights`, whose sha256 goes into the deploy JSON).
pub fn export(
    mut loaded: LoadedModel,
    weights: &Path,
    opts: &ExportOptions,
) -> anyhow::Result<ExportReport> {
    check_outputs(opts)?;
    anyhow::ensure!(
        loaded.vs.device() == Device::Cpu,
        "export traces the model on the CPU; load it there"
    );
    // The weights keep the layout danie runs them in (channels-last on the CPU, see
    // danie_model::memory_format): the TorchScript module then runs danie's kernels and gives
    // its numbers; the ONNX exporter writes plain initializers either way.
    // Traced weights become constants of the graph, which must not require gradients.
    loaded.vs.freeze();
    let m = &loaded.model;
    let (c, s) = (m.config().in_channels, m.config().img_size);
    let example = Tensor::zeros([TRACE_BATCH, c, s, s], (Kind::Float, Device::Cpu));
    // Traced with the weights constant: a forward before the trace folds each BatchNorm into
    // its convolution once, so the graph holds folded weights, not the folding's ~4 ops a
    // pair replayed at every call (on the user's GPU too).
    let module = danie_model::conv_bn::with_constant_weights(|| {
        let _no_grad = tch::no_grad_guard();
        let _ = m.forward_t(&example, false);
        CModule::create_by_tracing("Danie", "forward", &[example], &mut |xs: &[Tensor]| {
            vec![m.forward_t(&xs[0], false)]
        })
        .context("tracing the model")
    })?;
    // The deploy JSON (and the weights' sha256) before the model is written: a failure there
    // leaves no model without its JSON.
    let deploy = DeployInfo::new(&loaded, weights, opts)?;
    let json_path = deploy_json_path(&opts.output);
    let mut report = ExportReport {
        model: opts.output.clone(),
        deploy_json: json_path.clone(),
        torchscript_checks: vec![],
        onnx_checks: vec![],
    };
    let save_checked = |path: &Path| -> anyhow::Result<Vec<BatchCheck>> {
        module
            .save(path)
            .with_context(|| format!("saving the TorchScript module to {}", path.display()))?;
        check_module(path, &loaded)
    };
    match opts.format {
        ExportFormat::TorchScript => {
            danie_fs::write_atomic_via_path(&opts.output, |tmp| -> anyhow::Result<()> {
                report.torchscript_checks = save_checked(tmp)?;
                Ok(())
            })
            .map_err(atomic_error)?;
        }
        ExportFormat::Onnx => {
            let dir = tempfile::tempdir().context("creating a temporary folder")?;
            let ts = dir.path().join("module.pt");
            report.torchscript_checks = save_checked(&ts)?;
            let script = dir.path().join("export_onnx.py");
            danie_fs::write_bytes(&script, EXPORT_ONNX_PY)?;
            danie_fs::write_atomic_via_path(&opts.output, |tmp| -> anyhow::Result<()> {
                report.onnx_checks = run_onnx_export(&opts.python, &script, &ts, tmp, c, s)?;
                Ok(())
            })
            .map_err(atomic_error)?;
        }
    }
    let text = serde_json::to_string_pretty(&deploy)? + "\n";
    danie_fs::write_bytes(&json_path, text)?;
    Ok(report)
}

fn atomic_error(e: danie_fs::AtomicError<anyhow::Error>) -> anyhow::Error {
    match e {
        danie_fs::AtomicError::Write(e) => e,
        danie_fs::AtomicError::Io(e) => e.into(),
    }
}

/// Loads the saved module back and compares it with danie's forward at each of
/// [`CHECK_BATCHES`]; a difference over [`TOLERANCE`] is an error (a batch baked into the graph
/// fails to run or gives another shape).
fn check_module(path: &Path, loaded: &LoadedModel) -> anyhow::Result<Vec<BatchCheck>> {
    let module = CModule::load(path)
        .with_context(|| format!("loading the saved module {} back", path.display()))?;
    let cfg = loaded.model.config();
    let _no_grad = tch::no_grad_guard();
    tch::manual_seed(0);
    let mut checks = vec![];
    for batch in CHECK_BATCHES {
        let x = Tensor::rand(
            [batch, cfg.in_channels, cfg.img_size, cfg.img_size],
            (Kind::Float, Device::Cpu),
        );
        let want = loaded.model.forward_t(&x, false);
        let got = module.forward_ts(&[&x]).with_context(|| {
            format!("the traced module does not run at batch {batch}: the batch is not free")
        })?;
        anyhow::ensure!(
            got.size() == want.size(),
            "the traced module gives shape {:?} at batch {batch}, danie {:?}",
            got.size(),
            want.size()
        );
        let check = BatchCheck {
            batch,
            max_abs_diff: (&got - &want).abs().max().double_value(&[]),
            scale: want.abs().max().double_value(&[]),
        };
        anyhow::ensure!(
            check.passes(),
            "the traced module's logits differ from danie's by {:.3e} (largest logit {:.3}) at \
             batch {batch}",
            check.max_abs_diff,
            check.scale
        );
        checks.push(check);
    }
    Ok(checks)
}

/// Runs the embedded exporter: TorchScript `module` -> ONNX `out`, checked by onnx.checker and
/// (with onnxruntime) against the module at batch 1 and 4.
fn run_onnx_export(
    python: &Path,
    script: &Path,
    module: &Path,
    out: &Path,
    channels: i64,
    size: i64,
) -> anyhow::Result<Vec<BatchCheck>> {
    let output = Command::new(python)
        .arg(script)
        .arg(module)
        .arg(out)
        .args([
            channels.to_string(),
            size.to_string(),
            ONNX_OPSET.to_string(),
        ])
        .output()
        .with_context(|| {
            format!(
                "cannot run Python `{}` for the ONNX export (choose one with torch and onnx \
                 through --python or DANIE_PYTHON)",
                python.display()
            )
        })?;
    let stderr = String::from_utf8_lossy(&output.stderr);
    if !output.status.success() {
        let tail: Vec<&str> = stderr.lines().rev().take(12).collect();
        let tail: Vec<&str> = tail.into_iter().rev().collect();
        bail!(
            "the ONNX export with `{}` failed ({}):\n{}",
            python.display(),
            output.status,
            tail.join("\n")
        );
    }
    let stdout = String::from_utf8_lossy(&output.stdout);
    let line = stdout
        .lines()
        .rev()
        .find(|l| l.starts_with('{'))
        .context("the ONNX exporter printed no result")?;
    #[derive(serde::Deserialize)]
    struct Reply {
        checks: Vec<BatchCheck>,
    }
    let result: Reply = serde_json::from_str(line)
        .with_context(|| format!("the ONNX exporter's result line is not JSON: {line}"))?;
    for c in &result.checks {
        anyhow::ensure!(
            c.passes(),
            "onnxruntime's logits differ from the TorchScript module's by {:.3e} (largest logit \
             {:.3}) at batch {}",
            c.max_abs_diff,
            c.scale,
            c.batch
        );
    }
    Ok(result.checks)
}

/// The deploy JSON: everything a server needs besides the model file.
#[derive(Debug, Serialize)]
pub struct DeployInfo {
    /// [`DEPLOY_FORMAT`].
    pub format: String,
    /// `torchscript` or `onnx`.
    pub model_format: String,
    /// The model file's name (beside this JSON).
    pub model_file: String,
    /// The danie that exported it.
    pub danie_version: String,
    /// The weights file it came from.
    pub weights: WeightsSource,
    /// What goes in.
    pub input: InputSpec,
    /// How raw images become the input.
    pub preprocessing: Preprocessing,
    /// What comes out.
    pub output: OutputSpec,
    /// Label ids and names (id = output channel).
    pub classes: Vec<ClassEntry>,
    /// The dataset the model was trained on.
    pub dataset: String,
}

/// The weights file an export came from.
#[derive(Debug, Serialize)]
pub struct WeightsSource {
    /// Its name.
    pub file: String,
    /// sha256 of its bytes, hex.
    pub sha256: String,
}

/// The model input.
#[derive(Debug, Serialize)]
pub struct InputSpec {
    /// Input name in the ONNX graph.
    pub name: String,
    /// Always `NCHW`.
    pub layout: String,
    /// Always `float32`.
    pub dtype: String,
    /// `["batch", C, H, W]`: the batch is free, the rest fixed.
    pub shape: (String, i64, i64, i64),
    /// Channels (1: CT / MRI slices, 3: RGB).
    pub channels: i64,
    /// Height.
    pub height: i64,
    /// Width.
    pub width: i64,
}

/// Input preprocessing, exactly as the training data had it.
#[derive(Debug, Serialize)]
pub struct Preprocessing {
    /// danie's own description (`weights_meta::Intensity`).
    pub intensity: Intensity,
    /// The same in words, as a formula.
    pub intensity_formula: String,
    /// How a plane of another size reaches H x W, and the labels get back.
    pub resize: String,
    /// How 3D volumes are cut into planes.
    pub volumes: String,
}

/// The model output.
#[derive(Debug, Serialize)]
pub struct OutputSpec {
    /// Output name in the ONNX graph.
    pub name: String,
    /// `["batch", K, H, W]`.
    pub shape: (String, i64, i64, i64),
    /// Always `logits`.
    pub kind: String,
    /// Class probabilities.
    pub probabilities: String,
    /// The label map.
    pub labels: String,
}

/// One class.
#[derive(Debug, Serialize)]
pub struct ClassEntry {
    /// Label id (output channel).
    pub id: usize,
    /// Name.
    pub name: String,
}

impl DeployInfo {
    fn new(loaded: &LoadedModel, weights: &Path, opts: &ExportOptions) -> anyhow::Result<Self> {
        let meta = &loaded.meta;
        let cfg = loaded.model.config();
        let (c, s, k) = (cfg.in_channels, cfg.img_size, cfg.num_classes);
        let file_name = |p: &Path| {
            p.file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default()
        };
        let intensity_formula = match meta.intensity {
            Intensity::CtWindow { lo, hi } => format!(
                "x = (clip(hu, {lo}, {hi}) - ({lo})) / ({hi} - ({lo})): Hounsfield units \
                 windowed to [{lo}, {hi}] and scaled to [0, 1]"
            ),
            Intensity::MinMax => "x = (v - min) / (max - min) over the whole volume (image), \
                                  0 where max == min"
                .into(),
            Intensity::Unit8Bit => "x = v / 255 for 8-bit images (RGB channels in R, G, B \
                                    order), no mean/std normalisation"
                .into(),
        };
        let rgb = c == 3;
        Ok(Self {
            format: DEPLOY_FORMAT.into(),
            model_format: opts.format.name().into(),
            model_file: file_name(&opts.output),
            danie_version: env!("CARGO_PKG_VERSION").into(),
            weights: WeightsSource {
                file: file_name(weights),
                sha256: sha256_file(weights)?,
            },
            input: InputSpec {
                name: "image".into(),
                layout: "NCHW".into(),
                dtype: "float32".into(),
                shape: ("batch".into(), c, s, s),
                channels: c,
                height: s,
                width: s,
            },
            preprocessing: Preprocessing {
                intensity: meta.intensity,
                intensity_formula,
                resize: if rgb {
                    format!(
                        "each image resized to {s} x {s} bilinearly; the label map back to the \
                         image's size with nearest neighbour"
                    )
                } else {
                    format!(
                        "each plane resized to {s} x {s} with cubic splines (scipy.ndimage.zoom \
                         order 3); the label map back with nearest neighbour (order 0)"
                    )
                },
                volumes: "NIfTI volumes are segmented plane by plane along the third (z) axis, \
                          the plane's first array axis being y (rows) as nibabel's \
                          get_fdata()[:, :, z].T"
                    .into(),
            },
            output: OutputSpec {
                name: "logits".into(),
                shape: ("batch".into(), k, s, s),
                kind: "logits".into(),
                probabilities: "softmax over dim 1".into(),
                labels: "argmax over dim 1 (label id = class id below)".into(),
            },
            classes: meta
                .class_names
                .iter()
                .enumerate()
                .map(|(id, name)| ClassEntry {
                    id,
                    name: name.clone(),
                })
                .collect(),
            dataset: meta.dataset.to_string(),
        })
    }
}

/// sha256 of a file's bytes, hex.
pub fn sha256_file(path: &Path) -> anyhow::Result<String> {
    let mut f = std::fs::File::open(path).with_context(|| format!("reading {}", path.display()))?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = f
            .read(&mut buf)
            .with_context(|| format!("reading {}", path.display()))?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
    }
    Ok(hasher
        .finalize()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opts(output: PathBuf, overwrite: bool) -> ExportOptions {
        ExportOptions {
            format: ExportFormat::Onnx,
            output,
            overwrite,
            python: PathBuf::from("python3"),
        }
    }

    #[test]
    fn deploy_json_sits_beside_the_model_under_its_full_name() {
        assert_eq!(
            deploy_json_path(Path::new("out/m.onnx")),
            PathBuf::from("out/m.onnx.json")
        );
        assert_eq!(deploy_json_path(Path::new("m")), PathBuf::from("m.json"));
    }

    #[test]
    fn existing_outputs_need_overwrite_and_the_folder_must_exist() {
        let dir = tempfile::tempdir().unwrap();
        let model = dir.path().join("m.onnx");
        assert!(check_outputs(&opts(model.clone(), false)).is_ok());
        // The deploy JSON alone already exists: refused too, naming it.
        std::fs::write(deploy_json_path(&model), b"{}").unwrap();
        let e = check_outputs(&opts(model.clone(), false)).unwrap_err();
        assert!(format!("{e}").contains("m.onnx.json"), "{e}");
        assert!(check_outputs(&opts(model, true)).is_ok());
        let e = check_outputs(&opts(dir.path().join("no/such/m.onnx"), true)).unwrap_err();
        assert!(format!("{e}").contains("does not exist"), "{e}");
    }
}
