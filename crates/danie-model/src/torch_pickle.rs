//! Reads the tensors of a `torch.save` file (PyTorch >= 1.6 zip archive: `data.pkl` plus one
//! raw little-endian storage per tensor under `data/`) without Python.
//!
//! A minimal pickle machine: enough opcodes for state_dicts and checkpoint dicts (protocols
//! 2-5), tensors rebuilt from `torch._utils._rebuild_tensor_v2` / `_rebuild_parameter`. Any
//! other object becomes opaque and is skipped. Nothing in the file is executed.
//!
//! The file is hostile until checked, so everything it claims is bounded before it costs
//! memory or time:
//! - memo entries and stack copies share their contents (`Rc`), so `BINGET` is O(1) and a few
//!   hundred bytes cannot expand into gigabytes; copy-on-write of a shared container is charged
//!   to a work budget proportional to the pickle's length;
//! - containers nest at most [`MAX_DEPTH`] deep (no stack overflow building, walking or
//!   dropping them), and walking the dicts for tensors visits at most a budget of entries;
//! - `data.pkl` is at most [`MAX_PICKLE_BYTES`], and strings cannot claim more than it holds;
//! - every tensor view (dtype, sizes, strides, offset) is checked against its storage's real
//!   byte length with checked arithmetic, and must not overlap itself, before any libtorch call;
//! - storages are read through `take(declared + 1)` and must match the size the pickle declares;
//!   their sum is bounded by the decoded-size budget (`DANIE_MAX_DECODED_BYTES`, see
//!   [`danie_limits`]), so a deflated entry cannot become a zip bomb.
use std::collections::{BTreeMap, HashMap};
use std::io::Read;
use std::path::Path;
use std::rc::Rc;

use danie_limits::{human_bytes, max_decoded_bytes, MAX_DECODED_BYTES_ENV};
use tch::{Device, Kind, Tensor};

use crate::error::ModelError;

/// Largest `data.pkl` read: a state_dict's pickle is a few hundred bytes per tensor (kilobytes
/// to a few megabytes for real models); the tensors themselves live in the storages.
pub const MAX_PICKLE_BYTES: u64 = 64 << 20;
/// Deepest container nesting accepted (checkpoints nest dicts 2-4 deep).
pub const MAX_DEPTH: usize = 100;
/// Most dimensions of one tensor (libtorch's own limit is 64).
const MAX_DIMS: usize = 64;
/// Longest dotted tensor name.
const MAX_NAME_BYTES: usize = 4096;

/// A value on the pickle stack. Containers are shared (`Rc`), never deep-copied, and carry
/// their nesting depth, fixed when they are built (they are immutable once shared).
#[derive(Debug, Clone)]
enum Value {
    None,
    /// A bool or float (values never needed).
    Scalar,
    Int(i64),
    Str(Rc<str>),
    Tuple(Rc<Vec<Value>>, usize),
    List(Rc<Vec<Value>>, usize),
    Dict(Rc<Vec<(Value, Value)>>, usize),
    Global(Rc<str>, Rc<str>),
    /// `('storage', storage_type, key, location, numel)`.
    PersId(Rc<Value>, usize),
    TensorRef(Rc<TensorRef>),
    Object,
    Mark,
}

/// A tensor as the pickle describes it: a view into a storage.
#[derive(Debug)]
struct TensorRef {
    key: Rc<str>,
    kind: Kind,
    /// Elements the pickle says the storage holds (absent in old files).
    storage_numel: Option<i64>,
    offset: i64,
    size: Vec<i64>,
    stride: Vec<i64>,
}

impl Value {
    fn depth(&self) -> usize {
        match self {
            Value::Tuple(_, d) | Value::List(_, d) | Value::Dict(_, d) | Value::PersId(_, d) => *d,
            _ => 0,
        }
    }
}

/// The depth of a container holding values of depth `child`, or an error past [`MAX_DEPTH`].
fn nest(child: usize) -> Result<usize, String> {
    let d = child + 1;
    if d > MAX_DEPTH {
        return Err(format!(
            "containers nested more than {MAX_DEPTH} deep (a crafted file?)"
        ));
    }
    Ok(d)
}

fn max_depth<'a>(items: impl Iterator<Item = &'a Value>) -> usize {
    items.map(Value::depth).max().unwrap_or(0)
}

struct Machine<'a> {
    data: &'a [u8],
    pos: usize,
    stack: Vec<Value>,
    memo: HashMap<u32, Value>,
    /// Elements copied by copy-on-write of shared containers, and its budget.
    work: usize,
    work_budget: usize,
}

impl<'a> Machine<'a> {
    fn new(data: &'a [u8]) -> Self {
        Self {
            data,
            pos: 0,
            stack: vec![],
            memo: HashMap::new(),
            work: 0,
            work_budget: data.len().saturating_mul(8).max(1 << 20),
        }
    }

    fn charge(&mut self, n: usize) -> Result<(), String> {
        self.work = self.work.saturating_add(n);
        if self.work > self.work_budget {
            return Err(format!(
                "the pickle copies more than {} values (a crafted file?)",
                self.work_budget
            ));
        }
        Ok(())
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8], String> {
        let end = self
            .pos
            .checked_add(n)
            .filter(|&e| e <= self.data.len())
            .ok_or_else(|| {
                format!(
                    "truncated pickle: {n} bytes claimed at byte {}, {} left",
                    self.pos,
                    self.data.len().saturating_sub(self.pos)
                )
            })?;
        let s = self.data.get(self.pos..end).ok_or("truncated pickle")?;
        self.pos = end;
        Ok(s)
    }
    fn array<const N: usize>(&mut self) -> Result<[u8; N], String> {
        let mut a = [0u8; N];
        a.copy_from_slice(self.take(N)?);
        Ok(a)
    }
    fn u8(&mut self) -> Result<u8, String> {
        Ok(self.array::<1>()?[0])
    }
    fn u32(&mut self) -> Result<u32, String> {
        Ok(u32::from_le_bytes(self.array()?))
    }
    fn pop(&mut self) -> Result<Value, String> {
        self.stack
            .pop()
            .ok_or_else(|| "pickle stack underflow".to_string())
    }
    fn top(&self) -> Result<Value, String> {
        self.stack
            .last()
            .cloned()
            .ok_or_else(|| "memo of an empty stack".to_string())
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
    fn line(&mut self) -> Result<Rc<str>, String> {
        let rest = self.data.get(self.pos..).unwrap_or_default();
        let n = rest
            .iter()
            .position(|&b| b == b'\n')
            .ok_or("unterminated GLOBAL")?;
        let s = String::from_utf8_lossy(self.take(n)?).into();
        self.take(1)?;
        Ok(s)
    }
    fn string(&mut self, n: usize) -> Result<Value, String> {
        Ok(Value::Str(String::from_utf8_lossy(self.take(n)?).into()))
    }
    fn tuple(&mut self, items: Vec<Value>) -> Result<(), String> {
        let d = nest(max_depth(items.iter()))?;
        self.stack.push(Value::Tuple(Rc::new(items), d));
        Ok(())
    }

    /// Appends `items` to the list on top of the stack (anything else ignores them, as the
    /// state of an opaque object).
    fn extend_list(&mut self, items: Vec<Value>) -> Result<(), String> {
        let child = max_depth(items.iter());
        let Some(Value::List(l, d)) = self.stack.last_mut() else {
            return Ok(());
        };
        let depth = (*d).max(nest(child)?);
        let copied = if Rc::strong_count(l) > 1 { l.len() } else { 0 };
        Rc::make_mut(l).extend(items);
        *d = depth;
        self.charge(copied)
    }

    /// Adds `pairs` to the dict on top of the stack (anything else ignores them).
    fn extend_dict(&mut self, pairs: Vec<(Value, Value)>) -> Result<(), String> {
        let child = max_depth(pairs.iter().flat_map(|(k, v)| [k, v]));
        let Some(Value::Dict(m, d)) = self.stack.last_mut() else {
            return Ok(());
        };
        let depth = (*d).max(nest(child)?);
        let copied = if Rc::strong_count(m) > 1 { m.len() } else { 0 };
        Rc::make_mut(m).extend(pairs);
        *d = depth;
        self.charge(copied)
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
                b'}' => self.stack.push(Value::Dict(Rc::default(), 1)),
                b']' => self.stack.push(Value::List(Rc::default(), 1)),
                b')' => self.stack.push(Value::Tuple(Rc::default(), 1)),
                b'N' => self.stack.push(Value::None),
                0x88 | 0x89 => self.stack.push(Value::Scalar),
                b'(' => self.stack.push(Value::Mark),
                b't' => {
                    let items = self.pop_mark()?;
                    self.tuple(items)?;
                }
                0x85..=0x87 => {
                    let n = usize::from(op - 0x84);
                    let at = self
                        .stack
                        .len()
                        .checked_sub(n)
                        .ok_or("pickle stack underflow")?;
                    let items = self.stack.split_off(at);
                    self.tuple(items)?;
                }
                b'q' => {
                    let k = u32::from(self.u8()?);
                    let v = self.top()?;
                    self.memo.insert(k, v);
                }
                b'r' => {
                    let k = self.u32()?;
                    let v = self.top()?;
                    self.memo.insert(k, v);
                }
                0x94 => {
                    let k = u32::try_from(self.memo.len()).map_err(|_| "memo overflow")?;
                    let v = self.top()?;
                    self.memo.insert(k, v);
                }
                b'h' | b'j' => {
                    let k = if op == b'h' {
                        u32::from(self.u8()?)
                    } else {
                        self.u32()?
                    };
                    // A shared reference: O(1), whatever the value holds.
                    let v = self
                        .memo
                        .get(&k)
                        .cloned()
                        .ok_or(format!("pickle memo {k} missing"))?;
                    self.stack.push(v);
                }
                b'X' | b'T' | b'B' => {
                    // The length is checked against the bytes left before anything is copied.
                    let n = self.u32()? as usize;
                    let v = self.string(n)?;
                    self.stack.push(v);
                }
                0x8c | b'U' | b'C' => {
                    let n = usize::from(self.u8()?);
                    let v = self.string(n)?;
                    self.stack.push(v);
                }
                b'K' => {
                    let v = i64::from(self.u8()?);
                    self.stack.push(Value::Int(v));
                }
                b'M' => {
                    let v = i64::from(u16::from_le_bytes(self.array()?));
                    self.stack.push(Value::Int(v));
                }
                b'J' => {
                    let v = i64::from(i32::from_le_bytes(self.array()?));
                    self.stack.push(Value::Int(v));
                }
                0x8a => {
                    let n = usize::from(self.u8()?);
                    let b = self.take(n)?;
                    if n > 8 {
                        return Err(format!("LONG1 integer of {n} bytes does not fit 64 bits"));
                    }
                    let mut v: i64 = 0;
                    for (i, &byte) in b.iter().enumerate() {
                        v |= i64::from(byte) << (8 * i);
                    }
                    if let Some(&last) = b.last() {
                        if n < 8 && last & 0x80 != 0 {
                            v -= 1i64 << (8 * n);
                        }
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
                    let d = nest(pid.depth())?;
                    self.stack.push(Value::PersId(Rc::new(pid), d));
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
                    self.extend_dict(vec![(k, v)])?;
                }
                b'u' => {
                    let items = self.pop_mark()?;
                    let mut pairs = Vec::with_capacity(items.len() / 2);
                    let mut it = items.into_iter();
                    while let (Some(k), Some(v)) = (it.next(), it.next()) {
                        pairs.push((k, v));
                    }
                    self.extend_dict(pairs)?;
                }
                b'a' => {
                    let v = self.pop()?;
                    self.extend_list(vec![v])?;
                }
                b'e' => {
                    let items = self.pop_mark()?;
                    self.extend_list(items)?;
                }
                _ => {
                    return Err(format!(
                        "unsupported pickle opcode 0x{op:02x} at byte {}",
                        self.pos.saturating_sub(1)
                    ))
                }
            }
        }
    }
}

fn ints(v: &Value, what: &str) -> Result<Vec<i64>, String> {
    match v {
        Value::Tuple(items, _) | Value::List(items, _) => {
            if items.len() > MAX_DIMS {
                return Err(format!(
                    "tensor {what} has {} dimensions (at most {MAX_DIMS})",
                    items.len()
                ));
            }
            items
                .iter()
                .map(|i| match i {
                    Value::Int(n) => Ok(*n),
                    _ => Err(format!("non-integer in tensor {what}")),
                })
                .collect()
        }
        _ => Err(format!("tensor {what} is not a tuple")),
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
    let Value::Tuple(a, _) = args else {
        return Ok(Value::Object);
    };
    match (m.as_ref(), n.as_ref()) {
        ("collections", "OrderedDict") => Ok(Value::Dict(Rc::default(), 1)),
        ("torch._utils", "_rebuild_tensor_v2") | ("torch._utils", "_rebuild_tensor") => {
            let (Some(Value::PersId(pid, _)), Some(Value::Int(offset)), Some(size), Some(stride)) =
                (a.first(), a.get(1), a.get(2), a.get(3))
            else {
                return Err("malformed _rebuild_tensor_v2 arguments".into());
            };
            let Value::Tuple(p, _) = pid.as_ref() else {
                return Err("malformed storage id".into());
            };
            let (Some(Value::Global(_, ty)), Some(Value::Str(key))) = (p.get(1), p.get(2)) else {
                return Err("malformed storage id".into());
            };
            let storage_numel = match p.get(4) {
                Some(Value::Int(n)) => Some(*n),
                _ => None,
            };
            Ok(Value::TensorRef(Rc::new(TensorRef {
                key: key.clone(),
                kind: storage_kind(ty)?,
                storage_numel,
                offset: *offset,
                size: ints(size, "size")?,
                stride: ints(stride, "stride")?,
            })))
        }
        ("torch._utils", "_rebuild_parameter")
        | ("torch._utils", "_rebuild_parameter_with_state") => {
            Ok(a.first().cloned().unwrap_or(Value::Object))
        }
        _ => Ok(Value::Object),
    }
}

/// Walks nested dicts for tensors, within a budget of visited entries (shared sub-dicts are
/// visited once per reference, so a budget keeps a dict-of-the-same-dict chain linear).
struct Collector {
    out: Vec<(String, Rc<TensorRef>)>,
    visits: usize,
    budget: usize,
}

impl Collector {
    fn collect(&mut self, prefix: &str, v: &Value) -> Result<(), String> {
        match v {
            Value::Dict(items, _) => {
                for (k, v) in items.iter() {
                    self.visits += 1;
                    if self.visits > self.budget {
                        return Err(format!(
                            "the pickle's dicts hold more than {} entries once shared ones are \
                             expanded (a crafted file?)",
                            self.budget
                        ));
                    }
                    let key = match k {
                        Value::Str(s) => s.to_string(),
                        Value::Int(i) => i.to_string(),
                        _ => continue,
                    };
                    let name = if prefix.is_empty() {
                        key
                    } else {
                        format!("{prefix}.{key}")
                    };
                    if name.len() > MAX_NAME_BYTES {
                        return Err(format!(
                            "a tensor name is longer than {MAX_NAME_BYTES} bytes"
                        ));
                    }
                    self.collect(&name, v)?;
                }
            }
            Value::TensorRef(t) => self.out.push((prefix.to_string(), t.clone())),
            _ => {}
        }
        Ok(())
    }
}

/// Checks a view of `storage_numel` elements: sizes, strides and offset non-negative, no
/// zero stride on a dimension longer than 1 (a broadcast: gigabytes from a few bytes), no
/// self-overlap, and the last element inside the storage, with checked arithmetic. Returns
/// the view's element count.
fn check_view(t: &TensorRef, storage_numel: i64) -> Result<i64, String> {
    let (size, stride) = (&t.size, &t.stride);
    if size.len() != stride.len() {
        return Err(format!(
            "size {size:?} and stride {stride:?} have different lengths"
        ));
    }
    if t.offset < 0 || size.iter().any(|&s| s < 0) || stride.iter().any(|&s| s < 0) {
        return Err(format!(
            "negative size, stride or offset (size {size:?}, stride {stride:?}, offset {})",
            t.offset
        ));
    }
    let too_big = || format!("size {size:?} has more elements than fit in 64 bits");
    let numel = size
        .iter()
        .try_fold(1i64, |acc, &s| acc.checked_mul(s))
        .ok_or_else(too_big)?;
    if numel == 0 {
        return Ok(0);
    }
    // Non-overlap: with the dimensions longer than 1 ordered by stride, each stride must step
    // over the whole extent of the previous ones.
    let mut dims: Vec<(i64, i64)> = stride
        .iter()
        .zip(size)
        .filter(|&(_, &s)| s > 1)
        .map(|(&st, &s)| (st, s))
        .collect();
    dims.sort_unstable();
    let mut reach = 1i64; // elements spanned by the dimensions so far, from the first
    for &(st, s) in &dims {
        if st == 0 {
            return Err(format!(
                "stride 0 on a dimension of size {s} (size {size:?}, stride {stride:?}): a \
                 broadcast view, not stored weights"
            ));
        }
        if st < reach {
            return Err(format!(
                "size {size:?} with stride {stride:?} overlaps itself"
            ));
        }
        reach = (s - 1)
            .checked_mul(st)
            .and_then(|x| x.checked_add(reach))
            .ok_or_else(too_big)?;
    }
    let last = dims
        .iter()
        .try_fold(t.offset, |acc, &(st, s)| {
            (s - 1).checked_mul(st).and_then(|x| acc.checked_add(x))
        })
        .ok_or_else(too_big)?;
    if last >= storage_numel {
        return Err(format!(
            "offset {} with size {size:?} and stride {stride:?} reaches element {last}, past \
             its storage of {storage_numel} elements",
            t.offset
        ));
    }
    Ok(numel)
}

/// Reads every tensor of a `torch.save` zip archive, named by its path of dict keys joined with
/// dots (`{"state_dict": {"conv1.weight": t}}` gives `state_dict.conv1.weight`).
pub fn read_torch_file(path: &Path) -> Result<Vec<(String, Tensor)>, ModelError> {
    let err = |m: String| ModelError::Weights(format!("{}: {m}", path.display()));
    let file = std::fs::File::open(path).map_err(|e| err(format!("cannot open: {e}")))?;
    let file_len = file
        .metadata()
        .map_err(|e| err(format!("cannot open: {e}")))?
        .len();
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
    if let Ok(f) = zip.by_name(&format!("{root}byteorder")) {
        let mut order = String::new();
        f.take(16)
            .read_to_string(&mut order)
            .map_err(|e| err(format!("cannot read {root}byteorder: {e}")))?;
        if order.trim() != "little" {
            return Err(err(format!(
                "storages are {:?}-endian; only little-endian files are supported",
                order.trim()
            )));
        }
    }
    let pkl = read_entry(&mut zip, &pkl_name, MAX_PICKLE_BYTES, file_len)
        .map_err(|m| err(format!("{pkl_name}: {m}")))?;
    let mut m = Machine::new(&pkl);
    let top = m
        .run()
        .map_err(|e| err(format!("cannot parse {pkl_name}: {e}")))?;
    drop(m);
    let mut c = Collector {
        out: Vec::new(),
        visits: 0,
        budget: pkl.len().saturating_mul(4).max(1 << 16),
    };
    c.collect("", &top)
        .map_err(|e| err(format!("cannot parse {pkl_name}: {e}")))?;
    drop(top);
    let refs = c.out;

    // Storages: their sizes from the archive's directory, checked against the pickle's claim
    // and the decoded-size budget before anything is decompressed.
    let budget = max_decoded_bytes();
    let mut storages: BTreeMap<Rc<str>, (Kind, i64)> = BTreeMap::new();
    let mut total: u64 = 0;
    for (name, r) in &refs {
        if let Some((kind, _)) = storages.get(&r.key) {
            if *kind != r.kind {
                return Err(err(format!(
                    "tensor {name}: storage {} is read as two dtypes",
                    r.key
                )));
            }
            continue;
        }
        let entry = format!("{root}data/{}", r.key);
        let declared = zip
            .by_name(&entry)
            .map(|f| f.size())
            .map_err(|e| err(format!("tensor {name}: cannot find storage {entry}: {e}")))?;
        let elt = r.kind.elt_size_in_bytes() as u64;
        if declared % elt != 0 {
            return Err(err(format!(
                "tensor {name}: storage {entry} holds {declared} bytes, not a whole number of \
                 {:?} elements",
                r.kind
            )));
        }
        let numel = i64::try_from(declared / elt)
            .map_err(|_| err(format!("tensor {name}: storage {entry} is too large")))?;
        if let Some(n) = r.storage_numel.filter(|&n| n != numel) {
            return Err(err(format!(
                "tensor {name}: the pickle declares {n} elements for storage {entry}, the \
                 archive holds {numel}"
            )));
        }
        total = total.saturating_add(declared);
        if total > budget {
            return Err(err(format!(
                "the storages take more than {} once decompressed, over the limit of {} \
                 (raise it with {MAX_DECODED_BYTES_ENV}, e.g. {MAX_DECODED_BYTES_ENV}=64G)",
                human_bytes(total),
                human_bytes(budget)
            )));
        }
        storages.insert(r.key.clone(), (r.kind, numel));
    }
    // Every view inside its storage; views together at most a few times the storages (tied
    // weights share one storage; more is a crafted file).
    let mut view_bytes: u64 = 0;
    for (name, r) in &refs {
        let numel = storages.get(&r.key).map_or(0, |s| s.1);
        let n = check_view(r, numel).map_err(|m| err(format!("tensor {name}: {m}")))?;
        view_bytes =
            view_bytes.saturating_add((n as u64).saturating_mul(r.kind.elt_size_in_bytes() as u64));
    }
    if view_bytes > total.saturating_mul(4).max(1 << 20) {
        return Err(err(format!(
            "the tensors take {} but their storages only {}: the same storage is viewed too \
             many times (a crafted file?)",
            human_bytes(view_bytes),
            human_bytes(total)
        )));
    }

    let mut tensors: HashMap<Rc<str>, Tensor> = HashMap::new();
    let mut out = Vec::with_capacity(refs.len());
    for (name, r) in refs {
        let Some(&(kind, numel)) = storages.get(&r.key) else {
            continue;
        };
        if !tensors.contains_key(&r.key) {
            let entry = format!("{root}data/{}", r.key);
            let bytes = numel as u64 * kind.elt_size_in_bytes() as u64;
            let buf = read_entry(&mut zip, &entry, bytes, file_len)
                .map_err(|m| err(format!("tensor {name}: storage {entry}: {m}")))?;
            if buf.len() as u64 != bytes {
                return Err(err(format!(
                    "tensor {name}: storage {entry} holds {} bytes, its directory entry says \
                     {bytes}",
                    buf.len()
                )));
            }
            let t = Tensor::f_from_data_size(&buf, &[numel], kind)
                .map_err(|e| err(format!("tensor {name}: {e}")))?;
            tensors.insert(r.key.clone(), t);
        }
        let Some(storage) = tensors.get(&r.key) else {
            continue;
        };
        let t = if r.size.contains(&0) {
            Tensor::f_empty(r.size.as_slice(), (kind, Device::Cpu))
        } else {
            storage
                .f_as_strided(r.size.as_slice(), r.stride.as_slice(), r.offset)
                .and_then(|v| v.f_contiguous())
        }
        .map_err(|e| err(format!("tensor {name}: {e}")))?;
        out.push((name, t));
    }
    Ok(out)
}

/// Reads archive entry `name` of at most `limit` bytes, through `take(limit + 1)` so a
/// compressed entry cannot inflate past it, whatever its header says. The first allocation
/// is at most `file_len` (what the file could hold stored); a compressed entry grows the
/// buffer only as its data really decompresses.
fn read_entry<R: Read + std::io::Seek>(
    zip: &mut zip::ZipArchive<R>,
    name: &str,
    limit: u64,
    file_len: u64,
) -> Result<Vec<u8>, String> {
    let f = zip.by_name(name).map_err(|e| format!("cannot read: {e}"))?;
    if f.size() > limit {
        return Err(format!(
            "declares {} once decompressed, over the limit of {}",
            human_bytes(f.size()),
            human_bytes(limit)
        ));
    }
    let first = f.size().min(file_len);
    let mut buf = Vec::with_capacity(usize::try_from(first).unwrap_or(0));
    f.take(limit.saturating_add(1))
        .read_to_end(&mut buf)
        .map_err(|e| format!("cannot read: {e}"))?;
    if buf.len() as u64 > limit {
        return Err(format!(
            "decompresses past {} (a zip bomb?)",
            human_bytes(limit)
        ));
    }
    Ok(buf)
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use zip::write::SimpleFileOptions;
    use zip::CompressionMethod;

    use super::*;

    // Pickle pieces, as torch.save writes them (protocol 2).
    fn int(v: i64) -> Vec<u8> {
        let mut b = vec![0x8a, 8];
        b.extend(v.to_le_bytes());
        b
    }
    fn text(s: &str) -> Vec<u8> {
        let mut b = vec![b'X'];
        b.extend((s.len() as u32).to_le_bytes());
        b.extend(s.as_bytes());
        b
    }
    fn tuple(items: &[Vec<u8>]) -> Vec<u8> {
        let mut b = vec![b'('];
        for i in items {
            b.extend(i);
        }
        b.push(b't');
        b
    }
    /// `_rebuild_tensor_v2(storage, offset, size, stride, False, {})` of a float storage.
    fn tensor(key: &str, numel: i64, offset: i64, size: &[i64], stride: &[i64]) -> Vec<u8> {
        let mut b = b"ctorch._utils\n_rebuild_tensor_v2\n".to_vec();
        let pid = tuple(&[
            text("storage"),
            b"ctorch\nFloatStorage\n".to_vec(),
            text(key),
            text("cpu"),
            int(numel),
        ]);
        let mut pid = pid;
        pid.push(b'Q');
        let ints = |v: &[i64]| tuple(&v.iter().map(|&x| int(x)).collect::<Vec<_>>());
        b.extend(tuple(&[
            pid,
            int(offset),
            ints(size),
            ints(stride),
            vec![0x89],
            vec![b'}'],
        ]));
        b.push(b'R');
        b
    }
    /// `{name: tensor, ...}` as a whole pickle.
    fn state_dict(entries: &[(&str, Vec<u8>)]) -> Vec<u8> {
        let mut b = vec![0x80, 2, b'}', b'('];
        for (k, v) in entries {
            b.extend(text(k));
            b.extend(v);
        }
        b.extend([b'u', b'.']);
        b
    }
    fn floats(n: usize) -> Vec<u8> {
        (0..n).flat_map(|i| (i as f32).to_le_bytes()).collect()
    }
    /// A torch.save archive holding `pkl` and `storages` (name, bytes, deflated?).
    fn write_pth(
        dir: &Path,
        name: &str,
        pkl: &[u8],
        storages: &[(&str, Vec<u8>, bool)],
    ) -> std::path::PathBuf {
        let p = dir.join(name);
        let mut z = zip::ZipWriter::new(std::fs::File::create(&p).unwrap());
        let stored = SimpleFileOptions::default().compression_method(CompressionMethod::Stored);
        z.start_file("archive/data.pkl", stored).unwrap();
        z.write_all(pkl).unwrap();
        for (key, bytes, deflate) in storages {
            let o = if *deflate {
                SimpleFileOptions::default().compression_method(CompressionMethod::Deflated)
            } else {
                stored
            };
            z.start_file(format!("archive/data/{key}"), o).unwrap();
            z.write_all(bytes).unwrap();
        }
        z.finish().unwrap();
        p
    }
    fn read_err(p: &Path) -> String {
        let e = read_torch_file(p).unwrap_err().to_string();
        assert!(e.contains(&p.display().to_string()), "names the file: {e}");
        e
    }

    #[test]
    fn reads_contiguous_and_transposed_views() {
        let dir = tempfile::tempdir().unwrap();
        let pkl = state_dict(&[
            ("a", tensor("0", 6, 0, &[2, 3], &[3, 1])),
            ("t", tensor("0", 6, 0, &[3, 2], &[1, 3])),
            ("tail", tensor("0", 6, 4, &[2], &[1])),
            ("empty", tensor("0", 6, 0, &[0, 5], &[5, 1])),
        ]);
        let p = write_pth(dir.path(), "ok.pth", &pkl, &[("0", floats(6), true)]);
        let got: HashMap<String, Tensor> = read_torch_file(&p).unwrap().into_iter().collect();
        let a = Tensor::arange(6, (Kind::Float, Device::Cpu)).view([2, 3]);
        assert!(got["a"].equal(&a));
        assert!(got["t"].equal(&a.tr()));
        assert_eq!(Vec::<f32>::try_from(&got["tail"]).unwrap(), vec![4.0, 5.0]);
        assert_eq!(got["empty"].size(), vec![0, 5]);
    }

    #[test]
    fn bad_views_are_errors_before_libtorch() {
        let dir = tempfile::tempdir().unwrap();
        let big = 1i64 << 62;
        // (name, offset, size, stride, expected message)
        type Case<'a> = (&'a str, i64, &'a [i64], &'a [i64], &'a str);
        let cases: [Case; 8] = [
            ("zero_stride", 0, &[1_000_000_000], &[0], "stride 0"),
            ("negative_stride", 0, &[2, 3], &[3, -1], "negative"),
            ("negative_size", 0, &[-2, 3], &[3, 1], "negative"),
            ("negative_offset", -1, &[2], &[1], "negative"),
            ("offset_past_end", 100, &[2], &[1], "past its storage"),
            ("overlap", 0, &[3, 3], &[1, 1], "overlaps"),
            ("overflow", 0, &[big, 4], &[4, big], "64 bits"),
            ("overflow_stride", 0, &[2, 2], &[1, i64::MAX], "64 bits"),
        ];
        for (name, offset, size, stride, needle) in cases {
            let pkl = state_dict(&[("w", tensor("0", 6, offset, size, stride))]);
            let p = write_pth(
                dir.path(),
                &format!("{name}.pth"),
                &pkl,
                &[("0", floats(6), false)],
            );
            let e = read_err(&p);
            assert!(e.contains(needle) && e.contains("tensor w"), "{name}: {e}");
        }
    }

    #[test]
    fn storage_sizes_must_agree_and_fit_the_budget() {
        let dir = tempfile::tempdir().unwrap();
        // The pickle claims a billion elements; the archive holds six.
        let pkl = state_dict(&[("w", tensor("0", 1_000_000_000, 0, &[6], &[1]))]);
        let p = write_pth(dir.path(), "claim.pth", &pkl, &[("0", floats(6), false)]);
        assert!(read_err(&p).contains("declares 1000000000 elements"));
        // A missing storage entry.
        let pkl = state_dict(&[("w", tensor("7", 6, 0, &[6], &[1]))]);
        let p = write_pth(dir.path(), "missing.pth", &pkl, &[("0", floats(6), false)]);
        assert!(read_err(&p).contains("archive/data/7"));
        // A deflated storage over the decoded-size budget: refused from its directory entry,
        // before it is inflated (8 MiB of zeros deflate to a few KiB).
        let n = 2 << 20;
        let pkl = state_dict(&[("w", tensor("0", n, 0, &[n], &[1]))]);
        let p = write_pth(
            dir.path(),
            "bomb.pth",
            &pkl,
            &[("0", vec![0u8; 4 * n as usize], true)],
        );
        assert!(std::fs::metadata(&p).unwrap().len() < 64 << 10);
        assert!(read_torch_file(&p).is_ok(), "within the default budget");
        // The budget is read from the environment; a child process keeps this one clean.
        let e = budget_child(&p, "1M");
        assert!(e.contains("over the limit of 1.0 MiB"), "{e}");
    }

    /// Runs `read_torch_file(p)` under `DANIE_MAX_DECODED_BYTES=budget` in this test binary
    /// (the `budget_probe` test below) and returns its output.
    fn budget_child(p: &Path, budget: &str) -> String {
        let out = std::process::Command::new(std::env::current_exe().unwrap())
            .args([
                "--exact",
                "torch_pickle::tests::budget_probe",
                "--nocapture",
            ])
            .env(MAX_DECODED_BYTES_ENV, budget)
            .env("DANIE_PROBE_FILE", p)
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    #[test]
    fn budget_probe() {
        if let Some(p) = std::env::var_os("DANIE_PROBE_FILE") {
            match read_torch_file(Path::new(&p)) {
                Ok(t) => println!("PROBE ok {}", t.len()),
                Err(e) => println!("PROBE err {e}"),
            }
        }
    }

    #[test]
    fn memo_bomb_shares_instead_of_copying() {
        // 60 rounds of "memoize the top, fetch it, pair the two": each round doubles the
        // value's expanded size (2^60 leaves once deep-copied) in 4 bytes.
        let mut pkl = vec![0x80, 2, b']'];
        for _ in 0..60 {
            pkl.extend([b'q', 0, b'h', 0, 0x86]);
        }
        pkl.push(b'.');
        assert!(pkl.len() < 320);
        let mut m = Machine::new(&pkl);
        let v = m.run().unwrap();
        assert_eq!(v.depth(), 61);
        // The same through dicts, which the tensor walk expands: stopped by its budget.
        let mut pkl = vec![0x80, 2, b'}'];
        for _ in 0..60 {
            pkl.extend([b'q', 0, b'}', b'(']);
            pkl.extend(text("a"));
            pkl.extend([b'h', 0]);
            pkl.extend(text("b"));
            pkl.extend([b'h', 0, b'u']);
        }
        pkl.push(b'.');
        let dir = tempfile::tempdir().unwrap();
        let p = write_pth(dir.path(), "dicts.pth", &pkl, &[]);
        assert!(read_err(&p).contains("entries once shared ones are expanded"));
    }

    #[test]
    fn deep_nesting_is_an_error_not_a_stack_overflow() {
        // 100 000 nested lists: "]" then "] a" appends the top list into the one below.
        let mut pkl = vec![0x80, 2];
        pkl.extend(std::iter::repeat_n(b']', 100_000));
        pkl.extend(std::iter::repeat_n(b'a', 99_999));
        pkl.push(b'.');
        let dir = tempfile::tempdir().unwrap();
        let p = write_pth(dir.path(), "deep.pth", &pkl, &[]);
        assert!(read_err(&p).contains("nested more than"));
        // Tuples and persistent ids too.
        let mut pkl = vec![0x80, 2, b'N'];
        pkl.extend(std::iter::repeat_n(0x85, 100_000)); // TUPLE1 of the top
        pkl.push(b'.');
        let p = write_pth(dir.path(), "deep_tuples.pth", &pkl, &[]);
        assert!(read_err(&p).contains("nested more than"));
    }

    #[test]
    fn copy_on_write_is_budgeted() {
        // A list memoized after every append: each append copies it (quadratic), until the
        // work budget stops it.
        let mut pkl = vec![0x80, 2, b']'];
        for _ in 0..20_000 {
            pkl.extend([b'q', 0, b'N', b'a']);
        }
        pkl.push(b'.');
        let mut m = Machine::new(&pkl);
        let e = m.run().unwrap_err();
        assert!(e.contains("copies more than"), "{e}");
    }

    #[test]
    fn hostile_strings_and_integers() {
        let dir = tempfile::tempdir().unwrap();
        // BINUNICODE claiming 4 GB in a few bytes.
        let pkl = [0x80, 2, b'X', 0xff, 0xff, 0xff, 0xff, b'a', b'.'];
        let p = write_pth(dir.path(), "str.pth", &pkl, &[]);
        assert!(read_err(&p).contains("truncated pickle"));
        // LONG1 wider than 64 bits.
        let mut pkl = vec![0x80, 2, 0x8a, 9];
        pkl.extend([1u8; 9]);
        pkl.push(b'.');
        let p = write_pth(dir.path(), "long.pth", &pkl, &[]);
        assert!(read_err(&p).contains("does not fit 64 bits"));
        // Every truncation of a valid pickle is an error, never a panic.
        let good = state_dict(&[("w", tensor("0", 6, 0, &[2, 3], &[3, 1]))]);
        for cut in 0..good.len() {
            let mut m = Machine::new(&good[..cut]);
            assert!(m.run().is_err(), "cut at {cut}");
        }
    }
}
