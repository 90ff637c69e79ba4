//! JSON for floats that may be NaN or infinite: finite values as numbers, others as strings.
//!
//! JSON has no NaN or inf (serde_json would write `null`, losing which one it was); the
//! conventions give both meanings, so they are written `"NaN"`, `"inf"` and `"-inf"`.
use serde::de::{self, Deserializer, Visitor};
use serde::Serializer;

/// Serialises `v` as a number when finite, else as `"NaN"`, `"inf"` or `"-inf"`.
pub fn serialize<S: Serializer>(v: &f64, s: S) -> Result<S::Ok, S::Error> {
    if v.is_finite() {
        s.serialize_f64(*v)
    } else {
        s.serialize_str(name(*v))
    }
}

/// Reads what [`serialize`] writes (also `null` as NaN).
pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<f64, D::Error> {
    struct V;
    impl Visitor<'_> for V {
        type Value = f64;
        fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
            f.write_str("a number, \"NaN\", \"inf\" or \"-inf\"")
        }
        fn visit_f64<E: de::Error>(self, v: f64) -> Result<f64, E> {
            Ok(v)
        }
        fn visit_i64<E: de::Error>(self, v: i64) -> Result<f64, E> {
            Ok(v as f64)
        }
        fn visit_u64<E: de::Error>(self, v: u64) -> Result<f64, E> {
            Ok(v as f64)
        }
        fn visit_unit<E: de::Error>(self) -> Result<f64, E> {
            Ok(f64::NAN)
        }
        fn visit_str<E: de::Error>(self, v: &str) -> Result<f64, E> {
            match v.to_ascii_lowercase().as_str() {
                "nan" => Ok(f64::NAN),
                "inf" | "infinity" => Ok(f64::INFINITY),
                "-inf" | "-infinity" => Ok(f64::NEG_INFINITY),
                _ => Err(E::invalid_value(de::Unexpected::Str(v), &self)),
            }
        }
    }
    d.deserialize_any(V)
}

/// The string written for a non-finite value.
pub fn name(v: f64) -> &'static str {
    if v.is_nan() {
        "NaN"
    } else if v > 0.0 {
        "inf"
    } else {
        "-inf"
    }
}

#[cfg(test)]
mod tests {
    #[derive(serde::Serialize, serde::Deserialize)]
    struct W {
        #[serde(with = "super")]
        x: f64,
    }

    #[test]
    fn round_trip() {
        for x in [1.5, f64::INFINITY, f64::NEG_INFINITY] {
            let j = serde_json::to_string(&W { x }).unwrap();
            assert_eq!(serde_json::from_str::<W>(&j).unwrap().x, x);
        }
        let j = serde_json::to_string(&W { x: f64::NAN }).unwrap();
        assert_eq!(j, r#"{"x":"NaN"}"#);
        assert!(serde_json::from_str::<W>(&j).unwrap().x.is_nan());
    }
}
