//! Every checkpointing schedule gives gradients bitwise equal to one plain
//! tape on generated programs.

use adcheck_engines::checkpointed::{CheckpointedEngine, Schedule};
use adcheck_engines::reverse::ReverseEngine;
use adcheck_engines::Engine;
use adcheck_suites::generate::{case, GenConfig};

#[test]
fn all_schedules_match_plain_reverse_bitwise() {
    let config = GenConfig::default();
    let schedules = [
        Schedule::StoreAll,
        Schedule::Uniform,
        Schedule::Binomial { snapshots: 1 },
        Schedule::Binomial { snapshots: 3 },
        Schedule::Binomial { snapshots: 10 },
    ];
    for index in 0..400 {
        let c = case(&config, 77, index);
        let plain = ReverseEngine
            .vjp(&c.program, &c.point, &c.cotangent)
            .unwrap();
        for schedule in schedules {
            let d = CheckpointedEngine { schedule }
                .vjp(&c.program, &c.point, &c.cotangent)
                .unwrap();
            let bits = |v: &[f64]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
            assert_eq!(
                bits(&d.derivative),
                bits(&plain.derivative),
                "case {index}, {schedule:?}\n{}",
                c.program
            );
            assert_eq!(bits(&d.primal), bits(&plain.primal));
        }
    }
}
