//! Training curves from `log.jsonl`: `loss.png` (per logged iteration in blue, epoch means in
//! orange) and, where validation ran, `val_dice.png` (validation mean Dice in % per epoch,
//! epochs counted from 1).
use std::path::Path;

use anyhow::Context;

use crate::line_plot::{LinePlot, Series};
use crate::run_log::read_rows;

/// Draws the curves of the run in `run_dir` next to its log.
pub fn write_curves(run_dir: &Path) -> anyhow::Result<()> {
    let rows = read_rows(&run_dir.join("log.jsonl"))?;
    let iter: Vec<(f64, f64)> = rows
        .iter()
        .filter(|r| r.kind == "iter")
        .map(|r| (r.iteration as f64, r.loss))
        .collect();
    let epoch: Vec<(f64, f64)> = rows
        .iter()
        .filter(|r| r.kind == "epoch")
        .map(|r| (r.iteration as f64, r.loss))
        .collect();
    let loss = LinePlot {
        series: vec![
            Series {
                points: iter,
                colour: [31, 119, 180],
                name: "logged iterations".into(),
            },
            Series {
                points: epoch,
                colour: [255, 127, 14],
                name: "epoch mean".into(),
            },
        ],
        y_range: None,
        title: "Training loss".into(),
        x_label: "iteration".into(),
        y_label: "loss".into(),
        x_whole: true,
    };
    save_png(&run_dir.join("loss.png"), &loss.render(720, 405)?)?;
    let val: Vec<(f64, f64)> = rows
        .iter()
        .filter_map(|r| r.val_dice.map(|d| (r.epoch as f64, 100.0 * d)))
        .collect();
    if !val.is_empty() {
        let plot = LinePlot {
            series: vec![Series {
                points: val,
                colour: [44, 160, 44],
                name: "validation".into(),
            }],
            y_range: Some((0.0, 100.0)),
            title: "Validation mean Dice".into(),
            x_label: "epoch".into(),
            y_label: "mean Dice (%)".into(),
            x_whole: true,
        };
        save_png(&run_dir.join("val_dice.png"), &plot.render(720, 405)?)?;
    }
    Ok(())
}

/// Writes a plot through `danie_fs` (never through a link planted at its name).
fn save_png(p: &Path, img: &image::RgbImage) -> anyhow::Result<()> {
    danie_fs::write_atomic_with(p, |w| img.write_to(w, image::ImageFormat::Png))
        .with_context(|| format!("cannot write {}", p.display()))
}
