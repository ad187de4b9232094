//! The text and JSON forms of `Program`: round trips, and the documented error
//! for each kind of malformed file.

use adcheck_engines::{Differentiable, Location, Program, ProgramErrorKind};

const SEED: &str = "\
# the seed example
input v1 v2
v3 = mul v1 v2
v4 = sin v1
v5 = add v3 v4
output v5
";

#[test]
fn seed_example_parses_prints_and_evaluates() {
    let p = Program::parse(SEED).unwrap();
    assert_eq!(p.n_inputs(), 2);
    assert_eq!(p.n_outputs(), 1);
    assert_eq!(
        p.to_string(),
        SEED.trim_start_matches("# the seed example\n")
    );
    let x = [0.3f64, 1.7];
    assert_eq!(p.eval(&x), vec![x[0] * x[1] + x[0].sin()]);
}

#[test]
fn names_are_free_and_printing_is_canonical() {
    let p = Program::parse(
        "input x y   # two inputs\n\n  c = const -0.0\n  t = powi x -3\n lse = logsumexp x y c\n s = ifle x y t lse\noutput s t\n",
    )
    .unwrap();
    let text = p.to_string();
    assert_eq!(
        text,
        "input v1 v2\nv3 = const -0.0\nv4 = powi v1 -3\nv5 = logsumexp v1 v2 v3\nv6 = ifle v1 v2 v4 v5\noutput v6 v4\n"
    );
    let again = Program::parse(&text).unwrap();
    assert_eq!(again, p);
    let json = p.to_json();
    assert_eq!(Program::from_json(&json).unwrap(), p);
}

#[test]
fn json_form_is_the_documented_shape() {
    let p = Program::parse(SEED).unwrap();
    assert_eq!(
        p.to_json(),
        r#"{"inputs":2,"body":[{"op":"mul","args":[0,1]},{"op":"sin","args":[0]},{"op":"add","args":[2,3]}],"outputs":[4]}"#
    );
}

fn text_error(text: &str) -> (Location, ProgramErrorKind) {
    let e = Program::parse(text).unwrap_err();
    // Every error names where it is in its message.
    assert!(e.to_string().starts_with(&e.location.to_string()), "{e}");
    (e.location, e.kind)
}

fn json_error(json: &str) -> (Location, ProgramErrorKind) {
    let e = Program::from_json(json).unwrap_err();
    (e.location, e.kind)
}

#[test]
fn malformed_text_gives_the_documented_error() {
    use ProgramErrorKind as K;
    let (at, kind) = text_error("input a\nb = frobnicate a\noutput b");
    assert_eq!(
        (at, kind),
        (Location::Line(2), K::UnknownOp("frobnicate".into()))
    );

    let (at, kind) = text_error("input a\nb = mul a\noutput b");
    assert_eq!(at, Location::Line(2));
    assert!(
        matches!(&kind, K::WrongArity { op, got: 1, .. } if op == "mul"),
        "{kind:?}"
    );
    assert_eq!(kind.to_string(), "`mul` takes 2 arguments, got 1");

    let (at, kind) = text_error("input a\nb = sin c\nc = cos a\noutput b");
    assert_eq!(
        (at, kind),
        (Location::Line(2), K::UseBeforeDefinition("c".into()))
    );

    let (at, kind) = text_error("input a\nb = sin a\noutput z");
    assert_eq!(
        (at, kind),
        (Location::Line(3), K::UndefinedOutput("z".into()))
    );

    for bad in ["inf", "NaN", "-inf", "1e400"] {
        let (at, kind) = text_error(&format!("input a\nb = const {bad}\noutput b"));
        assert_eq!(
            (at, kind),
            (Location::Line(2), K::NonFiniteConstant(bad.into()))
        );
    }

    let (at, kind) = text_error("   \n# only a comment\n");
    assert_eq!((at, kind), (Location::Program, K::Empty));

    let (at, kind) = text_error("input a\na = sin a\noutput a");
    assert_eq!((at, kind), (Location::Line(2), K::Redefinition("a".into())));

    let (at, kind) = text_error("input a\nb = sin a\ninput c\noutput b");
    assert_eq!((at, kind), (Location::Line(3), K::InputAfterAssignment));

    let (at, kind) = text_error("input a\nb = powi a 2.5\noutput b");
    assert_eq!(
        (at, kind),
        (Location::Line(2), K::BadNumber("2.5".into(), "integer"))
    );

    let (at, kind) = text_error("input a\nb = const x1\noutput b");
    assert_eq!(
        (at, kind),
        (Location::Line(2), K::BadNumber("x1".into(), "number"))
    );

    let (at, kind) = text_error("input a\nb sin a\noutput b");
    assert!(matches!((at, kind), (Location::Line(2), K::Syntax(_))));

    let (at, kind) = text_error("input a\nb = sin a\n");
    assert_eq!((at, kind), (Location::Outputs, K::NoOutputs));

    let (at, kind) = text_error("b = const 1\noutput b\n");
    assert_eq!((at, kind), (Location::Program, K::NoInputs));

    let (_, kind) = text_error("input a\nb = logsumexp\noutput b");
    assert_eq!(
        kind.to_string(),
        "`logsumexp` takes at least 1 argument, got 0"
    );
}

#[test]
fn malformed_json_gives_the_documented_error() {
    use ProgramErrorKind as K;
    let (at, kind) = json_error(r#"{"inputs":1,"body":[{"op":"nope","args":[0]}],"outputs":[1]}"#);
    assert_eq!(
        (at, kind),
        (Location::BodyEntry(0), K::UnknownOp("nope".into()))
    );

    let (at, kind) = json_error(r#"{"inputs":1,"body":[{"op":"add","args":[0]}],"outputs":[1]}"#);
    assert!(matches!(
        (at, kind),
        (Location::BodyEntry(0), K::WrongArity { got: 1, .. })
    ));

    let (at, kind) = json_error(r#"{"inputs":1,"body":[{"op":"sin","args":[5]}],"outputs":[1]}"#);
    assert_eq!(
        (at, kind),
        (Location::BodyEntry(0), K::UseBeforeDefinition("5".into()))
    );

    let (at, kind) = json_error(r#"{"inputs":1,"body":[{"op":"sin","args":[0]}],"outputs":[2]}"#);
    assert_eq!(
        (at, kind),
        (Location::Outputs, K::UndefinedOutput("2".into()))
    );

    let (at, kind) = json_error(r#"{"inputs":0,"body":[],"outputs":[]}"#);
    assert_eq!((at, kind), (Location::Program, K::Empty));

    let (at, kind) = json_error(r#"{"inputs":1,"body":[{"op":"const"}],"outputs":[1]}"#);
    assert!(matches!((at, kind), (Location::BodyEntry(0), K::Syntax(_))));

    // JSON has no infinity literal; a number too large to be finite is caught.
    let (at, kind) =
        json_error(r#"{"inputs":1,"body":[{"op":"const","value":1e999}],"outputs":[1]}"#);
    assert!(
        matches!(kind, K::Json(_) | K::NonFiniteConstant(_)),
        "{at} {kind:?}"
    );

    let (at, kind) = json_error("{\"inputs\": 1,\n \"body\": [oops]}");
    assert!(matches!((at, kind), (Location::Line(2), K::Json(_))));

    let (_, kind) = json_error(r#"{"inputs":1,"body":[],"outputs":[0],"extra":1}"#);
    assert!(matches!(kind, K::Json(_)));
}

#[test]
fn programs_deserialise_inside_other_documents() {
    #[derive(Debug, serde::Deserialize)]
    struct Case {
        program: Program,
    }
    let case: Case = serde_json::from_str(&format!(
        r#"{{"program": {}}}"#,
        Program::parse(SEED).unwrap().to_json()
    ))
    .unwrap();
    assert_eq!(
        case.program.to_string(),
        Program::parse(SEED).unwrap().to_string()
    );
    let bad = serde_json::from_str::<Case>(r#"{"program": {"inputs":1,"body":[],"outputs":[3]}}"#);
    assert!(bad
        .unwrap_err()
        .to_string()
        .contains("output `3` is not defined"));
}
