//! Training and inference throughput of DANIE on libtorch, for the side-by-side comparison with
//! the PyTorch reference network (scripts/bench_vs_pytorch.py runs both and prints the ratio).
//!
//! - `--mode train`: images/s of full training steps (forward in train mode, 0.5 CE + 0.5 Dice
//!   as danie-train computes it, backward, `torch.optim.SGD`-equivalent step) on random inputs of
//!   `--batch` x 3 x `--size` x `--size`.
//!   `--cuda-graph` (CUDA, train mode): capture the step after 3 warm-up steps and replay it
//!   (`danie_train::graphed_step`, as `train.cuda_graphs`). The JSON's `losses` holds every
//!   step's loss (warm-up included), for comparing a graphed run with an eager one.
//! - `--mode infer`: seconds per whole volume of `--volume DxHxW` slices (TransUNet's test
//!   path): each batch of slices resized to `--size` (bilinear), forward in eval mode without
//!   gradients, argmax, labels resized back (nearest), copied to the host as uint8.
//!
//! - `--mode parity --weights W.safetensors --input X.safetensors --output Y.safetensors`: loads
//!   weights saved from the PyTorch reference, runs one eval-mode forward on tensor `x` of the
//!   input file and writes the logits as `y` (scripts/bench_vs_pytorch.py --parity compares).
//! - `--mode config`: prints only the preset's config (JSON) for the reference to build.
//!
//! `--layout auto|nchw|nhwc`: weights and input channels-last or not (default `auto`: as danie
//! runs, `danie_model::memory_format::prefers_channels_last`), for measuring the layouts.
//!
//! Prints one JSON object on stdout. Run in release:
//! `cargo run --release -p danie-train --example throughput -- --preset s --batch 8`.
use std::time::Instant;

use anyhow::{bail, Context, Result};
use danie_model::conv_bn::with_constant_weights;
use danie_model::memory_format::{channels_last, channels_last_input, prefers_channels_last};
use danie_model::{Danie, DanieConfig};
use danie_train::autocast::{with_precision, Precision};
use danie_train::graphed_step::{GraphedStep, DEFAULT_WARMUP};
use danie_train::loss::CeDiceLoss;
use danie_train::optim::{Sgd, SgdConfig};
use tch::nn::{ModuleT, VarStore};
use tch::{Device, Kind, Tensor};

/// Command line, parsed by hand to keep the example free of extra dependencies.
struct Opts {
    preset: String,
    mode: String,
    batch: i64,
    size: i64,
    steps: usize,
    warmup: usize,
    threads: i32,
    device: Device,
    precision: Precision,
    volume: [i64; 3],
    classes: i64,
    /// Input channels (`None`: the preset's); 1 for a CT or MR volume as danie reads Synapse.
    channels: Option<i64>,
    weights: Option<String>,
    input: Option<String>,
    output: Option<String>,
    cuda_graph: bool,
    /// Channels-last weights and input: `None` as danie decides (`prefers_channels_last`).
    channels_last: Option<bool>,
}

fn parse() -> Result<Opts> {
    let mut o = Opts {
        preset: "tiny".into(),
        mode: "train".into(),
        batch: 8,
        size: 224,
        steps: 5,
        warmup: 2,
        threads: 0,
        device: Device::Cpu,
        precision: Precision::Fp32,
        volume: [100, 512, 512],
        classes: 9,
        channels: None,
        weights: None,
        input: None,
        output: None,
        cuda_graph: false,
        channels_last: None,
    };
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut it = args.iter();
    while let Some(flag) = it.next() {
        let mut val = || it.next().with_context(|| format!("{flag} needs a value"));
        match flag.as_str() {
            "--preset" => o.preset = val()?.clone(),
            "--mode" => o.mode = val()?.clone(),
            "--batch" => o.batch = val()?.parse().context("--batch")?,
            "--size" => o.size = val()?.parse().context("--size")?,
            "--steps" => o.steps = val()?.parse().context("--steps")?,
            "--warmup" => o.warmup = val()?.parse().context("--warmup")?,
            "--threads" => o.threads = val()?.parse().context("--threads")?,
            "--classes" => o.classes = val()?.parse().context("--classes")?,
            "--channels" => o.channels = Some(val()?.parse().context("--channels")?),
            "--weights" => o.weights = Some(val()?.clone()),
            "--input" => o.input = Some(val()?.clone()),
            "--output" => o.output = Some(val()?.clone()),
            "--cuda-graph" => o.cuda_graph = true,
            "--layout" => {
                o.channels_last = match val()?.as_str() {
                    "auto" => None,
                    "nchw" => Some(false),
                    "nhwc" => Some(true),
                    l => bail!("--layout {l}: expected auto, nchw or nhwc"),
                }
            }
            "--device" => {
                o.device = match val()?.as_str() {
                    "cpu" => Device::Cpu,
                    "cuda" => Device::Cuda(0),
                    d => bail!("--device {d}: expected cpu or cuda"),
                }
            }
            "--precision" => {
                o.precision = match val()?.as_str() {
                    "fp32" => Precision::Fp32,
                    "bf16" => Precision::Bf16,
                    p => bail!("--precision {p}: expected fp32 or bf16"),
                }
            }
            "--volume" => {
                let v: Vec<i64> = val()?
                    .split('x')
                    .map(|s| s.parse().context("--volume DxHxW"))
                    .collect::<Result<_>>()?;
                o.volume = v
                    .try_into()
                    .map_err(|_| anyhow::anyhow!("--volume DxHxW"))?;
            }
            f => bail!("unknown flag {f}"),
        }
    }
    if !["train", "infer", "parity", "config"].contains(&o.mode.as_str()) {
        bail!("--mode {}: expected train, infer, parity or config", o.mode);
    }
    if o.cuda_graph && (o.mode != "train" || !o.device.is_cuda()) {
        bail!("--cuda-graph needs --mode train and --device cuda");
    }
    if o.cuda_graph && o.warmup <= DEFAULT_WARMUP {
        // the timed steps must all be replays, not warm-up runs or the capture
        bail!("--cuda-graph needs --warmup {} or more", DEFAULT_WARMUP + 1);
    }
    if o.device.is_cuda() && !tch::Cuda::is_available() {
        bail!("--device cuda: libtorch sees no CUDA device");
    }
    Ok(o)
}

impl Opts {
    /// Whether weights and inputs are channels-last: `--layout`, or danie's own choice.
    fn nhwc(&self) -> bool {
        self.channels_last
            .unwrap_or_else(|| prefers_channels_last(self.device))
    }
}

/// Waits for queued device work so that wall-clock times are the work's.
fn sync(device: Device) {
    if let Device::Cuda(i) = device {
        tch::Cuda::synchronize(i as i64);
    }
}

fn main() -> Result<()> {
    danie_train::heap::keep_freed_memory(); // as the `danie` binary does
    let o = parse()?;
    if o.threads > 0 {
        tch::set_num_threads(o.threads);
    }
    tch::manual_seed(0);
    let mut cfg = DanieConfig::preset(&o.preset)?;
    cfg.num_classes = o.classes;
    cfg.img_size = o.size;
    if let Some(c) = o.channels {
        cfg.in_channels = c;
    }
    if o.mode == "config" {
        println!("{}", serde_json::to_value(&cfg)?);
        return Ok(());
    }
    let mut vs = VarStore::new(o.device);
    let model = Danie::try_new(vs.root(), &cfg)?;
    let params: i64 = vs
        .trainable_variables()
        .iter()
        .map(|t| t.numel() as i64)
        .sum();
    if o.mode == "parity" {
        return parity(&o, &mut vs, &model);
    }
    let mut losses = Vec::new();
    let (per_unit, units, unit) = if o.mode == "train" {
        train(&o, &cfg, &mut vs, &model, &mut losses)?
    } else {
        // as `load_model` prepares a model for `danie eval` / `predict`
        if o.nhwc() {
            danie_model::memory_format::vars_channels_last(&vs);
        }
        infer(&o, &cfg, &model)?
    };
    let json = serde_json::json!({
        "impl": "danie",
        "mode": o.mode,
        "preset": o.preset,
        "batch": o.batch,
        "size": o.size,
        "threads": tch::get_num_threads(),
        "device": format!("{:?}", o.device),
        "precision": format!("{:?}", o.precision).to_lowercase(),
        "params": params,
        "steps": o.steps,
        "seconds_per": per_unit,
        "unit": unit,
        "throughput": units,
        "libtorch": env!("DANIE_LIBTORCH_VERSION"),
        "cuda_graph": o.cuda_graph,
        "layout": if o.nhwc() { "nhwc" } else { "nchw" },
        "losses": losses,
        // The exact network, for reference/danie_ref.py to build the same one.
        "config": serde_json::to_value(&cfg)?,
    });
    println!("{json}");
    Ok(())
}

/// Returns (seconds per step, images/s, "step"); `losses` gets every step's loss.
fn train(
    o: &Opts,
    cfg: &DanieConfig,
    vs: &mut VarStore,
    model: &Danie,
    losses: &mut Vec<f64>,
) -> Result<(f64, f64, &'static str)> {
    if o.nhwc() {
        danie_model::memory_format::vars_channels_last(vs); // as the trainer does
    }
    let mut opt = Sgd::new(vs, SgdConfig::default());
    let loss = CeDiceLoss::new(cfg.num_classes, 0.5, 0.5);
    // (B, C, S, S) images and (B, S, S) labels, made once: the loader is benchmarked apart.
    let x = Tensor::rand(
        [o.batch, cfg.in_channels, o.size, o.size],
        (Kind::Float, o.device),
    );
    let x = if o.nhwc() { channels_last(&x) } else { x };
    let y = Tensor::randint(
        cfg.num_classes,
        [o.batch, o.size, o.size],
        (Kind::Int64, o.device),
    );
    let lr = SgdConfig::default().lr;
    let mut graphed = match o.cuda_graph {
        true => Some(GraphedStep::new(o.device, DEFAULT_WARMUP)?),
        false => None,
    };
    // Each step's loss stays on the device until the end (reading it would synchronise).
    let mut totals = Vec::new();
    let per_step = {
        let mut step = || -> Result<()> {
            let total = match graphed.as_mut() {
                Some(g) => {
                    let mut body = |x: &Tensor, y: &Tensor, lr: &Tensor| {
                        opt.zero_grad();
                        let logits =
                            with_precision(o.device, o.precision, || model.forward_t(x, true)); // (B, K, S, S)
                        let terms = loss.forward(&logits, y);
                        terms.total.backward();
                        opt.step_lr_tensor(lr);
                        terms.total
                    };
                    g.run(&x, &y, lr, &mut body)?
                }
                None => {
                    opt.zero_grad();
                    let logits =
                        with_precision(o.device, o.precision, || model.forward_t(&x, true)); // (B, K, S, S)
                    let terms = loss.forward(&logits, &y);
                    terms.total.backward();
                    opt.step();
                    terms.total
                }
            };
            totals.push(total);
            Ok(())
        };
        for _ in 0..o.warmup {
            step()?;
        }
        sync(o.device);
        let t = Instant::now();
        for _ in 0..o.steps {
            step()?;
        }
        sync(o.device);
        t.elapsed().as_secs_f64() / o.steps as f64
    };
    if !totals.is_empty() {
        let all = Tensor::stack(&totals, 0)
            .to_kind(Kind::Double)
            .to_device(Device::Cpu);
        *losses = Vec::try_from(all).context("losses")?;
    }
    Ok((per_step, o.batch as f64 / per_step, "step"))
}

/// Returns (seconds per volume, volumes/s, "volume").
fn infer(o: &Opts, cfg: &DanieConfig, model: &Danie) -> Result<(f64, f64, &'static str)> {
    let [d, h, w] = o.volume;
    // A float32 volume on the host, as a reader would hand it over: (D, H, W).
    let volume = Tensor::rand([d, h, w], (Kind::Float, Device::Cpu));
    let run_once = || -> Tensor {
        let _guard = tch::no_grad_guard();
        let mut out = Vec::new();
        for start in (0..d).step_by(o.batch as usize) {
            let n = o.batch.min(d - start);
            let slices = volume.narrow(0, start, n).to_device(o.device).unsqueeze(1); // (n, 1, H, W)
            let x = slices
                .upsample_bilinear2d([o.size, o.size], false, None, None) // (n, 1, S, S)
                .expand([n, cfg.in_channels, o.size, o.size], false); // (n, C, S, S)
                                                                      // as Segmenter feeds a loaded model
            let x = if o.nhwc() { channels_last_input(&x) } else { x };
            let logits = with_precision(o.device, o.precision, || model.forward_t(&x, false)); // (n, K, S, S)
            let labels = logits.argmax(1, true).to_kind(Kind::Float); // (n, 1, S, S)
            let back = labels
                .upsample_nearest2d([h, w], None, None) // (n, 1, H, W)
                .squeeze_dim(1)
                .to_kind(Kind::Uint8)
                .to_device(Device::Cpu);
            out.push(back);
        }
        Tensor::cat(&out, 0) // (D, H, W) uint8
    };
    // One fold of each BatchNorm per volume, as Segmenter::segment does.
    let run = || with_constant_weights(run_once);
    for _ in 0..o.warmup.min(1) {
        let _ = run();
    }
    sync(o.device);
    let t = Instant::now();
    let reps = o.steps.max(1);
    for _ in 0..reps {
        let labels = run();
        assert_eq!(labels.size(), [d, h, w]);
    }
    sync(o.device);
    let per = t.elapsed().as_secs_f64() / reps as f64;
    Ok((per, 1.0 / per, "volume"))
}

/// Loads the reference's weights, runs one eval forward on its input, writes the logits.
fn parity(o: &Opts, vs: &mut VarStore, model: &Danie) -> Result<()> {
    let (Some(w), Some(i), Some(out)) = (&o.weights, &o.input, &o.output) else {
        bail!("--mode parity needs --weights, --input and --output");
    };
    vs.load(w).with_context(|| format!("loading {w}"))?;
    let x = Tensor::read_safetensors(i)
        .with_context(|| format!("reading {i}"))?
        .into_iter()
        .find(|(n, _)| n == "x")
        .with_context(|| format!("{i} has no tensor named x"))?
        .1
        .to_device(o.device);
    let _guard = tch::no_grad_guard();
    let y = with_precision(o.device, o.precision, || model.forward_t(&x, false)) // (B, K, H, W)
        .to_kind(Kind::Float)
        .to_device(Device::Cpu);
    danie_fs::write_atomic_via_path(std::path::Path::new(out), |tmp| {
        Tensor::write_safetensors(&[("y", &y)], tmp)
    })
    .with_context(|| format!("writing {out}"))?;
    println!(
        "{}",
        serde_json::json!({"impl": "danie", "mode": "parity", "output": out})
    );
    Ok(())
}
