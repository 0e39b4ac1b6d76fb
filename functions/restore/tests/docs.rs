//! docs/restore.md's configuration table is rendered from the variables restore declares itself; the backup's
//! and the cluster's are the dump's and the producer's, whose pages it links.

#[test]
fn the_configuration_table_is_the_declarations() {
    ckafka_dump_testkit::check_configuration_table("docs/restore.md", "restore", restore::config::VARIABLES);
}
