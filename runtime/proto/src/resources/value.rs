//! Resource values (scalar, ranges, set) and their algebra: add (union), saturating
//! subtract and containment. Ranges are kept sorted, disjoint and non-adjacent, so that
//! equality is semantic and a range is covered iff one stored range covers it.

use std::collections::BTreeSet;
use std::fmt;

use serde::{Deserialize, Serialize};

use super::Scalar;

/// Inclusive range, e.g. ports `[31000-32000]`; `begin <= end`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Range {
    /// First value in the range.
    pub begin: u64,
    /// Last value in the range (inclusive).
    pub end: u64,
}

impl fmt::Display for Range {
    /// `begin-end`, e.g. `31000-32000`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{}", self.begin, self.end)
    }
}

/// Value of one resource.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Value {
    /// A quantity: cpus, mem (MB), disk (MB), gpus.
    Scalar(Scalar),
    /// Inclusive ranges, e.g. ports. In a [`super::Resources`] they are sorted, merged
    /// (no overlap, no adjacency) and non-empty.
    Ranges(Vec<Range>),
    /// Named items, e.g. device ids.
    Set(BTreeSet<String>),
}

impl Value {
    /// Name of the value type, for error messages: `scalar`, `ranges` or `set`.
    pub(super) fn kind(&self) -> &'static str {
        match self {
            Value::Scalar(_) => "scalar",
            Value::Ranges(_) => "ranges",
            Value::Set(_) => "set",
        }
    }

    /// Whether both values have the same type.
    pub(super) fn same_kind(&self, o: &Value) -> bool {
        std::mem::discriminant(self) == std::mem::discriminant(o)
    }

    /// Zero scalar, no ranges, or empty set.
    pub(super) fn is_empty(&self) -> bool {
        match self {
            Value::Scalar(s) => *s == Scalar::ZERO,
            Value::Ranges(r) => r.is_empty(),
            Value::Set(s) => s.is_empty(),
        }
    }

    /// `self += o` (sum, union, union). Returns false and changes nothing if the types
    /// differ. Both must be normalized.
    pub(super) fn add(&mut self, o: &Value) -> bool {
        match (self, o) {
            (Value::Scalar(a), Value::Scalar(b)) => *a += *b,
            (Value::Ranges(a), Value::Ranges(b)) => add_ranges(a, b),
            (Value::Set(a), Value::Set(b)) => {
                for item in b {
                    if !a.contains(item) {
                        a.insert(item.clone());
                    }
                }
            }
            _ => return false,
        }
        true
    }

    /// `self -= o`, saturating: a scalar stops at zero, missing ranges or items are
    /// ignored. Does nothing if the types differ. Both must be normalized.
    pub(super) fn sub(&mut self, o: &Value) {
        match (self, o) {
            (Value::Scalar(a), Value::Scalar(b)) => *a = a.saturating_sub(*b),
            (Value::Ranges(a), Value::Ranges(b)) if !a.is_empty() && !b.is_empty() => {
                *a = sub_ranges(a, b);
            }
            (Value::Set(a), Value::Set(b)) => {
                for item in b {
                    a.remove(item);
                }
            }
            _ => {}
        }
    }

    /// Whether `self` has all of `o`. An empty `o` is contained in anything; otherwise
    /// the types must agree. Both must be normalized.
    pub(super) fn contains(&self, o: &Value) -> bool {
        match (self, o) {
            (Value::Scalar(a), Value::Scalar(b)) => a >= b,
            (Value::Ranges(a), Value::Ranges(b)) => ranges_contain(a, b),
            (Value::Set(a), Value::Set(b)) => b.is_subset(a),
            _ => o.is_empty(),
        }
    }
}

impl fmt::Display for Value {
    /// Mesos text form: `4`, `0.5`, `[1-2,5-9]`, `{a,b}`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (open, close) = match self {
            Value::Scalar(s) => return write!(f, "{s}"),
            Value::Ranges(_) => ("[", "]"),
            Value::Set(_) => ("{", "}"),
        };
        f.write_str(open)?;
        match self {
            Value::Ranges(rs) => write_joined(f, rs.iter())?,
            Value::Set(items) => write_joined(f, items.iter())?,
            Value::Scalar(_) => {}
        }
        f.write_str(close)
    }
}

fn write_joined<T: fmt::Display>(
    f: &mut fmt::Formatter<'_>,
    items: impl Iterator<Item = T>,
) -> fmt::Result {
    for (i, item) in items.enumerate() {
        if i > 0 {
            f.write_str(",")?;
        }
        write!(f, "{item}")?;
    }
    Ok(())
}

/// Appends `r` to sorted, merged `out`, merging it with the last range if they overlap
/// or touch. `r.begin` must not be below the last range's begin.
fn push_merged(out: &mut Vec<Range>, r: Range) {
    if let Some(last) = out.last_mut() {
        if r.begin <= last.end.saturating_add(1) {
            last.end = last.end.max(r.end);
            return;
        }
    }
    out.push(r);
}

/// Sorts and merges ranges whose `begin <= end` (checked by the caller).
pub(super) fn normalize_ranges(rs: &mut Vec<Range>) {
    if rs
        .windows(2)
        .all(|w| w[0].end.saturating_add(1) < w[1].begin)
    {
        return;
    }
    rs.sort_unstable();
    let mut out = Vec::with_capacity(rs.len());
    for r in rs.drain(..) {
        push_merged(&mut out, r);
    }
    *rs = out;
}

/// `a ∪= b` for normalized ranges.
fn add_ranges(a: &mut Vec<Range>, b: &[Range]) {
    if b.is_empty() {
        return;
    }
    if a.last()
        .is_none_or(|l| l.end.saturating_add(1) < b[0].begin)
    {
        a.extend_from_slice(b);
        return;
    }
    let mut out = Vec::with_capacity(a.len() + b.len());
    let (mut i, mut j) = (0, 0);
    while i < a.len() || j < b.len() {
        let next = if j == b.len() || (i < a.len() && a[i].begin <= b[j].begin) {
            i += 1;
            a[i - 1]
        } else {
            j += 1;
            b[j - 1]
        };
        push_merged(&mut out, next);
    }
    *a = out;
}

/// `a \ b` for normalized ranges; splits a range where `b` takes out its middle.
fn sub_ranges(a: &[Range], b: &[Range]) -> Vec<Range> {
    let mut out = Vec::with_capacity(a.len() + 1);
    let mut j = 0;
    for r in a {
        while j < b.len() && b[j].end < r.begin {
            j += 1;
        }
        let mut begin = r.begin;
        let mut alive = true;
        // Every b[j..] that starts within r overlaps [begin, r.end].
        while j < b.len() && b[j].begin <= r.end {
            if b[j].begin > begin {
                out.push(Range {
                    begin,
                    end: b[j].begin - 1,
                });
            }
            if b[j].end >= r.end {
                // b[j] may also cover part of the next range of a: keep j.
                alive = false;
                break;
            }
            begin = b[j].end + 1;
            j += 1;
        }
        if alive {
            out.push(Range { begin, end: r.end });
        }
    }
    out
}

/// Whether normalized `a` covers every value of normalized `b`. Since `a` is merged,
/// each range of `b` must lie within a single range of `a`.
fn ranges_contain(a: &[Range], b: &[Range]) -> bool {
    let mut i = 0;
    for r in b {
        while i < a.len() && a[i].end < r.begin {
            i += 1;
        }
        match a.get(i) {
            Some(c) if c.begin <= r.begin && r.end <= c.end => {}
            _ => return false,
        }
    }
    true
}
