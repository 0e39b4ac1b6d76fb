use std::process::ExitCode;

use ckafka_dump_core::config::Env;
use ckafka_dump_core::stage::Stage;
use ckafka_dump_runtime::{report_item_failures, Function};
use ckafka_dump_sink_cos::config::CosConfig;
use ckafka_dump_sink_cos::CosSink;

fn main() -> ExitCode {
    ckafka_dump_runtime::main("to-cos", || async {
        let env = Env::process();
        let config = CosConfig::from_env(&env)?;
        Ok(Function::new(CosSink::new(config)?)
            .with_stage(Stage::from_env(&env)?)
            .with_item_failures(report_item_failures(&env)?))
    })
}
