//! ImageNet backbones load into SAP and HAP: torchvision resnet18/resnet50 (torch.save .pth,
//! read without Python) and timm vit_tiny_patch16_224 (.safetensors), with random weights,
//! give the same features as torchvision and timm.
mod common;

use common::{read, rel_err, run_python};
use danie_model::config::{DanieConfig, ResBlock};
use danie_model::hap::Hap;
use danie_model::sap::Sap;
use danie_model::weights::{load_backbone, Backbone};
use tch::nn::VarStore;
use tch::Device;

#[test]
fn torchvision_resnets_and_timm_vit_match_their_features() {
    let dir = tempfile::tempdir().unwrap();
    run_python("model_backbones.py", &[dir.path().to_str().unwrap()]);
    let feats = read(&dir.path().join("features.safetensors"));

    for (name, block, layers) in [
        ("resnet18", ResBlock::Basic, [2, 2, 2]),
        ("resnet50", ResBlock::Bottleneck, [3, 4, 6]),
    ] {
        for (in_ch, input, tag) in [(3, "x_resnet", ""), (1, "gray_resnet", ".gray")] {
            let mut cfg = DanieConfig::preset("b").unwrap().hap;
            cfg.block = block;
            cfg.layers = layers;
            let mut vs = VarStore::new(Device::Cpu);
            let hap = Hap::new(vs.root() / "hap", &cfg, in_ch);
            let r = load_backbone(
                &mut vs,
                &dir.path().join(format!("{name}.pth")),
                Backbone::TorchvisionResnet,
            )
            .unwrap();
            // Only the classifier and layer4 are left over; only the attention blocks are new.
            assert!(
                r.unused
                    .iter()
                    .all(|k| k.starts_with("fc.") || k.starts_with("layer4.")),
                "{name}: {r}"
            );
            assert!(r.unused.iter().any(|k| k == "fc.weight"), "{name}: {r}");
            assert!(
                r.missing.iter().all(|k| k.starts_with("hap.attn")),
                "{name}: {r}"
            );
            let f = tch::no_grad(|| hap.resnet_features(&feats[input], false));
            for (i, got) in [f.stem, f.f4, f.f8, f.f16].iter().enumerate() {
                let e = rel_err(got, &feats[&format!("{name}{tag}.{i}")]);
                assert!(e < 1e-5, "{name}{tag} feature {i}: rel err {e:e}");
            }
        }
    }

    let mut cfg = DanieConfig::preset("b").unwrap().sap;
    cfg.embed_dim = 192;
    cfg.num_heads = 3;
    let mut vs = VarStore::new(Device::Cpu);
    let sap = Sap::new(vs.root() / "sap", &cfg, 3, 224);
    let r = load_backbone(
        &mut vs,
        &dir.path().join("vit_tiny.safetensors"),
        Backbone::TimmVit,
    )
    .unwrap();
    assert_eq!(r.unused, ["head.bias", "head.weight"], "{r}");
    assert!(r.missing.is_empty(), "{r}");
    for size in [224, 160] {
        let (tokens, _) = tch::no_grad(|| sap.forward_tokens(&feats[&format!("x_vit_{size}")]));
        let e = rel_err(&tokens, &feats[&format!("vit_{size}")]);
        assert!(e < 1e-5, "vit at {size}: rel err {e:e}");
    }

    // A shape mismatch names the key and both shapes.
    let mut vs = VarStore::new(Device::Cpu);
    let mut small = cfg.clone();
    small.embed_dim = 96;
    let _sap = Sap::new(vs.root() / "sap", &small, 3, 224);
    let e = load_backbone(
        &mut vs,
        &dir.path().join("vit_tiny.safetensors"),
        Backbone::TimmVit,
    )
    .unwrap_err()
    .to_string();
    assert!(
        e.contains("blocks.0.attn.proj.bias -> sap.blocks.0.attn.proj.bias")
            && e.contains("file has [192], model has [96]")
            && e.contains("vit_tiny.safetensors"),
        "{e}"
    );
}
