//! Every shipped config parses (unknown keys would fail), builds its model config, and the
//! config error cases name the key or path.
use std::path::Path;

use danie_train::config::model_config;
use danie_train::config::RunConfig;

const CONFIGS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../configs");

#[test]
fn shipped_configs_parse_and_build_their_models() {
    for name in ["synapse", "acdc", "isic2017", "isic2018", "glas", "demo"] {
        let p = Path::new(CONFIGS).join(format!("{name}.toml"));
        let text = std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
        let cfg =
            RunConfig::parse(&text, &p.display().to_string()).unwrap_or_else(|e| panic!("{e}"));
        let m = model_config(&cfg).unwrap_or_else(|e| panic!("{name}: {e:#}"));
        assert_eq!(
            m.num_classes as usize,
            cfg.data.dataset.num_classes(),
            "{name}"
        );
        assert_eq!(m.img_size as usize, cfg.data.image_size, "{name}");
    }
}

#[test]
fn config_errors_name_the_key_or_path() {
    let dir = tempfile::tempdir().unwrap();
    let write = |text: &str| {
        let p = dir.path().join("bad.toml");
        std::fs::write(&p, text).unwrap();
        RunConfig::load(&p, &[]).unwrap_err().to_string()
    };
    std::fs::create_dir(dir.path().join("data")).unwrap();
    let good = "[data]\ndataset = \"acdc\"\nroot = \"data\"\n[output]\nrun_dir = \"r\"\n";
    let e = write(&format!("{good}[eval]\noverlays = [\"a\"]\n"));
    assert!(
        e.contains("eval.overlays") && e.contains("unknown field"),
        "{e}"
    );
    let e = write(&good.replace("root = \"data\"", "root = \"data\"\nimage_size = \"224\""));
    assert!(
        e.contains("data.image_size") && e.contains("invalid type"),
        "{e}"
    );
    let e = write(&good.replace("\"acdc\"", "\"brats\""));
    assert!(e.contains("data.dataset") && e.contains("brats"), "{e}");
    let e = write(&good.replace("\"data\"", "\"nowhere\""));
    assert!(
        e.contains("data.root") && e.contains("nowhere") && e.contains("does not exist"),
        "{e}"
    );
    let e = write(&format!("{good}[train]\noptimizer = \"adam\"\n"));
    assert!(e.contains("train.optimizer"), "{e}");
    // Model overrides are checked when the config is loaded (the model it would build), so
    // the error names the file.
    let p = dir.path().join("ov.toml");
    std::fs::write(
        &p,
        format!("{good}[model]\npreset = \"tiny\"\n[model.overrides.hap]\nwidht = 3\n"),
    )
    .unwrap();
    let e = RunConfig::load(&p, &[]).unwrap_err().to_string();
    assert!(e.contains("widht") && e.contains("ov.toml"), "{e}");
    let e = write(&good.replace("[output]\nrun_dir = \"r\"\n", ""));
    assert!(e.contains("output"), "{e}");
}
