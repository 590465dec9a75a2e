//! Self-tests of the test harness: if moto, the fault proxy or the command
//! builder lie, every end-to-end test built on them lies too.

use std::panic;
use std::time::{Duration, Instant};

use crate::support::{Fault, FaultProxy, Plan, Ssmm, block_on, moto, sdk_client, unique_prefix};
use aws_sdk_ssm::Client;
use aws_sdk_ssm::config::retry::RetryConfig;
use aws_sdk_ssm::config::timeout::TimeoutConfig;
use aws_sdk_ssm::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_ssm::types::ParameterType;

/// A client through `proxy` that reports the first error as is.
fn raw_client(proxy: &FaultProxy) -> Client {
    sdk_client(&proxy.endpoint(), |b| {
        b.retry_config(RetryConfig::disabled())
    })
}

/// GetParameter through `client`: `Ok(value)` or the error's code.
fn get_code(client: &Client, name: &str) -> Result<String, String> {
    let call = client
        .get_parameter()
        .name(name)
        .with_decryption(true)
        .send();
    match block_on(call) {
        Ok(out) => Ok(out.parameter().unwrap().value().unwrap().to_owned()),
        Err(e) => Err(e.code().unwrap_or("<no code>").to_owned()),
    }
}

#[test]
fn moto_answers_through_the_sdk() {
    let (m, p) = (moto(), unique_prefix());
    let plain = format!("{p}/app/plain");
    m.put(&plain, "hello");
    m.put_secure(&format!("{p}/app/secret"), "s3cr=t value");
    m.put_typed(&format!("{p}/app/list"), "a,b", ParameterType::StringList);
    m.put(&format!("{p}/other"), "x");

    assert_eq!(m.get(&format!("{p}/app/plain")).as_deref(), Some("hello"));
    // Decryption must be on: without it moto returns `kms:...:plaintext`.
    assert_eq!(
        m.get(&format!("{p}/app/secret")).as_deref(),
        Some("s3cr=t value")
    );
    assert_eq!(m.get(&format!("{p}/app/list")).as_deref(), Some("a,b"));
    assert_eq!(m.get(&format!("{p}/missing")), None);

    m.put(&format!("{p}/app/plain"), "overwritten");
    assert_eq!(
        m.get(&format!("{p}/app/plain")).as_deref(),
        Some("overwritten")
    );

    m.add_tags(
        &format!("{p}/app/plain"),
        &[("team", "core"), ("env", "dev")],
    );
    assert_eq!(
        m.tags(&format!("{p}/app/plain")),
        vec![
            ("env".to_owned(), "dev".to_owned()),
            ("team".to_owned(), "core".to_owned())
        ]
    );

    assert_eq!(
        m.names_under(&format!("{p}/app")),
        vec![
            format!("{p}/app/list"),
            format!("{p}/app/plain"),
            format!("{p}/app/secret")
        ]
    );
    assert_eq!(m.names_under(&p).len(), 4);

    m.delete(&format!("{p}/other"));
    m.delete(&format!("{p}/other")); // missing is fine
    assert_eq!(m.get(&format!("{p}/other")), None);

    assert!(m.endpoint().starts_with("http://127.0.0.1:"));
}

#[test]
fn put_many_seeds_every_parameter() {
    let m = moto();
    let p = unique_prefix();
    let items: Vec<(String, String)> = (0..120)
        .map(|i| (format!("{p}/k{i:03}"), format!("v{i}")))
        .collect();
    m.put_many(&items);
    let got = m.params_under(&p);
    let mut want = items.clone();
    want.sort();
    assert_eq!(got, want);
}

#[test]
fn unique_prefixes_are_well_formed_and_distinct() {
    let mut seen = std::collections::HashSet::new();
    for _ in 0..1000 {
        let p = unique_prefix();
        assert_eq!(p.len(), 18, "{p}");
        assert!(p.starts_with("/t"), "{p}");
        assert!(p[2..].chars().all(|c| c.is_ascii_hexdigit()), "{p}");
        assert!(seen.insert(p.clone()), "repeated prefix {p}");
    }
}

#[test]
fn proxy_forwards_and_counts_operations() {
    let m = moto();
    let p = unique_prefix();
    let proxy = FaultProxy::start(&m.endpoint());
    let client = raw_client(&proxy);

    for i in 0..2 {
        let put = client
            .put_parameter()
            .name(format!("{p}/k{i}"))
            .value("v")
            .r#type(ParameterType::SecureString)
            .send();
        block_on(put).expect("put through proxy");
    }
    for _ in 0..3 {
        assert_eq!(get_code(&client, &format!("{p}/k0")), Ok("v".to_owned()));
    }
    let by_path = client
        .get_parameters_by_path()
        .path(&p)
        .with_decryption(true)
        .send();
    assert_eq!(block_on(by_path).unwrap().parameters().len(), 2);

    assert_eq!(proxy.count("PutParameter"), 2);
    assert_eq!(proxy.count("GetParameter"), 3);
    assert_eq!(proxy.count("GetParametersByPath"), 1);
    assert_eq!(proxy.count("DescribeParameters"), 0);
    assert_eq!(proxy.total(), 6);
    assert_eq!(proxy.faults_injected(), 0);
    // moto closes after every answer; the proxy must still keep the
    // client's connection open, as AWS does.
    assert!(
        proxy.connections() < proxy.total(),
        "no keep-alive: {} connections for {} requests",
        proxy.connections(),
        proxy.total()
    );

    proxy.reset_counts();
    assert_eq!((proxy.total(), proxy.count("GetParameter")), (0, 0));
    assert!(proxy.counts().is_empty());
}

/// Which of `n` sequential GetParameter calls came back throttled.
fn throttle_pattern(proxy: &FaultProxy, client: &Client, name: &str, n: usize) -> Vec<bool> {
    (0..n)
        .map(|_| match get_code(client, name) {
            Ok(_) => false,
            Err(code) if code == "ThrottlingException" => true,
            Err(code) => panic!(
                "unexpected error {code} (proxy counts {:?})",
                proxy.counts()
            ),
        })
        .collect()
}

#[test]
fn throttle_share_is_seeded_and_reaches_the_sdk() {
    let m = moto();
    let name = format!("{}/k", unique_prefix());
    m.put(&name, "v");
    let proxy = FaultProxy::start(&m.endpoint());
    let client = raw_client(&proxy);

    let plan = || Plan::share(Fault::Throttle, 0.5, 42).only(&["GetParameter"]);
    proxy.set_plan(plan());
    let first = throttle_pattern(&proxy, &client, &name, 200);
    let throttled = first.iter().filter(|t| **t).count();
    assert!(
        (70..=130).contains(&throttled),
        "50% plan throttled {throttled}/200"
    );
    assert_eq!(proxy.faults_injected(), throttled);
    assert_eq!(
        proxy.count("GetParameter"),
        200,
        "faulted requests count too"
    );

    // Same seed, same pattern; another seed, another pattern.
    proxy.set_plan(plan());
    assert_eq!(throttle_pattern(&proxy, &client, &name, 200), first);
    proxy.set_plan(Plan::share(Fault::Throttle, 0.5, 43));
    assert_ne!(throttle_pattern(&proxy, &client, &name, 200), first);

    // Operations outside `only` pass untouched.
    proxy.set_plan(Plan::always(Fault::Throttle).only(&["GetParametersByPath"]));
    assert_eq!(get_code(&client, &name), Ok("v".to_owned()));
}

#[test]
fn status_faults_are_service_errors_with_their_status() {
    let m = moto();
    let name = format!("{}/k", unique_prefix());
    m.put(&name, "v");
    let proxy = FaultProxy::start(&m.endpoint());
    let client = raw_client(&proxy);

    for (status, code) in [(503, "ServiceUnavailable"), (500, "InternalServerError")] {
        proxy.set_plan(Plan::first(Fault::Status(status), 2));
        for _ in 0..2 {
            let err = block_on(client.get_parameter().name(&name).send()).unwrap_err();
            assert!(
                matches!(err, SdkError::ServiceError(_)),
                "{status}: {err:?}"
            );
            assert_eq!(err.raw_response().unwrap().status().as_u16(), status);
            assert_eq!(err.code(), Some(code));
        }
        // Only the first two.
        assert_eq!(get_code(&client, &name), Ok("v".to_owned()));
    }
    assert_eq!(proxy.faults_injected(), 4);
    assert_eq!(proxy.count("GetParameter"), 6);
}

#[test]
fn reset_is_a_connection_failure() {
    let m = moto();
    let name = format!("{}/k", unique_prefix());
    m.put(&name, "v");
    let proxy = FaultProxy::start(&m.endpoint());
    let client = raw_client(&proxy);
    // Warm a pooled connection first: a reset on a reused connection is the
    // case that matters (and the one a client might silently retry).
    assert_eq!(get_code(&client, &name), Ok("v".to_owned()));

    proxy.set_plan(Plan::first(Fault::Reset, 1));
    let err = block_on(client.get_parameter().name(&name).send()).unwrap_err();
    match &err {
        SdkError::DispatchFailure(f) => assert!(f.is_io(), "not an I/O failure: {err:?}"),
        other => panic!("expected a dispatch failure, got {other:?}"),
    }
    assert_eq!(proxy.faults_injected(), 1);
    assert_eq!(get_code(&client, &name), Ok("v".to_owned()));
}

#[test]
fn delay_slows_requests_by_at_least_the_delay() {
    let m = moto();
    let name = format!("{}/k", unique_prefix());
    m.put(&name, "v");
    let proxy = FaultProxy::start(&m.endpoint());
    let client = raw_client(&proxy);

    let delay = Duration::from_millis(250);
    proxy.set_plan(Plan::always(Fault::Delay(delay)));
    let t = Instant::now();
    assert_eq!(get_code(&client, &name), Ok("v".to_owned()));
    assert!(t.elapsed() >= delay, "took only {:?}", t.elapsed());

    // A delay composes with a later rule: slowed, then throttled.
    proxy.set_plan(Plan::always(Fault::Delay(delay)).then(Plan::first(Fault::Throttle, 1)));
    let t = Instant::now();
    assert_eq!(get_code(&client, &name), Err("ThrottlingException".into()));
    assert!(t.elapsed() >= delay, "took only {:?}", t.elapsed());

    // Without a plan no delay is added: the fastest of three requests is
    // under it (one alone can be slowed by the load of other tests).
    proxy.set_plan(Plan::none());
    let fastest = (0..3)
        .map(|_| {
            let t = Instant::now();
            assert_eq!(get_code(&client, &name), Ok("v".to_owned()));
            t.elapsed()
        })
        .min()
        .unwrap();
    assert!(fastest < delay, "no plan but the fastest took {fastest:?}");
}

#[test]
fn stall_makes_the_client_time_out() {
    let m = moto();
    let name = format!("{}/k", unique_prefix());
    m.put(&name, "v");
    let proxy = FaultProxy::start(&m.endpoint());
    let client = sdk_client(&proxy.endpoint(), |b| {
        b.retry_config(RetryConfig::disabled()).timeout_config(
            TimeoutConfig::builder()
                .operation_attempt_timeout(Duration::from_millis(400))
                .build(),
        )
    });

    proxy.set_plan(Plan::first(Fault::Stall, 1));
    let t = Instant::now();
    let err = block_on(client.get_parameter().name(&name).send()).unwrap_err();
    assert!(
        matches!(err, SdkError::TimeoutError(_)),
        "expected a timeout, got {err:?}"
    );
    assert!(t.elapsed() < Duration::from_secs(5), "{:?}", t.elapsed());
    assert_eq!(get_code(&client, &name), Ok("v".to_owned()));
}

#[test]
fn dropping_the_proxy_stops_it_promptly() {
    let proxy = FaultProxy::start(&moto().endpoint());
    let addr = proxy.endpoint().trim_start_matches("http://").to_owned();
    // A stalled connection must not keep the proxy alive.
    proxy.set_plan(Plan::always(Fault::Stall));
    let mut held = std::net::TcpStream::connect(&addr).unwrap();
    std::io::Write::write_all(
        &mut held,
        b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n",
    )
    .unwrap();
    std::thread::sleep(Duration::from_millis(50));

    let t = Instant::now();
    drop(proxy);
    assert!(
        t.elapsed() < Duration::from_secs(2),
        "drop took {:?}",
        t.elapsed()
    );
    assert!(
        std::net::TcpStream::connect(&addr).is_err(),
        "still listening"
    );
    // The stalled connection was closed, not left hanging.
    held.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
    let mut buf = [0u8; 16];
    let n = std::io::Read::read(&mut held, &mut buf).unwrap_or(0);
    assert_eq!(n, 0);
}

#[test]
fn command_environment_is_hermetic() {
    let out = Ssmm::with_program("sh")
        .args(["-c", "env"])
        .endpoint("http://127.0.0.1:9")
        .env("EXTRA", "1")
        .env_remove("AWS_REGION")
        .run();
    out.success();
    let vars: Vec<&str> = out.stdout.lines().collect();
    for want in [
        "AWS_ACCESS_KEY_ID=testing",
        "AWS_SECRET_ACCESS_KEY=testing",
        "AWS_EC2_METADATA_DISABLED=true",
        "AWS_ENDPOINT_URL=http://127.0.0.1:9",
        "EXTRA=1",
    ] {
        assert!(vars.contains(&want), "missing {want}\n{out}");
    }
    let home = format!("HOME={}", out.home.path().display());
    assert!(vars.contains(&home.as_str()), "{out}");
    for var in &vars {
        let key = var.split('=').next().unwrap();
        assert!(key != "AWS_REGION", "env_remove ignored\n{out}");
        // cargo sets these for the test process; they must not leak.
        assert!(!key.starts_with("CARGO"), "leaked {key}\n{out}");
        if key == "AWS_CONFIG_FILE" || key == "AWS_SHARED_CREDENTIALS_FILE" {
            let path = &var[key.len() + 1..];
            assert!(!std::path::Path::new(path).exists(), "{path} exists");
        }
    }
}

#[test]
fn command_outcome_reports_code_streams_and_signal() {
    let out = Ssmm::with_program("sh")
        .args(["-c", "cat; echo oops >&2; exit 3"])
        .stdin_bytes("fed")
        .run();
    out.code(3).stdout_contains("fed").stderr_contains("oops");
    assert_eq!(out.combined(), "fedoops\n");
    assert_eq!(out.signal, None);

    let out = Ssmm::with_program("sh").args(["-c", "kill -TERM $$"]).run();
    out.killed_by(15);
    assert_eq!(out.code, None);

    let running = Ssmm::with_program("sleep").arg("30").spawn();
    assert!(running.pid() > 0);
    running.signal(2);
    running.wait().killed_by(2);
}

#[test]
fn command_timeout_kills_the_process_group_and_fails() {
    let t = Instant::now();
    let result = panic::catch_unwind(|| {
        // The background sleep holds stdout too: the whole group must die.
        Ssmm::with_program("sh")
            .args(["-c", "sleep 30 & sleep 30"])
            .timeout(Duration::from_millis(300))
            .run()
    });
    let msg = match result {
        Ok(out) => panic!("a hang passed: {out}"),
        Err(e) => e.downcast_ref::<String>().cloned().unwrap_or_default(),
    };
    assert!(msg.contains("TIMEOUT"), "{msg}");
    assert!(t.elapsed() < Duration::from_secs(5), "{:?}", t.elapsed());
}
