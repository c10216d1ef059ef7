//! The Mesos text form of [`Resources`]: `name(role):value` items separated by `;`,
//! values `4`, `0.5`, `[31000-32000,33000-33010]` or `{a,b}`. Printing is deterministic
//! (unreserved first: cpus, mem, disk, ports, then other names alphabetically; then each
//! role in order, names in the same order) and parses back to the same value.

use std::collections::BTreeSet;
use std::fmt;
use std::str::FromStr;

use super::scalar::parse_scalar;
use super::{Range, Resource, Resources, ResourcesError, Value};

/// Parses the text form; see [`Resources::parse`].
pub(super) fn parse(s: &str) -> Result<Resources, ResourcesError> {
    let mut out = Resources::new();
    for token in s.split(';') {
        let token = token.trim();
        if token.is_empty() {
            continue;
        }
        let bad = |reason: String| ResourcesError::Parse {
            token: token.to_owned(),
            reason,
        };
        let r = parse_item(token).map_err(bad)?;
        out.add_resource(r).map_err(|e| bad(e.to_string()))?;
    }
    Ok(out)
}

/// One `name(role):value` item; the error is the reason.
fn parse_item(token: &str) -> Result<Resource, String> {
    let (lhs, value) = token
        .split_once(':')
        .ok_or_else(|| "expected 'name:value' or 'name(role):value'".to_owned())?;
    let lhs = lhs.trim();
    let (name, role) = match lhs.split_once('(') {
        None => (lhs, None),
        Some((name, rest)) => {
            let role = rest
                .strip_suffix(')')
                .ok_or_else(|| format!("'{lhs}' lacks the ')' closing its role"))?;
            (name.trim(), Some(role.trim().to_owned()))
        }
    };
    Ok(Resource {
        name: name.to_owned(),
        role,
        value: parse_value(value.trim())?,
    })
}

fn parse_value(v: &str) -> Result<Value, String> {
    if let Some(rest) = v.strip_prefix('[') {
        let inner = rest
            .strip_suffix(']')
            .ok_or_else(|| format!("'{v}' lacks the closing ']'"))?;
        return parse_list(inner, parse_range).map(Value::Ranges);
    }
    if let Some(rest) = v.strip_prefix('{') {
        let inner = rest
            .strip_suffix('}')
            .ok_or_else(|| format!("'{v}' lacks the closing '}}'"))?;
        let items: Vec<String> = parse_list(inner, |item| Ok(item.to_owned()))?;
        return Ok(Value::Set(items.into_iter().collect::<BTreeSet<_>>()));
    }
    if v.is_empty() {
        return Err("the value is empty".to_owned());
    }
    parse_scalar(v).map(Value::Scalar)
}

/// Comma-separated, trimmed, non-empty elements; an all-blank list is empty.
fn parse_list<T>(
    inner: &str,
    element: impl Fn(&str) -> Result<T, String>,
) -> Result<Vec<T>, String> {
    if inner.trim().is_empty() {
        return Ok(Vec::new());
    }
    inner
        .split(',')
        .map(|e| match e.trim() {
            "" => Err("empty element in a list".to_owned()),
            e => element(e),
        })
        .collect()
}

fn parse_range(r: &str) -> Result<Range, String> {
    let (b, e) = r
        .split_once('-')
        .ok_or_else(|| format!("'{r}' is not a range 'begin-end'"))?;
    let number = |n: &str| {
        let n = n.trim();
        n.parse::<u64>()
            .map_err(|_| format!("'{n}' is not an unsigned integer"))
    };
    Ok(Range {
        begin: number(b)?,
        end: number(e)?,
    })
}

impl FromStr for Resources {
    type Err = ResourcesError;

    fn from_str(s: &str) -> Result<Resources, ResourcesError> {
        parse(s)
    }
}

/// Well-known names first, in the order Mesos prints them.
fn name_rank(name: &str) -> u8 {
    match name {
        "cpus" => 0,
        "mem" => 1,
        "disk" => 2,
        "ports" => 3,
        _ => 4,
    }
}

impl fmt::Display for Resource {
    /// `name:value` if unreserved, `name(role):value` if reserved.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.name)?;
        if let Some(role) = &self.role {
            write!(f, "({role})")?;
        }
        write!(f, ":{}", self.value)
    }
}

impl fmt::Display for Resources {
    /// The text form, e.g. `cpus:4;mem:8192;disk:10000;ports:[31000-32000];cpus(analytics):2`;
    /// empty resources print as the empty string.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut order: Vec<&Resource> = self.entries.iter().collect();
        order.sort_by_key(|r| (r.role.as_deref(), name_rank(&r.name), r.name.as_str()));
        for (i, r) in order.into_iter().enumerate() {
            if i > 0 {
                f.write_str(";")?;
            }
            write!(f, "{r}")?;
        }
        Ok(())
    }
}
