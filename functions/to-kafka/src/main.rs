use std::process::ExitCode;

use ckafka_dump_core::sink::NotYetBuilt;

fn main() -> ExitCode {
    ckafka_dump_core::runtime::main("to-kafka", || NotYetBuilt::build("to-kafka"))
}
