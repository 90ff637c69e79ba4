//! Timing helper for `scripts/bench_metrics.py` (danie vs medpy vs MONAI on the same arrays).
//!
//! ```text
//! metrics_timing generate OUTDIR [X,Y,Z]       write the two-mask and 9-class pairs as .npy
//! metrics_timing time PRED GT LABELS SPACING N  time evaluate_case (medpy and monai), print JSON
//! ```
//! LABELS is `1,2,3`; SPACING is `X,Y,Z`. Wall and CPU seconds (median of N) exclude reading
//! the files, like the Python side's.
#[path = "../benches/support/synthetic_pair.rs"]
mod synthetic_pair;

use std::path::Path;
use std::time::Instant;

use danie_metrics::{evaluate_case, Convention};
use ndarray::ArrayD;
use ndarray_npy::{read_npy, write_npy};
use synthetic_pair::{label_map_pair, mask_pair};

fn list<T: std::str::FromStr>(s: &str) -> Vec<T>
where
    T::Err: std::fmt::Debug,
{
    s.split(',')
        .map(|x| x.trim().parse().expect("a comma-separated list"))
        .collect()
}

/// CPU seconds of this process, all threads (Linux `/proc/self/stat`; None elsewhere).
fn cpu_seconds() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    let fields: Vec<&str> = stat.rsplit(')').next()?.split_whitespace().collect();
    let ticks = fields.get(11)?.parse::<f64>().ok()? + fields.get(12)?.parse::<f64>().ok()?;
    Some(ticks / 100.0) // USER_HZ is 100 on Linux
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("generate") => {
            let out = Path::new(&args[1]);
            let s: Vec<usize> = args
                .get(2)
                .map(|a| list(a))
                .unwrap_or_else(|| vec![512, 512, 100]);
            let shape = [s[0], s[1], s[2]];
            let (p, g) = mask_pair(shape, 1);
            write_npy(out.join("two_mask_pred.npy"), &p.mapv(u8::from)).unwrap();
            write_npy(out.join("two_mask_gt.npy"), &g.mapv(u8::from)).unwrap();
            let (p, g) = label_map_pair(shape, 8, 2);
            write_npy(out.join("nine_class_pred.npy"), &p).unwrap();
            write_npy(out.join("nine_class_gt.npy"), &g).unwrap();
        }
        Some("time") => {
            let pred: ArrayD<u8> = read_npy(&args[1]).unwrap();
            let gt: ArrayD<u8> = read_npy(&args[2]).unwrap();
            let labels: Vec<u32> = list(&args[3]);
            let spacing: Vec<f64> = list(&args[4]);
            let repeat: usize = args[5].parse().unwrap();
            let mut out = serde_json::Map::new();
            out.insert("threads".into(), rayon::current_num_threads().into());
            for conv in [Convention::Medpy, Convention::Monai] {
                let (mut times, mut cpu) = (Vec::new(), Vec::new());
                let mut case = None;
                for _ in 0..repeat {
                    let (t, c) = (Instant::now(), cpu_seconds());
                    case = Some(
                        evaluate_case(pred.view(), gt.view(), &labels, &spacing, conv).unwrap(),
                    );
                    times.push(t.elapsed().as_secs_f64());
                    cpu.push(cpu_seconds().zip(c).map(|(b, a)| b - a));
                }
                let median = |v: &[f64]| {
                    let mut v = v.to_vec();
                    v.sort_by(f64::total_cmp);
                    v[v.len() / 2]
                };
                let cpu: Option<Vec<f64>> = cpu.into_iter().collect();
                out.insert(
                    conv.name().into(),
                    serde_json::json!({
                        "seconds": median(&times), "all_seconds": times,
                        "cpu_seconds": cpu.as_deref().map(median), "case": case,
                    }),
                );
            }
            println!("{}", serde_json::Value::Object(out));
        }
        _ => {
            eprintln!(
                "usage: metrics_timing generate OUTDIR [X,Y,Z] | time PRED GT LABELS SPACING N"
            );
            std::process::exit(2);
        }
    }
}
