//! Reference label ids mapped to a model's classes (`52:1,4:2`): one implementation for
//! `danie eval --label-map` and `danie metrics --label-map`.
//!
//! A map sends each listed reference id to a class; unlisted ids become background (0). An
//! empty map keeps the ids as they are.
use std::collections::{BTreeMap, BTreeSet};

use ndarray::{Array, ArrayView, Dimension};

/// Reference id -> class.
pub type LabelMapping = BTreeMap<u32, u8>;

/// Parses `FROM:TO,...` (e.g. `52:1,4:2`); the error names `--label-map` and the bad part.
pub fn parse_label_map(s: &str) -> Result<LabelMapping, String> {
    s.split(',')
        .filter(|p| !p.trim().is_empty())
        .map(|p| {
            let (a, b) = p
                .split_once(':')
                .ok_or_else(|| format!("--label-map: `{p}` is not FROM:TO"))?;
            let from = a
                .trim()
                .parse()
                .map_err(|_| format!("--label-map: bad id `{a}` in `{p}`"))?;
            let to = b
                .trim()
                .parse()
                .map_err(|_| format!("--label-map: bad class `{b}` in `{p}` (0..=255)"))?;
            Ok((from, to))
        })
        .collect()
}

/// The distinct ids of `ids` that are `>= num_classes` (ids a model with classes
/// `0..num_classes` cannot predict), sorted.
pub fn ids_outside<D: Dimension>(ids: ArrayView<u16, D>, num_classes: u32) -> Vec<u32> {
    let mut out = BTreeSet::new();
    for &v in ids.iter() {
        if u32::from(v) >= num_classes {
            out.insert(u32::from(v));
        }
    }
    out.into_iter().collect()
}

/// Maps every id through `map` (unlisted ids become 0); an empty map keeps the ids, saturated
/// at 255 (callers check [`ids_outside`] first).
pub fn apply_label_map<D: Dimension>(ids: ArrayView<u16, D>, map: &LabelMapping) -> Array<u8, D> {
    ids.mapv(|v| {
        let v = u32::from(v);
        if map.is_empty() {
            v.min(255) as u8
        } else {
            map.get(&v).copied().unwrap_or(0)
        }
    })
}

/// `1, 2, 5` for messages.
pub fn id_list(ids: &[u32]) -> String {
    ids.iter()
        .map(u32::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::arr1;

    #[test]
    fn parses_maps_and_rejects_bad_parts() {
        let m = parse_label_map("52:1, 4:2,").unwrap();
        assert_eq!(m, BTreeMap::from([(52, 1), (4, 2)]));
        assert!(parse_label_map("52")
            .unwrap_err()
            .contains("`52` is not FROM:TO"));
        assert!(parse_label_map("x:1").unwrap_err().contains("bad id `x`"));
        assert!(parse_label_map("1:300")
            .unwrap_err()
            .contains("bad class `300`"));
    }

    #[test]
    fn maps_listed_ids_and_zeroes_the_rest() {
        let ids = arr1(&[0u16, 4, 52, 7, 300]);
        let m = parse_label_map("52:1,4:2").unwrap();
        assert_eq!(
            apply_label_map(ids.view(), &m).to_vec(),
            vec![0, 2, 1, 0, 0]
        );
        assert_eq!(
            apply_label_map(ids.view(), &LabelMapping::new()).to_vec(),
            vec![0, 4, 52, 7, 255]
        );
        assert_eq!(ids_outside(ids.view(), 9), vec![52, 300]);
        assert_eq!(id_list(&[9, 10]), "9, 10");
    }
}
