//! The `to-sql` binary's dry run over the corpus of real trigger events in `events/corpus/`.

#[test]
fn dry_run_reads_the_event_corpus() {
    ckafka_dump_testkit::check_event_corpus(env!("CARGO_BIN_EXE_to-sql"));
}
