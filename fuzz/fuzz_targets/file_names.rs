//! Names from `Content-Disposition` and from URLs: never a panic, always one plain name
//! that stays in its directory.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|input: (&str, &str)| {
    resumedl::fuzzing::file_names(input.0, input.1);
});
