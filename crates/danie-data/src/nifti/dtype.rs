//! On-disk element types shared by the NIfTI, npy and HDF5 readers.
use std::fmt;

/// A numeric element type as stored on disk (the NIfTI `datatype` field, a numpy `descr`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DType {
    U8,
    I8,
    I16,
    U16,
    I32,
    U32,
    I64,
    U64,
    F32,
    F64,
}

impl DType {
    /// Every supported type, smallest integers first.
    pub const ALL: [DType; 10] = [
        DType::U8,
        DType::I8,
        DType::I16,
        DType::U16,
        DType::I32,
        DType::U32,
        DType::I64,
        DType::U64,
        DType::F32,
        DType::F64,
    ];

    /// Bytes per element.
    pub fn size(self) -> usize {
        match self {
            DType::U8 | DType::I8 => 1,
            DType::I16 | DType::U16 => 2,
            DType::I32 | DType::U32 | DType::F32 => 4,
            DType::I64 | DType::U64 | DType::F64 => 8,
        }
    }

    /// The numpy name (`uint8`, `int16`, `float32`, ...).
    pub fn name(self) -> &'static str {
        match self {
            DType::U8 => "uint8",
            DType::I8 => "int8",
            DType::I16 => "int16",
            DType::U16 => "uint16",
            DType::I32 => "int32",
            DType::U32 => "uint32",
            DType::I64 => "int64",
            DType::U64 => "uint64",
            DType::F32 => "float32",
            DType::F64 => "float64",
        }
    }

    /// Whether the type holds integers.
    pub fn is_integer(self) -> bool {
        !matches!(self, DType::F32 | DType::F64)
    }

    /// The NIfTI `datatype` code (NIFTI_TYPE_*).
    pub fn nifti_code(self) -> i16 {
        match self {
            DType::U8 => 2,
            DType::I16 => 4,
            DType::I32 => 8,
            DType::F32 => 16,
            DType::F64 => 64,
            DType::I8 => 256,
            DType::U16 => 512,
            DType::U32 => 768,
            DType::I64 => 1024,
            DType::U64 => 1280,
        }
    }

    /// The type of a NIfTI `datatype` code; `Err` names the unsupported type.
    pub fn from_nifti_code(code: i16) -> Result<DType, String> {
        let unsupported = |what: &str| Err(format!("unsupported NIfTI datatype {code} ({what})"));
        match code {
            2 => Ok(DType::U8),
            4 => Ok(DType::I16),
            8 => Ok(DType::I32),
            16 => Ok(DType::F32),
            64 => Ok(DType::F64),
            256 => Ok(DType::I8),
            512 => Ok(DType::U16),
            768 => Ok(DType::U32),
            1024 => Ok(DType::I64),
            1280 => Ok(DType::U64),
            1 => unsupported("binary / 1-bit"),
            32 => unsupported("complex64"),
            128 => unsupported("RGB24"),
            1536 => unsupported("float128"),
            1792 => unsupported("complex128"),
            2048 => unsupported("complex256"),
            2304 => unsupported("RGBA32"),
            0 => unsupported("unknown / unset"),
            _ => unsupported("not a NIfTI type code"),
        }
    }

    /// The type of a numpy type string without its byte-order character (`f4`, `i2`, `u1`, `b1`).
    pub fn from_numpy_kind(kind: &str) -> Option<DType> {
        Some(match kind {
            "u1" | "b1" => DType::U8,
            "i1" => DType::I8,
            "i2" => DType::I16,
            "u2" => DType::U16,
            "i4" => DType::I32,
            "u4" => DType::U32,
            "i8" => DType::I64,
            "u8" => DType::U64,
            "f4" => DType::F32,
            "f8" => DType::F64,
            _ => return None,
        })
    }
}

impl fmt::Display for DType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Byte order of multi-byte values in a file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Endian {
    Little,
    Big,
}

impl Endian {
    /// The byte order of this machine.
    pub fn native() -> Endian {
        if cfg!(target_endian = "big") {
            Endian::Big
        } else {
            Endian::Little
        }
    }

    /// `"little"` or `"big"` (nibabel's spelling).
    pub fn name(self) -> &'static str {
        match self {
            Endian::Little => "little",
            Endian::Big => "big",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nifti_codes_round_trip() {
        for dt in DType::ALL {
            assert_eq!(DType::from_nifti_code(dt.nifti_code()), Ok(dt));
        }
        let err = DType::from_nifti_code(128).unwrap_err();
        assert!(err.contains("RGB24"), "{err}");
    }
}
