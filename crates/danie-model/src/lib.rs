//! danie-model: DANIE (Dual Attention Encoder with Joint Preservation) on libtorch via tch.
//!
//! One module per block, variable paths equal to the PyTorch reference's state_dict keys
//! (`reference/danie_ref.py`), so weights move both ways:
//! - [`sap`]: ViT stream (timm names) — [`patch_embed`], [`vit_block`], [`vit_attention`], [`vit_mlp`];
//! - [`hap`]: ResNet stream (torchvision names) — [`resnet_stage`], [`basic_block`],
//!   [`bottleneck`], [`downsample`], then [`stage_attention`] ([`channel_attention`],
//!   [`spatial_attention`], [`dynamic_calibration`]);
//! - [`joint_preservation`]: ES ([`efficient_channel_attention`]), EH ([`non_local`]), fusion;
//! - [`decoder`] ([`decoder_block`]) and the whole [`danie`];
//! - [`config`] (presets, TOML), [`flops`] (analytic MAC counts), [`weights`] (safetensors,
//!   PyTorch state_dicts, timm/torchvision backbones), [`sgd`] (torch.optim.SGD), [`autocast`].
pub mod autocast;
pub mod basic_block;
pub mod bottleneck;
pub mod channel_attention;
pub mod config;
pub mod conv_bn_relu;
pub mod danie;
pub mod decoder;
pub mod decoder_block;
pub mod downsample;
pub mod dynamic_calibration;
pub mod efficient_channel_attention;
pub mod error;
pub mod flops;
pub mod hap;
pub mod joint_preservation;
pub mod non_local;
pub mod patch_embed;
pub mod resnet_stage;
pub mod sap;
pub mod sgd;
pub mod spatial_attention;
pub mod stage_attention;
pub mod torch_pickle;
pub mod vit_attention;
pub mod vit_block;
pub mod vit_mlp;
pub mod weights;

pub use config::{AttentionOrder, DanieConfig, Fusion, ResBlock, Streams};
pub use danie::Danie;
pub use error::ModelError;
pub use sgd::Sgd;
