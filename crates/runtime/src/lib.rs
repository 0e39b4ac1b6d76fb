//! The runtimes of the ckafka-dump functions: one function, three ways in — AWS Lambda
//! (`AWS_LAMBDA_RUNTIME_API`), the Tencent SCF custom runtime (`SCF_RUNTIME_API`), or a local `invoke` from an
//! event file — and the invocation driver they share. Only the function binaries depend on this crate.

pub mod driver;
pub mod function;
mod lambda;
mod local;
mod logging;
pub mod scf;
pub mod variables;

use std::future::Future;
use std::process::ExitCode;

use ckafka_dump_core::config::Env;

pub use driver::{dry_run, invoke, DryRun, EventKind, ItemFailure, ItemIdentifier, Summary};
pub use function::{report_item_failures, Function};
/// Logging as the runtimes set it up, for a binary's own commands (`restore run`).
pub use logging::init as init_logging;

/// Why a runtime stopped or could not run an event (an invocation's own failure is a core `Error`).
#[derive(Debug, thiserror::Error)]
pub enum RuntimeError {
    #[error(transparent)]
    Invocation(#[from] ckafka_dump_core::Error),
    #[error("runtime API {url}: {message}")]
    RuntimeApi { url: String, message: String },
    #[error("{0}")]
    Usage(String),
    #[error("reading event: {0}")]
    Io(#[from] std::io::Error),
}

/// The whole `main` of a function binary. `build` reads the function's configuration from the environment;
/// it runs once per process (cold start) and not at all for `invoke --dry-run`.
pub fn main<S, F, Fut>(function: &'static str, build: F) -> ExitCode
where
    S: ckafka_dump_core::Sink + 'static,
    F: FnOnce() -> Fut,
    Fut: Future<Output = Result<Function<S>, ckafka_dump_core::Error>>,
{
    if let Err(e) = logging::init() {
        eprintln!("{function}: {e}");
        return ExitCode::FAILURE;
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("{function}: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async {
        let lambda_api = Env::process().get(&variables::AWS_LAMBDA_RUNTIME_API);
        if lambda_api.map_err(ckafka_dump_core::Error::from)?.is_some() {
            lambda::check_environment().map_err(ckafka_dump_core::Error::from)?;
            lambda::run(build().await?).await.map(|()| ExitCode::SUCCESS)
        } else if let Some(api) = scf::RuntimeApi::from_env(&Env::process()).map_err(ckafka_dump_core::Error::from)? {
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
