//! Property test of the pool state machine: random sequences of inputs (checkouts,
//! cancellations, check-ins with every outcome, spawns finishing or failing, processes
//! dying, restarts, detaches, memory reports, time passing) run through
//! [`harness`](super::harness), which checks the invariants after every input.

use proptest::prelude::*;

use super::harness::{run, Op};

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        6 => (0..3usize, any::<bool>()).prop_map(|(app, pipelinable)| Op::Checkout { app, pipelinable }),
        1 => any::<usize>().prop_map(Op::Cancel),
        5 => (any::<usize>(), 0..4u8).prop_map(|(pick, outcome)| Op::Close { pick, outcome }),
        4 => (any::<usize>(), prop::bool::weighted(0.85), prop::sample::select(vec![1, 1, 2, 0, -1]), any::<bool>())
            .prop_map(|(pick, ok, concurrency, pipeline)| Op::SpawnDone { pick, ok, concurrency, pipeline }),
        1 => any::<usize>().prop_map(Op::Exit),
        2 => prop::sample::select(vec![1u64, 5, 30, 400, 70_000]).prop_map(Op::Tick),
        1 => (0..3usize, any::<bool>()).prop_map(|(app, rolling)| Op::Restart { app, rolling }),
        1 => any::<usize>().prop_map(Op::Detach),
        1 => any::<usize>().prop_map(Op::Memory),
        1 => any::<usize>().prop_map(Op::OobDone),
        1 => (0..3usize).prop_map(Op::Prestart),
        1 => (0..3u32).prop_map(Op::GrowPool),
        1 => Just(Op::Shutdown),
    ]
}

proptest! {
    // Short enough for CI (well under a second); `PROPTEST_CASES=100000` for a long run.
    #![proptest_config(crate::proptests::config(128))]

    #[test]
    fn pool_invariants_hold_for_any_sequence_of_inputs(
        max_pool_size in 1u32..5,
        ops in prop::collection::vec(op(), 1..80),
    ) {
        run(max_pool_size, ops).map_err(TestCaseError::fail)?;
    }
}
