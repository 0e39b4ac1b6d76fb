//! One handler, three ways in: AWS Lambda (`AWS_LAMBDA_RUNTIME_API`), the Tencent SCF custom runtime
//! (`SCF_RUNTIME_API`), or a local `invoke` from an event file.

mod lambda;
mod local;
pub mod scf;

use std::future::Future;
use std::process::ExitCode;

use crate::error::Error;
use crate::sink::Sink;

/// The whole `main` of a function binary. `build` reads the sink's configuration from the environment;
/// it runs once per process (cold start) and not at all for `invoke --dry-run`.
pub fn main<S, F, Fut>(function: &'static str, build: F) -> ExitCode
where
    S: Sink,
    F: FnOnce() -> Fut,
    Fut: Future<Output = Result<S, Error>>,
{
    crate::logging::init();
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("{function}: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async {
        if std::env::var_os("AWS_LAMBDA_RUNTIME_API").is_some() {
            lambda::run(build().await?).await.map(|()| ExitCode::SUCCESS)
        } else if let Some(api) = scf::RuntimeApi::from_env() {
            api.run(build).await.map(|()| ExitCode::SUCCESS)
        } else {
            local::run(function, build).await
        }
    });
    match result {
        Ok(code) => code,
        Err(e) => {
            tracing::error!(error = %e, "{function} stopped");
            ExitCode::FAILURE
        }
    }
}
