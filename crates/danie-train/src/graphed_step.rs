//! Training steps replayed from a CUDA graph (`train.cuda_graphs`).
//!
//! PyTorch's whole-network capture, for a step given as a closure (zero the gradients, forward,
//! loss, backward, update at the rate in a device tensor; returns the loss terms):
//! the first `warmup` full batches run it eagerly on the graph's side stream (lazy cuBLAS /
//! cuDNN set-up, the optimiser's packed buffers and momentum); the next captures it into the
//! graph with that batch copied into static input tensors; every later full batch is copied into
//! those tensors and the graph is replayed. A batch of another shape (an epoch's last, smaller
//! one) runs the closure eagerly. The same closure and the same rate arithmetic serve every path,
//! so a replayed step computes what the eager one does.
use crate::cuda_graph::{CudaGraph, GraphError};
use tch::{Device, Kind, Tensor};

/// Eager runs on the side stream before the capture (PyTorch's examples use 3).
pub const DEFAULT_WARMUP: usize = 3;

/// A training step's closure: `(images, labels, lr)` -> loss terms, `lr` a 0-dim float32 tensor on
/// the device that the update must read (never a host copy of it).
pub type StepFn<'a> = dyn FnMut(&Tensor, &Tensor, &Tensor) -> Tensor + 'a;

/// Where the step is captured: a CUDA graph, or (tests on the CPU) an emulation that keeps the
/// same static tensors and runs the step on them eagerly where a replay would launch the graph.
enum Graph {
    Cuda(CudaGraph),
    Emulated,
}

/// The static tensors of a captured step: inputs refilled and output read around each replay.
struct Captured {
    graph: Graph,
    x: Tensor,
    y: Tensor,
    /// The step's output; for an emulated graph, that of the last replay.
    terms: Option<Tensor>,
}

/// A training step that is captured once its warm-up is done, then replayed.
pub struct GraphedStep {
    /// The graph until the capture (its side stream runs the warm-up).
    graph: Option<Graph>,
    captured: Option<Captured>,
    warmup_left: usize,
    /// Image and label shapes of the first batch: the ones the graph is captured for.
    shapes: Option<(Vec<i64>, Vec<i64>)>,
    /// The learning rate, read by the update kernels (refilled before every step).
    lr: Tensor,
}

impl GraphedStep {
    /// A step for `device` (CUDA) that captures after `warmup` eager runs (at least 1: the
    /// first update creates the optimiser's state, which a graph must not allocate).
    pub fn new(device: Device, warmup: usize) -> Result<Self, GraphError> {
        let graph = CudaGraph::new(device)?;
        Ok(Self::with_graph(Graph::Cuda(graph), device, warmup))
    }

    /// The same bookkeeping on any device without a graph: where a replay would launch the
    /// captured work, the step runs eagerly on the static tensors. For testing the warm-up,
    /// the static inputs, the rate tensor and the fallback for other shapes on the CPU.
    #[doc(hidden)]
    pub fn emulated(device: Device, warmup: usize) -> Self {
        Self::with_graph(Graph::Emulated, device, warmup)
    }

    fn with_graph(graph: Graph, device: Device, warmup: usize) -> Self {
        Self {
            graph: Some(graph),
            captured: None,
            warmup_left: warmup.max(1),
            shapes: None,
            lr: Tensor::zeros([], (Kind::Float, device)),
        }
    }

    /// Whether the step has been captured (later full batches replay it).
    pub fn is_captured(&self) -> bool {
        self.captured.is_some()
    }

    /// One training step on `x` (B, C, H, W) and `y` (B, H, W) at rate `lr`; returns the loss
    /// terms `step` returns, as a tensor of its own (a replay overwrites the graph's).
    pub fn run(
        &mut self,
        x: &Tensor,
        y: &Tensor,
        lr: f64,
        step: &mut StepFn<'_>,
    ) -> Result<Tensor, GraphError> {
        let _ = self.lr.fill_(lr);
        let shapes = (x.size(), y.size());
        let full = self.shapes.get_or_insert_with(|| shapes.clone());
        if *full != shapes {
            return Ok(step(x, y, &self.lr));
        }
        if self.warmup_left > 0 {
            self.warmup_left -= 1;
            return match self.graph.as_ref() {
                Some(Graph::Cuda(g)) => g.on_side_stream(|| step(x, y, &self.lr)),
                _ => Ok(step(x, y, &self.lr)),
            };
        }
        if let Some(c) = self.captured.as_mut() {
            c.x.copy_(x);
            c.y.copy_(y);
        } else {
            let Some(graph) = self.graph.take() else {
                return Err(GraphError("an earlier capture of this step failed".into()));
            };
            let (sx, sy) = (x.copy(), y.copy());
            let lr = &self.lr;
            let (graph, terms) = match graph {
                Graph::Cuda(mut g) => {
                    let terms = g.capture(|| step(&sx, &sy, lr))?;
                    (Graph::Cuda(g), Some(terms))
                }
                Graph::Emulated => (Graph::Emulated, None),
            };
            self.captured = Some(Captured {
                graph,
                x: sx,
                y: sy,
                terms,
            });
        }
        let c = self.captured.as_mut().expect("captured");
        match &c.graph {
            Graph::Cuda(g) => g.replay()?,
            Graph::Emulated => c.terms = Some(step(&c.x, &c.y, &self.lr)),
        }
        Ok(c.terms.as_ref().expect("the step's output").copy())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::optim::{Sgd, SgdConfig};
    use tch::nn::{self, Module, VarStore};

    #[test]
    fn needs_a_cuda_device() {
        let err = GraphedStep::new(Device::Cpu, 3).err().expect("an error");
        assert!(err.to_string().contains("CUDA"), "{err}");
    }

    /// Trains a small conv net over `batches` at a decaying rate, through `graphed` (or eagerly
    /// with a scalar rate when `None`); returns the weights and the losses.
    fn train(
        device: Device,
        mut graphed: Option<GraphedStep>,
        batches: &[(Tensor, Tensor)],
    ) -> (Tensor, Vec<f64>) {
        let vs = VarStore::new(device);
        let conv = nn::conv2d(
            vs.root() / "c",
            2,
            3,
            3,
            nn::ConvConfig {
                padding: 1,
                ..Default::default()
            },
        );
        tch::no_grad(|| {
            let w = Tensor::linspace(-0.5, 0.5, 54, tch::kind::FLOAT_CPU).view([3, 2, 3, 3]);
            conv.ws.shallow_clone().copy_(&w.to_device(device));
            let _ = conv.bs.as_ref().expect("bias").shallow_clone().fill_(0.1);
        });
        let mut opt = Sgd::new(&vs, SgdConfig::default());
        let mut losses = Vec::new();
        for (i, (x, y)) in batches.iter().enumerate() {
            let (x, y) = (&x.to_device(device), &y.to_device(device));
            let lr = 0.1 / (1.0 + i as f64);
            let loss = |x: &Tensor, y: &Tensor| {
                conv.forward(x).cross_entropy_loss::<Tensor>(
                    y,
                    None,
                    tch::Reduction::Mean,
                    -100,
                    0.0,
                )
            };
            let terms = match graphed.as_mut() {
                Some(g) => {
                    let mut step = |x: &Tensor, y: &Tensor, lr: &Tensor| {
                        opt.zero_grad();
                        let l = loss(x, y);
                        l.backward();
                        opt.step_lr_tensor(lr);
                        l
                    };
                    g.run(x, y, lr, &mut step).unwrap()
                }
                None => {
                    opt.zero_grad();
                    let l = loss(x, y);
                    l.backward();
                    opt.set_lr(lr);
                    opt.step();
                    l
                }
            };
            losses.push(terms.double_value(&[]));
        }
        (conv.ws.to_device(Device::Cpu), losses)
    }

    /// Full batches of 4, then a last batch of 3 (another shape: eager), then full again.
    fn batches() -> Vec<(Tensor, Tensor)> {
        (0..9)
            .map(|i| {
                let n = if i == 6 { 3 } else { 4 };
                let x = (Tensor::arange(n * 2 * 5 * 5, tch::kind::FLOAT_CPU) * (0.37 + i as f64))
                    .sin()
                    .view([n, 2, 5, 5]);
                let y = (Tensor::arange(n * 5 * 5, (Kind::Int64, Device::Cpu)) * (i + 1))
                    .remainder(3)
                    .view([n, 5, 5]);
                (x, y)
            })
            .collect()
    }

    #[test]
    fn replayed_steps_train_exactly_as_eager_ones() {
        let batches = batches();
        let (w_eager, l_eager) = train(Device::Cpu, None, &batches);
        let g = GraphedStep::emulated(Device::Cpu, 2);
        let (w_graph, l_graph) = train(Device::Cpu, Some(g), &batches);
        assert_eq!(l_eager, l_graph);
        assert!(w_eager.equal(&w_graph), "{w_eager} vs {w_graph}");
        // And the emulation really went through capture and replay.
        let mut g = GraphedStep::emulated(Device::Cpu, 2);
        let mut step = |x: &Tensor, _: &Tensor, lr: &Tensor| x.sum(Kind::Float) * lr;
        for (x, y) in &batches[..3] {
            let _ = g.run(x, y, 0.5, &mut step).unwrap();
        }
        assert!(g.is_captured());
    }

    #[test]
    fn cuda_graph_steps_train_as_eager_ones_on_a_gpu() {
        // Runs where a GPU is (scripts/gpu-bench.sh runs this test binary there).
        if !tch::Cuda::is_available() {
            eprintln!("skipped: no CUDA device");
            return;
        }
        let dev = Device::Cuda(0);
        let batches = batches();
        let (w_eager, l_eager) = train(dev, None, &batches);
        let g = GraphedStep::new(dev, 2).expect("a graph");
        let (w_graph, l_graph) = train(dev, Some(g), &batches);
        for (i, (a, b)) in l_eager.iter().zip(&l_graph).enumerate() {
            assert!(
                (a - b).abs() <= 1e-5 * a.abs().max(1.0),
                "step {i}: eager {a}, graph {b}"
            );
        }
        assert!(
            w_eager.allclose(&w_graph, 1e-5, 1e-6, false),
            "{w_eager} vs {w_graph}"
        );
    }

    /// DANIE's tiny preset (64 px, 1 channel, 4 classes).
    fn tiny_danie(vs: &VarStore) -> danie_model::Danie {
        let mut cfg = danie_model::DanieConfig::preset("tiny").unwrap();
        (cfg.img_size, cfg.in_channels, cfg.num_classes) = (64, 1, 4);
        danie_model::Danie::try_new(vs.root(), &cfg).unwrap()
    }

    /// [`tiny_danie`] from the weights of `init`, trained `steps` SGD steps at TransUNet's poly
    /// rate with 0.5 CE + 0.5 Dice, eagerly or through `graphed`, on the same batches; returns
    /// every step's loss and the largest change of a weight from `init`.
    fn train_danie(
        device: Device,
        mut graphed: Option<GraphedStep>,
        steps: usize,
        init: &VarStore,
    ) -> (Vec<f64>, f64) {
        use crate::loss::CeDiceLoss;
        use crate::schedule::LrSchedule;
        use tch::nn::ModuleT;
        let mut vs = VarStore::new(device);
        let model = tiny_danie(&vs);
        // (not the global seed: tests in other threads draw from it too)
        vs.copy(init).unwrap();
        let mut opt = Sgd::new(&vs, SgdConfig::default());
        let loss = CeDiceLoss::new(4, 0.5, 0.5);
        let schedule = LrSchedule {
            base_lr: 0.01,
            max_iterations: steps,
            power: 0.9,
            warmup_iters: 0,
            warmup_start_factor: 1.0,
        };
        let mut losses = Vec::new();
        for i in 0..steps {
            // (4, 1, 64, 64) images and labels that follow them, new each step
            let x = (Tensor::arange(4 * 64 * 64, tch::kind::FLOAT_CPU)
                * (0.0137 + 0.001 * i as f64))
                .sin()
                .view([4, 1, 64, 64]);
            let y = ((&x + 1.0) * 1.99).to_kind(Kind::Int64).squeeze_dim(1);
            let (x, y) = (x.to_device(device), y.to_device(device));
            let lr = schedule.lr_at(i);
            let total = match graphed.as_mut() {
                Some(g) => {
                    let mut step = |x: &Tensor, y: &Tensor, lr: &Tensor| {
                        opt.zero_grad();
                        let terms = loss.forward(&model.forward_t(x, true), y);
                        terms.total.backward();
                        opt.step_lr_tensor(lr);
                        terms.total
                    };
                    g.run(&x, &y, lr, &mut step).unwrap()
                }
                None => {
                    opt.zero_grad();
                    let terms = loss.forward(&model.forward_t(&x, true), &y);
                    terms.total.backward();
                    opt.set_lr(lr);
                    opt.step();
                    terms.total
                }
            };
            losses.push(total.double_value(&[]));
        }
        let moved = init
            .variables()
            .iter()
            .map(|(name, v)| {
                let now = vs.variables()[name].to_device(Device::Cpu);
                (now - v).abs().max().double_value(&[])
            })
            .fold(0.0, f64::max);
        (losses, moved)
    }

    #[test]
    fn danie_replayed_for_50_poly_steps_trains_exactly_as_eager() {
        let init = VarStore::new(Device::Cpu);
        let _ = tiny_danie(&init);
        let (eager, moved) = train_danie(Device::Cpu, None, 50, &init);
        let emulated = GraphedStep::emulated(Device::Cpu, 3);
        let (graphed, _) = train_danie(Device::Cpu, Some(emulated), 50, &init);
        assert_eq!(eager, graphed);
        // the updates are real, so a replay that skipped one would not give eager's losses
        assert!(moved > 1e-3, "weights moved by {moved:e} only");
    }

    #[test]
    fn danie_graphed_for_50_poly_steps_matches_eager_on_a_gpu() {
        // Issue 17's check, run where a GPU is (scripts/gpu-bench.sh runs this test binary there).
        if !tch::Cuda::is_available() {
            eprintln!("skipped: no CUDA device");
            return;
        }
        let dev = Device::Cuda(0);
        let init = VarStore::new(Device::Cpu);
        let _ = tiny_danie(&init);
        let (eager, moved) = train_danie(dev, None, 50, &init);
        let (again, _) = train_danie(dev, None, 50, &init);
        let graph = GraphedStep::new(dev, DEFAULT_WARMUP).expect("a graph");
        let (graphed, _) = train_danie(dev, Some(graph), 50, &init);
        let worst = |a: &[f64], b: &[f64]| {
            a.iter()
                .zip(b)
                .map(|(a, b)| (a - b).abs() / a.abs().max(1.0))
                .fold(0.0, f64::max)
        };
        let (d_graph, d_eager) = (worst(&eager, &graphed), worst(&eager, &again));
        eprintln!("50 steps: graphed vs eager {d_graph:.2e}, eager vs eager {d_eager:.2e}");
        assert!(
            d_graph <= 1e-5,
            "graphed losses differ from eager by {d_graph:.2e} (eager vs eager {d_eager:.2e}): \
             eager {eager:?}, graphed {graphed:?}"
        );
        assert!(moved > 1e-3, "weights moved by {moved:e} only");
    }
}
