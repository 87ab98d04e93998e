//! Inputs that broke resumedl, kept as tests: what the fuzz targets (`fuzz/`, `.ci/fuzz`)
//! and the hostile-input C program (`c-examples/abi_inputs.c`) found. Also the fuzz entry
//! points on their seeds, so that `cargo test` keeps them working without a nightly
//! toolchain.
//!
//! A test marked `#[ignore]` holds a failure that is known and not fixed yet; its reason
//! says where. Remove the `ignore` with the fix.

mod support;

use std::fs;
use std::path::Path;

use resumedl::fuzzing::{control_parse, control_round_trip, prepare_request, ControlFields};
use resumedl::{ContentRange, Download, Error};
use support::pattern;
use support::scratch::Scratch;
use support::server::TestServer;

fn sample() -> ControlFields {
    ControlFields {
        url: "http://127.0.0.1:1/x".into(),
        final_url: Some("http://127.0.0.1:2/y".into()),
        adopted: 0,
        etag: Some("\"abc\"".into()),
        last_modified: Some("Tue, 01 Jan 2030 00:00:00 GMT".into()),
        encoding: None,
        total: Some(1 << 20),
        if_range: 0,
        boot_id: "0b6e".into(),
        segments: vec![(0, None, 65536)],
    }
}

fn seeds(target: &str) -> Vec<Vec<u8>> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fuzz/seeds")
        .join(target);
    let mut files: Vec<_> = fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    files.iter().map(|p| fs::read(p).unwrap()).collect()
}

// ---- the fuzz entry points on known inputs -----------------------------------------------

#[test]
fn content_range_seeds_parse_and_print_back() {
    for seed in seeds("content_range") {
        let text = String::from_utf8(seed).unwrap();
        let range = ContentRange::parse(&text).unwrap_or_else(|e| panic!("{text:?}: {e}"));
        assert_eq!(range.to_string(), text);
    }
}

#[test]
fn control_parse_reads_its_seed_once_signed() {
    for seed in seeds("control_parse") {
        // Unsigned, the checksum line is missing; signed by the entry point, it reads.
        assert_eq!(control_parse(&seed), 1);
    }
    assert_eq!(control_parse(b""), 0);
    assert_eq!(control_parse(b"\xff\xfe garbage\n"), 0);
}

#[test]
fn control_round_trip_of_plain_values() {
    assert!(control_round_trip(&sample()));
    let many = ControlFields {
        segments: vec![(0, Some(10), 10), (10, None, 0)],
        total: None,
        etag: None,
        last_modified: None,
        if_range: 2,
        ..sample()
    };
    assert!(control_round_trip(&many));
}

#[test]
fn prepare_request_refuses_before_anything_goes_out() {
    // Valid: stopped by the missing CA file, after every URL and header check.
    let err = prepare_request("http://127.0.0.1:1/x", &[], None, &[]);
    assert!(
        matches!(
            err,
            Error::InvalidOption {
                option: "ca file",
                ..
            }
        ),
        "{err:?}"
    );
    let headers = [("X-A".to_string(), "b\r\nX-Injected: 1".to_string())];
    let err = prepare_request("http://127.0.0.1:1/x", &headers, None, &[]);
    assert!(
        matches!(
            err,
            Error::InvalidOption {
                option: "header",
                ..
            }
        ),
        "{err:?}"
    );
    let err = prepare_request("http://\r\n/x", &[], Some("::"), &[]);
    assert!(matches!(err, Error::InvalidUrl { .. }), "{err:?}");
    let env = [("http_proxy".to_string(), "\u{0}:99999".to_string())];
    let err = prepare_request("http://[::1]:1/x", &[], Some("http://[::1"), &env);
    assert!(
        matches!(
            err,
            Error::InvalidOption {
                option: "ca file",
                ..
            }
        ),
        "{err:?}"
    );
}

// ---- found by fuzzing and by the C input tests, fixed --------------------------------------

/// Found by the control_round_trip target: control.rs wrote values raw, one per line.
#[test]
fn control_round_trip_keeps_a_newline_in_a_value() {
    assert!(control_round_trip(&ControlFields {
        url: "\n".into(),
        ..sample()
    }));
    assert!(control_round_trip(&ControlFields {
        etag: Some("\"a\nb\"".into()),
        ..sample()
    }));
    assert!(control_round_trip(&ControlFields {
        boot_id: "b\nsegment 0 - 1".into(),
        ..sample()
    }));
}

/// Found by the control_round_trip target: `str::lines` dropped a CR before the newline.
#[test]
fn control_round_trip_keeps_a_final_carriage_return() {
    assert!(control_round_trip(&ControlFields {
        url: "http://x/\r".into(),
        ..sample()
    }));
}

/// Found by the control_round_trip target: an empty validator read back as none.
#[test]
fn control_round_trip_keeps_an_empty_validator() {
    assert!(control_round_trip(&ControlFields {
        etag: Some(String::new()),
        ..sample()
    }));
    assert!(control_round_trip(&ControlFields {
        last_modified: Some(String::new()),
        ..sample()
    }));
}

/// Found by c-examples/abi_inputs.c: `rdl_options_set_retries(o, UINT32_MAX)` made
/// `rdl_download` return RDL_ERR_PANIC ("attempt to add with overflow") in debug builds;
/// in release builds the sum wraps to 0.
#[test]
fn retries_at_u32_max_do_not_overflow() {
    let server = TestServer::start();
    let body = pattern(10_000, 51);
    server.put("/r.bin", body.clone());
    let dir = Scratch::new("regressions-retries");
    let out = dir.join("r.bin");
    Download::new(server.url("/r.bin"))
        .retries(u32::MAX)
        .to_path(&out)
        .expect("a download with u32::MAX retries");
    assert!(fs::read(&out).unwrap() == body);
}

// ---- the classification and file-name entry points (fuzz targets classify, file_names) --

#[test]
fn classify_answer_keeps_its_promises_on_known_answers() {
    use resumedl::fuzzing::{classify_answer, AnswerFields};
    let h = |pairs: &[(&str, &str)]| -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    };
    let answers = [
        (
            206,
            h(&[("content-range", "bytes 10-99/100"), ("etag", "\"a\"")]),
        ),
        (
            206,
            h(&[("content-range", "bytes 0-99/100"), ("etag", "\"a\"")]),
        ),
        (206, h(&[("content-range", "bytes 0-9/100")])),
        (
            206,
            h(&[("content-range", "bytes 10-18446744073709551614/*")]),
        ),
        (200, h(&[("content-length", "100"), ("etag", "\"a\"")])),
        (200, h(&[("content-length", "5")])),
        (416, h(&[("content-range", "bytes */10")])),
        (416, h(&[("content-range", "bytes */18446744073709551615")])),
        (503, h(&[("retry-after", "Sun, 06 Nov 1994 08:49:37 GMT")])),
        (
            206,
            h(&[("content-range", "bytes 5-4/3"), ("content-length", "x")]),
        ),
    ];
    for (status, headers) in answers {
        let answer = AnswerFields { status, headers };
        for offset in [0, 10, 100, u64::MAX] {
            for (etag, total) in [
                (None, None),
                (Some("\"a\""), Some(100)),
                (Some("\"b\""), Some(10)),
            ] {
                classify_answer(&answer, offset, 50, etag, total, true);
                classify_answer(&answer, offset, u64::MAX, etag, total, false);
            }
        }
    }
}

#[test]
fn file_names_stay_plain_on_hostile_values() {
    use resumedl::fuzzing::file_names;
    for value in [
        "attachment; filename=\"../../x\"",
        "attachment; filename=/etc/passwd",
        "attachment; filename*=UTF-8''..%2F..%2Fx",
        "attachment; filename*=UTF-8''%E2%80%AEtxt.exe",
        "attachment; filename=\"\"",
        "attachment; filename=...",
        "attachment; filename=\"a\\\\b\"",
        "attachment; filename*=UTF-8''%0A%0D",
        "",
        ";;;=",
    ] {
        file_names(value, "http://h/a/%2e%2e%2fx?q#f");
        file_names(value, "http://h/");
    }
    // Found by the fuzzer in CI: one pass of trimming spaces, then dots, then spaces left
    // ". \u{569a}.2", a hidden name.
    file_names("", "/../;/... . \u{569a}.2");
    file_names("attachment; filename=\"... . x\"", "http://h/");
    file_names("attachment; filename*=UTF-8''.%20.%09.x", "http://h/");
}

/// Found by the fuzzer: a segment whose end is past the largest file there can be made
/// the reader overflow; such a record is refused as damaged, and one just inside is kept.
#[test]
fn control_round_trip_of_a_segment_at_the_end_of_u64() {
    let f = ControlFields {
        url: "a".into(),
        final_url: None,
        adopted: 0,
        etag: None,
        last_modified: None,
        encoding: None,
        total: None,
        if_range: 255,
        boot_id: "".into(),
        segments: vec![(4868369204354482049, None, 17754597064706097152)],
    };
    assert!(!f.is_writable());
    let inside = ControlFields {
        segments: vec![(u64::MAX - 10, None, 10)],
        ..f
    };
    assert!(inside.is_writable());
    assert!(control_round_trip(&inside));
}
