//! Pretrained initialisation against the libraries that wrote the checkpoints: a timm
//! vit_small_patch16_224 and a torchvision resnet18 (random init, saved as .pth and
//! .safetensors by tests/python/pretrained_backbones.py) loaded through
//! `pretrained::load_pretrained` give timm's and torchvision's features to 1e-5, and the
//! position embedding resampling equals timm's `resample_abs_pos_embed` to 1e-6.
use std::collections::HashMap;
use std::path::Path;

use danie_model::hap::Hap;
use danie_model::pretrained::{load_pretrained, resample_abs_pos_embed, Pretrained, StreamSources};
use danie_model::sap::Sap;
use danie_model::DanieConfig;
use tch::nn::VarStore;
use tch::{Device, Kind, Tensor};

fn read(path: &Path) -> HashMap<String, Tensor> {
    Tensor::read_safetensors(path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()))
        .into_iter()
        .collect()
}

/// ||a - b|| / ||b|| in float64.
fn rel_err(a: &Tensor, b: &Tensor) -> f64 {
    assert_eq!(a.size(), b.size(), "shape mismatch");
    let (a, b) = (a.to_kind(Kind::Double), b.to_kind(Kind::Double));
    (&a - &b).norm().double_value(&[]) / b.norm().double_value(&[]).max(1e-30)
}

fn source(p: &Path) -> Option<String> {
    Some(p.display().to_string())
}

/// Loads `spec` into `vs`, a model of preset b (ViT-S/16 + ResNet-18) for `in_channels`
/// inputs of side `img_size` holding one stream only; returns the record's sha256.
fn load(vs: &mut VarStore, spec: StreamSources, in_channels: i64, img_size: i64) -> String {
    let mut cfg = DanieConfig::preset("b").unwrap();
    cfg.in_channels = in_channels;
    cfg.img_size = img_size;
    let rec = load_pretrained(
        vs,
        &cfg,
        &Pretrained::Streams(spec),
        Path::new("/nonexistent"),
    )
    .unwrap();
    assert_eq!(rec.len(), 1);
    rec[0].sha256.clone()
}

#[test]
fn timm_vit_and_torchvision_resnet_give_the_libraries_features() {
    let dir = tempfile::tempdir().unwrap();
    danie_testkit::run_python(
        "pretrained_backbones.py",
        &["features", dir.path().to_str().unwrap()],
    );
    let feats = read(&dir.path().join("features.safetensors"));
    let d = dir.path();

    // SAP at the checkpoint's 224 px, and at 64 px (embedding resampled 14x14 -> 4x4 at load;
    // timm resamples it at run time with dynamic_img_size). HAP on RGB, and on one channel with
    // the summed RGB filters.
    let mut shas = Vec::new();
    for (ext, size, (in_ch, input, tag)) in [
        ("pth", 224, (3, "x_resnet", "")),
        ("safetensors", 64, (1, "gray_resnet", ".gray")),
    ] {
        let b = DanieConfig::preset("b").unwrap();
        let mut vs = VarStore::new(Device::Cpu);
        let sap = Sap::new(vs.root() / "sap", &b.sap, 3, size);
        let file = d.join(format!("vit_small.{ext}"));
        let sources = StreamSources {
            sap: source(&file),
            hap: None,
        };
        shas.push(load(&mut vs, sources, 3, size));
        let (tokens, _) = tch::no_grad(|| sap.forward_tokens(&feats[&format!("x_vit_{size}")]));
        let e = rel_err(&tokens, &feats[&format!("vit_{size}")]);
        assert!(e < 1e-5, "{ext}: vit at {size}: rel err {e:e}");

        let mut vs = VarStore::new(Device::Cpu);
        let hap = Hap::new(vs.root() / "hap", &b.hap, in_ch);
        let file = d.join(format!("resnet18.{ext}"));
        let sources = StreamSources {
            sap: None,
            hap: source(&file),
        };
        shas.push(load(&mut vs, sources, in_ch, 64));
        let f = tch::no_grad(|| hap.resnet_features(&feats[input], false));
        for (i, got) in [f.stem, f.f4, f.f8, f.f16].iter().enumerate() {
            let e = rel_err(got, &feats[&format!("resnet18{tag}.{i}")]);
            assert!(e < 1e-5, "{ext}: resnet18{tag} feature {i}: rel err {e:e}");
        }
    }
    // Each record holds its file's sha256.
    let hex = |p: &str| danie_model::pretrained::sha256_file(&d.join(p)).unwrap();
    assert_eq!(
        shas,
        [
            hex("vit_small.pth"),
            hex("resnet18.pth"),
            hex("vit_small.safetensors"),
            hex("resnet18.safetensors")
        ]
    );

    // Position embeddings: timm's resample_abs_pos_embed, class token kept apart.
    let pos = read(&d.join("pos_embed.safetensors"));
    for (name, new) in [("224_to_64", 4), ("224_to_512", 32), ("384_to_224", 14)] {
        let got = resample_abs_pos_embed(&pos[&format!("{name}.in")], [new, new], None, 1);
        let want = &pos[&format!("{name}.out")];
        assert_eq!(got.size(), want.size(), "{name}");
        let e = (&got - want).abs().max().double_value(&[]);
        assert!(e <= 1e-6, "{name}: max abs err {e:e}");
    }
}
