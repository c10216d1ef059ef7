//! Checks a [`Resource`] before it enters a [`super::Resources`]: names, roles and set
//! items must survive the text form (`parse(print(x)) == x`), ranges must have
//! `begin <= end`. Also brings it to normal form (role `*` is unreserved, ranges merged).

use super::value::normalize_ranges;
use super::{Resource, ResourcesError, Value};

/// Characters that delimit the text form, so cannot appear in names or roles.
const NAME_SPECIALS: &[char] = &[';', ':', '(', ')', '[', ']', '{', '}', ','];
/// Characters that delimit a set, so cannot appear in set items.
const ITEM_SPECIALS: &[char] = &[';', ',', '{', '}'];

/// Returns `r` in normal form, or why it is not valid.
pub(super) fn normalize(mut r: Resource) -> Result<Resource, ResourcesError> {
    if let Some(reason) = name_problem(&r.name) {
        return Err(ResourcesError::InvalidName {
            name: r.name,
            reason,
        });
    }
    if r.role.as_deref() == Some("*") {
        r.role = None;
    }
    if let Some(role) = &r.role {
        if let Some(reason) = role_problem(role) {
            return Err(ResourcesError::InvalidRole {
                name: r.name,
                role: role.clone(),
                reason,
            });
        }
    }
    match &mut r.value {
        Value::Scalar(_) => {}
        Value::Ranges(rs) => {
            if let Some(bad) = rs.iter().find(|x| x.begin > x.end) {
                return Err(ResourcesError::InvalidRange {
                    name: r.name,
                    begin: bad.begin,
                    end: bad.end,
                });
            }
            normalize_ranges(rs);
        }
        Value::Set(items) => {
            for item in items.iter() {
                if let Some(reason) = item_problem(item) {
                    return Err(ResourcesError::InvalidSetItem {
                        name: r.name,
                        item: item.clone(),
                        reason,
                    });
                }
            }
        }
    }
    Ok(r)
}

fn bad_char(s: &str, specials: &[char], allow_inner_space: bool) -> Option<String> {
    s.chars().find_map(|c| {
        if c.is_control() {
            Some(format!("contains control character {c:?}"))
        } else if c.is_whitespace() && !allow_inner_space {
            Some("contains whitespace".to_owned())
        } else if specials.contains(&c) {
            Some(format!("contains '{c}'"))
        } else {
            None
        }
    })
}

fn name_problem(name: &str) -> Option<String> {
    if name.is_empty() {
        return Some("is empty".to_owned());
    }
    bad_char(name, NAME_SPECIALS, false)
}

fn role_problem(role: &str) -> Option<String> {
    match role {
        "" => Some("is empty".to_owned()),
        "." | ".." => Some("cannot be '.' or '..'".to_owned()),
        _ if role.starts_with('-') => Some("cannot start with '-'".to_owned()),
        _ => bad_char(role, NAME_SPECIALS, false),
    }
}

fn item_problem(item: &str) -> Option<String> {
    if item.is_empty() {
        return Some("is empty".to_owned());
    }
    if item.trim() != item {
        return Some("has leading or trailing whitespace".to_owned());
    }
    bad_char(item, ITEM_SPECIALS, true)
}
