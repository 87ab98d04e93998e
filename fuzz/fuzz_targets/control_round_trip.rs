//! Any field values a download could store come back from the control file unchanged:
//! parse(render(x)) == x.
#![no_main]

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use resumedl::fuzzing::{control_round_trip, ControlFields};

#[derive(Debug, Arbitrary)]
struct Fields {
    url: String,
    final_url: Option<String>,
    adopted: u64,
    etag: Option<String>,
    last_modified: Option<String>,
    encoding: Option<String>,
    total: Option<u64>,
    if_range: u8,
    boot_id: String,
    segments: Vec<(u64, Option<u64>, u64)>,
}

fuzz_target!(|f: Fields| {
    let fields = ControlFields {
        url: f.url,
        final_url: f.final_url,
        adopted: f.adopted,
        etag: f.etag,
        last_modified: f.last_modified,
        encoding: f.encoding,
        total: f.total,
        if_range: f.if_range,
        boot_id: f.boot_id,
        segments: f.segments,
    };
    if fields.is_writable() {
        assert!(
            control_round_trip(&fields),
            "did not survive a round trip: {fields:?}"
        );
    }
});
