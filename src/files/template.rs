//! Templates (docs/CONTRACT.md §3 "Templates"): a `files/` parameter whose
//! path ends in `.tmpl` is rendered with minijinja (Jinja2 syntax) to the
//! same path without `.tmpl`.
//!
//! Rendering is a pure function of the template and the merged variables:
//! no loader (minijinja is built without `multi_template`, so `include`,
//! `import`, `extends` and `from` are not even tags), no environment, no
//! filesystem, no auto-escaping. Undefined variables are strict: printing,
//! iterating or testing the truth of one is an error, while `is defined` and
//! the `default` filter still work, so a template can have optional
//! variables. A render is bounded by minijinja's fuel ([`FUEL`]) and its
//! output by `--max-file-size`.
//!
//! The template is a parameter value, so no message quotes it: minijinja's
//! error details can quote tokens of the template, and only the error's
//! kind and line are ever shown, with the names of variables that were
//! looked up and not found.

use std::collections::BTreeMap;
use std::fmt;
use std::io;
use std::sync::{Arc, Mutex};

use minijinja::value::{Enumerator, Object, Value};
use minijinja::{AutoEscape, Environment, Error, ErrorKind, UndefinedBehavior};

/// What marks a `files/` parameter as a template.
pub const SUFFIX: &str = ".tmpl";

/// minijinja's budget for one render: about one unit per instruction and
/// per 64 bytes of data made. A config file takes a few thousand; this
/// stops a runaway loop within a second (`range` alone is capped at 100,000
/// items, nested loops are not).
pub const FUEL: u64 = 5_000_000;

/// At most this many undefined names are remembered for a message.
const MAX_MISSING: usize = 8;

/// The path a template renders to: `rel` without `.tmpl`, or `None` when
/// `rel` is no template.
pub fn rendered(rel: &str) -> Option<&str> {
    rel.strip_suffix(SUFFIX)
}

/// Render `source` with `vars` (the merged variables, `(name, value)`) as
/// its whole context. `max_size` caps the output. The error is a fixed
/// phrase with a line number and, for undefined variables, their names:
/// never template text or a value.
pub(super) fn render(
    source: &[u8],
    vars: &[(&str, &str)],
    max_size: u64,
) -> Result<Vec<u8>, String> {
    let source = std::str::from_utf8(source).map_err(|e| {
        format!(
            "the template is not valid UTF-8 text (at byte {})",
            e.valid_up_to()
        )
    })?;
    let env = environment();
    let template = env
        .template_from_str(source)
        .map_err(|e| describe(&e, &[]))?;
    let context = Arc::new(Context::new(vars));
    let mut out = Capped {
        buf: Vec::new(),
        max: max_size,
        over: false,
    };
    let result = template.render_captured_to(Value::from_dyn_object(context.clone()), &mut out);
    match result {
        Ok(_) => Ok(out.buf),
        Err(_) if out.over => Err(format!(
            "the rendered file is larger than the limit of {max_size} bytes (--max-file-size)"
        )),
        Err(e) => {
            let missing: Vec<String> = context
                .missing()
                .into_iter()
                .filter(|name| env.globals().all(|(global, _)| global != name))
                .collect();
            Err(describe(&e, &missing))
        }
    }
}

fn environment() -> Environment<'static> {
    let mut env = Environment::new();
    env.set_undefined_behavior(UndefinedBehavior::Strict);
    // Config files, not HTML: whatever the rendered file's name.
    env.set_auto_escape_callback(|_| AutoEscape::None);
    env.set_fuel(Some(FUEL));
    // `debug()` would dump the context into the file; nothing to debug here.
    env.remove_global("debug");
    let syntax = minijinja::syntax::SyntaxConfig::builder()
        .keep_trailing_newline(true)
        .build()
        .expect("the default delimiters are valid");
    env.set_syntax(syntax);
    env
}

/// The kind and the line of a minijinja error, never its detail (which can
/// quote the template), with the undefined names the render looked up.
fn describe(e: &Error, missing: &[String]) -> String {
    let line = e
        .line()
        .map(|n| format!(" on line {n}"))
        .unwrap_or_default();
    match e.kind() {
        ErrorKind::SyntaxError => format!("syntax error in the template{line}"),
        ErrorKind::UndefinedError => match missing {
            [] => format!("undefined value in the template{line}"),
            [one] => format!("undefined variable {one} in the template{line}"),
            many => format!(
                "undefined variable in the template{line} (not defined: {})",
                many.join(", ")
            ),
        },
        ErrorKind::OutOfFuel => format!(
            "the template did not finish rendering within its limit of {FUEL} steps{line} (a runaway loop?)"
        ),
        kind => format!("template error{line}: {kind}"),
    }
}

/// The render's context: the merged variables, and the names asked for
/// that are not among them (for the message of an undefined variable).
struct Context {
    vars: BTreeMap<String, Value>,
    missing: Mutex<Vec<String>>,
}

impl Context {
    fn new(vars: &[(&str, &str)]) -> Context {
        Context {
            vars: vars
                .iter()
                .map(|(k, v)| ((*k).to_owned(), Value::from(*v)))
                .collect(),
            missing: Mutex::new(Vec::new()),
        }
    }

    fn missing(&self) -> Vec<String> {
        self.missing.lock().map(|m| m.clone()).unwrap_or_default()
    }
}

impl fmt::Debug for Context {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "<{} variables redacted>", self.vars.len())
    }
}

impl Object for Context {
    fn get_value(self: &Arc<Self>, key: &Value) -> Option<Value> {
        let name = key.as_str()?;
        let found = self.vars.get(name).cloned();
        if found.is_none()
            && let Ok(mut missing) = self.missing.lock()
            && missing.len() < MAX_MISSING
            && !missing.iter().any(|m| m == name)
        {
            // Names of the template's variables, as they are written in
            // it (identifiers, escaped when shown): no value.
            missing.push(crate::names::printable(name));
        }
        found
    }

    fn enumerate(self: &Arc<Self>) -> Enumerator {
        Enumerator::Values(self.vars.keys().map(|k| Value::from(k.as_str())).collect())
    }
}

/// The output, refused past `max` bytes as it is written.
struct Capped {
    buf: Vec<u8>,
    max: u64,
    over: bool,
}

impl io::Write for Capped {
    fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
        if (self.buf.len() + bytes.len()) as u64 > self.max {
            self.over = true;
            return Err(io::Error::other("over --max-file-size"));
        }
        self.buf.extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MAX: u64 = 1 << 20;

    fn ok(source: &str, vars: &[(&str, &str)]) -> String {
        String::from_utf8(render(source.as_bytes(), vars, MAX).unwrap()).unwrap()
    }

    fn err(source: &str, vars: &[(&str, &str)]) -> String {
        render(source.as_bytes(), vars, MAX).unwrap_err()
    }

    #[test]
    fn renders_variables_conditions_filters_and_loops() {
        let vars = [
            ("DB_HOST", "db.internal"),
            ("PORTS", "80,443"),
            ("TLS", "on"),
        ];
        assert_eq!(ok("host={{ DB_HOST }}", &vars), "host=db.internal");
        assert_eq!(
            ok(
                "{% if TLS == 'on' %}tls{% else %}plain{% endif %}|{{ DB_HOST | upper }}",
                &vars
            ),
            "tls|DB.INTERNAL"
        );
        assert_eq!(
            ok(
                "{% for p in PORTS | split(',') %}listen {{ p }};{% endfor %}",
                &vars
            ),
            "listen 80;listen 443;"
        );
        assert_eq!(ok("<{{ '&' }}>", &vars), "<&>", "no HTML escaping");
    }

    #[test]
    fn the_trailing_newline_is_kept_and_none_is_added() {
        assert_eq!(ok("a\n", &[]), "a\n");
        assert_eq!(ok("a\n\n", &[]), "a\n\n");
        assert_eq!(ok("a", &[]), "a");
        assert_eq!(ok("", &[]), "");
    }

    #[test]
    fn optional_variables_work_with_is_defined_and_default() {
        assert_eq!(
            ok(
                "{% if X is defined %}x{% endif %}{{ Y | default('d') }}",
                &[]
            ),
            "d"
        );
    }

    #[test]
    fn undefined_variables_are_named_with_their_line() {
        assert_eq!(
            err("a\n{{ DB_PASS }}", &[]),
            "undefined variable DB_PASS in the template on line 2"
        );
        assert_eq!(
            err("{% if FLAG %}x{% endif %}", &[]),
            "undefined variable FLAG in the template on line 1"
        );
        assert_eq!(
            err("{% for x in LIST %}{% endfor %}", &[]),
            "undefined variable LIST in the template on line 1"
        );
        // A global is not a missing variable: `range` was looked up first.
        assert_eq!(
            err("{% for i in range(2) %}{{ NOPE }}{% endfor %}", &[]),
            "undefined variable NOPE in the template on line 1"
        );
        let e = err("{% if A is defined %}{% endif %}\n\n{{ B }}", &[]);
        assert_eq!(
            e,
            "undefined variable in the template on line 3 (not defined: A, B)"
        );
        assert_eq!(
            err("{{ H.missing }}", &[("H", "v")]),
            "undefined value in the template on line 1"
        );
    }

    #[test]
    fn errors_never_quote_the_template_or_a_value() {
        let canary = "CANARY-tmpl-71c";
        for source in [
            format!("ok\n{{{{ '{canary}' + }}}}"),
            format!("{{% if '{canary}' %}}"),
            format!("{{{{ '{canary}' | nosuchfilter }}}}"),
            format!("{{% include '{canary}' %}}"),
            format!("{{% import '/etc/{canary}' as x %}}"),
            format!("{{% extends '{canary}' %}}"),
            format!("{{% from '{canary}' import x %}}"),
            format!("{{% macro m() %}}{canary}{{% endmacro %}}"),
            format!("{{{{ '{canary}' ~ V + 1 }}}}"),
            format!("{{{{ V.{canary} }}}}"),
            "{{ V[0:2].x }}".to_string(),
        ] {
            let e = err(&source, &[("V", canary)]);
            assert!(!e.contains(canary) && !e.contains("71c"), "{source}: {e}");
            assert!(e.contains("on line"), "{source}: {e}");
        }
        assert_eq!(
            err("ok\n{{ 'secret' + }}", &[]),
            "syntax error in the template on line 2"
        );
    }

    #[test]
    fn includes_imports_and_the_filesystem_are_not_there() {
        for source in [
            "{% include '/etc/passwd' %}",
            "{% import '/etc/passwd' as p %}",
            "{% extends '/etc/passwd' %}",
        ] {
            assert_eq!(
                err(source, &[]),
                "syntax error in the template on line 1",
                "{source}"
            );
        }
        assert_eq!(
            err("{{ debug() }}", &[]),
            "template error on line 1: unknown function"
        );
    }

    #[test]
    fn runaway_loops_run_out_of_fuel() {
        let started = std::time::Instant::now();
        let e = err(
            "{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}",
            &[],
        );
        assert!(
            e.starts_with("the template did not finish rendering"),
            "{e}"
        );
        eprintln!("out of fuel after {:?}", started.elapsed());
    }

    #[test]
    fn output_over_the_cap_is_refused() {
        let source = "{% for i in range(100) %}0123456789{% endfor %}";
        assert_eq!(render(source.as_bytes(), &[], 1000).unwrap().len(), 1000);
        assert_eq!(
            render(source.as_bytes(), &[], 999).unwrap_err(),
            "the rendered file is larger than the limit of 999 bytes (--max-file-size)"
        );
        assert!(
            render("{{ 'x' * 100000 }}".as_bytes(), &[], 1000)
                .unwrap_err()
                .contains("--max-file-size")
        );
    }

    #[test]
    fn a_template_that_is_not_utf8_is_refused() {
        assert_eq!(
            render(b"ab\xff", &[], MAX).unwrap_err(),
            "the template is not valid UTF-8 text (at byte 2)"
        );
    }

    #[test]
    fn rendered_paths_drop_one_suffix() {
        assert_eq!(rendered("nginx.conf.tmpl"), Some("nginx.conf"));
        assert_eq!(rendered("x.tmpl.tmpl"), Some("x.tmpl"));
        assert_eq!(rendered(".tmpl"), Some(""));
        assert_eq!(rendered("a.conf"), None);
        assert_eq!(rendered("a.TMPL"), None);
    }
}
