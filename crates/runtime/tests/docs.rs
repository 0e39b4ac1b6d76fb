//! The configuration tables of the pages every function shares, rendered from their declarations: the
//! transform stage's (docs/transform.md) and the runtimes' (docs/running.md).

use ckafka_dump_core::stage;

#[test]
fn the_transform_stage_table_is_its_declarations() {
    let vars = [stage::VARIABLES, ckafka_dump_core::time::VARIABLES].concat();
    ckafka_dump_testkit::check_configuration_table("docs/transform.md", "transform", &vars);
}

#[test]
fn the_runtimes_table_is_their_declarations() {
    ckafka_dump_testkit::check_configuration_table(
        "docs/running.md",
        "runtimes",
        ckafka_dump_runtime::variables::VARIABLES,
    );
}
