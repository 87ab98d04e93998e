//! `Content-Range` parsing: never panics; what it accepts is consistent and prints back
//! to itself.
#![no_main]

use libfuzzer_sys::fuzz_target;
use resumedl::ContentRange;

fuzz_target!(|value: &str| {
    let Ok(range) = ContentRange::parse(value) else {
        return;
    };
    match range {
        ContentRange::Bytes {
            first,
            last,
            complete,
        } => {
            assert!(first <= last && last < u64::MAX, "{value:?} -> {range:?}");
            assert!(complete.is_none_or(|c| last < c), "{value:?} -> {range:?}");
            assert_eq!(range.len(), last - first + 1);
        }
        ContentRange::Unsatisfied { .. } => assert!(range.is_empty()),
    }
    assert_eq!(
        ContentRange::parse(&range.to_string()),
        Ok(range),
        "{value:?}"
    );
});
