//! Test support: the built-in reverse engine over the protocol, which breaks
//! the protocol on purpose, so tests can check that adcheck names the fault,
//! carries on, and finishes in bounded time.
//!
//! `misbehaving-engine --fault KIND --at K [--every] [--function F]
//! [--once-file PATH] [--huge-line BYTES] [--stderr-bytes BYTES]` behaves
//! until the K-th `evaluate` message (counting from 1; with `--function`,
//! counting only evaluations of F), then, for KIND: `crash` exits with
//! status 3, `hang` stops answering, `garbage` prints a line that is not
//! JSON, `wrong-id` answers with another id, `wrong-length` drops the last
//! derivative entry, `extra-fields` adds fields the protocol does not name
//! (at the top level and inside `output`), `refuse` answers
//! `success: false`, `none` behaves. With `--every`, every K-th such message
//! misbehaves, not only the K-th. With `--once-file`, only the process that
//! creates PATH first misbehaves, so a pool of processes misbehaves exactly
//! once between them. `--huge-line BYTES` answers the first `evaluate` of
//! every process with a line of that many bytes; `--stderr-bytes BYTES`
//! writes that many bytes to standard error before every answer;
//! `--batches` says in `start` that it takes batches (a batch is one
//! `evaluate` message); `--slow-start SECONDS` sleeps that long before
//! answering `start`.

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
        "extra-fields",
        "refuse",
    ]
    .contains(&fault.as_str())
    {
        eprintln!("unknown fault `{fault}`");
        return ExitCode::from(2);
    }
    let at: u64 = flag("--at")
        .and_then(|k| k.parse().ok())
        .unwrap_or(1)
        .max(1);
    let every = args.iter().any(|a| a == "--every");
    let function = flag("--function");
    let once_file = flag("--once-file");
    let huge_line: usize = flag("--huge-line")
        .and_then(|b| b.parse().ok())
        .unwrap_or(0);
    let stderr_bytes: usize = flag("--stderr-bytes")
        .and_then(|b| b.parse().ok())
        .unwrap_or(0);
    let mut first_evaluate = true;

    let engine = ReverseEngine;
    // Batches only when asked: the fault counts are per message.
    let mut server = if args.iter().any(|a| a == "--batches") {
        Server::new(&engine)
    } else {
        Server::without_batches(&engine)
    };
    let stdin = std::io::stdin();
    let mut stdout = std::io::stdout();
    let mut evaluations = 0u64;
    for line in stdin.lock().lines() {
        let Ok(line) = line else { break };
        if line.contains("\"start\"") {
            if let Some(seconds) = flag("--slow-start").and_then(|s| s.parse::<f64>().ok()) {
                std::thread::sleep(std::time::Duration::from_secs_f64(seconds));
            }
        }
        let mut reply = server.respond(&line);
        let evaluate = line.contains("\"evaluate\"");
        if evaluate && stderr_bytes > 0 {
            let chunk = "e".repeat(stderr_bytes.min(1 << 16) - 1) + "\n";
            let mut left = stderr_bytes;
            let mut stderr = std::io::stderr().lock();
            while left > 0 {
                let n = left.min(chunk.len());
                let _ = stderr.write_all(&chunk.as_bytes()[chunk.len() - n..]);
                left -= n;
            }
        }
        if evaluate && huge_line > 0 && first_evaluate {
            first_evaluate = false;
            let block = vec![b'x'; 1 << 20];
            let mut left = huge_line;
            while left > 0 {
                let n = left.min(block.len());
                if stdout.write_all(&block[..n]).is_err() {
                    return ExitCode::SUCCESS;
                }
                left -= n;
            }
            if writeln!(stdout).and_then(|()| stdout.flush()).is_err() {
                return ExitCode::SUCCESS;
            }
            continue;
        }
        let counted = evaluate
            && function
                .as_ref()
                .is_none_or(|f| line.contains(&format!("\"function\":\"{f}\"")));
        if counted {
            evaluations += 1;
            let due = if every {
                evaluations % at == 0
            } else {
                evaluations == at
            };
            let chosen = due
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
                    "extra-fields" => {
                        let mut v: Value = serde_json::from_str(&reply).expect("own reply");
                        v["comment"] = "a field adcheck does not know".into();
                        if let Some(output) = v.get_mut("output") {
                            output["device"] = "cpu".into();
                        }
                        reply = v.to_string();
                    }
                    "refuse" => {
                        let v: Value = serde_json::from_str(&reply).expect("own reply");
                        reply = serde_json::json!({
                            "id": v["id"],
                            "success": false,
                            "error": "refused on purpose",
                        })
                        .to_string();
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
