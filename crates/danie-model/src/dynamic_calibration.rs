//! `DynamicCalibration`: mixes attended and incoming features per channel with weights
//! predicted from the sample's global context.
use tch::nn::{self, Module};
use tch::{Kind, Tensor};

/// w = softmax over {attended, incoming} of `fc2(relu(fc1([gap(a); gap(x)])))`, per channel;
/// out = w_a * a + w_x * x.
#[derive(Debug)]
pub struct DynamicCalibration {
    fc1: nn::Linear,
    fc2: nn::Linear,
}

impl DynamicCalibration {
    /// Calibration over `c` channels with hidden width `max(c / reduction, 8)`.
    pub fn new(p: nn::Path, c: i64, reduction: i64) -> Self {
        let hidden = (c / reduction).max(8);
        Self {
            fc1: nn::linear(&p / "fc1", 2 * c, hidden, Default::default()),
            fc2: nn::linear(&p / "fc2", hidden, 2 * c, Default::default()),
        }
    }

    /// Calibrated features from the `attended` and `incoming` maps.
    ///
    /// # Shapes
    /// (B, C, H, W), (B, C, H, W) -> (B, C, H, W)
    pub fn mix(&self, attended: &Tensor, incoming: &Tensor) -> Tensor {
        let (_, c, _, _) = attended.size4().expect("calibration input is 4-D");
        let ctx = Tensor::cat(
            &[
                attended.mean_dim([2, 3].as_slice(), false, None),
                incoming.mean_dim([2, 3].as_slice(), false, None),
            ],
            1,
        ); // (B, 2C)
        let w = ctx
            .apply(&self.fc1)
            .relu()
            .apply(&self.fc2)
            .reshape([-1, 2, c, 1, 1]) // batch -1: kept free in a traced graph
            .softmax(1, Kind::Float); // (B, 2, C, 1, 1), sums to 1 over the two branches
        attended * w.select(1, 0) + incoming * w.select(1, 1)
    }
}

impl Module for DynamicCalibration {
    /// Identity calibration of a map with itself (for completeness; use [`Self::mix`]).
    fn forward(&self, xs: &Tensor) -> Tensor {
        self.mix(xs, xs)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn output_lies_between_the_two_inputs() {
        let vs = nn::VarStore::new(tch::Device::Cpu);
        let m = DynamicCalibration::new(vs.root(), 4, 2);
        let a = Tensor::zeros([2, 4, 3, 3], tch::kind::FLOAT_CPU);
        let x = Tensor::ones([2, 4, 3, 3], tch::kind::FLOAT_CPU);
        let y = m.mix(&a, &x);
        assert!(y.min().double_value(&[]) > 0.0 && y.max().double_value(&[]) < 1.0);
    }
}
