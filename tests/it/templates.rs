//! Templates (docs/CONTRACT.md §3 "Templates"): `files/<path>.tmpl`
//! rendered to `<path>` with the merged variables, through the real binary
//! against moto. The rendered file follows every Files rule; an undefined
//! variable, a syntax error, a runaway loop or an oversized result is exit 1
//! with nothing written, and no message quotes the template.

use std::fs;
use std::os::unix::fs::{PermissionsExt, symlink};
use std::time::{Duration, Instant};

use base64::Engine as _;

use crate::support::fs::{entries, mode};
use crate::support::http::{Reply, Server};
use crate::support::{Run, Test};

/// `ssmm --prefix PREFIX sync --app api ARGS` in the test's directory.
fn sync(t: &Test, args: &[&str]) -> Run {
    t.ssmm(["sync", "--app", "api"]).args(args)
}

/// The first line of an error about `rel` (under the test's `api/files/`).
fn error(t: &Test, rel: &str, why: &str) -> String {
    format!(
        "ssmm: error: file parameter {}/api/files/{rel}: {why}",
        t.prefix()
    )
}

const OLD_ENV: &str = "OLD=\"1\"\n";

#[test]
fn a_template_renders_the_merged_variables_of_every_layer_not_the_environment() {
    let template = "\
[databases]
app = host={{ DB_HOST }} port={{ DB_PORT | int + 1 }} password={{ DB_PASSWORD }}
{% if TLS == 'tls-required' %}server_tls_sslmode = require
{% else %}server_tls_sslmode = disable
{% endif %}\
admin_users = {{ ADMINS | split(',') | map('trim') | map('upper') | join(' ') }}
{% for h in ADMINS | split(',') %}# {{ loop.index }}: {{ h | trim }}
{% endfor %}\
{% if ENV_ONLY is defined %}inherited{% else %}not inherited{% endif %} {{ HOME | default('no HOME') }}
";
    let t = Test::new()
        .plain("shared/db-host", "shared-db-host")
        .plain("shared/db-port", "6431")
        .plain("shared/tls", "tls-required")
        .plain("api/db-host", "db-host-of-api")
        .param("api/db-password", "pw-of-api-7c1")
        .plain("api/admins", "alice-adm, bob-adm")
        .param("shared/files/conf/pgbouncer.ini.tmpl", template);
    let want = "\
[databases]
app = host=db-host-of-api port=6432 password=pw-of-api-7c1
server_tls_sslmode = require
admin_users = ALICE-ADM BOB-ADM
# 1: alice-adm
# 2: bob-adm
not inherited no HOME
";
    sync(&t, &[])
        // The inherited environment is no part of the context.
        .env("DB_HOST", "from-the-environment")
        .env("ENV_ONLY", "from-the-environment")
        .env("HOME", "/home/from-the-environment")
        .success()
        .stderr_has(", 1 file under ")
        .file("conf/pgbouncer.ini", want)
        .go();
    assert_eq!(entries(&t.path("conf")), ["pgbouncer.ini"]);
    assert_eq!(mode(&t.path("conf")), 0o700);

    // The same again: nothing to write.
    sync(&t, &[])
        .success()
        .stderr_line("ssmm: no change")
        .untouched("")
        .go();
}

#[test]
fn exec_renders_before_the_command_starts_and_the_context_has_no_inherited_variables() {
    let t = Test::new().param("api/token", "tok-3b9").param(
        "api/files/app.conf.tmpl",
        "token={{ TOKEN }}\nref={{ REF | default('none') }}\n",
    );
    let ref_to = format!("ssm:{}/api/token", t.prefix());
    let out = t
        .ssmm(["exec", "--app", "api", "--", "sh", "-c", "cat app.conf"])
        .env("REF", &ref_to)
        .reveals_all()
        .success()
        .file("app.conf", "token=tok-3b9\nref=none\n")
        .go();
    assert_eq!(out.stdout, "token=tok-3b9\nref=none\n");
}

#[test]
fn an_undefined_variable_names_the_file_and_the_variable_and_nothing_is_written() {
    let t = Test::new()
        .plain("api/db-host", "h")
        .param("api/files/0-first.conf", "first")
        .param(
            "api/files/app.conf.tmpl",
            "host={{ DB_HOST }}\npass={{ DB_PASS }}\n",
        )
        .file(".env", OLD_ENV);
    let line = error(
        &t,
        "app.conf.tmpl",
        "undefined variable DB_PASS in the template on line 2",
    );
    sync(&t, &[])
        .code(1)
        .stderr_line(&line)
        .writes_nothing()
        .go();
    t.ssmm(["exec", "--app", "api", "--", "touch", "started"])
        .code(1)
        .stderr_line(&line)
        .writes_nothing()
        .go();
    // An undefined variable in a condition or a loop too.
    for (template, name) in [
        ("{% if FEATURE %}on{% endif %}", "FEATURE"),
        ("{% for x in ITEMS %}{{ x }}{% endfor %}", "ITEMS"),
    ] {
        t.put_secure("api/files/app.conf.tmpl", template);
        let why = format!("undefined variable {name} in the template on line 1");
        sync(&t, &[])
            .code(1)
            .stderr_line(error(&t, "app.conf.tmpl", &why))
            .writes_nothing()
            .go();
    }
}

#[test]
fn a_syntax_error_names_the_line_and_never_the_template_text() {
    let canary = "CANARY-tmpl-5e2d";
    let t = Test::new()
        .plain("api/k", "v")
        .param(
            "api/files/nginx.conf.tmpl",
            &format!("server {{\n  listen 80;\n  {{% if '{canary}' == %}}\n}}\n"),
        )
        .file(".env", OLD_ENV);
    for loud in [&[][..], &["-v", "-v", "-v"]] {
        sync(&t, loud)
            .env("RUST_LOG", "trace")
            .env("RUST_BACKTRACE", "full")
            .code(1)
            .stderr_line(error(
                &t,
                "nginx.conf.tmpl",
                "syntax error in the template on line 3",
            ))
            .secret(canary)
            .stderr_lacks("5e2d")
            .stderr_lacks("listen")
            .writes_nothing()
            .go();
    }
}

#[test]
fn includes_imports_and_extends_are_syntax_errors_and_read_nothing() {
    let t = Test::new().plain("api/k", "v");
    for tag in [
        "{% include '/etc/passwd' %}",
        "{% import '/etc/passwd' as p %}{{ p }}",
        "{% from '/etc/passwd' import x %}",
        "{% extends '/etc/passwd' %}",
    ] {
        t.put_secure("api/files/x.conf.tmpl", &format!("a\n{tag}\n"));
        sync(&t, &[])
            .code(1)
            .stderr_line(error(
                &t,
                "x.conf.tmpl",
                "syntax error in the template on line 2",
            ))
            .stderr_lacks("root:")
            .writes_nothing()
            .go();
    }
}

#[test]
fn a_template_and_a_plain_file_for_one_path_in_one_layer_are_refused() {
    let t = Test::new()
        .param("api/files/a.conf", "plain")
        .param("api/files/a.conf.tmpl", "{{ K }}")
        .plain("api/k", "v");
    let p = t.prefix().to_owned();
    sync(&t, &[])
        .code(1)
        .stderr_line(error(
            &t,
            "a.conf",
            &format!("path \"a.conf\" refused: the same file comes from {p}/api/files/a.conf.tmpl"),
        ))
        .writes_nothing()
        .go();

    // A template and a file under the path it renders to.
    let t = Test::new()
        .param("api/files/a.tmpl", "{{ K }}")
        .param("api/files/a/b", "below")
        .plain("api/k", "v");
    let p = t.prefix().to_owned();
    sync(&t, &[])
        .code(1)
        .stderr_line(error(
            &t,
            "a/b",
            &format!(
                "path \"a/b\" refused: a parent directory is a file from {p}/api/files/a.tmpl"
            ),
        ))
        .writes_nothing()
        .go();
}

#[test]
fn precedence_is_by_rendered_path_across_layers() {
    let t = Test::new()
        .param("shared/files/site.conf", "shared-plain-site")
        .param("api/files/site.conf.tmpl", "site for {{ NAME }}\n")
        // A lower layer's template that a higher plain file overrides is
        // never rendered: its error does not matter.
        .param("shared/files/other.conf.tmpl", "{{ broken")
        .param("api/files/other.conf", "api-plain-other")
        .plain("api/name", "api-name-4d");
    let p = t.prefix().to_owned();
    let site = format!(
        "files/site.conf: app:api ({p}/api/files/site.conf.tmpl) overrides shared ({p}/shared/files/site.conf)"
    );
    let other = format!(
        "files/other.conf: app:api ({p}/api/files/other.conf) overrides shared ({p}/shared/files/other.conf.tmpl)"
    );
    sync(&t, &["--strict"])
        .code(3)
        .stderr_line(format!("ssmm: error: {site}"))
        .stderr_line(format!("ssmm: error: {other}"))
        .stderr_has("--strict: 2 problem(s) found (file overrides)")
        .writes_nothing()
        .go();
    sync(&t, &[])
        .success()
        .stderr_line(format!("ssmm: warning: {site}"))
        .stderr_line(format!("ssmm: warning: {other}"))
        .file("site.conf", "site for api-name-4d\n")
        .file("other.conf", "api-plain-other")
        .absent("site.conf.tmpl")
        .absent("other.conf.tmpl")
        .go();
}

#[test]
fn rendered_paths_are_confined_like_every_file() {
    let outside = tempfile::tempdir().unwrap();
    fs::write(outside.path().join("victim"), "keep").unwrap();
    let t = Test::new().plain("api/k", "v").file(".env", OLD_ENV);
    fs::create_dir(t.path("adir")).unwrap();
    symlink(outside.path().join("victim"), t.path("link")).unwrap();
    symlink(outside.path(), t.path("outdir")).unwrap();
    let name_needed = "a template needs a file name before \".tmpl\"";
    let cases: [(&str, String, i32); 7] = [
        (
            "../up.tmpl",
            "path \"../up.tmpl\" refused: '..' segments are not allowed".into(),
            1,
        ),
        (
            "/abs.tmpl",
            "path \"/abs.tmpl\" refused: absolute paths are not allowed".into(),
            1,
        ),
        (".tmpl", format!("path \".tmpl\" refused: {name_needed}"), 1),
        (
            "dir/.tmpl",
            format!("path \"dir/.tmpl\" refused: {name_needed}"),
            1,
        ),
        (
            "link.tmpl",
            format!(
                "path \"link\" refused: {} is a symlink leading outside the root",
                t.path("link").display()
            ),
            1,
        ),
        (
            "outdir/x.tmpl",
            format!(
                "path \"outdir/x\" refused: {} is a symlink leading outside the root",
                t.path("outdir").display()
            ),
            1,
        ),
        (
            "adir.tmpl",
            format!(
                "{}: it is a directory, not a regular file; ssmm replaces only regular files and symlinks",
                t.path("adir").display()
            ),
            2,
        ),
    ];
    for (i, (rel, why, code)) in cases.iter().enumerate() {
        let app = format!("app{i}");
        t.put_secure(&format!("{app}/files/{rel}"), "{{ K }}");
        t.put(&format!("{app}/k"), "v");
        let msg = format!(
            "ssmm: error: file parameter {}/{app}/files/{rel}: {why}",
            t.prefix()
        );
        t.ssmm(["sync", "--app", &app])
            .code(*code)
            .stderr_line(msg)
            .writes_nothing()
            .go();
    }
    assert_eq!(
        fs::read_to_string(outside.path().join("victim")).unwrap(),
        "keep"
    );
    assert_eq!(entries(outside.path()), ["victim"]);

    // A template rendering to --out itself.
    t.put_secure("api/files/.env.tmpl", "{{ K }}");
    sync(&t, &[])
        .code(2)
        .stderr_has(format!(
            "file parameter {}/api/files/.env.tmpl: path \".env\" is the --out file itself",
            t.prefix()
        ))
        .writes_nothing()
        .go();
}

#[test]
fn a_template_of_a_template_renders_once() {
    let t = Test::new().plain("api/k", "v").param(
        "api/files/x.tmpl.tmpl",
        "{% raw %}{{ K }}{% endraw %} is {{ K }}\n",
    );
    sync(&t, &[])
        .success()
        .file("x.tmpl", "{{ K }} is v\n")
        .absent("x.tmpl.tmpl")
        .go();
}

#[test]
fn the_trailing_newline_is_kept_and_none_is_added() {
    let t = Test::new()
        .plain("api/k", "v")
        .param("api/files/one.tmpl", "{{ K }}\n")
        .param("api/files/none.tmpl", "{{ K }}")
        .param("api/files/two.tmpl", "{{ K }}\n\n")
        .param("api/files/crlf.tmpl", "{{ K }}\r\n");
    sync(&t, &[])
        .success()
        .file("one", "v\n")
        .file("none", "v")
        .file("two", "v\n\n")
        .file("crlf", "v\r\n")
        .go();
}

#[test]
fn a_rendered_file_replaces_the_old_one_atomically_with_mode_0600() {
    let t = Test::new()
        .plain("api/k", "new-value-91")
        .param("api/files/app.conf.tmpl", "k={{ K }}\n")
        .param("api/files/linked.conf.tmpl", "k={{ K }}\n")
        .file_mode("app.conf", "old\n", 0o644)
        .file("inside-target", "keep me");
    symlink("inside-target", t.path("linked.conf")).unwrap();
    sync(&t, &[])
        .success()
        .file("app.conf", "k=new-value-91\n")
        .file("linked.conf", "k=new-value-91\n")
        .go();
    // The symlink was replaced, not written through; no temporary file left.
    assert!(
        !fs::symlink_metadata(t.path("linked.conf"))
            .unwrap()
            .file_type()
            .is_symlink()
    );
    assert_eq!(t.read("inside-target"), "keep me");
    assert_eq!(
        entries(t.dir()),
        [".env", "app.conf", "inside-target", "linked.conf"]
    );
    assert_eq!(
        fs::metadata(t.path("app.conf"))
            .unwrap()
            .permissions()
            .mode()
            & 0o777,
        0o600
    );
}

#[test]
fn base64_and_url_templates_are_rendered_after_decoding_or_downloading() {
    let b64 = base64::engine::general_purpose::STANDARD;
    let big: String = (0..2000)
        .map(|i| format!("line {i} {{{{ K }}}}\n"))
        .collect();
    let served = big.clone();
    let srv = Server::start(move |req| match req.path() {
        "/big.tmpl" => Reply::new(200, served.clone()),
        _ => Reply::new(404, "no"),
    });
    let t = Test::new()
        .plain("api/k", "v1")
        .param(
            "api/files/b64.conf.tmpl",
            &format!("base64:{}", b64.encode("k={{ K }}\n")),
        )
        .param(
            "api/files/big.conf.tmpl",
            &format!("url:{}?X-Amz-Signature=sig-6f1", srv.url("/big.tmpl")),
        );
    let want: String = (0..2000).map(|i| format!("line {i} v1\n")).collect();
    sync(&t, &[])
        .success()
        .stderr_lacks("sig-6f1")
        .file("b64.conf", "k=v1\n")
        .file("big.conf", want)
        .go();

    // A template must be UTF-8 text.
    t.put_secure(
        "api/files/b64.conf.tmpl",
        &format!("base64:{}", b64.encode(b"ok\xff")),
    );
    sync(&t, &[])
        .code(1)
        .stderr_line(error(
            &t,
            "b64.conf.tmpl",
            "the template is not valid UTF-8 text (at byte 2)",
        ))
        .untouched("")
        .go();
}

#[test]
fn a_runaway_loop_runs_out_of_fuel_and_writes_nothing() {
    let t = Test::new().plain("api/k", "v").param(
        "api/files/loop.tmpl",
        "{% for i in range(100000) %}{% for j in range(100000) %}{{ K }}{% endfor %}{% endfor %}",
    );
    let started = Instant::now();
    sync(&t, &["--max-file-size", "1GiB"])
        .timeout(Duration::from_secs(120))
        .code(1)
        .stderr_line(error(
            &t,
            "loop.tmpl",
            &format!(
                "the template did not finish rendering within its limit of {} steps on line 1 (a runaway loop?)",
                ssmm::files::TEMPLATE_FUEL
            ),
        ))
        .writes_nothing()
        .go();
    eprintln!("out of fuel after {:?}", started.elapsed());
}

#[test]
fn a_rendered_file_over_max_file_size_is_refused() {
    let t = Test::new()
        .plain("api/k", "0123456789")
        .param(
            "api/files/big.tmpl",
            "{% for i in range(1000) %}{{ K }}{% endfor %}",
        )
        .file(".env", OLD_ENV);
    sync(&t, &["--max-file-size", "4KiB"])
        .code(1)
        .stderr_line(error(
            &t,
            "big.tmpl",
            "the rendered file is larger than the limit of 4096 bytes (--max-file-size)",
        ))
        .writes_nothing()
        .go();
    // Just under the cap is fine.
    t.put_secure(
        "api/files/big.tmpl",
        "{% for i in range(409) %}{{ K }}{% endfor %}",
    );
    sync(&t, &["--max-file-size", "4KiB"])
        .success()
        .file("big", "0123456789".repeat(409))
        .go();
}

#[test]
fn no_files_renders_nothing() {
    let t = Test::new()
        .plain("api/k", "v")
        .param("api/files/broken.tmpl", "{% if %}");
    sync(&t, &["--no-files"]).success().absent("broken").go();
}

#[test]
fn the_ecs_layout_renders_its_environment_into_its_files() {
    let t = Test::new()
        .plain("environment/region", "eu-west-9")
        .plain("web/environment/region", "eu-west-7")
        .param("files/cluster.conf.tmpl", "region={{ REGION }}\n")
        .param("web/files/web.conf.tmpl", "web in {{ REGION }}\n");
    t.ecs(["sync", "--app", "web"])
        .success()
        .file("cluster.conf", "region=eu-west-7\n")
        .file("web.conf", "web in eu-west-7\n")
        .go();
}

/// Marks every piece of template text the property below builds: no ASCII
/// letter, so it can never be part of a variable's name (which messages do
/// show); a message holding it quotes the template.
const MARK: &str = "§7§";

fn jinja_ish() -> impl proptest::strategy::Strategy<Value = String> {
    use proptest::prelude::*;
    let pieces = [
        "{{",
        "}}",
        "{%",
        "%}",
        "{#",
        "#}",
        "-",
        " ",
        "\n",
        "'",
        "\"",
        "(",
        ")",
        "[",
        "]",
        "|",
        "~",
        "+",
        "*",
        ".",
        ",",
        "=",
        "==",
        "if ",
        "else",
        "endif",
        "for ",
        " in ",
        "endfor",
        "set ",
        "raw",
        "endraw",
        "include",
        "import",
        "range(9)",
        "loop.index",
        "X",
        "Y",
        "NOPE",
        "upper",
        "default('d')",
        "is defined",
        "1",
        "0",
        "int",
        "float",
        "format(X)",
        "QQ",
        "QQ(",
        "X.QQ",
        MARK,
    ];
    let loose = proptest::collection::vec(proptest::sample::select(pieces.to_vec()), 0..24)
        .prop_map(|v| v.concat());
    // Well-formed tags around random expressions, so that rendering (and
    // its errors) is reached as often as parsing.
    let atom = proptest::sample::select(vec![
        "X", "Y", "QQ", "NOPE", "'§'", "1", "0.5", "range(9)", "X.QQ", "X[0]", "X[QQ]", "loop",
    ]);
    let op = proptest::sample::select(vec![" + ", " ~ ", " * ", " == ", " and ", " in "]);
    let filter = proptest::sample::select(vec![
        "upper",
        "int",
        "float",
        "length",
        "join(X)",
        "attr(X)",
        "format(X, QQ)",
        "default(X)",
        "QQ",
        "first",
        "map('QQ')",
        "selectattr(X)",
        "batch(X)",
    ]);
    let expr = (
        atom.clone(),
        proptest::collection::vec((op, atom), 0..3),
        proptest::collection::vec(filter, 0..3),
    )
        .prop_map(|(first, rest, filters)| {
            let mut e = first.to_owned();
            for (op, a) in rest {
                e.push_str(op);
                e.push_str(a);
            }
            for f in filters {
                e.push_str(" | ");
                e.push_str(f);
            }
            e
        });
    let tag = (expr, 0..4usize).prop_map(|(e, how)| match how {
        0 => format!("{{{{ {e} }}}}"),
        1 => format!("{{% if {e} %}}§{{% endif %}}"),
        2 => format!("{{% for i in {e} %}}{{{{ i }}}}{{% endfor %}}"),
        _ => format!("{{% set v = {e} %}}{{{{ v }}}}"),
    });
    let chunk = prop_oneof![loose, tag];
    proptest::collection::vec(chunk, 1..4).prop_map(|v| v.join("\n"))
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(256))]

    /// Any template text renders or fails with a fixed phrase naming the
    /// parameter: no panic, never the template's text or a value.
    #[test]
    fn any_template_renders_or_fails_without_quoting_it(source in jinja_ish()) {
        let root = tempfile::tempdir().unwrap();
        let spec = ssmm::files::FileSpec {
            rel: "t.conf.tmpl".into(),
            param: "/p/api/files/t.conf.tmpl".into(),
            value: ssmm::secret::Secret::new(source.clone()),
        };
        let limits = ssmm::files::Limits {
            max_size: 1 << 20,
            timeout: Duration::from_secs(5),
        };
        let vars = [("X", "§x-value§"), ("Y", "1")];
        let got = crate::support::block_on_fresh(ssmm::files::prepare(
            std::slice::from_ref(&spec),
            &vars,
            root.path(),
            &limits,
        ));
        match got {
            Ok(prepared) => {
                proptest::prop_assert_eq!(prepared.len(), 1);
                proptest::prop_assert_eq!(&prepared[0].rel, "t.conf");
            }
            Err(e) => {
                let text = format!("{e:#} {e:?}");
                proptest::prop_assert!(
                    text.starts_with("file parameter /p/api/files/t.conf.tmpl: "),
                    "{}", text
                );
                // `QQ`, an identifier of the template's text, shows only as
                // an undefined variable's name.
                proptest::prop_assert!(
                    !text.contains("QQ") || text.contains("undefined variable"),
                    "{}", text
                );
                for needle in ["§", "\\u{a7}", "x-value"] {
                    proptest::prop_assert!(!text.contains(needle), "{:?} in {}", needle, text);
                }
            }
        }
        proptest::prop_assert!(entries(root.path()).is_empty());
    }
}
