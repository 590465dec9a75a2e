//! Results on stdout (listings, `show`, `put` lines), apart from the
//! diagnostics of `log`. A closed pipe (`ssmm list | head`) must not abort a
//! command halfway, least of all one that is writing: write errors on stdout
//! are ignored.

use std::io::Write;

/// One line on stdout.
pub fn line(text: &str) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{text}");
    let _ = out.flush();
}

/// A JSON document on stdout, pretty-printed, one trailing newline.
pub fn json(value: &serde_json::Value) {
    let text = serde_json::to_string_pretty(value).unwrap_or_default();
    line(&text);
}

/// Rows as aligned columns (two spaces apart; the last column is not padded).
pub fn table(rows: &[Vec<String>]) {
    let cols = rows.iter().map(Vec::len).max().unwrap_or(0);
    let mut widths = vec![0usize; cols];
    for row in rows {
        for (i, cell) in row.iter().enumerate() {
            widths[i] = widths[i].max(cell.chars().count());
        }
    }
    for row in rows {
        let mut text = String::new();
        for (i, cell) in row.iter().enumerate() {
            if i + 1 == row.len() {
                text.push_str(cell);
            } else {
                text.push_str(cell);
                let pad = widths[i] - cell.chars().count() + 2;
                text.extend(std::iter::repeat_n(' ', pad));
            }
        }
        line(&text);
    }
}

/// `1 parameter`, `2 parameters`.
pub fn count(n: usize, noun: &str) -> String {
    if n == 1 {
        format!("1 {noun}")
    } else {
        format!("{n} {noun}s")
    }
}

/// Raw bytes on stdout (generated scripts and pages); errors ignored as for
/// `line`.
pub fn bytes(data: &[u8]) {
    let mut out = std::io::stdout().lock();
    let _ = out.write_all(data);
    let _ = out.flush();
}
