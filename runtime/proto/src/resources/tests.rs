//! Unit tests of the resources module: one behaviour per test, examples from Mesos.

use std::collections::BTreeSet;

use super::*;

fn res(s: &str) -> Resources {
    match Resources::parse(s) {
        Ok(r) => r,
        Err(e) => panic!("{s:?} should parse: {e}"),
    }
}

fn parse_err(s: &str) -> String {
    match Resources::parse(s) {
        Ok(r) => panic!("{s:?} should not parse, got {r}"),
        Err(e) => e.to_string(),
    }
}

fn set(items: &[&str]) -> Value {
    Value::Set(items.iter().map(|s| s.to_string()).collect())
}

#[test]
fn scalar_display_has_no_trailing_zeros() {
    let shown: Vec<String> = [4000, 500, 125, 1250, 1, 0]
        .map(|m| Scalar::from_milli(m).to_string())
        .into();
    assert_eq!(shown, ["4", "0.5", "0.125", "1.25", "0.001", "0"]);
}

#[test]
fn scalar_from_f64_rounds_and_refuses_bad_floats() {
    assert_eq!(Scalar::try_from_f64(0.1).map(Scalar::milli), Ok(100));
    assert_eq!(Scalar::try_from_f64(2.0005).map(Scalar::milli), Ok(2001));
    assert_eq!(Scalar::try_from_f64(-0.0).map(Scalar::milli), Ok(0));
    for bad in [f64::NAN, f64::INFINITY, f64::NEG_INFINITY, -1.0, 1e300] {
        assert!(
            matches!(
                Scalar::try_from_f64(bad),
                Err(ResourcesError::InvalidScalar { .. })
            ),
            "{bad} accepted"
        );
    }
    assert_eq!(Scalar::from_milli(1500).as_f64(), 1.5);
}

#[test]
fn scalars_do_not_drift() {
    let r = res("cpus:0.1") + res("cpus:0.2");
    assert_eq!(r, res("cpus:0.3"));
    let mut r = res("cpus:1");
    for _ in 0..10 {
        r -= &res("cpus:0.1");
    }
    assert!(r.is_empty(), "left {r}");
}

#[test]
fn scalar_add_saturates() {
    assert_eq!(
        Scalar::from_milli(u64::MAX) + Scalar::from_milli(1),
        Scalar::from_milli(u64::MAX)
    );
    assert_eq!(
        Scalar::from_milli(1).saturating_sub(Scalar::from_milli(2)),
        Scalar::ZERO
    );
}

#[test]
fn parses_the_mesos_example_and_prints_it_back() {
    let text = "cpus:4;mem:8192;disk:10000;ports:[31000-32000];cpus(analytics):2";
    let r = res(text);
    assert_eq!(r.cpus().milli(), 6000);
    assert_eq!(r.mem().milli(), 8_192_000);
    assert_eq!(r.disk().milli(), 10_000_000);
    assert_eq!(
        r.ports(),
        vec![Range {
            begin: 31000,
            end: 32000
        }]
    );
    assert_eq!(r.to_string(), text);
}

#[test]
fn display_order_is_well_known_names_then_alphabetical_then_roles() {
    let r = res("zz:1;gpus(b):1;ports:[1-2];aa:{x};mem(a):3;cpus:1;disk(b):2;cpus(a):1");
    assert_eq!(
        r.to_string(),
        "cpus:1;ports:[1-2];aa:{x};zz:1;cpus(a):1;mem(a):3;disk(b):2;gpus(b):1"
    );
}

#[test]
fn parse_accepts_whitespace_star_role_repeats_and_empty_items() {
    let r = res(" cpus ( * ) : 1.5 ; ; mem:1 ;cpus:0.5; ports:[ 5 - 6 , 1-2 ];s:{ b , a };");
    assert_eq!(r, res("cpus:2;mem:1;ports:[1-2,5-6];s:{a,b}"));
    assert!(res("").is_empty());
    assert!(res("  ;  ").is_empty());
    assert!(res("cpus:0;ports:[];s:{}").is_empty());
    assert_eq!("cpus:1".parse::<Resources>(), Ok(res("cpus:1")));
}

#[test]
fn parse_reads_decimals_exactly_and_rounds_to_milli() {
    assert_eq!(res("cpus:0.1235").cpus().milli(), 124);
    assert_eq!(res("cpus:.5").cpus().milli(), 500);
    assert_eq!(res("cpus:1e3").cpus().milli(), 1_000_000);
    assert_eq!(res("cpus:18446744073709551.615").cpus().milli(), u64::MAX);
}

#[test]
fn parse_errors_name_the_offending_token() {
    assert_eq!(
        parse_err("mem:1;cpus:abc"),
        "invalid resource 'cpus:abc': 'abc' is not a number"
    );
    assert!(parse_err("cpus:-1").contains("'-1' is negative"));
    assert!(parse_err("cpus:-0").contains("negative"));
    assert!(parse_err("cpus:nan").contains("'nan' is not a finite number"));
    assert!(parse_err("cpus:inf").contains("not a finite number"));
    assert!(parse_err("cpus:18446744073709552").contains("too large"));
    assert!(parse_err("cpus:1e300").contains("too large"));
    assert!(parse_err("cpus").starts_with("invalid resource 'cpus': expected"));
    assert!(parse_err("cpus:").contains("empty"));
    assert!(parse_err("cpus(a:1").contains("')'"));
    assert!(parse_err("cpus():1").contains("invalid role ''"));
    assert!(parse_err("cpus(-a):1").contains("cannot start with '-'"));
    assert!(parse_err(":1").contains("invalid resource name ''"));
    assert!(parse_err("c pus:1").contains("whitespace"));
    assert!(parse_err("ports:[1-2").contains("']'"));
    assert!(parse_err("ports:[5-1]").contains("begin is greater than end"));
    assert!(parse_err("ports:[5]").contains("'5' is not a range"));
    assert!(parse_err("ports:[1-x]").contains("'x' is not an unsigned integer"));
    assert!(parse_err("ports:[1-2,]").contains("empty element"));
    assert!(parse_err("s:{a").contains("'}'"));
    assert!(parse_err("s:{a,,b}").contains("empty element"));
    assert!(parse_err("s:{a}}").contains("invalid item 'a}'"));
}

#[test]
fn same_name_with_two_types_is_an_error_in_any_role() {
    assert_eq!(
        parse_err("cpus:1;cpus(a):[1-2]"),
        "invalid resource 'cpus(a):[1-2]': resource 'cpus' is given as ranges but is already scalar"
    );
    assert!(parse_err("x:{a};x:1").contains("given as scalar but is already set"));
    // An empty value has no type yet.
    assert_eq!(res("x:0;x:[1-2]"), res("x:[1-2]"));
}

#[test]
fn add_resource_validates_and_normalizes() {
    let mut r = Resources::new();
    let add = |r: &mut Resources, name: &str, role: Option<&str>, value: Value| {
        r.add_resource(Resource {
            name: name.into(),
            role: role.map(Into::into),
            value,
        })
    };
    let ports = Value::Ranges(vec![Range { begin: 5, end: 9 }, Range { begin: 1, end: 4 }]);
    assert_eq!(add(&mut r, "ports", Some("*"), ports), Ok(()));
    assert_eq!(
        r.iter().next().map(|e| (&e.role, &e.value)),
        Some((&None, &Value::Ranges(vec![Range { begin: 1, end: 9 }])))
    );
    let bad = Value::Ranges(vec![Range { begin: 3, end: 2 }]);
    assert!(matches!(
        add(&mut r, "p", None, bad),
        Err(ResourcesError::InvalidRange {
            begin: 3,
            end: 2,
            ..
        })
    ));
    assert!(matches!(
        add(&mut r, "p;", None, set(&["a"])),
        Err(ResourcesError::InvalidName { .. })
    ));
    assert!(matches!(
        add(&mut r, "p", Some(".."), set(&["a"])),
        Err(ResourcesError::InvalidRole { .. })
    ));
    assert!(matches!(
        add(&mut r, "p", None, set(&[" a"])),
        Err(ResourcesError::InvalidSetItem { .. })
    ));
    assert!(matches!(
        add(&mut r, "ports", Some("a"), set(&["a"])),
        Err(ResourcesError::TypeMismatch { .. })
    ));
    assert_eq!(add(&mut r, "s", None, set(&["a b"])), Ok(()));
    assert_eq!(r, res("ports:[1-9];s:{a b}"));
}

#[test]
fn ranges_merge_split_and_contain() {
    assert_eq!(res("p:[1-3]") + res("p:[4-6,10-12]"), res("p:[1-6,10-12]"));
    assert_eq!(
        res("p:[1-10]") - res("p:[3-4,6-6]"),
        res("p:[1-2,5-5,7-10]")
    );
    assert_eq!(
        res("p:[1-10,20-30]") - res("p:[5-25]"),
        res("p:[1-4,26-30]")
    );
    assert_eq!(res("p:[1-10]") - res("p:[0-20]"), Resources::new());
    assert_eq!(res("p:[1-10]") - res("p:[50-60]"), res("p:[1-10]"));
    let max = format!("p:[{}-{}]", u64::MAX - 1, u64::MAX);
    assert_eq!(
        res(&max) - res(&format!("p:[{0}-{0}]", u64::MAX)),
        res(&format!("p:[{0}-{0}]", u64::MAX - 1))
    );
    assert!(res("p:[1-10,20-30]").contains(&res("p:[2-3,25-30]")));
    assert!(!res("p:[1-10,20-30]").contains(&res("p:[9-21]")));
    assert!(!res("p:[1-10]").contains(&res("p:[0-1]")));
}

#[test]
fn sets_union_and_difference() {
    assert_eq!(res("g:{a,b}") + res("g:{b,c}"), res("g:{a,b,c}"));
    assert_eq!(res("g:{a,b}") - res("g:{b,z}"), res("g:{a}"));
    assert!(res("g:{a,b}").contains(&res("g:{b}")));
    assert!(!res("g:{a,b}").contains(&res("g:{c}")));
}

#[test]
fn subtraction_saturates_and_drops_empty_entries() {
    assert_eq!(
        res("cpus:1;mem:10") - res("cpus:2;mem:4;disk:5"),
        res("mem:6")
    );
    assert_eq!(res("cpus:1") - res("cpus:[1-2]"), res("cpus:1"));
}

#[test]
fn contains_and_checked_sub_are_per_role() {
    let r = res("cpus:4;cpus(a):2");
    assert!(r.contains(&res("cpus:4;cpus(a):1")));
    assert!(!r.contains(&res("cpus(b):1")));
    assert!(
        !r.contains(&res("cpus:5")),
        "reserved cpus do not cover unreserved ones"
    );
    assert!(!r.contains(&res("cpus(a):3")));
    assert!(!r.contains(&res("mem:1")));
    assert!(Resources::new().contains(&Resources::new()));
    assert_eq!(r.checked_sub(&res("cpus(a):2")), Some(res("cpus:4")));
    assert_eq!(r.checked_sub(&res("cpus(a):3")), None);
}

#[test]
fn addition_skips_entries_whose_type_conflicts() {
    assert_eq!(res("x:1;y:2") + res("x(a):[1-2];y:1"), res("x:1;y:3"));
    assert_eq!(&res("x:{a}") + &res("x:2"), res("x:{a}"));
}

#[test]
fn role_views() {
    let r = res("cpus:4;mem:10;cpus(a):2;ports(a):[1-2];ports:[5-6];disk(b):7");
    assert_eq!(r.reserved("a"), res("cpus(a):2;ports(a):[1-2]"));
    assert_eq!(r.reserved("*"), Resources::new());
    assert_eq!(r.unreserved(), res("cpus:4;mem:10;ports:[5-6]"));
    assert_eq!(
        r.allocatable_to("a"),
        res("cpus:4;mem:10;cpus(a):2;ports(a):[1-2];ports:[5-6]")
    );
    assert_eq!(
        r.roles(),
        BTreeSet::from(["a".to_string(), "b".to_string()])
    );
    assert_eq!(r.scalar("cpus").milli(), 6000);
    assert_eq!(r.scalar("ports"), Scalar::ZERO);
    assert_eq!(r.scalar("nothing"), Scalar::ZERO);
    assert_eq!(
        r.ports(),
        vec![Range { begin: 1, end: 2 }, Range { begin: 5, end: 6 }]
    );
    assert_eq!(
        res("ports(a):[1-2];ports:[3-4]").ports(),
        vec![Range { begin: 1, end: 4 }]
    );
    assert_eq!(r.filter(|e| e.name == "disk"), res("disk(b):7"));
}

#[test]
fn iter_is_sorted_by_name_then_role() {
    let r = res("mem:1;cpus(b):1;cpus:1;cpus(a):1");
    let keys: Vec<(&str, Option<&str>)> = r
        .iter()
        .map(|e| (e.name.as_str(), e.role.as_deref()))
        .collect();
    assert_eq!(
        keys,
        [
            ("cpus", None),
            ("cpus", Some("a")),
            ("cpus", Some("b")),
            ("mem", None)
        ]
    );
}

#[test]
fn bincode_round_trip_and_hostile_input_is_refused() {
    let cfg = bincode::config::standard();
    let r = res("cpus:4;ports:[1-2,7-9];g(a):{x,y};mem(b):0.5");
    let bytes = bincode::serde::encode_to_vec(&r, cfg).expect("encode");
    let back: Result<(Resources, usize), _> = bincode::serde::decode_from_slice(&bytes, cfg);
    assert_eq!(back.map(|(b, _)| b).ok(), Some(r));

    let hostile = vec![Resource {
        name: "p".into(),
        role: None,
        value: Value::Ranges(vec![Range { begin: 9, end: 1 }]),
    }];
    let bytes = bincode::serde::encode_to_vec(&hostile, cfg).expect("encode");
    let back: Result<(Resources, usize), _> = bincode::serde::decode_from_slice(&bytes, cfg);
    assert!(back.is_err());

    let unnormalized = vec![
        Resource {
            name: "m".into(),
            role: Some("*".into()),
            value: Value::Scalar(Scalar::from_milli(1)),
        },
        Resource {
            name: "c".into(),
            role: None,
            value: Value::Scalar(Scalar::ZERO),
        },
        Resource {
            name: "m".into(),
            role: None,
            value: Value::Scalar(Scalar::from_milli(2)),
        },
    ];
    let bytes = bincode::serde::encode_to_vec(&unnormalized, cfg).expect("encode");
    let back: Result<(Resources, usize), _> = bincode::serde::decode_from_slice(&bytes, cfg);
    assert_eq!(back.map(|(b, _)| b).ok(), Some(res("m:0.003")));
}
