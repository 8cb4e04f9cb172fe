//! Running a program with text on its standard input, as a pipe from a shell would.

use std::io::Write;
use std::process::{Command, Output, Stdio};

/// Runs `command` to its end with `input` on stdin; returns its status, stdout and stderr.
pub fn run_piped(mut command: Command, input: &str) -> Output {
    let mut child = command
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the program starts");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    child.wait_with_output().unwrap()
}
