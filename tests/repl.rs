//! The `ringkv` binary driven through a pipe, as a user or a script would.

use crate::support::piped;

use piped::run_piped;
use std::process::{Command, Stdio};

/// Runs `ringkv ARGS` with `input` on stdin; returns stdout.
fn run(args: &[&str], input: &str) -> String {
    let mut command = Command::new(env!("CARGO_BIN_EXE_ringkv"));
    command.arg("--in-memory").args(args);
    let out = run_piped(command, input);
    assert!(
        out.status.success(),
        "exit {:?}: {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// The ports the nodes announced, in order.
fn ports(out: &str) -> Vec<String> {
    out.lines()
        .filter_map(|l| l.strip_prefix("Node listening on port "))
        .map(str::to_owned)
        .collect()
}

/// Replaces the announced ports with 5001, 5002, ... so output can be compared with the seed.
fn normalize(out: &str) -> String {
    let mut text = out.to_owned();
    for (i, port) in ports(out).iter().enumerate() {
        text = text.replace(port.as_str(), &format!("{}", 9001 + i));
    }
    text.replace("900", "500")
}

#[test]
fn the_seed_session_prints_the_seed_lines() {
    let out = run(
        &["--base-port", "0", "--replicas", "1"],
        "3\nupdate a\nget a\nstatus\nexit\n",
    );
    let expected = "\
Welcome to Consistent Hashing based Distributed Key-Value Store
Enter number of nodes to start: 
Node listening on port 5001
Node listening on port 5002
Node listening on port 5003
Update successful
Count for a: 1
Nodes running on ports: [5001 5002 5003]
Current counters on all nodes:
Node on port 5001:
a: 1

Node on port 5002:
No events

Node on port 5003:
No events
Exiting...
";
    assert_eq!(normalize(&out), expected);
}

#[test]
fn with_three_replicas_status_marks_the_copies() {
    let out = run(
        &["--nodes", "3", "--base-port", "0"],
        "update a\nstatus\nexit\n",
    );
    let text = normalize(&out);
    assert!(
        text.contains("Node on port 5001:\na: 1\n\nNode on port 5002:\na: 1 (replica)\n"),
        "{text}"
    );
    assert!(
        text.contains("Node on port 5003:\na: 1 (replica)\n"),
        "{text}"
    );
    assert!(
        text.contains("Replication: R=3 W=2 Q=2; repairs: "),
        "{text}"
    );
}

#[test]
fn nodes_flag_skips_the_question_and_end_of_input_exits() {
    let out = run(&["--nodes", "2", "--base-port", "0"], "update a 5\nget a\n");
    assert!(!out.contains("Enter number of nodes"));
    assert_eq!(ports(&out).len(), 2);
    assert!(out.contains("Count for a: 5\n"));
    assert!(out.ends_with("Exiting...\n"));
}

#[test]
fn negative_updates_count_down_and_overflow_changes_nothing() {
    let input = "update a 5\nupdate a -8\nget a\nupdate z 0\nget z\nupdate m -9223372036854775808\nupdate m -1\nget m\n";
    let out = run(&["--nodes", "3", "--base-port", "0"], input);
    assert!(out.contains("Count for a: -3\n"), "{out}");
    assert!(out.contains("Count for z: 0\n"), "{out}");
    assert!(out.contains("Count for m: -9223372036854775808\n"), "{out}");
    let errors: Vec<&str> = out.lines().filter(|l| l.starts_with("Error: ")).collect();
    assert_eq!(errors.len(), 1, "{out}");
    assert!(errors[0].contains("overflow"), "{out}");
    assert_eq!(out.matches("Update successful\n").count(), 4, "{out}");
}

#[test]
fn delete_and_set_in_the_repl() {
    let input = "update a 5\nupdate b 1\ndelete a\nget a\nset c 7\nupdate c -1\nget c\ndelete nope\nset c\nstatus\n";
    let out = run(&["--nodes", "3", "--base-port", "0"], input);
    assert!(out.contains("Delete successful\n"), "{out}");
    assert!(out.contains("Count for a: 0\n"), "{out}");
    assert!(out.contains("Set successful\n"), "{out}");
    assert!(out.contains("Count for c: 6\n"), "{out}");
    assert!(
        out.contains("Delete successful (nope did not exist)\n"),
        "{out}"
    );
    let errors: Vec<&str> = out.lines().filter(|l| l.starts_with("Error: ")).collect();
    assert_eq!(errors, ["Error: usage: set KEY N"], "{out}");
    let status = &out[out.find("Current counters").expect("status")..];
    assert!(
        status.contains("b: 1\n") && status.contains("c: 6\n"),
        "{out}"
    );
    assert!(
        !status.contains("a: "),
        "a deleted key leaves status: {out}"
    );
}

#[test]
fn bad_lines_get_one_error_line_and_the_session_goes_on() {
    let input = "frobnicate\nget\nupdate a 3.5\nupdate a 1 2\nkill-node nope\nremove-node 1\nupdate a 2\nget a\nexit\n";
    let out = run(&["--nodes", "3", "--base-port", "0"], input);
    let errors: Vec<&str> = out.lines().filter(|l| l.starts_with("Error: ")).collect();
    assert_eq!(errors.len(), 6, "{out}");
    assert!(errors[0].contains("unknown command 'frobnicate'"));
    assert!(errors[2].contains("bad amount '3.5'"));
    assert!(errors[5].contains("no node on port 1"));
    assert!(out.contains("Count for a: 2\n"), "{out}");
}

#[test]
fn a_bad_node_count_is_asked_again() {
    let out = run(&["--base-port", "0"], "zero\n0\n2\nget a\nexit\n");
    assert_eq!(out.matches("Enter number of nodes to start: ").count(), 3);
    assert_eq!(out.lines().filter(|l| l.starts_with("Error: ")).count(), 2);
    assert!(out.contains("Count for a: 0\n"));
}

/// The first of `n` consecutive free ports in 20000..32000, probed by binding them.
fn free_port_run(n: u16) -> u16 {
    let start = 20000 + (std::process::id() % 1000) as u16 * 10;
    (0..1000u16)
        .map(|i| 20000 + (start - 20000 + i * 11) % 12000)
        .find(|&base| {
            (base..base + n).all(|p| std::net::TcpListener::bind(("127.0.0.1", p)).is_ok())
        })
        .expect("some free ports")
}

#[test]
fn membership_commands_from_the_repl() {
    let input = "update a\nupdate b\nupdate c\nadd-node\nring\nkill-node PORT0\nremove-node PORT1\nstatus\nhelp\nexit\n";
    // Consecutive ports below the ephemeral range (where port-0 tests land), free right now.
    let base = free_port_run(4);
    let input = input
        .replace("PORT0", &base.to_string())
        .replace("PORT1", &(base + 1).to_string());
    let out = run(
        &[
            "--nodes",
            "3",
            "--base-port",
            &base.to_string(),
            "--replicas",
            "1",
            "--no-restart",
        ],
        &input,
    );
    // add-node takes the port after the highest (base + 3) unless another test holds it.
    let announced = ports(&out);
    assert_eq!(announced.len(), 4, "{out}");
    let added: u16 = announced[3].parse().unwrap();
    assert!(
        out.contains("Ring: 4 nodes, 256 virtual nodes each"),
        "{out}"
    );
    assert!(
        out.contains(&format!("Node on port {base} killed, ")),
        "{out}"
    );
    assert!(
        out.contains(&format!("Node on port {} removed, ", base + 1)),
        "{out}"
    );
    assert!(
        out.contains(&format!("Nodes running on ports: [{} {added}]", base + 2)),
        "{out}"
    );
    assert!(out.contains("Commands:"));
}

#[test]
fn a_port_in_use_is_refused_with_one_line() {
    let holder = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = holder.local_addr().unwrap().port().to_string();
    let out = Command::new(env!("CARGO_BIN_EXE_ringkv"))
        .args(["--in-memory", "--nodes", "1", "--base-port", &port])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(&format!("cannot listen on port {port}")),
        "{err}"
    );
    assert_eq!(err.trim().lines().count(), 1, "{err}");
}

#[test]
fn expire_ttl_and_persist_in_the_repl() {
    let out = run(
        &["--nodes", "3", "--base-port", "0"],
        "update a 3\nttl a\nexpire a 100\nttl a\npersist a\nttl a\npersist a\n\
         expire nope 10\nttl nope\nexpire a x\nexpire a 0\nget a\nttl a\nupdate a\nget a\nexit\n",
    );
    let lines: Vec<&str> = out
        .lines()
        .map(|l| l.trim_start_matches("> "))
        .filter(|l| !l.starts_with("Node listening") && !l.starts_with("Welcome"))
        .collect();
    let want = [
        "Update successful",
        "TTL for a: -1 (no expiry)",
        "Expire successful",
        "TTL for a: 100",
        "Persist successful",
        "TTL for a: -1 (no expiry)",
        "Persist not done: a has no expiry",
        "Expire not done: nope does not exist",
        "TTL for nope: -2 (does not exist)",
        "Error: bad number of seconds 'x': expected a whole number",
        "Expire successful",
        "Count for a: 0",
        "TTL for a: -2 (does not exist)",
        "Update successful",
        "Count for a: 1",
    ];
    for line in want {
        assert!(lines.contains(&line), "missing {line:?} in {out}");
    }
    let at = |l: &str| lines.iter().position(|x| *x == l).unwrap();
    assert!(at("Persist successful") < at("Persist not done: a has no expiry"));
}
