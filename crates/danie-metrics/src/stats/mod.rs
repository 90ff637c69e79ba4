//! Statistics for comparing runs: the paired Wilcoxon signed-rank test ([`wilcoxon`]), a
//! bootstrap 95 % interval of a mean ([`bootstrap`]), mean and sample standard deviation
//! ([`describe`]), and per-case Dice read back from `cases.csv` and compared between two runs
//! ([`case_dice`], [`paired`]). One statistic a file; each is checked against scipy 1.17 in
//! `tests/stats_reference.rs`.
pub mod bootstrap;
pub mod case_dice;
pub mod describe;
pub mod normal;
pub mod paired;
pub mod wilcoxon;

pub use bootstrap::{bootstrap_mean_ci, BOOTSTRAP_RESAMPLES, BOOTSTRAP_SEED};
pub use case_dice::CaseDice;
pub use describe::{mean, sample_std};
pub use paired::{compare_runs, PairedRow};
pub use wilcoxon::{wilcoxon, Wilcoxon, WilcoxonMethod};
