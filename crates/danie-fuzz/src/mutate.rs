//! Structure-aware mutations: generic byte-level damage (bit flips, interesting integers, runs,
//! truncation, splicing) plus, per format, the fields and containers a reader trusts: NIfTI
//! header fields, gzip re-compressed around a mutated payload, zip members mutated and the
//! archive rebuilt, npy shape text, PNG / BMP / JPEG sizes, the safetensors header.
use std::io::{Read, Write};

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::targets::Format;

/// Integers that break size arithmetic: zero, one, sign boundaries, type extremes, huge.
const INTERESTING: &[i64] = &[
    0,
    1,
    -1,
    2,
    3,
    7,
    8,
    16,
    127,
    128,
    255,
    256,
    1024,
    4096,
    32767,
    -32768,
    65535,
    65536,
    100_000_000,
    0x7fff_ffff,
    -0x8000_0000,
    0xffff_ffff,
    1 << 32,
    1 << 40,
    1 << 62,
    i64::MAX,
    i64::MIN,
];

/// Floats that break scaling and geometry.
const FLOATS: &[f64] = &[
    0.0,
    -0.0,
    1.0,
    -1.0,
    f64::NAN,
    f64::INFINITY,
    f64::NEG_INFINITY,
    1e38,
    -1e38,
    1e-45,
    f64::MAX,
    4294967296.0,
    1e18,
];

/// A header field: where, how wide, and whether it holds a float.
#[derive(Clone, Copy)]
struct Field {
    offset: usize,
    width: usize,
    float: bool,
}

const fn int(offset: usize, width: usize) -> Field {
    Field {
        offset,
        width,
        float: false,
    }
}

const fn float(offset: usize, width: usize) -> Field {
    Field {
        offset,
        width,
        float: true,
    }
}

/// NIfTI-1 fields a reader trusts: sizeof_hdr, dim[0..8], datatype, bitpix, pixdim[0..4],
/// vox_offset, scl_slope, scl_inter, qform / sform codes, quaternion, srow, extension esize.
const NIFTI1: &[Field] = &[
    int(0, 4),
    int(40, 2),
    int(42, 2),
    int(44, 2),
    int(46, 2),
    int(48, 2),
    int(50, 2),
    int(52, 2),
    int(54, 2),
    int(70, 2),
    int(72, 2),
    float(76, 4),
    float(80, 4),
    float(84, 4),
    float(88, 4),
    float(108, 4),
    float(112, 4),
    float(116, 4),
    int(252, 2),
    int(254, 2),
    float(256, 4),
    float(260, 4),
    float(264, 4),
    float(280, 4),
    float(300, 4),
    float(316, 4),
    int(348, 1),
    int(352, 4),
    int(356, 4),
];

/// NIfTI-2 fields: datatype, bitpix, dim[0..8] (i64), pixdim, vox_offset (i64), scaling,
/// slice range, codes, quaternion, srow, extension esize.
const NIFTI2: &[Field] = &[
    int(0, 4),
    int(12, 2),
    int(14, 2),
    int(16, 8),
    int(24, 8),
    int(32, 8),
    int(40, 8),
    int(48, 8),
    float(112, 8),
    float(120, 8),
    int(168, 8),
    float(176, 8),
    float(184, 8),
    int(224, 8),
    int(232, 8),
    int(344, 4),
    int(348, 4),
    float(352, 8),
    float(400, 8),
    float(432, 8),
    int(540, 1),
    int(544, 4),
];

/// Draws mutated inputs from seeds, deterministically from its seed.
pub struct Mutator {
    rng: ChaCha8Rng,
}

impl Mutator {
    /// A mutator whose draws depend only on `seed`.
    pub fn new(seed: u64) -> Self {
        Self {
            rng: ChaCha8Rng::seed_from_u64(seed),
        }
    }

    /// One mutated input of `format` from `seeds` (which must not be empty).
    pub fn mutate(&mut self, format: Format, seeds: &[Vec<u8>]) -> Vec<u8> {
        let pick = self.rng.gen_range(0..seeds.len());
        let mut data = seeds.get(pick).cloned().unwrap_or_default();
        // A quarter of the cases damage the container bytes as they are; the rest go through
        // the format's structure.
        if self.rng.gen_ratio(1, 4) {
            let n = self.rng.gen_range(1..=4);
            for _ in 0..n {
                self.generic(&mut data, seeds, &[], false);
            }
            return data;
        }
        match format {
            Format::Nifti => self.nifti(&mut data, seeds),
            Format::NiftiGz => {
                let inner = gunzip(&data).unwrap_or_else(|| data.clone());
                let mut inner = inner;
                self.nifti(&mut inner, &[]);
                data = self.gzip(&inner);
            }
            Format::Npy => self.npy(&mut data, seeds),
            Format::Npz | Format::TorchZip => data = self.zip(&data, format),
            Format::Png => self.png(&mut data, seeds),
            Format::Bmp => {
                const BMP: &[Field] = &[
                    int(2, 4),
                    int(10, 4),
                    int(14, 4),
                    int(18, 4),
                    int(22, 4),
                    int(26, 2),
                    int(28, 2),
                    int(30, 4),
                    int(34, 4),
                    int(46, 4),
                ];
                self.fields(&mut data, BMP, false, seeds);
            }
            Format::Jpeg => self.jpeg(&mut data, seeds),
            Format::Safetensors => self.safetensors(&mut data, seeds),
            Format::Toml => self.text(&mut data, seeds),
            Format::Hdf5 => {
                // Superblock and object headers sit in the first KiB of small files: aim there
                // half the time.
                let n = self.rng.gen_range(1..=6);
                for _ in 0..n {
                    if self.rng.gen_bool(0.5) && !data.is_empty() {
                        let at = self.rng.gen_range(0..data.len().min(2048));
                        let width = [1, 2, 4, 8][self.rng.gen_range(0..4)];
                        let v = self.interesting();
                        put_int(&mut data, at, width, v, false);
                    } else {
                        self.generic(&mut data, seeds, &[], false);
                    }
                }
            }
        }
        data
    }

    fn interesting(&mut self) -> i64 {
        if self.rng.gen_ratio(1, 8) {
            // near a boundary
            let base = INTERESTING[self.rng.gen_range(0..INTERESTING.len())];
            base.wrapping_add(self.rng.gen_range(-2..=2))
        } else {
            INTERESTING[self.rng.gen_range(0..INTERESTING.len())]
        }
    }

    /// `n` (1..=4) mutations, most at `fields`.
    fn fields(
        &mut self,
        data: &mut Vec<u8>,
        fields: &[Field],
        big_endian: bool,
        seeds: &[Vec<u8>],
    ) {
        let n = self.rng.gen_range(1..=4);
        for _ in 0..n {
            self.generic(data, seeds, fields, big_endian);
        }
    }

    /// One generic mutation; with `fields`, most often a value written into one of them.
    fn generic(&mut self, data: &mut Vec<u8>, seeds: &[Vec<u8>], fields: &[Field], be: bool) {
        if !fields.is_empty() && self.rng.gen_ratio(2, 3) {
            let f = fields[self.rng.gen_range(0..fields.len())];
            if f.float && self.rng.gen_ratio(3, 4) {
                let v = FLOATS[self.rng.gen_range(0..FLOATS.len())];
                put_float(data, f.offset, f.width, v, be);
            } else {
                let v = self.interesting();
                put_int(data, f.offset, f.width, v, be);
            }
            return;
        }
        let len = data.len();
        match self.rng.gen_range(0..9) {
            0 if len > 0 => {
                for _ in 0..self.rng.gen_range(1..=8) {
                    let i = self.rng.gen_range(0..len);
                    data[i] ^= 1 << self.rng.gen_range(0..8);
                }
            }
            1 if len > 0 => {
                let i = self.rng.gen_range(0..len);
                data[i] = self.rng.gen();
            }
            2 if len > 0 => {
                let at = self.rng.gen_range(0..len);
                let width = [1, 2, 4, 8][self.rng.gen_range(0..4)];
                let v = self.interesting();
                let be = self.rng.gen_bool(0.5);
                put_int(data, at, width, v, be);
            }
            3 if len > 0 => {
                // truncation, often near the end or inside the header
                let cut = if self.rng.gen_bool(0.5) {
                    self.rng.gen_range(0..len.min(1024))
                } else {
                    self.rng.gen_range(0..len)
                };
                data.truncate(cut);
            }
            4 => {
                let at = self.rng.gen_range(0..=len);
                let n = self.rng.gen_range(1..=512);
                let run: Vec<u8> = if self.rng.gen_bool(0.5) {
                    vec![[0u8, 0xff, b'0', b'9'][self.rng.gen_range(0..4)]; n]
                } else {
                    (0..n).map(|_| self.rng.gen()).collect()
                };
                data.splice(at..at, run);
            }
            5 if len > 1 => {
                let a = self.rng.gen_range(0..len);
                let b = (a + self.rng.gen_range(1..=len.min(4096))).min(len);
                data.drain(a..b);
            }
            6 if len > 1 => {
                let a = self.rng.gen_range(0..len);
                let b = (a + self.rng.gen_range(1..=len.min(4096))).min(len);
                let chunk = data[a..b].to_vec();
                let at = self.rng.gen_range(0..=len);
                data.splice(at..at, chunk);
            }
            7 if !seeds.is_empty() => {
                // splice: this input's head, another seed's tail
                let other = &seeds[self.rng.gen_range(0..seeds.len())];
                let cut = self.rng.gen_range(0..=len);
                let from = self.rng.gen_range(0..=other.len());
                data.truncate(cut);
                data.extend_from_slice(&other[from..]);
            }
            _ if len > 0 => {
                let at = self.rng.gen_range(0..len);
                let end = (at + self.rng.gen_range(1..=64)).min(len);
                let v = [0u8, 0xff][self.rng.gen_range(0..2)];
                data[at..end].fill(v);
            }
            _ => data.push(self.rng.gen()),
        }
    }

    fn nifti(&mut self, data: &mut Vec<u8>, seeds: &[Vec<u8>]) {
        let first4: [u8; 4] = data
            .get(..4)
            .and_then(|b| b.try_into().ok())
            .unwrap_or([0; 4]);
        let (fields, be) = match (i32::from_le_bytes(first4), i32::from_be_bytes(first4)) {
            (540, _) => (NIFTI2, false),
            (_, 540) => (NIFTI2, true),
            (_, 348) => (NIFTI1, true),
            _ => (NIFTI1, false),
        };
        self.fields(data, fields, be, seeds);
    }

    /// gzip of `data`, sometimes in several members, sometimes with trailing junk.
    fn gzip(&mut self, data: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        let parts = if self.rng.gen_ratio(1, 4) { 3 } else { 1 };
        let step = data.len().div_ceil(parts).max(1);
        for chunk in data.chunks(step) {
            let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
            let _ = e.write_all(chunk);
            out.extend(e.finish().unwrap_or_default());
        }
        if self.rng.gen_ratio(1, 8) {
            out.extend((0..self.rng.gen_range(1..64)).map(|_| self.rng.gen::<u8>()));
        }
        out
    }

    /// The npy header's shape, descr and order are text: rewrite them, or damage bytes.
    fn npy(&mut self, data: &mut Vec<u8>, seeds: &[Vec<u8>]) {
        let header_end = data.iter().position(|&b| b == b'\n').unwrap_or(0).min(4096);
        let header = String::from_utf8_lossy(&data[..header_end]).into_owned();
        let choice = self.rng.gen_range(0..4);
        let new = match choice {
            0 => header.find("'shape': (").and_then(|s| {
                let rest = &header[s..];
                let close = rest.find(')')?;
                let dims: Vec<String> = (0..self.rng.gen_range(0..=4))
                    .map(|_| self.interesting().to_string())
                    .collect();
                let tuple = match dims.len() {
                    1 => format!("({},)", dims[0]),
                    _ => format!("({})", dims.join(", ")),
                };
                Some(format!(
                    "{}'shape': {tuple}{}",
                    &header[..s],
                    &rest[close + 1..]
                ))
            }),
            1 => {
                let descr = [
                    "'<f8'",
                    "'>i2'",
                    "'|b1'",
                    "'<c16'",
                    "'|O'",
                    "'<U9999999'",
                    "'<V0'",
                    "'x'",
                ][self.rng.gen_range(0..8)];
                header.find("'descr': '").map(|s| {
                    let rest = &header[s + 9..];
                    let close = rest[1..].find('\'').map_or(rest.len(), |c| c + 2);
                    format!("{}'descr': {descr}{}", &header[..s], &rest[close..])
                })
            }
            2 => Some(header.replace("'fortran_order': False", "'fortran_order': True")),
            _ => None,
        };
        match new {
            Some(h) => {
                let tail = data[header_end..].to_vec();
                let mut bytes = h.into_bytes();
                // keep the header length field (bytes 8..10, v1) consistent half the time
                if bytes.len() >= 10 && self.rng.gen_bool(0.5) {
                    let hl = (bytes.len() + tail.len().min(1) - 10) as u16;
                    bytes[8..10].copy_from_slice(&hl.to_le_bytes());
                }
                bytes.extend(tail);
                *data = bytes;
            }
            None => {
                const NPY: &[Field] = &[int(6, 1), int(7, 1), int(8, 2), int(8, 4)];
                self.fields(data, NPY, false, seeds);
            }
        }
    }

    /// Mutates one member of a zip (as npy, or generically) and rebuilds the archive, stored or
    /// deflated; sometimes adds many members or duplicate names.
    fn zip(&mut self, data: &[u8], format: Format) -> Vec<u8> {
        let Some(mut members) = unzip(data) else {
            let mut d = data.to_vec();
            self.generic(&mut d, &[], &[], false);
            return d;
        };
        if members.is_empty() {
            members.push(("x.npy".into(), Vec::new()));
        }
        let i = self.rng.gen_range(0..members.len());
        match self.rng.gen_range(0..8) {
            0 => members.truncate(i), // drop members
            1 => {
                // many tiny members (quadratic scans), or a duplicate name
                let n = if self.rng.gen_bool(0.5) { 2000 } else { 1 };
                let (name, body) = members[i].clone();
                for k in 0..n {
                    let name = if n == 1 {
                        name.clone()
                    } else {
                        format!("m{k}.npy")
                    };
                    members.push((name, body.clone()));
                }
            }
            _ => {
                let is_npy =
                    members[i].0.ends_with(".npy") || members[i].1.starts_with(b"\x93NUMPY");
                let mut body = std::mem::take(&mut members[i].1);
                if is_npy {
                    self.npy(&mut body, &[]);
                } else if format == Format::TorchZip && members[i].0.ends_with(".pkl") {
                    // pickle: opcodes and their little-endian lengths / ints
                    for _ in 0..self.rng.gen_range(1..=4) {
                        self.generic(&mut body, &[], &[], false);
                    }
                } else {
                    self.generic(&mut body, &[], &[], false);
                }
                members[i].1 = body;
            }
        }
        let deflate = self.rng.gen_bool(0.5);
        rezip(&members, deflate).unwrap_or_else(|| data.to_vec())
    }

    fn png(&mut self, data: &mut Vec<u8>, seeds: &[Vec<u8>]) {
        // IHDR: width (16), height (20) big-endian, bit depth (24), colour type (25); the CRC
        // is recomputed so the decoder reaches the values rather than a checksum error.
        const IHDR: &[Field] = &[int(16, 4), int(20, 4), int(24, 1), int(25, 1), int(28, 1)];
        self.fields(data, IHDR, true, seeds);
        if data.len() >= 33 && &data[12..16] == b"IHDR" {
            let mut crc = flate2::Crc::new();
            crc.update(&data[12..29]);
            data[29..33].copy_from_slice(&crc.sum().to_be_bytes());
        }
    }

    fn jpeg(&mut self, data: &mut Vec<u8>, seeds: &[Vec<u8>]) {
        // SOF0/SOF2: precision (+4), height (+5), width (+7), components (+9)
        let sof = data
            .windows(2)
            .position(|w| w[0] == 0xff && (w[1] == 0xc0 || w[1] == 0xc2));
        match sof {
            Some(p) => {
                let fields = [int(p + 4, 1), int(p + 5, 2), int(p + 7, 2), int(p + 9, 1)];
                self.fields(data, &fields, true, seeds);
            }
            None => self.fields(data, &[], true, seeds),
        }
    }

    /// The 8-byte header length, or numbers inside the JSON header (offsets, shapes), or the
    /// dtype strings.
    fn safetensors(&mut self, data: &mut Vec<u8>, seeds: &[Vec<u8>]) {
        let n = data
            .get(..8)
            .and_then(|b| b.try_into().ok())
            .map(u64::from_le_bytes)
            .unwrap_or(0) as usize;
        if self.rng.gen_ratio(1, 4) || n == 0 || n > data.len().saturating_sub(8) {
            self.fields(data, &[int(0, 8)], false, seeds);
            return;
        }
        let header = String::from_utf8_lossy(&data[8..8 + n]).into_owned();
        let tail = data[8 + n..].to_vec();
        let mut text = header;
        for _ in 0..self.rng.gen_range(1..=3) {
            text = self.numbers_in_text(&text);
        }
        if self.rng.gen_ratio(1, 4) {
            let dt = ["\"F64\"", "\"BOOL\"", "\"U64\"", "\"X\"", "\"\""][self.rng.gen_range(0..5)];
            text = text.replacen("\"F32\"", dt, 1);
        }
        let mut out = (text.len() as u64).to_le_bytes().to_vec();
        out.extend(text.into_bytes());
        out.extend(tail);
        *data = out;
    }

    /// TOML (or any text): numbers replaced by interesting ones, lines dropped or repeated,
    /// strings emptied; bytes damaged now and then.
    fn text(&mut self, data: &mut Vec<u8>, seeds: &[Vec<u8>]) {
        let text = String::from_utf8_lossy(data).into_owned();
        let out = match self.rng.gen_range(0..6) {
            0..=2 => {
                let mut t = text;
                for _ in 0..self.rng.gen_range(1..=3) {
                    t = self.numbers_in_text(&t);
                }
                t
            }
            3 => {
                let mut lines: Vec<&str> = text.lines().collect();
                if !lines.is_empty() {
                    let i = self.rng.gen_range(0..lines.len());
                    if self.rng.gen_bool(0.5) {
                        lines.remove(i);
                    } else {
                        let l = lines[i];
                        lines.insert(i, l);
                    }
                }
                lines.join("\n")
            }
            4 => {
                let keys = [
                    "threads = 4294967296",
                    "num_workers = 100000000",
                    "image_size = 1",
                    "image_size = 0",
                    "batch_size = 0",
                    "embed_dim = 1099511627776",
                    "depth = 1000000",
                    "lr = nan",
                    "epochs = 18446744073709551615",
                    "img_size = -1",
                    "num_heads = 0",
                    "preset = \"../../etc\"",
                ];
                let line = keys[self.rng.gen_range(0..keys.len())];
                let mut lines: Vec<String> = text.lines().map(String::from).collect();
                let at = self.rng.gen_range(0..=lines.len());
                lines.insert(at, line.to_string());
                lines.join("\n")
            }
            _ => {
                let mut d = text.into_bytes();
                self.generic(&mut d, seeds, &[], false);
                *data = d;
                return;
            }
        };
        *data = out.into_bytes();
    }

    /// One decimal number of `text` replaced by an interesting value.
    fn numbers_in_text(&mut self, text: &str) -> String {
        let bytes = text.as_bytes();
        let starts: Vec<usize> = (0..bytes.len())
            .filter(|&i| {
                bytes[i].is_ascii_digit() && (i == 0 || !bytes[i - 1].is_ascii_alphanumeric())
            })
            .collect();
        if starts.is_empty() {
            return text.to_string();
        }
        let s = starts[self.rng.gen_range(0..starts.len())];
        let e = (s..bytes.len())
            .find(|&i| !(bytes[i].is_ascii_digit() || bytes[i] == b'.' || bytes[i] == b'e'))
            .unwrap_or(bytes.len());
        let v = if self.rng.gen_ratio(1, 6) {
            [
                "1e308",
                "-0.0",
                "nan",
                "inf",
                "18446744073709551615",
                "99999999999999999999",
            ][self.rng.gen_range(0..6)]
            .to_string()
        } else {
            self.interesting().to_string()
        };
        format!("{}{v}{}", &text[..s], &text[e..])
    }
}

/// Writes `v` as a `width`-byte integer at `at` (clipped to the data).
fn put_int(data: &mut [u8], at: usize, width: usize, v: i64, big_endian: bool) {
    let bytes = if big_endian {
        v.to_be_bytes()[8 - width..].to_vec()
    } else {
        v.to_le_bytes()[..width].to_vec()
    };
    put(data, at, &bytes);
}

fn put_float(data: &mut [u8], at: usize, width: usize, v: f64, big_endian: bool) {
    let bytes = match (width, big_endian) {
        (4, false) => (v as f32).to_le_bytes().to_vec(),
        (4, true) => (v as f32).to_be_bytes().to_vec(),
        (_, false) => v.to_le_bytes().to_vec(),
        (_, true) => v.to_be_bytes().to_vec(),
    };
    put(data, at, &bytes);
}

fn put(data: &mut [u8], at: usize, bytes: &[u8]) {
    for (k, b) in bytes.iter().enumerate() {
        if let Some(d) = data.get_mut(at + k) {
            *d = *b;
        }
    }
}

/// The decompressed bytes of a (multi-member) gzip, at most 64 MiB; `None` if not gzip.
pub fn gunzip(data: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    flate2::read::MultiGzDecoder::new(data)
        .take(64 << 20)
        .read_to_end(&mut out)
        .ok()?;
    Some(out)
}

/// The members of a zip, each at most 16 MiB; `None` if it is not a readable zip.
pub fn unzip(data: &[u8]) -> Option<Vec<(String, Vec<u8>)>> {
    let mut z = zip::ZipArchive::new(std::io::Cursor::new(data)).ok()?;
    let mut out = Vec::new();
    for i in 0..z.len().min(64) {
        let mut f = z.by_index(i).ok()?;
        let name = f.name().to_string();
        let mut body = Vec::new();
        (&mut f).take(16 << 20).read_to_end(&mut body).ok()?;
        out.push((name, body));
    }
    Some(out)
}

/// A zip of `members`, stored or deflated.
pub fn rezip(members: &[(String, Vec<u8>)], deflate: bool) -> Option<Vec<u8>> {
    let mut w = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let method = if deflate {
        zip::CompressionMethod::Deflated
    } else {
        zip::CompressionMethod::Stored
    };
    let opts = zip::write::SimpleFileOptions::default().compression_method(method);
    for (name, body) in members {
        w.start_file(name.as_str(), opts).ok()?;
        w.write_all(body).ok()?;
    }
    Some(w.finish().ok()?.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seed() -> Vec<u8> {
        let mut h = vec![0u8; 352];
        h[..4].copy_from_slice(&348i32.to_le_bytes());
        h[344..348].copy_from_slice(b"n+1\0");
        h.extend((0..200u8).collect::<Vec<_>>());
        h
    }

    #[test]
    fn mutations_are_deterministic_and_change_the_input() {
        let seeds = vec![seed()];
        for f in [
            Format::Nifti,
            Format::Npy,
            Format::Toml,
            Format::Bmp,
            Format::Safetensors,
        ] {
            for i in 0..20 {
                let a = Mutator::new(i).mutate(f, &seeds);
                assert_eq!(a, Mutator::new(i).mutate(f, &seeds), "{f:?} seed {i}");
            }
        }
        let changed = (0..100)
            .filter(|&i| Mutator::new(i).mutate(Format::Nifti, &seeds) != seeds[0])
            .count();
        assert!(
            changed >= 90,
            "only {changed} of 100 mutations changed the input"
        );
    }

    #[test]
    fn gzip_cases_carry_a_mutated_payload() {
        let plain = seed();
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        e.write_all(&plain).unwrap();
        let seeds = vec![e.finish().unwrap()];
        // most cases still decompress (to something else): the reader sees the mutation
        let reached = (0..60)
            .filter(|&i| {
                gunzip(&Mutator::new(i).mutate(Format::NiftiGz, &seeds)).is_some_and(|d| d != plain)
            })
            .count();
        assert!(reached >= 30, "{reached} of 60");
    }

    #[test]
    fn zips_are_rebuilt_with_their_members() {
        let members = vec![
            ("a.npy".to_string(), b"\x93NUMPY".to_vec()),
            ("b".into(), vec![1, 2]),
        ];
        for deflate in [false, true] {
            let z = rezip(&members, deflate).unwrap();
            assert_eq!(unzip(&z).unwrap(), members);
        }
        assert!(unzip(b"not a zip").is_none());
    }
}
