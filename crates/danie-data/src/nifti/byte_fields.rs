//! [`ByteFields`]: fixed-offset reads and writes of numbers in a header buffer, in either byte order.
use super::dtype::Endian;

/// A header buffer read or written at fixed byte offsets in one byte order.
pub(crate) struct ByteFields<'a> {
    pub buf: &'a mut [u8],
    pub endian: Endian,
}

macro_rules! field {
    ($get:ident, $put:ident, $t:ty, $n:expr) => {
        pub fn $get(&self, off: usize) -> $t {
            let b: [u8; $n] = self.buf[off..off + $n]
                .try_into()
                .expect("offset within header");
            match self.endian {
                Endian::Little => <$t>::from_le_bytes(b),
                Endian::Big => <$t>::from_be_bytes(b),
            }
        }
        pub fn $put(&mut self, off: usize, v: $t) {
            let b = match self.endian {
                Endian::Little => v.to_le_bytes(),
                Endian::Big => v.to_be_bytes(),
            };
            self.buf[off..off + $n].copy_from_slice(&b);
        }
    };
}

impl ByteFields<'_> {
    field!(i16, put_i16, i16, 2);
    field!(i32, put_i32, i32, 4);
    field!(i64, put_i64, i64, 8);
    field!(f32, put_f32, f32, 4);
    field!(f64, put_f64, f64, 8);

    /// A NUL-terminated string field of `len` bytes (lossy UTF-8).
    pub fn string(&self, off: usize, len: usize) -> String {
        let raw = &self.buf[off..off + len];
        let end = raw.iter().position(|&b| b == 0).unwrap_or(len);
        String::from_utf8_lossy(&raw[..end]).into_owned()
    }

    /// Writes `s` into a `len`-byte field, truncated to leave a NUL, zero-padded. A field that
    /// already reads as `s` is left alone, so bytes after its NUL (some writers leave text
    /// there) survive a read-write round trip.
    pub fn put_string(&mut self, off: usize, len: usize, s: &str) {
        if self.string(off, len) == s {
            return;
        }
        let field = &mut self.buf[off..off + len];
        field.fill(0);
        let mut n = s.len().min(len - 1);
        while !s.is_char_boundary(n) {
            n -= 1;
        }
        field[..n].copy_from_slice(&s.as_bytes()[..n]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn big_endian_round_trip() {
        let mut buf = vec![0u8; 16];
        let mut f = ByteFields {
            buf: &mut buf,
            endian: Endian::Big,
        };
        f.put_i32(0, 348);
        f.put_f32(4, -2.5);
        assert_eq!(&f.buf[0..4], &[0, 0, 1, 92]);
        assert_eq!((f.i32(0), f.f32(4)), (348, -2.5));
        f.put_string(8, 4, "n+1xyz");
        assert_eq!(&f.buf[8..12], b"n+1\0");
    }
}
