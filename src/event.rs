//! What a download does on the wire, for logs and `-v`: each request, each answer, each
//! retry. Connections of a segmented download run on their own threads, so events are
//! queued where they happen and handed to the caller's callback on the caller's thread
//! (the same thread, and the same moments, as the progress callback).

use std::ops::ControlFlow;
use std::sync::Mutex;
use std::time::Duration;

use ureq::http::{Response, StatusCode};

use crate::url::mask;

/// One thing a download did. Every URL in an event has its password masked (`***`);
/// header values are as sent or received.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Event {
    /// A request is going out (each redirect hop is one).
    Request {
        /// `GET` or `HEAD`.
        method: String,
        /// The URL asked.
        url: String,
        /// The `Range` header, when one is sent.
        range: Option<String>,
        /// The `If-Range` header, when one is sent.
        if_range: Option<String>,
    },
    /// An answer's status line and the headers that decide what happens to the bytes.
    Answer {
        /// The status code.
        status: u16,
        /// The URL that answered.
        url: String,
        /// `Content-Range`.
        content_range: Option<String>,
        /// `Content-Length`.
        content_length: Option<String>,
        /// `ETag`.
        etag: Option<String>,
        /// `Last-Modified`.
        last_modified: Option<String>,
        /// `Location` of a redirect.
        location: Option<String>,
    },
    /// A failure that the download retries after `wait`.
    Retry {
        /// What went wrong (the error's one-line message).
        reason: String,
        /// Bytes of the resource on disk when it happened (the kept prefix, the parts
        /// done; not the length of a segmented download's file, which parts far ahead
        /// make larger).
        at: u64,
        /// The pause before the next attempt.
        wait: Duration,
        /// The number of the next attempt (1 was the first). With several connections,
        /// the attempt of the connection that failed.
        attempt: u32,
        /// The last attempt if every one from here fails without progress: an attempt
        /// that moved the download on does not count against the retries, so this can
        /// grow. `u32::MAX` when retries are unlimited.
        of: u32,
    },
    /// Something the user should know that is not a failure: the file's name was taken by
    /// another download and a free one was chosen, a file that is not ours is continued
    /// without validators, the origin could not be recorded.
    Note {
        /// One line.
        text: String,
    },
}

/// Callback for [`Event`]s, called on the caller's thread. Returning
/// `ControlFlow::Break(())` cancels the download with [`Error::Aborted`], as the progress
/// callback does.
///
/// [`Error::Aborted`]: crate::Error::Aborted
pub type EventFn<'a> = Box<dyn FnMut(&Event) -> ControlFlow<()> + 'a>;

/// Events waiting for the caller's thread. Off (nothing queued, nothing built) unless
/// the caller asked for events.
#[derive(Debug, Default)]
pub(crate) struct EventQueue {
    queue: Option<Mutex<Vec<Event>>>,
}

impl EventQueue {
    pub(crate) fn new(on: bool) -> EventQueue {
        EventQueue {
            queue: on.then(|| Mutex::new(Vec::new())),
        }
    }

    /// Queues the event `make` builds, when events are on.
    pub(crate) fn push(&self, make: impl FnOnce() -> Event) {
        if let Some(q) = &self.queue {
            let event = make();
            q.lock().unwrap_or_else(|e| e.into_inner()).push(event);
        }
    }

    /// Hands every queued event to `to`, in order; `Break` when the callback asked to
    /// cancel (the events after it are still handed over: they happened).
    pub(crate) fn deliver(&self, to: &mut Option<EventFn<'_>>) -> ControlFlow<()> {
        let (Some(q), Some(f)) = (&self.queue, to.as_mut()) else {
            return ControlFlow::Continue(());
        };
        let events = std::mem::take(&mut *q.lock().unwrap_or_else(|e| e.into_inner()));
        let mut answer = ControlFlow::Continue(());
        for event in &events {
            if f(event).is_break() {
                answer = ControlFlow::Break(());
            }
        }
        answer
    }

    /// As [`EventQueue::deliver`], a cancel from the callback being the call's error.
    pub(crate) fn hand_over(&self, to: &mut Option<EventFn<'_>>) -> Result<(), crate::Error> {
        match self.deliver(to) {
            ControlFlow::Continue(()) => Ok(()),
            ControlFlow::Break(()) => Err(crate::Error::Aborted),
        }
    }

    /// Queues a note.
    pub(crate) fn note(&self, text: String) {
        self.push(|| Event::Note { text });
    }
}

/// The `Request` event of a request to `url` with `extra` headers.
pub(crate) fn request(method: &str, url: &str, extra: &[(&str, String)]) -> Event {
    let find = |name: &str| {
        extra
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.clone())
    };
    Event::Request {
        method: method.to_string(),
        url: mask(url),
        range: find("range"),
        if_range: find("if-range"),
    }
}

/// The `Answer` event of `resp`, which `url` gave.
pub(crate) fn answer<B>(resp: &Response<B>, url: &str) -> Event {
    let find = |name: &str| {
        resp.headers()
            .get(name)
            .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
    };
    let status: StatusCode = resp.status();
    Event::Answer {
        status: status.as_u16(),
        url: mask(url),
        content_range: find("content-range"),
        content_length: find("content-length"),
        etag: find("etag"),
        last_modified: find("last-modified"),
        location: find("location").map(|l| mask(&l)),
    }
}

/// The `Retry` event of a failure `reason` at `at` bytes, before attempt `attempt`, with
/// `left` retries still allowed (`u32::MAX`: no limit).
pub(crate) fn retry(reason: String, at: u64, wait: Duration, attempt: u32, left: u32) -> Event {
    Event::Retry {
        reason,
        at,
        wait,
        attempt,
        // Unlimited (`u32::MAX`) stays unlimited.
        of: attempt.saturating_add(left),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_queue_that_is_off_builds_nothing_and_one_that_is_on_keeps_the_order() {
        let off = EventQueue::new(false);
        off.push(|| unreachable!("an off queue must not build events"));
        let mut seen = Vec::new();
        let on = EventQueue::new(true);
        for n in 0..3u32 {
            on.push(|| retry(format!("e{n}"), 0, Duration::ZERO, n, 1));
        }
        {
            let mut f: Option<EventFn<'_>> = Some(Box::new(|e: &Event| {
                if let Event::Retry { reason, .. } = e {
                    seen.push(reason.clone());
                }
                match e {
                    Event::Retry { attempt: 1, .. } => ControlFlow::Break(()),
                    _ => ControlFlow::Continue(()),
                }
            }));
            // A Break in the middle is told, and the events after it still delivered.
            assert!(on.deliver(&mut f).is_break());
            assert!(on.deliver(&mut f).is_continue());
        }
        assert_eq!(seen, ["e0", "e1", "e2"]);
    }

    #[test]
    fn requests_answers_and_retries_say_what_went_out_and_came_back() {
        let extra = [
            ("Range", "bytes=5-".to_string()),
            ("If-Range", "\"v1\"".to_string()),
        ];
        assert_eq!(
            request("GET", "http://u:secret@h/f", &extra),
            Event::Request {
                method: "GET".into(),
                url: "http://u:***@h/f".into(),
                range: Some("bytes=5-".into()),
                if_range: Some("\"v1\"".into()),
            }
        );
        let resp = Response::builder()
            .status(302)
            .header("Location", "http://a:b@x/y")
            .header("ETag", "\"v1\"")
            .body(())
            .expect("a response");
        assert_eq!(
            answer(&resp, "http://h/f"),
            Event::Answer {
                status: 302,
                url: "http://h/f".into(),
                content_range: None,
                content_length: None,
                etag: Some("\"v1\"".into()),
                last_modified: None,
                location: Some("http://a:***@x/y".into()),
            }
        );
        let wait = Duration::from_secs(2);
        assert!(matches!(
            retry("r".into(), 7, wait, 3, 3),
            Event::Retry {
                attempt: 3,
                of: 6,
                at: 7,
                ..
            }
        ));
        assert!(matches!(
            retry("r".into(), 7, wait, 3, u32::MAX),
            Event::Retry { of: u32::MAX, .. }
        ));
    }
}
