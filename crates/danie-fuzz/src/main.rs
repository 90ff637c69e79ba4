//! `danie-fuzz`: run the fuzz targets (see `docs/fuzzing.md`).
//!
//! ```text
//! danie-fuzz run [--target T]... (--cases N | --seconds S) [--seed N] [--findings DIR]
//!                [--timeout-ms MS] [--mem-limit BYTES] [--stop-at-first]
//! danie-fuzz repro --target T FILE     run one saved input in-process
//! danie-fuzz list                      the targets
//! ```
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{bail, Context};
use danie_fuzz::driver::{child, fuzz, reproduce, ChildArgs, Options};
use danie_fuzz::targets::TARGETS;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match real_main(&args) {
        Ok(code) => std::process::exit(code),
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::exit(2);
        }
    }
}

/// `--key value` pairs and flags after the subcommand.
struct Flags {
    pairs: Vec<(String, String)>,
    flags: Vec<String>,
    free: Vec<String>,
}

impl Flags {
    fn parse(args: &[String], boolean: &[&str]) -> anyhow::Result<Self> {
        let mut f = Flags {
            pairs: Vec::new(),
            flags: Vec::new(),
            free: Vec::new(),
        };
        let mut it = args.iter();
        while let Some(a) = it.next() {
            if let Some(k) = a.strip_prefix("--") {
                if boolean.contains(&k) {
                    f.flags.push(k.to_string());
                } else {
                    let v = it.next().with_context(|| format!("--{k} needs a value"))?;
                    f.pairs.push((k.to_string(), v.clone()));
                }
            } else {
                f.free.push(a.clone());
            }
        }
        Ok(f)
    }
    fn all(&self, key: &str) -> Vec<String> {
        self.pairs
            .iter()
            .filter(|(k, _)| k == key)
            .map(|(_, v)| v.clone())
            .collect()
    }
    fn get<T: std::str::FromStr>(&self, key: &str) -> anyhow::Result<Option<T>> {
        match self.pairs.iter().rev().find(|(k, _)| k == key) {
            None => Ok(None),
            Some((_, v)) => v
                .parse()
                .map(Some)
                .map_err(|_| anyhow::anyhow!("--{key}: cannot parse {v:?}")),
        }
    }
}

fn real_main(args: &[String]) -> anyhow::Result<i32> {
    let Some((cmd, rest)) = args.split_first() else {
        bail!("usage: danie-fuzz run|repro|list ... (see docs/fuzzing.md)");
    };
    match cmd.as_str() {
        "list" => {
            for t in TARGETS {
                println!("{:<13} .{}", t.name, t.ext);
            }
            Ok(0)
        }
        "run" => {
            let f = Flags::parse(rest, &["stop-at-first"])?;
            let opts = Options {
                targets: f.all("target"),
                cases: f.get("cases")?,
                seconds: f.get("seconds")?,
                seed: f.get("seed")?.unwrap_or(1),
                findings: f
                    .get::<PathBuf>("findings")?
                    .unwrap_or_else(|| PathBuf::from("fuzz-findings")),
                case_timeout: Duration::from_millis(f.get("timeout-ms")?.unwrap_or(10_000)),
                mem_limit: f.get("mem-limit")?.unwrap_or(1 << 30),
                stop_at_first: f.flags.iter().any(|k| k == "stop-at-first"),
            };
            let found = fuzz(&opts)?;
            if found.is_empty() {
                eprintln!("no findings");
                return Ok(0);
            }
            eprintln!("{} finding(s):", found.len());
            for x in &found {
                eprintln!("  {x}");
            }
            Ok(1)
        }
        "child" => {
            let f = Flags::parse(rest, &[])?;
            let need = |k: &str| -> anyhow::Result<String> {
                f.all(k)
                    .pop()
                    .with_context(|| format!("child: --{k} missing"))
            };
            child(&ChildArgs {
                target: need("target")?,
                seed: need("seed")?.parse()?,
                from: need("from")?.parse()?,
                to: need("to")?.parse()?,
                mem_limit: need("mem-limit")?.parse()?,
                findings: PathBuf::from(need("findings")?),
                scratch: PathBuf::from(need("scratch")?),
            })?;
            Ok(0)
        }
        "repro" => {
            let f = Flags::parse(rest, &[])?;
            let target = f.all("target").pop().context("repro: --target T FILE")?;
            let file = f.free.first().context("repro: --target T FILE")?;
            match reproduce(&target, &PathBuf::from(file))? {
                None => {
                    println!("{file}: no panic");
                    Ok(0)
                }
                Some((loc, msg)) => {
                    println!("{file}: panic at {loc}: {msg}");
                    Ok(1)
                }
            }
        }
        other => bail!("unknown command {other:?}; expected run, repro or list"),
    }
}
