//! The example server's start-up errors name the address and what to set, and it exits with a
//! failure status instead of running without a listener.

use std::net::TcpListener;
use std::process::Command;

use crate::support::example_server::example_server_binary;
use crate::support::tools::run;

fn start_failure(env: &[(&str, &str)]) -> String {
    let mut command = Command::new(example_server_binary());
    command.envs(env.iter().copied());
    let output = run(&mut command, b"");
    assert!(!output.status.success(), "the example server started: {output:?}");
    String::from_utf8_lossy(&output.stderr).into_owned()
}

#[test]
fn a_busy_port_is_named_with_what_to_set() {
    let busy = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = busy.local_addr().unwrap().port().to_string();
    let stderr = start_failure(&[("PORT", &port), ("HOST", "127.0.0.1")]);
    assert!(
        stderr.contains(&format!("cannot listen on 127.0.0.1:{port}")),
        "{stderr}"
    );
    assert!(
        stderr.contains(&format!("PORT={port} is in use; set PORT")),
        "{stderr}"
    );
}

#[test]
fn a_bad_port_or_host_is_named() {
    let stderr = start_failure(&[("PORT", "eighty")]);
    assert!(
        stderr.contains("PORT must be a port number, got \"eighty\""),
        "{stderr}"
    );
    let stderr = start_failure(&[("PORT", "0"), ("HOST", "localhost:80")]);
    assert!(stderr.contains("HOST must be an IP address"), "{stderr}");
}
