//! What is still in flight, so that `--total-timeout` can say what it gave
//! up on ("GetParametersByPath /acme/api", "download for /acme/api/files/x")
//! instead of only that something was slow. Names only, never values or a
//! URL's query.

use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

static NEXT: AtomicU64 = AtomicU64::new(0);
/// Each item's id, what it is, and what became of it so far.
static IN_FLIGHT: Mutex<Vec<(u64, String, Option<String>)>> = Mutex::new(Vec::new());

/// Most items named in the message; the rest are counted.
const SHOWN: usize = 3;

/// Removes its item when dropped (the call finished, or was abandoned).
#[must_use]
pub struct Guard(u64);

impl Drop for Guard {
    fn drop(&mut self) {
        if let Ok(mut v) = IN_FLIGHT.lock() {
            v.retain(|(id, ..)| *id != self.0);
        }
    }
}

impl Guard {
    /// What became of the item so far ("throttled 4 times: ..."), shown
    /// after it in parentheses; names only, as for [`track`].
    pub fn note(&self, how: impl AsRef<str>) {
        if let Ok(mut v) = IN_FLIGHT.lock()
            && let Some(item) = v.iter_mut().find(|(id, ..)| *id == self.0)
        {
            item.2 = Some(crate::names::printable(how.as_ref()));
        }
    }
}

/// Record `what` as in flight until the guard is dropped. It may hold a
/// parameter name: it is escaped here, once, for the message.
pub fn track(what: impl AsRef<str>) -> Guard {
    let id = NEXT.fetch_add(1, Ordering::Relaxed);
    if let Ok(mut v) = IN_FLIGHT.lock() {
        v.push((id, crate::names::printable(what.as_ref()), None));
    }
    Guard(id)
}

/// "A, B, C and 2 more", oldest first; `None` when nothing is in flight.
pub fn summary() -> Option<String> {
    let v = IN_FLIGHT.lock().ok()?;
    if v.is_empty() {
        return None;
    }
    let mut names: Vec<String> = Vec::new();
    for (_, what, how) in v.iter() {
        let shown = match how {
            Some(how) => format!("{what} ({how})"),
            None => what.clone(),
        };
        if !names.contains(&shown) {
            names.push(shown);
        }
    }
    let mut text = names
        .iter()
        .take(SHOWN)
        .map(String::as_str)
        .collect::<Vec<_>>()
        .join(", ");
    if names.len() > SHOWN {
        text.push_str(&format!(" and {} more", names.len() - SHOWN));
    }
    Some(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn items_come_and_go_and_the_summary_is_short() {
        let a = track("GetParametersByPath /t/a");
        let b = track("GetParametersByPath /t/b");
        let text = summary().unwrap();
        assert!(text.contains("/t/a") && text.contains("/t/b"), "{text}");
        drop(a);
        assert!(!summary().unwrap().contains("/t/a"));
        let more: Vec<Guard> = (0..5).map(|i| track(format!("x{i}"))).collect();
        assert!(summary().unwrap().ends_with(" and 3 more"));
        drop(more);
        drop(b);
        // A name from SSM cannot forge output.
        let c = track("GetParameters /t/red\u{1b}[31m");
        assert!(summary().unwrap().contains("/t/red\\u{1b}[31m"));
        drop(c);
        // What became of an item is said after it, escaped too.
        let d = track("GetParametersByPath /t/d");
        d.note("throttled 2 times: ThrottlingException\n");
        assert_eq!(
            summary().unwrap(),
            "GetParametersByPath /t/d (throttled 2 times: ThrottlingException\\n)"
        );
        drop(d);
    }
}
