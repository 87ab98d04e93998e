//! The control file reader on arbitrary bytes: never panics, and what it accepts is
//! written back unchanged.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|bytes: &[u8]| {
    resumedl::fuzzing::control_parse(bytes);
});
