//! Unit tests of `job.rs` (issue 11: behaviour cargo-mutants found no test observing).

use std::io::{self, Read};

use crate::job::fill;

/// Hands out its script one step per read.
struct Script(Vec<io::Result<Vec<u8>>>);

impl Read for Script {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.0.is_empty() {
            return Ok(0);
        }
        let bytes = self.0.remove(0)?;
        buf[..bytes.len()].copy_from_slice(&bytes);
        Ok(bytes.len())
    }
}

#[test]
fn fill_retries_an_interrupted_read() {
    let mut r = Script(vec![
        Ok(b"ab".to_vec()),
        Err(io::ErrorKind::Interrupted.into()),
        Ok(b"cd".to_vec()),
    ]);
    let mut buf = [0u8; 8];
    let (n, e) = fill(&mut r, &mut buf);
    assert!(e.is_none(), "{e:?}");
    assert_eq!(&buf[..n], b"abcd");
}

#[test]
fn fill_returns_the_bytes_before_an_error_with_it() {
    let mut r = Script(vec![
        Ok(b"ab".to_vec()),
        Err(io::ErrorKind::UnexpectedEof.into()),
    ]);
    let mut buf = [0u8; 8];
    let (n, e) = fill(&mut r, &mut buf);
    assert_eq!(&buf[..n], b"ab");
    assert_eq!(e.map(|e| e.kind()), Some(io::ErrorKind::UnexpectedEof));
}
