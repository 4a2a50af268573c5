//! Integration tests of the engine, with real files and real Delta tables.

mod batch_plans;
mod chained;
mod checkpoint_guard;
mod common;
mod connectors;
mod delta_sink;
mod delta_source;
mod differential;
mod errors;
mod evolution;
mod exactly_once;
mod fuzz_corpus;
mod hostile_input;
mod joins;
mod kafka;
mod nexmark;
mod now;
mod null_times;
mod object_storage;
mod panes;
mod real_time;
mod regressions;
mod sinks_and_sources;
mod stateful;
mod top_n;
mod user_state;
