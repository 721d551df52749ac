//! Decodes Kubernetes protobuf request bodies (`application/vnd.kubernetes.protobuf`) into
//! the JSON the rest of the API works on.
//!
//! The format: the 4-byte magic `k8s\0`, then a `runtime.Unknown` message
//! (`1: typeMeta {1: apiVersion, 2: kind}`, `2: raw`, `3: contentEncoding`, `4: contentType`)
//! whose `raw` is the object's message from its group's `generated.proto`. The schemas are
//! in [`super::protobuf_schema`]; the JSON is what Go's `encoding/json` would produce from
//! the decoded struct, so a protobuf body and the JSON body of the same object decode alike:
//! zero values of Go value fields tagged `omitempty` are left out, pointer fields keep theirs,
//! and the messages Kubernetes maps to JSON scalars (Quantity, Time, MicroTime, IntOrString,
//! Duration, RawExtension, FieldsV1) become those scalars.
//!
//! Decoding follows proto2: unknown field numbers are skipped (newer clients), repeated
//! scalars may come packed or not, a singular message seen twice is merged, and the last of a
//! repeated singular scalar wins. Malformed input (truncation, a wire type that does not fit
//! the schema, bad UTF-8, lengths past the end) is an error naming the field path; nothing
//! is allocated from a length before it is checked against the bytes that are there.

use base64::Engine;
use serde_json::{Map, Value};

use super::protobuf_schema::{self as schema, Card, Message, Ty};

/// The prefix of every Kubernetes protobuf body.
pub const MAGIC: &[u8; 4] = b"k8s\0";

/// Deepest nesting of messages (and of RawExtensions holding protobuf) accepted. The
/// schemas nest far less deeply; this only bounds recursion on hostile input.
const MAX_DEPTH: usize = 64;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DecodeError {
    /// Well-formed, but not something this server can decode (a kind without a schema, a
    /// content encoding): the client should send JSON.
    Unsupported(String),
    /// Not valid Kubernetes protobuf. `path` is the JSON path of the field being decoded.
    Invalid { path: String, message: String },
}

impl DecodeError {
    fn invalid(message: impl Into<String>) -> Self {
        DecodeError::Invalid {
            path: String::new(),
            message: message.into(),
        }
    }

    /// Prefixes the path with the field (or `field[index]`) that contained the error.
    fn at(self, seg: &str) -> Self {
        match self {
            DecodeError::Invalid { path, message } => {
                let path = if path.is_empty() {
                    seg.to_string()
                } else if path.starts_with('[') {
                    format!("{seg}{path}")
                } else {
                    format!("{seg}.{path}")
                };
                DecodeError::Invalid { path, message }
            }
            other => other,
        }
    }
}

impl std::fmt::Display for DecodeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            DecodeError::Unsupported(m) => f.write_str(m),
            DecodeError::Invalid { path, message } if path.is_empty() => f.write_str(message),
            DecodeError::Invalid { path, message } => write!(f, "{path}: {message}"),
        }
    }
}

impl std::error::Error for DecodeError {}

type Result<T> = std::result::Result<T, DecodeError>;

/// Decodes a whole body (magic + `runtime.Unknown`) into a JSON object whose `apiVersion`
/// and `kind` are the body's typeMeta.
pub fn decode(body: &[u8]) -> Result<Value> {
    decode_at(body, 0)
}

fn decode_at(body: &[u8], depth: usize) -> Result<Value> {
    let Some(rest) = body.strip_prefix(MAGIC) else {
        return Err(DecodeError::invalid(
            "the body does not start with the Kubernetes protobuf prefix \"k8s\\0\"",
        ));
    };
    let unknown = Unknown::parse(rest)?;
    if !unknown.content_encoding.is_empty() {
        return Err(DecodeError::Unsupported(format!(
            "protobuf bodies with contentEncoding {:?} are not supported",
            unknown.content_encoding
        )));
    }
    if unknown.kind.is_empty() {
        return Err(DecodeError::invalid(
            "the protobuf envelope has no typeMeta.kind",
        ));
    }
    let ct = unknown.content_type.as_str();
    let mut obj = if ct.is_empty() || ct.starts_with("application/vnd.kubernetes.protobuf") {
        let msg = schema::root(&unknown.api_version, &unknown.kind).ok_or_else(|| {
            DecodeError::Unsupported(format!(
                "this server cannot decode protobuf for apiVersion {:?}, kind {:?}; send JSON or YAML",
                unknown.api_version, unknown.kind
            ))
        })?;
        let mut map = Map::new();
        decode_into(unknown.raw, msg, &mut map, depth + 1)?;
        map
    } else if ct.starts_with("application/json") {
        match serde_json::from_slice(unknown.raw) {
            Ok(Value::Object(m)) => m,
            Ok(_) => return Err(DecodeError::invalid("the embedded JSON is not an object")),
            Err(e) => {
                return Err(DecodeError::invalid(format!(
                    "the embedded JSON is not valid: {e}"
                )))
            }
        }
    } else {
        return Err(DecodeError::Unsupported(format!(
            "protobuf envelopes holding {ct:?} are not supported"
        )));
    };
    obj.insert("apiVersion".into(), Value::String(unknown.api_version));
    obj.insert("kind".into(), Value::String(unknown.kind));
    Ok(Value::Object(obj))
}

/// `runtime.Unknown`, the envelope.
struct Unknown<'a> {
    api_version: String,
    kind: String,
    raw: &'a [u8],
    content_encoding: String,
    content_type: String,
}

impl<'a> Unknown<'a> {
    fn parse(buf: &'a [u8]) -> Result<Unknown<'a>> {
        let mut u = Unknown {
            api_version: String::new(),
            kind: String::new(),
            raw: &[],
            content_encoding: String::new(),
            content_type: String::new(),
        };
        let mut r = Reader::new(buf);
        while !r.done() {
            let (num, wire) = r.key()?;
            match num {
                1 => {
                    let mut t = Reader::new(r.len_delimited(wire).map_err(|e| e.at("typeMeta"))?);
                    while !t.done() {
                        let (num, wire) = t.key().map_err(|e| e.at("typeMeta"))?;
                        match num {
                            1 => {
                                u.api_version =
                                    t.string(wire).map_err(|e| e.at("typeMeta.apiVersion"))?
                            }
                            2 => u.kind = t.string(wire).map_err(|e| e.at("typeMeta.kind"))?,
                            _ => t.skip(wire).map_err(|e| e.at("typeMeta"))?,
                        }
                    }
                }
                2 => u.raw = r.len_delimited(wire).map_err(|e| e.at("raw"))?,
                3 => u.content_encoding = r.string(wire).map_err(|e| e.at("contentEncoding"))?,
                4 => u.content_type = r.string(wire).map_err(|e| e.at("contentType"))?,
                _ => r.skip(wire)?,
            }
        }
        Ok(u)
    }
}

/// Decodes a message's fields into `out` (the object of the message, or of the message that
/// inlines it).
pub fn decode_message(buf: &[u8], msg: &'static Message) -> Result<Map<String, Value>> {
    let mut out = Map::new();
    decode_into(buf, msg, &mut out, 0)?;
    Ok(out)
}

fn decode_into(
    buf: &[u8],
    msg: &'static Message,
    out: &mut Map<String, Value>,
    depth: usize,
) -> Result<()> {
    if depth > MAX_DEPTH {
        return Err(DecodeError::invalid(format!(
            "messages nest more than {MAX_DEPTH} deep"
        )));
    }
    let mut r = Reader::new(buf);
    while !r.done() {
        let (num, wire) = r.key()?;
        let Some(field) = msg.field(num) else {
            r.skip(wire)?;
            continue;
        };
        decode_field(&mut r, wire, field, out, depth).map_err(|e| match field.card {
            Card::Inline => e,
            _ => e.at(field.json),
        })?;
    }
    Ok(())
}

fn decode_field(
    r: &mut Reader<'_>,
    wire: u8,
    field: &schema::Field,
    out: &mut Map<String, Value>,
    depth: usize,
) -> Result<()> {
    match field.card {
        Card::Inline => {
            let Ty::Msg(m) = field.ty else {
                return Err(DecodeError::invalid(format!(
                    "schema error: inline field {} is not a message",
                    field.json
                )));
            };
            decode_into(r.len_delimited(wire)?, m, out, depth + 1)
        }
        Card::Rep => {
            let slot = out
                .entry(field.json)
                .or_insert_with(|| Value::Array(Vec::new()));
            if !slot.is_array() {
                *slot = Value::Array(Vec::new());
            }
            let Value::Array(items) = slot else {
                return Ok(());
            };
            if wire == WIRE_LEN && packable(field.ty) {
                let mut p = Reader::new(r.len_delimited(wire)?);
                while !p.done() {
                    let n = items.len();
                    items.push(
                        scalar(&mut p, packed_wire(field.ty), field.ty)
                            .map_err(|e| e.at(&format!("[{n}]")))?,
                    );
                }
                return Ok(());
            }
            let n = items.len();
            let v = value(r, wire, field.ty, depth).map_err(|e| e.at(&format!("[{n}]")))?;
            items.push(v);
            Ok(())
        }
        Card::Map => {
            let mut e = Reader::new(r.len_delimited(wire)?);
            let mut key = String::new();
            let mut val = None;
            while !e.done() {
                let (num, wire) = e.key()?;
                match num {
                    1 => key = e.string(wire).map_err(|e| e.at("key"))?,
                    2 => {
                        val = Some(value(&mut e, wire, field.ty, depth).map_err(|e| e.at("value"))?)
                    }
                    _ => e.skip(wire)?,
                }
            }
            let val = match val {
                Some(v) => v,
                None => zero(field.ty),
            };
            let slot = out
                .entry(field.json)
                .or_insert_with(|| Value::Object(Map::new()));
            if !slot.is_object() {
                *slot = Value::Object(Map::new());
            }
            if let Value::Object(m) = slot {
                m.insert(key, val);
            }
            Ok(())
        }
        Card::Emit | Card::Omit => {
            if let Ty::Msg(m) = field.ty {
                // A singular message seen again is merged into the first, as proto2 says.
                let buf = r.len_delimited(wire)?;
                let slot = out
                    .entry(field.json)
                    .or_insert_with(|| Value::Object(Map::new()));
                if !slot.is_object() {
                    *slot = Value::Object(Map::new());
                }
                if let Value::Object(o) = slot {
                    decode_into(buf, m, o, depth + 1)?;
                }
                return Ok(());
            }
            let v = value(r, wire, field.ty, depth)?;
            if field.card == Card::Omit && is_zero(&v) {
                out.remove(field.json);
            } else {
                out.insert(field.json.to_string(), v);
            }
            Ok(())
        }
    }
}

fn packable(ty: Ty) -> bool {
    matches!(ty, Ty::Bool | Ty::I32 | Ty::I64 | Ty::F64)
}

fn packed_wire(ty: Ty) -> u8 {
    if matches!(ty, Ty::F64) {
        WIRE_FIXED64
    } else {
        WIRE_VARINT
    }
}

fn is_zero(v: &Value) -> bool {
    match v {
        Value::Null => true,
        Value::Bool(b) => !b,
        Value::String(s) => s.is_empty(),
        Value::Number(n) => n.as_f64() == Some(0.0),
        Value::Array(a) => a.is_empty(),
        Value::Object(o) => o.is_empty(),
    }
}

/// The JSON of a type's zero value (a map entry without a value).
fn zero(ty: Ty) -> Value {
    match ty {
        Ty::Str | Ty::Bytes => Value::String(String::new()),
        Ty::Bool => Value::Bool(false),
        Ty::I32 | Ty::I64 | Ty::F64 | Ty::IntOrString => Value::from(0),
        Ty::Quantity => Value::String("0".into()),
        Ty::Duration => Value::String("0s".into()),
        Ty::Time | Ty::MicroTime | Ty::Raw => Value::Null,
        Ty::Msg(_) => Value::Object(Map::new()),
    }
}

/// One value of type `ty` from a field of wire type `wire`.
fn value(r: &mut Reader<'_>, wire: u8, ty: Ty, depth: usize) -> Result<Value> {
    match ty {
        Ty::Str | Ty::Bool | Ty::I32 | Ty::I64 | Ty::F64 | Ty::Bytes => scalar(r, wire, ty),
        Ty::Msg(m) => {
            let mut o = Map::new();
            decode_into(r.len_delimited(wire)?, m, &mut o, depth + 1)?;
            Ok(Value::Object(o))
        }
        Ty::Quantity => {
            let mut m = Reader::new(r.len_delimited(wire)?);
            let mut s = "0".to_string();
            while !m.done() {
                let (num, wire) = m.key()?;
                match num {
                    1 => s = m.string(wire)?,
                    _ => m.skip(wire)?,
                }
            }
            Ok(Value::String(s))
        }
        Ty::Time | Ty::MicroTime => {
            let buf = r.len_delimited(wire)?;
            if buf.is_empty() {
                // Go encodes the zero time as an empty message; its JSON is null.
                return Ok(Value::Null);
            }
            let mut m = Reader::new(buf);
            let (mut seconds, mut nanos) = (0i64, 0i32);
            while !m.done() {
                let (num, wire) = m.key()?;
                match num {
                    1 => seconds = m.varint_of(wire)? as i64,
                    2 => nanos = m.varint_of(wire)? as i32,
                    _ => m.skip(wire)?,
                }
            }
            // Like Go: Time keeps whole seconds only, MicroTime microseconds.
            let s = if matches!(ty, Ty::Time) {
                format_time(seconds, 0, false)
            } else {
                format_time(seconds, nanos, true)
            };
            s.map(Value::String).map_err(DecodeError::invalid)
        }
        Ty::IntOrString => {
            let mut m = Reader::new(r.len_delimited(wire)?);
            let (mut kind, mut int_val, mut str_val) = (0i64, 0i32, String::new());
            while !m.done() {
                let (num, wire) = m.key()?;
                match num {
                    1 => kind = m.varint_of(wire)? as i64,
                    2 => int_val = m.varint_of(wire)? as i32,
                    3 => str_val = m.string(wire)?,
                    _ => m.skip(wire)?,
                }
            }
            match kind {
                0 => Ok(Value::from(int_val)),
                1 => Ok(Value::String(str_val)),
                k => Err(DecodeError::invalid(format!(
                    "IntOrString type {k} is neither 0 (int) nor 1 (string)"
                ))),
            }
        }
        Ty::Duration => {
            let mut m = Reader::new(r.len_delimited(wire)?);
            let mut d = 0i64;
            while !m.done() {
                let (num, wire) = m.key()?;
                match num {
                    1 => d = m.varint_of(wire)? as i64,
                    _ => m.skip(wire)?,
                }
            }
            Ok(Value::String(go_duration(d)))
        }
        Ty::Raw => {
            let mut m = Reader::new(r.len_delimited(wire)?);
            let mut raw: &[u8] = &[];
            while !m.done() {
                let (num, wire) = m.key()?;
                match num {
                    1 => raw = m.len_delimited(wire)?,
                    _ => m.skip(wire)?,
                }
            }
            if raw.is_empty() {
                Ok(Value::Null)
            } else if raw.starts_with(MAGIC) {
                decode_at(raw, depth + 1)
            } else {
                serde_json::from_slice(raw).map_err(|e| {
                    DecodeError::invalid(format!("the embedded raw object is not JSON: {e}"))
                })
            }
        }
    }
}

fn scalar(r: &mut Reader<'_>, wire: u8, ty: Ty) -> Result<Value> {
    Ok(match ty {
        Ty::Str => Value::String(r.string(wire)?),
        Ty::Bytes => {
            Value::String(base64::engine::general_purpose::STANDARD.encode(r.len_delimited(wire)?))
        }
        Ty::Bool => Value::Bool(r.varint_of(wire)? != 0),
        // Truncating like Go's int32(v): negative int32s are sent as 64-bit varints.
        Ty::I32 => Value::from(r.varint_of(wire)? as i32),
        Ty::I64 => Value::from(r.varint_of(wire)? as i64),
        Ty::F64 => {
            if wire != WIRE_FIXED64 {
                return Err(wrong_wire(wire, WIRE_FIXED64));
            }
            let f = f64::from_bits(r.fixed64()?);
            Value::from(serde_json::Number::from_f64(f).ok_or_else(|| {
                DecodeError::invalid(format!("{f} cannot be represented in JSON"))
            })?)
        }
        _ => return Err(DecodeError::invalid("schema error: not a scalar type")),
    })
}

const WIRE_VARINT: u8 = 0;
const WIRE_FIXED64: u8 = 1;
const WIRE_LEN: u8 = 2;
const WIRE_FIXED32: u8 = 5;

fn wire_name(w: u8) -> &'static str {
    match w {
        WIRE_VARINT => "varint",
        WIRE_FIXED64 => "fixed64",
        WIRE_LEN => "length-delimited",
        3 => "start-group",
        4 => "end-group",
        WIRE_FIXED32 => "fixed32",
        _ => "invalid",
    }
}

fn wrong_wire(got: u8, want: u8) -> DecodeError {
    DecodeError::invalid(format!(
        "wire type {} ({}) where {} ({}) was expected",
        got,
        wire_name(got),
        want,
        wire_name(want)
    ))
}

/// Reads protobuf wire format from a byte slice, never past its end.
struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn new(buf: &'a [u8]) -> Self {
        Reader { buf, pos: 0 }
    }

    fn done(&self) -> bool {
        self.pos >= self.buf.len()
    }

    fn remaining(&self) -> usize {
        self.buf.len() - self.pos
    }

    fn varint(&mut self) -> Result<u64> {
        let mut v: u64 = 0;
        for i in 0..10 {
            let Some(&b) = self.buf.get(self.pos) else {
                return Err(DecodeError::invalid(
                    "truncated: the input ends inside a varint",
                ));
            };
            self.pos += 1;
            if i == 9 && b > 1 {
                return Err(DecodeError::invalid("a varint overflows 64 bits"));
            }
            v |= u64::from(b & 0x7f) << (7 * i);
            if b < 0x80 {
                return Ok(v);
            }
        }
        Err(DecodeError::invalid("a varint is longer than 10 bytes"))
    }

    /// A field key: (field number, wire type).
    fn key(&mut self) -> Result<(u32, u8)> {
        let k = self.varint()?;
        let num = k >> 3;
        let wire = (k & 7) as u8;
        if num == 0 || num > (1 << 29) - 1 {
            return Err(DecodeError::invalid(format!("invalid field number {num}")));
        }
        Ok((num as u32, wire))
    }

    fn varint_of(&mut self, wire: u8) -> Result<u64> {
        if wire != WIRE_VARINT {
            return Err(wrong_wire(wire, WIRE_VARINT));
        }
        self.varint()
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8]> {
        if n > self.remaining() {
            return Err(DecodeError::invalid(format!(
                "truncated: a field needs {n} bytes but {} remain",
                self.remaining()
            )));
        }
        let s = &self.buf[self.pos..self.pos + n];
        self.pos += n;
        Ok(s)
    }

    fn fixed64(&mut self) -> Result<u64> {
        let b = self.take(8)?;
        let mut a = [0u8; 8];
        a.copy_from_slice(b);
        Ok(u64::from_le_bytes(a))
    }

    fn len_delimited(&mut self, wire: u8) -> Result<&'a [u8]> {
        if wire != WIRE_LEN {
            return Err(wrong_wire(wire, WIRE_LEN));
        }
        let n = self.varint()?;
        let n = usize::try_from(n).unwrap_or(usize::MAX);
        self.take(n)
    }

    fn string(&mut self, wire: u8) -> Result<String> {
        let b = self.len_delimited(wire)?;
        String::from_utf8(b.to_vec())
            .map_err(|_| DecodeError::invalid("a string is not valid UTF-8"))
    }

    fn skip(&mut self, wire: u8) -> Result<()> {
        match wire {
            WIRE_VARINT => self.varint().map(drop),
            WIRE_FIXED64 => self.take(8).map(drop),
            WIRE_LEN => self.len_delimited(wire).map(drop),
            WIRE_FIXED32 => self.take(4).map(drop),
            3 | 4 => Err(DecodeError::invalid(
                "protobuf groups (wire types 3 and 4) are not supported",
            )),
            w => Err(DecodeError::invalid(format!("invalid wire type {w}"))),
        }
    }
}

/// RFC 3339 in UTC as Go's metav1.Time (`2006-01-02T15:04:05Z`) or, with `micro`,
/// metav1.MicroTime (`2006-01-02T15:04:05.000000Z`) marshal it. Years outside 0..=9999
/// are an error, as in Go.
fn format_time(seconds: i64, nanos: i32, micro: bool) -> std::result::Result<String, String> {
    let total = i128::from(seconds) * 1_000_000_000 + i128::from(nanos);
    let secs = total.div_euclid(1_000_000_000);
    let frac = total.rem_euclid(1_000_000_000) as u32;
    let days = secs.div_euclid(86_400);
    let sod = secs.rem_euclid(86_400) as u32;
    // Days to civil date (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i128::from(month <= 2);
    if !(0..=9999).contains(&year) {
        return Err(format!(
            "time {seconds}s since the epoch is outside the years 0 to 9999"
        ));
    }
    let (h, m, s) = (sod / 3600, sod / 60 % 60, sod % 60);
    Ok(if micro {
        format!(
            "{year:04}-{month:02}-{day:02}T{h:02}:{m:02}:{s:02}.{:06}Z",
            frac / 1000
        )
    } else {
        format!("{year:04}-{month:02}-{day:02}T{h:02}:{m:02}:{s:02}Z")
    })
}

/// Go's `time.Duration.String()`: "5m0s", "1h0m0s", "1.5s", "300ms", "0s".
fn go_duration(d: i64) -> String {
    let mut u = d.unsigned_abs();
    if u == 0 {
        return "0s".into();
    }
    // Digits of u / 10^prec, and the fraction with trailing zeros (and a bare point) dropped.
    let frac = |u: u64, prec: u32| -> (u64, String) {
        let p = 10u64.pow(prec);
        let f = u % p;
        if f == 0 {
            return (u / p, String::new());
        }
        let digits = format!("{f:0width$}", width = prec as usize);
        (u / p, format!(".{}", digits.trim_end_matches('0')))
    };
    let body = if u < 1_000_000_000 {
        let (unit, prec) = match u {
            0..=999 => ("ns", 0),
            1_000..=999_999 => ("µs", 3),
            _ => ("ms", 6),
        };
        let (i, f) = frac(u, prec);
        format!("{i}{f}{unit}")
    } else {
        let (secs, f) = frac(u, 9);
        u = secs / 60;
        let s = secs % 60;
        if u == 0 {
            format!("{s}{f}s")
        } else if u < 60 {
            format!("{u}m{s}{f}s")
        } else {
            format!("{}h{}m{s}{f}s", u / 60, u % 60)
        }
    };
    if d < 0 {
        format!("-{body}")
    } else {
        body
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::api::protobuf_schema as s;

    // --- a small protobuf encoder for hand-built bodies ---

    fn vint(mut v: u64) -> Vec<u8> {
        let mut out = Vec::new();
        loop {
            let b = (v & 0x7f) as u8;
            v >>= 7;
            if v == 0 {
                out.push(b);
                return out;
            }
            out.push(b | 0x80);
        }
    }

    fn key(num: u32, wire: u8) -> Vec<u8> {
        vint(u64::from(num) << 3 | u64::from(wire))
    }

    /// A varint field.
    fn v(num: u32, val: u64) -> Vec<u8> {
        [key(num, 0), vint(val)].concat()
    }

    /// A length-delimited field holding `bytes`.
    fn b(num: u32, bytes: &[u8]) -> Vec<u8> {
        [key(num, 2), vint(bytes.len() as u64), bytes.to_vec()].concat()
    }

    fn st(num: u32, text: &str) -> Vec<u8> {
        b(num, text.as_bytes())
    }

    /// A message field made of the concatenated `parts`.
    fn m(num: u32, parts: &[Vec<u8>]) -> Vec<u8> {
        b(num, &parts.concat())
    }

    /// A `map<string, string>` entry.
    fn kv(num: u32, k: &str, val: &str) -> Vec<u8> {
        m(num, &[st(1, k), st(2, val)])
    }

    fn quantity(num: u32, q: &str) -> Vec<u8> {
        m(num, &[st(1, q)])
    }

    fn envelope(api_version: &str, kind: &str, raw: &[u8]) -> Vec<u8> {
        [
            MAGIC.to_vec(),
            m(1, &[st(1, api_version), st(2, kind)]),
            b(2, raw),
            st(3, ""),
            st(4, ""),
        ]
        .concat()
    }

    fn hex_body(h: &str) -> Vec<u8> {
        hex::decode(h).expect("test vector is hex")
    }

    fn invalid_message(r: Result<Value>) -> String {
        match r {
            Err(e @ DecodeError::Invalid { .. }) => e.to_string(),
            other => panic!("expected an Invalid error, got {other:?}"),
        }
    }

    // --- real bodies sent by kubectl 1.33.1, and the JSON `--dry-run=client -o json` shows ---

    const KUBECTL_BODIES: &[(&str, &str, &str)] = &[
        (
            "create namespace t3",
            "6b3873000a0f0a02763112094e616d657370616365121a0a120a02743312001a0022002a0032003800420012001a020a001a002200",
            r#"{"apiVersion":"v1","kind":"Namespace","metadata":{"creationTimestamp":null,"name":"t3"},"spec":{},"status":{}}"#,
        ),
        (
            "create configmap c1 --from-literal=a=b --from-literal=empty=",
            "6b3873000a0f0a0276311209436f6e6669674d617012270a120a02633112001a0022002a0032003800420012060a016112016212090a05656d70747912001a002200",
            r#"{"apiVersion":"v1","data":{"a":"b","empty":""},"kind":"ConfigMap","metadata":{"creationTimestamp":null,"name":"c1"}}"#,
        ),
        (
            "create secret generic s1 --from-literal=a=b --from-file=bin=<00 01 ff>",
            "6b3873000a0c0a0276311206536563726574122a0a120a02733112001a0022002a0032003800420012060a0161120162120a0a0362696e12030001ff1a001a002200",
            r#"{"apiVersion":"v1","data":{"a":"Yg==","bin":"AAH/"},"kind":"Secret","metadata":{"creationTimestamp":null,"name":"s1"}}"#,
        ),
        (
            "create deployment d4 --image=localhost/busybox:latest --replicas=0 --port=80 -- sleep 1",
            "6b3873000a150a07617070732f7631120a4465706c6f796d656e7412d4010a1d0a02643412001a0022002a003200380042005a090a036170701202643412a4010800120b0a090a03617070120264341a8a010a1b0a0012001a0022002a003200380042005a090a0361707012026434126b124d0a0762757379626f7812186c6f63616c686f73742f62757379626f783a6c61746573741a05736c6565701a01312a00320a0a001000185022002a0042006a007200800100880100900100a201001a00320042004a0052005800600068008201008a01009a0100c2010022020a00280038001a0c0800100018002000280038001a002200",
            r#"{"apiVersion":"apps/v1","kind":"Deployment","metadata":{"creationTimestamp":null,"labels":{"app":"d4"},"name":"d4"},"spec":{"replicas":0,"selector":{"matchLabels":{"app":"d4"}},"strategy":{},"template":{"metadata":{"creationTimestamp":null,"labels":{"app":"d4"}},"spec":{"containers":[{"command":["sleep","1"],"image":"localhost/busybox:latest","name":"busybox","ports":[{"containerPort":80}],"resources":{}}]}}},"status":{}}"#,
        ),
        (
            "create job j4 --image=localhost/busybox:latest -- sleep 1",
            "6b3873000a0f0a0862617463682f763112034a6f621295010a120a026a3412001a0022002a00320038004200127532730a100a0012001a0022002a00320038004200125f123c0a026a3412186c6f63616c686f73742f62757379626f783a6c61746573741a05736c6565701a01312a0042006a007200800100880100900100a201001a054e65766572320042004a0052005800600068008201008a01009a0100c201001a082000280030003a001a002200",
            r#"{"apiVersion":"batch/v1","kind":"Job","metadata":{"creationTimestamp":null,"name":"j4"},"spec":{"template":{"metadata":{"creationTimestamp":null},"spec":{"containers":[{"command":["sleep","1"],"image":"localhost/busybox:latest","name":"j4","resources":{}}],"restartPolicy":"Never"}}},"status":{}}"#,
        ),
        (
            "create service clusterip s1 --tcp=80:8080 --tcp=443:https",
            "6b3873000a0d0a027631120753657276696365128a010a1d0a02733112001a0022002a003200380042005a090a036170701202733112650a1b0a0738302d38303830120354435018502207080010903f1a0028000a220a093434332d6874747073120354435018bb03220b080110001a056874747073280012090a03617070120273311a002209436c757374657249503a00420052005a00600068001a020a001a002200",
            r#"{"apiVersion":"v1","kind":"Service","metadata":{"creationTimestamp":null,"labels":{"app":"s1"},"name":"s1"},"spec":{"ports":[{"name":"80-8080","port":80,"protocol":"TCP","targetPort":8080},{"name":"443-https","port":443,"protocol":"TCP","targetPort":"https"}],"selector":{"app":"s1"},"type":"ClusterIP"},"status":{"loadBalancer":{}}}"#,
        ),
        (
            "create service nodeport s2 --tcp=80:8080 --node-port=30080",
            "6b3873000a0d0a02763112075365727669636512670a1d0a02733212001a0022002a003200380042005a090a036170701202733212420a1d0a0738302d38303830120354435018502207080010903f1a002880eb0112090a03617070120273321a0022084e6f6465506f72743a00420052005a00600068001a020a001a002200",
            r#"{"apiVersion":"v1","kind":"Service","metadata":{"creationTimestamp":null,"labels":{"app":"s2"},"name":"s2"},"spec":{"ports":[{"name":"80-8080","nodePort":30080,"port":80,"protocol":"TCP","targetPort":8080}],"selector":{"app":"s2"},"type":"NodePort"},"status":{"loadBalancer":{}}}"#,
        ),
    ];

    #[test]
    fn kubectl_bodies_decode_to_the_json_kubectl_would_send() {
        for (what, h, want) in KUBECTL_BODIES {
            let got = decode(&hex_body(h)).unwrap_or_else(|e| panic!("{what}: {e}"));
            let want: Value = serde_json::from_str(want).expect("want is JSON");
            assert_eq!(got, want, "{what}");
        }
    }

    #[test]
    fn decode_body_accepts_protobuf_and_reports_415_for_unknown_kinds() {
        use crate::api::handlers::decode_body;
        let ct = "application/vnd.kubernetes.protobuf";
        let ns = decode_body(&hex_body(KUBECTL_BODIES[0].1), ct).expect("namespace decodes");
        assert_eq!(ns["metadata"]["name"], "t3");
        let err = decode_body(&envelope("rbac.authorization.k8s.io/v1", "Role", &[]), ct)
            .expect_err("no schema for Role");
        assert_eq!(err.code, 415, "{err:?}");
        let err = decode_body(b"k8s\0\xff", ct).expect_err("garbage");
        assert_eq!(err.code, 400, "{err:?}");
    }

    // --- hand-built bodies ---

    fn object_meta() -> Vec<u8> {
        m(
            1,
            &[
                st(1, "web"),
                st(2, ""),
                st(3, "default"),
                st(4, ""),
                st(5, ""),
                st(6, ""),
                v(7, 0),
                m(8, &[]),
                kv(11, "app", "web"),
                kv(11, "tier", "front"),
                kv(12, "note", ""),
                st(14, "example.com/guard"),
                // managedFields[0] with a FieldsV1 document
                m(
                    17,
                    &[
                        st(1, "kubectl"),
                        st(2, "Update"),
                        st(3, "v1"),
                        m(4, &[v(1, 1_700_000_000)]),
                        st(6, "FieldsV1"),
                        m(7, &[st(1, r#"{"f:metadata":{}}"#)]),
                    ],
                ),
            ],
        )
    }

    fn container() -> Vec<u8> {
        m(
            2,
            &[
                st(1, "web"),
                st(2, "localhost/busybox:latest"),
                st(3, "httpd"),
                st(4, "-f"),
                st(4, "-p"),
                st(4, "8080"),
                // ports: hostPort 0 is a value field (omitted), protocol given
                m(6, &[st(1, "http"), v(2, 0), v(3, 8080), st(4, "TCP")]),
                // env: plain and valueFrom.fieldRef
                m(7, &[st(1, "A"), st(2, "1")]),
                m(
                    7,
                    &[
                        st(1, "NODE"),
                        st(2, ""),
                        m(3, &[m(1, &[st(1, "v1"), st(2, "spec.nodeName")])]),
                    ],
                ),
                // resources: limits and requests are map<string, Quantity>
                m(
                    8,
                    &[
                        m(1, &[st(1, "cpu"), quantity(2, "500m")]),
                        m(1, &[st(1, "memory"), quantity(2, "128Mi")]),
                        m(2, &[st(1, "cpu"), quantity(2, "100m")]),
                    ],
                ),
                // volumeMounts: readOnly false is a value field (omitted)
                m(9, &[st(1, "data"), v(2, 0), st(3, "/data")]),
                // livenessProbe: the handler is inlined; httpGet.port is a named port
                m(
                    10,
                    &[
                        m(
                            1,
                            &[m(
                                2,
                                &[st(1, "/healthz"), m(2, &[v(1, 1), v(2, 0), st(3, "http")])],
                            )],
                        ),
                        v(2, 3),
                        v(4, 10),
                        v(7, 0),
                    ],
                ),
                // readinessProbe: tcpSocket on a numbered port
                m(
                    11,
                    &[
                        m(1, &[m(3, &[m(1, &[v(1, 0), v(2, 8080), st(3, "")])])]),
                        v(3, 1),
                    ],
                ),
                st(13, "/dev/termination-log"),
                st(14, "IfNotPresent"),
                // securityContext: privileged=false and runAsUser=0 are pointers (kept)
                m(
                    15,
                    &[
                        m(1, &[st(1, "NET_ADMIN"), st(2, "ALL")]),
                        v(2, 0),
                        v(4, 0),
                        v(5, 1),
                    ],
                ),
                v(16, 0),
                v(18, 1),
            ],
        )
    }

    fn pod_spec() -> Vec<u8> {
        m(
            2,
            &[
                // volumes: the source is inlined into the volume
                m(
                    1,
                    &[
                        st(1, "data"),
                        m(2, &[m(2, &[st(1, "Memory"), quantity(2, "64Mi")])]),
                    ],
                ),
                m(
                    1,
                    &[
                        st(1, "cfg"),
                        m(
                            2,
                            &[m(
                                19,
                                &[
                                    m(1, &[st(1, "c1")]),
                                    m(2, &[st(1, "a"), st(2, "a.txt"), v(3, 0o400)]),
                                    v(3, 0o644),
                                    v(4, 0),
                                ],
                            )],
                        ),
                    ],
                ),
                m(
                    1,
                    &[
                        st(1, "host"),
                        m(2, &[m(1, &[st(1, "/var/log"), st(2, "Directory")])]),
                    ],
                ),
                m(
                    1,
                    &[st(1, "sec"), m(2, &[m(6, &[st(1, "s1"), v(3, 0o600)])])],
                ),
                container(),
                st(3, ""),
                v(4, 0),
                st(6, ""),
                kv(7, "disk", "ssd"),
                st(8, ""),
                st(9, ""),
                v(11, 0),
                v(12, 0),
                v(13, 0),
                // securityContext with supplementalGroups (repeated int64, sent unpacked here)
                m(14, &[v(2, 1000), v(4, 1), v(4, 2)]),
                st(16, ""),
                st(19, ""),
                // affinity.nodeAffinity.required...nodeSelectorTerms[0].matchExpressions[0]
                m(
                    18,
                    &[m(
                        1,
                        &[m(
                            1,
                            &[m(
                                1,
                                &[m(1, &[st(1, "zone"), st(2, "In"), st(3, "a"), st(3, "b")])],
                            )],
                        )],
                    )],
                ),
                // tolerations: tolerationSeconds 0 is a pointer (kept)
                m(
                    22,
                    &[st(1, "k"), st(2, "Equal"), st(3, "v"), st(4, "NoSchedule")],
                ),
                m(22, &[st(2, "Exists"), st(4, "NoExecute"), v(5, 0)]),
                v(21, 0),
                // topologySpreadConstraints
                m(
                    33,
                    &[
                        v(1, 1),
                        st(2, "zone"),
                        st(3, "DoNotSchedule"),
                        m(4, &[kv(1, "app", "web")]),
                        v(5, 2),
                    ],
                ),
            ],
        )
    }

    fn pod_body() -> Vec<u8> {
        let raw = [object_meta(), pod_spec(), m(3, &[])].concat();
        envelope("v1", "Pod", &raw)
    }

    #[test]
    fn pod_with_nested_messages_maps_repeated_and_special_types() {
        let got = decode(&pod_body()).expect("decodes");
        let want = json!({
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {
                "name": "web",
                "namespace": "default",
                "creationTimestamp": null,
                "labels": {"app": "web", "tier": "front"},
                "annotations": {"note": ""},
                "finalizers": ["example.com/guard"],
                "managedFields": [{
                    "manager": "kubectl", "operation": "Update", "apiVersion": "v1",
                    "time": "2023-11-14T22:13:20Z", "fieldsType": "FieldsV1", "fieldsV1": {"f:metadata": {}}
                }]
            },
            "spec": {
                "volumes": [
                    {"name": "data", "emptyDir": {"medium": "Memory", "sizeLimit": "64Mi"}},
                    {"name": "cfg", "configMap": {"name": "c1", "items": [{"key": "a", "path": "a.txt", "mode": 256}], "defaultMode": 420, "optional": false}},
                    {"name": "host", "hostPath": {"path": "/var/log", "type": "Directory"}},
                    {"name": "sec", "secret": {"secretName": "s1", "defaultMode": 384}}
                ],
                "containers": [{
                    "name": "web",
                    "image": "localhost/busybox:latest",
                    "command": ["httpd"],
                    "args": ["-f", "-p", "8080"],
                    "ports": [{"name": "http", "containerPort": 8080, "protocol": "TCP"}],
                    "env": [
                        {"name": "A", "value": "1"},
                        {"name": "NODE", "valueFrom": {"fieldRef": {"apiVersion": "v1", "fieldPath": "spec.nodeName"}}}
                    ],
                    "resources": {"limits": {"cpu": "500m", "memory": "128Mi"}, "requests": {"cpu": "100m"}},
                    "volumeMounts": [{"name": "data", "mountPath": "/data"}],
                    "livenessProbe": {"httpGet": {"path": "/healthz", "port": "http"}, "initialDelaySeconds": 3, "periodSeconds": 10, "terminationGracePeriodSeconds": 0},
                    "readinessProbe": {"tcpSocket": {"port": 8080}, "timeoutSeconds": 1},
                    "terminationMessagePath": "/dev/termination-log",
                    "imagePullPolicy": "IfNotPresent",
                    "securityContext": {"capabilities": {"add": ["NET_ADMIN"], "drop": ["ALL"]}, "privileged": false, "runAsUser": 0, "runAsNonRoot": true},
                    "tty": true
                }],
                "terminationGracePeriodSeconds": 0,
                "nodeSelector": {"disk": "ssd"},
                "securityContext": {"runAsUser": 1000, "supplementalGroups": [1, 2]},
                "affinity": {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [{"matchExpressions": [{"key": "zone", "operator": "In", "values": ["a", "b"]}]}]}}},
                "tolerations": [
                    {"key": "k", "operator": "Equal", "value": "v", "effect": "NoSchedule"},
                    {"operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 0}
                ],
                "automountServiceAccountToken": false,
                "topologySpreadConstraints": [{"maxSkew": 1, "topologyKey": "zone", "whenUnsatisfiable": "DoNotSchedule", "labelSelector": {"matchLabels": {"app": "web"}}, "minDomains": 2}]
            },
            "status": {}
        });
        assert_eq!(
            got,
            want,
            "got {}",
            serde_json::to_string_pretty(&got).unwrap_or_default()
        );
    }

    #[test]
    fn decoded_pod_passes_the_hubs_typed_normalization() {
        let got = decode(&pod_body()).expect("decodes");
        let (_, warnings) = crate::api::admission::normalize(
            &crate::resources::PODS,
            got,
            crate::api::admission::FieldValidation::Strict,
        )
        .expect("a valid Pod");
        assert!(warnings.is_empty(), "{warnings:?}");
    }

    #[test]
    fn secret_bytes_are_base64_and_config_map_binary_data_too() {
        let raw = [
            m(1, &[st(1, "s")]),
            m(2, &[st(1, "k"), b(2, &[0, 159, 146, 150])]),
            m(2, &[st(1, "empty")]),
            st(3, "Opaque"),
            kv(4, "plain", "text"),
            v(5, 1),
        ]
        .concat();
        let got = decode(&envelope("v1", "Secret", &raw)).expect("decodes");
        assert_eq!(got["data"], json!({"k": "AJ+Slg==", "empty": ""}));
        assert_eq!(got["stringData"], json!({"plain": "text"}));
        assert_eq!(got["type"], "Opaque");
        assert_eq!(got["immutable"], true);
        let raw = [m(1, &[st(1, "c")]), m(3, &[st(1, "bin"), b(2, b"\xff")])].concat();
        let got = decode(&envelope("v1", "ConfigMap", &raw)).expect("decodes");
        assert_eq!(got["binaryData"], json!({"bin": "/w=="}));
    }

    #[test]
    fn times_micro_times_int_or_strings_and_quantities() {
        // Event: firstTimestamp drops nanoseconds like Go; eventTime keeps microseconds.
        let raw = [
            m(1, &[st(1, "e")]),
            m(2, &[st(1, "Pod"), st(3, "web")]),
            m(6, &[v(1, 1_700_000_000), v(2, 999_999_999)]),
            m(7, &[]),
            v(8, 3),
            m(10, &[v(1, 0), v(2, 1_234_567)]),
        ]
        .concat();
        let got = decode(&envelope("v1", "Event", &raw)).expect("decodes");
        assert_eq!(got["firstTimestamp"], "2023-11-14T22:13:20Z");
        assert_eq!(got["lastTimestamp"], Value::Null);
        assert_eq!(got["eventTime"], "1970-01-01T00:00:00.001234Z");
        assert_eq!(got["count"], 3);
        assert_eq!(got["involvedObject"], json!({"kind": "Pod", "name": "web"}));

        // Deployment strategy: maxSurge as a percentage, maxUnavailable as a number;
        // negative int32 (10-byte varint) survives.
        let raw = [
            m(1, &[st(1, "d")]),
            m(
                2,
                &[
                    v(1, 3),
                    m(
                        4,
                        &[
                            st(1, "RollingUpdate"),
                            m(
                                2,
                                &[m(1, &[v(1, 0), v(2, 0)]), m(2, &[v(1, 1), st(3, "25%")])],
                            ),
                        ],
                    ),
                    v(5, u64::MAX),
                ],
            ),
        ]
        .concat();
        let got = decode(&envelope("apps/v1", "Deployment", &raw)).expect("decodes");
        assert_eq!(
            got["spec"]["strategy"],
            json!({"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 0, "maxSurge": "25%"}})
        );
        assert_eq!(got["spec"]["minReadySeconds"], -1);
        assert_eq!(got["spec"]["replicas"], 3);

        // An empty Quantity message is the zero quantity.
        let raw = [
            m(1, &[st(1, "q")]),
            m(
                2,
                &[
                    m(1, &[st(1, "pods"), quantity(2, "2")]),
                    m(1, &[st(1, "cpu"), m(2, &[])]),
                ],
            ),
        ]
        .concat();
        let got = decode(&envelope("v1", "ResourceQuota", &raw)).expect("decodes");
        assert_eq!(got["spec"]["hard"], json!({"pods": "2", "cpu": "0"}));

        let bad = [
            m(1, &[st(1, "d")]),
            m(2, &[m(4, &[m(2, &[m(1, &[v(1, 2)])])])]),
        ]
        .concat();
        let e = invalid_message(decode(&envelope("apps/v1", "Deployment", &bad)));
        assert!(
            e.contains("spec.strategy.rollingUpdate.maxUnavailable")
                && e.contains("IntOrString type 2"),
            "{e}"
        );
    }

    #[test]
    fn raw_extensions_hold_json_or_nested_protobuf() {
        let raw = [
            m(1, &[st(1, "r1")]),
            m(2, &[st(1, r#"{"spec":{"replicas":2}}"#)]),
            v(3, 7),
        ]
        .concat();
        let got = decode(&envelope("apps/v1", "ControllerRevision", &raw)).expect("decodes");
        assert_eq!(got["data"], json!({"spec": {"replicas": 2}}));
        assert_eq!(got["revision"], 7);

        let inner = envelope(
            "v1",
            "ConfigMap",
            &[m(1, &[st(1, "inner")]), kv(2, "a", "b")].concat(),
        );
        let raw = [m(1, &[st(1, "r2")]), m(2, &[b(1, &inner)])].concat();
        let got = decode(&envelope("apps/v1", "ControllerRevision", &raw)).expect("decodes");
        assert_eq!(
            got["data"],
            json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "inner"}, "data": {"a": "b"}})
        );

        let raw = [m(1, &[st(1, "r3")]), m(2, &[st(1, "not json")])].concat();
        let e = invalid_message(decode(&envelope("apps/v1", "ControllerRevision", &raw)));
        assert!(
            e.starts_with("data: the embedded raw object is not JSON"),
            "{e}"
        );
    }

    #[test]
    fn raw_extension_nesting_is_bounded() {
        let mut body = envelope("v1", "ConfigMap", &m(1, &[st(1, "leaf")]));
        for _ in 0..(MAX_DEPTH + 5) {
            body = envelope("apps/v1", "ControllerRevision", &m(2, &[b(1, &body)]));
        }
        let e = invalid_message(decode(&body));
        assert!(e.contains("nest more than"), "{e}");
    }

    #[test]
    fn packed_and_unpacked_repeated_scalars_agree() {
        let packed = [vint(1), vint(2), vint(u64::MAX)].concat();
        let spec = m(2, &[m(14, &[b(4, &packed), v(4, 5)])]);
        let got = decode(&envelope("v1", "Pod", &spec)).expect("decodes");
        assert_eq!(
            got["spec"]["securityContext"]["supplementalGroups"],
            json!([1, 2, -1, 5])
        );
    }

    #[test]
    fn unknown_fields_are_skipped_at_every_level() {
        let unknowns = [
            v(900, 1),
            [key(901, 1), vec![0; 8]].concat(),
            st(902, "new"),
            [key(903, 5), vec![0; 4]].concat(),
        ]
        .concat();
        let meta = m(1, &[unknowns.clone(), st(1, "n"), unknowns.clone()]);
        let raw = [
            unknowns.clone(),
            meta,
            m(2, &[unknowns.clone(), st(1, "kubernetes")]),
        ]
        .concat();
        let body = [
            MAGIC.to_vec(),
            unknowns.clone(),
            m(1, &[unknowns.clone(), st(1, "v1"), st(2, "Namespace")]),
            b(2, &raw),
            unknowns,
        ]
        .concat();
        let got = decode(&body).expect("decodes");
        assert_eq!(
            got,
            json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "n"}, "spec": {"finalizers": ["kubernetes"]}})
        );
    }

    #[test]
    fn a_repeated_singular_message_is_merged_and_the_last_scalar_wins() {
        let raw = [
            m(1, &[st(1, "first"), kv(11, "a", "1")]),
            m(1, &[st(1, "second"), kv(11, "b", "2")]),
            m(2, &[st(1, "x")]),
            m(2, &[st(1, "")]),
        ]
        .concat();
        let got = decode(&envelope("v1", "Namespace", &raw)).expect("decodes");
        assert_eq!(
            got["metadata"],
            json!({"name": "second", "labels": {"a": "1", "b": "2"}})
        );
        // spec.finalizers is repeated: both are kept.
        assert_eq!(got["spec"]["finalizers"], json!(["x", ""]));
    }

    #[test]
    fn json_inside_the_envelope_is_accepted() {
        let body = [
            MAGIC.to_vec(),
            m(1, &[st(1, "v1"), st(2, "Namespace")]),
            st(2, r#"{"metadata":{"name":"j"}}"#),
            st(4, "application/json"),
        ]
        .concat();
        assert_eq!(
            decode(&body).expect("decodes"),
            json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "j"}})
        );
    }

    #[test]
    fn malformed_bodies_are_clear_errors() {
        let cases: Vec<(Vec<u8>, &str)> = vec![
            (
                b"{\"kind\":\"Pod\"}".to_vec(),
                "does not start with the Kubernetes protobuf prefix",
            ),
            (MAGIC.to_vec(), "no typeMeta.kind"),
            (
                [MAGIC.to_vec(), vec![0x0a, 0x05, 0x0a]].concat(),
                "typeMeta: truncated",
            ),
            ([MAGIC.to_vec(), vec![0x80; 11]].concat(), "varint"),
            (
                [MAGIC.to_vec(), vec![0x00]].concat(),
                "invalid field number 0",
            ),
            ([MAGIC.to_vec(), key(5, 3)].concat(), "groups"),
            (
                [MAGIC.to_vec(), key(1, 3)].concat(),
                "typeMeta: wire type 3 (start-group) where 2 (length-delimited) was expected",
            ),
            ([MAGIC.to_vec(), key(5, 6)].concat(), "invalid wire type 6"),
            (
                envelope("v1", "Namespace", &m(1, &[b(1, &[0xff, 0xfe])])),
                "metadata.name: a string is not valid UTF-8",
            ),
            (
                envelope("v1", "Namespace", &m(1, &[v(1, 3)])),
                "metadata.name: wire type 0 (varint) where 2 (length-delimited) was expected",
            ),
            (
                envelope("v1", "Pod", &m(2, &[m(2, &[st(1, "a")]), m(2, &[v(1, 1)])])),
                "spec.containers[1].name: wire type 0",
            ),
            (
                envelope("v1", "Pod", &m(2, &[v(2, 1)])),
                "spec.containers[0]: wire type 0",
            ),
            (
                envelope("v1", "Event", &m(6, &[v(1, 300_000_000_000)])),
                "firstTimestamp: time 300000000000s since the epoch is outside the years 0 to 9999",
            ),
            (
                envelope("v1", "Namespace", &[key(1, 2), vint(u64::MAX)].concat()),
                "metadata: truncated",
            ),
        ];
        for (body, want) in cases {
            let e = invalid_message(decode(&body));
            assert!(e.contains(want), "{e:?} should mention {want:?}");
        }
    }

    #[test]
    fn unsupported_kinds_and_encodings_ask_for_json() {
        for body in [
            envelope("rbac.authorization.k8s.io/v1", "Role", &[]),
            [
                MAGIC.to_vec(),
                m(1, &[st(1, "v1"), st(2, "Pod")]),
                st(3, "gzip"),
            ]
            .concat(),
        ] {
            assert!(matches!(decode(&body), Err(DecodeError::Unsupported(_))));
        }
        assert!(decode(&envelope(
            "v1",
            "Binding",
            &[m(1, &[st(1, "p")]), m(2, &[st(2, "node-1")])].concat()
        ))
        .is_ok());
        let opts = decode(&envelope(
            "meta.k8s.io/v1",
            "DeleteOptions",
            &[v(1, 0), st(4, "Foreground")].concat(),
        ))
        .expect("decodes");
        assert_eq!(
            opts,
            json!({"apiVersion": "meta.k8s.io/v1", "kind": "DeleteOptions", "gracePeriodSeconds": 0, "propagationPolicy": "Foreground"})
        );
    }

    #[test]
    fn every_truncation_of_a_body_is_an_error_or_a_prefix_decode() {
        for body in [pod_body(), hex_body(KUBECTL_BODIES[3].1)] {
            for cut in 0..body.len() {
                // Must not panic. A cut between two envelope fields can still decode.
                if let Err(e) = decode(&body[..cut]) {
                    assert!(!e.to_string().is_empty());
                }
            }
        }
        // A cut inside the envelope's raw field (followed by two 2-byte empty-string
        // fields) is always reported as truncation.
        let body = pod_body();
        for cut in (body.len() - 200)..(body.len() - 4) {
            let e = invalid_message(decode(&body[..cut]));
            assert!(e.starts_with("raw: truncated"), "cut at {cut}: {e}");
        }
    }

    /// xorshift64*: deterministic pseudo-random bytes for the fuzz loops.
    struct Rng(u64);

    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 >> 12;
            self.0 ^= self.0 << 25;
            self.0 ^= self.0 >> 27;
            self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
        }

        fn below(&mut self, n: usize) -> usize {
            (self.next() % n as u64) as usize
        }
    }

    #[test]
    fn random_and_mutated_bytes_never_panic() {
        let mut rng = Rng(0x5eed_1234_abcd_0001);
        for i in 0..20_000 {
            let len = rng.below(200);
            let mut body: Vec<u8> = (0..len).map(|_| rng.next() as u8).collect();
            if i % 2 == 0 {
                body.splice(0..0, MAGIC.iter().copied());
            }
            let _ = decode(&body);
        }
        let seeds: Vec<Vec<u8>> = KUBECTL_BODIES
            .iter()
            .map(|(_, h, _)| hex_body(h))
            .chain([pod_body()])
            .collect();
        for _ in 0..20_000 {
            let mut body = seeds[rng.below(seeds.len())].clone();
            for _ in 0..=rng.below(4) {
                let at = 4 + rng.below(body.len() - 4);
                match rng.below(4) {
                    0 => body[at] = rng.next() as u8,
                    1 => body[at] ^= 1 << rng.below(8),
                    2 => {
                        body.remove(at);
                    }
                    _ => body.insert(at, rng.next() as u8),
                }
                if body.len() <= 4 {
                    break;
                }
            }
            let _ = decode(&body);
        }
    }

    #[test]
    fn time_and_duration_formats_match_go() {
        assert_eq!(
            format_time(0, 0, false).as_deref(),
            Ok("1970-01-01T00:00:00Z")
        );
        assert_eq!(
            format_time(951_782_400, 0, false).as_deref(),
            Ok("2000-02-29T00:00:00Z")
        );
        assert_eq!(
            format_time(-1, 0, false).as_deref(),
            Ok("1969-12-31T23:59:59Z")
        );
        assert_eq!(
            format_time(253_402_300_799, 0, false).as_deref(),
            Ok("9999-12-31T23:59:59Z")
        );
        assert!(format_time(253_402_300_800, 0, false).is_err());
        assert_eq!(
            format_time(-62_167_219_200, 0, false).as_deref(),
            Ok("0000-01-01T00:00:00Z")
        );
        assert!(format_time(-62_167_219_201, 0, false).is_err());
        assert_eq!(
            format_time(1_700_000_000, 5_000, true).as_deref(),
            Ok("2023-11-14T22:13:20.000005Z")
        );
        assert_eq!(
            format_time(1, -1, true).as_deref(),
            Ok("1970-01-01T00:00:00.999999Z")
        );
        for (ns, want) in [
            (0, "0s"),
            (1, "1ns"),
            (1_100, "1.1µs"),
            (2_200_000, "2.2ms"),
            (1_500_000_000, "1.5s"),
            (300_000_000_000, "5m0s"),
            (3_600_000_000_000, "1h0m0s"),
            (3_723_000_000_001, "1h2m3.000000001s"),
            (-90_000_000_000, "-1m30s"),
            (i64::MIN, "-2562047h47m16.854775808s"),
        ] {
            assert_eq!(go_duration(ns), want, "{ns}");
        }
    }

    #[test]
    fn schema_tables_are_consistent() {
        let served = [
            ("v1", "Namespace"),
            ("v1", "Node"),
            ("v1", "Pod"),
            ("v1", "Event"),
            ("v1", "ReplicationController"),
            ("v1", "Service"),
            ("v1", "Endpoints"),
            ("v1", "ConfigMap"),
            ("v1", "Secret"),
            ("v1", "Binding"),
            ("apps/v1", "ReplicaSet"),
            ("apps/v1", "Deployment"),
            ("apps/v1", "DaemonSet"),
            ("apps/v1", "ControllerRevision"),
            ("batch/v1", "Job"),
            ("autoscaling/v1", "Scale"),
            ("v1", "DeleteOptions"),
        ];
        let mut stack: Vec<&'static Message> = served
            .iter()
            .map(|(av, k)| s::root(av, k).unwrap_or_else(|| panic!("no schema for {av} {k}")))
            .collect();
        let mut seen = std::collections::HashSet::new();
        while let Some(msg) = stack.pop() {
            if !seen.insert(msg.name) {
                continue;
            }
            for w in msg.fields.windows(2) {
                assert!(
                    w[0].num < w[1].num,
                    "{}: fields must be sorted by number",
                    msg.name
                );
            }
            for f in msg.fields {
                assert!(f.num > 0 && !f.json.is_empty(), "{}.{}", msg.name, f.json);
                match (f.card, f.ty) {
                    (Card::Inline, Ty::Msg(_)) => {}
                    (Card::Inline, _) => panic!("{}.{}: only messages inline", msg.name, f.json),
                    (Card::Omit, Ty::Str | Ty::Bool | Ty::I32 | Ty::I64 | Ty::F64 | Ty::Bytes) => {}
                    (Card::Omit, _) => panic!("{}.{}: only scalars omit zero", msg.name, f.json),
                    _ => {}
                }
                if let Ty::Msg(m) = f.ty {
                    stack.push(m);
                }
            }
        }
        for must in [
            "core.v1.ProbeHandler",
            "core.v1.VolumeSource",
            "core.v1.ProjectedVolumeSource",
            "core.v1.DownwardAPIVolumeSource",
            "core.v1.TopologySpreadConstraint",
            "core.v1.Affinity",
            "core.v1.EnvFromSource",
            "meta.v1.LabelSelector",
            "meta.v1.ManagedFieldsEntry",
        ] {
            assert!(seen.contains(must), "{must} is reachable");
        }
    }
}
