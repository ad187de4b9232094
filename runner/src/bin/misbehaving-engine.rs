//! Test support: the built-in reverse engine over the protocol, which breaks
//! the protocol once on purpose, so tests can check that adcheck names the
//! fault and carries on.
//!
//! `misbehaving-engine --fault KIND --at K [--once-file PATH]` behaves until
//! the K-th `evaluate` message (counting from 1), then, for KIND:
//! `crash` exits with status 3, `hang` stops answering, `garbage` prints a
//! line that is not JSON, `wrong-id` answers with another id, `wrong-length`
//! drops the last derivative entry, `none` behaves. With `--once-file`, only
//! the process that creates PATH first misbehaves, so a pool of processes
//! misbehaves exactly once between them.

use adcheck_engines::reverse::ReverseEngine;
use adcheck_protocol::Server;
use serde_json::Value;
use std::io::{BufRead, Write};
use std::process::ExitCode;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let flag = |name: &str| {
        args.iter()
            .position(|a| a == name)
            .and_then(|i| args.get(i + 1))
            .cloned()
    };
    let fault = flag("--fault").unwrap_or_else(|| "none".into());
    if ![
        "none",
        "crash",
        "hang",
        "garbage",
        "wrong-id",
        "wrong-length",
    ]
    .contains(&fault.as_str())
    {
        eprintln!("unknown fault `{fault}`");
        return ExitCode::from(2);
    }
    let at: u64 = flag("--at").and_then(|k| k.parse().ok()).unwrap_or(1);
    let once_file = flag("--once-file");

    let engine = ReverseEngine;
    let mut server = Server::new(&engine);
    let stdin = std::io::stdin();
    let mut stdout = std::io::stdout();
    let mut evaluations = 0u64;
    for line in stdin.lock().lines() {
        let Ok(line) = line else { break };
        let mut reply = server.respond(&line);
        if line.contains("\"evaluate\"") {
            evaluations += 1;
            let chosen = evaluations == at
                && once_file.as_ref().is_none_or(|path| {
                    std::fs::OpenOptions::new()
                        .write(true)
                        .create_new(true)
                        .open(path)
                        .is_ok()
                });
            if chosen {
                match fault.as_str() {
                    "crash" => {
                        eprintln!("misbehaving-engine: simulated crash");
                        return ExitCode::from(3);
                    }
                    "hang" => std::thread::sleep(std::time::Duration::from_secs(3600)),
                    "garbage" => reply = "this is not a reply".into(),
                    "wrong-id" => {
                        let mut v: Value = serde_json::from_str(&reply).expect("own reply");
                        v["id"] = (v["id"].as_u64().unwrap_or(0) + 1000).into();
                        reply = v.to_string();
                    }
                    "wrong-length" => {
                        let mut v: Value = serde_json::from_str(&reply).expect("own reply");
                        if let Some(Value::Array(d)) = v.pointer_mut("/output/derivative") {
                            d.pop();
                        }
                        reply = v.to_string();
                    }
                    _ => {}
                }
            }
        }
        if writeln!(stdout, "{reply}")
            .and_then(|()| stdout.flush())
            .is_err()
        {
            break;
        }
    }
    ExitCode::SUCCESS
}
