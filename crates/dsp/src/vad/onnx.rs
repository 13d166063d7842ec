//! A bounded reader of the float tensors stored in an ONNX model file: just
//! enough of the protobuf wire format to pull named weights out of a model,
//! for the hand-written Silero forward pass ([`super::silero`]).
//!
//! Why hand-written: the Silero runner needs 14 float tensors and nothing
//! else from the file (the graph itself is fixed and written out in Rust). A
//! full ONNX runtime (`tract-onnx`) or generated protobuf types (`prost` with
//! `onnx-protobuf`) bring a large dependency tree and minutes of compile time
//! for that. Of the small crates on crates.io, `onnx-rs` (0.1.x, zero
//! dependencies) decodes the whole IR into an AST, and `onnx-extractor`
//! pulls in `prost`; neither promises bounds against hostile input, which
//! this reader must keep because the model file is user input. The
//! wire format is small (varint, 64-bit, length-delimited and 32-bit fields),
//! so ~300 lines with explicit limits are cheaper to trust and maintain.
//!
//! Where tensors live: a graph's `initializer` list, and the `value`
//! attribute of `Constant` nodes; both are searched, recursively through the
//! subgraphs of attributes (an `If`'s branches), to [`MAX_GRAPH_DEPTH`] levels.
//!
//! Bounds: the whole model is at most [`MAX_MODEL_BYTES`]; every length is
//! checked against the bytes that remain before it is used; a tensor's dims
//! must be non-negative, at most [`MAX_DIMS`] of them, and their product must
//! equal the number of stored values. Nothing is allocated from a size read
//! from the file beyond what the file itself holds. Errors name the tensor
//! (or the byte offset) and the cause; the caller adds the file's name.

use std::io::Read;

/// Largest model accepted, in bytes (Silero's is 2.3 MB).
pub const MAX_MODEL_BYTES: usize = 64 << 20;
/// Deepest nesting of subgraphs searched (Silero's is 2).
pub const MAX_GRAPH_DEPTH: usize = 8;
/// Most dimensions a tensor may have.
pub const MAX_DIMS: usize = 8;

/// ONNX `TensorProto.DataType.FLOAT`.
const DATA_TYPE_FLOAT: u64 = 1;
/// ONNX `TensorProto.DataLocation.EXTERNAL`.
const DATA_LOCATION_EXTERNAL: u64 = 1;

/// Why tensors could not be read from a model. The caller adds the file name.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum OnnxError {
    /// The model holds no bytes.
    #[error("model is empty (0 bytes)")]
    Empty,
    /// The model is over [`MAX_MODEL_BYTES`].
    #[error("model is over the {max}-byte limit")]
    TooLarge {
        /// The limit.
        max: usize,
    },
    /// Reading the model failed.
    #[error("reading the model failed after {offset} bytes: {source}")]
    Io {
        /// Bytes read before the failure.
        offset: usize,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The bytes are not a well-formed protobuf message of the expected shape.
    #[error("not a valid ONNX model: {cause} at byte {offset}")]
    Malformed {
        /// Absolute byte offset where parsing stopped.
        offset: usize,
        /// What is wrong there.
        cause: &'static str,
    },
    /// Subgraphs nest deeper than [`MAX_GRAPH_DEPTH`].
    #[error("subgraphs nested deeper than {max} levels at byte {offset}")]
    TooDeep {
        /// The limit.
        max: usize,
        /// Where the too-deep graph starts.
        offset: usize,
    },
    /// A tensor that was asked for is inconsistent.
    #[error("tensor {name:?}: {cause}")]
    BadTensor {
        /// The tensor's name.
        name: String,
        /// What is wrong with it.
        cause: String,
    },
}

/// A float tensor read from a model: its name, shape and values (row-major).
#[derive(Debug, Clone, PartialEq)]
pub struct FloatTensor {
    /// The tensor's name (for a `Constant` without one, the node's output).
    pub name: String,
    /// Its shape.
    pub dims: Vec<usize>,
    /// Its values, `dims.iter().product()` of them.
    pub data: Vec<f32>,
}

/// Reads a whole model from `reader`, refusing more than [`MAX_MODEL_BYTES`].
pub fn read_model(reader: impl Read) -> Result<Vec<u8>, OnnxError> {
    let mut bytes = Vec::new();
    // One byte past the limit tells "exactly at the limit" from "over it".
    let mut limited = reader.take(MAX_MODEL_BYTES as u64 + 1);
    loop {
        let mut chunk = [0u8; 64 * 1024];
        match limited.read(&mut chunk) {
            Ok(0) => break,
            Ok(n) => bytes.extend_from_slice(&chunk[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(source) => {
                return Err(OnnxError::Io {
                    offset: bytes.len(),
                    source,
                })
            }
        }
    }
    check_size(bytes.len())?;
    Ok(bytes)
}

fn check_size(len: usize) -> Result<(), OnnxError> {
    match len {
        0 => Err(OnnxError::Empty),
        n if n > MAX_MODEL_BYTES => Err(OnnxError::TooLarge {
            max: MAX_MODEL_BYTES,
        }),
        _ => Ok(()),
    }
}

/// Every float tensor of the model in `bytes` whose name `want` accepts, in
/// file order, from initializers and `Constant` nodes of the main graph and
/// of its subgraphs. A tensor `want` accepts must be complete and consistent
/// (stored in the file, dims matching its data); others are not checked.
pub fn float_tensors(
    bytes: &[u8],
    want: impl Fn(&str) -> bool,
) -> Result<Vec<FloatTensor>, OnnxError> {
    check_size(bytes.len())?;
    let mut walk = Walk {
        want: &want,
        found: Vec::new(),
    };
    let mut model = Wire::new(bytes, 0);
    let mut graphs = 0;
    while let Some((field, value)) = model.field()? {
        // ModelProto.graph = 7.
        if let (7, Value::Bytes(sub)) = (field, value) {
            walk.graph(sub, 0)?;
            graphs += 1;
        }
    }
    if graphs == 0 {
        return Err(OnnxError::Malformed {
            offset: 0,
            cause: "no graph in the model",
        });
    }
    Ok(walk.found)
}

/// The search through graphs, nodes and attributes.
struct Walk<'w> {
    want: &'w dyn Fn(&str) -> bool,
    found: Vec<FloatTensor>,
}

impl Walk<'_> {
    fn graph(&mut self, mut g: Wire<'_>, depth: usize) -> Result<(), OnnxError> {
        if depth >= MAX_GRAPH_DEPTH {
            return Err(OnnxError::TooDeep {
                max: MAX_GRAPH_DEPTH,
                offset: g.base,
            });
        }
        while let Some((field, value)) = g.field()? {
            match (field, value) {
                // GraphProto.node = 1.
                (1, Value::Bytes(node)) => self.node(node, depth)?,
                // GraphProto.initializer = 5.
                (5, Value::Bytes(t)) => self.tensor(t, "")?,
                _ => {}
            }
        }
        Ok(())
    }

    fn node(&mut self, node: Wire<'_>, depth: usize) -> Result<(), OnnxError> {
        // A Constant's value goes by the node's output in the graph (its
        // tensor's own name may be empty, or shared by both branches of an
        // If); protobuf may store the output after the attribute.
        let (mut output, mut op_type) = ("", "");
        let mut scan = node;
        while let Some((field, value)) = scan.field()? {
            match (field, value) {
                // NodeProto.output = 2 (the first one), .op_type = 4.
                (2, Value::Bytes(o)) if output.is_empty() => output = utf8(o.buf),
                (4, Value::Bytes(o)) => op_type = utf8(o.buf),
                _ => {}
            }
        }
        let value_name = if op_type == "Constant" { output } else { "" };
        let mut scan = node;
        while let Some((field, value)) = scan.field()? {
            // NodeProto.attribute = 5.
            if let (5, Value::Bytes(attr)) = (field, value) {
                self.attribute(attr, value_name, depth)?;
            }
        }
        Ok(())
    }

    fn attribute(
        &mut self,
        mut a: Wire<'_>,
        value_name: &str,
        depth: usize,
    ) -> Result<(), OnnxError> {
        while let Some((field, value)) = a.field()? {
            match (field, value) {
                // AttributeProto.t = 5.
                (5, Value::Bytes(t)) => self.tensor(t, value_name)?,
                // AttributeProto.tensors = 10: no value name of their own.
                (10, Value::Bytes(t)) => self.tensor(t, "")?,
                // AttributeProto.g = 6, .graphs = 11.
                (6 | 11, Value::Bytes(g)) => self.graph(g, depth + 1)?,
                _ => {}
            }
        }
        Ok(())
    }

    /// One TensorProto; `value_name`, when not empty, is the name the graph
    /// knows it by (a Constant's output) and wins over the tensor's own.
    fn tensor(&mut self, t: Wire<'_>, value_name: &str) -> Result<(), OnnxError> {
        let raw = RawTensor::parse(t)?;
        let name = if value_name.is_empty() {
            raw.name
        } else {
            value_name
        };
        if raw.data_type != DATA_TYPE_FLOAT || name.is_empty() || !(self.want)(name) {
            return Ok(());
        }
        self.found.push(raw.decode(name)?);
        Ok(())
    }
}

/// The fields of a `TensorProto` that matter here, not yet checked.
struct RawTensor<'a> {
    /// Empty when absent or not UTF-8.
    name: &'a str,
    data_type: u64,
    dims: Vec<i64>,
    dims_overflow: bool,
    raw_data: Option<&'a [u8]>,
    float_data: Vec<f32>,
    external: bool,
}

impl<'a> RawTensor<'a> {
    fn parse(mut t: Wire<'a>) -> Result<Self, OnnxError> {
        let mut raw = RawTensor {
            name: "",
            data_type: 0,
            dims: Vec::new(),
            dims_overflow: false,
            raw_data: None,
            float_data: Vec::new(),
            external: false,
        };
        while let Some((field, value)) = t.field()? {
            match (field, value) {
                // dims = 1 (int64, packed or not).
                (1, Value::Varint(d)) => raw.push_dim(d),
                (1, Value::Bytes(mut packed)) => {
                    while !packed.at_end() {
                        let d = packed.varint()?;
                        raw.push_dim(d);
                    }
                }
                // data_type = 2.
                (2, Value::Varint(v)) => raw.data_type = v,
                // float_data = 4 (packed or one fixed32 each).
                (4, Value::Fixed32(bits)) => raw.float_data.push(f32::from_bits(bits)),
                (4, Value::Bytes(packed)) => {
                    if packed.buf.len() % 4 != 0 {
                        return Err(packed.malformed("packed float_data not a multiple of 4 bytes"));
                    }
                    raw.float_data
                        .extend(packed.buf.chunks_exact(4).map(le_f32));
                }
                // name = 8.
                (8, Value::Bytes(n)) => raw.name = utf8(n.buf),
                // raw_data = 9.
                (9, Value::Bytes(d)) => raw.raw_data = Some(d.buf),
                // data_location = 14.
                (14, Value::Varint(v)) => raw.external = v == DATA_LOCATION_EXTERNAL,
                _ => {}
            }
        }
        Ok(raw)
    }

    fn push_dim(&mut self, d: u64) {
        if self.dims.len() < MAX_DIMS {
            self.dims.push(d as i64);
        } else {
            self.dims_overflow = true;
        }
    }

    fn decode(self, name: &str) -> Result<FloatTensor, OnnxError> {
        let bad = |cause: String| OnnxError::BadTensor {
            name: name.to_string(),
            cause,
        };
        if self.external {
            return Err(bad(
                "data stored outside the model file (not supported)".into()
            ));
        }
        if self.dims_overflow {
            return Err(bad(format!("more than {MAX_DIMS} dimensions")));
        }
        let mut dims = Vec::with_capacity(self.dims.len());
        let mut count: usize = 1;
        for &d in &self.dims {
            let d = usize::try_from(d).map_err(|_| bad(format!("negative dimension {d}")))?;
            count = count
                .checked_mul(d)
                .filter(|&c| c <= MAX_MODEL_BYTES)
                .ok_or_else(|| {
                    bad(format!(
                        "dims {:?} hold more values than a model can",
                        self.dims
                    ))
                })?;
            dims.push(d);
        }
        let data = match (self.raw_data, self.float_data.is_empty()) {
            (Some(_), false) => return Err(bad("both raw_data and float_data are set".into())),
            (Some(raw), true) => {
                if raw.len() != count * 4 {
                    return Err(bad(format!(
                        "dims {dims:?} need {} bytes of raw_data, found {}",
                        count * 4,
                        raw.len()
                    )));
                }
                raw.chunks_exact(4).map(le_f32).collect()
            }
            (None, _) => {
                if self.float_data.len() != count {
                    return Err(bad(format!(
                        "dims {dims:?} need {count} values, float_data holds {}",
                        self.float_data.len()
                    )));
                }
                self.float_data
            }
        };
        Ok(FloatTensor {
            name: name.to_string(),
            dims,
            data,
        })
    }
}

/// A name as text; one that is not UTF-8 matches nothing.
fn utf8(b: &[u8]) -> &str {
    std::str::from_utf8(b).unwrap_or("")
}

fn le_f32(b: &[u8]) -> f32 {
    f32::from_le_bytes([b[0], b[1], b[2], b[3]])
}

/// One field's value, by wire type.
enum Value<'a> {
    Varint(u64),
    Fixed64,
    Bytes(Wire<'a>),
    Fixed32(u32),
}

/// A cursor over one protobuf message. `base` is the message's offset in the
/// file, so that errors point at absolute bytes.
#[derive(Clone, Copy)]
struct Wire<'a> {
    buf: &'a [u8],
    pos: usize,
    base: usize,
}

impl<'a> Wire<'a> {
    fn new(buf: &'a [u8], base: usize) -> Self {
        Wire { buf, pos: 0, base }
    }

    fn at_end(&self) -> bool {
        self.pos >= self.buf.len()
    }

    fn malformed(&self, cause: &'static str) -> OnnxError {
        OnnxError::Malformed {
            offset: self.base + self.pos,
            cause,
        }
    }

    fn varint(&mut self) -> Result<u64, OnnxError> {
        let mut value = 0u64;
        for i in 0..10 {
            let Some(&b) = self.buf.get(self.pos) else {
                return Err(self.malformed("message ends inside a varint"));
            };
            self.pos += 1;
            if i == 9 && b > 1 {
                return Err(self.malformed("varint longer than 64 bits"));
            }
            value |= u64::from(b & 0x7f) << (7 * i);
            if b & 0x80 == 0 {
                return Ok(value);
            }
        }
        Err(self.malformed("varint longer than 10 bytes"))
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8], OnnxError> {
        if self.buf.len() - self.pos < n {
            return Err(self.malformed("field runs past the end of its message"));
        }
        let s = &self.buf[self.pos..self.pos + n];
        self.pos += n;
        Ok(s)
    }

    /// The next field number and value, or `None` at the end.
    fn field(&mut self) -> Result<Option<(u64, Value<'a>)>, OnnxError> {
        if self.at_end() {
            return Ok(None);
        }
        let key = self.varint()?;
        let field = key >> 3;
        if field == 0 {
            return Err(self.malformed("field number 0"));
        }
        let value = match key & 7 {
            0 => Value::Varint(self.varint()?),
            1 => {
                self.take(8)?;
                Value::Fixed64
            }
            2 => {
                let len = self.varint()?;
                let len = usize::try_from(len)
                    .map_err(|_| self.malformed("length over the address space"))?;
                let base = self.base + self.pos;
                Value::Bytes(Wire::new(self.take(len)?, base))
            }
            5 => {
                let b = self.take(4)?;
                Value::Fixed32(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            }
            _ => return Err(self.malformed("unsupported wire type (groups or unknown)")),
        };
        Ok(Some((field, value)))
    }
}

/// Writers of the protobuf wire format, to build models in tests.
#[cfg(test)]
pub(crate) mod testing {
    use super::DATA_TYPE_FLOAT;

    pub(crate) fn varint(mut v: u64, out: &mut Vec<u8>) {
        while v >= 0x80 {
            out.push((v as u8) | 0x80);
            v >>= 7;
        }
        out.push(v as u8);
    }

    pub(crate) fn bytes_field(field: u64, body: &[u8], out: &mut Vec<u8>) {
        varint(field << 3 | 2, out);
        varint(body.len() as u64, out);
        out.extend_from_slice(body);
    }

    pub(crate) fn varint_field(field: u64, v: u64, out: &mut Vec<u8>) {
        varint(field << 3, out);
        varint(v, out);
    }

    /// A TensorProto with raw_data.
    pub(crate) fn tensor(name: &str, dims: &[u64], values: &[f32]) -> Vec<u8> {
        let mut t = Vec::new();
        for &d in dims {
            varint_field(1, d, &mut t);
        }
        varint_field(2, DATA_TYPE_FLOAT, &mut t);
        bytes_field(8, name.as_bytes(), &mut t);
        let raw: Vec<u8> = values.iter().flat_map(|v| v.to_le_bytes()).collect();
        bytes_field(9, &raw, &mut t);
        t
    }

    pub(crate) fn model_with_graph(graph: &[u8]) -> Vec<u8> {
        let mut m = Vec::new();
        varint_field(1, 8, &mut m); // ir_version
        bytes_field(7, graph, &mut m);
        m
    }

    /// A model whose main graph holds `tensors` as initializers.
    pub(crate) fn model_of_initializers(tensors: &[(String, Vec<u64>, Vec<f32>)]) -> Vec<u8> {
        let mut graph = Vec::new();
        for (name, dims, values) in tensors {
            bytes_field(5, &tensor(name, dims, values), &mut graph);
        }
        model_with_graph(&graph)
    }
}

#[cfg(test)]
mod tests {
    use super::testing::*;
    use super::*;

    /// A graph with one initializer `a` and an If node whose else branch
    /// holds a Constant with output `b` (its tensor named `shared`) with
    /// packed float_data.
    fn sample_model() -> Vec<u8> {
        let mut constant_tensor = Vec::new();
        bytes_field(1, &[2], &mut constant_tensor); // packed dims [2]
        bytes_field(8, b"shared", &mut constant_tensor); // loses to the output
        varint_field(2, DATA_TYPE_FLOAT, &mut constant_tensor);
        let packed: Vec<u8> = [1.5f32, -2.0]
            .iter()
            .flat_map(|v| v.to_le_bytes())
            .collect();
        bytes_field(4, &packed, &mut constant_tensor);
        let mut attr = Vec::new();
        bytes_field(1, b"value", &mut attr);
        bytes_field(5, &constant_tensor, &mut attr);
        let mut constant = Vec::new();
        bytes_field(5, &attr, &mut constant); // attribute before output
        bytes_field(2, b"b", &mut constant);
        bytes_field(4, b"Constant", &mut constant);
        let mut branch = Vec::new();
        bytes_field(1, &constant, &mut branch);
        let mut if_attr = Vec::new();
        bytes_field(1, b"else_branch", &mut if_attr);
        bytes_field(6, &branch, &mut if_attr);
        let mut if_node = Vec::new();
        bytes_field(4, b"If", &mut if_node);
        bytes_field(5, &if_attr, &mut if_node);
        let mut graph = Vec::new();
        bytes_field(1, &if_node, &mut graph);
        bytes_field(5, &tensor("a", &[1, 3], &[1.0, 2.0, 3.0]), &mut graph);
        model_with_graph(&graph)
    }

    #[test]
    fn finds_initializers_and_constants_in_subgraphs() {
        let found = float_tensors(&sample_model(), |_| true).unwrap();
        let names: Vec<_> = found.iter().map(|t| t.name.as_str()).collect();
        assert_eq!(names, ["b", "a"]);
        assert_eq!(found[0].dims, [2]);
        assert_eq!(found[0].data, [1.5, -2.0]);
        assert_eq!(found[1].dims, [1, 3]);
        assert_eq!(found[1].data, [1.0, 2.0, 3.0]);
        let only_a = float_tensors(&sample_model(), |n| n == "a").unwrap();
        assert_eq!(only_a.len(), 1);
    }

    #[test]
    fn truncated_or_corrupted_models_never_panic() {
        let model = sample_model();
        for len in 0..model.len() {
            let _ = float_tensors(&model[..len], |_| true);
        }
        for i in 0..model.len() {
            for flip in [0x01u8, 0x80, 0xff] {
                let mut m = model.clone();
                m[i] ^= flip;
                let _ = float_tensors(&m, |_| true);
            }
        }
    }

    fn error_of(graph: &[u8]) -> String {
        float_tensors(&model_with_graph(graph), |_| true)
            .unwrap_err()
            .to_string()
    }

    #[test]
    fn inconsistent_tensors_are_named_errors() {
        let cases: &[(&str, Vec<u8>, &str)] = &[
            (
                "dims too big",
                tensor("w", &[2, 2], &[1.0; 3]),
                "tensor \"w\": dims [2, 2] need 16 bytes of raw_data, found 12",
            ),
            (
                "negative dim",
                tensor("w", &[u64::MAX], &[]),
                "tensor \"w\": negative dimension -1",
            ),
            (
                "huge dims",
                tensor("w", &[1 << 40, 1 << 40], &[]),
                "hold more values than a model can",
            ),
            (
                "too many dims",
                tensor("w", &[1; 9], &[1.0]),
                "more than 8 dimensions",
            ),
        ];
        for (what, t, expected) in cases {
            let mut graph = Vec::new();
            bytes_field(5, t, &mut graph);
            let err = error_of(&graph);
            assert!(err.contains(expected), "{what}: {err}");
        }
    }

    #[test]
    fn malformed_inputs_are_errors() {
        let mut deep = tensor("w", &[1], &[1.0]);
        let mut graph = Vec::new();
        bytes_field(5, &deep, &mut graph);
        for _ in 0..MAX_GRAPH_DEPTH + 1 {
            let mut attr = Vec::new();
            bytes_field(6, &graph, &mut attr);
            let mut node = Vec::new();
            bytes_field(5, &attr, &mut node);
            graph.clear();
            bytes_field(1, &node, &mut graph);
        }
        deep = model_with_graph(&graph);
        let cases: &[(&str, &[u8], &str)] = &[
            ("empty", b"", "model is empty"),
            ("no graph", &[0x08, 0x07], "no graph in the model"),
            (
                "length past end",
                &[0x3a, 0x05, 0x00],
                "field runs past the end",
            ),
            ("group wire type", &[0x3b], "unsupported wire type"),
            (
                "endless varint",
                &[
                    0x08, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
                ],
                "varint",
            ),
            ("deep", &deep, "nested deeper than 8"),
        ];
        for (what, bytes, expected) in cases {
            let err = float_tensors(bytes, |_| true).unwrap_err().to_string();
            assert!(err.contains(expected), "{what}: {err}");
        }
    }

    #[test]
    fn read_model_refuses_oversized_input() {
        let big = std::io::repeat(0).take(MAX_MODEL_BYTES as u64 + 10);
        let err = read_model(big).unwrap_err();
        assert!(matches!(err, OnnxError::TooLarge { .. }), "{err}");
        assert_eq!(read_model(&sample_model()[..]).unwrap(), sample_model());
    }
}
