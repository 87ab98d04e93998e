//! The classification of an answer into a decision: bytes only ever written at 0 or at the
//! offset asked, within what the answer announced; complete only at the exact length.
#![no_main]

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use resumedl::fuzzing::{classify_answer, AnswerFields};

#[derive(Debug, Arbitrary)]
struct Input {
    status: u16,
    headers: Vec<(String, String)>,
    offset: u64,
    end: u64,
    etag: Option<String>,
    total: Option<u64>,
    sent_validator: bool,
}

fuzz_target!(|i: Input| {
    let answer = AnswerFields {
        status: i.status,
        headers: i.headers,
    };
    classify_answer(
        &answer,
        i.offset,
        i.end,
        i.etag.as_deref(),
        i.total,
        i.sent_validator,
    );
});
