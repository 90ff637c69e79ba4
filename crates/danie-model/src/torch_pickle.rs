//! Reads the tensors of a `torch.save` file (PyTorch >= 1.6 zip archive: `data.pkl` plus one
//! raw little-endian storage per tensor under `data/`) without Python.
//!
//! A minimal pickle machine: enough opcodes for state_dicts and checkpoint dicts (protocols
//! 2-5), tensors rebuilt from `torch._utils._rebuild_tensor_v2` / `_rebuild_parameter`. Any
//! other object becomes opaque and is skipped. Nothing in the file is executed.
use std::collections::HashMap;
use std::io::Read;
use std::path::Path;

use tch::{Kind, Tensor};

use crate::error::ModelError;

/// A value on the pickle stack.
#[derive(Debug, Clone)]
enum Value {
    None,
    /// A bool or float (values never needed).
    Scalar,
    Int(i64),
    Str(String),
    Tuple(Vec<Value>),
    List(Vec<Value>),
    Dict(Vec<(Value, Value)>),
    Global(String, String),
    /// `('storage', storage_type, key, location, numel)`.
    PersId(Box<Value>),
    TensorRef {
        key: String,
        kind: Kind,
        offset: i64,
        size: Vec<i64>,
        stride: Vec<i64>,
    },
    Object,
    Mark,
}

struct Machine<'a> {
    data: &'a [u8],
    pos: usize,
    stack: Vec<Value>,
    memo: HashMap<u32, Value>,
}

impl<'a> Machine<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], String> {
        let end = self
            .pos
            .checked_add(n)
            .filter(|&e| e <= self.data.len())
            .ok_or("truncated pickle")?;
        let s = &self.data[self.pos..end];
        self.pos = end;
        Ok(s)
    }
    fn u8(&mut self) -> Result<u8, String> {
        Ok(self.take(1)?[0])
    }
    fn u32(&mut self) -> Result<u32, String> {
        Ok(u32::from_le_bytes(self.take(4)?.try_into().unwrap()))
    }
    fn pop(&mut self) -> Result<Value, String> {
        self.stack
            .pop()
            .ok_or_else(|| "pickle stack underflow".to_string())
    }
    fn pop_mark(&mut self) -> Result<Vec<Value>, String> {
        let at = self
            .stack
            .iter()
            .rposition(|v| matches!(v, Value::Mark))
            .ok_or("pickle MARK missing")?;
        let items = self.stack.split_off(at + 1);
        self.stack.pop();
        Ok(items)
    }
    fn line(&mut self) -> Result<String, String> {
        let rest = &self.data[self.pos..];
        let n = rest
            .iter()
            .position(|&b| b == b'\n')
            .ok_or("unterminated GLOBAL")?;
        let s = String::from_utf8_lossy(&rest[..n]).into_owned();
        self.pos += n + 1;
        Ok(s)
    }
    fn string(&mut self, n: usize) -> Result<Value, String> {
        Ok(Value::Str(
            String::from_utf8_lossy(self.take(n)?).into_owned(),
        ))
    }

    fn run(&mut self) -> Result<Value, String> {
        loop {
            let op = self.u8()?;
            match op {
                0x80 => {
                    self.u8()?;
                }
                0x95 => {
                    self.take(8)?;
                }
                b'.' => return self.pop(),
                b'}' => self.stack.push(Value::Dict(vec![])),
                b']' => self.stack.push(Value::List(vec![])),
                b')' => self.stack.push(Value::Tuple(vec![])),
                b'N' => self.stack.push(Value::None),
                0x88 => self.stack.push(Value::Scalar),
                0x89 => self.stack.push(Value::Scalar),
                b'(' => self.stack.push(Value::Mark),
                b't' => {
                    let items = self.pop_mark()?;
                    self.stack.push(Value::Tuple(items));
                }
                0x85..=0x87 => {
                    let n = (op - 0x84) as usize;
                    let items = self.stack.split_off(
                        self.stack
                            .len()
                            .checked_sub(n)
                            .ok_or("pickle stack underflow")?,
                    );
                    self.stack.push(Value::Tuple(items));
                }
                b'q' => {
                    let k = self.u8()? as u32;
                    self.memo
                        .insert(k, self.stack.last().cloned().ok_or("empty stack")?);
                }
                b'r' => {
                    let k = self.u32()?;
                    self.memo
                        .insert(k, self.stack.last().cloned().ok_or("empty stack")?);
                }
                0x94 => {
                    let k = self.memo.len() as u32;
                    self.memo
                        .insert(k, self.stack.last().cloned().ok_or("empty stack")?);
                }
                b'h' | b'j' => {
                    let k = if op == b'h' {
                        self.u8()? as u32
                    } else {
                        self.u32()?
                    };
                    let v = self
                        .memo
                        .get(&k)
                        .cloned()
                        .ok_or(format!("pickle memo {k} missing"))?;
                    self.stack.push(v);
                }
                b'X' | b'T' | b'B' => {
                    let n = self.u32()? as usize;
                    let v = self.string(n)?;
                    self.stack.push(v);
                }
                0x8c | b'U' | b'C' => {
                    let n = self.u8()? as usize;
                    let v = self.string(n)?;
                    self.stack.push(v);
                }
                b'K' => {
                    let v = self.u8()? as i64;
                    self.stack.push(Value::Int(v));
                }
                b'M' => {
                    let b = self.take(2)?;
                    self.stack
                        .push(Value::Int(u16::from_le_bytes([b[0], b[1]]) as i64));
                }
                b'J' => {
                    let v = self.u32()? as i32 as i64;
                    self.stack.push(Value::Int(v));
                }
                0x8a => {
                    let n = self.u8()? as usize;
                    let b = self.take(n)?;
                    let mut v: i64 = 0;
                    for (i, &byte) in b.iter().enumerate().take(8) {
                        v |= (byte as i64) << (8 * i);
                    }
                    if n > 0 && n < 8 && b[n - 1] & 0x80 != 0 {
                        v -= 1i64 << (8 * n);
                    }
                    self.stack.push(Value::Int(v));
                }
                b'G' => {
                    self.take(8)?;
                    self.stack.push(Value::Scalar);
                }
                b'c' => {
                    let (m, n) = (self.line()?, self.line()?);
                    self.stack.push(Value::Global(m, n));
                }
                0x93 => {
                    let n = self.pop()?;
                    let m = self.pop()?;
                    match (m, n) {
                        (Value::Str(m), Value::Str(n)) => self.stack.push(Value::Global(m, n)),
                        _ => return Err("STACK_GLOBAL needs two strings".into()),
                    }
                }
                b'Q' => {
                    let pid = self.pop()?;
                    self.stack.push(Value::PersId(Box::new(pid)));
                }
                b'R' => {
                    let args = self.pop()?;
                    let f = self.pop()?;
                    self.stack.push(reduce(f, args)?);
                }
                0x81 => {
                    self.pop()?;
                    self.pop()?;
                    self.stack.push(Value::Object);
                }
                b'b' => {
                    self.pop()?; // state: OrderedDict metadata or object state, not needed
                }
                b's' => {
                    let v = self.pop()?;
                    let k = self.pop()?;
                    if let Some(Value::Dict(d)) = self.stack.last_mut() {
                        d.push((k, v));
                    }
                }
                b'u' => {
                    let items = self.pop_mark()?;
                    if let Some(Value::Dict(d)) = self.stack.last_mut() {
                        let mut it = items.into_iter();
                        while let (Some(k), Some(v)) = (it.next(), it.next()) {
                            d.push((k, v));
                        }
                    }
                }
                b'a' => {
                    let v = self.pop()?;
                    if let Some(Value::List(l)) = self.stack.last_mut() {
                        l.push(v);
                    }
                }
                b'e' => {
                    let items = self.pop_mark()?;
                    if let Some(Value::List(l)) = self.stack.last_mut() {
                        l.extend(items);
                    }
                }
                _ => {
                    return Err(format!(
                        "unsupported pickle opcode 0x{op:02x} at byte {}",
                        self.pos - 1
                    ))
                }
            }
        }
    }
}

fn ints(v: &Value) -> Result<Vec<i64>, String> {
    match v {
        Value::Tuple(items) | Value::List(items) => items
            .iter()
            .map(|i| match i {
                Value::Int(n) => Ok(*n),
                _ => Err("non-integer in tensor size/stride".to_string()),
            })
            .collect(),
        _ => Err("tensor size/stride is not a tuple".into()),
    }
}

fn storage_kind(name: &str) -> Result<Kind, String> {
    Ok(match name {
        "FloatStorage" => Kind::Float,
        "DoubleStorage" => Kind::Double,
        "HalfStorage" => Kind::Half,
        "BFloat16Storage" => Kind::BFloat16,
        "LongStorage" => Kind::Int64,
        "IntStorage" => Kind::Int,
        "ShortStorage" => Kind::Int16,
        "CharStorage" => Kind::Int8,
        "ByteStorage" => Kind::Uint8,
        "BoolStorage" => Kind::Bool,
        other => return Err(format!("unsupported storage type {other}")),
    })
}

/// Applies a REDUCE: the tensor rebuilders and OrderedDict; anything else is opaque.
fn reduce(f: Value, args: Value) -> Result<Value, String> {
    let Value::Global(m, n) = &f else {
        return Ok(Value::Object);
    };
    let Value::Tuple(a) = args else {
        return Ok(Value::Object);
    };
    match (m.as_str(), n.as_str()) {
        ("collections", "OrderedDict") => Ok(Value::Dict(vec![])),
        ("torch._utils", "_rebuild_tensor_v2") | ("torch._utils", "_rebuild_tensor") => {
            let (Some(Value::PersId(pid)), Some(Value::Int(offset)), Some(size), Some(stride)) =
                (a.first(), a.get(1), a.get(2), a.get(3))
            else {
                return Err("malformed _rebuild_tensor_v2 arguments".into());
            };
            let Value::Tuple(p) = pid.as_ref() else {
                return Err("malformed storage id".into());
            };
            let (Some(Value::Global(_, ty)), Some(Value::Str(key))) = (p.get(1), p.get(2)) else {
                return Err("malformed storage id".into());
            };
            Ok(Value::TensorRef {
                key: key.clone(),
                kind: storage_kind(ty)?,
                offset: *offset,
                size: ints(size)?,
                stride: ints(stride)?,
            })
        }
        ("torch._utils", "_rebuild_parameter")
        | ("torch._utils", "_rebuild_parameter_with_state") => {
            Ok(a.into_iter().next().unwrap_or(Value::Object))
        }
        _ => Ok(Value::Object),
    }
}

/// Collects (dotted name, tensor ref) pairs from nested dicts.
fn collect(prefix: &str, v: Value, out: &mut Vec<(String, Value)>) {
    match v {
        Value::Dict(items) => {
            for (k, v) in items {
                let key = match k {
                    Value::Str(s) => s,
                    Value::Int(i) => i.to_string(),
                    _ => continue,
                };
                let name = if prefix.is_empty() {
                    key
                } else {
                    format!("{prefix}.{key}")
                };
                collect(&name, v, out);
            }
        }
        t @ Value::TensorRef { .. } => out.push((prefix.to_string(), t)),
        _ => {}
    }
}

/// Reads every tensor of a `torch.save` zip archive, named by its path of dict keys joined with
/// dots (`{"state_dict": {"conv1.weight": t}}` gives `state_dict.conv1.weight`).
pub fn read_torch_file(path: &Path) -> Result<Vec<(String, Tensor)>, ModelError> {
    let err = |m: String| ModelError::Weights(format!("{}: {m}", path.display()));
    let file = std::fs::File::open(path).map_err(|e| err(format!("cannot open: {e}")))?;
    let mut zip = zip::ZipArchive::new(file).map_err(|e| {
        err(format!(
            "not a torch.save zip archive ({e}); legacy (pre-1.6 or _use_new_zipfile_serialization=False) \
             files are not supported: re-save with torch.save or convert to .safetensors"
        ))
    })?;
    let pkl_name = zip
        .file_names()
        .find(|n| n.ends_with("data.pkl"))
        .map(str::to_string)
        .ok_or_else(|| err("archive has no data.pkl".into()))?;
    let root = pkl_name.trim_end_matches("data.pkl").to_string();
    let mut pkl = Vec::new();
    zip.by_name(&pkl_name)
        .and_then(|mut f| f.read_to_end(&mut pkl).map_err(Into::into))
        .map_err(|e| err(format!("cannot read {pkl_name}: {e}")))?;
    let mut m = Machine {
        data: &pkl,
        pos: 0,
        stack: vec![],
        memo: HashMap::new(),
    };
    let top = m
        .run()
        .map_err(|e| err(format!("cannot parse {pkl_name}: {e}")))?;
    let mut refs = Vec::new();
    collect("", top, &mut refs);
    let mut storages: HashMap<String, Vec<u8>> = HashMap::new();
    let mut out = Vec::with_capacity(refs.len());
    for (name, r) in refs {
        let Value::TensorRef {
            key,
            kind,
            offset,
            size,
            stride,
        } = r
        else {
            continue;
        };
        if !storages.contains_key(&key) {
            let entry = format!("{root}data/{key}");
            let mut buf = Vec::new();
            zip.by_name(&entry)
                .and_then(|mut f| f.read_to_end(&mut buf).map_err(Into::into))
                .map_err(|e| err(format!("cannot read storage {entry} of {name}: {e}")))?;
            storages.insert(key.clone(), buf);
        }
        let bytes = &storages[&key];
        let elt = kind.elt_size_in_bytes() as i64;
        let numel = bytes.len() as i64 / elt;
        let span = offset
            + size
                .iter()
                .zip(&stride)
                .map(|(s, st)| (s - 1).max(0) * st)
                .sum::<i64>();
        if size.iter().all(|&s| s > 0) && span >= numel {
            return Err(err(format!(
                "tensor {name} reaches past its storage ({numel} elements)"
            )));
        }
        let storage = Tensor::from_data_size(bytes, &[numel], kind);
        let t = storage
            .as_strided(size.as_slice(), stride.as_slice(), offset)
            .contiguous();
        out.push((name, t));
    }
    Ok(out)
}
