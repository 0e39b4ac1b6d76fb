use std::process::ExitCode;

use ckafka_dump_core::config::Env;
use ckafka_dump_sink_cos::config::CosConfig;
use ckafka_dump_sink_cos::CosSink;

fn main() -> ExitCode {
    ckafka_dump_core::runtime::main("to-cos", || async {
        let config = CosConfig::from_env(&Env::process())?;
        Ok(CosSink::new(config)?)
    })
}
