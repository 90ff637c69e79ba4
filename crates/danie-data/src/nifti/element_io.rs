//! Reading and writing runs of numeric elements in a given byte order, in bounded chunks (no
//! whole-file staging buffer). Shared by the NIfTI and npy readers / writers.
use std::io::{self, Read, Write};

use ndarray::{ArrayD, IxDyn, ShapeBuilder};

use super::dtype::{DType, Endian};
use super::typed_array::{Element, TypedArray};

/// Elements per chunk when streaming (1 MiB of f64).
const CHUNK: usize = 1 << 17;

/// Reads until `buf` is full or the stream ends; returns the bytes read.
pub(crate) fn read_fully(reader: &mut impl Read, buf: &mut [u8]) -> io::Result<usize> {
    let mut filled = 0;
    while filled < buf.len() {
        match reader.read(&mut buf[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(filled)
}

/// What went wrong reading elements.
#[derive(Debug)]
pub(crate) enum ElementReadError {
    /// The stream failed (for gzip: corrupt or truncated data).
    Io(io::Error),
    /// The stream ended after `got` of the `want` bytes.
    Short { got: u64, want: u64 },
    /// The shape's byte size overflows `usize`.
    TooLarge,
}

/// Reads an array of `shape` whose elements are `dtype` in `endian` order, laid out in Fortran
/// (first index fastest) or C order.
pub(crate) fn read_array(
    reader: &mut impl Read,
    dtype: DType,
    shape: &[usize],
    fortran: bool,
    endian: Endian,
) -> Result<TypedArray, ElementReadError> {
    fn go<T: Element>(
        reader: &mut impl Read,
        shape: &[usize],
        fortran: bool,
        endian: Endian,
    ) -> Result<TypedArray, ElementReadError> {
        let n = shape.iter().try_fold(1usize, |acc, &d| acc.checked_mul(d));
        let n = n
            .filter(|n| n.checked_mul(T::DTYPE.size()).is_some())
            .ok_or(ElementReadError::TooLarge)?;
        let values = read_elements::<T>(reader, n, endian)?;
        let dim = IxDyn(shape);
        let array = if fortran {
            ArrayD::from_shape_vec(dim.f(), values)
        } else {
            ArrayD::from_shape_vec(dim, values)
        };
        Ok(TypedArray::from(
            array.expect("element count matches shape"),
        ))
    }
    match dtype {
        DType::U8 => go::<u8>(reader, shape, fortran, endian),
        DType::I8 => go::<i8>(reader, shape, fortran, endian),
        DType::I16 => go::<i16>(reader, shape, fortran, endian),
        DType::U16 => go::<u16>(reader, shape, fortran, endian),
        DType::I32 => go::<i32>(reader, shape, fortran, endian),
        DType::U32 => go::<u32>(reader, shape, fortran, endian),
        DType::I64 => go::<i64>(reader, shape, fortran, endian),
        DType::U64 => go::<u64>(reader, shape, fortran, endian),
        DType::F32 => go::<f32>(reader, shape, fortran, endian),
        DType::F64 => go::<f64>(reader, shape, fortran, endian),
    }
}

/// Reads `n` elements of `T` stored in `endian` order.
pub(crate) fn read_elements<T: Element>(
    reader: &mut impl Read,
    n: usize,
    endian: Endian,
) -> Result<Vec<T>, ElementReadError> {
    let size = std::mem::size_of::<T>();
    let short = |got: usize, done: usize| ElementReadError::Short {
        got: (done * size + got) as u64,
        want: (n * size) as u64,
    };
    let mut out: Vec<T>;
    if n.saturating_mul(size) <= 1 << 32 {
        // A sane size: read straight into the result (zeroed pages cost nothing until written;
        // a staging chunk would copy every byte once more).
        out = vec![T::zeroed(); n];
        let bytes: &mut [u8] = bytemuck::cast_slice_mut(&mut out[..]);
        let got = read_fully(reader, bytes).map_err(ElementReadError::Io)?;
        if got < bytes.len() {
            return Err(short(got, 0));
        }
    } else {
        // A corrupt header may ask for an absurd size: grow only as data comes.
        out = Vec::new();
        let mut chunk: Vec<T> = std::iter::repeat_n(T::zeroed(), CHUNK).collect(); // on the heap
        while out.len() < n {
            let want = (n - out.len()).min(chunk.len());
            let bytes: &mut [u8] = bytemuck::cast_slice_mut(&mut chunk[..want]);
            let got = read_fully(reader, bytes).map_err(ElementReadError::Io)?;
            if got < bytes.len() {
                return Err(short(got, out.len()));
            }
            out.extend_from_slice(&chunk[..want]);
        }
    }
    if endian != Endian::native() {
        out.iter_mut().for_each(|v| *v = v.swap_bytes());
    }
    Ok(out)
}

/// Writes `values` in `endian` order.
pub(crate) fn write_elements<'a, T: Element>(
    writer: &mut impl Write,
    values: impl Iterator<Item = &'a T>,
    endian: Endian,
) -> io::Result<()> {
    let swap = endian != Endian::native();
    let mut chunk: Vec<T> = Vec::with_capacity(CHUNK);
    let flush = |chunk: &mut Vec<T>, w: &mut dyn Write| -> io::Result<()> {
        w.write_all(bytemuck::cast_slice(chunk))?;
        chunk.clear();
        Ok(())
    };
    for &v in values {
        chunk.push(if swap { v.swap_bytes() } else { v });
        if chunk.len() == CHUNK {
            flush(&mut chunk, writer)?;
        }
    }
    flush(&mut chunk, writer)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn big_endian_elements_round_trip_and_short_read() {
        let vals = [1i16, -2, 300];
        let mut bytes = Vec::new();
        write_elements(&mut bytes, vals.iter(), Endian::Big).unwrap();
        assert_eq!(bytes, [0, 1, 0xff, 0xfe, 1, 44]);
        let back: Vec<i16> = read_elements(&mut bytes.as_slice(), 3, Endian::Big).unwrap();
        assert_eq!(back, vals);
        match read_elements::<i16>(&mut &bytes[..5], 3, Endian::Big) {
            Err(ElementReadError::Short { got: 5, want: 6 }) => {}
            other => panic!("{other:?}"),
        }
    }
}
