//! Random bytes and mutated messages into `serve`: every line that is not
//! blank gets exactly one reply, each reply is a JSON object carrying the
//! message's id (or null when there is none to read), and the session never
//! ends early. The seed is printed; a failure names the line.

use adcheck_engines::reverse::ReverseEngine;
use adcheck_protocol::serve;
use serde_json::Value;

/// SplitMix64: a tiny deterministic generator, enough for fuzzing.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

/// Well-formed messages, the seeds of the mutations.
const TEMPLATES: [&str; 7] = [
    r#"{"id":1,"kind":"start"}"#,
    r#"{"id":2,"kind":"define","module":"adcheck"}"#,
    r#"{"id":3,"kind":"evaluate","module":"adcheck","function":"gradient","input":{"program":{"inputs":2,"body":[{"op":"mul","args":[0,1]},{"op":"sin","args":[0]},{"op":"add","args":[2,3]}],"outputs":[4]},"x":[1.5,-2.0]}}"#,
    r#"{"id":4,"kind":"evaluate","module":"adcheck","function":"jvp","input":{"program":{"inputs":1,"body":[{"op":"powi","args":[0],"exponent":-3},{"op":"sqrt","args":[1]}],"outputs":[2]},"x":["inf"],"v":[1.0]}}"#,
    r#"{"id":5,"kind":"evaluate","module":"lse","function":"gradient","input":{"x":[0.5,1.0,-2.0],"min_runs":2}}"#,
    r#"{"id":6,"kind":"evaluate","module":"llsq","function":"gradient","input":{"x":[0.25,-1.0],"n":8}}"#,
    r#"{"id":7,"kind":"analysis","valid":true}"#,
];

/// One fuzzed line (without its newline).
fn line(rng: &mut Rng) -> Vec<u8> {
    let mut bytes: Vec<u8> = match rng.below(5) {
        // Pure noise, of any byte value.
        0 => (0..rng.below(200)).map(|_| rng.next() as u8).collect(),
        // A template as it is, between the broken lines.
        1 => TEMPLATES[rng.below(TEMPLATES.len())].as_bytes().to_vec(),
        // A template with bytes flipped, inserted, or removed.
        2 | 3 => {
            let mut b = TEMPLATES[rng.below(TEMPLATES.len())].as_bytes().to_vec();
            for _ in 0..1 + rng.below(6) {
                let at = rng.below(b.len().max(1));
                match rng.below(3) {
                    0 if !b.is_empty() => b[at] = rng.next() as u8,
                    1 => b.insert(at, rng.next() as u8),
                    _ if !b.is_empty() => {
                        b.remove(at);
                    }
                    _ => {}
                }
            }
            b
        }
        // A template cut short.
        _ => {
            let b = TEMPLATES[rng.below(TEMPLATES.len())].as_bytes();
            b[..rng.below(b.len())].to_vec()
        }
    };
    for b in &mut bytes {
        if *b == b'\n' {
            *b = b' ';
        }
    }
    bytes
}

#[test]
fn every_non_blank_line_gets_one_reply() {
    let seed = 20_261_201;
    eprintln!("fuzz seed {seed}");
    let mut rng = Rng(seed);
    let lines: Vec<Vec<u8>> = (0..20_000).map(|_| line(&mut rng)).collect();
    let mut input = Vec::new();
    for l in &lines {
        input.extend_from_slice(l);
        input.push(b'\n');
    }
    let mut output = Vec::new();
    serve(&ReverseEngine, &input[..], &mut output).expect("the session runs to the end");
    let replies: Vec<&str> = std::str::from_utf8(&output)
        .expect("replies are UTF-8")
        .lines()
        .collect();
    let answered: Vec<&Vec<u8>> = lines
        .iter()
        .filter(|l| !String::from_utf8_lossy(l).trim().is_empty())
        .collect();
    assert_eq!(replies.len(), answered.len(), "seed {seed}");
    for (k, (reply, line)) in replies.iter().zip(&answered).enumerate() {
        let value: Value = serde_json::from_str(reply)
            .unwrap_or_else(|e| panic!("seed {seed}, line {k}: reply `{reply}` is not JSON: {e}"));
        let id = value.get("id").unwrap_or_else(|| {
            panic!(
                "seed {seed}, line {k} `{}`: reply without id",
                String::from_utf8_lossy(line)
            )
        });
        assert!(id.is_null() || id.is_i64() || id.is_u64(), "{reply}");
    }
    // The mutations leave many messages whole: the engine answered some.
    let successes = replies
        .iter()
        .filter(|r| r.contains(r#""success":true"#))
        .count();
    assert!(successes > 100, "{successes} successful replies");
}
