//! Property tests of `drover_proto::resources`: the algebra of `+`, `-` and `contains`,
//! the text form round trip, the bincode round trip, and that parsing never panics.
//! Generators cover scalars, ranges, sets, roles and names used with two types.

use std::collections::{BTreeMap, BTreeSet};

use drover_proto::resources::{Range, Resource, Resources, ResourcesError, Scalar, Value};
use proptest::prelude::*;

fn role() -> impl Strategy<Value = Option<String>> {
    prop_oneof![
        3 => Just(None),
        1 => Just(Some("*".to_owned())),
        2 => Just(Some("analytics".to_owned())),
        1 => Just(Some("web/prod".to_owned())),
        1 => "[a-z][a-z0-9_.-]{0,2}".prop_map(Some),
    ]
}

fn scalar() -> impl Strategy<Value = Value> {
    prop_oneof![0u64..5, 0u64..3_000, 0u64..100_000_000]
        .prop_map(|m| Value::Scalar(Scalar::from_milli(m)))
}

fn ranges() -> impl Strategy<Value = Value> {
    // A small domain, so that ranges of two operands overlap, touch and split often.
    let range = prop_oneof![
        5 => (0u64..150, 0u64..30),
        1 => (u64::MAX - 60..=u64::MAX, 0u64..60),
    ]
    .prop_map(|(begin, len)| Range {
        begin,
        end: begin.saturating_add(len),
    });
    prop::collection::vec(range, 0..6).prop_map(Value::Ranges)
}

fn set() -> impl Strategy<Value = Value> {
    prop::collection::btree_set("[a-d]|dev [0-3]", 0..5).prop_map(Value::Set)
}

/// Well-known names keep their type; `x` takes any type, so names conflict sometimes.
fn resource() -> impl Strategy<Value = Resource> {
    let value_for = |name: &'static str, value: BoxedStrategy<Value>| {
        (Just(name.to_owned()), role(), value).prop_map(|(name, role, value)| Resource {
            name,
            role,
            value,
        })
    };
    prop_oneof![
        value_for("cpus", scalar().boxed()),
        value_for("mem", scalar().boxed()),
        value_for("gpus", scalar().boxed()),
        value_for("ports", ranges().boxed()),
        value_for("zones", set().boxed()),
        value_for("x", prop_oneof![scalar(), ranges(), set()].boxed()),
    ]
}

/// Up to 24 items, so that both the linear and the binary search paths are taken.
fn resources() -> impl Strategy<Value = Resources> {
    prop::collection::vec(resource(), 0..24).prop_map(|items| {
        let mut out = Resources::new();
        for r in items {
            match out.add_resource(r) {
                Ok(()) | Err(ResourcesError::TypeMismatch { .. }) => {}
                Err(e) => panic!("generator made an invalid resource: {e}"),
            }
        }
        out
    })
}

/// The value stored for (name, role), if any.
fn entry<'a>(r: &'a Resources, name: &str, role: Option<&str>) -> Option<&'a Value> {
    r.iter()
        .find(|e| e.name == name && e.role.as_deref() == role)
        .map(|e| &e.value)
}

fn is_empty_value(v: &Value) -> bool {
    match v {
        Value::Scalar(s) => *s == Scalar::ZERO,
        Value::Ranges(r) => r.is_empty(),
        Value::Set(s) => s.is_empty(),
    }
}

/// A naive model of a value: ranges expanded to their points.
#[derive(Clone, Debug, PartialEq, Eq)]
enum M {
    S(u64),
    P(BTreeSet<u64>),
    I(BTreeSet<String>),
}

/// A naive model of `Resources`: a map from (name, role) to a non-empty value.
type Model = BTreeMap<(String, Option<String>), M>;

fn model(r: &Resources) -> Model {
    r.iter()
        .map(|e| {
            let m = match &e.value {
                Value::Scalar(s) => M::S(s.milli()),
                Value::Ranges(rs) => M::P(rs.iter().flat_map(|r| r.begin..=r.end).collect()),
                Value::Set(items) => M::I(items.clone()),
            };
            ((e.name.clone(), e.role.clone()), m)
        })
        .collect()
}

fn same_kind(a: &M, b: &M) -> bool {
    std::mem::discriminant(a) == std::mem::discriminant(b)
}

fn m_is_empty(m: &M) -> bool {
    match m {
        M::S(x) => *x == 0,
        M::P(p) => p.is_empty(),
        M::I(i) => i.is_empty(),
    }
}

/// Union per key; an entry of `b` whose name has another type in `a` is skipped.
fn model_add(a: &Model, b: &Model) -> Model {
    let mut out = a.clone();
    for ((name, role), v) in b {
        if a.iter().any(|((n, _), w)| n == name && !same_kind(v, w)) {
            continue;
        }
        match (out.get_mut(&(name.clone(), role.clone())), v) {
            (Some(M::S(x)), M::S(y)) => *x = x.saturating_add(*y),
            (Some(M::P(x)), M::P(y)) => x.extend(y.iter().copied()),
            (Some(M::I(x)), M::I(y)) => x.extend(y.iter().cloned()),
            (Some(_), _) => unreachable!("kinds were checked"),
            (None, v) => {
                out.insert((name.clone(), role.clone()), v.clone());
            }
        }
    }
    out
}

/// Saturating difference per key; emptied entries are dropped.
fn model_sub(a: &Model, b: &Model) -> Model {
    let mut out = a.clone();
    for (k, v) in b {
        match (out.get_mut(k), v) {
            (Some(M::S(x)), M::S(y)) => *x = x.saturating_sub(*y),
            (Some(M::P(x)), M::P(y)) => x.retain(|p| !y.contains(p)),
            (Some(M::I(x)), M::I(y)) => x.retain(|i| !y.contains(i)),
            _ => {}
        }
    }
    out.retain(|_, m| !m_is_empty(m));
    out
}

fn model_contains(a: &Model, b: &Model) -> bool {
    b.iter().all(|(k, v)| match (a.get(k), v) {
        (Some(M::S(x)), M::S(y)) => x >= y,
        (Some(M::P(x)), M::P(y)) => y.is_subset(x),
        (Some(M::I(x)), M::I(y)) => y.is_subset(x),
        _ => false,
    })
}

/// The normal form every `Resources` must be in.
fn check_normal(r: &Resources) -> Result<(), TestCaseError> {
    let entries: Vec<&Resource> = r.iter().collect();
    for w in entries.windows(2) {
        let key = |e: &Resource| (e.name.clone(), e.role.clone());
        prop_assert!(key(w[0]) < key(w[1]), "not sorted or duplicate: {:?}", w);
        if w[0].name == w[1].name {
            prop_assert!(
                std::mem::discriminant(&w[0].value) == std::mem::discriminant(&w[1].value),
                "two types for one name: {:?}",
                w
            );
        }
    }
    for e in entries {
        prop_assert!(!is_empty_value(&e.value), "empty entry {:?}", e);
        prop_assert!(e.role.as_deref() != Some("*"), "role * kept: {:?}", e);
        if let Value::Ranges(rs) = &e.value {
            prop_assert!(rs.iter().all(|r| r.begin <= r.end), "bad range {:?}", e);
            prop_assert!(
                rs.windows(2)
                    .all(|w| w[0].end.saturating_add(1) < w[1].begin),
                "ranges not merged: {:?}",
                e
            );
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn add_matches_model(a in resources(), b in resources()) {
        let expected = model_add(&model(&a), &model(&b));
        let by_ref = &a + &b;
        check_normal(&by_ref)?;
        prop_assert_eq!(model(&by_ref), expected);
        prop_assert_eq!(a.clone() + b.clone(), by_ref.clone());
        prop_assert_eq!(&a + b.clone(), by_ref.clone());
        let mut assigned = a.clone();
        assigned += &b;
        prop_assert_eq!(assigned, by_ref);
    }

    #[test]
    fn sub_matches_model(a in resources(), b in resources()) {
        let expected = model_sub(&model(&a), &model(&b));
        let by_ref = &a - &b;
        check_normal(&by_ref)?;
        prop_assert_eq!(model(&by_ref), expected);
        prop_assert_eq!(a.clone() - b.clone(), by_ref.clone());
        let mut assigned = a.clone();
        assigned -= b;
        prop_assert_eq!(assigned, by_ref);
    }

    #[test]
    fn contains_matches_model(a in resources(), b in resources()) {
        // Random pairs mostly do not contain each other; parts of `a` mostly do.
        let part = &a - &b;
        let grown = &a + &b;
        for (x, y) in [(&a, &b), (&b, &a), (&a, &part), (&part, &a), (&grown, &a), (&grown, &b)] {
            prop_assert_eq!(x.contains(y), model_contains(&model(x), &model(y)), "{} vs {}", x, y);
        }
    }

    #[test]
    fn generated_resources_are_normal(a in resources()) {
        check_normal(&a)?;
    }

    #[test]
    fn add_then_sub_is_identity(a in resources(), b in resources()) {
        // Ranges and sets add as unions, so `b` must not overlap `a` for this to hold.
        let b = &b - &a.filter(|r| !matches!(r.value, Value::Scalar(_)));
        prop_assert_eq!((&a + &b) - &b, a);
    }

    #[test]
    fn contains_itself(a in resources()) {
        prop_assert!(a.contains(&a));
        prop_assert!(a.contains(&Resources::new()));
    }

    #[test]
    fn contains_its_difference(a in resources(), b in resources()) {
        prop_assert!(a.contains(&(&a - &b)));
    }

    #[test]
    fn sum_contains_left_operand(a in resources(), b in resources()) {
        prop_assert!((&a + &b).contains(&a));
        prop_assert!((a.clone() + b.clone()).contains(&a));
    }

    #[test]
    fn sub_saturates_per_entry(a in resources(), b in resources()) {
        let d = &a - &b;
        for e in d.iter() {
            prop_assert!(!is_empty_value(&e.value), "empty entry {:?} kept", e);
            prop_assert!(entry(&a, &e.name, e.role.as_deref()).is_some(), "{:?} not from a", e);
        }
        for e in a.iter() {
            let (name, role) = (e.name.as_str(), e.role.as_deref());
            if let Value::Scalar(x) = e.value {
                let y = match entry(&b, name, role) {
                    Some(Value::Scalar(y)) => *y,
                    _ => Scalar::ZERO,
                };
                let got = match entry(&d, name, role) {
                    Some(Value::Scalar(s)) => *s,
                    None => Scalar::ZERO,
                    Some(other) => return Err(TestCaseError::fail(format!("{other:?}"))),
                };
                prop_assert_eq!(got, x.saturating_sub(y));
            }
        }
    }

    #[test]
    fn checked_sub_is_sub_when_contained(a in resources(), c in resources()) {
        let b = &a - &c;
        prop_assert_eq!(a.checked_sub(&b), Some(&a - &b));
        prop_assert_eq!((&a - &b) + &b, a.clone());
        prop_assert_eq!(a.checked_sub(&c).is_some(), a.contains(&c));
    }

    #[test]
    fn add_commutes_without_conflicts(a in resources(), b in resources()) {
        let types = |r: &Resources| -> BTreeSet<(String, String)> {
            r.iter().map(|e| (e.name.clone(), format!("{:?}", std::mem::discriminant(&e.value)))).collect()
        };
        let names = |r: &Resources| -> BTreeSet<String> { r.iter().map(|e| e.name.clone()).collect() };
        let conflict = types(&a).union(&types(&b)).count()
            != names(&a).union(&names(&b)).count();
        prop_assume!(!conflict);
        prop_assert_eq!(&a + &b, &b + &a);
    }

    #[test]
    fn scalar_and_ports_views_match_entries(a in resources()) {
        let cpus = a.iter().filter(|e| e.name == "cpus").fold(Scalar::ZERO, |s, e| match e.value {
            Value::Scalar(x) => s + x,
            _ => s,
        });
        prop_assert_eq!(a.cpus(), cpus);
        let mut ports = Resources::new();
        for r in a.iter().filter(|e| e.name == "ports") {
            ports += Resources::parse(&format!("ports:{}", r.value)).map_err(|e| TestCaseError::fail(e.to_string()))?;
        }
        prop_assert_eq!(Value::Ranges(a.ports()), entry(&ports, "ports", None).cloned().unwrap_or(Value::Ranges(vec![])));
        prop_assert_eq!(a.unreserved() + a.roles().iter().fold(Resources::new(), |acc, r| acc + a.reserved(r)), a.clone());
    }

    #[test]
    fn print_then_parse_is_identity(a in resources()) {
        let text = a.to_string();
        prop_assert_eq!(Resources::parse(&text), Ok(a), "text: {}", text);
    }

    #[test]
    fn bincode_round_trip(a in resources()) {
        let cfg = bincode::config::standard();
        let bytes = bincode::serde::encode_to_vec(&a, cfg).map_err(|e| TestCaseError::fail(e.to_string()))?;
        let back: (Resources, usize) = bincode::serde::decode_from_slice(&bytes, cfg)
            .map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert_eq!(back.0, a);
    }

    #[test]
    fn parse_of_any_string_does_not_panic(s in "\\PC{0,60}") {
        let _ = Resources::parse(&s);
    }

    #[test]
    fn parse_of_near_miss_strings_does_not_panic(s in "[a-c*() :;,.\\[\\]{}0-9e+-]{0,40}") {
        if let Ok(r) = Resources::parse(&s) {
            prop_assert_eq!(Resources::parse(&r.to_string()), Ok(r));
        }
    }
}
